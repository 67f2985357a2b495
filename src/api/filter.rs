//! The wire form of Qdrant's filter language: parsed with errors that name the offending part,
//! and written back canonically (conditions in their order, `has_id` sorted) for the result
//! cache's keys.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Map, Value};

use crate::collection::filter::geo::{check_ring, MAX_POLYGON_INTERIORS, MAX_POLYGON_POINTS};
use crate::collection::filter::text::MAX_QUERY_BYTES;
use crate::collection::filter::{
    parse_datetime, Condition, DatetimeRange, FieldCheck, GeoCondition, GeoPoint, Match, Range, Scalar,
    TextKind, TextMatch, MAX_CONDITIONS, POLYGON_POINTS_PER_CONDITION,
};
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
                "filter: {n} conditions (a polygon counts one more per {POLYGON_POINTS_PER_CONDITION} points); the limit is {MAX_CONDITIONS}"
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

pub(super) fn parse_condition(v: &Value, at: &str) -> Result<Condition, String> {
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
            "range" => parse_any_range(value, &here)?,
            "values_count" => FieldCheck::ValuesCount(parse_range(value, &here)?),
            "geo_radius" => FieldCheck::Geo(parse_geo_radius(value, &here)?),
            "geo_bounding_box" => FieldCheck::Geo(parse_geo_box(value, &here)?),
            "geo_polygon" => FieldCheck::Geo(parse_geo_polygon(value, &here)?),
            "is_empty" => FieldCheck::IsEmpty(value.as_bool().ok_or(format!("{here}: expected a bool"))?),
            "is_null" => FieldCheck::IsNull(value.as_bool().ok_or(format!("{here}: expected a bool"))?),
            other => return Err(format!("{at}: unsupported field condition `{other}`")),
        };
        if check.replace(parsed).is_some() {
            return Err(format!(
                "{at}: a field condition takes exactly one of match, range, values_count, is_empty, is_null, geo_radius, geo_bounding_box, geo_polygon"
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
        return Err(format!("{at}: expected exactly one of value, any, except, text, text_any, phrase"));
    };
    let here = format!("{at}.{kind}");
    let text = |kind: TextKind| -> Result<Match, String> {
        let q = value.as_str().ok_or(format!("{here}: expected a string"))?;
        if q.len() > MAX_QUERY_BYTES {
            return Err(format!("{here}: {} bytes; the limit is {MAX_QUERY_BYTES}", q.len()));
        }
        Ok(Match::Text(TextMatch::new(kind, q.to_string())))
    };
    match kind.as_str() {
        "value" => Ok(Match::Value(parse_scalar(value, &here)?)),
        "any" => Ok(Match::Any(parse_scalars(value, &here)?)),
        "except" => Ok(Match::Except(parse_scalars(value, &here)?)),
        "text" => text(TextKind::All),
        "text_any" => text(TextKind::Any),
        "phrase" => text(TextKind::Phrase),
        other => Err(format!(
            "{at}: unsupported match `{other}` (expected value, any, except, text, text_any, phrase)"
        )),
    }
}

/// `range`: numeric bounds make a number range, string bounds a datetime range (Qdrant's
/// untagged `RangeInterface`); a mix is refused.
fn parse_any_range(v: &Value, at: &str) -> Result<FieldCheck, String> {
    let Value::Object(o) = v else { return Err(format!("{at}: expected an object with gt/gte/lt/lte")) };
    if !o.values().any(Value::is_string) {
        return Ok(FieldCheck::Range(parse_range(v, at)?));
    }
    let mut r = DatetimeRange::default();
    for (name, value) in o {
        if value.is_null() {
            continue;
        }
        let Value::String(text) = value else {
            return Err(format!(
                "{at}.{name}: data did not match any variant of untagged enum RangeInterface (bounds are all numbers or all datetime strings)"
            ));
        };
        let t = parse_datetime(text).ok_or_else(|| {
            format!("{at}.{name}: '{text}' is not in a supported date/time format, please use RFC 3339")
        })?;
        match name.as_str() {
            "gt" => r.gt = Some(t),
            "gte" => r.gte = Some(t),
            "lt" => r.lt = Some(t),
            "lte" => r.lte = Some(t),
            other => return Err(format!("{at}: unknown bound `{other}` (expected gt, gte, lt, lte)")),
        }
    }
    Ok(FieldCheck::DatetimeRange(r))
}

fn parse_geo_point(v: &Value, at: &str) -> Result<GeoPoint, String> {
    let coord =
        |name: &str| v.get(name).and_then(Value::as_f64).ok_or(format!("{at}.{name}: expected a number"));
    if !v.is_object() {
        return Err(format!("{at}: expected an object with lon and lat"));
    }
    GeoPoint::new(coord("lon")?, coord("lat")?).map_err(|e| format!("{at}: {e}"))
}

fn only_fields(v: &Value, at: &str, allowed: &[&str]) -> Result<(), String> {
    let Value::Object(o) = v else { return Err(format!("{at}: expected an object")) };
    match o.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(format!("{at}: unknown field `{k}` (expected {})", allowed.join(", "))),
        None => Ok(()),
    }
}

fn parse_geo_radius(v: &Value, at: &str) -> Result<GeoCondition, String> {
    only_fields(v, at, &["center", "radius"])?;
    let center = parse_geo_point(v.get("center").unwrap_or(&Value::Null), &format!("{at}.center"))?;
    let radius =
        v.get("radius").and_then(Value::as_f64).ok_or(format!("{at}.radius: expected a number (meters)"))?;
    Ok(GeoCondition::Radius { center, radius })
}

fn parse_geo_box(v: &Value, at: &str) -> Result<GeoCondition, String> {
    only_fields(v, at, &["top_left", "bottom_right"])?;
    let top_left = parse_geo_point(v.get("top_left").unwrap_or(&Value::Null), &format!("{at}.top_left"))?;
    let bottom_right =
        parse_geo_point(v.get("bottom_right").unwrap_or(&Value::Null), &format!("{at}.bottom_right"))?;
    Ok(GeoCondition::BoundingBox { top_left, bottom_right })
}

fn parse_geo_polygon(v: &Value, at: &str) -> Result<GeoCondition, String> {
    only_fields(v, at, &["exterior", "interiors"])?;
    let mut total = 0usize;
    let mut ring = |v: &Value, at: &str| -> Result<Vec<GeoPoint>, String> {
        only_fields(v, at, &["points"])?;
        let items =
            v.get("points").and_then(Value::as_array).ok_or(format!("{at}.points: expected a list"))?;
        total += items.len();
        if total > MAX_POLYGON_POINTS {
            return Err(format!("{at}: more than {MAX_POLYGON_POINTS} points in one polygon"));
        }
        let points = items
            .iter()
            .enumerate()
            .map(|(i, p)| parse_geo_point(p, &format!("{at}.points[{i}]")))
            .collect::<Result<Vec<_>, _>>()?;
        check_ring(&points).map_err(|e| format!("{at}: {e}"))?;
        Ok(points)
    };
    let exterior = ring(v.get("exterior").unwrap_or(&Value::Null), &format!("{at}.exterior"))?;
    let interiors = match v.get("interiors") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(list)) => {
            if list.len() > MAX_POLYGON_INTERIORS {
                return Err(format!(
                    "{at}.interiors: {} rings; the limit is {MAX_POLYGON_INTERIORS}",
                    list.len()
                ));
            }
            list.iter()
                .enumerate()
                .map(|(i, r)| ring(r, &format!("{at}.interiors[{i}]")))
                .collect::<Result<Vec<_>, _>>()?
        }
        Some(_) => return Err(format!("{at}.interiors: expected a list of rings")),
    };
    Ok(GeoCondition::polygon(exterior, interiors))
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
                FieldCheck::DatetimeRange(r) => ("range", datetime_range_json(r)),
                FieldCheck::Geo(g) => geo_json(g),
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
        Match::Text(t) => {
            let name = match t.kind {
                TextKind::All => "text",
                TextKind::Any => "text_any",
                TextKind::Phrase => "phrase",
            };
            json!({name: t.query})
        }
        Match::Uuid(u) => match_json(&u.given),
    }
}

/// A datetime range with its bounds written in RFC 3339 (UTC, microseconds), which parse back
/// to the same instants (and which number bounds never look like).
fn datetime_range_json(r: &DatetimeRange) -> Value {
    let mut o = Map::new();
    for (name, bound) in [("gt", r.gt), ("gte", r.gte), ("lt", r.lt), ("lte", r.lte)] {
        if let Some(t) = bound {
            o.insert(name.into(), json!(rfc3339(t)));
        }
    }
    Value::Object(o)
}

pub(super) fn rfc3339(micros: i64) -> String {
    let (days, rest) = (micros.div_euclid(86_400_000_000), micros.rem_euclid(86_400_000_000));
    // Civil date from days since the epoch.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let secs = rest / 1_000_000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        rest % 1_000_000
    )
}

fn point_json(p: &GeoPoint) -> Value {
    json!({"lon": p.lon, "lat": p.lat})
}

fn geo_json(g: &GeoCondition) -> (&'static str, Value) {
    let ring = |r: &[GeoPoint]| json!({"points": r.iter().map(point_json).collect::<Vec<_>>()});
    match g {
        GeoCondition::Radius { center, radius } => {
            ("geo_radius", json!({"center": point_json(center), "radius": radius}))
        }
        GeoCondition::BoundingBox { top_left, bottom_right } => (
            "geo_bounding_box",
            json!({"top_left": point_json(top_left), "bottom_right": point_json(bottom_right)}),
        ),
        GeoCondition::Polygon { exterior, interiors, .. } => (
            "geo_polygon",
            json!({"exterior": ring(exterior), "interiors": interiors.iter().map(|r| ring(r)).collect::<Vec<_>>()}),
        ),
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
            (
                json!({"must": [{"key": "d", "range": {"gte": "2024-01-01", "lt": 5}}]}),
                "filter.must[0].range.lt: data did not match any variant of untagged enum RangeInterface",
            ),
            (
                json!({"must": [{"key": "d", "range": {"gte": "yesterday"}}]}),
                "'yesterday' is not in a supported date/time format, please use RFC 3339",
            ),
            (
                json!({"must": [{"key": "l", "geo_radius": {"center": {"lon": 10, "lat": 91}, "radius": 5}}]}),
                "filter.must[0].geo_radius.center: Wrong format of GeoPoint payload: expected `lat` = 91 within [-90;90] and `lon` = 10 within [-180;180]",
            ),
            (
                json!({"must": [{"key": "l", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 0, "lat": 0}]}}}]}),
                "Validation failed: polygon invalid, the size must be at least 4, got 3",
            ),
            (
                json!({"must": [{"key": "l", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 1}]}}}]}),
                "the first and the last points should be the same to form a closed line",
            ),
            (json!({"must": [{"key": "l", "geo_radius": {"center": {"lon": 0, "lat": 0}}}]}), "geo_radius.radius"),
            (json!({"must": [{"key": "l", "geo_bounding_box": {"top_left": {"lon": 0, "lat": 0}, "bottom": 1}}]}), "unknown field `bottom`"),
            (json!({"must": [{"key": "t", "match": {"phrase": 5}}]}), "filter.must[0].match.phrase: expected a string"),
            (json!({"must": [{"key": "t", "match": {"text_any": "x".repeat(5000)}}]}), "the limit is 4096"),
            (json!({"must": [{"key": "t", "match": {"prefix": "x"}}]}), "unsupported match `prefix`"),
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
            json!({"must": [{"key": "t", "match": {"text_any": "a b"}}, {"key": "t", "match": {"phrase": "a b"}}]}),
            json!({"must": [{"key": "d", "range": {"gte": "2024-01-01T01:00:00+02:00", "lt": "2024-02-01 10:00:00.123456"}}]}),
            json!({"should": [
                {"key": "l", "geo_radius": {"center": {"lon": 13.4, "lat": 52.5}, "radius": 1000.5}},
                {"key": "l", "geo_bounding_box": {"top_left": {"lon": 170, "lat": 10}, "bottom_right": {"lon": -170, "lat": -10}}},
                {"key": "l", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}, {"lon": 1, "lat": 0}, {"lon": 1, "lat": 1}, {"lon": 0, "lat": 0}]},
                    "interiors": [{"points": [{"lon": 0.1, "lat": 0.1}, {"lon": 0.2, "lat": 0.1}, {"lon": 0.2, "lat": 0.2}, {"lon": 0.1, "lat": 0.1}]}]}}]}),
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
        // The same instants in other forms write the same; other conditions never share a text.
        let a = f(json!({"must": [{"key": "d", "range": {"gte": "2024-01-01T02:00:00+02:00"}}]}));
        let b = f(json!({"must": [{"key": "d", "range": {"gte": "2024-01-01"}}]}));
        assert_eq!(serde_json::to_string(&a).unwrap(), serde_json::to_string(&b).unwrap());
        let distinct = [
            json!({"must": [{"key": "t", "match": {"text": "a b"}}]}),
            json!({"must": [{"key": "t", "match": {"text_any": "a b"}}]}),
            json!({"must": [{"key": "t", "match": {"phrase": "a b"}}]}),
            json!({"must": [{"key": "t", "match": {"value": "a b"}}]}),
            json!({"must": [{"key": "d", "range": {"gte": "1970-01-01T00:00:01Z"}}]}),
            json!({"must": [{"key": "d", "range": {"gte": 1}}]}),
            json!({"must": [{"key": "d", "range": {"gte": 1000000}}]}),
            json!({"must": [{"key": "l", "geo_radius": {"center": {"lon": 1, "lat": 2}, "radius": 3}}]}),
            json!({"must": [{"key": "l", "geo_radius": {"center": {"lon": 2, "lat": 1}, "radius": 3}}]}),
            json!({"must": [{"key": "l", "geo_bounding_box": {"top_left": {"lon": 1, "lat": 2}, "bottom_right": {"lon": 3, "lat": 1}}}]}),
        ];
        let texts: std::collections::HashSet<String> =
            distinct.iter().map(|v| serde_json::to_string(&f(v.clone())).unwrap()).collect();
        assert_eq!(texts.len(), distinct.len());
    }

    #[test]
    fn datetimes_are_written_in_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(1_704_067_200_000_000 + 1), "2024-01-01T00:00:00.000001Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(rfc3339(951_825_600_000_000), "2000-02-29T12:00:00.000000Z");
    }
}
