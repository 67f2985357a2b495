//! Users of a collection: their events (interactions with its points), the profiles kept from
//! them, and items' popularity — the state the `users/{user}/recommend` route and the
//! `popular` query read.
//!
//! Events are stored in the `interactions` family (one record per kept event) together with the
//! popularity of the items they touched, in one batch per request, before they are applied in
//! memory. Event writers are serialised (`Collection::events`); a batch is planned on copies of
//! the profiles it touches, committed, then swapped in, so no lock readers take is held across
//! the commit. At open the profiles are rebuilt from the stored events and popularity is read
//! back. Items are points' external ids: a deleted point is skipped wherever a profile or the
//! popular list is read, and counts again if a point with its id is upserted later.

pub mod config;
mod event;
mod popularity;
mod profile;
mod recommend;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

pub use config::RecommendationConfig;
pub use event::{time_of, user_of, EventInput};
use popularity::Popularity;
use profile::{Kept, Profile};
pub use recommend::{
    resolved_cache, ProfileQuery, ProfileStrategy, Resolved, ResolvedKey, ServedBy, UserOptions, UserPlan,
};

use super::Collection;
use crate::error::{Error, Result};
use crate::id::ExtId;
use crate::storage::{Batch, StoredEvent};

/// Longest user id, in bytes.
pub const MAX_USER_BYTES: usize = 256;
/// Most events one request may carry.
pub const MAX_EVENTS: usize = 10_000;

/// An event as a request gives it (checked by [`Collection::record_events`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub user: String,
    pub item: ExtId,
    pub kind: String,
    pub weight: f32,
    /// Microseconds since the epoch; `None`: now.
    pub time: Option<i64>,
}

/// Every user's profile and every item's popularity.
#[derive(Default)]
pub struct Users {
    profiles: HashMap<String, Profile>,
    popularity: Popularity,
}

/// What `GET /collections/{c}/users/{user}` shows.
#[derive(Clone, Debug, PartialEq)]
pub struct UserSummary {
    pub events: usize,
    pub by_type: BTreeMap<String, u64>,
    /// Distinct items in the kept history.
    pub history: usize,
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
}

/// Now, in microseconds since the epoch.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

/// Checks a user id: 1 to [`MAX_USER_BYTES`] bytes.
pub fn check_user(user: &str) -> Result<()> {
    if user.is_empty() || user.len() > MAX_USER_BYTES {
        return Err(Error::bad(format!(
            "user: an id is 1 to {MAX_USER_BYTES} bytes, got {} bytes",
            user.len()
        )));
    }
    Ok(())
}

/// Events with a positive weight count towards an item's popularity.
fn counts_as_popular(config: &RecommendationConfig, kind: &str, weight: f32) -> bool {
    config.event_types.get(kind).is_some_and(|w| w * f64::from(weight) > 0.0)
}

impl Users {
    /// Rebuilds the state from what the collection stored.
    fn load(
        storage: &crate::storage::Storage,
        cid: u32,
        config: &RecommendationConfig,
    ) -> Result<(Users, u64)> {
        let mut users = Users::default();
        let mut next = 0;
        let mut kinds: HashMap<String, Arc<str>> = HashMap::new();
        for item in storage.events(cid) {
            let (user, seq, e) = item?;
            next = next.max(seq + 1);
            let kind = kinds.entry(e.kind.clone()).or_insert_with(|| e.kind.as_str().into()).clone();
            let profile = users.profiles.entry(user).or_default();
            profile.add(config, e.time, seq, Kept { item: e.item, kind, weight: e.weight });
        }
        let half_life = config.half_life_micros();
        for item in storage.popularity(cid) {
            let (ext, value, at, latest) = item?;
            users.popularity.restore(half_life, ext, value, at, latest);
        }
        Ok((users, next))
    }

    pub fn profile(&self, user: &str) -> Option<&Profile> {
        self.profiles.get(user)
    }
}

impl Collection {
    pub(super) fn load_users(&self) -> Result<()> {
        let config = self.config.read().recommendation.clone();
        let (users, next) = Users::load(&self.storage, self.id(), &config)?;
        *self.users.write() = users;
        *self.events.lock() = next;
        Ok(())
    }

    /// The version of everything recommendations read beyond the points: raised by every
    /// event, forgotten user and change of the recommendation settings.
    pub fn users_version(&self) -> u64 {
        self.users_version.load(Ordering::SeqCst)
    }

    /// Stores and applies a batch of events. Refused whole (nothing written) when an event names
    /// an item that does not exist, an unknown type, a bad weight or time. Returns the sequence
    /// number of the batch's last event.
    pub fn record_events(&self, events: Vec<Event>, sync: bool) -> Result<u64> {
        if events.len() > MAX_EVENTS {
            return Err(Error::bad(format!(
                "events: at most {MAX_EVENTS} per request, got {}",
                events.len()
            )));
        }
        self.record_events_with(events, sync, self.storage.batch(), false)
    }

    /// Checks one event as [`Collection::record_events`] would (imports skip bad lines).
    pub fn check_event(&self, event: &Event) -> Result<()> {
        let config = self.config.read().recommendation.clone();
        self.check_events(std::slice::from_ref(event), &config).map_err(|e| {
            if let Error::BadRequest(m) = &e {
                return Error::bad(m.replacen("events[0].", "", 1));
            }
            e
        })
    }

    /// [`Collection::record_events`], committed in `batch` with what it already holds (an
    /// import's progress), even when there are no events.
    ///
    /// With `drop_missing` (imports, whose lines were checked as they were read), events whose
    /// item was deleted since are left out instead of refusing the batch.
    pub fn record_events_with(
        &self,
        mut events: Vec<Event>,
        sync: bool,
        mut batch: Batch<'_>,
        drop_missing: bool,
    ) -> Result<u64> {
        let mut next = self.events.lock();
        self.check_live()?;
        let config = self.config.read().recommendation.clone();
        if drop_missing {
            let points = self.points.read();
            events.retain(|e| points.by_ext.contains_key(&e.item));
        }
        self.check_events(&events, &config)?;
        let cid = self.id();
        let now = now_micros();
        let half_life = config.half_life_micros();
        // The touched profiles, changed on copies; the popularity to add per item.
        let mut touched: HashMap<String, Profile> = HashMap::new();
        let mut popular: Vec<(ExtId, i64)> = Vec::new();
        {
            let users = self.users.read();
            for e in events {
                let time = e.time.unwrap_or(now);
                let seq = *next;
                *next += 1;
                if counts_as_popular(&config, &e.kind, e.weight) {
                    popular.push((e.item, time));
                }
                let stored = StoredEvent { item: e.item, kind: e.kind, weight: e.weight, time };
                batch.put_event(cid, &e.user, seq, &stored);
                let profile = touched
                    .entry(e.user.clone())
                    .or_insert_with(|| users.profiles.get(&e.user).cloned().unwrap_or_default());
                let kept =
                    Kept { item: stored.item, kind: stored.kind.as_str().into(), weight: stored.weight };
                for (_, dropped) in profile.add(&config, time, seq, kept) {
                    batch.delete_event(cid, &e.user, dropped);
                }
            }
        }
        // Popularity is planned on a copy of the values this batch touches.
        let plan = self.users.read().popularity.plan(half_life, &popular);
        for (item, value) in &plan.values {
            batch.put_popularity(cid, *item, *value, plan.at, plan.latest);
        }
        let last = next.saturating_sub(1);
        self.storage.commit(batch, sync)?;
        // Changed only under `events`: the version this change makes.
        let version = self.users_version.load(Ordering::SeqCst) + 1;
        touched.values_mut().for_each(|p| p.rev = version);
        let mut users = self.users.write();
        users.profiles.extend(touched);
        users.popularity.apply(half_life, plan);
        drop(users);
        self.users_version.fetch_add(1, Ordering::SeqCst);
        Ok(last)
    }

    fn check_events(&self, events: &[Event], config: &RecommendationConfig) -> Result<()> {
        for (i, e) in events.iter().enumerate() {
            check_user(&e.user).map_err(|err| Error::bad(format!("events[{i}].{err}")))?;
            if !config.event_types.contains_key(&e.kind) {
                let known: Vec<&str> = config.event_types.keys().map(String::as_str).collect();
                return Err(Error::bad(format!(
                    "events[{i}].type: unknown event type {:?}; this collection's types are {}",
                    e.kind,
                    known.join(", ")
                )));
            }
            let weighed = config.event_types[&e.kind] * f64::from(e.weight);
            if !e.weight.is_finite() || !(weighed * 2.0).is_finite() {
                return Err(Error::bad(format!(
                    "events[{i}].weight: {} times the type's weight must be a finite number",
                    e.weight
                )));
            }
        }
        let points = self.points.read();
        let mut missing: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for e in events {
            if !points.by_ext.contains_key(&e.item) && seen.insert(e.item) {
                missing.push(e.item.to_string());
            }
        }
        if !missing.is_empty() {
            let shown = missing.len().min(20);
            let more = if missing.len() > shown {
                format!(" and {} more", missing.len() - shown)
            } else {
                String::new()
            };
            return Err(Error::bad(format!(
                "events name items that are not points of collection `{}`: {}{more}",
                self.name,
                missing[..shown].join(", ")
            )));
        }
        Ok(())
    }

    /// Forgets a user: every event and the profile. Returns whether the user was known.
    pub fn forget_user(&self, user: &str, sync: bool) -> Result<bool> {
        let _next = self.events.lock();
        self.check_live()?;
        if !self.users.read().profiles.contains_key(user) {
            return Ok(false);
        }
        let mut batch = self.storage.batch();
        batch.forget_user(self.id(), user);
        self.storage.commit(batch, sync)?;
        self.users.write().profiles.remove(user);
        self.users_version.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }

    pub fn user_summary(&self, user: &str) -> Option<UserSummary> {
        let users = self.users.read();
        let p = users.profiles.get(user)?;
        Some(UserSummary {
            events: p.events.len(),
            by_type: p.by_type(),
            history: p.items.len(),
            first_seen: p.first_seen(),
            last_seen: p.last_seen(),
        })
    }

    /// Replaces the recommendation settings: profiles are recomputed from the kept events, and
    /// a smaller `max_history` drops each user's oldest events from storage too.
    pub fn set_recommendation(&self, config: RecommendationConfig, sync: bool) -> Result<()> {
        config.validate()?;
        let _writer = self.writer.lock();
        let _next = self.events.lock();
        self.check_live()?;
        let mut full = self.config.read().clone();
        full.recommendation = config.clone();
        let cid = full.id;
        let mut batch = self.storage.batch();
        batch.put_collection(&self.name, &full)?;
        let mut trimmed: Vec<(String, Vec<(i64, u64)>)> = Vec::new();
        for (user, p) in self.users.read().profiles.iter() {
            let over = p.events.len().saturating_sub(config.max_history);
            if over > 0 {
                let keys: Vec<(i64, u64)> = p.events.keys().take(over).copied().collect();
                for (_, seq) in &keys {
                    batch.delete_event(cid, user, *seq);
                }
                trimmed.push((user.clone(), keys));
            }
        }
        // Values are kept relative to a reference time under the old half-life: with a new one,
        // each is stored again as of the latest event, so a restart reads what memory holds.
        let old_half_life = self.config.read().recommendation.half_life_micros();
        let rebased = (old_half_life != config.half_life_micros())
            .then(|| self.users.read().popularity.as_of_latest(old_half_life));
        if let Some((latest, values)) = &rebased {
            for (item, value) in values {
                batch.put_popularity(cid, *item, *value, *latest, *latest);
            }
        }
        self.storage.commit(batch, sync)?;
        *self.config.write() = full;
        let mut users = self.users.write();
        if let Some((latest, values)) = rebased {
            users.popularity = Popularity::from_values(latest, values);
        }
        for (user, keys) in trimmed {
            if let Some(p) = users.profiles.get_mut(&user) {
                for k in keys {
                    p.events.remove(&k);
                }
            }
        }
        let version = self.users_version.load(Ordering::SeqCst) + 1;
        users.profiles.values_mut().for_each(|p| {
            p.recompute(&config);
            p.rev = version;
        });
        drop(users);
        self.users_version.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
