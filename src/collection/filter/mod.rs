//! Qdrant's filter language as the collection evaluates it, against one point's payload and
//! id (its wire form is parsed and written by `api::filter`).
//!
//! `must` (all), `should` (at least one, when present), `must_not` (none), `min_should`
//! (at least `min_count` of its conditions). Conditions: a field condition (`match` value / any /
//! except / text / text_any / phrase, `range` over numbers or datetimes, `values_count`,
//! `is_empty`, `is_null`, `geo_radius` / `geo_bounding_box` / `geo_polygon`), `is_empty` /
//! `is_null` objects, `has_id`, `nested` (a filter over each object of an array), or a whole
//! filter. Keys are paths: `a.b`, `a[].b`, `a[0]`. A field holding an array matches when any
//! element does.
//!
//! Text and uuid matching depend on the field's payload index: a filter is bound to the
//! collection's schema ([`Filter::bind`]) before it is evaluated.

pub mod datetime;
pub mod geo;
pub mod text;

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use crate::collection::payload_index::{FieldSchema, FieldType};
use crate::id::ExtId;
pub use datetime::parse_datetime;
pub use geo::{GeoCondition, GeoPoint};
pub use text::{TextKind, TextMatch, TextParams};

pub type Payload = Map<String, Value>;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub must: Vec<Condition>,
    pub should: Vec<Condition>,
    pub must_not: Vec<Condition>,
    pub min_should: Option<(Vec<Condition>, usize)>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Condition {
    Field {
        key: String,
        check: FieldCheck,
    },
    IsEmpty(String),
    IsNull(String),
    HasId(HashSet<ExtId>),
    Nested {
        key: String,
        filter: Filter,
    },
    Filter(Filter),
    /// `has_vector`: the point has the named vector (`""`: the unnamed one).
    HasVector(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum FieldCheck {
    Match(Match),
    Range(Range),
    ValuesCount(Range),
    IsEmpty(bool),
    IsNull(bool),
    /// `range` with datetime bounds (microseconds since the epoch, UTC): string values that
    /// parse as datetimes.
    DatetimeRange(DatetimeRange),
    Geo(GeoCondition),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Match {
    Value(Scalar),
    Any(Vec<Scalar>),
    Except(Vec<Scalar>),
    /// `text` / `text_any` / `phrase`.
    Text(TextMatch),
    /// A `value` / `any` / `except` on a field with a uuid index (made by [`Filter::bind`]):
    /// string values compared as UUIDs.
    Uuid(UuidMatch),
}

#[derive(Clone, Debug, PartialEq)]
pub struct UuidMatch {
    /// The match as given (`Value`, `Any` or `Except` of keywords).
    pub given: Box<Match>,
    /// The given strings that parse as UUIDs.
    pub ids: Vec<u128>,
    pub except: bool,
}

impl UuidMatch {
    fn matches(&self, v: &Value) -> bool {
        let Some(id) = v.as_str().and_then(parse_uuid) else { return false };
        self.ids.contains(&id) != self.except
    }
}

/// A UUID in any of its textual forms (hyphenated or not, any case).
pub fn parse_uuid(s: &str) -> Option<u128> {
    uuid::Uuid::try_parse(s).ok().map(|u| u.as_u128())
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DatetimeRange {
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
}

impl DatetimeRange {
    pub fn contains(&self, x: i64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

/// A value `match` compares with: keyword, integer or bool.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scalar {
    Keyword(String),
    Integer(i64),
    Bool(bool),
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub gt: Option<f64>,
    pub gte: Option<f64>,
    pub lt: Option<f64>,
    pub lte: Option<f64>,
}

impl Range {
    pub fn contains(&self, x: f64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

impl Scalar {
    pub fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Scalar::Keyword(s), Value::String(x)) => s == x,
            (Scalar::Integer(i), Value::Number(n)) => n.as_i64() == Some(*i),
            (Scalar::Bool(b), Value::Bool(x)) => b == x,
            _ => false,
        }
    }

    /// The scalar a payload value is indexed under, if any.
    pub fn of(v: &Value) -> Option<Scalar> {
        match v {
            Value::String(s) => Some(Scalar::Keyword(s.clone())),
            Value::Number(n) => n.as_i64().map(Scalar::Integer),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }
}

// ---- evaluation -------------------------------------------------------------------------------

/// Which vectors a point has, for `has_vector`.
pub type HasVector<'a> = &'a dyn Fn(&str) -> bool;

/// For objects that are not points (the items of a `nested` condition): no vectors.
const NO_VECTORS: HasVector<'static> = &|_| false;

impl Filter {
    /// For a filter that only excludes ids (`must_not` of `has_id` conditions and nothing
    /// else, as `exclude_seen` makes), how many ids it names: the planner's estimate of the
    /// points it allows is then the rest.
    pub fn excluded_ids_only(&self) -> Option<usize> {
        if !self.must.is_empty() || !self.should.is_empty() || self.min_should.is_some() {
            return None;
        }
        let mut n = 0;
        for c in &self.must_not {
            let Condition::HasId(ids) = c else { return None };
            n += ids.len();
        }
        Some(n)
    }

    /// Whether a point, given by its payload, id and vectors, matches.
    pub fn matches(&self, payload: &Payload, id: Option<ExtId>, vectors: HasVector<'_>) -> bool {
        let test = |c: &Condition| c.matches(payload, id, vectors);
        self.must.iter().all(test)
            && (self.should.is_empty() || self.should.iter().any(test))
            && !self.must_not.iter().any(test)
            && self
                .min_should
                .as_ref()
                .is_none_or(|(conds, min)| conds.iter().filter(|c| test(c)).count() >= *min)
    }
}

impl Condition {
    pub fn matches(&self, payload: &Payload, id: Option<ExtId>, vectors: HasVector<'_>) -> bool {
        match self {
            Condition::Field { key, check } => check.matches(payload, key),
            Condition::IsEmpty(key) => is_empty(payload, key),
            Condition::IsNull(key) => is_null(payload, key),
            Condition::HasId(ids) => id.is_some_and(|id| ids.contains(&id)),
            Condition::Nested { key, filter } => {
                let key = key.strip_suffix("[]").unwrap_or(key);
                values_at(payload, key, false).into_iter().any(|v| match v {
                    Value::Array(items) => items
                        .iter()
                        .any(|item| item.as_object().is_some_and(|o| filter.matches(o, None, NO_VECTORS))),
                    Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                        false
                    }
                })
            }
            Condition::Filter(f) => f.matches(payload, id, vectors),
            Condition::HasVector(name) => vectors(name),
        }
    }
}

impl FieldCheck {
    fn matches(&self, payload: &Payload, key: &str) -> bool {
        match self {
            FieldCheck::Match(m) => values_at(payload, key, true).into_iter().any(|v| m.matches(v)),
            FieldCheck::Range(r) => values_at(payload, key, true)
                .into_iter()
                .any(|v| v.as_f64().is_some_and(|x| !v.is_boolean() && r.contains(x))),
            // Each selected value is counted on its own (null: 0, an array: its length, else 1);
            // a missing field counts 0.
            FieldCheck::ValuesCount(r) => {
                let values = values_at(payload, key, false);
                let count = |v: &&Value| match v {
                    Value::Null => 0,
                    Value::Array(a) => a.len(),
                    Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => 1,
                };
                if values.is_empty() {
                    r.contains(0.0)
                } else {
                    values.iter().any(|v| r.contains(count(v) as f64))
                }
            }
            FieldCheck::IsEmpty(want) => is_empty(payload, key) == *want,
            FieldCheck::IsNull(want) => is_null(payload, key) == *want,
            FieldCheck::DatetimeRange(r) => values_at(payload, key, true)
                .into_iter()
                .any(|v| v.as_str().and_then(parse_datetime).is_some_and(|x| r.contains(x))),
            FieldCheck::Geo(g) => values_at(payload, key, true).into_iter().any(|v| g.matches(v)),
        }
    }
}

impl Match {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Match::Value(s) => s.matches(v),
            Match::Any(list) => list.iter().any(|s| s.matches(v)),
            Match::Except(list) => !v.is_null() && !list.iter().any(|s| s.matches(v)),
            Match::Text(t) => v.as_str().is_some_and(|doc| t.matches(doc)),
            Match::Uuid(u) => u.matches(v),
        }
    }
}

// ---- binding to the schema ------------------------------------------------------------------

/// The collection's payload indexes by key (its `payload_schema`).
pub type Schema = BTreeMap<String, FieldSchema>;

impl Filter {
    /// This filter as evaluated on a collection with `schema`: text conditions on a field with
    /// a text index take its tokenizer settings, and `value` / `any` / `except` of strings on a
    /// field with a uuid index compare UUIDs. Conditions inside `nested` keep their unindexed
    /// meaning (their keys are relative to the array's items).
    pub fn bind(&self, schema: &Schema) -> Filter {
        if schema.is_empty() {
            return self.clone();
        }
        let list = |c: &[Condition]| c.iter().map(|c| c.bind(schema)).collect::<Vec<_>>();
        Filter {
            must: list(&self.must),
            should: list(&self.should),
            must_not: list(&self.must_not),
            min_should: self.min_should.as_ref().map(|(c, n)| (list(c), *n)),
        }
    }
}

impl Condition {
    fn bind(&self, schema: &Schema) -> Condition {
        match self {
            Condition::Field { key, check: FieldCheck::Match(m) } => {
                let schema = schema.get(key);
                let m = match (m, schema.map(FieldSchema::kind)) {
                    (Match::Text(t), Some(FieldType::Text)) => {
                        Match::Text(TextMatch { index: schema.map(FieldSchema::text_params), ..t.clone() })
                    }
                    (Match::Value(_) | Match::Any(_) | Match::Except(_), Some(FieldType::Uuid)) => {
                        bind_uuid(m).unwrap_or_else(|| m.clone())
                    }
                    (other, _) => other.clone(),
                };
                Condition::Field { key: key.clone(), check: FieldCheck::Match(m) }
            }
            Condition::Filter(f) => Condition::Filter(f.bind(schema)),
            other @ (Condition::Field { .. }
            | Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::Nested { .. }
            | Condition::HasVector(_)) => other.clone(),
        }
    }
}

/// A match of keywords as a UUID match; `None` when it holds other kinds of values.
fn bind_uuid(m: &Match) -> Option<Match> {
    let (list, except) = match m {
        Match::Value(s) => (std::slice::from_ref(s), false),
        Match::Any(list) => (list.as_slice(), false),
        Match::Except(list) => (list.as_slice(), true),
        Match::Text(_) | Match::Uuid(_) => return None,
    };
    let mut ids = Vec::with_capacity(list.len());
    for s in list {
        match s {
            Scalar::Keyword(k) => ids.extend(parse_uuid(k)),
            Scalar::Integer(_) | Scalar::Bool(_) => return None,
        }
    }
    Some(Match::Uuid(UuidMatch { given: Box::new(m.clone()), ids, except }))
}

fn is_empty(payload: &Payload, key: &str) -> bool {
    values_at(payload, key, false).iter().all(|v| match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => false,
    })
}

fn is_null(payload: &Payload, key: &str) -> bool {
    values_at(payload, key, false).iter().any(|v| match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(Value::is_null),
        Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => false,
    })
}

/// The values at `path` (see [`json_path`](super::json_path)); with `flatten`, an array found
/// at the end yields its elements (conditions test the elements of an array value).
pub fn values_at<'a>(payload: &'a Payload, path: &str, flatten: bool) -> Vec<&'a Value> {
    let current = super::json_path::select(payload, path);
    if flatten {
        current
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(items) => items.iter().collect::<Vec<_>>(),
                other @ (Value::Null
                | Value::Bool(_)
                | Value::Number(_)
                | Value::String(_)
                | Value::Object(_)) => vec![other],
            })
            .collect()
    } else {
        current
    }
}

// ---- size ---------------------------------------------------------------------------------------

/// Most conditions one filter may hold, counted over every level: a filter is evaluated per
/// point, so this bounds the cost per point (with the request deadline bounding the points).
/// A polygon counts one more per [`POLYGON_POINTS_PER_CONDITION`] of its points.
pub const MAX_CONDITIONS: usize = 1024;

/// How many polygon points weigh as much as one condition.
pub const POLYGON_POINTS_PER_CONDITION: usize = 10;

impl Filter {
    /// Conditions at every level of nesting.
    pub fn conditions(&self) -> usize {
        let list = |c: &[Condition]| c.iter().map(Condition::size).sum::<usize>();
        list(&self.must)
            + list(&self.should)
            + list(&self.must_not)
            + self.min_should.as_ref().map_or(0, |(c, _)| list(c))
    }
}

impl Condition {
    fn size(&self) -> usize {
        match self {
            Condition::Nested { filter, .. } | Condition::Filter(filter) => 1 + filter.conditions(),
            Condition::Field {
                check: FieldCheck::Geo(GeoCondition::Polygon { exterior, interiors, .. }),
                ..
            } => {
                1 + (exterior.len() + interiors.iter().map(Vec::len).sum::<usize>())
                    / POLYGON_POINTS_PER_CONDITION
            }
            Condition::Field { .. }
            | Condition::IsEmpty(_)
            | Condition::IsNull(_)
            | Condition::HasId(_)
            | Condition::HasVector(_) => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    fn p(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_polygon_weighs_by_its_points() {
        // A closed ring of `n` points on a small circle.
        let polygon = |n: usize| {
            let mut points: Vec<Value> = (0..n - 1)
                .map(|i| {
                    let a = i as f64 / (n - 1) as f64 * std::f64::consts::TAU;
                    json!({"lon": 10.0 + a.cos(), "lat": 50.0 + a.sin()})
                })
                .collect();
            points.push(points[0].clone());
            json!({"key": "loc", "geo_polygon": {"exterior": {"points": points}}})
        };
        let filter = f(json!({"should": [polygon(5000), polygon(5000)]}));
        assert_eq!(filter.conditions(), 2 * (1 + 5000 / POLYGON_POINTS_PER_CONDITION));
        assert!(filter.matches(&p(json!({"loc": {"lon": 10.2, "lat": 50.1}})), None, NO_VECTORS));
        assert!(!filter.matches(&p(json!({"loc": {"lon": 12.0, "lat": 50.0}})), None, NO_VECTORS));
        let three = json!({"should": [polygon(5000), polygon(5000), polygon(5000)]});
        let err = serde_json::from_value::<Filter>(three).unwrap_err().to_string();
        assert!(err.contains("the limit is 1024"), "{err}");
    }

    #[test]
    fn field_conditions() {
        let doc = p(json!({"g": "a", "n": 5, "tags": ["x", "y"], "o": {"k": [1, 2]}, "z": null, "e": []}));
        let cases = [
            (json!({"must": [{"key": "g", "match": {"value": "a"}}]}), true),
            (json!({"must": {"key": "g", "match": {"value": "b"}}}), false),
            (json!({"must": [{"key": "tags", "match": {"any": ["q", "y"]}}]}), true),
            (json!({"must": [{"key": "g", "match": {"except": ["a"]}}]}), false),
            (json!({"must": [{"key": "missing", "match": {"except": ["a"]}}]}), false),
            (json!({"must": [{"key": "n", "range": {"gte": 5, "lt": 6}}]}), true),
            (json!({"must": [{"key": "n", "range": {"gt": 5}}]}), false),
            (json!({"must": [{"key": "o.k", "match": {"value": 2}}]}), true),
            (json!({"must": [{"key": "o.k[1]", "match": {"value": 2}}]}), true),
            (json!({"must": [{"is_empty": {"key": "e"}}, {"is_empty": {"key": "missing"}}]}), true),
            (json!({"must": [{"is_empty": {"key": "g"}}]}), false),
            (json!({"must": [{"is_null": {"key": "z"}}]}), true),
            (json!({"must": [{"is_null": {"key": "missing"}}]}), false),
            (json!({"must": [{"key": "tags", "values_count": {"gte": 2}}]}), true),
            (
                json!({"should": [{"key": "g", "match": {"value": "b"}}, {"key": "n", "match": {"value": 5}}]}),
                true,
            ),
            (json!({"must_not": [{"key": "g", "match": {"value": "a"}}]}), false),
            (
                json!({"min_should": {"conditions": [{"key": "g", "match": {"value": "a"}}, {"key": "n", "match": {"value": 4}}], "min_count": 2}}),
                false,
            ),
            (json!({"must": [{"must_not": [{"key": "n", "match": {"value": 4}}]}]}), true),
        ];
        for (filter, want) in cases {
            assert_eq!(f(filter.clone()).matches(&doc, None, NO_VECTORS), want, "{filter}");
        }
    }

    #[test]
    fn has_id_and_nested() {
        let doc = p(json!({"items": [{"c": "red", "n": 1}, {"c": "blue", "n": 2}]}));
        let nested = f(json!({"must": [{"nested": {"key": "items", "filter": {"must": [
            {"key": "c", "match": {"value": "red"}}, {"key": "n", "match": {"value": 1}}]}}}]}));
        assert!(nested.matches(&doc, None, NO_VECTORS));
        let crossed = f(json!({"must": [{"nested": {"key": "items[]", "filter": {"must": [
            {"key": "c", "match": {"value": "red"}}, {"key": "n", "match": {"value": 2}}]}}}]}));
        assert!(!crossed.matches(&doc, None, NO_VECTORS));
        let ids = f(json!({"must": [{"has_id": [1, "550e8400-e29b-41d4-a716-446655440000"]}]}));
        assert!(ids.matches(&doc, Some(ExtId::Num(1)), NO_VECTORS));
        assert!(!ids.matches(&doc, Some(ExtId::Num(2)), NO_VECTORS));
    }

    fn ids_matching(docs: &[Value], filter: Value, schema: &Schema) -> Vec<usize> {
        let filter = f(filter).bind(schema);
        docs.iter()
            .enumerate()
            .filter(|(_, d)| filter.matches(&p((*d).clone()), None, NO_VECTORS))
            .map(|(i, _)| i + 1)
            .collect()
    }

    #[test]
    fn counts_emptiness_and_nulls() {
        // 1: array, 2: null, 3: [null], 4: missing, 5: [], 6: scalar, 7: [null, "a"]
        let docs = [
            json!({"k": ["x", "y"]}),
            json!({"k": null}),
            json!({"k": [null]}),
            json!({}),
            json!({"k": []}),
            json!({"k": "x"}),
            json!({"k": [null, "a"]}),
        ];
        let none = Schema::new();
        let case = |filter: Value, want: &[usize]| {
            assert_eq!(ids_matching(&docs, filter.clone(), &none), want, "{filter}")
        };
        case(json!({"must": [{"key": "k", "values_count": {"gte": 2}}]}), &[1, 7]);
        case(json!({"must": [{"key": "k", "values_count": {"lt": 1}}]}), &[2, 4, 5]);
        case(json!({"must": [{"key": "k", "values_count": {"gte": 1, "lte": 1}}]}), &[3, 6]);
        case(json!({"must": [{"key": "k[]", "values_count": {"gte": 2}}]}), &[]);
        case(json!({"must": [{"key": "k", "values_count": {"gte": 0}}]}), &[1, 2, 3, 4, 5, 6, 7]);
        case(json!({"must": [{"is_empty": {"key": "k"}}]}), &[2, 4, 5]);
        case(json!({"must": [{"key": "k", "is_empty": false}]}), &[1, 3, 6, 7]);
        case(json!({"must": [{"is_null": {"key": "k"}}]}), &[2, 3, 7]);
        case(json!({"must": [{"key": "k", "is_null": false}]}), &[1, 4, 5, 6]);
    }

    #[test]
    fn datetime_ranges_follow_the_probe() {
        let docs = [
            json!({"d": "2024-01-01T00:00:00Z"}),
            json!({"d": "2024-01-01T01:00:00+02:00"}),
            json!({"d": "2024-01-01"}),
            json!({"d": "2024-01-01 00:30:00"}),
            json!({"d": 1704067200}),
        ];
        let none = Schema::new();
        let case = |range: Value, want: &[usize]| {
            let filter = json!({"must": [{"key": "d", "range": range}]});
            assert_eq!(ids_matching(&docs, filter, &none), want, "{range}");
        };
        case(json!({"gte": "2024-01-01T00:00:00Z"}), &[1, 3, 4]);
        case(json!({"gt": "2024-01-01T00:00:00Z"}), &[4]);
        case(json!({"lt": "2024-01-01T00:00:01"}), &[1, 2, 3]);
        case(json!({"lte": "2023-12-31T23:00:00Z"}), &[2]);
        case(json!({"gte": 1704067200}), &[5]);
    }

    #[test]
    fn geo_conditions_follow_the_probe() {
        let docs = [
            json!({"loc": {"lon": 13.40, "lat": 52.52}}),
            json!({"loc": [{"lon": 0.0, "lat": 0.0}, {"lon": 13.41, "lat": 52.521}]}),
            json!({"loc": {"lon": 100.0, "lat": 10.0}}),
            json!({"loc": {"lat": 52.5201, "lon": 13.4001}}),
            json!({"loc": "13.4,52.52"}),
        ];
        let none = Schema::new();
        let case = |cond: Value, want: &[usize]| {
            let mut c = cond.clone();
            c["key"] = json!("loc");
            assert_eq!(ids_matching(&docs, json!({"must": [c]}), &none), want, "{cond}");
        };
        let ring = |c: &[(f64, f64)]| {
            let mut r: Vec<Value> = c.iter().map(|(lon, lat)| json!({"lon": lon, "lat": lat})).collect();
            r.push(r[0].clone());
            json!({"points": r})
        };
        case(json!({"geo_radius": {"center": {"lon": 13.40, "lat": 52.52}, "radius": 1000.0}}), &[1, 2, 4]);
        case(
            json!({"geo_bounding_box": {"top_left": {"lon": 13.0, "lat": 53.0}, "bottom_right": {"lon": 14.0, "lat": 52.0}}}),
            &[1, 2, 4],
        );
        let square = ring(&[(13.0, 52.0), (14.0, 52.0), (14.0, 53.0), (13.0, 53.0)]);
        case(json!({"geo_polygon": {"exterior": square}}), &[1, 2, 4]);
        let hole = ring(&[(13.39, 52.51), (13.405, 52.51), (13.405, 52.53), (13.39, 52.53)]);
        case(json!({"geo_polygon": {"exterior": square, "interiors": [hole]}}), &[2]);
    }

    #[test]
    fn uuid_matching_depends_on_the_index() {
        let docs = [
            json!({"u": "550e8400-e29b-41d4-a716-446655440000"}),
            json!({"u": "550E8400-E29B-41D4-A716-446655440000"}),
            json!({"u": "550e8400e29b41d4a716446655440000"}),
            json!({"u": "not-a-uuid"}),
            json!({"u": 5}),
        ];
        let mut uuid = Schema::new();
        uuid.insert("u".into(), FieldSchema::Type(FieldType::Uuid));
        let none = Schema::new();
        let value =
            json!({"must": [{"key": "u", "match": {"value": "550e8400-e29b-41d4-a716-446655440000"}}]});
        assert_eq!(ids_matching(&docs, value.clone(), &none), [1]);
        assert_eq!(ids_matching(&docs, value, &uuid), [1, 2, 3]);
        let odd = json!({"must": [{"key": "u", "match": {"value": "not-a-uuid"}}]});
        assert_eq!(ids_matching(&docs, odd.clone(), &none), [4]);
        assert_eq!(ids_matching(&docs, odd, &uuid), Vec::<usize>::new());
        let except =
            json!({"must": [{"key": "u", "match": {"except": ["550E8400E29B41D4A716446655440000"]}}]});
        assert_eq!(ids_matching(&docs, except.clone(), &none), [1, 2, 3, 4, 5]);
        assert_eq!(ids_matching(&docs, except, &uuid), Vec::<usize>::new());
        let number = json!({"must": [{"key": "u", "match": {"value": 5}}]});
        assert_eq!(ids_matching(&docs, number, &uuid), [5], "non-string matches are left as they are");
    }

    #[test]
    fn text_matching_depends_on_the_index() {
        let docs =
            [json!({"t": "Qdrant is fast"}), json!({"t": ["nothing", "cheap FOOD here"]}), json!({"t": 7})];
        let none = Schema::new();
        let mut prefix = Schema::new();
        prefix
            .insert("t".into(), FieldSchema::parse(&json!({"type": "text", "tokenizer": "prefix"})).unwrap());
        let mut phrases = Schema::new();
        phrases.insert(
            "t".into(),
            FieldSchema::parse(&json!({"type": "text", "phrase_matching": true})).unwrap(),
        );
        let m = |k: &str, q: &str| json!({"must": [{"key": "t", "match": {k: q}}]});
        assert_eq!(ids_matching(&docs, m("text", "qdr"), &none), Vec::<usize>::new());
        assert_eq!(ids_matching(&docs, m("text", "qdr"), &prefix), [1]);
        assert_eq!(ids_matching(&docs, m("text", "FAST qdrant"), &none), [1]);
        assert_eq!(ids_matching(&docs, m("text_any", "slow fast"), &none), [1]);
        assert_eq!(ids_matching(&docs, m("phrase", "cheap food"), &none), [2]);
        assert_eq!(ids_matching(&docs, m("phrase", "cheap food"), &prefix), Vec::<usize>::new());
        assert_eq!(ids_matching(&docs, m("phrase", "cheap food"), &phrases), [2]);
        assert_eq!(ids_matching(&docs, m("phrase", "food cheap"), &phrases), Vec::<usize>::new());
        assert_eq!(
            ids_matching(&docs, m("text", "nothing here"), &none),
            Vec::<usize>::new(),
            "each element is a document"
        );
    }
}
