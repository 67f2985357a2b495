//! A collection's `recommendation` settings: how events weigh, how fast they fade, how much of
//! a user's history is kept.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest `max_history` (events kept per user).
pub const MAX_HISTORY: usize = 10_000;
/// Largest `interests` (items a multi-interest profile searches from).
pub const MAX_INTERESTS: usize = 64;
/// Most event types a collection may define.
pub const MAX_EVENT_TYPES: usize = 64;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendationConfig {
    /// The weight of each event type; negative for dislikes. An event of another type is refused.
    #[serde(default = "default_event_types")]
    pub event_types: BTreeMap<String, f64>,
    /// An event's weight halves every `half_life_days`; `None`: events never fade.
    #[serde(default = "default_half_life")]
    pub half_life_days: Option<f64>,
    /// Events kept per user; the oldest (by timestamp) go first.
    #[serde(default = "default_max_history")]
    pub max_history: usize,
    /// How many of a user's heaviest items a multi-interest profile searches from.
    #[serde(default = "default_interests")]
    pub interests: usize,
    /// How much a profile's ranking leans on popularity, in `0..=1` (0: not at all).
    #[serde(default = "default_popularity_weight")]
    pub popularity_weight: f64,
}

fn default_event_types() -> BTreeMap<String, f64> {
    [("view", 1.0), ("click", 1.0), ("like", 2.0), ("purchase", 3.0), ("dislike", -2.0)]
        .into_iter()
        .map(|(k, w)| (k.to_string(), w))
        .collect()
}

fn default_half_life() -> Option<f64> {
    Some(30.0)
}

fn default_max_history() -> usize {
    500
}

fn default_interests() -> usize {
    8
}

fn default_popularity_weight() -> f64 {
    0.4
}

impl Default for RecommendationConfig {
    fn default() -> Self {
        RecommendationConfig {
            event_types: default_event_types(),
            half_life_days: default_half_life(),
            max_history: default_max_history(),
            interests: default_interests(),
            popularity_weight: default_popularity_weight(),
        }
    }
}

impl RecommendationConfig {
    /// Refuses settings that could not work, naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::bad(format!("recommendation.{m}")));
        if self.event_types.is_empty() || self.event_types.len() > MAX_EVENT_TYPES {
            return bad(format!("event_types: give 1 to {MAX_EVENT_TYPES} event types"));
        }
        for (name, w) in &self.event_types {
            if name.is_empty() || name.len() > 64 {
                return bad(format!("event_types: a type name must be 1 to 64 bytes, got {name:?}"));
            }
            if !w.is_finite() {
                return bad(format!("event_types.{name}: the weight must be a finite number"));
            }
        }
        if let Some(h) = self.half_life_days {
            if !(h.is_finite() && h > 0.0) {
                return bad(format!("half_life_days: must be a positive number of days (or null), got {h}"));
            }
        }
        if !(1..=MAX_HISTORY).contains(&self.max_history) {
            return bad(format!("max_history: must be 1 to {MAX_HISTORY}, got {}", self.max_history));
        }
        if !(1..=MAX_INTERESTS).contains(&self.interests) {
            return bad(format!("interests: must be 1 to {MAX_INTERESTS}, got {}", self.interests));
        }
        if !(0.0..=1.0).contains(&self.popularity_weight) {
            return bad(format!("popularity_weight: must be in [0, 1], got {}", self.popularity_weight));
        }
        Ok(())
    }

    /// The half-life in microseconds (`None`: no decay).
    pub fn half_life_micros(&self) -> Option<f64> {
        self.half_life_days.map(|d| d * 86_400.0 * 1e6)
    }
}

/// The factor an event's weight is multiplied by `elapsed` µs after it happened (negative
/// elapsed: the event is in the future of the reference time).
pub fn decay(half_life: Option<f64>, elapsed: i64) -> f64 {
    match half_life {
        None => 1.0,
        Some(h) => (-(elapsed as f64) / h).exp2(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_settings_are_named() {
        RecommendationConfig::default().validate().unwrap();
        let with = |f: fn(&mut RecommendationConfig)| {
            let mut c = RecommendationConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(with(|c| c.half_life_days = Some(0.0)).contains("half_life_days"));
        assert!(with(|c| c.max_history = 0).contains("max_history"));
        assert!(with(|c| c.popularity_weight = 1.5).contains("popularity_weight"));
        assert!(with(|c| {
            c.event_types.insert("x".into(), f64::NAN);
        })
        .contains("event_types.x"));
    }

    #[test]
    fn a_half_life_halves() {
        let day = 86_400_000_000;
        assert_eq!(decay(Some(day as f64), day), 0.5);
        assert_eq!(decay(Some(day as f64), -2 * day), 4.0);
        assert_eq!(decay(None, 1_000 * day), 1.0);
    }
}
