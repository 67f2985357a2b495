//! The engine's one error type. Every message names the offending values.

use crate::PointId;

/// Everything the engine can refuse or fail at. Callers map these to their own layer's errors
/// (the service maps them to HTTP statuses in one exhaustive `match`).
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("Vector dimension error: expected dim: {expected}, got {got}")]
    DimensionMismatch { expected: usize, got: usize },

    #[error("vector component {position} is not finite ({value})")]
    NonFinite { position: usize, value: f32 },

    #[error("vector has zero length and cannot be normalised for cosine similarity")]
    ZeroVector,

    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter { name: &'static str, reason: String },

    #[error("ids and vectors disagree: {ids} ids for {values} values of dim {dim}")]
    BatchShape { ids: usize, values: usize, dim: usize },

    #[error("duplicate point id {id} within one batch")]
    DuplicateId { id: PointId },

    #[error("{backend} does not support {what}")]
    Unsupported { backend: &'static str, what: String },

    #[error("{backend} failed: {reason}")]
    Backend { backend: &'static str, reason: String },

    #[error("index file {path}: {reason}")]
    Corrupt { path: String, reason: String },

    #[error("index file {path}: format version {found} is newer than this build knows ({known})")]
    UnknownVersion { path: String, found: u32, known: u32 },

    #[error("i/o error on {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Result alias used throughout the crate.
pub type Result<T, E = IndexError> = std::result::Result<T, E>;

impl IndexError {
    /// Whether the caller's input is at fault (as opposed to files, i/o or the backend).
    pub fn is_invalid_input(&self) -> bool {
        match self {
            IndexError::DimensionMismatch { .. }
            | IndexError::NonFinite { .. }
            | IndexError::ZeroVector
            | IndexError::InvalidParameter { .. }
            | IndexError::BatchShape { .. }
            | IndexError::DuplicateId { .. }
            | IndexError::Unsupported { .. } => true,
            IndexError::Corrupt { .. }
            | IndexError::UnknownVersion { .. }
            | IndexError::Io { .. }
            | IndexError::Backend { .. } => false,
        }
    }

    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        IndexError::Io { path: path.display().to_string(), source }
    }

    pub(crate) fn corrupt(path: &std::path::Path, reason: impl Into<String>) -> Self {
        IndexError::Corrupt { path: path.display().to_string(), reason: reason.into() }
    }

    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        IndexError::InvalidParameter { name, reason: reason.into() }
    }
}
