//! The service's error type. Messages name the offending value; `src/api/error.rs` maps every
//! variant to an HTTP status in one exhaustive match.

use vicinity_index::IndexError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed or asks for something impossible.
    #[error("{0}")]
    BadRequest(String),
    #[error("{what} not found")]
    NotFound { what: String },
    /// A point id a request names does not exist (Qdrant's words).
    #[error("No point with id {0} found")]
    NoPoint(String),
    #[error("{what} already exists")]
    AlreadyExists { what: String },
    /// The request conflicts with the current state (e.g. a rebuild already running).
    #[error("{0}")]
    Conflict(String),
    /// A missing or wrong API key.
    #[error("{0}")]
    Unauthorized(String),
    /// Too much work is waiting; the request was not started.
    #[error("{0}")]
    Overloaded(String),
    /// The request's time ran out; its work was stopped.
    #[error("{0}")]
    Timeout(String),
    /// RocksDB failed; the write was not acknowledged.
    #[error("storage error: {0}")]
    Storage(String),
    /// A bug or an unexpected state; the detail is logged, clients see an opaque message.
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn bad(msg: impl Into<String>) -> Self {
        Error::BadRequest(msg.into())
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Error::NotFound { what: what.into() }
    }

    /// For `map_err` on file I/O: a storage error naming the file.
    pub fn file(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + '_ {
        move |e| Error::Storage(format!("{}: {e}", path.display()))
    }
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Self {
        if e.is_invalid_input() {
            Error::BadRequest(e.to_string())
        } else {
            Error::Internal(e.to_string())
        }
    }
}
