//! The wire form of formula queries: `{"formula": <expression>, "defaults": {…}}`, where an
//! expression is a number, a variable (`"$score"`, `"$score[i]"`, a payload path), a filter
//! condition (1 or 0), or one of Qdrant's operators (`mult`, `sum`, `neg`, `abs`, `sqrt`, `exp`,
//! `log10`, `ln`, `div`, `pow`, `lin_decay` / `exp_decay` / `gauss_decay`, `geo_distance`,
//! `datetime`, `datetime_key`).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::ApiError;
use crate::collection::filter::GeoPoint;
use crate::collection::formula::{check_decay, DecayKind, Expr, Formula, Variable};

/// Deepest nesting of operators, and most nodes in one formula: each is evaluated per point.
pub const MAX_DEPTH: usize = 64;
pub const MAX_NODES: usize = 1_024;

struct Reader {
    nodes: usize,
}

fn bad(m: impl Into<String>) -> ApiError {
    ApiError::bad(m)
}

/// `{"formula": …, "defaults": …}` as given under `query`.
pub(super) fn parse(o: &Map<String, Value>, at: &str) -> Result<Formula, ApiError> {
    if let Some(k) = o.keys().find(|k| *k != "formula" && *k != "defaults") {
        return Err(bad(format!("{at}: unknown field `{k}` (expected formula, defaults)")));
    }
    let mut r = Reader { nodes: 0 };
    let expr = r.expr(o.get("formula").unwrap_or(&Value::Null), &format!("{at}.formula"), 0)?;
    let defaults: HashMap<String, Value> = match o.get("defaults") {
        None | Some(Value::Null) => HashMap::new(),
        Some(Value::Object(d)) => d.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        Some(other) => return Err(bad(format!("{at}.defaults: expected an object, got {other}"))),
    };
    for key in defaults.keys() {
        variable(key)?;
    }
    Ok(Formula { expr, defaults })
}

/// A variable's name: `$score`, `$score[i]` or a payload path.
fn variable(s: &str) -> Result<Variable, ApiError> {
    if let Some(rest) = s.strip_prefix('$') {
        if rest == "score" {
            return Ok(Variable::Score(0));
        }
        if let Some(index) = rest.strip_prefix("score") {
            let i = index
                .strip_prefix('[')
                .and_then(|x| x.strip_suffix(']'))
                .and_then(|x| x.parse::<usize>().ok())
                .ok_or_else(|| bad(format!("Wrong input: Invalid reserved variable: {s}")))?;
            return Ok(Variable::Score(i));
        }
        return Err(bad(format!("Wrong input: Invalid reserved word: {s}")));
    }
    crate::collection::json_path::parse(s)
        .map_err(|_| bad(format!("Wrong input: Invalid payload variable: {s}")))?;
    Ok(Variable::Payload(s.to_string()))
}

/// A number given as f32 (Qdrant reads formula numbers as f32), widened.
fn number(v: &Value, at: &str) -> Result<f64, ApiError> {
    let x = v.as_f64().ok_or_else(|| bad(format!("{at}: expected a number, got {v}")))?;
    let narrow = x as f32;
    if !narrow.is_finite() {
        return Err(bad(format!("{at}: {v} does not fit in f32")));
    }
    Ok(f64::from(narrow))
}

impl Reader {
    fn expr(&mut self, v: &Value, at: &str, depth: usize) -> Result<Expr, ApiError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES || depth > MAX_DEPTH {
            return Err(bad(format!(
                "{at}: a formula may hold at most {MAX_NODES} expressions, nested at most {MAX_DEPTH} deep"
            )));
        }
        let o = match v {
            Value::Number(_) => return Ok(Expr::Const(number(v, at)?)),
            Value::String(s) => return Ok(Expr::Var(variable(s)?)),
            Value::Object(o) => o,
            Value::Null | Value::Bool(_) | Value::Array(_) => {
                return Err(bad(format!(
                    "{at}: expected a number, a variable, a condition or an operator, got {v}"
                )))
            }
        };
        let single = match (o.len(), o.iter().next()) {
            (1, Some((k, inner))) => Some((k.as_str(), inner)),
            _ => None,
        };
        let one = |r: &mut Reader, inner: &Value, name: &str| {
            r.expr(inner, &format!("{at}.{name}"), depth + 1).map(Box::new)
        };
        let list = |r: &mut Reader, inner: &Value, name: &str| -> Result<Vec<Expr>, ApiError> {
            let Value::Array(items) = inner else {
                return Err(bad(format!("{at}.{name}: expected a list of expressions")));
            };
            items
                .iter()
                .enumerate()
                .map(|(i, x)| r.expr(x, &format!("{at}.{name}[{i}]"), depth + 1))
                .collect()
        };
        Ok(match single {
            Some(("mult", inner)) => Expr::Mult(list(self, inner, "mult")?),
            Some(("sum", inner)) => Expr::Sum(list(self, inner, "sum")?),
            Some(("neg", inner)) => Expr::Neg(one(self, inner, "neg")?),
            Some(("abs", inner)) => Expr::Abs(one(self, inner, "abs")?),
            Some(("sqrt", inner)) => Expr::Sqrt(one(self, inner, "sqrt")?),
            Some(("exp", inner)) => Expr::Exp(one(self, inner, "exp")?),
            Some(("log10", inner)) => Expr::Log10(one(self, inner, "log10")?),
            Some(("ln", inner)) => Expr::Ln(one(self, inner, "ln")?),
            Some(("div", inner)) => {
                let at = format!("{at}.div");
                let f = fields(inner, &at, &["left", "right", "by_zero_default"])?;
                let by_zero_default = match f.get("by_zero_default") {
                    None | Some(Value::Null) => None,
                    Some(d) => Some(number(d, &format!("{at}.by_zero_default"))?),
                };
                Expr::Div {
                    left: Box::new(self.expr(required(f, "left", &at)?, &format!("{at}.left"), depth + 1)?),
                    right: Box::new(self.expr(
                        required(f, "right", &at)?,
                        &format!("{at}.right"),
                        depth + 1,
                    )?),
                    by_zero_default,
                }
            }
            Some(("pow", inner)) => {
                let at = format!("{at}.pow");
                let f = fields(inner, &at, &["base", "exponent"])?;
                Expr::Pow {
                    base: Box::new(self.expr(required(f, "base", &at)?, &format!("{at}.base"), depth + 1)?),
                    exponent: Box::new(self.expr(
                        required(f, "exponent", &at)?,
                        &format!("{at}.exponent"),
                        depth + 1,
                    )?),
                }
            }
            Some((name @ ("lin_decay" | "exp_decay" | "gauss_decay"), inner)) => {
                let kind = match name {
                    "lin_decay" => DecayKind::Lin,
                    "exp_decay" => DecayKind::Exp,
                    _ => DecayKind::Gauss,
                };
                let at = format!("{at}.{name}");
                let f = fields(inner, &at, &["x", "target", "scale", "midpoint"])?;
                let param = |key: &str, default: f32| -> Result<f32, ApiError> {
                    match f.get(key) {
                        None | Some(Value::Null) => Ok(default),
                        Some(v) => Ok(number(v, &format!("{at}.{key}"))? as f32),
                    }
                };
                let (scale, midpoint) = (param("scale", 1.0)?, param("midpoint", 0.5)?);
                check_decay(kind, scale, midpoint)?;
                let target = match f.get("target") {
                    None | Some(Value::Null) => None,
                    Some(t) => Some(Box::new(self.expr(t, &format!("{at}.target"), depth + 1)?)),
                };
                Expr::Decay {
                    kind,
                    x: Box::new(self.expr(required(f, "x", &at)?, &format!("{at}.x"), depth + 1)?),
                    target,
                    scale: f64::from(scale),
                    midpoint: f64::from(midpoint),
                }
            }
            Some(("geo_distance", inner)) => {
                let at = format!("{at}.geo_distance");
                let f = fields(inner, &at, &["origin", "to"])?;
                let origin = required(f, "origin", &at)?;
                let (lat, lon) =
                    (origin.get("lat").and_then(Value::as_f64), origin.get("lon").and_then(Value::as_f64));
                let (Some(lat), Some(lon)) = (lat, lon) else {
                    return Err(bad(format!("{at}.origin: expected {{\"lat\": …, \"lon\": …}}")));
                };
                let origin = GeoPoint::new(lon, lat).map_err(|e| bad(format!("{at}.origin: {e}")))?;
                let to = required(f, "to", &at)?
                    .as_str()
                    .ok_or_else(|| bad(format!("{at}.to: expected a payload key")))?;
                variable(to)?;
                Expr::GeoDistance { origin, to: to.to_string() }
            }
            Some(("datetime", inner)) => {
                let s = inner
                    .as_str()
                    .ok_or_else(|| bad(format!("{at}.datetime: expected a datetime string")))?;
                let micros = crate::collection::filter::parse_datetime(s).ok_or_else(|| {
                    bad(format!("Wrong input: {at}.datetime: `{s}` is not an RFC 3339 datetime"))
                })?;
                Expr::Const(micros as f64 / 1e6)
            }
            Some(("datetime_key", inner)) => {
                let key = inner
                    .as_str()
                    .ok_or_else(|| bad(format!("{at}.datetime_key: expected a payload key")))?;
                variable(key)?;
                Expr::DatetimeKey(key.to_string())
            }
            Some(_) | None => {
                let condition = super::filter::parse_condition(v, at)
                    .map_err(|e| super::extract::parse_error("", &e, ""))?;
                Expr::Condition(Box::new(condition))
            }
        })
    }
}

fn fields<'a>(v: &'a Value, at: &str, allowed: &[&str]) -> Result<&'a Map<String, Value>, ApiError> {
    let Value::Object(o) = v else { return Err(bad(format!("{at}: expected an object"))) };
    if let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(bad(format!("{at}: unknown field `{k}` (expected {})", allowed.join(", "))));
    }
    Ok(o)
}

fn required<'a>(o: &'a Map<String, Value>, key: &str, at: &str) -> Result<&'a Value, ApiError> {
    o.get(key).filter(|v| !v.is_null()).ok_or_else(|| bad(format!("{at}: missing field `{key}`")))
}
