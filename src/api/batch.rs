//! `POST /collections/{c}/points/batch`: a list of point operations applied in order, as in
//! Qdrant. Every operation is parsed and checked (and its texts embedded) before the first is
//! applied; then they run one after another under no sync, and one sync of the log at the end
//! makes them all durable at once (`wait=true`). The first operation that fails stops the
//! batch with its error; the ones before it stay applied, as in Qdrant.

use std::time::Instant;

use axum::extract::State;
use serde::Deserialize;

use super::extract::{Body, Params, Path, WaitParam};
use super::models::{
    DeletePayload, DeleteVectors, PointsSelector, SetPayload, UpdateResult, UpdateVectors, UpsertPoints,
};
use super::openapi::{CollectionName, ErrorResponse};
use super::points::{delete_payload_plan, overwrite_payload_plan, selector, set_payload_plan, upsert_plan};
use super::vectors::{delete_plan, update_plan};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{ExtId, Filter, NewPoint, PayloadUpdate, Selector, UpsertRule, Vectors};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct UpdateOperations {
    pub operations: Vec<UpdateOperation>,
}

/// One operation: the body of the route of the same name, under its name.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateOperation {
    Upsert(UpsertPoints),
    Delete(PointsSelector),
    SetPayload(SetPayload),
    OverwritePayload(SetPayload),
    DeletePayload(DeletePayload),
    ClearPayload(PointsSelector),
    UpdateVectors(UpdateVectors),
    DeleteVectors(DeleteVectors),
}

/// An operation checked and ready to apply.
enum Write {
    Upsert(Vec<NewPoint>, UpsertRule),
    Delete(Selector),
    Payload(Selector, PayloadUpdate),
    UpdateVectors(Vec<(ExtId, Vectors)>, Option<Filter>),
    DeleteVectors(Vec<Selector>, Vec<String>),
}

#[utoipa::path(
    post, path = "/collections/{name}/points/batch", operation_id = "batch_update",
    request_body = UpdateOperations,
    params(CollectionName, WaitParam),
    responses(
        (status = 200, description = "[UpdateResult], one per operation"),
        (status = 400, description = "bad JSON body, path or `wait`; an operation as its own route would refuse it (nothing is applied when it is found before the first is applied; else the earlier ones stay applied)", body = ErrorResponse),
        (status = 404, description = "no such collection, or a listed point does not exist", body = ErrorResponse),
    )
)]
pub async fn batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<UpdateOperations>,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let mut writes = Vec::with_capacity(body.operations.len());
    for (i, op) in body.operations.into_iter().enumerate() {
        let at = |e: ApiError| ApiError { message: format!("operations[{i}]: {}", e.message), ..e };
        let write = match op {
            UpdateOperation::Upsert(u) => {
                let (_, points, rule) = upsert_plan(&st, &c.name, u).await.map_err(at)?;
                // Checked here too, so that a wrong vector stops the batch before anything is applied.
                for p in &points {
                    c.check_vectors(p.id, &p.vectors).map_err(|e| at(e.into()))?;
                }
                Write::Upsert(points, rule)
            }
            UpdateOperation::Delete(d) => Write::Delete(selector(d.points, d.filter).map_err(at)?),
            UpdateOperation::SetPayload(p) => {
                set_payload_plan(p).map(|(s, u)| Write::Payload(s, u)).map_err(at)?
            }
            UpdateOperation::OverwritePayload(p) => {
                overwrite_payload_plan(p).map(|(s, u)| Write::Payload(s, u)).map_err(at)?
            }
            UpdateOperation::DeletePayload(p) => {
                delete_payload_plan(p).map(|(s, u)| Write::Payload(s, u)).map_err(at)?
            }
            UpdateOperation::ClearPayload(p) => {
                Write::Payload(selector(p.points, p.filter).map_err(at)?, PayloadUpdate::Clear)
            }
            UpdateOperation::UpdateVectors(u) => {
                let (points, filter) = update_plan(u).map_err(at)?;
                for (id, vectors) in &points {
                    c.check_vectors(*id, vectors).map_err(|e| at(e.into()))?;
                }
                Write::UpdateVectors(points, filter)
            }
            UpdateOperation::DeleteVectors(d) => {
                let (selections, names) = delete_plan(d).map_err(at)?;
                for n in &names {
                    c.config().vector(n).map_err(|e| at(e.into()))?;
                }
                Write::DeleteVectors(selections, names)
            }
        };
        writes.push(write);
    }
    let sync = wait.sync();
    let seqs = blocking(move || {
        let mut seqs = Vec::with_capacity(writes.len());
        let mut applied = Ok(());
        for write in writes {
            let seq = match write {
                Write::Upsert(points, rule) => c.upsert_where(points, &rule, false),
                Write::Delete(sel) => c.delete(&sel, false),
                Write::Payload(sel, update) => c.update_payload(&sel, &update, false),
                Write::UpdateVectors(points, filter) => c.update_vectors(points, filter.as_ref(), false),
                Write::DeleteVectors(selections, names) => {
                    selections.iter().try_fold(0, |_, s| c.delete_vectors(s, &names, false))
                }
            };
            match seq {
                Ok(seq) => seqs.push(seq),
                Err(e) => {
                    applied = Err(e);
                    break;
                }
            }
        }
        // What was applied is made durable even when a later operation failed.
        if sync && !seqs.is_empty() {
            c.sync()?;
        }
        applied.map(|()| seqs)
    })
    .await?;
    let results: Vec<UpdateResult> = seqs.into_iter().map(|seq| UpdateResult::new(seq, sync)).collect();
    Ok(ok(results, started))
}
