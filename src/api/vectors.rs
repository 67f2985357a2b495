//! `/collections/{c}/points/vectors…`: replace or remove some of the named vectors of existing
//! points, as in Qdrant (`PUT points/vectors`, `POST points/vectors/delete`).

use std::time::Instant;

use axum::extract::State;

use super::extract::{Body, Params, Path, Rules, WaitParam};
use super::models::{DeleteVectors, UpdateResult, UpdateVectors};
use super::openapi::{CollectionName, ErrorResponse};
use super::points::{named, numbers};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{ExtId, Filter, Selector, Vector, Vectors};

/// An update-vectors body, checked: the points' vectors by name, and the filter they must match.
/// Points and the vectors to write to each.
type VectorUpdates = Vec<(ExtId, Vectors)>;

pub(super) fn update_plan(body: UpdateVectors) -> Result<(VectorUpdates, Option<Filter>), ApiError> {
    let mut rules = Rules::default();
    if body.points.is_empty() {
        rules.broken("points", "must specify points to update");
    }
    for (i, p) in body.points.iter().enumerate() {
        if p.vector.as_object().is_some_and(|m| m.is_empty()) {
            rules.broken(format!("points[{i}].vector"), "must specify vectors to update for point");
        }
    }
    rules.check()?;
    let points = body
        .points
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let at = format!("points[{i}].vector");
            let vectors = match p.vector.as_object() {
                Some(map) => named(map, &at)?,
                None => Vectors::from([(String::new(), Vector::Dense(numbers(&p.vector, &at)?))]),
            };
            Ok((p.id, vectors))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok((points, body.update_filter))
}

/// A delete-vectors body, checked: the selections (Qdrant applies a filter, then the ids) and
/// the names.
pub(super) fn delete_plan(body: DeleteVectors) -> Result<(Vec<Selector>, Vec<String>), ApiError> {
    let mut rules = Rules::default();
    if body.vector.is_empty() {
        rules.broken("vector", "must specify vector names to delete");
    }
    rules.check()?;
    let mut selections = Vec::new();
    if let Some(f) = body.filter {
        selections.push(Selector::Filter(f));
    }
    if let Some(ids) = body.points {
        selections.push(Selector::Ids(ids));
    }
    if selections.is_empty() {
        return Err(ApiError::bad("Bad request: No filter or points provided"));
    }
    Ok((selections, body.vector))
}

#[utoipa::path(
    put, path = "/collections/{name}/points/vectors", operation_id = "update_vectors",
    request_body = UpdateVectors,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult"),
        (status = 400, description = "bad JSON body, path or `wait`; a vector the collection does not have, of the wrong size, or with a norm too large", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist (the others were updated)", body = ErrorResponse),
        (status = 422, description = "no points, or a point with no vectors", body = ErrorResponse),
    )
)]
pub async fn update(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<UpdateVectors>,
) -> ApiResult {
    let started = Instant::now();
    let (points, filter) = update_plan(body)?;
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.update_vectors(points, filter.as_ref(), sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points/vectors/delete", operation_id = "delete_vectors",
    request_body = DeleteVectors,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "UpdateResult (ids that do not exist are skipped)"),
        (status = 400, description = "bad JSON body, path or `wait`; neither `points` nor `filter`; a vector the collection does not have", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 422, description = "no vector names", body = ErrorResponse),
    )
)]
pub async fn delete(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<DeleteVectors>,
) -> ApiResult {
    let started = Instant::now();
    let (selections, names) = delete_plan(body)?;
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || {
        let mut seq = 0;
        for s in &selections {
            seq = c.delete_vectors(s, &names, sync)?;
        }
        Ok(seq)
    })
    .await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}
