//! HTTP integration tests: the router driven in-process with `tower::ServiceExt::oneshot`
//! over a catalog in a temporary directory.
//!
//! - `bad_input`: every kind of bad request answers a 4xx naming the problem and writes nothing.
//! - `api`: search, recommendations, payloads, scroll and count checked against brute force.
//! - `restart`: what survives closing and re-opening the catalog.
//! - `filter_indexes`: text, geo, datetime and uuid indexes and conditions, before and after a reopen.
//! - `fixtures`, `fixtures_v2`, `fixtures_v3`: the frozen data dirs of `tests/fixtures/` open and answer as
//!   they did.
//! - `jobs`: imports, rebuilds racing with writes, snapshots, the admin key.
//! - `users`: events, profiles, recommendations for users, the popular list, interaction imports.
//! - `hostile`: the faults and attacks of the reliability issue, one regression test each.
//! - `import_cli`: the `vicinity import` command against the real server on a port.
//! - `order_facet`: `order_by` (scroll, query), `facet` and `count`, Qdrant's worked examples.
//! - `openapi`: the OpenAPI document lists every route and every status the router answers.
//! - `queries`: MMR, discovery / context and grouped searches against Qdrant's worked examples.
//! - `sparse`: sparse vectors (with IDF) and `prefetch` with fusion and rescoring.

mod api;
mod bad_input;
mod common;
mod conventions;
mod embedding;
mod faiss;
mod filter_indexes;
mod fixtures;
mod fixtures_v2;
mod fixtures_v3;
mod hostile;
mod import_cli;
mod jobs;
mod layers;
mod named_vectors;
mod openapi;
mod order_facet;
mod queries;
mod restart;
mod serving;
mod sparse;
mod users;
