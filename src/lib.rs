//! `vicinity`: vector similarity search and recommendations over HTTP.
//!
//! - [`api`]: the HTTP surface (Qdrant-compatible); the only module that knows HTTP.
//! - [`catalog`] / [`collection`]: collections, their points, filters, searches.
//! - [`storage`]: RocksDB, the source of truth.
//! - [`embedding`]: server-side text embedding (ONNX Runtime), micro-batched and cached.
//! - [`config`]: layered configuration.
//! - [`jobs`]: background jobs — bulk import, index rebuild and vacuum — with progress.
//! - [`snapshots`]: collection snapshots (create, recover).
//! - [`files`]: request-named files, confined to their configured directory.
//!
//! The ANN engine is the `vicinity-index` crate, re-exported as [`index`].

pub mod api;
pub mod catalog;
pub mod collection;
pub mod config;
pub mod embedding;
pub mod error;
pub mod files;
pub mod id;
pub mod import_cli;
pub mod jobs;
pub mod priority;
pub mod serve;
pub mod snapshots;
pub mod storage;

pub use vicinity_index as index;
