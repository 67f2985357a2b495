//! `vicinity`: the vector similarity search and recommendation service.
//!
//! The HTTP service (collections in RocksDB behind a Qdrant-compatible API) is built on the
//! engine re-exported here; see ARCHITECTURE.md for the layers.

pub use vicinity_index as index;
