//! `vicinity-index`: vicinity's approximate-nearest-neighbour engine.
//!
//! - [`distance`]: metrics and simsimd kernels; **score is always higher-is-closer**.
//! - [`VectorIndex`]: the one contract (batch search required, upsert, delete, save).
//! - [`AnyIndex`]: the closed set of backends — [`Flat`] (exact; the test oracle), [`Hnsw`]
//!   (ours), `HnswRs` (the `hnsw_rs` crate, feature `hnsw-rs`) and `Faiss` (IVF-Flat / SQ8 /
//!   PQ or any factory string, feature `faiss`).
//! - [`VectorSource`]: the caller's stored vectors, for backends that keep only codes.
//! - [`SparseIndex`]: sparse vectors ([`SparseVector`]) in an exact inverted index, with IDF.
//! - Filters ([`Filter`]) are evaluated inside searches; `persist` is the checksummed file format.
//!
//! This crate knows nothing of HTTP, RocksDB or async runtimes: it is a library of data
//! structures that callers drive from their own threads (rayon parallelises builds and batches).

pub mod any;
pub mod distance;
mod early;
pub mod error;
#[cfg(feature = "faiss")]
pub mod faiss;
pub mod flat;
pub mod hnsw;
#[cfg(feature = "hnsw-rs")]
pub mod hnsw_rs_backend;
mod huge;
pub mod io;
mod matmul;
pub mod persist;
pub mod plan;
mod quant;
mod rotation;
pub mod source;
pub mod sparse;
mod store;
mod topk;
pub mod traits;
pub mod types;

pub use any::{AnyIndex, Backend};
pub use distance::{Metric, Prepared};
pub use error::{IndexError, Result};
#[cfg(feature = "faiss")]
pub use faiss::{Faiss, FaissParams};
pub use flat::Flat;
pub use hnsw::{Hnsw, HnswParams, Quantization};
#[cfg(feature = "hnsw-rs")]
pub use hnsw_rs_backend::HnswRs;
pub use source::{RowSource, VectorSource};
pub use sparse::{SparseIndex, SparseVector};
pub use traits::VectorIndex;
pub use types::{Filter, Offset, PointId, ScoredPoint, SearchParams};
