//! `/collections…`: create, inspect, list, delete; payload indexes.

use std::time::Instant;

use axum::extract::State;
use serde_json::{json, Value};

use super::extract::{name_length, Body, MetaParams, Params, Path, Rules, WaitParam};
use super::models::{
    CreateCollection, CreateFieldIndex, HnswConfigDiff, QuantizationConfig, UpdateResult, VectorParams,
    VectorsConfig,
};
use super::openapi::{CollectionName, ErrorResponse};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use std::collections::BTreeMap;

use crate::collection::{
    CollectionConfig, Distance, FieldSchema, HnswConfig, ScalarQuantization, SparseVectorConfig,
    VectorConfig, MAX_DIM,
};

/// Most vectors a collection may have (vicinity's bound: each is an index of its own).
const MAX_VECTORS: usize = 64;
/// Longest vector name, in bytes (Qdrant's newest rule).
const MAX_VECTOR_NAME_BYTES: usize = 200;

/// Default rescoring oversampling for int8 collections.
const DEFAULT_OVERSAMPLING: f32 = 3.0;

/// `base` with the fields the diff sets.
pub(super) fn apply_hnsw_diff(base: HnswConfig, d: &HnswConfigDiff) -> HnswConfig {
    HnswConfig {
        m: d.m.unwrap_or(base.m),
        ef_construct: d.ef_construct.unwrap_or(base.ef_construct),
        full_scan_threshold: d.full_scan_threshold.unwrap_or(base.full_scan_threshold),
    }
}

/// Qdrant's rules for an HNSW config at `at` (`hnsw_config`, `vectors.hnsw_config`), with the
/// engine's upper bounds.
pub(super) fn hnsw_rules(rules: &mut Rules, at: &str, d: &HnswConfigDiff) {
    if let Some(m) = d.m {
        rules.range(format!("{at}.m"), m, 2, 64);
    }
    if let Some(ef) = d.ef_construct {
        rules.min(format!("{at}.ef_construct"), ef, 4);
        rules.max(format!("{at}.ef_construct"), ef, 4096);
    }
}

pub(super) fn quantization(q: Option<&QuantizationConfig>) -> Result<Option<ScalarQuantization>, ApiError> {
    let Some(q) = q else { return Ok(None) };
    if q.product.is_some() || q.binary.is_some() {
        return Err(ApiError::bad("quantization_config: only scalar (int8) quantization is supported"));
    }
    match &q.scalar {
        None => Ok(None),
        Some(s) if s.kind == "int8" => {
            let mut rules = Rules::default();
            if let Some(quantile) = s.quantile {
                rules.range("quantization_config.scalar.quantile", quantile, 0.5, 1.0);
            }
            rules.check()?;
            Ok(Some(ScalarQuantization { oversampling: DEFAULT_OVERSAMPLING }))
        }
        Some(s) => {
            Err(ApiError::bad(format!("quantization_config.scalar.type must be \"int8\", got {:?}", s.kind)))
        }
    }
}

/// Qdrant's rules for a new collection: its name (422 in the path), then its body's values.
fn create_rules(name: &str, body: &CreateCollection) -> Result<(), ApiError> {
    let mut path = Rules::default();
    name_length(&mut path, name);
    if let Some(c) = crate::catalog::FORBIDDEN.iter().find(|c| name.contains(**c)) {
        path.broken("name", format!("collection name cannot contain \"{c}\" char"));
    } else if name == "." || name == ".." {
        path.broken("name", format!("collection name cannot be {name:?}"));
    }
    path.check_in("path parameters")?;
    let vectors: Vec<_> = body.vectors.iter().flat_map(VectorsConfig::by_name).collect();
    // Each vector is an index of its own: their number bounds a collection's cost.
    if vectors.len() > MAX_VECTORS {
        return Err(ApiError::bad(format!(
            "vectors: at most {MAX_VECTORS} vectors per collection, got {}",
            vectors.len()
        )));
    }
    if let Some((name, ..)) = vectors.iter().find(|(name, ..)| name.len() > MAX_VECTOR_NAME_BYTES) {
        return Err(ApiError::bad(format!(
            "Invalid dense vector name `{name}`: vector name must be at most {MAX_VECTOR_NAME_BYTES} bytes long"
        )));
    }
    let mut rules = Rules::default();
    for (name, v, at) in vectors {
        // Qdrant's size is a non-zero type: 0 fails to parse (400); too large breaks a rule (422).
        if v.size == 0 {
            let at = if name.is_empty() { "vectors".to_string() } else { format!("vectors.{name}") };
            return Err(ApiError::bad(format!(
                "Format error in JSON body: {at}.size: invalid value: integer `0`, expected a nonzero size from 1 to 65536"
            )));
        }
        rules.range(format!("{at}.size"), v.size, 1, MAX_DIM);
        if let Some(h) = &v.hnsw_config {
            hnsw_rules(&mut rules, &format!("{at}.hnsw_config"), h);
        }
    }
    if let Some(h) = &body.hnsw_config {
        hnsw_rules(&mut rules, "hnsw_config", h);
    }
    for (field, value) in [
        ("shard_number", body.shard_number),
        ("replication_factor", body.replication_factor),
        ("write_consistency_factor", body.write_consistency_factor),
    ] {
        if let Some(n) = value {
            rules.min(field, n, 1);
        }
    }
    rules.check()
}

#[utoipa::path(
    put, path = "/collections/{name}", operation_id = "create_collection",
    request_body = CreateCollection,
    params(CollectionName, MetaParams),
    responses(
        (status = 200, description = "created"),
        (status = 400, description = "bad JSON body or collection name, an invalid config (size, distance, hnsw_config, quantization_config, index), no `vectors` and no embedding model, or a model the server did not load", body = ErrorResponse),
        (status = 409, description = "a collection of this name exists", body = ErrorResponse),
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(meta): Params<MetaParams>,
    Body(body): Body<CreateCollection>,
) -> ApiResult {
    let started = Instant::now();
    meta.check()?;
    create_rules(&name, &body)?;
    // A collection with a model may leave out `vectors`: the model's size, cosine.
    let model_dim = match &body.embedding {
        Some(e) => Some(super::embed::embedder(&st)?.spec(Some(&e.model)).map_err(ApiError::from)?.dim),
        None => None,
    };
    let hnsw = body.hnsw_config.iter().fold(HnswConfig::default(), apply_hnsw_diff);
    let quant = quantization(body.quantization_config.as_ref())?;
    let index = body.index.unwrap_or_default();
    let vector = |slot: usize, size: usize, distance: Distance, p: Option<&VectorParams>| {
        let own_hnsw = p.and_then(|p| p.hnsw_config.as_ref());
        let own_quant = p.and_then(|p| p.quantization_config.as_ref());
        Ok::<_, ApiError>(VectorConfig {
            slot: slot as u32,
            size,
            distance,
            hnsw: own_hnsw.map_or(hnsw.clone(), |d| apply_hnsw_diff(hnsw.clone(), d)),
            quantization: match own_quant {
                Some(q) => quantization(Some(q))?,
                None => quant.clone(),
            },
            index: index.clone(),
        })
    };
    let vectors: BTreeMap<String, VectorConfig> = match (&body.vectors, model_dim) {
        (Some(v), _) => v
            .by_name()
            .into_iter()
            .enumerate()
            .map(|(slot, (name, p, _))| Ok((name, vector(slot, p.size, p.distance, Some(p))?)))
            .collect::<Result<_, ApiError>>()?,
        (None, Some(dim)) => BTreeMap::from([(String::new(), vector(0, dim, Distance::Cosine, None)?)]),
        (None, None) if body.sparse_vectors.as_ref().is_some_and(|s| !s.is_empty()) => BTreeMap::new(),
        (None, None) => {
            return Err(ApiError::bad(
                "vectors: required (or name an embedding model, or give sparse_vectors)",
            ))
        }
    };
    if let (Some(dim), Some(e), Some(v)) = (model_dim, &body.embedding, vectors.get("")) {
        if dim != v.size {
            return Err(ApiError::bad(format!(
                "vectors.size is {} but embedding model `{}` produces {dim}-d vectors",
                v.size, e.model
            )));
        }
    }
    let first_sparse_slot = vectors.len() as u32;
    let sparse_vectors = body
        .sparse_vectors
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(i, (name, p))| {
            (
                name,
                SparseVectorConfig {
                    slot: first_sparse_slot + i as u32,
                    index: p.index,
                    modifier: p.modifier,
                },
            )
        })
        .collect();
    let config = CollectionConfig {
        id: 0,
        hnsw,
        quantization: quant,
        vectors,
        sparse_vectors,
        payload_schema: Default::default(),
        embedding: body.embedding,
        recommendation: body.recommendation.unwrap_or_default(),
    };
    config.recommendation.validate()?;
    let catalog = st.catalog.clone();
    blocking(move || catalog.create(&name, config)).await?;
    Ok(ok(true, started))
}

#[utoipa::path(
    get, path = "/collections/{name}",
    params(CollectionName),
    responses(
        (status = 200, description = "collection info"),
        (status = 400, description = "bad path (not UTF-8) or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn info(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    // Stats take the index's and the payloads' locks and count per field: not on a runtime
    // worker, which a writer holding those locks would stall.
    let (config, (points, per_vector), points_per_field) =
        blocking(move || Ok((c.config(), c.stats(), c.field_index_counts()))).await?;
    let payload_schema: serde_json::Map<String, Value> = config
        .payload_schema
        .iter()
        .map(|(k, t)| {
            let mut info =
                json!({"data_type": t.kind(), "points": points_per_field.get(k).copied().unwrap_or(0)});
            if let Some(params) = t.params_json() {
                info["params"] = params;
            }
            (k.clone(), info)
        })
        .collect();
    let quantization_json = |q: &Option<ScalarQuantization>| {
        q.as_ref().map(|_| json!({"scalar": {"type": "int8", "quantile": null, "always_ram": true}}))
    };
    let hnsw_json = |h: &HnswConfig| {
        json!({
            "m": h.m,
            "ef_construct": h.ef_construct,
            "full_scan_threshold": h.full_scan_threshold,
            "max_indexing_threads": 0,
            "on_disk": false
        })
    };
    let quantization = quantization_json(&config.quantization);
    // Each vector's params; its own HNSW and quantization settings only where they differ from
    // the collection's, as Qdrant shows them.
    let params = |v: &VectorConfig| {
        let mut p = json!({"size": v.size, "distance": v.distance});
        if v.hnsw != config.hnsw {
            p["hnsw_config"] = hnsw_json(&v.hnsw);
        }
        if v.quantization != config.quantization {
            p["quantization_config"] = quantization_json(&v.quantization).unwrap_or(Value::Null);
        }
        p
    };
    let vectors = match config.vectors.get("") {
        Some(v) if config.vectors.len() == 1 => params(v),
        _ => config
            .vectors
            .iter()
            .map(|(n, v)| (n.clone(), params(v)))
            .collect::<serde_json::Map<_, _>>()
            .into(),
    };
    let (deleted, bytes) = per_vector.values().fold((0, 0), |(d, b), (vd, vb)| (d + vd, b + vb));
    let mut engines: serde_json::Map<String, Value> = config
        .vectors
        .iter()
        .map(|(n, v)| {
            let (d, b) = per_vector.get(n).copied().unwrap_or_default();
            (n.clone(), json!({"backend": v.index.backend(), "index": v.index, "deleted_points": d, "index_bytes": b}))
        })
        .collect();
    let mut sparse = serde_json::Map::new();
    for (n, v) in &config.sparse_vectors {
        let (_, b) = per_vector.get(n).copied().unwrap_or_default();
        engines.insert(n.clone(), json!({"backend": "sparse", "deleted_points": 0, "index_bytes": b}));
        let mut shown = json!({});
        if let Some(index) = &v.index {
            shown["index"] = json!(index);
        }
        if let Some(modifier) = v.modifier {
            shown["modifier"] = json!(modifier);
        }
        sparse.insert(n.clone(), shown);
    }
    let first = config.vectors.values().next();
    let mut info = json!({
        "status": "green",
        "optimizer_status": "ok",
        "indexed_vectors_count": points,
        "points_count": points,
        "segments_count": 1,
        "config": {
            "params": {
                "vectors": vectors,
                "shard_number": 1,
                "replication_factor": 1,
                "write_consistency_factor": 1,
                "on_disk_payload": false
            },
            "hnsw_config": hnsw_json(&config.hnsw),
            "optimizer_config": {
                "deleted_threshold": 0.2,
                "vacuum_min_vector_number": 1000,
                "default_segment_number": 1,
                "max_segment_size": null,
                "memmap_threshold": null,
                "indexing_threshold": 0,
                "flush_interval_sec": 5,
                "max_optimization_threads": null
            },
            "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
            "quantization_config": quantization
        },
        "payload_schema": payload_schema,
        "embedding": config.embedding,
        "recommendation": config.recommendation,
        "vicinity": {
            "deleted_points": deleted,
            "index_bytes": bytes,
            "backend": first.map(|v| v.index.backend()),
            "index": first.map(|v| &v.index),
            "vectors": engines
        }
    });
    if !sparse.is_empty() {
        info["config"]["params"]["sparse_vectors"] = sparse.into();
    }
    Ok(ok(info, started))
}

#[utoipa::path(
    get, path = "/collections", operation_id = "get_collections",
    responses(
        (status = 200, description = "collection names"),
    )
)]
pub async fn list(State(st): State<AppState>) -> ApiResult {
    let started = Instant::now();
    #[derive(serde::Serialize)]
    struct Name {
        name: String,
    }
    #[derive(serde::Serialize)]
    struct Names {
        collections: Vec<Name>,
    }
    let collections = st.catalog.names().into_iter().map(|name| Name { name }).collect();
    Ok(ok(Names { collections }, started))
}

#[utoipa::path(
    get, path = "/collections/{name}/exists",
    params(("name" = String, Path, description = "collection name (any string: an invalid name does not exist)")),
    responses(
        (status = 200, description = "whether it exists"),
        (status = 400, description = "bad path (not UTF-8) or unreadable request body", body = ErrorResponse),
    )
)]
pub async fn exists(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let started = Instant::now();
    #[derive(serde::Serialize)]
    struct Exists {
        exists: bool,
    }
    Ok(ok(Exists { exists: st.catalog.get(&name).is_ok() }, started))
}

#[utoipa::path(
    delete, path = "/collections/{name}",
    params(CollectionName, MetaParams),
    responses(
        (status = 200, description = "true when a collection was deleted, false when there was none (as in Qdrant: deleting is idempotent)"),
        (status = 400, description = "bad path (not UTF-8) or unreadable request body", body = ErrorResponse),
    )
)]
pub async fn remove(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(meta): Params<MetaParams>,
) -> ApiResult {
    let started = Instant::now();
    meta.check()?;
    let catalog = st.catalog.clone();
    let deleted = blocking(move || catalog.delete(&name)).await?;
    Ok(ok(deleted, started))
}

#[utoipa::path(
    put, path = "/collections/{name}/index",
    request_body = CreateFieldIndex,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, an empty field_name, an unknown field type, or parameters the type does not take (or that vicinity does not implement: a text index's ascii_folding, stopwords, stemmer)", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn create_field_index(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<CreateFieldIndex>,
) -> ApiResult {
    let started = Instant::now();
    let flag = |k: &str| body.field_schema.get(k).and_then(Value::as_bool);
    if body.field_schema.get("type").and_then(Value::as_str) == Some("integer")
        && flag("lookup") == Some(false)
        && flag("range") == Some(false)
    {
        let mut rules = Rules::default();
        rules.broken(
            "field_schema.lookup",
            "Validation error: the 'lookup' and 'range' capabilities can't be both disabled [{}]",
        );
        rules.check()?;
    }
    let schema = FieldSchema::parse(&body.field_schema)
        .map_err(|e| ApiError::bad(format!("Format error in JSON body: {e}")))?;
    if body.field_name.is_empty() {
        return Err(ApiError::bad("field_name must not be empty"));
    }
    crate::collection::json_path::parse(&body.field_name)
        .map_err(|e| ApiError::bad(format!("Format error in JSON body: field_name: {e}")))?;
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.create_field_index(&body.field_name, schema, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

#[utoipa::path(
    delete, path = "/collections/{name}/index/{field}",
    params(CollectionName, ("field" = String, Path, description = "the indexed payload field"), WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad path or `wait`, or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection, or no index on this field", body = ErrorResponse),
    )
)]
pub async fn delete_field_index(
    State(st): State<AppState>,
    Path((name, field)): Path<(String, String)>,
    Params(wait): Params<WaitParam>,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.delete_field_index(&field, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}
