//! The wire form of Qdrant's filter language: parsed with errors that name the offending part,
//! and written back canonically (conditions in their order, `has_id` sorted) for the result
//! cache's keys.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::collection::filter::{Condition, FieldCheck, Match, Range, Scalar, MAX_CONDITIONS};
use crate::collection::{json_path, Filter};
use crate::id::ExtId;

/// The name error messages give the filter being parsed.
const ROOT: &str = "filter";

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let filter = parse_filter(&value, ROOT).map_err(serde::de::Error::custom)?;
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
        Some(Value::String(k)) if !k.is_empty() => {
            json_path::parse(k).map_err(|e| format!("{at}.key: {e}"))?;
            Ok(k.clone())
        }
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
    // Qdrant's rule, reported where its validator reports it.
    let relative = at.strip_prefix(ROOT).unwrap_or(at);
    let check = check.ok_or_else(|| {
        super::extract::rule(
            &format!("{relative}.__all__"),
            "Validation error: At least one field condition must be specified [{}]",
        )
    })?;
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

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        filter_json(self).serialize(s)
    }
}

fn filter_json(f: &Filter) -> Value {
    let mut o = Map::new();
    for (name, conditions) in [("must", &f.must), ("should", &f.should), ("must_not", &f.must_not)] {
        if !conditions.is_empty() {
            o.insert(name.into(), conditions_json(conditions));
        }
    }
    if let Some((conditions, min)) = &f.min_should {
        o.insert("min_should".into(), json!({"conditions": conditions_json(conditions), "min_count": min}));
    }
    Value::Object(o)
}

fn conditions_json(conditions: &[Condition]) -> Value {
    Value::Array(conditions.iter().map(condition_json).collect())
}

fn condition_json(c: &Condition) -> Value {
    match c {
        Condition::Field { key, check } => {
            let (name, value) = match check {
                FieldCheck::Match(m) => ("match", match_json(m)),
                FieldCheck::Range(r) => ("range", range_json(r)),
                FieldCheck::ValuesCount(r) => ("values_count", range_json(r)),
                FieldCheck::IsEmpty(b) => ("is_empty", json!(b)),
                FieldCheck::IsNull(b) => ("is_null", json!(b)),
            };
            json!({"key": key, name: value})
        }
        Condition::IsEmpty(key) => json!({"is_empty": {"key": key}}),
        Condition::IsNull(key) => json!({"is_null": {"key": key}}),
        Condition::HasId(ids) => {
            let mut ids: Vec<&ExtId> = ids.iter().collect();
            ids.sort_unstable_by_key(|id| id.to_string());
            json!({"has_id": ids})
        }
        Condition::Nested { key, filter } => json!({"nested": {"key": key, "filter": filter_json(filter)}}),
        Condition::Filter(filter) => filter_json(filter),
        Condition::HasVector(name) => json!({"has_vector": name}),
    }
}

fn scalar_json(s: &Scalar) -> Value {
    match s {
        Scalar::Keyword(k) => json!(k),
        Scalar::Integer(i) => json!(i),
        Scalar::Bool(b) => json!(b),
    }
}

fn match_json(m: &Match) -> Value {
    let list = |items: &[Scalar]| Value::Array(items.iter().map(scalar_json).collect());
    match m {
        Match::Value(v) => json!({"value": scalar_json(v)}),
        Match::Any(items) => json!({"any": list(items)}),
        Match::Except(items) => json!({"except": list(items)}),
        Match::Text(text) => json!({"text": text}),
    }
}

fn range_json(r: &Range) -> Value {
    let mut o = Map::new();
    for (name, bound) in [("gt", r.gt), ("gte", r.gte), ("lt", r.lt), ("lte", r.lte)] {
        if let Some(x) = bound {
            o.insert(name.into(), json!(x));
        }
    }
    Value::Object(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: Value) -> Filter {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn errors_name_the_part() {
        let cases = [
            (json!({"must": [{"key": "g", "match": {"value": 1.5}}]}), "filter.must[0].match.value"),
            (json!({"must": [{"key": "g"}]}), ".must[0].__all__"),
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

    #[test]
    fn the_written_form_parses_back_to_the_same_filter() {
        let filters = [
            json!({"must": [{"key": "g", "match": {"value": "a"}}, {"key": "n", "range": {"gte": 5, "lt": 6.5}}]}),
            json!({"should": [{"key": "t", "match": {"any": ["x", 2, true]}}, {"key": "t", "match": {"except": [1]}}]}),
            json!({"must_not": [{"is_empty": {"key": "e"}}, {"is_null": {"key": "z"}}, {"key": "c", "values_count": {"gt": 1}}]}),
            json!({"must": [{"has_id": [3, "550e8400-e29b-41d4-a716-446655440000", 1]}, {"has_vector": ""}]}),
            json!({"must": [{"nested": {"key": "items[]", "filter": {"must": [{"key": "c", "match": {"text": "red car"}}]}}}]}),
            json!({"min_should": {"conditions": [{"key": "a", "is_empty": false}, {"key": "b", "is_null": true}], "min_count": 1}}),
            json!({"must": [{"must_not": [{"key": "n", "match": {"value": 4}}]}]}),
            json!({}),
        ];
        for v in filters {
            let parsed = f(v.clone());
            let written = serde_json::to_value(&parsed).unwrap();
            assert_eq!(f(written.clone()), parsed, "{v} was written as {written}");
        }
    }

    #[test]
    fn the_written_form_is_canonical() {
        let a = f(json!({"must": [{"key": "n", "range": {"lt": 3, "gt": 1}}, {"has_id": [2, 1]}]}));
        let b = f(json!({"must": [{"range": {"gt": 1.0, "lt": 3.0}, "key": "n"}, {"has_id": [1, 2]}]}));
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
    }
}
