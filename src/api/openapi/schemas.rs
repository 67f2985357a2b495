//! Schemas of the collection's own types as the API reads and writes them, written here so that
//! `collection/` knows nothing of the OpenAPI document: by hand where the parser is (a filter,
//! an id, `with_payload`, the index kind), so the document says what the parser accepts.

use crate::collection::filter::MAX_CONDITIONS;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::RefOr;

use super::super::models::WithPayload;
use crate::collection::{Distance, EmbeddingModel, FieldType, Strategy};
use crate::collection::{ExtId, Filter, IndexConfig};

impl utoipa::PartialSchema for ExtId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::Custom("uint64".into())))
                    .minimum(Some(0u64))
                    .maximum(Some(u64::MAX)),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::Custom("uuid".into()))),
            )
            .description(Some("An unsigned 64-bit integer or a UUID"))
            .into()
    }
}

impl utoipa::ToSchema for ExtId {}

/// The filter language as [`parse_filter`] reads it: unknown keys are refused; a field condition
/// takes exactly one check and `match` exactly one of value / any / except / text / text_any /
/// phrase (keys set to
/// `null` count as absent). Conditions are tried in the parser's order (`has_id`, `has_vector`,
/// `key`, `is_empty`, `is_null`, `nested`, a filter), so the schema lists them with `anyOf`.
impl utoipa::PartialSchema for Filter {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ObjectBuilder, OneOfBuilder,
            SchemaType, Type,
        };
        use utoipa::openapi::Ref;

        let typed = |t: Type| ObjectBuilder::new().schema_type(t);
        let or_null = |t: Type| ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]));
        let key = || typed(Type::String).min_length(Some(1));
        // Keys other than the listed ones are accepted only with a `null` value.
        let only_null_besides =
            |o: ObjectBuilder| o.additional_properties(Some(AdditionalProperties::from(typed(Type::Null))));
        let scalar = || {
            OneOfBuilder::new()
                .item(typed(Type::String))
                .item(typed(Type::Boolean))
                .item(typed(Type::Integer).minimum(Some(i64::MIN)).maximum(Some(i64::MAX)))
                .description(Some("a keyword, an integer or a bool"))
        };
        let bounds = |t: Type| {
            let mut r = typed(Type::Object);
            for bound in ["gt", "gte", "lt", "lte"] {
                r = r.property(bound, or_null(t.clone()));
            }
            only_null_besides(r)
        };
        let range = || bounds(Type::Number);
        // `range`: number bounds, or datetime strings (RFC 3339 and the naive forms, as UTC).
        let any_range = || {
            OneOfBuilder::new().item(range()).item(bounds(Type::String).description(Some(
                "datetime bounds: RFC 3339 (`2024-01-01T00:00:00Z`, `+02:00`), `2024-01-01 00:00:00`, `2024-01-01`; naive forms are UTC",
            )))
        };
        let text = |what: &str| {
            typed(Type::String)
                .max_length(Some(crate::collection::filter::text::MAX_QUERY_BYTES))
                .description(Some(what))
        };
        // `match`: exactly one of value / any / except / text / text_any / phrase.
        let match_one = || {
            let mut one = OneOfBuilder::new();
            let kinds: [(&str, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>); 6] = [
                ("value", scalar().into()),
                ("any", ArrayBuilder::new().items(scalar()).into()),
                ("except", ArrayBuilder::new().items(scalar()).into()),
                ("text", text("every token of the text is in the value (tokenized by the field's text index, else by words, lowercased)").into()),
                ("text_any", text("some token of the text is in the value").into()),
                ("phrase", text("the tokens occur consecutively, in order (a text index needs phrase_matching)").into()),
            ];
            for (kind, schema) in kinds {
                one = one.item(only_null_besides(typed(Type::Object).property(kind, schema).required(kind)));
            }
            one
        };
        let point = || {
            typed(Type::Object)
                .property("lon", typed(Type::Number).minimum(Some(-180)).maximum(Some(180)))
                .property("lat", typed(Type::Number).minimum(Some(-90)).maximum(Some(90)))
                .required("lon")
                .required("lat")
        };
        let ring = || {
            typed(Type::Object)
                .property(
                    "points",
                    ArrayBuilder::new()
                        .items(point())
                        .min_items(Some(4))
                        .max_items(Some(crate::collection::filter::geo::MAX_POLYGON_POINTS))
                        .description(Some("a closed line: the last point repeats the first")),
                )
                .required("points")
        };
        let radius = || {
            typed(Type::Object)
                .property("center", point())
                .property(
                    "radius",
                    typed(Type::Number).description(Some("meters; haversine distance strictly below it")),
                )
                .required("center")
                .required("radius")
        };
        let bounding_box = || {
            typed(Type::Object)
                .property("top_left", point())
                .property("bottom_right", point())
                .required("top_left")
                .required("bottom_right")
                .description(Some("strict edges; top_left.lon > bottom_right.lon crosses the antimeridian"))
        };
        let polygon = || {
            typed(Type::Object)
                .property("exterior", ring())
                .property(
                    "interiors",
                    OneOfBuilder::new().item(typed(Type::Null)).item(
                        ArrayBuilder::new()
                            .items(ring())
                            .max_items(Some(crate::collection::filter::geo::MAX_POLYGON_INTERIORS)),
                    ),
                )
                .required("exterior")
                .description(Some(
                    "points strictly inside the exterior and outside every interior ring (holes)",
                ))
        };
        // A field condition: `key` and exactly one check.
        let field = || {
            let mut one = OneOfBuilder::new().description(Some(
                "a field condition: `key` (a payload path: a.b, a[].b, a[0]) and exactly one of match, range, values_count, is_empty, is_null, geo_radius, geo_bounding_box, geo_polygon",
            ));
            let checks: [(&str, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>); 8] = [
                ("match", match_one().into()),
                ("range", any_range().into()),
                ("values_count", range().into()),
                ("is_empty", typed(Type::Boolean).into()),
                ("is_null", typed(Type::Boolean).into()),
                ("geo_radius", radius().into()),
                ("geo_bounding_box", bounding_box().into()),
                ("geo_polygon", polygon().into()),
            ];
            for (check, schema) in checks {
                one = one.item(only_null_besides(
                    typed(Type::Object)
                        .property("key", key())
                        .property(check, schema)
                        .required("key")
                        .required(check),
                ));
            }
            one
        };
        let keyed = |name: &str| {
            typed(Type::Object)
                .property(name, typed(Type::Object).property("key", key()).required("key"))
                .required(name)
        };
        let filter = || Ref::from_schema_name("Filter");
        let condition = || {
            AnyOfBuilder::new()
                .item(field())
                .item(keyed("is_empty"))
                .item(keyed("is_null"))
                .item(
                    typed(Type::Object)
                        .property(
                            "nested",
                            typed(Type::Object)
                                .property("key", key())
                                .property("filter", filter())
                                .required("key")
                                .required("filter"),
                        )
                        .required("nested"),
                )
                .item(
                    typed(Type::Object)
                        .property("has_id", ArrayBuilder::new().items(Ref::from_schema_name("ExtId")))
                        .required("has_id"),
                )
                .item(
                    typed(Type::Object)
                        .property(
                            "has_vector",
                            typed(Type::String)
                                .description(Some("a vector name: \"\" for the unnamed vector")),
                        )
                        .required("has_vector"),
                )
                .item(AllOfBuilder::new().item(filter()).item(typed(Type::Object).min_properties(Some(1))))
                .description(Some("a condition"))
        };
        let conditions = || {
            OneOfBuilder::new()
                .item(typed(Type::Null))
                .item(condition())
                .item(ArrayBuilder::new().items(condition()))
                .description(Some("a condition or a list of conditions"))
        };
        let min_should = OneOfBuilder::new().item(typed(Type::Null)).item(
            typed(Type::Object)
                .property("conditions", conditions())
                .property("min_count", typed(Type::Integer).minimum(Some(0)))
                .required("min_count"),
        );
        typed(Type::Object)
            .property("must", conditions().description(Some("every condition holds")))
            .property("should", conditions().description(Some("at least one condition holds (when any are given)")))
            .property("must_not", conditions().description(Some("no condition holds")))
            .property("min_should", min_should.description(Some("at least `min_count` of `conditions` hold")))
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .description(Some(format!(
                "Qdrant's filter: must / should / must_not / min_should over conditions, at most {MAX_CONDITIONS} conditions over every level"
            )))
            .into()
    }
}

impl utoipa::ToSchema for Filter {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        use utoipa::PartialSchema;
        schemas.push(("ExtId".into(), ExtId::schema()));
    }
}

/// As [`WithPayload`] reads it (the object form refuses other keys).
impl utoipa::PartialSchema for WithPayload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, Type,
        };
        let keys = || {
            ArrayBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::Array, Type::Null]))
                .items(ObjectBuilder::new().schema_type(Type::String))
        };
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property("include", keys())
                    .property("exclude", keys())
                    .additional_properties(Some(AdditionalProperties::FreeForm(false))),
            )
            .description(Some(
                "`with_payload`: `true`/`false`, a list of keys, or `{\"include\": [...]}` / `{\"exclude\": [...]}`",
            ))
            .into()
    }
}

impl utoipa::ToSchema for WithPayload {}

/// What [`CollectionConfig::validate`] accepts: a Faiss index takes exactly one of `factory`
/// (non-empty ASCII; Faiss parses it) and `preset`, and the preset's own parameters are checked
/// only for that preset (`nlist` ≥ 1; `pq_m` ≥ 1 and `pq_nbits` in 1..=16 for `ivf_pq`).
impl utoipa::PartialSchema for IndexConfig {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        #[cfg(feature = "faiss")]
        use utoipa::openapi::schema::SchemaType;
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let typed = |t: Type| ObjectBuilder::new().schema_type(t);
        let kind = |name: &str| typed(Type::String).enum_values(Some([name]));
        let closed = |o: ObjectBuilder| o.additional_properties(Some(AdditionalProperties::FreeForm(false)));
        let hnsw = closed(typed(Type::Object).property("type", kind("hnsw")).required("type"));
        let kinds = OneOfBuilder::new().item(hnsw);
        // A build without the Faiss backend refuses the Faiss kinds, so it does not list them.
        #[cfg(feature = "faiss")]
        let kinds = {
            let or_null = |t: Type| ObjectBuilder::new().schema_type(SchemaType::from_iter([t, Type::Null]));
            let count = |min: u64| or_null(Type::Integer).minimum(Some(min));
            let faiss = |how: ObjectBuilder| {
                closed(
                    how.schema_type(Type::Object)
                        .property("type", kind("faiss"))
                        .required("type")
                        .property(
                            "nprobe",
                            count(1).description(Some(
                                "Inverted lists probed per query (default 16; `params.nprobe` overrides per request).",
                            )),
                        )
                        .property(
                            "rescore",
                            or_null(Type::Boolean).description(Some(
                                "Rescore the best `limit × oversampling` candidates with the stored f32 vectors (default on, oversampling 16).",
                            )),
                        )
                        .property("oversampling", or_null(Type::Number).minimum(Some(1)))
                        .property(
                            "train_size",
                            count(0).description(Some(
                                "Points collected before the index is trained on them (default `max(64 × nlist, 10000)`).",
                            )),
                        ),
                )
            };
            let preset = |names: &[&str], pq_m: u64, pq_nbits: (u64, Option<u64>)| {
                faiss(ObjectBuilder::new())
                    .property("preset", typed(Type::String).enum_values(Some(names.iter().copied())))
                    .required("preset")
                    .property("factory", typed(Type::Null))
                    .property("nlist", count(1))
                    .property("pq_m", count(pq_m))
                    .property("pq_nbits", count(pq_nbits.0).maximum(pq_nbits.1))
            };
            kinds
                .item(
                    faiss(ObjectBuilder::new())
                        .property(
                            "factory",
                            typed(Type::String)
                                .pattern(Some(r"^[\u0001-\u007f]+$"))
                                .description(Some("A Faiss index factory string, e.g. `IVF1024,PQ32x8`")),
                        )
                        .required("factory")
                        .property("preset", typed(Type::Null))
                        .property("nlist", count(0))
                        .property("pq_m", count(0))
                        .property("pq_nbits", count(0)),
                )
                .item(preset(&["ivf_flat", "ivf_sq8"], 0, (0, None)))
                .item(preset(&["ivf_pq"], 1, (1, Some(16))))
        };
        kinds
            .description(Some(
                "Which engine indexes the collection's vectors (`\"index\"` in the create body; vicinity's own field beside Qdrant's): `{\"type\": \"hnsw\"}` (the default) or a Faiss index (`{\"type\": \"faiss\"}` with a `factory` string or a `preset`: `ivf_flat`, `ivf_sq8`, `ivf_pq` with `nlist`, `pq_m`, `pq_nbits`), when the service is built with the `faiss` feature.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for IndexConfig {}

/// A string enum's schema.
fn names(values: &[&str], description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .into()
}

macro_rules! schema {
    ($ty:ty, $body:expr) => {
        impl utoipa::PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                $body
            }
        }
        impl utoipa::ToSchema for $ty {}
    };
}

schema!(Distance, names(&["Cosine", "Dot", "Euclid"], "The similarity of the collection's vectors"));
schema!(
    FieldType,
    names(
        &["keyword", "integer", "float", "geo", "text", "bool", "datetime", "uuid"],
        "A payload index's kind"
    )
);
schema!(
    Strategy,
    names(&["average_vector", "best_score", "sum_scores"], "How a recommendation combines its examples")
);

schema!(
    EmbeddingModel,
    ObjectBuilder::new()
        .property(
            "model",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .description(Some("A model the server loaded (`embedding.models_dir`)")),
        )
        .required("model")
        .property(
            "store_text",
            ObjectBuilder::new()
                .schema_type(utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null]))
                .description(Some("When set, an upserted text is also stored in the payload under this key")),
        )
        .additional_properties(Some(utoipa::openapi::schema::AdditionalProperties::FreeForm(false)))
        .description(Some(
            "The collection's text-embedding model: texts in upserts and queries are embedded with it"
        ))
        .into()
);
