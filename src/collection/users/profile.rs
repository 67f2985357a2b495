//! One user's profile: the events kept (at most `max_history`, the newest by timestamp) and, per
//! item, the sum of their decayed weights, maintained as events arrive. Weights are kept as of
//! the user's latest event (`at`): decay to any later time multiplies them all by one factor,
//! which changes no ranking, so they never need refreshing as time passes.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::config::{decay, RecommendationConfig};
use crate::id::ExtId;

/// A kept event (its key: timestamp, then arrival sequence).
#[derive(Clone, Debug, PartialEq)]
pub struct Kept {
    pub item: ExtId,
    pub kind: Arc<str>,
    pub weight: f32,
}

/// An item's place in a profile: its decayed weight and how many kept events name it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ItemWeight {
    pub weight: f64,
    pub events: u32,
}

#[derive(Clone, Debug, Default)]
pub struct Profile {
    /// Kept events by (timestamp µs, sequence).
    pub events: BTreeMap<(i64, u64), Kept>,
    pub items: HashMap<ExtId, ItemWeight>,
    /// The time (µs) the weights are as of: the latest kept event's.
    pub at: i64,
    /// The users' version when this profile last changed (keys its resolved vectors).
    pub rev: u64,
}

impl Profile {
    /// An event's weight as of `self.at`.
    fn contribution(&self, config: &RecommendationConfig, time: i64, kept: &Kept) -> f64 {
        let type_weight = config.event_types.get(&*kept.kind).copied().unwrap_or(0.0);
        type_weight * f64::from(kept.weight) * decay(config.half_life_micros(), self.at - time)
    }

    /// Adds an event; returns the events dropped to stay within `max_history` (the oldest, which
    /// may be this one).
    pub fn add(&mut self, config: &RecommendationConfig, time: i64, seq: u64, kept: Kept) -> Vec<(i64, u64)> {
        if self.events.is_empty() {
            self.at = time;
        } else if time > self.at {
            let factor = decay(config.half_life_micros(), time - self.at);
            self.items.values_mut().for_each(|w| w.weight *= factor);
            self.at = time;
        }
        let c = self.contribution(config, time, &kept);
        let w = self.items.entry(kept.item).or_default();
        w.weight += c;
        w.events += 1;
        self.events.insert((time, seq), kept);
        let mut dropped = Vec::new();
        while self.events.len() > config.max_history {
            let Some(((t, s), old)) = self.events.pop_first() else { break };
            self.remove_weight(config, t, &old);
            dropped.push((t, s));
        }
        dropped
    }

    fn remove_weight(&mut self, config: &RecommendationConfig, time: i64, kept: &Kept) {
        let c = self.contribution(config, time, kept);
        if let Some(w) = self.items.get_mut(&kept.item) {
            w.events -= 1;
            w.weight -= c;
            if w.events == 0 {
                self.items.remove(&kept.item);
            }
        }
    }

    /// Recomputes every weight from the kept events (after the type weights or the decay
    /// changed).
    pub fn recompute(&mut self, config: &RecommendationConfig) {
        self.items.clear();
        self.at = self.events.last_key_value().map_or(0, |((t, _), _)| *t);
        let events = std::mem::take(&mut self.events);
        for ((t, _), kept) in &events {
            let c = self.contribution(config, *t, kept);
            let w = self.items.entry(kept.item).or_default();
            w.weight += c;
            w.events += 1;
        }
        self.events = events;
    }

    pub fn first_seen(&self) -> Option<i64> {
        self.events.first_key_value().map(|((t, _), _)| *t)
    }

    pub fn last_seen(&self) -> Option<i64> {
        self.events.last_key_value().map(|((t, _), _)| *t)
    }

    /// Kept events per type.
    pub fn by_type(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for kept in self.events.values() {
            *counts.entry(kept.kind.to_string()).or_insert(0) += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn kept(item: u64, kind: &str) -> Kept {
        Kept { item: ExtId::Num(item), kind: kind.into(), weight: 1.0 }
    }

    fn config(max_history: usize, half_life_days: Option<f64>) -> RecommendationConfig {
        RecommendationConfig { max_history, half_life_days, ..RecommendationConfig::default() }
    }

    #[test]
    fn weights_decay_from_the_latest_event_and_types_weigh() {
        let c = config(10, Some(1.0));
        let mut p = Profile::default();
        p.add(&c, 0, 0, kept(1, "view"));
        p.add(&c, DAY, 1, kept(2, "like"));
        p.add(&c, DAY, 2, kept(3, "dislike"));
        assert_eq!(p.items[&ExtId::Num(1)].weight, 0.5);
        assert_eq!(p.items[&ExtId::Num(2)].weight, 2.0);
        assert_eq!(p.items[&ExtId::Num(3)].weight, -2.0);
        // An older event arriving late weighs as of the latest one.
        p.add(&c, 0, 3, kept(2, "view"));
        assert_eq!(p.items[&ExtId::Num(2)].weight, 2.5);
        let before = p.items.clone();
        p.recompute(&c);
        assert_eq!(p.items, before);
    }

    #[test]
    fn the_oldest_events_go_past_max_history_and_take_their_weight() {
        let c = config(2, None);
        let mut p = Profile::default();
        assert!(p.add(&c, 10, 0, kept(1, "view")).is_empty());
        assert!(p.add(&c, 20, 1, kept(2, "view")).is_empty());
        assert_eq!(p.add(&c, 30, 2, kept(3, "view")), vec![(10, 0)]);
        assert!(!p.items.contains_key(&ExtId::Num(1)));
        // An event older than every kept one is dropped at once.
        assert_eq!(p.add(&c, 5, 3, kept(4, "view")), vec![(5, 3)]);
        assert_eq!(p.items.len(), 2);
        assert_eq!((p.first_seen(), p.last_seen()), (Some(20), Some(30)));
    }
}
