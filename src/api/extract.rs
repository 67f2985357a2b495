//! Extractors whose rejections answer in the error envelope, naming what was wrong.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{ApiError, Code};
use super::AppState;

/// A JSON body. Malformed JSON and wrong types are 400 (413 when too large).
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rejection) => Err(json_rejection(rejection, state.config.service.max_request_bytes)),
        }
    }
}

/// The request's media type (`Content-Type` without parameters, lower case; empty if none).
pub fn media_type(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// A JSON body's bytes, for routes that parse it themselves (the query routes: typed straight
/// from the bytes, or as a `Value` for the result cache). Rejections match [`Body`]'s: 415
/// without a JSON content type, 413 when too large.
pub struct JsonBytes(pub axum::body::Bytes);

impl FromRequest<AppState> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let m = media_type(req.headers());
        let json_type = m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"));
        if !json_type {
            return Err(ApiError::new(
                Code::UnsupportedMediaType,
                "Expected request with `Content-Type: application/json`",
            ));
        }
        body_bytes(req, state).await.map(JsonBytes)
    }
}

/// The whole body, within `service.max_request_bytes` (413 beyond it).
pub async fn body_bytes(req: Request, state: &AppState) -> Result<axum::body::Bytes, ApiError> {
    let max = state.config.service.max_request_bytes;
    axum::body::Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(max)
        } else {
            ApiError::bad(r.body_text())
        }
    })
}

/// A malformed JSON body (a syntax error, naming its line and column).
pub fn syntax_error(e: serde_json::Error) -> ApiError {
    ApiError::bad(format!("Format error in JSON body: Failed to parse the request body as JSON: {e}"))
}

/// Types a JSON body without field-path tracking; only a failing body is parsed again, to tell
/// a syntax error from a wrong field and to name the field.
pub fn typed<R: DeserializeOwned>(bytes: &[u8]) -> Result<R, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return syntax_error(e);
        }
        let e =
            serde_path_to_error::deserialize::<_, R>(&mut serde_json::Deserializer::from_slice(bytes)).err();
        let detail = e.map(|e| format!("{}: {}", e.path(), e.inner())).unwrap_or_default();
        ApiError::bad(format!("Format error in JSON body: {detail}"))
    })
}

fn json_rejection(r: JsonRejection, max_bytes: usize) -> ApiError {
    let code = match r.status() {
        StatusCode::PAYLOAD_TOO_LARGE => Code::PayloadTooLarge,
        StatusCode::UNSUPPORTED_MEDIA_TYPE => Code::UnsupportedMediaType,
        _ => Code::BadRequest,
    };
    // `JsonRejection` is non-exhaustive: tested with `matches!`, not matched arm by arm.
    let message = if matches!(r, JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_)) {
        let text = r.body_text();
        let text = text.trim_start_matches("Failed to deserialize the JSON body into the target type: ");
        format!("Format error in JSON body: {text}")
    } else if code == Code::PayloadTooLarge {
        ApiError::too_large(max_bytes).message
    } else {
        r.body_text()
    };
    ApiError { code, message }
}

/// Path parameters; a bad one (e.g. invalid UTF-8 once percent-decoded) is 400, in the envelope.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|r: PathRejection| ApiError::bad(format!("Bad path: {}", r.body_text())))
    }
}

/// Query-string parameters; bad ones are 400.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|r: QueryRejection| ApiError::bad(format!("Bad query string: {}", r.body_text())))
    }
}

/// `?wait=` — `true` (the default, as Qdrant's client sends) fsyncs before answering.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParam {
    /// `true` (default): the write is synced to disk before the answer; `false`: acknowledged
    /// once applied.
    pub wait: Option<bool>,
}

impl WaitParam {
    pub fn sync(&self) -> bool {
        self.wait.unwrap_or(true)
    }
}
