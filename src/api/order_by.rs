//! `order_by` as scroll and `points/query` take it: a key (a JSON path), or
//! `{"key", "direction", "start_from"}`.

use serde_json::Value;

use super::ApiError;
use crate::collection::{json_path, Direction, OrderBy, StartFrom};

/// The OpenAPI shape of `order_by`.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum OrderByInput {
    /// The key alone: ascending, from the lowest value.
    Key(String),
    Full(OrderBySpec),
}

/// `order_by` in full. The key needs an integer or float payload index.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct OrderBySpec {
    pub key: String,
    /// `asc` (default) or `desc`; ties are ordered by point id the same way.
    #[schema(value_type = Option<String>, pattern = "^(asc|desc)$")]
    pub direction: Option<String>,
    /// The first value (inclusive): values from it on, in the direction asked.
    #[schema(value_type = Option<f64>)]
    pub start_from: Option<Value>,
}

/// `{"order_by": …}` as a `points/query` query.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct OrderByQuery {
    pub order_by: OrderByInput,
}

const SHAPE: &str = "Expected a string, or an object with a key, direction and/or start_from";

/// Parses `order_by` at `at` (named in messages).
pub fn parse(v: &Value, at: &str) -> Result<OrderBy, ApiError> {
    let bad = |m: String| ApiError::bad(format!("Format error in JSON body: {at}: {m}"));
    let key = |k: &str| -> Result<String, ApiError> {
        json_path::parse(k).map_err(&bad)?;
        Ok(k.to_string())
    };
    match v {
        Value::String(k) => Ok(OrderBy { key: key(k)?, direction: Direction::Asc, start_from: None }),
        Value::Object(o) => {
            let k = match o.get("key") {
                Some(Value::String(k)) => key(k)?,
                Some(other) => return Err(bad(format!("key: expected a string, got {other}. {SHAPE}"))),
                None => return Err(bad(format!("missing field `key`. {SHAPE}"))),
            };
            let direction = match o.get("direction") {
                None | Some(Value::Null) => Direction::Asc,
                Some(Value::String(d)) if d == "asc" => Direction::Asc,
                Some(Value::String(d)) if d == "desc" => Direction::Desc,
                Some(Value::String(d)) => {
                    return Err(bad(format!("direction: unknown variant `{d}`, expected `asc` or `desc`")))
                }
                Some(other) => return Err(bad(format!("direction: expected `asc` or `desc`, got {other}"))),
            };
            let start_from = match o.get("start_from") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => Some(match n.as_i64() {
                    Some(i) => StartFrom::Int(i),
                    None => StartFrom::Float(n.as_f64().unwrap_or(f64::INFINITY)),
                }),
                Some(Value::String(s)) => Some(StartFrom::Datetime(s.clone())),
                Some(other) => {
                    return Err(bad(format!(
                        "start_from: expected an integer, a float or a datetime string, got {other}"
                    )))
                }
            };
            Ok(OrderBy { key: k, direction, start_from })
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => Err(bad(SHAPE.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let full = parse(&json!({"key": "a.b", "direction": "desc", "start_from": 5}), "order_by").unwrap();
        assert_eq!(
            full,
            OrderBy { key: "a.b".into(), direction: Direction::Desc, start_from: Some(StartFrom::Int(5)) }
        );
        assert_eq!(parse(&json!("n"), "order_by").unwrap().direction, Direction::Asc);
        let f = parse(&json!({"key": "n", "start_from": 2.5}), "order_by").unwrap();
        assert_eq!(f.start_from, Some(StartFrom::Float(2.5)));
        for (bad, needle) in [
            (json!({"key": "n", "direction": "DESC"}), "unknown variant `DESC`"),
            (json!({"direction": "asc"}), "missing field `key`"),
            (json!(3), "Expected a string, or an object"),
            (json!("a..b"), "Invalid json path"),
            (json!({"key": "n", "start_from": [1]}), "start_from"),
        ] {
            let e = parse(&bad, "order_by").unwrap_err();
            assert!(e.message.contains(needle), "{bad}: {}", e.message);
        }
    }
}
