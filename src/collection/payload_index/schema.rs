//! A payload index's schema as Qdrant's `field_schema` gives it: a type name (`"keyword"`) or
//! an object with `"type"` and the type's parameters. Stored in the collection's config as
//! given (a plain name stays a plain string, so configs written before parameters existed load
//! unchanged) and shown in `payload_schema` as `{"data_type", "params"?, "points"}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::collection::filter::text::{TextParams, Tokenizer};

/// The kind of a payload index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    Keyword,
    Integer,
    Float,
    Geo,
    Text,
    Bool,
    Datetime,
    Uuid,
}

/// `field_schema`: a type name, or a type with parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FieldSchema {
    Type(FieldType),
    Params(FieldParams),
}

/// The object form of `field_schema`, by `"type"`. Flags vicinity accepts without acting on
/// them (`on_disk`, `is_tenant`, `is_principal`: every index is in memory) are kept and shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldParams {
    Keyword(TenantParams),
    Integer(IntegerParams),
    Float(PrincipalParams),
    Geo(DiskParams),
    Text(TextIndexParams),
    Bool(DiskParams),
    Datetime(PrincipalParams),
    Uuid(TenantParams),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_tenant: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegerParams {
    /// `match` through the index (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookup: Option<bool>,
    /// `range` through the index (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_principal: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextIndexParams {
    #[serde(default)]
    pub tokenizer: Tokenizer,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_token_len: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_token_len: Option<usize>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lowercase: Option<bool>,
    /// Default false; `phrase` conditions need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phrase_matching: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_disk: Option<bool>,
}

/// Text index parameters of Qdrant's that vicinity does not implement: a request setting one
/// is refused rather than silently indexed differently.
const UNSUPPORTED_TEXT_PARAMS: [&str; 3] = ["ascii_folding", "stopwords", "stemmer"];

impl FieldParams {
    pub fn kind(&self) -> FieldType {
        match self {
            FieldParams::Keyword(_) => FieldType::Keyword,
            FieldParams::Integer(_) => FieldType::Integer,
            FieldParams::Float(_) => FieldType::Float,
            FieldParams::Geo(_) => FieldType::Geo,
            FieldParams::Text(_) => FieldType::Text,
            FieldParams::Bool(_) => FieldType::Bool,
            FieldParams::Datetime(_) => FieldType::Datetime,
            FieldParams::Uuid(_) => FieldType::Uuid,
        }
    }
}

impl FieldSchema {
    pub fn kind(&self) -> FieldType {
        match self {
            FieldSchema::Type(t) => *t,
            FieldSchema::Params(p) => p.kind(),
        }
    }

    /// Whether `order_by` can use the index: integer (unless `range: false`), float, datetime.
    pub fn orders(&self) -> bool {
        match self {
            FieldSchema::Params(FieldParams::Integer(p)) => p.range != Some(false),
            FieldSchema::Type(_) | FieldSchema::Params(_) => {
                matches!(self.kind(), FieldType::Integer | FieldType::Float | FieldType::Datetime)
            }
        }
    }

    /// Whether `facet` can use the index: keyword, integer (unless `lookup: false`), uuid, bool.
    pub fn facets(&self) -> bool {
        match self {
            FieldSchema::Params(FieldParams::Integer(p)) => p.lookup != Some(false),
            FieldSchema::Type(_) | FieldSchema::Params(_) => {
                matches!(
                    self.kind(),
                    FieldType::Keyword | FieldType::Integer | FieldType::Uuid | FieldType::Bool
                )
            }
        }
    }

    /// How a text index on the field tokenizes (the defaults for a plain `"text"`).
    pub fn text_params(&self) -> TextParams {
        match self {
            FieldSchema::Params(FieldParams::Text(p)) => TextParams {
                tokenizer: p.tokenizer,
                min_token_len: p.min_token_len,
                max_token_len: p.max_token_len,
                lowercase: p.lowercase.unwrap_or(true),
                phrase_matching: p.phrase_matching.unwrap_or(false),
            },
            FieldSchema::Type(_) | FieldSchema::Params(_) => TextParams::default(),
        }
    }

    /// `params` in the collection info: the object form's parameters, `None` for a type name.
    pub fn params_json(&self) -> Option<Value> {
        match self {
            FieldSchema::Type(_) => None,
            FieldSchema::Params(p) => serde_json::to_value(p).ok(),
        }
    }

    /// Parses a request's `field_schema`, with a message naming what is wrong.
    pub fn parse(v: &Value) -> Result<FieldSchema, String> {
        const EXPECTED: &str = "expected keyword, integer, float, geo, text, bool, datetime or uuid";
        let untagged = "data did not match any variant of untagged enum PayloadFieldSchema";
        let kind = |name: &str| {
            serde_json::from_value::<FieldType>(Value::String(name.to_string()))
                .map_err(|_| format!("{untagged}: field_schema: unknown type {name:?} ({EXPECTED})"))
        };
        match v {
            Value::String(name) => Ok(FieldSchema::Type(kind(name)?)),
            Value::Object(o) => {
                let name = o.get("type").and_then(Value::as_str).ok_or_else(|| {
                    format!("{untagged}: field_schema: an object needs a \"type\" ({EXPECTED})")
                })?;
                let kind = kind(name)?;
                if kind == FieldType::Text {
                    for p in UNSUPPORTED_TEXT_PARAMS {
                        if o.get(p).is_some_and(|x| !x.is_null() && x != &Value::Bool(false)) {
                            return Err(format!(
                                "field_schema.{p}: this text index parameter is not supported by vicinity"
                            ));
                        }
                    }
                }
                let mut o = o.clone();
                for p in UNSUPPORTED_TEXT_PARAMS {
                    o.remove(p);
                }
                let params: FieldParams = serde_json::from_value(Value::Object(o))
                    .map_err(|e| format!("{untagged}: field_schema ({name}): {e}"))?;
                Ok(FieldSchema::Params(params))
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::Array(_) => {
                Err(format!("{untagged}: field_schema: expected a type name or an object with \"type\""))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stored_forms_load_both_ways() {
        let old: FieldSchema = serde_json::from_value(json!("keyword")).unwrap();
        assert_eq!(old, FieldSchema::Type(FieldType::Keyword));
        assert_eq!(serde_json::to_value(&old).unwrap(), json!("keyword"));
        let text =
            FieldSchema::parse(&json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2})).unwrap();
        let stored = serde_json::to_value(&text).unwrap();
        assert_eq!(stored, json!({"type": "text", "tokenizer": "prefix", "min_token_len": 2}));
        assert_eq!(serde_json::from_value::<FieldSchema>(stored).unwrap(), text);
        assert_eq!(text.kind(), FieldType::Text);
        assert_eq!(text.text_params().tokenizer, Tokenizer::Prefix);
        assert!(text.text_params().lowercase);
        let plain = FieldSchema::parse(&json!({"type": "text"})).unwrap();
        assert_eq!(plain.params_json(), Some(json!({"type": "text", "tokenizer": "word"})));
    }

    #[test]
    fn every_type_parses() {
        for t in ["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"] {
            assert_eq!(
                FieldSchema::parse(&json!(t)).unwrap().kind(),
                FieldSchema::parse(&json!({"type": t})).unwrap().kind()
            );
        }
        let u = FieldSchema::parse(&json!({"type": "uuid", "is_tenant": true, "on_disk": false})).unwrap();
        assert_eq!(u.params_json(), Some(json!({"type": "uuid", "is_tenant": true, "on_disk": false})));
        let i = FieldSchema::parse(&json!({"type": "integer", "lookup": false, "range": true})).unwrap();
        assert_eq!(i.kind(), FieldType::Integer);
    }

    #[test]
    fn bad_schemas_say_why() {
        let cases = [
            (json!("vector"), "unknown type \"vector\""),
            (json!({"type": "nope"}), "unknown type \"nope\""),
            (json!({"tokenizer": "word"}), "needs a \"type\""),
            (json!(5), "expected a type name"),
            (json!({"type": "text", "tokenizer": "ngram"}), "unknown variant `ngram`"),
            (
                json!({"type": "text", "stemmer": {"type": "snowball", "language": "english"}}),
                "field_schema.stemmer",
            ),
            (json!({"type": "text", "stopwords": "english"}), "field_schema.stopwords"),
            (json!({"type": "text", "ascii_folding": true}), "field_schema.ascii_folding"),
            (json!({"type": "geo", "lookup": true}), "unknown field `lookup`"),
            (json!({"type": "text", "min_token_len": -1}), "expected usize"),
        ];
        for (v, needle) in cases {
            let e = FieldSchema::parse(&v).unwrap_err();
            assert!(e.contains(needle), "{v}: {e}");
        }
        assert!(FieldSchema::parse(&json!({"type": "text", "ascii_folding": false})).is_ok());
    }
}
