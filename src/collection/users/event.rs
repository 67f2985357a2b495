//! An event's one serde form, shared by `POST /collections/{c}/interactions` and interaction
//! imports (jsonl lines; csv rows are read into it): `{user, item, type, weight?, timestamp?}`.

use serde::Deserialize;
use serde_json::Value;

use super::{check_user, now_micros, Event};
use crate::collection::filter::parse_datetime;
use crate::error::{Error, Result};
use crate::id::ExtId;

/// How far past the server's clock a timestamp may be (clocks differ a little).
const FUTURE_SLACK_MICROS: i64 = 86_400_000_000;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// A string or an integer; `42` and `"42"` are the same user.
    pub user: Value,
    /// A point id of the collection.
    pub item: ExtId,
    /// One of the collection's `recommendation.event_types`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Multiplies the type's weight; 1 by default.
    pub weight: Option<f64>,
    /// RFC 3339 (or another datetime form filters accept), or Unix seconds; now by default.
    pub timestamp: Option<Value>,
}

/// A user id as given: a string, or an integer written in decimal.
pub fn user_of(v: &Value) -> Result<String> {
    let user = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_u64() || n.is_i64() => n.to_string(),
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) | Value::Object(_) => {
            return Err(Error::bad(format!("user: expected a string or an integer, got {v}")))
        }
    };
    check_user(&user)?;
    Ok(user)
}

/// A timestamp as microseconds since the epoch: at or after 1970, not in the future.
pub fn time_of(v: &Value) -> Result<i64> {
    let micros = match v {
        Value::String(s) => parse_datetime(s)
            .ok_or_else(|| Error::bad(format!("timestamp: {s:?} is not an RFC 3339 datetime")))?,
        Value::Number(n) => {
            let secs = n.as_f64().filter(|s| s.is_finite()).unwrap_or(f64::NAN);
            if !(0.0..=1e13).contains(&secs) {
                return Err(Error::bad(format!("timestamp: {n} is not a time in Unix seconds")));
            }
            (secs * 1e6).round() as i64
        }
        Value::Null | Value::Bool(_) | Value::Array(_) | Value::Object(_) => {
            return Err(Error::bad(format!(
                "timestamp: expected an RFC 3339 string or Unix seconds, got {v}"
            )))
        }
    };
    if micros < 0 {
        return Err(Error::bad(format!("timestamp: {v} is before 1970")));
    }
    if micros > now_micros().saturating_add(FUTURE_SLACK_MICROS) {
        return Err(Error::bad(format!("timestamp: {v} is in the future")));
    }
    Ok(micros)
}

impl EventInput {
    /// The event, checked (the type and the item are checked against the collection when it is
    /// recorded).
    pub fn event(self) -> Result<Event> {
        let user = user_of(&self.user)?;
        let weight = self.weight.unwrap_or(1.0);
        let narrowed = weight as f32;
        if !narrowed.is_finite() {
            return Err(Error::bad(format!("weight: {weight} is not a finite number")));
        }
        let time = self.timestamp.as_ref().filter(|t| !t.is_null()).map(time_of).transpose()?;
        Ok(Event { user, item: self.item, kind: self.kind, weight: narrowed, time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(v: Value) -> Result<Event> {
        serde_json::from_value::<EventInput>(v).map_err(|e| Error::bad(e.to_string()))?.event()
    }

    #[test]
    fn users_times_and_weights() {
        let e = event(json!({"user": 42, "item": 7, "type": "view", "timestamp": 1.5})).unwrap();
        assert_eq!((e.user.as_str(), e.time, e.weight), ("42", Some(1_500_000), 1.0));
        let e = event(json!({"user": "42", "item": 7, "type": "view", "timestamp": "1970-01-01T00:00:02Z"}))
            .unwrap();
        assert_eq!((e.user.as_str(), e.time), ("42", Some(2_000_000)));
        for (bad, named) in [
            (json!({"user": 1.5, "item": 1, "type": "view"}), "user"),
            (json!({"user": "", "item": 1, "type": "view"}), "user"),
            (json!({"user": "a", "item": 1, "type": "view", "weight": 1e39}), "weight"),
            (json!({"user": "a", "item": 1, "type": "view", "timestamp": "yesterday"}), "timestamp"),
            (json!({"user": "a", "item": 1, "type": "view", "timestamp": -1}), "timestamp"),
            (json!({"user": "a", "item": 1, "type": "view", "timestamp": 4e12}), "timestamp"),
        ] {
            let err = event(bad.clone()).unwrap_err().to_string();
            assert!(err.contains(named), "{bad}: {err}");
        }
    }
}
