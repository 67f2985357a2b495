//! External point ids as clients send them: unsigned integers or UUIDs. Their storage key
//! bytes (which sort like the ids) are in `storage`.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A point's id as clients know it. Numbers order before UUIDs (as in Qdrant).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExtId {
    Num(u64),
    Uuid(Uuid),
}

impl fmt::Display for ExtId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExtId::Num(n) => write!(f, "{n}"),
            ExtId::Uuid(u) => write!(f, "{u}"),
        }
    }
}

impl Serialize for ExtId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExtId::Num(n) => s.serialize_u64(*n),
            ExtId::Uuid(u) => s.collect_str(&u.hyphenated()),
        }
    }
}

impl<'de> Deserialize<'de> for ExtId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = ExtId;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a point id: an unsigned integer or a UUID string")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExtId, E> {
                Ok(ExtId::Num(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExtId, E> {
                u64::try_from(v).map(ExtId::Num).map_err(|_| {
                    E::custom(format!("point id {v} is negative; ids are unsigned integers or UUIDs"))
                })
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ExtId, E> {
                // Integers beyond i64 / u64 arrive here as floats.
                if v.fract() == 0.0 && v >= u64::MAX as f64 {
                    return Err(E::custom(format!(
                        "point id {v} is too large; ids are unsigned 64-bit integers or UUIDs"
                    )));
                }
                if v.fract() == 0.0 && v < 0.0 {
                    return Err(E::custom(format!(
                        "point id {v} is negative; ids are unsigned integers or UUIDs"
                    )));
                }
                Err(E::custom(format!(
                    "point id {v:?} is not an integer; ids are unsigned integers or UUIDs"
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ExtId, E> {
                Uuid::parse_str(v).map(ExtId::Uuid).map_err(|_| {
                    E::custom(format!("point id {v:?} is not a UUID; ids are unsigned integers or UUIDs"))
                })
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_forms() {
        let u: ExtId = serde_json::from_str("\"550e8400-e29b-41d4-a716-446655440000\"").unwrap();
        assert_eq!(serde_json::to_string(&u).unwrap(), "\"550e8400-e29b-41d4-a716-446655440000\"");
        assert_eq!(serde_json::from_str::<ExtId>("7").unwrap(), ExtId::Num(7));
        for bad in ["-1", "1.5", "\"abc\"", "null", "[]"] {
            assert!(serde_json::from_str::<ExtId>(bad).is_err(), "{bad}");
        }
    }
}
