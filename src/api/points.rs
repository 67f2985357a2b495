//! `/collections/{c}/points…`: upsert, retrieve, delete, payload updates, scroll, count.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use serde_json::json;

use super::embed::TextInput;
use super::extract::{Body, Params, Path, ReadParams, Rules, WaitParam};
use super::models::{
    CountRequest, DeletePayload, PointsSelector, Record, Records, RetrievePoints, ScrollRequest, SetPayload,
    UpdateResult, UpsertPoints, WithVector,
};
use super::openapi::{CollectionName, ErrorResponse, OverwritePayload};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{
    json_path, Collection, ExtId, Filter, NewPoint, Payload, PayloadSelector, PayloadUpdate, Selector,
    Vector, VectorSelector, Vectors,
};
use vicinity_index::SparseVector;

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "bool",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "list",
        serde_json::Value::Object(_) => "object",
    }
}

enum VectorInput {
    Dense(Vec<f32>),
    Text(TextInput),
    Named(Vectors),
}

/// A list of numbers at `at`.
pub(super) fn numbers(v: &serde_json::Value, at: &str) -> Result<Vec<f32>, ApiError> {
    let serde_json::Value::Array(items) = v else {
        return Err(ApiError::bad(format!("{at}: expected a list of numbers, got {v}")));
    };
    items
        .iter()
        .enumerate()
        .map(|(j, x)| match x.as_f64() {
            // Out-of-range values become ±inf here and are refused by the vector checks.
            Some(f) => Ok(f as f32),
            None => Err(ApiError::bad(format!("{at}[{j}]: expected a number, got {} {x}", json_kind(x)))),
        })
        .collect()
}

/// A sparse vector's wire form, `{"indices": [...], "values": [...]}`, checked (as many values
/// as indices, each index a u32 once, values finite) and put in index order. `at` names the
/// field in 400s; `path` is Qdrant's path for its 422s (`points[0].vector.?`).
pub(super) fn sparse(v: &serde_json::Value, at: &str, path: &str) -> Result<SparseVector, ApiError> {
    let serde_json::Value::Object(map) = v else {
        return Err(ApiError::bad(format!(
            "{at}: expected {{\"indices\": [...], \"values\": [...]}}, got {v}"
        )));
    };
    if let Some(k) = map.keys().find(|k| *k != "indices" && *k != "values") {
        return Err(ApiError::bad(format!("{at}: unknown field `{k}`, expected `indices` and `values`")));
    }
    let field =
        |name: &str| map.get(name).ok_or_else(|| ApiError::bad(format!("{at}: missing field `{name}`")));
    let serde_json::Value::Array(raw) = field("indices")? else {
        return Err(ApiError::bad(format!("{at}.indices: expected a list of integers")));
    };
    let indices = raw
        .iter()
        .enumerate()
        .map(|(j, x)| {
            x.as_u64().and_then(|i| u32::try_from(i).ok()).ok_or_else(|| {
                ApiError::bad(format!(
                    "{at}.indices[{j}]: expected an integer from 0 to {}, got {x}",
                    u32::MAX
                ))
            })
        })
        .collect::<Result<Vec<u32>, ApiError>>()?;
    let values = numbers(field("values")?, &format!("{at}.values"))?;
    let mut broken = Vec::new();
    let mut sorted = indices.clone();
    sorted.sort_unstable();
    if sorted.windows(2).any(|w| w[0] == w[1]) {
        broken.push(format!("{path}.indices: Validation error: must be unique [{{}}]"));
    }
    if values.len() != indices.len() {
        broken.push(format!("{path}.values: Validation error: must be the same length as indices [{{}}]"));
    }
    if !broken.is_empty() {
        return Err(ApiError::invalid("JSON body", &broken));
    }
    if let Some(j) = values.iter().position(|x| !x.is_finite()) {
        return Err(ApiError::bad(format!(
            "{at}.values[{j}]: {} does not fit in f32",
            raw_number(field("values")?, j)
        )));
    }
    SparseVector::new(indices, values).map_err(|e| ApiError::bad(format!("{at}: {e}")))
}

/// The `j`th element of a JSON list, as written.
fn raw_number(list: &serde_json::Value, j: usize) -> String {
    list.get(j).map_or_else(String::new, |x| x.to_string())
}

/// One vector of a point: a list of numbers, or a sparse vector (`path`: see [`sparse`]).
pub(super) fn vector_value(v: &serde_json::Value, at: &str, path: &str) -> Result<Vector, ApiError> {
    if let Some(doc) = super::embed::document(v, at)? {
        return super::embed::bm25_document(&doc, at).map(Vector::Sparse);
    }
    match v {
        serde_json::Value::Object(_) => sparse(v, at, path).map(Vector::Sparse),
        serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_)
        | serde_json::Value::Array(_) => numbers(v, at).map(Vector::Dense),
    }
}

/// A point's vectors given as a map by name, each a list of numbers or a sparse vector.
pub(super) fn named(map: &serde_json::Map<String, serde_json::Value>, at: &str) -> Result<Vectors, ApiError> {
    map.iter()
        .map(|(name, v)| Ok((name.clone(), vector_value(v, &format!("{at}.{name}"), &format!("{at}.?"))?)))
        .collect()
}

/// A point's `vector` (numbers, a map of them by name, or a document) or vicinity's `text`,
/// exactly one of them.
fn vector_input(
    vector: Option<serde_json::Value>,
    text: Option<String>,
    at: &str,
    vec_at: &str,
) -> Result<VectorInput, ApiError> {
    match (vector, text) {
        (Some(v), None) if !v.is_null() => {
            if let Some(doc) = super::embed::document(&v, vec_at)? {
                if doc.is_bm25() {
                    return Err(ApiError::from(crate::error::Error::bad(format!(
                        "Wrong input: Conversion between sparse and regular vectors failed for vector '': {vec_at} is a BM25 document, which needs a sparse vector's name"
                    ))));
                }
                return Ok(VectorInput::Text(doc));
            }
            match &v {
                serde_json::Value::Object(map) => named(map, vec_at).map(VectorInput::Named),
                serde_json::Value::Null
                | serde_json::Value::Bool(_)
                | serde_json::Value::Number(_)
                | serde_json::Value::String(_)
                | serde_json::Value::Array(_) => numbers(&v, vec_at).map(VectorInput::Dense),
            }
        }
        (None, Some(text)) => Ok(VectorInput::Text(TextInput { text, model: None, options: None })),
        (Some(_), Some(_)) => Err(ApiError::bad(format!("{at}: give either `vector` or `text`, not both"))),
        (_, None) => Err(ApiError::bad(format!(
            "{at}: missing `vector` (or `text` for a collection with an embedding model)"
        ))),
    }
}

/// A batch's `vectors`: one input per id, or a map from vector name to one list per id.
fn batch_inputs(vectors: serde_json::Value, ids: usize) -> Result<Vec<VectorInput>, ApiError> {
    let count = |n: usize, at: &str| match n == ids {
        true => Ok(()),
        false => Err(ApiError::bad(format!("batch: {ids} ids but {n} vectors{at}"))),
    };
    match vectors {
        serde_json::Value::Array(items) => {
            count(items.len(), "")?;
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    let at = format!("batch.vectors[{i}]");
                    vector_input(Some(v), None, &at, &at)
                })
                .collect()
        }
        serde_json::Value::Object(by_name) => {
            let mut points: Vec<Vectors> = (0..ids).map(|_| Vectors::new()).collect();
            for (name, lists) in by_name {
                let at = format!("batch.vectors.{name}");
                let serde_json::Value::Array(lists) = lists else {
                    return Err(ApiError::bad(format!("{at}: expected one list of numbers per id")));
                };
                count(lists.len(), &format!(" in `{name}`"))?;
                for (i, (v, point)) in lists.iter().zip(&mut points).enumerate() {
                    point.insert(
                        name.clone(),
                        vector_value(v, &format!("{at}[{i}]"), &format!("batch.vectors.?[{i}]"))?,
                    );
                }
            }
            Ok(points.into_iter().map(VectorInput::Named).collect())
        }
        other @ (serde_json::Value::Null
        | serde_json::Value::Bool(_)
        | serde_json::Value::Number(_)
        | serde_json::Value::String(_)) => Err(ApiError::bad(format!(
            "batch.vectors: expected a list of vectors or a map of them by name, got {}",
            json_kind(&other)
        ))),
    }
}

pub(super) fn selector(points: Option<Vec<ExtId>>, filter: Option<Filter>) -> Result<Selector, ApiError> {
    match (points, filter) {
        (Some(ids), None) => Ok(Selector::Ids(ids)),
        (None, Some(f)) => Ok(Selector::Filter(f)),
        (Some(_), Some(_)) => Err(ApiError::bad("give either `points` or `filter`, not both")),
        (None, None) => Err(ApiError::bad("expected `points` (a list of ids) or `filter`")),
    }
}

/// `limit` is at least 1 (Qdrant's rule: a 422 naming `{prefix}limit`), and `limit + offset`
/// at most `search.max_limit` (vicinity's bound on a request's cost: a 400).
pub(super) fn check_limit(limit: usize, offset: usize, max: usize, prefix: &str) -> Result<(), ApiError> {
    let mut rules = Rules::default();
    rules.min(format!("{prefix}limit"), limit, 1);
    rules.check()?;
    if limit.saturating_add(offset) > max {
        return Err(ApiError::bad(format!(
            "limit + offset must be at most {max}, got {}",
            limit.saturating_add(offset)
        )));
    }
    Ok(())
}

/// An upsert body as the points to write (texts embedded) and the rule that admits them.
/// The collection is resolved once, after the body is checked: texts are embedded with the
/// model of the collection written to, even if an alias moves meanwhile.
pub(super) async fn upsert_plan(
    st: &AppState,
    name: &str,
    body: UpsertPoints,
) -> Result<(Arc<Collection>, Vec<NewPoint>, crate::collection::UpsertRule), ApiError> {
    // (id, vector or text, payload), checked in request order.
    let rule = crate::collection::UpsertRule {
        mode: body.update_mode.map(Into::into).unwrap_or_default(),
        filter: body.update_filter,
    };
    let rows: Vec<(ExtId, VectorInput, Option<Payload>)> = match (body.points, body.batch) {
        (Some(points), None) => points
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                Ok((
                    p.id,
                    vector_input(p.vector, p.text, &format!("points[{i}]"), &format!("points[{i}].vector"))?,
                    p.payload,
                ))
            })
            .collect::<Result<_, ApiError>>()?,
        (None, Some(b)) => {
            let inputs = batch_inputs(b.vectors, b.ids.len())?;
            let payloads = match b.payloads {
                Some(p) if p.len() != b.ids.len() => {
                    return Err(ApiError::bad(format!("batch: {} ids but {} payloads", b.ids.len(), p.len())))
                }
                Some(p) => p,
                None => vec![None; b.ids.len()],
            };
            b.ids.into_iter().zip(inputs).zip(payloads).map(|((id, v), payload)| (id, v, payload)).collect()
        }
        (Some(_), Some(_)) => return Err(ApiError::bad("give either `points` or `batch`, not both")),
        (None, None) => return Err(ApiError::bad("expected `points` (a list) or `batch`")),
    };
    let c = st.catalog.get(name)?;
    let config = c.config();
    let texts: Vec<TextInput> = rows
        .iter()
        .filter_map(|(_, v, _)| match v {
            VectorInput::Text(t) => Some(t.clone()),
            VectorInput::Dense(_) | VectorInput::Named(_) => None,
        })
        .collect();
    let mut embedded = super::embed::for_collection(st, name, &config, texts).await?.into_iter();
    let store_text = config.embedding.as_ref().and_then(|e| e.store_text.clone());
    let mut points = Vec::with_capacity(rows.len());
    for (id, input, payload) in rows {
        let (vectors, payload) = match input {
            VectorInput::Dense(v) => (Vectors::from([(String::new(), Vector::Dense(v))]), payload),
            VectorInput::Named(vectors) => (vectors, payload),
            VectorInput::Text(t) => {
                let e = embedded.next().ok_or_else(|| {
                    ApiError::from(crate::error::Error::Internal("embedding count mismatch".into()))
                })?;
                let mut vectors = Vectors::from([(String::new(), Vector::Dense(e.vector))]);
                if let Some((name, v)) =
                    config.embedding.as_ref().map(|m| m.bm25_document(&t.text)).transpose()?.flatten()
                {
                    vectors.insert(name, Vector::Sparse(v));
                }
                let payload = match &store_text {
                    Some(key) => {
                        let mut p = payload.unwrap_or_default();
                        p.insert(key.clone(), serde_json::Value::String(t.text));
                        Some(p)
                    }
                    None => payload,
                };
                (vectors, payload)
            }
        };
        points.push(NewPoint { id, vectors, payload });
    }
    Ok((c, points, rule))
}

#[utoipa::path(
    put, path = "/collections/{name}/points",
    request_body = UpsertPoints,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`; a vector of the wrong size, a norm too large or a bad id; text without an embedding model; a payload too deep or too large", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn upsert(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<UpsertPoints>,
) -> ApiResult {
    let started = Instant::now();
    let (c, points, rule) = upsert_plan(&st, &name, body).await?;
    let sync = wait.sync();
    let seq = blocking(move || c.upsert_where(points, &rule, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points",
    request_body = RetrievePoints,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "the points that exist"),
        (status = 400, description = "bad JSON body or path", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn retrieve(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(_read): Params<ReadParams>,
    Body(body): Body<RetrievePoints>,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let with_payload = super::models::WithPayload::or(body.with_payload, true);
    let with_vector = WithVector::selector(&body.with_vector);
    let records = blocking(move || c.retrieve(&body.ids, &with_payload, &with_vector)).await?;
    Ok(ok(Records(&records), started))
}

/// A point id from a path: numbers go through the JSON parser so the message matches a body's
/// (negative, not an integer, too large); anything else must be a UUID.
fn path_id(id: &str) -> Result<ExtId, ApiError> {
    if let Ok(n) = id.parse::<u64>() {
        return Ok(ExtId::Num(n));
    }
    let value = match serde_json::from_str::<serde_json::Value>(id) {
        Ok(v @ serde_json::Value::Number(_)) => v,
        _ => json!(id),
    };
    serde_json::from_value(value).map_err(|e| ApiError::bad(e.to_string()))
}

#[utoipa::path(
    get, path = "/collections/{name}/points/{id}",
    params(CollectionName, ("id" = ExtId, Path, description = "an unsigned integer or a UUID"), ReadParams),
    responses(
        (status = 200, description = "the point"),
        (status = 400, description = "bad path: the id is not an unsigned 64-bit integer or a UUID; or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection or point", body = ErrorResponse),
    )
)]
pub async fn get_one(
    State(st): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    Params(_read): Params<ReadParams>,
) -> ApiResult {
    let started = Instant::now();
    let ext = path_id(&id)?;
    let c = st.catalog.get(&name)?;
    let mut found = c.retrieve(&[ext], &PayloadSelector::Bool(true), &VectorSelector::All)?;
    match found.pop() {
        Some(record) => Ok(ok(Record::of(&record), started)),
        None => Err(crate::error::Error::NoPoint(ext.to_string()).into()),
    }
}

#[utoipa::path(
    post, path = "/collections/{name}/points/delete", operation_id = "delete_points",
    request_body = PointsSelector,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, or not exactly one of `points` and `filter`", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn delete(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<PointsSelector>,
) -> ApiResult {
    let started = Instant::now();
    let sel = selector(body.points, body.filter)?;
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.delete(&sel, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

async fn payload_op(
    st: AppState,
    name: String,
    wait: WaitParam,
    sel: Selector,
    update: PayloadUpdate,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.update_payload(&sel, &update, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points/payload",
    request_body = SetPayload,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, or not exactly one of `points` and `filter`; a payload too deep or too large", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist", body = ErrorResponse),
    )
)]
pub async fn set_payload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<SetPayload>,
) -> ApiResult {
    let (sel, update) = set_payload_plan(body)?;
    payload_op(st, name, wait, sel, update).await
}

pub(super) fn set_payload_plan(body: SetPayload) -> Result<(Selector, PayloadUpdate), ApiError> {
    if let Some(key) = &body.key {
        json_path::parse(key).map_err(|e| ApiError::bad(format!("Format error in JSON body: key: {e}")))?;
    }
    Ok((selector(body.points, body.filter)?, PayloadUpdate::Set { payload: body.payload, key: body.key }))
}

/// As in Qdrant, `key` has no meaning when overwriting and is ignored.
pub(super) fn overwrite_payload_plan(body: SetPayload) -> Result<(Selector, PayloadUpdate), ApiError> {
    Ok((selector(body.points, body.filter)?, PayloadUpdate::Overwrite(body.payload)))
}

pub(super) fn delete_payload_plan(body: DeletePayload) -> Result<(Selector, PayloadUpdate), ApiError> {
    for (i, key) in body.keys.iter().enumerate() {
        json_path::parse(key)
            .map_err(|e| ApiError::bad(format!("Format error in JSON body: keys[{i}]: {e}")))?;
    }
    Ok((selector(body.points, body.filter)?, PayloadUpdate::DeleteKeys(body.keys)))
}

#[utoipa::path(
    put, path = "/collections/{name}/points/payload",
    request_body = OverwritePayload,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, or not exactly one of `points` and `filter`; a payload too deep or too large", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist", body = ErrorResponse),
    )
)]
pub async fn overwrite_payload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<SetPayload>,
) -> ApiResult {
    let (sel, update) = overwrite_payload_plan(body)?;
    payload_op(st, name, wait, sel, update).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/payload/delete",
    request_body = DeletePayload,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, or not exactly one of `points` and `filter`", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist", body = ErrorResponse),
    )
)]
pub async fn delete_payload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<DeletePayload>,
) -> ApiResult {
    let (sel, update) = delete_payload_plan(body)?;
    payload_op(st, name, wait, sel, update).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/payload/clear",
    request_body = PointsSelector,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`, or not exactly one of `points` and `filter`", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist", body = ErrorResponse),
    )
)]
pub async fn clear_payload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<PointsSelector>,
) -> ApiResult {
    let sel = selector(body.points, body.filter)?;
    payload_op(st, name, wait, sel, PayloadUpdate::Clear).await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/scroll",
    request_body = ScrollRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "points and next_page_offset"),
        (status = 400, description = "bad JSON body or path, limit 0 or over search.max_limit; order_by on a key without an integer or float index, or with an offset", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 503, description = "the scan did not finish within search.timeout_ms; retry after Retry-After, or narrow it", body = ErrorResponse, headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn scroll(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    Body(body): Body<ScrollRequest>,
) -> ApiResult {
    let started = Instant::now();
    let limit = body.limit.unwrap_or(10);
    check_limit(limit, 0, st.config.search.max_limit, "scroll_request.")?;
    let order = match body.order_by.as_ref().filter(|v| !v.is_null()) {
        Some(v) => Some(super::order_by::parse(v, "order_by")?),
        None => None,
    };
    if order.is_some() && body.offset.is_some() {
        return Err(ApiError::bad(
            "Wrong input: Cannot use an `offset` when using `order_by`. The alternative for paging is to use \
             `order_by.start_from` and a filter to exclude the IDs that you've already seen for the \
             `order_by.start_from` value",
        ));
    }
    let c = st.catalog.get(&name)?;
    let with_payload = super::models::WithPayload::or(body.with_payload, true);
    let with_vector = WithVector::selector(&body.with_vector);
    let deadline = read_deadline(&st, &read);
    let (points, next) = blocking(move || match order {
        // An ordered scroll has no next page offset: the next page starts from a value.
        Some(order) => Ok((
            c.scroll_ordered(&order, limit, body.filter.as_ref(), &with_payload, &with_vector, deadline)?,
            None,
        )),
        None => c.scroll(body.offset, limit, body.filter.as_ref(), &with_payload, &with_vector, deadline),
    })
    .await?;
    #[derive(serde::Serialize)]
    struct Page<'a> {
        points: Records<'a>,
        next_page_offset: Option<ExtId>,
    }
    Ok(ok(Page { points: Records(&points), next_page_offset: next }, started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points/count",
    request_body = CountRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{count}"),
        (status = 400, description = "bad JSON body or path", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 503, description = "the count did not finish within search.timeout_ms; retry after Retry-After, or narrow it", body = ErrorResponse, headers(("Retry-After" = u32, description = "seconds to wait before retrying"))),
    )
)]
pub async fn count(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    Body(body): Body<CountRequest>,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let deadline = read_deadline(&st, &read);
    let n = blocking(move || c.count(body.filter.as_ref(), deadline)).await?;
    #[derive(serde::Serialize)]
    struct Count {
        count: usize,
    }
    Ok(ok(Count { count: n }, started))
}

/// Reads that scan points (scroll, count) stop after `?timeout=` or `search.timeout_ms`,
/// whichever is shorter, as searches do.
pub(super) fn read_deadline(st: &AppState, read: &ReadParams) -> crate::collection::Deadline {
    crate::collection::Deadline::after(
        read.within(std::time::Duration::from_millis(st.config.search.timeout_ms)),
    )
}
