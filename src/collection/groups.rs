//! Search results grouped by a payload value (Qdrant's `…/groups` routes), exactly: hits are
//! walked in score order, each goes into the group of every key it has (at most `group_size`
//! per group), and the first `limit` groups met — those with the best best-hits — are the
//! answer. The search is widened until those groups are full or the candidates run out (or
//! [`MAX_WINDOW`] of them were walked).

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::filter::{values_at, Payload};
use super::read::{Hit, Search};
use super::{Collection, Deadline};
use crate::error::Result;
use crate::id::ExtId;

/// A group's key: a string or an integer payload value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum GroupKey {
    Str(String),
    Int(i64),
    UInt(u64),
}

impl GroupKey {
    /// The key of one value, if it can be one (strings and integers).
    fn of(v: &Value) -> Option<GroupKey> {
        match v {
            Value::String(s) => Some(GroupKey::Str(s.clone())),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => Some(GroupKey::Int(i)),
                (None, Some(u)) => Some(GroupKey::UInt(u)),
                (None, None) => None,
            },
            Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The point id a key names in a lookup collection: a non-negative integer, or a UUID
    /// string (in any form the UUID parser takes).
    pub fn point_id(&self) -> Option<ExtId> {
        match self {
            GroupKey::Int(i) => u64::try_from(*i).ok().map(ExtId::Num),
            GroupKey::UInt(u) => Some(ExtId::Num(*u)),
            GroupKey::Str(s) => uuid::Uuid::parse_str(s).ok().map(ExtId::Uuid),
        }
    }
}

impl serde::Serialize for GroupKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            GroupKey::Str(v) => s.serialize_str(v),
            GroupKey::Int(v) => s.serialize_i64(*v),
            GroupKey::UInt(v) => s.serialize_u64(*v),
        }
    }
}

/// The keys of a payload at `path` (an array's elements each one key, repeats once); `None` when
/// there are none or any value cannot be a key (such a point is in no group).
pub fn keys_of(payload: &Payload, path: &str) -> Option<Vec<GroupKey>> {
    let values = values_at(payload, path, true);
    let mut keys: Vec<GroupKey> = Vec::with_capacity(values.len());
    let mut seen: HashSet<GroupKey> = HashSet::with_capacity(values.len());
    for v in values {
        let k = GroupKey::of(v)?;
        if seen.insert(k.clone()) {
            keys.push(k);
        }
    }
    (!keys.is_empty()).then_some(keys)
}

/// The most candidates a grouped search walks (when fewer hold a key, the groups are those
/// among the best this many): each widening is a search of that many results.
const MAX_WINDOW: usize = 1 << 16;

/// How to group: the payload path, hits per group, groups.
#[derive(Clone, Debug)]
pub struct Grouping {
    pub group_by: String,
    pub group_size: usize,
    pub limit: usize,
}

#[derive(Clone, Debug)]
pub struct Group {
    pub key: GroupKey,
    /// Best first.
    pub hits: Vec<Hit>,
}

/// Puts `hits` (best first) into groups; `true` with them when more hits cannot change them.
fn assemble(hits: &[Hit], keys: &[Option<Vec<GroupKey>>], g: &Grouping) -> (Vec<Group>, bool) {
    let mut groups: Vec<Group> = Vec::new();
    let mut at: HashMap<GroupKey, usize> = HashMap::new();
    for (hit, keys) in hits.iter().zip(keys) {
        for key in keys.iter().flatten() {
            match at.get(key) {
                Some(&i) if groups[i].hits.len() < g.group_size => groups[i].hits.push(hit.clone()),
                // Full.
                Some(_) => {}
                // A group first met after `limit` others has a worse best hit than all of them.
                None if groups.len() < g.limit => {
                    at.insert(key.clone(), groups.len());
                    groups.push(Group { key: key.clone(), hits: vec![hit.clone()] });
                }
                None => {}
            }
        }
    }
    let complete = groups.len() == g.limit && groups.iter().all(|gr| gr.hits.len() >= g.group_size);
    (groups, complete)
}

impl Collection {
    /// The best `limit` groups of `s`'s hits (its `limit` and `offset` are not used).
    pub fn groups(&self, s: &Search, g: &Grouping, deadline: Deadline) -> Result<Vec<Group>> {
        let total = self.points.read().meta.len();
        let wanted = g.limit.saturating_mul(g.group_size);
        let mut window = wanted.saturating_mul(2).max(64);
        let max_window = wanted.saturating_mul(4).max(MAX_WINDOW);
        loop {
            let wide = Search { limit: window.min(total.max(1)).min(max_window), offset: 0, ..s.clone() };
            let hits = self.search(&wide, deadline)?;
            let exhausted = hits.len() < wide.limit || wide.limit >= total || wide.limit >= max_window;
            let keys: Vec<Option<Vec<GroupKey>>> = {
                let points = self.points.read();
                hits.iter()
                    .map(|h| {
                        let id = points.by_ext.get(&h.id)?;
                        keys_of(&points.meta.get(id)?.payload, &g.group_by)
                    })
                    .collect()
            };
            let (groups, complete) = assemble(&hits, &keys, g);
            if complete || exhausted {
                return Ok(groups);
            }
            deadline.check()?;
            window = window.saturating_mul(4);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Payload {
        serde_json::from_value(v).unwrap()
    }

    fn hit(id: u64, score: f32) -> Hit {
        Hit { id: ExtId::Num(id), version: 0, score, payload: None, vector: None, order_value: None }
    }

    #[test]
    fn keys_are_strings_and_integers_and_one_bad_value_drops_the_point() {
        let k = |v: Value| keys_of(&payload(json!({"g": v})), "g");
        assert_eq!(k(json!("a")), Some(vec![GroupKey::Str("a".into())]));
        assert_eq!(k(json!(-5)), Some(vec![GroupKey::Int(-5)]));
        assert_eq!(k(json!(["a", "a", 3])), Some(vec![GroupKey::Str("a".into()), GroupKey::Int(3)]));
        for bad in [json!(true), json!(null), json!(2.5), json!(["c", 1.5]), json!({"x": 1}), json!([])] {
            assert_eq!(k(bad.clone()), None, "{bad}");
        }
        assert_eq!(keys_of(&payload(json!({"h": 1})), "g"), None);
        assert_eq!(keys_of(&payload(json!({"a": {"b": "x"}})), "a.b"), Some(vec![GroupKey::Str("x".into())]));
    }

    #[test]
    fn lookup_ids_from_keys() {
        assert_eq!(GroupKey::Int(3).point_id(), Some(ExtId::Num(3)));
        assert_eq!(GroupKey::Int(-3).point_id(), None);
        assert_eq!(GroupKey::Str("a".into()).point_id(), None);
        let upper = GroupKey::Str("550E8400-E29B-41D4-A716-446655440000".into());
        assert_eq!(upper.point_id().unwrap().to_string(), "550e8400-e29b-41d4-a716-446655440000");
    }

    /// Qdrant's probe (§2.6): Dot scores for [1,0], keys as listed.
    #[test]
    fn the_probe_groups() {
        let rows: Vec<(u64, f32, Value)> = vec![
            (1, 1.0, json!("a")),
            (10, 0.95, json!(["c", 1.5])),
            (2, 0.9, json!("b")),
            (3, 0.8, json!(["a", "b"])),
            (4, 0.7, json!("b")),
            (5, 0.6, json!(3)),
            (6, 0.5, json!(true)),
            (9, 0.4, json!(2.5)),
            (7, 0.3, json!(null)),
        ];
        let hits: Vec<Hit> = rows.iter().map(|(id, s, _)| hit(*id, *s)).collect();
        let keys: Vec<_> = rows.iter().map(|(_, _, v)| keys_of(&payload(json!({"g": v})), "g")).collect();
        let ids = |groups: &[Group]| -> Vec<(Value, Vec<u64>)> {
            groups
                .iter()
                .map(|g| {
                    let ids = g.hits.iter().map(|h| match h.id {
                        ExtId::Num(n) => n,
                        ExtId::Uuid(_) => unreachable!(),
                    });
                    (serde_json::to_value(&g.key).unwrap(), ids.collect())
                })
                .collect()
        };
        let (groups, complete) =
            assemble(&hits, &keys, &Grouping { group_by: "g".into(), group_size: 2, limit: 10 });
        assert!(!complete);
        assert_eq!(ids(&groups), [(json!("a"), vec![1, 3]), (json!("b"), vec![2, 3]), (json!(3), vec![5])]);
        let (groups, complete) =
            assemble(&hits, &keys, &Grouping { group_by: "g".into(), group_size: 1, limit: 2 });
        assert!(complete);
        assert_eq!(ids(&groups), [(json!("a"), vec![1]), (json!("b"), vec![2])]);
    }
}
