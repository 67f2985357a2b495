//! The OpenAPI document (`GET /openapi.json`): the operations the handlers annotate, and what
//! their derives cannot say — rules between fields, and the error statuses every operation
//! shares because of the middleware and extractors in front of it ([`CommonResponses`]).

mod query_shapes;
mod schemas;
mod shapes;

pub use query_shapes::*;
pub use shapes::*;

use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{
    AllOfBuilder, AnyOfBuilder, ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Required, ResponseBuilder};
use utoipa::OpenApi;

use super::{
    aliases, batch, collections, discover, embed, facet, groups, jobs, metrics, models, points, query,
    service, snapshots, users, vectors,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "vicinity",
        description = "Vector similarity search and recommendations; Qdrant-compatible REST API"
    ),
    paths(
        service::root,
        service::healthz,
        service::livez,
        service::readyz,
        service::openapi,
        collections::create,
        collections::info,
        collections::list,
        collections::exists,
        collections::remove,
        collections::create_field_index,
        collections::delete_field_index,
        aliases::change,
        aliases::list,
        aliases::of_collection,
        points::upsert,
        points::retrieve,
        points::get_one,
        points::delete,
        batch::batch,
        points::set_payload,
        points::overwrite_payload,
        points::delete_payload,
        points::clear_payload,
        vectors::update,
        vectors::delete,
        points::scroll,
        points::count,
        facet::facet,
        query::query,
        query::query_batch,
        query::search,
        query::search_batch,
        query::recommend,
        query::recommend_batch,
        groups::query_groups,
        users::interactions,
        users::get_user,
        users::delete_user,
        users::recommend,
        users::recommend_batch,
        jobs::import_interactions,
        groups::search_groups,
        groups::recommend_groups,
        discover::discover_points,
        discover::discover_batch,
        embed::embed,
        metrics::render,
        jobs::list,
        jobs::get,
        jobs::cancel,
        jobs::import,
        jobs::rebuild,
        jobs::update_collection,
        snapshots::create,
        snapshots::list,
        snapshots::download,
        snapshots::delete,
        snapshots::recover,
        snapshots::upload,
    ),
    components(schemas(models::UpdateResult, models::Record, models::ScoredPoint)),
    modifiers(&RequestRules, &OptionalRebuildBody, &CommonResponses)
)]
pub struct ApiDoc;

/// The tag of the admin routes (behind `service.admin_api_key` when one is set).
pub const ADMIN: &str = "admin";

/// Adds to every operation the error answers of what runs before its handler, each with the
/// shared [`ErrorResponse`] body; a status the handler documents keeps its own description.
/// - `server::read_body` (all but the streamed routes): 400 unreadable, 408 too slow, 413 too
///   large;
/// - `auth::any` / `auth::admin` (all but the probes): 401;
/// - the JSON body extractors (a body that must be there): 415;
/// - the path and body checks (a collection name over 255 characters, a value out of range):
///   422;
/// - and 500 (storage or a failed worker) wherever a handler does work.
pub struct CommonResponses;

const UNREADABLE: &str = "the request could not be read: a bad path or query parameter, or a broken body";
const TOO_SLOW: &str = "the request body did not arrive whole within service.body_timeout_ms";
const TOO_LARGE: &str = "the request body is larger than service.max_request_bytes";
const NO_KEY: &str =
    "service.api_key is set and the `api-key` header (or `Authorization: Bearer`) is missing or wrong";
const NO_ADMIN_KEY: &str =
    "an admin key is set (service.admin_api_key, else service.api_key) and the request does not carry it";
const INVALID: &str =
    "a value out of its range or a broken rule between fields (Qdrant's validation error), naming the field";
const NOT_JSON: &str = "the body's Content-Type is not application/json";
const INTERNAL: &str = "internal error (storage or a failed worker); the details are in the server log";

impl utoipa::Modify for CommonResponses {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        for (path, item) in doc.paths.paths.iter_mut() {
            let public = super::auth::PUBLIC.contains(&path.as_str());
            let streamed = super::server::STREAMED.contains(&path.as_str());
            for op in [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch]
                .into_iter()
                .flatten()
            {
                let admin = op.tags.as_ref().is_some_and(|t| t.iter().any(|t| t == ADMIN));
                let json_body = op.request_body.as_ref().is_some_and(|b| {
                    b.required != Some(Required::False) && b.content.contains_key("application/json")
                });
                add(op, 400, UNREADABLE);
                if !streamed {
                    add(op, 408, TOO_SLOW);
                    add(op, 413, TOO_LARGE);
                }
                if !public {
                    add(op, 401, if admin { NO_ADMIN_KEY } else { NO_KEY });
                    add(op, 500, INTERNAL);
                }
                if json_body {
                    add(op, 415, NOT_JSON);
                }
                if json_body || path.contains("{name}") {
                    add(op, 422, INVALID);
                }
            }
        }
    }
}

/// Documents `status` on `op` with `description` and the error body, unless it already is.
fn add(op: &mut Operation, status: u16, description: &str) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| {
        let body = ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorResponse"))).build();
        ResponseBuilder::new().description(description).content("application/json", body).build().into()
    });
}

/// `null` only (an absent field is the same).
pub(crate) fn null_only() -> Object {
    ObjectBuilder::new().schema_type(Type::Null).build()
}

/// A Qdrant field vicinity does not support: accepted only when absent or `null`.
pub(crate) fn unsupported() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Null)
        .description(Some("Not supported: only `null` (or leaving the field out) is accepted"))
        .build()
}

/// Scalar quantization's `type`: only `int8`.
pub(crate) fn int8() -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["int8"])).build()
}

/// Any JSON value but `null`: a field that is "given".
fn given() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(SchemaType::from_iter([
        Type::Object,
        Type::Array,
        Type::String,
        Type::Number,
        Type::Boolean,
    ]))
}

/// `field` is given (not `null`) and `other` is absent or `null`.
fn only(field: &str, other: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .property(field, given())
        .required(field)
        .property(other, ObjectBuilder::new().schema_type(Type::Null))
}

/// A non-empty list under `field`.
fn some(field: &str) -> ObjectBuilder {
    ObjectBuilder::new().property(field, ArrayBuilder::new().min_items(Some(1))).required(field)
}

/// Rules between fields, which the handlers check after parsing (so no derive states them);
/// each named schema becomes `allOf: [its fields, the rule]`.
pub struct RequestRules;

impl utoipa::Modify for RequestRules {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let exactly_one = |a: &str, b: &str| OneOfBuilder::new().item(only(a, b)).item(only(b, a)).into();
        let recommend_examples = || -> RefOr<Schema> {
            AnyOfBuilder::new()
                .item(some("positive"))
                .item(
                    some("negative").property(
                        "strategy",
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .enum_values(Some(["best_score", "sum_scores"])),
                    ),
                )
                .into()
        };
        let rules: Vec<(&str, RefOr<Schema>)> = vec![
            ("UpsertPoints", exactly_one("points", "batch")),
            ("PointStruct", exactly_one("vector", "text")),
            ("ImportLine", exactly_one("vector", "text")),
            ("PointsSelector", exactly_one("points", "filter")),
            ("SetPayload", exactly_one("points", "filter")),
            ("OverwritePayload", exactly_one("points", "filter")),
            ("DeletePayload", exactly_one("points", "filter")),
            // `vectors`, unless an embedding model gives the size.
            (
                "CreateCollection",
                AnyOfBuilder::new()
                    .item(ObjectBuilder::new().property("vectors", given()).required("vectors"))
                    .item(ObjectBuilder::new().property("embedding", given()).required("embedding"))
                    .into(),
            ),
            ("RecommendRequest", recommend_examples()),
            ("RecommendInput", recommend_examples()),
            // `oversampling` is only read (and checked) when the int8 results are rescored.
            (
                "QuantizationSearchParams",
                AnyOfBuilder::new()
                    .item(
                        ObjectBuilder::new().property(
                            "oversampling",
                            ObjectBuilder::new()
                                .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
                                .minimum(Some(1)),
                        ),
                    )
                    .item(
                        ObjectBuilder::new()
                            .property(
                                "ignore",
                                ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([true])),
                            )
                            .required("ignore"),
                    )
                    .item(
                        ObjectBuilder::new()
                            .property(
                                "rescore",
                                ObjectBuilder::new().schema_type(Type::Boolean).enum_values(Some([false])),
                            )
                            .required("rescore"),
                    )
                    .into(),
            ),
        ];
        let Some(components) = doc.components.as_mut() else { return };
        for (name, rule) in rules {
            if let Some(fields) = components.schemas.remove(name) {
                let both = AllOfBuilder::new().item(fields).item(rule);
                components.schemas.insert(name.to_string(), both.into());
            }
        }
    }
}

/// The rebuild body may be left out (or blank), but is not `null`: utoipa can only make a body
/// optional by making it an `Option`, which also lets it be `null`, so this puts it right.
pub struct OptionalRebuildBody;

impl utoipa::Modify for OptionalRebuildBody {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{Ref, Required};
        let op = doc.paths.paths.get_mut("/collections/{name}/index/rebuild").and_then(|p| p.post.as_mut());
        if let Some(body) = op.and_then(|op| op.request_body.as_mut()) {
            body.required = Some(Required::False);
            for content in body.content.values_mut() {
                content.schema = Some(Ref::from_schema_name("RebuildRequest").into());
            }
        }
    }
}

/// `quantization_config` of a rebuild: a [`QuantizationConfig`], or `"disabled"` in any case.
pub(crate) fn rebuild_quantization() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[Dd][Ii][Ss][Aa][Bb][Ll][Ee][Dd]$"))
                .description(Some("\"Disabled\" (any case) switches quantization off")),
        )
        .item(utoipa::openapi::Ref::from_schema_name("QuantizationConfig"))
        .description(Some(
            "`{\"scalar\": {\"type\": \"int8\"}}`, or `\"Disabled\"` to switch quantization off",
        ))
        .into()
}
