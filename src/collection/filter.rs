//! Qdrant's filter language, parsed with errors that name the offending part, and evaluated
//! against one point's payload and id.
//!
//! `must` (all), `should` (at least one, when present), `must_not` (none), `min_should`
//! (at least `min_count` of its conditions). Conditions: a field condition (`match` value / any /
//! except / text, `range`, `values_count`, `is_empty`, `is_null`), `is_empty` / `is_null`
//! objects, `has_id`, `nested` (a filter over each object of an array), or a whole filter.
//! Keys are paths: `a.b`, `a[].b`, `a[0]`. A field holding an array matches when any element
//! does.

use std::collections::HashSet;

use serde::{Deserialize, Deserializer};
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
    /// `has_vector`: every point has the one unnamed vector; named vectors do not exist.
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

impl Filter {
    pub fn matches(&self, payload: &Payload, id: Option<ExtId>) -> bool {
        self.must.iter().all(|c| c.matches(payload, id))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(payload, id)))
            && !self.must_not.iter().any(|c| c.matches(payload, id))
            && self
                .min_should
                .as_ref()
                .is_none_or(|(conds, min)| conds.iter().filter(|c| c.matches(payload, id)).count() >= *min)
    }
}

impl Condition {
    pub fn matches(&self, payload: &Payload, id: Option<ExtId>) -> bool {
        match self {
            Condition::Field { key, check } => check.matches(payload, key),
            Condition::IsEmpty(key) => is_empty(payload, key),
            Condition::IsNull(key) => is_null(payload, key),
            Condition::HasId(ids) => id.is_some_and(|id| ids.contains(&id)),
            Condition::Nested { key, filter } => {
                let key = key.strip_suffix("[]").unwrap_or(key);
                values_at(payload, key, false).into_iter().any(|v| match v {
                    Value::Array(items) => {
                        items.iter().any(|item| item.as_object().is_some_and(|o| filter.matches(o, None)))
                    }
                    Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) | Value::Object(_) => {
                        false
                    }
                })
            }
            Condition::Filter(f) => f.matches(payload, id),
            Condition::HasVector(name) => name.is_empty(),
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
            FieldCheck::ValuesCount(r) => {
                let values = values_at(payload, key, false);
                let count: usize =
                    values.iter().map(|v| if let Value::Array(a) = v { a.len() } else { 1 }).sum();
                r.contains(count as f64)
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

/// The values at `path`. Arrays met on the way are walked into; with `flatten`, an array
/// found at the end yields its elements.
pub fn values_at<'a>(payload: &'a Payload, path: &str, flatten: bool) -> Vec<&'a Value> {
    let mut current: Vec<&Value> = Vec::new();
    for (i, segment) in path.split('.').enumerate() {
        let (name, selector) = match segment.find('[') {
            Some(at) => (&segment[..at], Some(segment[at..].trim_start_matches('[').trim_end_matches(']'))),
            None => (segment, None),
        };
        let mut next: Vec<&Value> = Vec::new();
        if i == 0 {
            next.extend(payload.get(name));
        } else {
            for v in current {
                match v {
                    Value::Object(o) => next.extend(o.get(name)),
                    Value::Array(items) => {
                        next.extend(items.iter().filter_map(|item| item.as_object()?.get(name)))
                    }
                    Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
                }
            }
        }
        current = match selector {
            None => next,
            Some("") => next.into_iter().flat_map(|v| v.as_array().into_iter().flatten()).collect(),
            Some(index) => match index.parse::<usize>() {
                Ok(n) => next.into_iter().filter_map(|v| v.as_array()?.get(n)).collect(),
                Err(_) => Vec::new(),
            },
        };
    }
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

// ---- parsing ------------------------------------------------------------------------------------

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

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let filter = parse_filter(&value, "filter").map_err(serde::de::Error::custom)?;
        let n = filter.conditions();
        if n > MAX_CONDITIONS {
            return Err(serde::de::Error::custom(format!(
                "filter: {n} conditions; the limit is {MAX_CONDITIONS}"
            )));
        }
        Ok(filter)
    }
}

fn parse_filter(v: &Value, at: &str) -> Result<Filter, String> {
    let Value::Object(o) = v else {
        return Err(format!("{at}: expected an object with must / should / must_not / min_should"));
    };
    let mut f = Filter::default();
    for (key, value) in o {
        let here = format!("{at}.{key}");
        match key.as_str() {
            "must" => f.must = parse_conditions(value, &here)?,
            "should" => f.should = parse_conditions(value, &here)?,
            "must_not" => f.must_not = parse_conditions(value, &here)?,
            "min_should" => {
                if value.is_null() {
                    continue;
                }
                let conds = parse_conditions(value.get("conditions").unwrap_or(&Value::Null), &here)?;
                let min = value
                    .get("min_count")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| format!("{here}.min_count: expected an unsigned integer"))?;
                f.min_should = Some((conds, min as usize));
            }
            other => {
                return Err(format!(
                    "{at}: unknown field `{other}` (expected must, should, must_not, min_should)"
                ))
            }
        }
    }
    Ok(f)
}

fn parse_conditions(v: &Value, at: &str) -> Result<Vec<Condition>, String> {
    match v {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => {
            items.iter().enumerate().map(|(i, c)| parse_condition(c, &format!("{at}[{i}]"))).collect()
        }
        Value::Object(_) => Ok(vec![parse_condition(v, at)?]),
        Value::Bool(_) | Value::Number(_) | Value::String(_) => {
            Err(format!("{at}: expected a condition or a list of conditions"))
        }
    }
}

fn parse_condition(v: &Value, at: &str) -> Result<Condition, String> {
    let Value::Object(o) = v else { return Err(format!("{at}: expected a condition object")) };
    if let Some(ids) = o.get("has_id") {
        let ids: Vec<ExtId> = serde_json::from_value(ids.clone()).map_err(|e| format!("{at}.has_id: {e}"))?;
        return Ok(Condition::HasId(ids.into_iter().collect()));
    }
    if let Some(name) = o.get("has_vector") {
        let name = name
            .as_str()
            .ok_or(format!("{at}.has_vector: expected a vector name (\"\" for the unnamed vector)"))?;
        return Ok(Condition::HasVector(name.to_string()));
    }
    if o.contains_key("key") {
        return parse_field_condition(o, at);
    }
    if let Some(inner) = o.get("is_empty") {
        return Ok(Condition::IsEmpty(key_of(inner, &format!("{at}.is_empty"))?));
    }
    if let Some(inner) = o.get("is_null") {
        return Ok(Condition::IsNull(key_of(inner, &format!("{at}.is_null"))?));
    }
    if let Some(inner) = o.get("nested") {
        let here = format!("{at}.nested");
        let key = key_of(inner, &here)?;
        let filter = parse_filter(inner.get("filter").unwrap_or(&Value::Null), &format!("{here}.filter"))?;
        return Ok(Condition::Nested { key, filter });
    }
    if o.keys().all(|k| matches!(k.as_str(), "must" | "should" | "must_not" | "min_should")) && !o.is_empty()
    {
        return Ok(Condition::Filter(parse_filter(v, at)?));
    }
    Err(format!(
        "{at}: unknown condition (expected a field condition with `key`, has_id, is_empty, is_null, nested or a filter)"
    ))
}

fn key_of(v: &Value, at: &str) -> Result<String, String> {
    match v.get("key") {
        Some(Value::String(k)) if !k.is_empty() => Ok(k.clone()),
        _ => Err(format!("{at}.key: expected a non-empty string")),
    }
}

fn parse_field_condition(o: &Map<String, Value>, at: &str) -> Result<Condition, String> {
    let key = key_of(&Value::Object(o.clone()), at)?;
    let mut check = None;
    for (name, value) in o {
        if value.is_null() || name == "key" {
            continue;
        }
        let here = format!("{at}.{name}");
        let parsed = match name.as_str() {
            "match" => FieldCheck::Match(parse_match(value, &here)?),
            "range" => FieldCheck::Range(parse_range(value, &here)?),
            "values_count" => FieldCheck::ValuesCount(parse_range(value, &here)?),
            "is_empty" => FieldCheck::IsEmpty(value.as_bool().ok_or(format!("{here}: expected a bool"))?),
            "is_null" => FieldCheck::IsNull(value.as_bool().ok_or(format!("{here}: expected a bool"))?),
            other => return Err(format!("{at}: unsupported field condition `{other}`")),
        };
        if check.replace(parsed).is_some() {
            return Err(format!(
                "{at}: a field condition takes exactly one of match, range, values_count, is_empty, is_null"
            ));
        }
    }
    let check = check.ok_or(format!(
        "{at}: field condition on `{key}` has no match, range, values_count, is_empty or is_null"
    ))?;
    Ok(Condition::Field { key, check })
}

fn parse_scalar(v: &Value, at: &str) -> Result<Scalar, String> {
    match v {
        Value::String(s) => Ok(Scalar::Keyword(s.clone())),
        Value::Bool(b) => Ok(Scalar::Bool(*b)),
        Value::Number(n) => n
            .as_i64()
            .map(Scalar::Integer)
            .ok_or(format!("{at}: {n} is not an integer; match takes keywords, integers or bools")),
        Value::Null | Value::Array(_) | Value::Object(_) => {
            Err(format!("{at}: expected a string, integer or bool"))
        }
    }
}

fn parse_scalars(v: &Value, at: &str) -> Result<Vec<Scalar>, String> {
    let items = v.as_array().ok_or(format!("{at}: expected a list"))?;
    items.iter().enumerate().map(|(i, x)| parse_scalar(x, &format!("{at}[{i}]"))).collect()
}

fn parse_match(v: &Value, at: &str) -> Result<Match, String> {
    let Value::Object(o) = v else { return Err(format!("{at}: expected an object")) };
    let mut found = o.iter().filter(|(_, v)| !v.is_null());
    let (Some((kind, value)), None) = (found.next(), found.next()) else {
        return Err(format!("{at}: expected exactly one of value, any, except, text"));
    };
    let here = format!("{at}.{kind}");
    match kind.as_str() {
        "value" => Ok(Match::Value(parse_scalar(value, &here)?)),
        "any" => Ok(Match::Any(parse_scalars(value, &here)?)),
        "except" => Ok(Match::Except(parse_scalars(value, &here)?)),
        "text" => Ok(Match::Text(value.as_str().ok_or(format!("{here}: expected a string"))?.to_string())),
        other => Err(format!("{at}: unsupported match `{other}` (expected value, any, except, text)")),
    }
}

fn parse_range(v: &Value, at: &str) -> Result<Range, String> {
    let Value::Object(o) = v else { return Err(format!("{at}: expected an object with gt/gte/lt/lte")) };
    let mut r = Range::default();
    for (name, value) in o {
        if value.is_null() {
            continue;
        }
        let x = value.as_f64().ok_or(format!("{at}.{name}: expected a number"))?;
        match name.as_str() {
            "gt" => r.gt = Some(x),
            "gte" => r.gte = Some(x),
            "lt" => r.lt = Some(x),
            "lte" => r.lte = Some(x),
            other => return Err(format!("{at}: unknown bound `{other}` (expected gt, gte, lt, lte)")),
        }
    }
    Ok(r)
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
            assert_eq!(f(filter.clone()).matches(&doc, None), want, "{filter}");
        }
    }

    #[test]
    fn has_id_and_nested() {
        let doc = p(json!({"items": [{"c": "red", "n": 1}, {"c": "blue", "n": 2}]}));
        let nested = f(json!({"must": [{"nested": {"key": "items", "filter": {"must": [
            {"key": "c", "match": {"value": "red"}}, {"key": "n", "match": {"value": 1}}]}}}]}));
        assert!(nested.matches(&doc, None));
        let crossed = f(json!({"must": [{"nested": {"key": "items[]", "filter": {"must": [
            {"key": "c", "match": {"value": "red"}}, {"key": "n", "match": {"value": 2}}]}}}]}));
        assert!(!crossed.matches(&doc, None));
        let ids = f(json!({"must": [{"has_id": [1, "550e8400-e29b-41d4-a716-446655440000"]}]}));
        assert!(ids.matches(&doc, Some(ExtId::Num(1))));
        assert!(!ids.matches(&doc, Some(ExtId::Num(2))));
    }

    #[test]
    fn errors_name_the_part() {
        let cases = [
            (json!({"must": [{"key": "g", "match": {"value": 1.5}}]}), "filter.must[0].match.value"),
            (json!({"must": [{"key": "g"}]}), "filter.must[0]"),
            (json!({"must": [{"key": "g", "range": {"gt": "x"}}]}), "filter.must[0].range.gt"),
            (json!({"musts": []}), "musts"),
            (json!({"must": [{"foo": 1}]}), "unknown condition"),
            (json!({"must": [{"has_id": [-1]}]}), "negative"),
        ];
        for (v, needle) in cases {
            let err = serde_json::from_value::<Filter>(v.clone()).unwrap_err().to_string();
            assert!(err.contains(needle), "{v}: {err}");
        }
    }
}
