//! The HTTP face of errors: Qdrant's envelope `{"status": {"error": "…"}, "time": …}` and the one
//! exhaustive mapping from [`Error`] to a status code. 5xx details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;

pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError { status: StatusCode::BAD_REQUEST, message: message.into() }
    }

    /// 413 for a body over `service.max_request_bytes`.
    pub fn too_large(max: usize) -> Self {
        ApiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("request body too large: the limit is {max} bytes (service.max_request_bytes)"),
        }
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let status = match &e {
            Error::BadRequest(_) => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists { .. } | Error::Conflict(_) => StatusCode::CONFLICT,
            Error::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Error::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Storage(_) | Error::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        // Storage and internal failures are logged, not sent; a timeout's message is the client's.
        let message = if matches!(e, Error::Storage(_) | Error::Internal(_)) {
            tracing::error!("{e}");
            "internal error; see the server log".to_string()
        } else {
            e.to_string()
        };
        ApiError { status, message }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"status": {"error": self.message}, "result": null, "time": 0.0});
        let mut response = (self.status, Json(body)).into_response();
        // Every 503 is an overload or a timeout: tell clients when to come back.
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
