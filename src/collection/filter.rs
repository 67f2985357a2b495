//! Qdrant's filter language as the collection evaluates it, against one point's payload and
//! id (its wire form is parsed and written by `api::filter`).
//!
//! `must` (all), `should` (at least one, when present), `must_not` (none), `min_should`
//! (at least `min_count` of its conditions). Conditions: a field condition (`match` value / any /
//! except / text, `range`, `values_count`, `is_empty`, `is_null`), `is_empty` / `is_null`
//! objects, `has_id`, `nested` (a filter over each object of an array), or a whole filter.
//! Keys are paths: `a.b`, `a[].b`, `a[0]`. A field holding an array matches when any element
//! does.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::id::ExtId;

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
}

#[derive(Clone, Debug, PartialEq)]
pub enum Match {
    Value(Scalar),
    Any(Vec<Scalar>),
    Except(Vec<Scalar>),
    /// Every token of the text is a token of the value.
    Text(String),
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
        }
    }
}

impl Match {
    fn matches(&self, v: &Value) -> bool {
        match self {
            Match::Value(s) => s.matches(v),
            Match::Any(list) => list.iter().any(|s| s.matches(v)),
            Match::Except(list) => !v.is_null() && !list.iter().any(|s| s.matches(v)),
            Match::Text(text) => v.as_str().is_some_and(|doc| {
                let doc: HashSet<String> = tokens(doc).collect();
                let mut query = tokens(text).peekable();
                query.peek().is_some() && query.all(|t| doc.contains(&t))
            }),
        }
    }
}

fn tokens(s: &str) -> impl Iterator<Item = String> + '_ {
    s.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase)
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
pub const MAX_CONDITIONS: usize = 1024;

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
}
