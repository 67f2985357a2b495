//! Items' popularity: the time-decayed count of their positive events, kept in rank order.
//!
//! Values are relative to one reference time `at` shared by every item, so an event only
//! touches its item: a newer event adds more than 1 (`2^(Δt / half-life)`) instead of every
//! other item shrinking. When that factor would pass 2^60 every value is rescaled to a new
//! reference (rare: once per 60 half-lives of event time). Order is the same at any reference.

use std::collections::{BTreeSet, HashMap};

use super::config::decay;
use crate::id::ExtId;

const REBASE_EXPONENT: f64 = 60.0;

/// The change one batch of events makes (see [`Popularity::plan`]).
#[derive(Debug)]
pub struct Plan {
    /// The reference time of `values` (and of every value once applied).
    pub at: i64,
    /// The latest event's time once applied.
    pub latest: i64,
    pub values: Vec<(ExtId, f64)>,
}

#[derive(Debug, Default)]
pub struct Popularity {
    /// The reference time (µs) of every value.
    pub at: i64,
    /// The latest event's time: answers report values as of it.
    pub latest: i64,
    values: HashMap<ExtId, f64>,
    /// (descending key of the value, item): iteration is most popular first, ties by id.
    order: BTreeSet<(u64, ExtId)>,
}

/// A sort key that orders non-negative values descending.
fn key(value: f64) -> u64 {
    u64::MAX - value.max(0.0).to_bits()
}

impl Popularity {
    fn set(&mut self, item: ExtId, value: f64) {
        if let Some(old) = self.values.insert(item, value) {
            self.order.remove(&(key(old), item));
        }
        self.order.insert((key(value), item));
    }

    /// Moves the reference time to `to`, rescaling every value.
    fn rebase(&mut self, half_life: Option<f64>, to: i64) {
        let factor = decay(half_life, to - self.at);
        self.at = to;
        let values = std::mem::take(&mut self.values);
        self.order.clear();
        for (item, v) in values {
            self.set(item, v * factor);
        }
    }

    /// What adding one count per `(item, time)` would change, computed without changing
    /// anything: the reference time after it and the touched items' new values at it.
    pub fn plan(&self, half_life: Option<f64>, adds: &[(ExtId, i64)]) -> Plan {
        let latest = adds.iter().map(|a| a.1).max().map_or(self.latest, |t| t.max(self.latest));
        let mut at = match (self.values.is_empty(), adds.first()) {
            (true, Some((_, t))) => *t,
            _ => self.at,
        };
        if half_life.is_some_and(|h| (latest - at) as f64 / h > REBASE_EXPONENT) {
            at = latest;
        }
        let scale = decay(half_life, at - self.at);
        let mut values: HashMap<ExtId, f64> = HashMap::new();
        for (item, time) in adds {
            let v = values.entry(*item).or_insert_with(|| self.values.get(item).map_or(0.0, |v| v * scale));
            *v += decay(half_life, at - time);
        }
        Plan { at, latest, values: values.into_iter().collect() }
    }

    /// Applies a [`Popularity::plan`] made on this state.
    pub fn apply(&mut self, half_life: Option<f64>, plan: Plan) {
        if plan.at != self.at {
            match self.values.is_empty() {
                true => self.at = plan.at,
                false => self.rebase(half_life, plan.at),
            }
        }
        for (item, v) in plan.values {
            self.set(item, v);
        }
        self.latest = plan.latest;
    }

    /// Puts back a stored value (`value` at time `at`, written when the latest event was at
    /// `latest`).
    pub fn restore(&mut self, half_life: Option<f64>, item: ExtId, value: f64, at: i64, latest: i64) {
        if self.values.is_empty() {
            self.at = at;
        }
        if half_life.is_some_and(|h| (at - self.at) as f64 / h > REBASE_EXPONENT) {
            self.rebase(half_life, at);
        }
        self.latest = self.latest.max(latest);
        let value = self.values.get(&item).copied().unwrap_or(0.0) + value * decay(half_life, self.at - at);
        self.set(item, value);
    }

    /// Every value as of the latest event, with that time.
    pub fn as_of_latest(&self, half_life: Option<f64>) -> (i64, Vec<(ExtId, f64)>) {
        (self.latest, self.ranked(half_life).collect())
    }

    /// Values all as of time `at` (also the latest event's).
    pub fn from_values(at: i64, values: Vec<(ExtId, f64)>) -> Popularity {
        let mut p = Popularity { at, latest: at, ..Popularity::default() };
        for (item, v) in values {
            p.set(item, v);
        }
        p
    }

    /// The items, most popular first, with their value as of the latest event.
    pub fn ranked(&self, half_life: Option<f64>) -> impl Iterator<Item = (ExtId, f64)> + '_ {
        let factor = decay(half_life, self.latest - self.at);
        self.order.iter().map(move |(_, item)| (*item, self.values[item] * factor))
    }

    /// The highest value as of the latest event (0 when there is none).
    pub fn top(&self, half_life: Option<f64>) -> f64 {
        self.ranked(half_life).next().map_or(0.0, |(_, v)| v)
    }

    /// An item's value as of the latest event.
    pub fn value(&self, half_life: Option<f64>, item: &ExtId) -> f64 {
        self.values.get(item).map_or(0.0, |v| v * decay(half_life, self.latest - self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn add(p: &mut Popularity, h: Option<f64>, item: ExtId, time: i64) {
        let plan = p.plan(h, &[(item, time)]);
        p.apply(h, plan);
    }

    #[test]
    fn counts_decay_and_rank_most_popular_first() {
        let h = Some(DAY as f64);
        let mut p = Popularity::default();
        add(&mut p, h, ExtId::Num(1), 0);
        add(&mut p, h, ExtId::Num(1), 0);
        add(&mut p, h, ExtId::Num(2), DAY);
        add(&mut p, h, ExtId::Num(3), DAY);
        // As of the latest event: item 1's two events are a day old.
        let ranked: Vec<(ExtId, f64)> = p.ranked(h).collect();
        assert_eq!(ranked, vec![(ExtId::Num(1), 1.0), (ExtId::Num(2), 1.0), (ExtId::Num(3), 1.0)]);
        add(&mut p, h, ExtId::Num(3), 2 * DAY);
        assert_eq!(p.ranked(h).next(), Some((ExtId::Num(3), 1.5)));
        assert_eq!(p.value(h, &ExtId::Num(1)), 0.5);
    }

    #[test]
    fn far_newer_events_rebase_without_changing_values() {
        let h = Some(DAY as f64);
        let mut p = Popularity::default();
        add(&mut p, h, ExtId::Num(1), 0);
        add(&mut p, h, ExtId::Num(2), 100 * DAY);
        assert_eq!(p.at, 100 * DAY);
        assert_eq!(p.value(h, &ExtId::Num(2)), 1.0);
        assert!(p.value(h, &ExtId::Num(1)) < 1e-29);
        let mut q = Popularity::default();
        q.restore(h, ExtId::Num(1), 1.0, 0, 0);
        q.restore(h, ExtId::Num(2), 1.0, 100 * DAY, 100 * DAY);
        assert_eq!(q.ranked(h).collect::<Vec<_>>(), p.ranked(h).collect::<Vec<_>>());
    }
}
