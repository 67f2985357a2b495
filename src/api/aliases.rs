//! Aliases, as in Qdrant: `POST /collections/aliases` applies create / delete / rename actions
//! all at once (all or none, one durable write), `GET /aliases` and
//! `GET /collections/{c}/aliases` list them. An alias works wherever a collection name does,
//! except in `DELETE /collections/{name}`, which deletes only a collection of that name.

use std::time::Instant;

use axum::extract::State;
use serde::{Deserialize, Serialize};

use super::extract::{Body, MetaParams, Params, Path};
use super::openapi::{CollectionName, ErrorResponse};
use super::{blocking, ok, ApiResult, AppState};
use crate::catalog::AliasAction;

/// `{"actions": [...]}`: each action one of `create_alias`, `delete_alias`, `rename_alias`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct ChangeAliases {
    pub actions: Vec<AliasOperation>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub enum AliasOperation {
    #[serde(rename = "create_alias")]
    Create { collection_name: String, alias_name: String },
    #[serde(rename = "delete_alias")]
    Delete { alias_name: String },
    #[serde(rename = "rename_alias")]
    Rename { old_alias_name: String, new_alias_name: String },
}

impl From<AliasOperation> for AliasAction {
    fn from(op: AliasOperation) -> Self {
        match op {
            AliasOperation::Create { collection_name, alias_name } => {
                AliasAction::Create { collection: collection_name, alias: alias_name }
            }
            AliasOperation::Delete { alias_name } => AliasAction::Delete { alias: alias_name },
            AliasOperation::Rename { old_alias_name, new_alias_name } => {
                AliasAction::Rename { from: old_alias_name, to: new_alias_name }
            }
        }
    }
}

/// Qdrant's `AliasDescription`.
#[derive(Serialize)]
struct Alias {
    alias_name: String,
    collection_name: String,
}

#[derive(Serialize)]
struct Aliases {
    aliases: Vec<Alias>,
}

fn listed(pairs: impl Iterator<Item = (String, String)>) -> Aliases {
    Aliases {
        aliases: pairs.map(|(alias_name, collection_name)| Alias { alias_name, collection_name }).collect(),
    }
}

#[utoipa::path(
    post, path = "/collections/aliases", operation_id = "update_aliases",
    request_body = ChangeAliases,
    params(MetaParams),
    responses(
        (status = 200, description = "true: every action was applied"),
        (status = 400, description = "bad JSON body, or an alias name against the collection-name rules", body = ErrorResponse),
        (status = 404, description = "an alias of a missing collection, or a rename of a missing alias (nothing was applied)", body = ErrorResponse),
        (status = 409, description = "an alias named like a collection (nothing was applied)", body = ErrorResponse),
    )
)]
pub async fn change(
    State(st): State<AppState>,
    Params(meta): Params<MetaParams>,
    Body(body): Body<ChangeAliases>,
) -> ApiResult {
    let started = Instant::now();
    meta.check()?;
    let actions: Vec<AliasAction> = body.actions.into_iter().map(Into::into).collect();
    let catalog = st.catalog.clone();
    blocking(move || catalog.change_aliases(&actions)).await?;
    Ok(ok(true, started))
}

#[utoipa::path(
    get, path = "/aliases", operation_id = "get_aliases",
    responses((status = 200, description = "{aliases: [{alias_name, collection_name}]}"))
)]
pub async fn list(State(st): State<AppState>) -> ApiResult {
    let started = Instant::now();
    Ok(ok(listed(st.catalog.aliases().into_iter()), started))
}

#[utoipa::path(
    get, path = "/collections/{name}/aliases", operation_id = "get_collection_aliases",
    params(CollectionName),
    responses((status = 200, description = "{aliases: [{alias_name, collection_name}]} of this collection (none for a collection that does not exist)"))
)]
pub async fn of_collection(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let started = Instant::now();
    let pairs = st.catalog.aliases().into_iter().filter(|(_, c)| *c == name);
    Ok(ok(listed(pairs), started))
}
