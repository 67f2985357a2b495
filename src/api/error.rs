//! The HTTP face of errors: Qdrant's envelope `{"status": {"error": "…", "code": "…"}, "result":
//! null, "time": …}` and the one mapping from an error's [`Code`] to its status. Every non-2xx
//! answer is an [`ApiError`]; 5xx details are logged, not sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::error::Error;

/// A stable, machine-readable name for what went wrong (`status.code` in the envelope); the
/// message beside it is for people and may change. Documented in README, "Errors".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// The request is malformed or asks for something impossible (the message names what).
    BadRequest,
    /// A value is out of its range or a rule between fields is broken (422, as Qdrant answers
    /// its validation errors: `Validation error in JSON body: [path: message; …]`).
    Invalid,
    /// A missing or wrong API key.
    Unauthorized,
    /// No such collection, point, job, snapshot or payload index.
    NotFound,
    /// No route has this path.
    NoRoute,
    /// The route does not take this method.
    MethodNotAllowed,
    /// The request body did not arrive in time.
    RequestTimeout,
    /// A collection of this name exists.
    AlreadyExists,
    /// The request conflicts with the current state (a rebuild already running, a job finished).
    Conflict,
    /// The request body is over `service.max_request_bytes`.
    PayloadTooLarge,
    /// The body's media type is not one the route reads.
    UnsupportedMediaType,
    /// Storage failed or a bug: the details are in the server log.
    Internal,
    /// Too many searches are running and waiting: retry after `Retry-After`.
    Overloaded,
    /// The request did not finish within its time and was stopped: retry after `Retry-After`.
    Timeout,
}

impl Code {
    /// Every code, for the documentation test.
    pub const ALL: [Code; 14] = [
        Code::BadRequest,
        Code::Invalid,
        Code::Unauthorized,
        Code::NotFound,
        Code::NoRoute,
        Code::MethodNotAllowed,
        Code::RequestTimeout,
        Code::AlreadyExists,
        Code::Conflict,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::Internal,
        Code::Overloaded,
        Code::Timeout,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Code::BadRequest => StatusCode::BAD_REQUEST,
            Code::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::NotFound | Code::NoRoute => StatusCode::NOT_FOUND,
            Code::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::AlreadyExists | Code::Conflict => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Code::Overloaded | Code::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Code::BadRequest => "bad_request",
            Code::Invalid => "invalid",
            Code::Unauthorized => "unauthorized",
            Code::NotFound => "not_found",
            Code::NoRoute => "no_route",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::RequestTimeout => "request_timeout",
            Code::AlreadyExists => "already_exists",
            Code::Conflict => "conflict",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::Internal => "internal",
            Code::Overloaded => "overloaded",
            Code::Timeout => "timeout",
        }
    }
}

#[derive(Debug)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError { code, message: message.into() }
    }

    pub fn bad(message: impl Into<String>) -> Self {
        ApiError::new(Code::BadRequest, message)
    }

    /// 422 in Qdrant's words: `Validation error in {part}: [{path}: {message}; …]`, where
    /// `part` is `JSON body`, `path parameters` or `query parameters`.
    pub fn invalid(part: &str, entries: &[String]) -> Self {
        ApiError::new(Code::Invalid, format!("Validation error in {part}: [{}]", entries.join("; ")))
    }

    /// 413 for a body over `service.max_request_bytes`.
    pub fn too_large(max: usize) -> Self {
        let message = format!("request body too large: the limit is {max} bytes (service.max_request_bytes)");
        ApiError::new(Code::PayloadTooLarge, message)
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let code = match &e {
            Error::BadRequest(_) => Code::BadRequest,
            Error::NotFound { .. } | Error::NoPoint(_) => Code::NotFound,
            Error::AlreadyExists { .. } => Code::AlreadyExists,
            Error::Conflict(_) => Code::Conflict,
            Error::Unauthorized(_) => Code::Unauthorized,
            Error::Timeout(_) => Code::Timeout,
            Error::Overloaded(_) => Code::Overloaded,
            Error::Storage(_) | Error::Internal(_) => Code::Internal,
        };
        // Storage and internal failures are logged, not sent; a timeout's message is the client's.
        if code == Code::Internal {
            tracing::error!("{e}");
            return ApiError::new(code, "internal error; see the server log");
        }
        ApiError::new(code, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": {"error": self.message, "code": self.code.name()},
            "result": null,
            "time": 0.0
        });
        let status = self.code.status();
        let mut response = (status, Json(body)).into_response();
        // Every 503 is an overload or a timeout: tell clients when to come back.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
        }
        response
    }
}
