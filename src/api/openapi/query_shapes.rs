//! OpenAPI shapes of the query kinds `parse_query` and the legacy discover route read by hand:
//! MMR, discovery and context.

#![allow(dead_code)]

use super::ExampleInput;

/// Maximal marginal relevance over the `candidates_limit` nearest points.
#[derive(utoipa::ToSchema)]
pub struct MmrInput {
    /// 0 (relevance only) to 1 (diversity only); 0.5 by default.
    #[schema(minimum = 0.0, maximum = 1.0)]
    pub diversity: Option<f32>,
    /// The candidate pool; `limit + offset` by default.
    #[schema(maximum = 16384)]
    pub candidates_limit: Option<usize>,
}

/// A context pair: points closer to `positive` than to `negative` are preferred.
#[derive(utoipa::ToSchema)]
pub struct ContextPairInput {
    pub positive: ExampleInput,
    pub negative: ExampleInput,
}

/// One context pair or a list of them.
#[derive(utoipa::ToSchema)]
#[serde(untagged)]
pub enum ContextInput {
    One(ContextPairInput),
    Many(Vec<ContextPairInput>),
}

/// `{"discover": {"target": …, "context": …}}`: scored by the context rank (+1 / −1 per pair),
/// plus the target similarity scaled into (0, 1); descending for every metric.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoverQuery {
    pub discover: DiscoverInput,
}

#[derive(utoipa::ToSchema)]
pub struct DiscoverInput {
    pub target: ExampleInput,
    pub context: Option<ContextInput>,
}

/// `{"context": …}`: 0 for points closer to the positive of every pair, less the further they
/// are on the negative side.
#[derive(utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContextQuery {
    pub context: ContextInput,
}
