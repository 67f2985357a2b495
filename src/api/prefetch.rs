//! `prefetch` and fusion in the query routes' wire form: prefetches parsed and checked with
//! Qdrant's rules between a level's query and its prefetches, `{"fusion": …}` / `{"rrf": …}`,
//! and each prefetch's examples resolved once texts are embedded.

use serde::Deserialize;
use serde_json::Value;

use super::models::QueryValue;
use super::points::check_limit;
use super::query::{params, parse_query, Input, Wanted};
use super::ApiError;
use crate::collection::{Example, Fusion, Prefetch, DEFAULT_RRF_K};
use crate::config::Config;
use vicinity_index::SearchParams;

/// Deepest nesting of prefetches (Qdrant's), and most prefetches in one query (vicinity's:
/// each is a search of its own).
pub const MAX_PREFETCH_DEPTH: usize = 64;
pub const MAX_PREFETCHES: usize = 64;

/// A prefetch as parsed and checked, its texts not yet embedded.
pub(super) struct ParsedPrefetch {
    using: String,
    wanted: Option<Wanted>,
    filter: Option<crate::collection::Filter>,
    limit: usize,
    score_threshold: Option<f32>,
    params: SearchParams,
    prefetch: Vec<ParsedPrefetch>,
}

impl ParsedPrefetch {
    pub(super) fn inputs<'a>(&'a self, out: &mut Vec<(&'a str, &'a Input)>) {
        out.extend(self.wanted.iter().flat_map(Wanted::inputs).map(|i| (self.using.as_str(), i)));
        self.prefetch.iter().for_each(|p| p.inputs(out));
    }

    pub(super) fn resolve(self, embedded: &mut impl Iterator<Item = Example>) -> Result<Prefetch, ApiError> {
        Ok(Prefetch {
            using: self.using,
            query: self.wanted.map(|w| w.resolve(embedded)).transpose()?,
            filter: self.filter,
            limit: self.limit,
            score_threshold: self.score_threshold,
            params: self.params,
            prefetch: self.prefetch.into_iter().map(|p| p.resolve(embedded)).collect::<Result<_, _>>()?,
        })
    }

    pub(super) fn count(&self) -> usize {
        1 + self.prefetch.iter().map(ParsedPrefetch::count).sum::<usize>()
    }
}

/// A `prefetch` field (one object or a list of them), `depth` levels down.
pub(super) fn prefetches(
    v: Option<Value>,
    at: &str,
    config: &Config,
    depth: usize,
    prefix: &str,
) -> Result<Vec<ParsedPrefetch>, ApiError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(one @ Value::Object(_)) => vec![one],
        Some(other) => {
            return Err(ApiError::bad(format!(
                "{at}: expected a prefetch object or a list of them, got {other}"
            )))
        }
    };
    if depth > MAX_PREFETCH_DEPTH {
        return Err(ApiError::bad(format!(
            "Wrong input: Validation failed: prefetches depth {depth} exceeds max depth {MAX_PREFETCH_DEPTH}"
        )));
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let at = format!("{at}[{i}]");
            let body: super::models::PrefetchBody = serde_path_to_error::deserialize(item).map_err(|e| {
                let path = match e.path().to_string() {
                    p if p == "." => at.clone(),
                    p => format!("{at}.{p}"),
                };
                super::extract::parse_error(&path, &e.into_inner().to_string(), prefix)
            })?;
            if body.lookup_from.as_ref().is_some_and(|p| !p.is_null()) {
                return Err(ApiError::bad(format!("{at}.lookup_from is not supported")));
            }
            let limit = body.limit.unwrap_or(10);
            check_limit(limit, 0, config.search.max_limit, &format!("{prefix}{at}."))?;
            let nested = prefetches(body.prefetch, &format!("{at}.prefetch"), config, depth + 1, prefix)?;
            let wanted = match body.query {
                Some(QueryValue::Vector(v)) => Some(Wanted::Nearest(Input::Example(Example::Vector(v)))),
                Some(QueryValue::Other(v)) => Some(parse_query(&v, &format!("{prefix}{at}."))?),
                None => None,
            };
            let using = body.using.unwrap_or_default();
            check_stage(wanted.as_ref(), nested.len(), body.score_threshold.is_some(), &using)?;
            Ok(ParsedPrefetch {
                using,
                wanted,
                filter: body.filter,
                limit,
                score_threshold: body.score_threshold,
                params: params(body.params, &format!("{prefix}{at}."))?,
                prefetch: nested,
            })
        })
        .collect()
}

/// The rules between a level's query and its prefetches (Qdrant's, in its order).
pub(super) fn check_stage(
    wanted: Option<&Wanted>,
    prefetches: usize,
    has_threshold: bool,
    using: &str,
) -> Result<(), ApiError> {
    if wanted.is_none() && prefetches > 0 {
        return Err(ApiError::bad(
            "Bad request: A query is needed to merge the prefetches. Can't have prefetches without defining a query.",
        ));
    }
    if wanted.is_none() && has_threshold {
        return Err(ApiError::bad(
            "Bad request: A query is needed to use the score_threshold. Can't have score_threshold without defining a query.",
        ));
    }
    if matches!(wanted, Some(Wanted::Formula(_))) && prefetches == 0 {
        return Err(ApiError::bad("Wrong input: Validation failed: cannot apply Formula without prefetches"));
    }
    if let Some(Wanted::Fusion(f)) = wanted {
        if !using.is_empty() {
            return Err(ApiError::bad(
                "Bad request: Fusion queries cannot be combined with the 'using' field.",
            ));
        }
        if prefetches == 0 {
            return Err(ApiError::bad(
                "Wrong input: Validation failed: cannot apply Fusion without prefetches",
            ));
        }
        if let Fusion::Rrf { weights: Some(w), .. } = f {
            if w.len() != prefetches {
                return Err(ApiError::bad(format!(
                    "Wrong input: Validation failed: RRF weights length ({}) does not match number of prefetches ({prefetches})",
                    w.len()
                )));
            }
        }
    }
    Ok(())
}

/// `{"fusion": "rrf" | "dbsf"}`'s value, or `{"rrf": {"k": …, "weights": […]}}`'s.
pub(super) fn fusion(kind: &str, v: &Value, prefix: &str) -> Result<Wanted, ApiError> {
    match (kind, v) {
        ("fusion", Value::String(f)) if f == "rrf" => {
            Ok(Wanted::Fusion(Fusion::Rrf { k: DEFAULT_RRF_K, weights: None }))
        }
        ("fusion", Value::String(f)) if f == "dbsf" => Ok(Wanted::Fusion(Fusion::Dbsf)),
        ("fusion", other) => {
            Err(ApiError::bad(format!("query.fusion: expected \"rrf\" or \"dbsf\", got {other}")))
        }
        (_, Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| *k != "k" && *k != "weights") {
                return Err(ApiError::bad(format!("query.rrf: unknown field `{k}`")));
            }
            let k = match o.get("k") {
                None | Some(Value::Null) => DEFAULT_RRF_K,
                Some(k) => match k.as_u64().and_then(|k| usize::try_from(k).ok()) {
                    Some(k) if k >= 1 => k,
                    Some(_) => {
                        return Err(ApiError::invalid(
                            "JSON body",
                            &[format!("{prefix}query.rrf.k: value {k} invalid, must be 1 or larger")],
                        ))
                    }
                    None => return Err(ApiError::bad(format!("query.rrf.k: expected an integer, got {k}"))),
                },
            };
            let weights = match o.get("weights") {
                None | Some(Value::Null) => None,
                Some(w) => Some(
                    Vec::<f32>::deserialize(w).ok().filter(|w| w.iter().all(|x| x.is_finite())).ok_or_else(
                        || ApiError::bad(format!("query.rrf.weights: expected a list of numbers, got {w}")),
                    )?,
                ),
            };
            Ok(Wanted::Fusion(Fusion::Rrf { k, weights }))
        }
        (_, other) => Err(ApiError::bad(format!("query.rrf: expected {{\"k\": …}}, got {other}"))),
    }
}
