//! `facet`: how many points (matching a filter) hold each value of a payload key with a
//! map-type index (keyword, integer, bool), the most frequent first. Counts are always exact.

use std::cmp::Ordering;
use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::filter::{parse_uuid, values_at, Filter, Scalar};
use super::payload_index::{FieldType, PayloadIndex};
use super::{Collection, Deadline, PointMeta};
use crate::error::{Error, Result};

/// A faceted value. The variants are in Qdrant's order across kinds (keyword < integer < uuid <
/// bool); a UUID is written as the lower-case hyphenated string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FacetValue {
    Keyword(String),
    Integer(i64),
    Uuid(u128),
    Bool(bool),
}

impl FacetValue {
    pub fn of(s: Scalar) -> FacetValue {
        match s {
            Scalar::Keyword(k) => FacetValue::Keyword(k),
            Scalar::Integer(i) => FacetValue::Integer(i),
            Scalar::Bool(b) => FacetValue::Bool(b),
        }
    }
}

impl serde::Serialize for FacetValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            FacetValue::Keyword(k) => s.serialize_str(k),
            FacetValue::Integer(i) => s.serialize_i64(*i),
            FacetValue::Uuid(u) => s.collect_str(&uuid::Uuid::from_u128(*u).hyphenated()),
            FacetValue::Bool(b) => s.serialize_bool(*b),
        }
    }
}

/// One value and the number of points holding it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct FacetHit {
    pub value: FacetValue,
    pub count: usize,
}

/// The value an index of `kind` holds for a payload value, if it holds one.
pub fn facet_value_of(kind: FieldType, v: &Value) -> Option<FacetValue> {
    match kind {
        FieldType::Keyword => v.as_str().map(|s| FacetValue::Keyword(s.to_string())),
        FieldType::Integer => v.as_i64().map(FacetValue::Integer),
        FieldType::Uuid => v.as_str().and_then(parse_uuid).map(FacetValue::Uuid),
        FieldType::Bool => v.as_bool().map(FacetValue::Bool),
        FieldType::Float | FieldType::Geo | FieldType::Text | FieldType::Datetime => None,
    }
}

/// Qdrant's 400 for a key without a map-type index.
fn no_map_index(key: &str) -> Error {
    Error::bad(format!(
        "Wrong input: No appropriate index for faceting: `{key}`. Please create one to facet on this field. \
         Check https://qdrant.tech/documentation/concepts/indexing/#payload-index to see which payload \
         schemas support Match conditions"
    ))
}

/// Count descending, then value ascending.
fn rank(a: &FacetHit, b: &FacetHit) -> Ordering {
    b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value))
}

/// The top `limit` of `counts` (values counted 0 left out).
fn top(counts: impl IntoIterator<Item = (FacetValue, usize)>, limit: usize) -> Vec<FacetHit> {
    let mut hits: Vec<FacetHit> =
        counts.into_iter().filter(|(_, n)| *n > 0).map(|(value, count)| FacetHit { value, count }).collect();
    if hits.len() > limit && limit > 0 {
        hits.select_nth_unstable_by(limit - 1, rank);
        hits.truncate(limit);
    }
    hits.sort_by(rank);
    hits.truncate(limit);
    hits
}

/// The facet of `key` over the points `each` visits (those matching `filter`).
pub(super) fn count_values<'a>(
    index: &PayloadIndex,
    key: &str,
    limit: usize,
    filter: Option<&Filter>,
    points: &mut dyn Iterator<Item = (u64, &'a PointMeta)>,
    matches: &dyn Fn(u64, &PointMeta, &Filter) -> bool,
    deadline: Deadline,
) -> Result<Vec<FacetHit>> {
    let kind = index.kind(key).filter(|_| index.facets(key)).ok_or_else(|| no_map_index(key))?;
    if filter.is_none() {
        if let Some(counts) = index.facet_counts(key) {
            return Ok(top(counts, limit));
        }
    }
    let mut counts: HashMap<FacetValue, usize> = HashMap::new();
    let mut values: HashSet<FacetValue> = HashSet::new();
    // Points and values visited, for the deadline: one point may hold a long array.
    let (mut work, mut next_check) = (0usize, 0usize);
    for (id, m) in points {
        work += 1;
        if work >= next_check {
            deadline.check()?;
            next_check = work + 256;
        }
        if filter.is_some_and(|f| !matches(id, m, f)) {
            continue;
        }
        // A point counts once per distinct value it holds.
        let selected = values_at(&m.payload, key, true);
        work += selected.len();
        values.extend(selected.into_iter().filter_map(|v| facet_value_of(kind, v)));
        for value in values.drain() {
            *counts.entry(value).or_default() += 1;
        }
    }
    Ok(top(counts, limit))
}

impl Collection {
    /// `POST /collections/{c}/facet`: the `limit` most frequent values of `key` among the points
    /// matching `filter`, counted exactly.
    pub fn facet(
        &self,
        key: &str,
        limit: usize,
        filter: Option<&Filter>,
        deadline: Deadline,
    ) -> Result<Vec<FacetHit>> {
        let filter = filter.map(|f| self.bind(f));
        let filter = filter.as_ref();
        let points = self.points.read();
        let matches =
            |id: u64, m: &PointMeta, f: &Filter| f.matches(&m.payload, Some(m.ext), &self.has_vector(id));
        let candidates = filter.and_then(|f| points.candidates(f));
        let mut visit: Box<dyn Iterator<Item = (u64, &PointMeta)>> = match &candidates {
            Some(ids) => Box::new(ids.iter().filter_map(|id| Some((*id, points.meta.get(id)?)))),
            None => Box::new(points.meta.iter().map(|(id, m)| (*id, m))),
        };
        count_values(&points.payload_index, key, limit, filter, &mut visit, &matches, deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::payload_index::FieldSchema;
    use crate::id::ExtId;
    use serde_json::json;

    /// The probe of the conventions (§5.3), `n` = 1 on the points `a` and `[a, b]`.
    fn probe() -> Vec<(u64, PointMeta)> {
        [
            json!({"g": "a", "n": 1}),
            json!({"g": "b", "n": 2}),
            json!({"g": ["a", "b"], "n": 1}),
            json!({"g": "b"}),
            json!({"g": 3}),
            json!({"g": true}),
            json!({"g": null}),
            json!({}),
            json!({"g": 2.5}),
            json!({"g": ["c", 1.5, "c"]}),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let payload = p.as_object().unwrap().clone();
            (i as u64, PointMeta { ext: ExtId::Num(i as u64 + 1), version: 1, payload })
        })
        .collect()
    }

    fn facet(kind: FieldType, filter: Option<Value>, limit: usize) -> Result<Vec<FacetHit>> {
        let points = probe();
        let mut index = PayloadIndex::default();
        index.create("g", &FieldSchema::Type(kind), points.iter().map(|(id, m)| (*id, &m.payload)));
        let filter: Option<Filter> = filter.map(|f| serde_json::from_value(f).unwrap());
        let matches = |_: u64, m: &PointMeta, f: &Filter| f.matches(&m.payload, Some(m.ext), &|_| false);
        let mut visit = points.iter().map(|(id, m)| (*id, m));
        count_values(&index, "g", limit, filter.as_ref(), &mut visit, &matches, Deadline::NONE)
    }

    fn hits(list: &[(FacetValue, usize)]) -> Vec<FacetHit> {
        list.iter().map(|(value, count)| FacetHit { value: value.clone(), count: *count }).collect()
    }

    #[test]
    fn keyword_facet_counts_points_per_value() {
        use FacetValue::Keyword;
        let all = hits(&[(Keyword("b".into()), 3), (Keyword("a".into()), 2), (Keyword("c".into()), 1)]);
        assert_eq!(facet(FieldType::Keyword, None, 10).unwrap(), all);
        // The same counts through the scan a filter takes.
        assert_eq!(facet(FieldType::Keyword, Some(json!({"must": []})), 10).unwrap(), all);
        let filtered =
            facet(FieldType::Keyword, Some(json!({"must": [{"key": "n", "match": {"value": 1}}]})), 10);
        assert_eq!(filtered.unwrap(), hits(&[(Keyword("a".into()), 2), (Keyword("b".into()), 1)]));
        assert_eq!(facet(FieldType::Keyword, None, 2).unwrap(), all[..2]);
    }

    #[test]
    fn ties_order_by_value_across_kinds() {
        let mut counts = vec![
            (FacetValue::Bool(true), 1),
            (FacetValue::Integer(3), 1),
            (FacetValue::Keyword("c".into()), 1),
            (FacetValue::Integer(-2), 2),
        ];
        counts.push((FacetValue::Keyword("zero".into()), 0));
        let got = top(counts, 10);
        assert_eq!(
            got,
            hits(&[
                (FacetValue::Integer(-2), 2),
                (FacetValue::Keyword("c".into()), 1),
                (FacetValue::Integer(3), 1),
                (FacetValue::Bool(true), 1)
            ])
        );
        assert_eq!(
            serde_json::to_string(&got).unwrap(),
            r#"[{"value":-2,"count":2},{"value":"c","count":1},{"value":3,"count":1},{"value":true,"count":1}]"#
        );
    }

    #[test]
    fn integer_and_bool_facets_hold_only_their_values() {
        let int = facet(FieldType::Integer, Some(json!({"must": []})), 10).unwrap();
        assert_eq!(int, hits(&[(FacetValue::Integer(3), 1)]));
        assert_eq!(facet(FieldType::Bool, None, 10).unwrap(), hits(&[(FacetValue::Bool(true), 1)]));
        let err = facet(FieldType::Float, None, 10).unwrap_err().to_string();
        assert!(err.contains("No appropriate index for faceting: `g`"), "{err}");
    }
}
