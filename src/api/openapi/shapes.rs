//! Types that exist only to be described in the OpenAPI document: path parameters, the error
//! envelope, and request bodies the handlers read in another form (a `serde_json::Value`, a
//! stream, another struct). Nothing constructs them.

#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::RefOr;

use super::{null_only, unsupported};
use crate::collection::{ExtId, Filter, Payload, Strategy};

/// Accepted for compatibility, ignored.
type Ignored = Option<Value>;

// ---- path parameters ----------------------------------------------------------------------------
// The handlers take these as plain strings and numbers; the names are checked when a collection is
// created or a snapshot written, so one that does not match was never made (404, or 400 where the
// name is checked first).

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct CollectionName {
    /// Collection name: 1-255 of A-Z a-z 0-9 _ - . (not `.` or `..`).
    #[param(
        pattern = r"^([A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*|\.{3,})$",
        min_length = 1,
        max_length = 255
    )]
    pub name: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SnapshotName {
    /// Snapshot file name: A-Z a-z 0-9 _ - ., ending in `.snapshot`, not starting with a dot.
    #[param(pattern = r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.snapshot$", max_length = 255)]
    pub snapshot: String,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct JobId {
    /// Job id.
    #[param(maximum = 18446744073709551615_u64)]
    pub id: u64,
}

// ---- the error envelope -------------------------------------------------------------------------

/// The body of every error answer (4xx and 5xx), in Qdrant's envelope: the reason is in
/// `status.error`, `result` is `null`. Built by `ApiError` (src/api/error.rs).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    pub status: ErrorStatus,
    #[schema(schema_with = null_only, required = true)]
    pub result: Option<()>,
    /// 0 in an error.
    pub time: f64,
}

/// The 503 of a search: overloaded (`search.max_concurrent` running and `search.max_queued`
/// waiting, or `embedding.max_queued` texts waiting for the model) or not finished within
/// `search.timeout_ms`.
#[derive(utoipa::IntoResponses)]
#[response(
    status = 503,
    description = "overloaded (search.max_concurrent running and search.max_queued waiting, or embedding.max_queued texts waiting for the model) or not finished within search.timeout_ms; retry after Retry-After",
    headers(("Retry-After" = u32, description = "seconds to wait before retrying"))
)]
pub struct Busy(ErrorResponse);

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorStatus {
    /// What was wrong, naming the offending field or value (a 5xx says only "internal error";
    /// the details are in the server log).
    pub error: String,
    /// What went wrong, as a stable name (README, "Errors").
    #[schema(schema_with = error_codes)]
    pub code: String,
}

fn error_codes() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(super::super::Code::ALL.map(|c| c.name())))
}

// ---- request shapes the handlers parse by hand --------------------------------------------------
// These types only describe JSON that `points.rs`, `query.rs` and `embed.rs` read from a
// `serde_json::Value`; nothing constructs them.

/// A dense vector: as many numbers as the collection's size. Its squared norm must fit in an f32
/// (a quarter of one for Dot and Euclid), so no component exceeds √f32::MAX in magnitude.
pub struct Vector;

impl utoipa::PartialSchema for Vector {
    fn schema() -> RefOr<Schema> {
        let bound = f64::from(f32::MAX).sqrt();
        ArrayBuilder::new()
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::Number)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Float)))
                    .minimum(Some(-bound))
                    .maximum(Some(bound)),
            )
            .min_items(Some(1))
            .max_items(Some(crate::collection::config::MAX_DIM))
            .description(Some(
                "A dense vector: as many numbers as the collection's size; its squared norm must fit in an f32 (a quarter of one for Dot and Euclid)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Vector {}

/// Qdrant's `Document`: a text the collection's embedding model turns into a vector.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Not blank.
    #[schema(pattern = r"\S")]
    pub text: String,
    /// The collection's model (the only one accepted); default: the collection's.
    #[schema(min_length = 1)]
    pub model: Option<String>,
    /// Accepted and ignored.
    #[schema(value_type = Option<Value>)]
    pub options: Ignored,
}

/// A point's vectors: numbers (the unnamed vector), a map of them by vector name, or a
/// document to embed (into the unnamed vector).
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum VectorInput {
    Dense(Vector),
    Named(std::collections::BTreeMap<String, Vector>),
    Text(Document),
}

/// A recommendation example: a vector, the id of a stored point, or a document.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum ExampleInput {
    Dense(Vector),
    Point(ExtId),
    Text(Document),
}

/// `query` of `points/query`: a vector, a point id or a document (all: nearest to it),
/// `{"nearest": …}` (with `mmr`: diversified), `{"recommend": …}`, `{"discover": …}` or
/// `{"context": …}`.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum QueryInput {
    Dense(Vector),
    Point(ExtId),
    Text(Document),
    Nearest(NearestQuery),
    Recommend(RecommendQuery),
    OrderBy(crate::api::order_by::OrderByQuery),
    Discover(super::DiscoverQuery),
    Context(super::ContextQuery),
}

#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NearestQuery {
    pub nearest: ExampleInput,
    pub mmr: Option<super::MmrInput>,
}

#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendQuery {
    pub recommend: RecommendInput,
}

/// At least one positive example, unless `strategy` is best_score or sum_scores and there is a
/// negative one.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendInput {
    pub positive: Option<Vec<ExampleInput>>,
    pub negative: Option<Vec<ExampleInput>>,
    pub strategy: Option<Strategy>,
}

/// The legacy search's `vector`: numbers (the unnamed vector), or Qdrant's named form.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum SearchVector {
    Dense(Vector),
    Named(NamedVector),
}

/// `{"name": "text", "vector": [...]}`: the vector named `name` (`""`: the unnamed one).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedVector {
    pub name: Option<String>,
    pub vector: Vector,
}

/// A payload index's type: its name, or `{"type": name, …}` with the type's parameters.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum FieldSchema {
    Name(crate::collection::FieldType),
    Object(FieldSchemaObject),
}

/// `{"type": …}` and the parameters of that type; a parameter the type does not take is a 400.
/// `on_disk`, `is_tenant`, `is_principal` are accepted and shown; every index is in memory.
#[derive(utoipa::ToSchema)]
pub struct FieldSchemaObject {
    #[serde(rename = "type")]
    pub kind: crate::collection::FieldType,
    /// text: `word` (default: split on anything not a letter or digit), `whitespace`, `prefix`
    /// (documents are indexed with each word's prefixes) or `multilingual` (as `word` here).
    #[schema(value_type = Option<String>)]
    pub tokenizer: Option<String>,
    /// text: shorter tokens (in characters) are dropped, in documents and queries.
    pub min_token_len: Option<usize>,
    /// text: longer tokens are dropped (the prefix tokenizer stops its prefixes there).
    pub max_token_len: Option<usize>,
    /// text: lowercase tokens (default true).
    pub lowercase: Option<bool>,
    /// text: keep token order, which `match.phrase` needs (default false).
    pub phrase_matching: Option<bool>,
    /// integer: `match` through the index (default true; not both `lookup` and `range` false).
    pub lookup: Option<bool>,
    /// integer: `range` through the index (default true).
    pub range: Option<bool>,
    /// keyword, uuid: accepted and shown.
    pub is_tenant: Option<bool>,
    /// integer, float, datetime: accepted and shown.
    pub is_principal: Option<bool>,
    /// any type: accepted and shown.
    pub on_disk: Option<bool>,
}

/// `PUT /collections/{c}/points/payload` (the handler reads a [`SetPayload`]): replaces the
/// whole payload of the selected points; `key` is not supported here.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverwritePayload {
    #[schema(value_type = Object)]
    pub payload: Payload,
    pub points: Option<Vec<ExtId>>,
    pub filter: Option<Filter>,
    #[schema(schema_with = unsupported)]
    pub key: Option<String>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

// ---- admin request bodies the handlers read as other types or as a stream ----------------------

/// The JSON form of an import: a file on the server (the handler reads a `jobs::FileImport`).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileImportRequest {
    /// A file relative to storage.import_dir, or absolute inside it.
    #[schema(min_length = 1)]
    pub path: String,
    pub format: ImportFormat,
    /// fvecs and npy: the first row's id (ids are row numbers plus this).
    #[serde(default)]
    #[schema(maximum = 18446744073709551615_u64)]
    pub ids_from: u64,
    #[serde(default)]
    pub on_error: ImportOnError,
}

/// `jsonl` (one point per line, as in an NDJSON import), `fvecs` (ann-benchmarks) or `npy` (a
/// 2-D little-endian float32 array).
#[derive(utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportFormat {
    Jsonl,
    Fvecs,
    Npy,
}

/// `fail` (default): stop at the first bad row; `skip`: record it in the job and go on.
#[derive(Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportOnError {
    #[default]
    Fail,
    Skip,
}

/// One line of an NDJSON import: a point (blank lines are skipped).
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportLine {
    pub id: ExtId,
    pub vector: Option<Vector>,
    /// In place of `vector`: a text the collection's embedding model embeds.
    #[schema(pattern = r"\S")]
    pub text: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Value>,
}

/// A snapshot file, as the raw body of an upload (`application/octet-stream`).
pub struct SnapshotFile;

impl utoipa::PartialSchema for SnapshotFile {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
            .description(Some("a snapshot file (as `POST /collections/{name}/snapshots` writes them)"))
            .into()
    }
}

impl utoipa::ToSchema for SnapshotFile {}

/// A snapshot upload as `multipart/form-data`: the first part is the file, whatever its name.
#[derive(utoipa::ToSchema)]
pub struct SnapshotForm {
    #[schema(value_type = String, format = Binary, content_media_type = "application/octet-stream")]
    pub snapshot: Vec<u8>,
}
