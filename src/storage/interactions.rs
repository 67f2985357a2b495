//! The `interactions` family: users' events and items' popularity, per collection.
//!
//! - `cid · 0x00 · u16 user length · user · seq` → an event: item key, type, weight, time. A
//!   user's events are one contiguous range (the length prefix keeps one user's range from
//!   holding another's), so forgetting a user is one range delete.
//! - `cid · 0x01 · item key` → the item's popularity: value at its reference time, that time,
//!   and the collection's latest event time when it was written.

use super::keys;
use super::{Batch, Storage, CF_INTERACTIONS};
use crate::error::{Error, Result};
use crate::id::ExtId;

const EVENTS: u8 = 0;
const POPULARITY: u8 = 1;

/// One stored event.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub item: ExtId,
    /// The event type as given (its weight is looked up in the collection's config).
    pub kind: String,
    /// The event's own weight (a multiplier of its type's).
    pub weight: f32,
    /// Microseconds since the Unix epoch.
    pub time: i64,
}

fn user_prefix(cid: u32, user: &str) -> Vec<u8> {
    let mut k = keys::prefix(cid).to_vec();
    k.push(EVENTS);
    // Users are at most 256 bytes (checked where they are parsed).
    k.extend_from_slice(&(user.len() as u16).to_be_bytes());
    k.extend_from_slice(user.as_bytes());
    k
}

fn event_key(cid: u32, user: &str, seq: u64) -> Vec<u8> {
    let mut k = user_prefix(cid, user);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn popularity_key(cid: u32, item: ExtId) -> Vec<u8> {
    let mut k = keys::prefix(cid).to_vec();
    k.push(POPULARITY);
    k.extend_from_slice(&keys::ext(item));
    k
}

fn encode_event(e: &StoredEvent) -> Vec<u8> {
    let mut out = keys::ext(e.item);
    out.extend_from_slice(&e.weight.to_le_bytes());
    out.extend_from_slice(&e.time.to_le_bytes());
    out.extend_from_slice(e.kind.as_bytes());
    out
}

fn decode_event(bytes: &[u8]) -> Result<StoredEvent> {
    let bad = || Error::Storage("bad event record".into());
    let (item, used) = keys::ext_of(bytes).ok_or_else(bad)?;
    let rest = &bytes[used..];
    let weight = f32::from_le_bytes(rest.get(..4).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let time = i64::from_le_bytes(rest.get(4..12).ok_or_else(bad)?.try_into().map_err(|_| bad())?);
    let kind = std::str::from_utf8(&rest[12..]).map_err(|_| bad())?.to_string();
    Ok(StoredEvent { item, kind, weight, time })
}

/// A user and the sequence number of an event key.
fn decode_event_key(key: &[u8]) -> Result<(String, u64)> {
    let bad = || Error::Storage("bad event key".into());
    let len = u16::from_be_bytes(key.get(5..7).ok_or_else(bad)?.try_into().map_err(|_| bad())?) as usize;
    let user = std::str::from_utf8(key.get(7..7 + len).ok_or_else(bad)?).map_err(|_| bad())?;
    let seq = key.get(7 + len..).ok_or_else(bad)?;
    let seq = u64::from_be_bytes(seq.try_into().map_err(|_| bad())?);
    Ok((user.to_string(), seq))
}

impl Batch<'_> {
    pub fn put_event(&mut self, cid: u32, user: &str, seq: u64, event: &StoredEvent) {
        self.put(CF_INTERACTIONS, event_key(cid, user, seq), encode_event(event));
    }

    pub fn delete_event(&mut self, cid: u32, user: &str, seq: u64) {
        self.delete(CF_INTERACTIONS, event_key(cid, user, seq));
    }

    /// Removes every event of `user`.
    pub fn forget_user(&mut self, cid: u32, user: &str) {
        let from = user_prefix(cid, user);
        let to = event_key(cid, user, u64::MAX);
        self.delete(CF_INTERACTIONS, &to);
        self.delete_range(CF_INTERACTIONS, from, to);
    }

    /// An item's popularity: `value` at time `at` (µs), written when the latest event of the
    /// collection was at `latest`.
    pub fn put_popularity(&mut self, cid: u32, item: ExtId, value: f64, at: i64, latest: i64) {
        let mut v = value.to_le_bytes().to_vec();
        v.extend_from_slice(&at.to_le_bytes());
        v.extend_from_slice(&latest.to_le_bytes());
        self.put(CF_INTERACTIONS, popularity_key(cid, item), v);
    }
}

impl Storage {
    /// Every stored event of a collection: user, sequence number and event, users in key order
    /// and each user's events in sequence order.
    pub fn events(&self, cid: u32) -> impl Iterator<Item = Result<(String, u64, StoredEvent)>> + '_ {
        let mut prefix = keys::prefix(cid).to_vec();
        prefix.push(EVENTS);
        self.scan_prefix(CF_INTERACTIONS, prefix).map(|item| {
            let (key, value) = item?;
            let (user, seq) = decode_event_key(&key)?;
            Ok((user, seq, decode_event(&value)?))
        })
    }

    /// Every item's stored popularity: item, value, the time (µs) the value is at, and the
    /// latest event's time when it was written.
    pub fn popularity(&self, cid: u32) -> impl Iterator<Item = Result<(ExtId, f64, i64, i64)>> + '_ {
        let mut prefix = keys::prefix(cid).to_vec();
        prefix.push(POPULARITY);
        self.scan_prefix(CF_INTERACTIONS, prefix).map(|item| {
            let (key, value) = item?;
            let bad = || Error::Storage("bad popularity record".into());
            let (item, _) = keys::ext_of(key.get(5..).ok_or_else(bad)?).ok_or_else(bad)?;
            let value: [u8; 24] = value.as_ref().try_into().map_err(|_| bad())?;
            let v = f64::from_le_bytes(value[..8].try_into().map_err(|_| bad())?);
            let at = i64::from_le_bytes(value[8..16].try_into().map_err(|_| bad())?);
            let latest = i64::from_le_bytes(value[16..].try_into().map_err(|_| bad())?);
            Ok((item, v, at, latest))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_users_never_share_a_range() {
        let e = StoredEvent { item: ExtId::Num(7), kind: "like".into(), weight: -1.5, time: -3 };
        assert_eq!(decode_event(&encode_event(&e)).unwrap(), e);
        let u = StoredEvent { item: ExtId::Uuid(uuid::Uuid::from_u128(9)), kind: String::new(), ..e };
        assert_eq!(decode_event(&encode_event(&u)).unwrap(), u);
        assert_eq!(decode_event_key(&event_key(3, "ann", 42)).unwrap(), ("ann".to_string(), 42));
        // "a" is a prefix of "ab" as text, never as a key range.
        assert!(!event_key(3, "ab", 0).starts_with(&user_prefix(3, "a")));
    }
}
