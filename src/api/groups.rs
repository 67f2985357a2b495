//! `points/query/groups` (cached like `points/query`) and the legacy `points/search/groups` /
//! `points/recommend/groups`: the request's search, its hits grouped by a payload value, each
//! group optionally with the point its key names in another collection (`with_lookup`).

use std::collections::HashMap;
use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use super::extract::{typed, JsonBytes, Params, Path, ReadParams, Rules};
use super::models::{Hits, QueryRequest, RecommendRequest, Record, SearchRequest, WithPayload, WithVector};
use super::openapi::{Busy, CollectionName, ErrorResponse};
use super::query::{cached, encode, CacheSwitch, Parsed};
use super::{ok, ApiError, AppState};
use crate::collection::{Group, GroupKey, Grouping, PayloadSelector, VectorSelector};
use crate::config::Config;
use crate::error::Error;
use crate::id::ExtId;

/// `with_lookup`: a collection name, or the collection with what to read of its points.
#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum WithLookupInterface {
    Collection(String),
    WithLookup(WithLookup),
}

#[derive(Clone, Deserialize, Serialize, utoipa::ToSchema)]
pub struct WithLookup {
    pub collection: String,
    /// Default: the whole payload.
    pub with_payload: Option<WithPayload>,
    /// Default: no vectors.
    #[serde(alias = "with_vector")]
    pub with_vectors: Option<WithVector>,
}

impl WithLookupInterface {
    fn lookup(self) -> Lookup {
        match self {
            WithLookupInterface::Collection(collection) => Lookup {
                collection,
                with_payload: PayloadSelector::Bool(true),
                with_vector: VectorSelector::None,
            },
            WithLookupInterface::WithLookup(l) => Lookup {
                collection: l.collection,
                with_payload: WithPayload::or(l.with_payload, true),
                with_vector: WithVector::selector(&l.with_vectors),
            },
        }
    }
}

struct Lookup {
    collection: String,
    with_payload: PayloadSelector,
    with_vector: VectorSelector,
}

/// `POST /collections/{c}/points/query/groups`: a query (no `offset`; `limit` is the number of
/// groups, 10 by default) and how to group its hits.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct QueryGroupsRequest {
    #[serde(flatten)]
    pub query: QueryRequest,
    /// The payload path whose values (strings or integers; an array's elements each) are the
    /// groups' keys.
    pub group_by: String,
    /// Hits per group, 3 by default; `limit × group_size` is at most `search.max_limit`.
    #[schema(minimum = 1)]
    pub group_size: Option<usize>,
    pub with_lookup: Option<WithLookupInterface>,
}

impl CacheSwitch for QueryGroupsRequest {
    const PREFIX: &'static str = "search_group_request.";
    const ROUTE: &'static str = "query/groups";
    const BYPASS_FIELD: &'static str = "\"with_lookup\"";
    fn cache(&self) -> Option<bool> {
        self.query.cache
    }
    /// A lookup reads another collection, whose writes the cache key does not follow.
    fn bypass(&self) -> bool {
        self.with_lookup.is_some()
    }
}

/// Legacy `POST /collections/{c}/points/search/groups`: a search (no `offset`; `limit` is the
/// number of groups) and how to group its hits.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct SearchGroupsRequest {
    #[serde(flatten)]
    pub search: SearchRequest,
    pub group_by: String,
    #[schema(minimum = 1)]
    pub group_size: usize,
    pub with_lookup: Option<WithLookupInterface>,
}

/// Legacy `POST /collections/{c}/points/recommend/groups`.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecommendGroupsRequest {
    #[serde(flatten)]
    pub recommend: RecommendRequest,
    pub group_by: String,
    #[schema(minimum = 1)]
    pub group_size: usize,
    pub with_lookup: Option<WithLookupInterface>,
}

/// Checks the grouping (Qdrant's 422s under `{prefix}group_request.`, then the cost bound).
pub(super) fn grouping(
    group_by: String,
    group_size: usize,
    limit: usize,
    config: &Config,
    prefix: &str,
) -> Result<Grouping, ApiError> {
    let mut rules = Rules::default();
    rules.min(format!("{prefix}group_request.group_size"), group_size, 1);
    rules.min(format!("{prefix}group_request.limit"), limit, 1);
    rules.check()?;
    crate::collection::json_path::parse(&group_by).map_err(|_| ApiError::bad("Invalid json path"))?;
    let max = config.search.max_limit;
    let hits = limit.saturating_mul(group_size);
    if hits > max {
        return Err(ApiError::bad(format!(
            "limit × group_size must be at most {max}, got {hits} (search.max_limit)"
        )));
    }
    Ok(Grouping { group_by, group_size, limit })
}

/// One group as the answer shows it: `hits`, `id`, and `lookup` when one was found.
#[derive(Serialize)]
struct GroupOut<'a> {
    hits: Hits<'a>,
    id: &'a GroupKey,
    #[serde(skip_serializing_if = "Option::is_none")]
    lookup: Option<Record<'a>>,
}

#[derive(Serialize)]
pub(super) struct Groups<'a> {
    groups: Vec<GroupOut<'a>>,
}

type Found = (Vec<Group>, HashMap<ExtId, crate::collection::Record>);

pub(super) fn shown<'a>(
    groups: &'a [Group],
    lookups: &'a HashMap<ExtId, crate::collection::Record>,
) -> Groups<'a> {
    let groups = groups
        .iter()
        .map(|g| GroupOut {
            hits: Hits(&g.hits),
            id: &g.key,
            lookup: g.key.point_id().and_then(|id| lookups.get(&id)).map(Record::of),
        })
        .collect();
    Groups { groups }
}

/// Runs the grouped search, then the lookup, on a search thread.
async fn run(
    st: &AppState,
    name: &str,
    parsed: Parsed,
    g: Grouping,
    lookup: Option<Lookup>,
    read: &ReadParams,
) -> Result<Found, ApiError> {
    let search = super::embed::resolve_search_texts(st, name, vec![parsed]).await?.pop();
    let search = search.ok_or_else(|| ApiError::from(Error::Internal("no search to group".into())))?;
    let c = st.catalog.get(name)?;
    let other = match &lookup {
        None => None,
        Some(l) => Some(st.catalog.get(&l.collection).map_err(|e| {
            if matches!(e, Error::NotFound { .. }) {
                Error::not_found(format!("Collection {}", l.collection))
            } else {
                e
            }
        })?),
    };
    st.admission
        .run(read.within(st.admission.timeout()), move |deadline| {
            let groups = c.groups(&search, &g, deadline)?;
            let lookups = match (other, lookup) {
                (Some(other), Some(l)) => {
                    let ids: Vec<ExtId> = groups.iter().filter_map(|g| g.key.point_id()).collect();
                    let records = other.retrieve(&ids, &l.with_payload, &l.with_vector)?;
                    records.into_iter().map(|r| (r.id, r)).collect()
                }
                (None, _) | (_, None) => HashMap::new(),
            };
            Ok((groups, lookups))
        })
        .await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/query/groups",
    request_body = QueryGroupsRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{groups: [{hits: [ScoredPoint], id, lookup?: Record}]}"),
        (status = 400, description = "bad JSON body or path; no group_by, or an invalid one; limit × group_size over search.max_limit; a vector of the wrong size; bad params; text without an embedding model; an unsupported query", body = ErrorResponse),
        (status = 404, description = "no such collection or lookup collection, or an example point does not exist", body = ErrorResponse),
        (status = 422, description = "group_size or limit 0", body = ErrorResponse),
        Busy,
    )
)]
pub async fn query_groups(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    cached(&st, &name, body, |st, name, req: QueryGroupsRequest| async move {
        const PREFIX: &str = QueryGroupsRequest::PREFIX;
        let limit = req.query.limit.unwrap_or(10);
        let g = grouping(req.group_by, req.group_size.unwrap_or(3), limit, &st.config, PREFIX)?;
        let query = QueryRequest { offset: None, ..req.query };
        let parsed = super::query::from_query_request(query, &st.config, PREFIX)?;
        let (groups, lookups) =
            run(&st, &name, parsed, g, req.with_lookup.map(WithLookupInterface::lookup), &read).await?;
        encode(&shown(&groups, &lookups))
    })
    .await
}

#[utoipa::path(
    post, path = "/collections/{name}/points/search/groups",
    request_body = SearchGroupsRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{groups: [{hits: [ScoredPoint], id, lookup?: Record}]}"),
        (status = 400, description = "bad JSON body or path; no group_by, group_size or limit, or an invalid group_by; limit × group_size over search.max_limit; a vector of the wrong size; bad params", body = ErrorResponse),
        (status = 404, description = "no such collection or lookup collection", body = ErrorResponse),
        (status = 422, description = "group_size or limit 0", body = ErrorResponse),
        Busy,
    )
)]
pub async fn search_groups(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    const PREFIX: &str = "search_group_request.";
    let started = Instant::now();
    let req: SearchGroupsRequest = typed(&body, PREFIX)?;
    let g = grouping(req.group_by, req.group_size, req.search.limit, &st.config, PREFIX)?;
    let search = SearchRequest { offset: None, ..req.search };
    let parsed = super::query::from_search_request(search, &st.config, PREFIX)?;
    let (groups, lookups) =
        run(&st, &name, parsed, g, req.with_lookup.map(WithLookupInterface::lookup), &read).await?;
    Ok(ok(shown(&groups, &lookups), started))
}

#[utoipa::path(
    post, path = "/collections/{name}/points/recommend/groups",
    request_body = RecommendGroupsRequest,
    params(CollectionName, ReadParams),
    responses(
        (status = 200, description = "{groups: [{hits: [ScoredPoint], id, lookup?: Record}]}"),
        (status = 400, description = "bad JSON body or path; no group_by, group_size or limit, or an invalid group_by; limit × group_size over search.max_limit; no examples; a vector of the wrong size; bad params", body = ErrorResponse),
        (status = 404, description = "no such collection or lookup collection, or an example point does not exist", body = ErrorResponse),
        (status = 422, description = "group_size or limit 0", body = ErrorResponse),
        Busy,
    )
)]
pub async fn recommend_groups(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    const PREFIX: &str = "recommend_group_request.";
    let started = Instant::now();
    let req: RecommendGroupsRequest = typed(&body, PREFIX)?;
    let g = grouping(req.group_by, req.group_size, req.recommend.limit, &st.config, PREFIX)?;
    let recommend = RecommendRequest { offset: None, ..req.recommend };
    let parsed = super::query::from_recommend_request(recommend, &st.config, PREFIX)?;
    let (groups, lookups) =
        run(&st, &name, parsed, g, req.with_lookup.map(WithLookupInterface::lookup), &read).await?;
    Ok(ok(shown(&groups, &lookups), started))
}
