//! Extractors whose rejections answer in the error envelope, naming what was wrong.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::error::{ApiError, Code};
use super::AppState;

/// A JSON body. Malformed JSON and wrong types are 400, broken rules 422 (see [`typed`]), a
/// body over the limit 413, a body without a JSON media type 415.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let JsonBytes(bytes) = JsonBytes::from_request(req, state).await?;
        typed(&bytes, "").map(Body)
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

/// Marks a parse error that is a broken rule rather than a wrong shape: `rule` builds it inside a
/// `Deserialize` impl (its path relative to the value being parsed), [`typed`] turns it into a
/// 422 at the value's full path.
const RULE: char = '\u{1}';

/// A broken rule found while parsing, at `path` (relative to the value being parsed, `""` for
/// the value itself, else starting with `.` or `[`), in Qdrant's words.
pub fn rule(path: &str, message: &str) -> String {
    format!("{RULE}{path}{RULE}{message}{RULE}")
}

/// Marks a format error found inside a value a `Deserialize` impl parsed on its own (from a
/// buffered `Value`, which has lost the path): [`typed`] joins `path` to the value's own.
const NESTED: char = '\u{2}';

/// A format error at `path` (relative, as for [`rule`]) inside the value being parsed.
pub fn nested(path: &str, message: &str) -> String {
    format!("{NESTED}{path}{NESTED}{message}")
}

/// Types a JSON body without field-path tracking; only a failing body is parsed again, to tell
/// a syntax error from a wrong field and to name the field. A broken rule (see [`rule`]) is a
/// 422 whose path starts with `prefix` (Qdrant names the fields of some requests under the
/// struct that wraps them: `internal.limit` in a query).
pub fn typed<R: DeserializeOwned>(bytes: &[u8], prefix: &str) -> Result<R, ApiError> {
    serde_json::from_slice(bytes).map_err(|_| {
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
            return syntax_error(e);
        }
        let Err(e) =
            serde_path_to_error::deserialize::<_, R>(&mut serde_json::Deserializer::from_slice(bytes))
        else {
            return ApiError::bad("Format error in JSON body");
        };
        let path = e.path().to_string();
        parse_error(&path, &e.into_inner().to_string(), prefix)
    })
}

/// A parse error of the value at `path` (`.`: the body itself), as [`typed`] answers it: a 422
/// for a broken [`rule`], else a 400 naming the field (and the path of a [`nested`] error).
pub fn parse_error(path: &str, inner: &str, prefix: &str) -> ApiError {
    let path = if path == "." { "" } else { path };
    let mut parts = inner.split(RULE);
    if let (Some(_), Some(rel), Some(message)) = (parts.next(), parts.next(), parts.next()) {
        let at = format!("{prefix}{path}{rel}");
        return ApiError::invalid("JSON body", &[format!("{}: {message}", at.trim_start_matches('.'))]);
    }
    if let Some((rel, message)) = inner.strip_prefix(NESTED).and_then(|rest| rest.split_once(NESTED)) {
        let path =
            if path.is_empty() { rel.trim_start_matches('.').to_string() } else { format!("{path}{rel}") };
        return ApiError::bad(format!("Format error in JSON body: {path}: {message}"));
    }
    let path = if path.is_empty() { String::new() } else { format!("{path}: ") };
    ApiError::bad(format!("Format error in JSON body: {path}{inner}"))
}

/// Collects Qdrant-style validation failures (422), each `path: message`.
#[derive(Default)]
pub struct Rules(Vec<String>);

impl Rules {
    pub fn broken(&mut self, path: impl std::fmt::Display, message: impl std::fmt::Display) {
        self.0.push(format!("{path}: {message}"));
    }

    /// `value` must be at least `min`.
    pub fn min<N: PartialOrd + std::fmt::Display>(&mut self, path: impl std::fmt::Display, value: N, min: N) {
        if value < min {
            self.broken(path, format!("value {value} invalid, must be {min} or larger"));
        }
    }

    /// `value` must be at most `max`.
    pub fn max<N: PartialOrd + std::fmt::Display>(&mut self, path: impl std::fmt::Display, value: N, max: N) {
        if value > max {
            self.broken(path, format!("value {value} invalid, must be {max} or smaller"));
        }
    }

    /// `value` must be in `min..=max`.
    pub fn range<N: PartialOrd + std::fmt::Display>(
        &mut self,
        path: impl std::fmt::Display,
        value: N,
        min: N,
        max: N,
    ) {
        if value < min || value > max {
            self.broken(path, format!("value {value} invalid, must be from {min} to {max}"));
        }
    }

    /// 422 naming every broken rule of the body, if any.
    pub fn check(self) -> Result<(), ApiError> {
        self.check_in("JSON body")
    }

    /// 422 naming every broken rule of `part` (`JSON body`, `query parameters`, `path
    /// parameters`), if any.
    pub fn check_in(self, part: &str) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(part, &self.0))
        }
    }
}

/// Path parameters; a bad one (e.g. invalid UTF-8 once percent-decoded) is 400, in the envelope.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let bad = |r: PathRejection| ApiError::bad(format!("Bad path: {}", r.body_text()));
        // A collection name is 1 to 255 characters on every route, as in Qdrant.
        let raw = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|r| ApiError::bad(format!("Bad path: {}", r.body_text())))?;
        if let Some((_, name)) = raw.iter().find(|(k, _)| *k == "name") {
            let mut rules = Rules::default();
            name_length(&mut rules, name);
            rules.check_in("path parameters")?;
        }
        axum::extract::Path::<T>::from_request_parts(parts, state).await.map(|p| Path(p.0)).map_err(bad)
    }
}

/// Qdrant's length rule for collection names: 1 to 255 characters (not bytes).
pub fn name_length(rules: &mut Rules, name: &str) {
    let n = name.chars().count();
    if !(1..=255).contains(&n) {
        let quoted = serde_json::Value::String(name.to_string());
        rules.broken("name", format!("value {quoted} invalid, must be from 1 to 255 characters"));
    }
}

/// Query-string parameters; bad ones are 400.
pub struct Params<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| Params(q.0)).map_err(
            |r: QueryRejection| {
                let text = r.body_text();
                let text = text.trim_start_matches("Failed to deserialize query string: ");
                ApiError::bad(format!("Deserialize error in query parameters: {text}"))
            },
        )
    }
}

/// `?timeout=` on reads (searches, scroll, count, retrieve), in seconds as in Qdrant: it
/// shortens the request's deadline; `search.timeout_ms` stays the longest any read may run.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadParams {
    /// Seconds (at least 1) after which the read stops and is answered 503; at most
    /// `search.timeout_ms`.
    #[param(value_type = Option<u64>, minimum = 1)]
    pub timeout: Option<std::num::NonZeroU64>,
}

impl ReadParams {
    /// The time this read may take under `limit` (`search.timeout_ms`).
    pub fn within(&self, limit: std::time::Duration) -> std::time::Duration {
        self.timeout.map_or(limit, |t| limit.min(std::time::Duration::from_secs(t.get())))
    }
}

/// `?timeout=` on collection operations (create, delete): seconds, at least 1 (422 otherwise,
/// as in Qdrant). They complete synchronously, well within it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MetaParams {
    /// Seconds to wait for the operation, at least 1.
    pub timeout: Option<u64>,
}

impl MetaParams {
    pub fn check(&self) -> Result<(), ApiError> {
        let mut rules = Rules::default();
        if let Some(t) = self.timeout {
            rules.min("timeout", t, 1);
        }
        rules.check_in("query parameters")
    }
}

/// `?wait=` — `true` (the default, as Qdrant's client sends) fsyncs before answering.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParam {
    /// `true` (default): the write is synced to disk before the answer; `false`: acknowledged
    /// once applied.
    pub wait: Option<bool>,
    /// Seconds to wait for the write (Qdrant's parameter): a write here is applied before it
    /// is answered, so it never ends with `wait_timeout`. Parsed so a bad value is named.
    #[allow(dead_code)]
    pub timeout: Option<u64>,
    /// Qdrant's write ordering across replicas (`weak`, `medium`, `strong`): one node orders
    /// every write. Parsed so a bad value is named.
    #[allow(dead_code)]
    pub ordering: Option<Ordering>,
}

/// Qdrant's `ordering` values.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Ordering {
    Weak,
    Medium,
    Strong,
}

impl WaitParam {
    pub fn sync(&self) -> bool {
        self.wait.unwrap_or(true)
    }
}
