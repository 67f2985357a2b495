//! Formula queries (Qdrant's score boosting): an expression over the prefetches' scores
//! (`$score[i]`), payload values, conditions (1 when a point matches, else 0), geo distances,
//! datetimes (POSIX seconds) and decays, evaluated for every point the prefetches found.
//!
//! Arithmetic is in f64 and the result is cast to f32; a non-finite value anywhere is an error
//! naming the expression, as is a payload value that is missing without a default or is not a
//! number. `mult` stops at its first zero factor and `div` answers 0 for a zero numerator
//! without evaluating the denominator, as Qdrant does.

use std::collections::HashMap;

use serde_json::Value;

use super::filter::{Condition, Filter, GeoPoint, Payload};
use crate::error::{Error, Result};
use crate::id::ExtId;

#[derive(Clone, Debug, PartialEq)]
pub enum Variable {
    /// The score from the prefetch at this position (`$score` is `$score[0]`).
    Score(usize),
    /// A payload path.
    Payload(String),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum DecayKind {
    Lin,
    Exp,
    Gauss,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    Const(f64),
    Var(Variable),
    Condition(Box<Condition>),
    GeoDistance { origin: GeoPoint, to: String },
    DatetimeKey(String),
    Mult(Vec<Expr>),
    Sum(Vec<Expr>),
    Neg(Box<Expr>),
    Abs(Box<Expr>),
    Sqrt(Box<Expr>),
    Exp(Box<Expr>),
    Log10(Box<Expr>),
    Ln(Box<Expr>),
    Div { left: Box<Expr>, right: Box<Expr>, by_zero_default: Option<f64> },
    Pow { base: Box<Expr>, exponent: Box<Expr> },
    Decay { kind: DecayKind, x: Box<Expr>, target: Option<Box<Expr>>, scale: f64, midpoint: f64 },
}

/// A formula and its defaults (by variable: `$score[i]` or a payload path).
#[derive(Clone, Debug, PartialEq)]
pub struct Formula {
    pub expr: Expr,
    pub defaults: HashMap<String, Value>,
}

/// What one point brings to the formula.
pub(super) struct Point<'a> {
    pub id: ExtId,
    pub payload: &'a Payload,
    /// Its score from each prefetch that found it.
    pub scores: &'a [Option<f32>],
    pub has_vector: &'a dyn Fn(&str) -> bool,
}

/// The expression a non-finite value came from, in Qdrant's words.
fn non_finite(what: String) -> Error {
    Error::bad(format!("Wrong input: The expression {what} produced a non-finite number"))
}

fn finite(v: f64, what: impl FnOnce() -> String) -> Result<f64> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(non_finite(format!("{} = {v}", what())))
    }
}

fn expected(kind: &str, path: &str, why: &str) -> Error {
    Error::bad(format!(
        "Wrong input: Expected {kind} value for {path} in the payload and/or in the formula defaults. Error: {why}"
    ))
}

impl Formula {
    /// The formula's value for one point, as the f32 score it becomes.
    pub(super) fn score(&self, p: &Point<'_>) -> Result<f32> {
        let v = self.eval(&self.expr, p)?;
        let score = v as f32;
        if !score.is_finite() {
            return Err(non_finite(format!("{v} as f32 = {score}")));
        }
        Ok(score)
    }

    /// The single value a payload path (or its default) gives, or why there is none.
    fn value<'a>(
        &'a self,
        path: &str,
        p: &'a Point<'_>,
    ) -> std::result::Result<std::borrow::Cow<'a, Value>, &'static str> {
        let found = super::filter::values_at(p.payload, path, false);
        match found.as_slice() {
            [] => self
                .defaults
                .get(path)
                .map(std::borrow::Cow::Borrowed)
                .ok_or("No value found in a payload nor defaults"),
            [one] => Ok(std::borrow::Cow::Borrowed(*one)),
            many => Ok(std::borrow::Cow::Owned(Value::Array(many.iter().map(|v| (*v).clone()).collect()))),
        }
    }

    fn number(&self, path: &str, p: &Point<'_>) -> Result<f64> {
        let v = self.value(path, p).map_err(|why| expected("number", path, why))?;
        let single = match v.as_ref().as_array() {
            Some(items) if items.len() == 1 => &items[0],
            Some(_) | None => v.as_ref(),
        };
        single.as_f64().ok_or_else(|| expected("number", path, "Value is not a number"))
    }

    fn score_of(&self, i: usize, p: &Point<'_>) -> f64 {
        if let Some(Some(s)) = p.scores.get(i) {
            return f64::from(*s);
        }
        let named = self.defaults.get(&format!("$score[{i}]"));
        let plain = if i == 0 { self.defaults.get("$score") } else { None };
        named.or(plain).and_then(Value::as_f64).unwrap_or(0.0)
    }

    fn eval(&self, e: &Expr, p: &Point<'_>) -> Result<f64> {
        let unary = |x: &Expr, f: fn(f64) -> f64, show: fn(f64) -> String| -> Result<f64> {
            let v = self.eval(x, p)?;
            finite(f(v), || show(v))
        };
        Ok(match e {
            Expr::Const(c) => *c,
            Expr::Var(Variable::Score(i)) => self.score_of(*i, p),
            Expr::Var(Variable::Payload(path)) => self.number(path, p)?,
            Expr::Condition(c) => {
                let f = Filter { must: vec![(**c).clone()], ..Filter::default() };
                f64::from(u8::from(f.matches(p.payload, Some(p.id), p.has_vector)))
            }
            Expr::GeoDistance { origin, to } => {
                let v = self.value(to, p).map_err(|why| expected("geo point", to, why))?;
                let point = GeoPoint::of(v.as_ref()).ok_or_else(|| {
                    expected("geo point", to, "Value is not a geo point ({\"lat\": …, \"lon\": …})")
                })?;
                origin.distance(&point)
            }
            Expr::DatetimeKey(path) => {
                let v = self.value(path, p).map_err(|why| expected("datetime", path, why))?;
                let s = v.as_str().ok_or_else(|| expected("datetime", path, "Value is not a string"))?;
                let micros = super::filter::parse_datetime(s)
                    .ok_or_else(|| expected("datetime", path, "Value is not an RFC 3339 datetime"))?;
                micros as f64 / 1e6
            }
            Expr::Mult(factors) => {
                let mut product = 1.0;
                for f in factors {
                    let v = self.eval(f, p)?;
                    if v == 0.0 {
                        return Ok(0.0);
                    }
                    product *= v;
                }
                product
            }
            Expr::Sum(terms) => {
                let mut sum = 0.0;
                for t in terms {
                    sum += self.eval(t, p)?;
                }
                sum
            }
            Expr::Neg(x) => -self.eval(x, p)?,
            Expr::Abs(x) => self.eval(x, p)?.abs(),
            Expr::Sqrt(x) => unary(x, f64::sqrt, |v| format!("√{v}"))?,
            Expr::Exp(x) => unary(x, f64::exp, |v| format!("exp({v})"))?,
            Expr::Log10(x) => unary(x, f64::log10, |v| format!("log10({v})"))?,
            Expr::Ln(x) => unary(x, f64::ln, |v| format!("ln({v})"))?,
            Expr::Div { left, right, by_zero_default } => {
                let l = self.eval(left, p)?;
                if l == 0.0 {
                    return Ok(0.0);
                }
                let r = self.eval(right, p)?;
                match (r == 0.0, by_zero_default) {
                    (true, Some(d)) => *d,
                    _ => finite(l / r, || format!("{l}/{r}"))?,
                }
            }
            Expr::Pow { base, exponent } => {
                let (b, x) = (self.eval(base, p)?, self.eval(exponent, p)?);
                finite(b.powf(x), || format!("{b}^{x}"))?
            }
            Expr::Decay { kind, x, target, scale, midpoint } => {
                let target = match target {
                    Some(t) => self.eval(t, p)?,
                    None => 0.0,
                };
                let d = (self.eval(x, p)? - target).abs();
                match kind {
                    DecayKind::Lin => (1.0 - ((1.0 - midpoint) / scale) * d).max(0.0),
                    DecayKind::Exp => ((midpoint.ln() / scale) * d).exp(),
                    DecayKind::Gauss => ((midpoint.ln() / (scale * scale)) * d * d).exp(),
                }
            }
        })
    }
}

/// Checks a decay's parameters as Qdrant does when the formula is read (numbers shown as the
/// f32 they were given, widened).
pub fn check_decay(kind: DecayKind, scale: f32, midpoint: f32) -> Result<()> {
    let invalid = |m: String| Err(Error::bad(format!("Wrong input: Validation failed: {m}")));
    match kind {
        DecayKind::Lin if !(0.0..=1.0).contains(&midpoint) => {
            return invalid(format!(
                "Linear decay midpoint should be in the range [0.0, 1.0], got {}.",
                f64::from(midpoint)
            ))
        }
        DecayKind::Exp | DecayKind::Gauss if midpoint.is_nan() || midpoint <= 0.0 || midpoint >= 1.0 => {
            return invalid(format!(
                "Decay midpoint should be in the range (0.0, 1.0), got {}.",
                f64::from(midpoint)
            ))
        }
        DecayKind::Lin | DecayKind::Exp | DecayKind::Gauss => {}
    }
    if scale.is_nan() || scale <= 0.0 {
        return invalid(format!("Decay scale should be non-zero positive, got {}.", f64::from(scale)));
    }
    Ok(())
}
