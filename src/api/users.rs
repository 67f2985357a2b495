//! Users: `POST /collections/{c}/interactions` (events), `GET` / `DELETE
//! /collections/{c}/users/{user}` (profile summary, forget), and `POST
//! /collections/{c}/users/{user}/recommend` (+ `users/recommend/batch`): a user's
//! recommendations, answered like `points/query` (filters, `params`, MMR `diversity`,
//! `group_by`) and cached like it, keyed on the user and on every change of users' state.

use std::time::Instant;

use axum::extract::State;
use axum::response::Response;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::extract::{Body, JsonBytes, Params, Path, ReadParams, WaitParam};
use super::filter::rfc3339;
use super::groups::{grouping, shown, Groups};
use super::models::{Hits, SearchParamsBody, UpdateResult, WithPayload, WithVector};
use super::openapi::{Busy, ErrorResponse};
use super::query::{cached_in, encode, CacheSwitch, Shared, Wanted};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::collection::{
    EventInput, Filter, Grouping, Hit, ProfileStrategy, RecommendationConfig, Search, ServedBy, UserOptions,
};
use crate::config::Config;
use crate::error::Error;

/// `POST /collections/{c}/interactions`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Interactions {
    /// At most 10,000.
    #[schema(value_type = Vec<EventSchema>)]
    pub events: Vec<EventInput>,
}

/// An event (the OpenAPI form of [`EventInput`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct EventSchema {
    /// A string or an integer; `42` and `"42"` are the same user.
    #[schema(value_type = Object)]
    user: String,
    /// A point id of the collection.
    #[schema(value_type = Object)]
    item: u64,
    /// One of the collection's `recommendation.event_types`.
    #[schema(rename = "type")]
    kind: String,
    /// Multiplies the type's weight; 1 by default.
    weight: Option<f64>,
    /// RFC 3339 (or another datetime form filters accept), or Unix seconds; now by default.
    #[schema(value_type = Option<Object>)]
    timestamp: Option<String>,
}

#[utoipa::path(
    post, path = "/collections/{name}/interactions", tag = "users",
    request_body = Interactions,
    params(("name" = String, Path, description = "collection name or alias"), WaitParam),
    responses(
        (status = 200, description = "UpdateResult: the batch's last event number"),
        (status = 400, description = "bad JSON body or path; an event naming an item that is not a point, an unknown type, a non-finite weight, a bad or future timestamp, a bad user; more than 10,000 events. Nothing is written.", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn interactions(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(wait): Params<WaitParam>,
    Body(body): Body<Interactions>,
) -> ApiResult {
    let started = Instant::now();
    let events = body
        .events
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.event().map_err(|err| ApiError::bad(format!("events[{i}].{err}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let seq = blocking(move || c.record_events(events, sync)).await?;
    Ok(ok(UpdateResult::new(seq, sync), started))
}

/// A time in RFC 3339, its fraction only when it has one.
fn time(micros: i64) -> String {
    rfc3339(micros).replace(".000000Z", "Z")
}

#[derive(Serialize)]
struct Summary {
    user: String,
    events: usize,
    by_type: std::collections::BTreeMap<String, u64>,
    history: usize,
    first_seen: Option<String>,
    last_seen: Option<String>,
}

#[utoipa::path(
    get, path = "/collections/{name}/users/{user}", tag = "users",
    params(("name" = String, Path, description = "collection name or alias"), ("user" = String, Path, description = "the user id")),
    responses(
        (status = 200, description = "{user, events, by_type, history, first_seen, last_seen}: the kept events, by type; the distinct items among them; the first and last event's time"),
        (status = 400, description = "bad path", body = ErrorResponse),
        (status = 404, description = "no such collection or user", body = ErrorResponse),
    )
)]
pub async fn get_user(State(st): State<AppState>, Path((name, user)): Path<(String, String)>) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let s = c
        .user_summary(&user)
        .ok_or_else(|| Error::not_found(format!("user `{user}` in collection `{}`", c.name)))?;
    let summary = Summary {
        user,
        events: s.events,
        by_type: s.by_type,
        history: s.history,
        first_seen: s.first_seen.map(time),
        last_seen: s.last_seen.map(time),
    };
    Ok(ok(summary, started))
}

#[utoipa::path(
    delete, path = "/collections/{name}/users/{user}", tag = "users",
    params(("name" = String, Path, description = "collection name or alias"), ("user" = String, Path, description = "the user id"), WaitParam),
    responses(
        (status = 200, description = "true: the user's events and profile are gone; false: no such user"),
        (status = 400, description = "bad path", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn delete_user(
    State(st): State<AppState>,
    Path((name, user)): Path<(String, String)>,
    Params(wait): Params<WaitParam>,
) -> ApiResult {
    let started = Instant::now();
    let c = st.catalog.get(&name)?;
    let sync = wait.sync();
    let forgot = blocking(move || c.forget_user(&user, sync)).await?;
    Ok(ok(forgot, started))
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StrategyName {
    #[default]
    Centroid,
    MultiInterest,
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// An unknown user is a 404.
    #[default]
    None,
    /// An unknown user gets the most popular items.
    Popular,
}

/// `POST /collections/{c}/users/{user}/recommend`.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRecommend {
    /// Default 10; `limit + offset` is at most `search.max_limit`. With `group_by`: groups.
    #[schema(minimum = 1)]
    pub limit: Option<usize>,
    pub offset: Option<usize>,
    pub filter: Option<Filter>,
    pub params: Option<SearchParamsBody>,
    pub with_payload: Option<WithPayload>,
    pub with_vector: Option<WithVector>,
    #[serde(serialize_with = "super::models::threshold_key")]
    pub score_threshold: Option<f32>,
    /// The vector the profile is read from and searched; the unnamed one by default.
    pub using: Option<String>,
    /// `centroid` (default) or `multi_interest`.
    pub strategy: Option<StrategyName>,
    /// Leave out the items in the user's history (default true).
    pub exclude_seen: Option<bool>,
    /// Maximal marginal relevance, in `[0, 1]`.
    pub diversity: Option<f32>,
    /// MMR's pool; at most 16,384.
    pub candidates_limit: Option<usize>,
    pub group_by: Option<String>,
    #[schema(minimum = 1)]
    pub group_size: Option<usize>,
    /// `none` (default: an unknown user is a 404) or `popular`.
    pub fallback: Option<Fallback>,
    /// vicinity: `false` bypasses the result cache for this request.
    #[serde(skip_serializing)]
    pub cache: Option<bool>,
}

impl CacheSwitch for UserRecommend {
    const PREFIX: &'static str = "";
    const ROUTE: &'static str = "users/recommend";
    const USERS: bool = true;
    fn cache(&self) -> Option<bool> {
        self.cache
    }
}

/// `POST /collections/{c}/users/recommend/batch`: one entry per user.
#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserRecommendBatch {
    /// Each: `user` (a string or an integer) and the fields of one user's request.
    #[schema(value_type = Vec<Object>)]
    pub searches: Vec<serde_json::Map<String, serde_json::Value>>,
    #[serde(skip_serializing)]
    pub cache: Option<bool>,
}

impl CacheSwitch for UserRecommendBatch {
    const PREFIX: &'static str = "";
    const ROUTE: &'static str = "users/recommend/batch";
    const USERS: bool = true;
    fn cache(&self) -> Option<bool> {
        self.cache
    }
}

/// A user's request, checked: the search (its query filled in on the search thread), the
/// profile options, the grouping.
struct Planned {
    user: String,
    search: Search,
    options: UserOptions,
    exclude_seen: bool,
    grouping: Option<Grouping>,
}

fn planned(user: String, r: UserRecommend, config: &Config, prefix: &str) -> Result<Planned, ApiError> {
    if let Some(d) = r.diversity {
        if !(0.0..=1.0).contains(&d) {
            return Err(ApiError::bad(format!("{prefix}diversity: must be in [0, 1], got {d}")));
        }
    }
    if let Some(n) = r.candidates_limit {
        if n == 0 || n > crate::collection::MMR_MAX_CANDIDATES {
            return Err(ApiError::bad(format!(
                "{prefix}candidates_limit: must be 1 to {}, got {n}",
                crate::collection::MMR_MAX_CANDIDATES
            )));
        }
    }
    let limit = r.limit.unwrap_or(10);
    if r.group_by.is_some() && r.offset.is_some_and(|o| o > 0) {
        return Err(ApiError::bad(format!("{prefix}offset: not with group_by (groups are not paged)")));
    }
    let grouping = match r.group_by {
        Some(by) => Some(grouping(by, r.group_size.unwrap_or(3), limit, config, prefix)?),
        None if r.group_size.is_some() => {
            return Err(ApiError::bad(format!("{prefix}group_size: needs group_by")));
        }
        None => None,
    };
    let shared = Shared {
        using: r.using.unwrap_or_default(),
        filter: r.filter,
        limit,
        offset: if grouping.is_some() { None } else { r.offset },
        score_threshold: r.score_threshold,
        params: r.params,
        with_payload: r.with_payload,
        with_vector: r.with_vector,
    };
    let search = shared.parsed(Wanted::IdOrder, config, prefix)?.search(&mut std::iter::empty())?;
    let options = UserOptions {
        strategy: match r.strategy.unwrap_or_default() {
            StrategyName::Centroid => ProfileStrategy::Centroid,
            StrategyName::MultiInterest => ProfileStrategy::MultiInterest,
        },
        fallback_popular: matches!(r.fallback, Some(Fallback::Popular)),
        diversity: r.diversity,
        candidates: r.candidates_limit,
    };
    Ok(Planned { user, search, options, exclude_seen: r.exclude_seen.unwrap_or(true), grouping })
}

/// One user's answer.
enum Answer {
    Points(Vec<Hit>, ServedBy),
    Groups(Vec<crate::collection::Group>, ServedBy),
}

/// Plans and runs one user's recommendation (on a search thread).
fn answer(
    c: &crate::collection::Collection,
    p: &Planned,
    deadline: crate::collection::Deadline,
) -> crate::error::Result<Answer> {
    let plan = c.plan_for_user(&p.user, &p.search.using, &p.options)?;
    let mut search = Search { query: plan.query, ..p.search.clone() };
    if p.exclude_seen && !plan.seen.is_empty() {
        let seen = crate::collection::filter::Condition::HasId(plan.seen);
        let mut filter = Filter { must_not: vec![seen], ..Filter::default() };
        if let Some(given) = search.filter.take() {
            filter.must.push(crate::collection::filter::Condition::Filter(given));
        }
        search.filter = Some(filter);
    }
    Ok(match &p.grouping {
        Some(g) => Answer::Groups(c.groups(&search, g, deadline)?, plan.served_by),
        None => Answer::Points(c.search(&search, deadline)?, plan.served_by),
    })
}

#[derive(Serialize)]
struct PointsOut<'a> {
    points: Hits<'a>,
    served_by: &'static str,
}

#[derive(Serialize)]
struct GroupsOut<'a> {
    #[serde(flatten)]
    groups: Groups<'a>,
    served_by: &'static str,
}

fn write_answer(a: &Answer, out: &mut Vec<String>) -> Result<(), ApiError> {
    let none = std::collections::HashMap::new();
    out.push(match a {
        Answer::Points(hits, by) => encode(&PointsOut { points: Hits(hits), served_by: by.as_str() })?,
        Answer::Groups(groups, by) => {
            encode(&GroupsOut { groups: shown(groups, &none), served_by: by.as_str() })?
        }
    });
    Ok(())
}

async fn run(
    st: &AppState,
    name: &str,
    planned: Vec<Planned>,
    read: &ReadParams,
) -> Result<Vec<Answer>, ApiError> {
    if planned.len() > st.config.search.max_batch {
        return Err(ApiError::bad(format!(
            "a batch may hold at most {} searches, got {}",
            st.config.search.max_batch,
            planned.len()
        )));
    }
    // Each answer holds limit + offset hits, or limit × group_size with groups.
    let results: usize = planned
        .iter()
        .map(|p| match &p.grouping {
            Some(g) => g.limit.saturating_mul(g.group_size),
            None => p.search.limit.saturating_add(p.search.offset),
        })
        .fold(0, usize::saturating_add);
    if results > st.config.search.max_batch_results {
        return Err(ApiError::bad(format!(
            "a batch may ask for at most {} results in all (the sum of limit + offset, or limit × group_size), got {results} (search.max_batch_results)",
            st.config.search.max_batch_results
        )));
    }
    let c = st.catalog.get(name)?;
    st.admission
        .run(read.within(st.admission.timeout()), move |deadline| {
            if planned.len() == 1 {
                return Ok(vec![answer(&c, &planned[0], deadline)?]);
            }
            planned.par_iter().map(|p| answer(&c, p, deadline)).collect()
        })
        .await
}

#[utoipa::path(
    post, path = "/collections/{name}/users/{user}/recommend", tag = "users", operation_id = "recommend_for_user",
    request_body = UserRecommend,
    params(("name" = String, Path, description = "collection name or alias"), ("user" = String, Path, description = "the user id"), ReadParams),
    responses(
        (status = 200, description = "{points: [ScoredPoint], served_by} (with group_by: {groups, served_by}); served_by is centroid, multi_interest or popular"),
        (status = 400, description = "bad JSON body or path; limit 0 or over search.max_limit; diversity outside [0, 1]; bad params, filter or grouping", body = ErrorResponse),
        (status = 404, description = "no such collection; no such user (unless fallback is popular)", body = ErrorResponse),
        Busy,
    )
)]
pub async fn recommend(
    State(st): State<AppState>,
    Path((name, user)): Path<(String, String)>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    let scope = format!("user={user}");
    cached_in(&st, &name, &scope, body, |st, name, req: UserRecommend| async move {
        crate::collection::users::check_user(&user).map_err(ApiError::from)?;
        let planned = vec![planned(user, req, &st.config, "")?];
        let answers = run(&st, &name, planned, &read).await?;
        let mut out = Vec::new();
        for a in &answers {
            write_answer(a, &mut out)?;
        }
        Ok(out.pop().unwrap_or_default())
    })
    .await
}

#[utoipa::path(
    post, path = "/collections/{name}/users/recommend/batch", tag = "users", operation_id = "recommend_for_users_batch",
    request_body = UserRecommendBatch,
    params(("name" = String, Path, description = "collection name or alias"), ReadParams),
    responses(
        (status = 200, description = "[{points, served_by} | {groups, served_by}], one per entry"),
        (status = 400, description = "as for one user, named by searches[i]; more than search.max_batch entries", body = ErrorResponse),
        (status = 404, description = "no such collection; an unknown user (unless its fallback is popular)", body = ErrorResponse),
        Busy,
    )
)]
pub async fn recommend_batch(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(read): Params<ReadParams>,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    cached_in(&st, &name, "", body, |st, name, req: UserRecommendBatch| async move {
        let planned = req
            .searches
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let prefix = format!("searches[{i}].");
                let user = e.remove("user").unwrap_or(serde_json::Value::Null);
                let user = crate::collection::user_of(&user)
                    .map_err(|err| ApiError::bad(format!("{prefix}{err}")))?;
                let request: UserRecommend = serde_json::from_value(serde_json::Value::Object(e))
                    .map_err(|err| ApiError::bad(format!("Format error in JSON body: {prefix}{err}")))?;
                planned(user, request, &st.config, &prefix)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let answers = run(&st, &name, planned, &read).await?;
        let mut out = Vec::with_capacity(answers.len());
        for a in &answers {
            write_answer(a, &mut out)?;
        }
        Ok(format!("[{}]", out.join(",")))
    })
    .await
}

/// `recommendation` in `PATCH /collections/{c}`: the settings given replace those stored.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendationDiff {
    pub event_types: Option<std::collections::BTreeMap<String, f64>>,
    /// A number of days, or `null` for no decay.
    #[serde(default, deserialize_with = "some")]
    #[schema(value_type = Option<f64>)]
    pub half_life_days: Option<Option<f64>>,
    pub max_history: Option<usize>,
    pub interests: Option<usize>,
    pub popularity_weight: Option<f64>,
}

/// A field present (even as `null`) is `Some`.
fn some<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<f64>>, D::Error> {
    Option::<f64>::deserialize(d).map(Some)
}

impl RecommendationDiff {
    pub fn applied_to(self, mut c: RecommendationConfig) -> RecommendationConfig {
        if let Some(t) = self.event_types {
            c.event_types = t;
        }
        if let Some(h) = self.half_life_days {
            c.half_life_days = h;
        }
        if let Some(n) = self.max_history {
            c.max_history = n;
        }
        if let Some(n) = self.interests {
            c.interests = n;
        }
        if let Some(w) = self.popularity_weight {
            c.popularity_weight = w;
        }
        c
    }
}

/// The settings a `recommendation` change in `PATCH /collections/{c}` makes, checked.
pub(super) fn changed_recommendation(
    current: RecommendationConfig,
    diff: RecommendationDiff,
) -> Result<RecommendationConfig, ApiError> {
    let config = diff.applied_to(current);
    config.validate()?;
    Ok(config)
}
