//! Request and response bodies, shaped as Qdrant's. As in Qdrant, a field no version of Qdrant
//! knows is ignored (clients of newer versions keep working), except inside filters and payload
//! selectors. Every field Qdrant knows is declared: supported; accepted with no effect where it
//! cannot change an answer on a single node (sharding, replication, optimizer and WAL tuning,
//! on-disk flags); or refused with a 400 naming it (typed `unsupported`).

// Fields typed `Ignored` are parsed (so a wrong type is still an error) but never read.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::openapi::{int8, unsupported, ExampleInput, FieldSchema, QueryInput, SearchVector, VectorInput};
use crate::collection::{Distance, ExtId, Filter, Payload, PayloadSelector, Strategy, VectorSelector};

/// `with_payload` as Qdrant takes it: `true` / `false`, a list of keys, or `{"include": [...]}`
/// / `{"exclude": [...]}`; parsed by hand so a wrong shape or an unknown field is named.
#[derive(Clone, Debug)]
pub struct WithPayload(pub PayloadSelector);

impl WithPayload {
    /// The selector a request asked for, or all / none by default.
    pub fn or(w: Option<WithPayload>, all: bool) -> PayloadSelector {
        w.map_or(PayloadSelector::Bool(all), |w| w.0)
    }
}

impl<'de> Deserialize<'de> for WithPayload {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fields {
            include: Option<Vec<String>>,
            exclude: Option<Vec<String>>,
        }
        let v = Value::deserialize(d)?;
        let paths = |keys: &Option<Vec<String>>| -> Result<(), String> {
            for k in keys.iter().flatten() {
                crate::collection::json_path::parse(k)?;
            }
            Ok(())
        };
        let selector = match v {
            Value::Bool(b) => Ok(PayloadSelector::Bool(b)),
            Value::Array(_) => serde_json::from_value(v)
                .map(PayloadSelector::Include)
                .map_err(|e| format!("expected a list of payload keys: {e}")),
            Value::Object(_) => serde_json::from_value::<Fields>(v)
                .map(|f| PayloadSelector::Fields { include: f.include, exclude: f.exclude })
                .map_err(|e| format!("{e} (expected include, exclude)")),
            Value::Null | Value::Number(_) | Value::String(_) => Err(format!(
                "expected true, false, a list of keys or {{\"include\"/\"exclude\": [keys]}}, got {v}"
            )),
        };
        let selector = selector.and_then(|s| {
            match &s {
                PayloadSelector::Include(keys) => paths(&Some(keys.clone()))?,
                PayloadSelector::Fields { include, exclude } => {
                    paths(include)?;
                    paths(exclude)?
                }
                PayloadSelector::None | PayloadSelector::Bool(_) => {}
            }
            Ok(s)
        });
        selector.map(WithPayload).map_err(serde::de::Error::custom)
    }
}

/// Written back in the wire form (the result cache keys requests by it).
impl Serialize for WithPayload {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Fields<'a> {
            include: &'a Option<Vec<String>>,
            exclude: &'a Option<Vec<String>>,
        }
        match &self.0 {
            PayloadSelector::None => s.serialize_bool(false),
            PayloadSelector::Bool(b) => s.serialize_bool(*b),
            PayloadSelector::Include(keys) => keys.serialize(s),
            PayloadSelector::Fields { include, exclude } => Fields { include, exclude }.serialize(s),
        }
    }
}

/// A recommendation's `strategy`, named as in Qdrant.
impl<'de> Deserialize<'de> for Strategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const NAMES: &[&str] = &["average_vector", "best_score", "sum_scores"];
        match String::deserialize(d)?.as_str() {
            "average_vector" => Ok(Strategy::AverageVector),
            "best_score" => Ok(Strategy::BestScore),
            "sum_scores" => Ok(Strategy::SumScores),
            other => Err(serde::de::Error::unknown_variant(other, NAMES)),
        }
    }
}

/// Accepted for compatibility, ignored.
type Ignored = Option<Value>;

/// Qdrant's `vectors` in a create body: one [`VectorParams`] (the unnamed vector, `""`) or a
/// map of them by name (which may include `""`).
#[derive(Clone)]
pub enum VectorsConfig {
    Single(Box<VectorParams>),
    Named(std::collections::BTreeMap<String, VectorParams>),
}

impl VectorsConfig {
    /// The vectors by name, with the path Qdrant's messages name each one by.
    pub fn by_name(&self) -> Vec<(String, &VectorParams, &'static str)> {
        match self {
            VectorsConfig::Single(p) => vec![(String::new(), &**p, "vectors")],
            VectorsConfig::Named(m) => m.iter().map(|(n, p)| (n.clone(), p, "vectors.?")).collect(),
        }
    }
}

impl<'de> Deserialize<'de> for VectorsConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // One vector's params have a `size` and a `distance`; a map's values are objects.
        let v = Value::deserialize(d)?;
        let single = ["size", "distance"].iter().any(|k| v.get(k).is_some_and(|x| !x.is_object()));
        let parsed = match single {
            true => serde_path_to_error::deserialize(v).map(|p| VectorsConfig::Single(Box::new(p))),
            false => serde_path_to_error::deserialize(v).map(VectorsConfig::Named),
        };
        parsed.map_err(|e| {
            let rel = match e.path().to_string() {
                p if p == "." => String::new(),
                p => format!(".{p}"),
            };
            serde::de::Error::custom(super::extract::nested(&rel, &e.into_inner().to_string()))
        })
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateCollection {
    /// Required unless `embedding` names a model (then: the model's size, Cosine). One
    /// vector's params, or a map of them by vector name.
    #[schema(value_type = Option<VectorParams>)]
    pub vectors: Option<VectorsConfig>,
    /// vicinity: embed texts in upserts and queries with this model.
    pub embedding: Option<crate::collection::EmbeddingModel>,
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<QuantizationConfig>,
    /// vicinity: the index kind, `{"type": "hnsw"}` (default) or `{"type": "faiss", "factory": …}`.
    pub index: Option<crate::collection::IndexConfig>,
    /// vicinity: how users' events make recommendations (event type weights, half-life,
    /// history kept, interests, popularity weight).
    #[schema(value_type = Option<Object>)]
    pub recommendation: Option<crate::collection::RecommendationConfig>,
    /// At least 1; a single node keeps one shard and one replica whatever it says.
    #[schema(minimum = 1)]
    pub shard_number: Option<u32>,
    #[schema(value_type = Option<Value>)]
    pub sharding_method: Ignored,
    /// At least 1; a single node keeps one shard and one replica whatever it says.
    #[schema(minimum = 1)]
    pub replication_factor: Option<u32>,
    /// At least 1; a single node keeps one shard and one replica whatever it says.
    #[schema(minimum = 1)]
    pub write_consistency_factor: Option<u32>,
    #[schema(value_type = Option<Value>)]
    pub on_disk_payload: Ignored,
    #[schema(value_type = Option<Value>)]
    pub optimizers_config: Ignored,
    #[schema(value_type = Option<Value>)]
    pub wal_config: Ignored,
    #[schema(value_type = Option<Value>)]
    pub strict_mode_config: Ignored,
    #[schema(value_type = Option<Value>)]
    pub metadata: Ignored,
    /// Sparse vectors by name: `{"index": {…}, "modifier": "idf" | "none"}` each.
    pub sparse_vectors: Option<std::collections::BTreeMap<String, SparseVectorParams>>,
}

/// One sparse vector's settings (Qdrant's `SparseVectorParams`).
#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct SparseVectorParams {
    /// `full_scan_threshold`, `on_disk` (accepted and shown; every sparse index is exact and in
    /// memory) and `datatype` (`float32` only).
    #[schema(value_type = Option<Value>)]
    pub index: Option<crate::collection::SparseIndexParams>,
    /// `idf`: query weights are multiplied by each dimension's inverse document frequency.
    #[schema(value_type = Option<String>)]
    pub modifier: Option<crate::collection::Modifier>,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct VectorParams {
    #[schema(minimum = 1, maximum = 65536)]
    pub size: usize,
    pub distance: Distance,
    pub hnsw_config: Option<HnswConfigDiff>,
    pub quantization_config: Option<QuantizationConfig>,
    #[schema(value_type = Option<Value>)]
    pub on_disk: Ignored,
    #[schema(value_type = Option<Value>)]
    pub datatype: Ignored,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct HnswConfigDiff {
    #[schema(minimum = 2, maximum = 64)]
    pub m: Option<usize>,
    #[schema(minimum = 4, maximum = 4096)]
    pub ef_construct: Option<usize>,
    pub full_scan_threshold: Option<usize>,
    #[schema(value_type = Option<Value>)]
    pub max_indexing_threads: Ignored,
    #[schema(value_type = Option<Value>)]
    pub on_disk: Ignored,
    #[schema(value_type = Option<Value>)]
    pub payload_m: Ignored,
    #[schema(value_type = Option<Value>)]
    pub inline_storage: Ignored,
}

/// `{"scalar": {"type": "int8", "quantile"?, "always_ram"?}}`.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct QuantizationConfig {
    pub scalar: Option<ScalarConfig>,
    #[schema(schema_with = unsupported, required = false)]
    pub product: Ignored,
    #[schema(schema_with = unsupported, required = false)]
    pub binary: Ignored,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
pub struct ScalarConfig {
    #[serde(rename = "type")]
    #[schema(schema_with = int8)]
    pub kind: String,
    #[schema(minimum = 0.5, maximum = 1.0)]
    pub quantile: Option<f32>,
    pub always_ram: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PointStruct {
    pub id: ExtId,
    /// A list of numbers, or a document `{"text", "model"?}` to embed.
    #[schema(value_type = Option<VectorInput>)]
    pub vector: Option<Value>,
    /// vicinity: a text to embed in place of `vector` (the collection needs an embedding model).
    #[schema(pattern = r"\S")]
    pub text: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub payload: Option<Payload>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct Batch {
    pub ids: Vec<ExtId>,
    /// Lists of numbers, or documents `{"text", "model"?}` to embed, as many as `ids`; or a map
    /// from vector name to such a list of numbers.
    #[schema(value_type = Vec<VectorInput>)]
    pub vectors: Value,
    /// As many as `ids`; `null` for no payload.
    #[schema(value_type = Option<Vec<Option<Object>>>)]
    pub payloads: Option<Vec<Option<Payload>>>,
}

/// `{"points": [...]}` or `{"batch": {...}}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpsertPoints {
    pub points: Option<Vec<PointStruct>>,
    pub batch: Option<Batch>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
    /// An existing point is replaced only if it matches this filter; new points are inserted.
    pub update_filter: Option<Filter>,
    /// `upsert` (default), `insert_only` (existing points are left as they are) or
    /// `update_only` (new ids are not inserted).
    #[schema(value_type = Option<String>)]
    pub update_mode: Option<UpdateModeName>,
}

/// Qdrant's `update_mode`.
#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateModeName {
    Upsert,
    InsertOnly,
    UpdateOnly,
}

impl From<UpdateModeName> for crate::collection::UpdateMode {
    fn from(m: UpdateModeName) -> Self {
        match m {
            UpdateModeName::Upsert => crate::collection::UpdateMode::Upsert,
            UpdateModeName::InsertOnly => crate::collection::UpdateMode::InsertOnly,
            UpdateModeName::UpdateOnly => crate::collection::UpdateMode::UpdateOnly,
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RetrievePoints {
    pub ids: Vec<ExtId>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

/// `with_vector`: a bool or a list of vector names.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum WithVector {
    Bool(bool),
    Names(Vec<String>),
}

impl WithVector {
    pub fn selector(w: &Option<WithVector>) -> VectorSelector {
        match w {
            None | Some(WithVector::Bool(false)) => VectorSelector::None,
            Some(WithVector::Bool(true)) => VectorSelector::All,
            Some(WithVector::Names(n)) => VectorSelector::Names(n.clone()),
        }
    }
}

/// One point of `PUT /collections/{c}/points/vectors`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PointVectors {
    pub id: ExtId,
    /// The vectors to replace: a map by name, or a list (the unnamed vector).
    #[serde(alias = "vectors")]
    #[schema(value_type = Object)]
    pub vector: Value,
}

/// `PUT /collections/{c}/points/vectors`: replace some vectors of existing points.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateVectors {
    pub points: Vec<PointVectors>,
    /// Only points that match it are updated.
    pub update_filter: Option<Filter>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

/// `POST /collections/{c}/points/vectors/delete`: remove named vectors from points.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeleteVectors {
    pub points: Option<Vec<ExtId>>,
    pub filter: Option<Filter>,
    /// The vector names to remove (`""`: the unnamed vector).
    #[serde(alias = "vectors")]
    pub vector: Vec<String>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

/// Point selection for delete and payload updates: `points` (ids) or `filter`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PointsSelector {
    pub points: Option<Vec<ExtId>>,
    pub filter: Option<Filter>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SetPayload {
    #[schema(value_type = Object)]
    pub payload: Payload,
    pub points: Option<Vec<ExtId>>,
    pub filter: Option<Filter>,
    pub key: Option<String>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DeletePayload {
    pub keys: Vec<String>,
    pub points: Option<Vec<ExtId>>,
    pub filter: Option<Filter>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ScrollRequest {
    pub offset: Option<ExtId>,
    /// Default 10; `limit` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    pub filter: Option<Filter>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    /// The points of an integer or float payload index in value order (each record with its
    /// `order_value`; `next_page_offset` is null): a key, or `{key, direction, start_from}`.
    /// Not with `offset`.
    #[schema(value_type = Option<super::order_by::OrderByInput>)]
    pub order_by: Option<Value>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CountRequest {
    pub filter: Option<Filter>,
    /// Accepted (default true); the count is always exact.
    pub exact: Option<bool>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct QuantizationSearchParams {
    pub ignore: Option<bool>,
    pub rescore: Option<bool>,
    /// At least 1, unless `ignore` is true or `rescore` false (then it is not used).
    pub oversampling: Option<f32>,
}

#[derive(Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
pub struct SearchParamsBody {
    #[schema(minimum = 1)]
    pub hnsw_ef: Option<usize>,
    /// vicinity, Faiss IVF indexes: inverted lists probed by this request.
    #[schema(minimum = 1)]
    pub nprobe: Option<usize>,
    pub exact: Option<bool>,
    pub quantization: Option<QuantizationSearchParams>,
    #[schema(value_type = Option<Value>)]
    pub indexed_only: Ignored,
    #[schema(value_type = Option<Value>)]
    pub acorn: Ignored,
}

/// A query's `query`: a list of numbers becomes the vector as it is read (the hot path: no JSON
/// copy of it is made); anything else stays JSON for `parse_query`, which names what is wrong.
pub enum QueryValue {
    Vector(Vec<f32>),
    Other(Value),
}

impl Serialize for QueryValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            QueryValue::Vector(v) => v.serialize(s),
            QueryValue::Other(v) => v.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for QueryValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = QueryValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a vector, a point id or a query object")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<QueryValue, A::Error> {
                // Numbers are read straight into a vector; the first element that is not a
                // number turns the list back into JSON (then `parse_query` names the problem).
                let mut numbers: Vec<f64> = Vec::with_capacity(seq.size_hint().unwrap_or(384));
                while let Some(item) = seq.next_element::<Element>()? {
                    match item {
                        Element::Number(x) => numbers.push(x),
                        Element::Other(other) => {
                            let mut items: Vec<Value> = numbers.into_iter().map(Value::from).collect();
                            items.push(other);
                            while let Some(item) = seq.next_element::<Value>()? {
                                items.push(item);
                            }
                            return Ok(QueryValue::Other(Value::Array(items)));
                        }
                    }
                }
                // Out-of-range numbers become ±inf here and are refused by the vector checks.
                Ok(QueryValue::Vector(numbers.into_iter().map(|x| x as f32).collect()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<QueryValue, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(QueryValue::Other)
            }
            fn visit_u64<E>(self, v: u64) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::from(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::from(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<QueryValue, E> {
                Ok(QueryValue::Other(Value::Null))
            }
        }
        d.deserialize_any(Visit)
    }
}

/// One element of a query list: a number, kept as read, or any other JSON.
enum Element {
    Number(f64),
    Other(Value),
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Element;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Element, E> {
                Ok(Element::Number(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Element, E> {
                Ok(Element::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Element, E> {
                Ok(Element::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<Element, E> {
                Ok(Element::Other(Value::from(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Element, E> {
                Ok(Element::Other(Value::from(v)))
            }
            fn visit_unit<E>(self) -> Result<Element, E> {
                Ok(Element::Other(Value::Null))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<Element, A::Error> {
                Value::deserialize(serde::de::value::SeqAccessDeserializer::new(seq)).map(Element::Other)
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Element, A::Error> {
                Value::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(Element::Other)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// `POST /collections/{c}/points/query`. Written back (without `cache`), it is the canonical
/// form the result cache keys the request by.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct QueryRequest {
    /// A vector, a point id, a document, `{"nearest": …}`, `{"recommend": {"positive", "negative", "strategy"}}`
    /// or `{"order_by": …}` (an integer or float payload index's points in value order, each scored 1.0);
    /// without one, the points that match `filter` in id order (each scored 1.0, version 0), `offset` of them skipped.
    #[schema(value_type = QueryInput)]
    pub query: Option<QueryValue>,
    pub filter: Option<Filter>,
    /// Default 10; `limit + offset` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    #[serde(serialize_with = "threshold_key")]
    pub score_threshold: Option<f32>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    pub params: Option<SearchParamsBody>,
    /// The vector searched; the unnamed one (`""`) by default.
    pub using: Option<String>,
    /// Searches whose hits this query fuses (`{"fusion": "rrf" | "dbsf"}`, `{"rrf": {"k": …}}`)
    /// or rescores (any other query, run on their points only): one or a list; they nest.
    #[schema(value_type = Option<Vec<PrefetchBody>>)]
    pub prefetch: Ignored,
    #[schema(schema_with = unsupported, required = false)]
    pub lookup_from: Ignored,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
    /// vicinity: `false` bypasses the result cache for this request.
    #[serde(skip_serializing)]
    pub cache: Option<bool>,
}

/// One prefetch: a query of its own, with its own `using`, `filter`, `limit` (default 10),
/// `score_threshold`, `params` and prefetches.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PrefetchBody {
    /// Prefetches of this prefetch (one or a list).
    #[schema(value_type = Option<Value>)]
    pub prefetch: Ignored,
    #[schema(value_type = Option<QueryInput>)]
    pub query: Option<QueryValue>,
    pub using: Option<String>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParamsBody>,
    pub score_threshold: Option<f32>,
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    #[schema(schema_with = unsupported, required = false)]
    pub lookup_from: Ignored,
}

/// A score threshold in a result-cache key: a value too large for f32 reads as ±inf, which
/// JSON would write as `null` — the same as no threshold — so those are written as text.
pub fn threshold_key<S: serde::Serializer>(t: &Option<f32>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) if !t.is_finite() => s.serialize_str(&t.to_string()),
        other => other.serialize(s),
    }
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct QueryBatch {
    pub searches: Vec<QueryRequest>,
    /// vicinity: `false` bypasses the result cache for this request.
    #[serde(skip_serializing)]
    pub cache: Option<bool>,
}

/// Legacy `POST /collections/{c}/points/search`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchRequest {
    #[schema(value_type = SearchVector)]
    pub vector: QueryValue,
    pub filter: Option<Filter>,
    /// `limit + offset` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: usize,
    pub offset: Option<usize>,
    pub score_threshold: Option<f32>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    pub params: Option<SearchParamsBody>,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchBatch {
    pub searches: Vec<SearchRequest>,
}

/// Legacy `POST /collections/{c}/points/recommend`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecommendRequest {
    /// Vectors, point ids or documents; at least one unless `strategy` is best_score or
    /// sum_scores and `negative` has one.
    #[serde(default)]
    #[schema(value_type = Vec<ExampleInput>)]
    pub positive: Vec<Value>,
    #[serde(default)]
    #[schema(value_type = Vec<ExampleInput>)]
    pub negative: Vec<Value>,
    pub strategy: Option<Strategy>,
    pub filter: Option<Filter>,
    /// `limit + offset` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub limit: usize,
    pub offset: Option<usize>,
    #[serde(serialize_with = "threshold_key")]
    pub score_threshold: Option<f32>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    pub params: Option<SearchParamsBody>,
    /// The vector searched; the unnamed one (`""`) by default.
    pub using: Option<String>,
    #[schema(schema_with = unsupported, required = false)]
    pub lookup_from: Ignored,
    #[schema(value_type = Option<Value>)]
    pub shard_key: Ignored,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecommendBatch {
    pub searches: Vec<RecommendRequest>,
}

/// `PUT /collections/{c}/index`: `field_schema` is a type name or `{"type": …}`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct CreateFieldIndex {
    #[schema(min_length = 1)]
    pub field_name: String,
    #[schema(value_type = FieldSchema)]
    pub field_schema: Value,
}

/// A stored point as retrieve and scroll answer it; `payload` and `vector` are left out unless
/// asked for (as in Qdrant).
#[derive(Serialize, utoipa::ToSchema)]
pub struct Record<'a> {
    pub id: ExtId,
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Payload>,
    /// A list (the point has only the unnamed vector) or a map by vector name.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorsOut<'a>>,
    /// The value an `order_by` scroll ordered the point by.
    #[schema(value_type = Option<f64>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_value: Option<crate::collection::OrderValue>,
}

/// A point's vectors as Qdrant writes them: a plain list or a map by name.
pub struct VectorsOut<'a>(pub &'a crate::collection::PointVectors);

impl Serialize for VectorsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            crate::collection::PointVectors::Plain(v) => v.serialize(s),
            crate::collection::PointVectors::Named(m) => {
                s.collect_map(m.iter().map(|(n, v)| (n, VectorOut(v))))
            }
        }
    }
}

/// One vector: a list of numbers, or `{"indices": [...], "values": [...]}` when sparse.
struct VectorOut<'a>(&'a crate::collection::Vector);

impl Serialize for VectorOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self.0 {
            crate::collection::Vector::Dense(v) => v.serialize(s),
            crate::collection::Vector::Sparse(v) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("indices", v.indices())?;
                map.serialize_entry("values", v.values())?;
                map.end()
            }
        }
    }
}

impl<'a> Record<'a> {
    pub fn of(r: &'a crate::collection::Record) -> Self {
        Record {
            id: r.id,
            payload: r.payload.as_ref(),
            vector: r.vector.as_ref().map(VectorsOut),
            order_value: r.order_value,
        }
    }
}

/// Records serialised as a list of [`Record`], with no list of them built first.
pub struct Records<'a>(pub &'a [crate::collection::Record]);

impl Serialize for Records<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(Record::of))
    }
}

/// A search result (Qdrant's `ScoredPoint`); `payload` and `vector` are left out unless asked
/// for.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ScoredPoint<'a> {
    pub id: ExtId,
    pub version: u64,
    pub score: f32,
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<&'a Payload>,
    /// A list (the point has only the unnamed vector) or a map by vector name.
    #[schema(value_type = Option<Object>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vector: Option<VectorsOut<'a>>,
    /// The value an `order_by` query ordered the point by.
    #[schema(value_type = Option<f64>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_value: Option<crate::collection::OrderValue>,
}

impl<'a> ScoredPoint<'a> {
    pub fn of(h: &'a crate::collection::Hit) -> Self {
        ScoredPoint {
            id: h.id,
            version: h.version,
            score: h.score,
            payload: h.payload.as_ref(),
            vector: h.vector.as_ref().map(VectorsOut),
            order_value: h.order_value,
        }
    }
}

/// Hits serialised as a list of [`ScoredPoint`], with no list of them built first.
pub struct Hits<'a>(pub &'a [crate::collection::Hit]);

impl Serialize for Hits<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(ScoredPoint::of))
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UpdateResult {
    pub operation_id: u64,
    pub status: &'static str,
}

impl UpdateResult {
    pub fn new(seq: u64, sync: bool) -> Self {
        UpdateResult { operation_id: seq, status: if sync { "completed" } else { "acknowledged" } }
    }
}
