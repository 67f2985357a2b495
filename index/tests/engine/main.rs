//! The engine's integration tests: one binary, one module per concern.

mod basis;
mod common;
mod concurrency;
mod conformance;
#[cfg(feature = "faiss")]
mod faiss;
mod fixtures;
mod persistence;
mod properties;
mod recall;
mod sparse;
