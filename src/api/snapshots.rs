//! `/collections/{c}/snapshots…` (Qdrant's paths): create, list, download, delete, recover from
//! a file on the server, and upload-and-recover.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path as FsPath;
use std::time::Instant;

use axum::body::Body as RawBody;
use axum::extract::{Request, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;

use super::error::Code;
use super::extract::{Body, Params, Path};
use super::openapi::{CollectionName, ErrorResponse, SnapshotFile, SnapshotForm, SnapshotName};
use super::{blocking, ok, ApiError, ApiResult, AppState};
use crate::error::Error;
use crate::snapshots;

/// `?wait=` is accepted for compatibility: snapshots are always written before answering.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnapshotParams {
    #[serde(rename = "wait")]
    #[param(rename = "wait")]
    pub _wait: Option<bool>,
    /// Upload only: the expected SHA-256 of the file (64 hex digits).
    #[param(pattern = "^[0-9a-fA-F]{64}$")]
    pub checksum: Option<String>,
    /// Upload only: accepted for compatibility (the snapshot always replaces local data).
    #[serde(rename = "priority")]
    #[param(rename = "priority")]
    pub _priority: Option<String>,
}

#[utoipa::path(
    post, path = "/collections/{name}/snapshots", operation_id = "create_snapshot", tag = "admin",
    params(CollectionName, SnapshotParams),
    responses(
        (status = 200, description = "the snapshot: name, creation_time, size, checksum"),
        (status = 400, description = "bad path or query parameters, or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
        (status = 409, description = "too many snapshots are being created at once", body = ErrorResponse),
    )
)]
pub async fn create(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(_): Params<SnapshotParams>,
) -> ApiResult {
    let started = Instant::now();
    let catalog = st.catalog.clone();
    let info = blocking(move || snapshots::create(&catalog, &name)).await?;
    Ok(ok(info, started))
}

#[utoipa::path(
    get, path = "/collections/{name}/snapshots", operation_id = "list_snapshots", tag = "admin",
    params(CollectionName),
    responses(
        (status = 200, description = "the collection's snapshots"),
        (status = 400, description = "bad path (not UTF-8) or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection", body = ErrorResponse),
    )
)]
pub async fn list(State(st): State<AppState>, Path(name): Path<String>) -> ApiResult {
    let started = Instant::now();
    let catalog = st.catalog.clone();
    Ok(ok(blocking(move || snapshots::list(&catalog, &name)).await?, started))
}

#[utoipa::path(
    get, path = "/collections/{name}/snapshots/{snapshot}", tag = "admin",
    params(CollectionName, SnapshotName),
    responses(
        (status = 200, description = "the snapshot file", content_type = "application/octet-stream"),
        (status = 400, description = "invalid collection or snapshot name, or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection or snapshot", body = ErrorResponse),
    )
)]
pub async fn download(
    State(st): State<AppState>,
    Path((name, snapshot)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let path = snapshots::path(&st.catalog, &name, &snapshot)?;
    let file = tokio::fs::File::open(&path).await.map_err(Error::file(&path))?;
    let len = file.metadata().await.map_err(Error::file(&path))?.len();
    let chunks = futures_util::stream::unfold(file, |mut file| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = vec![0u8; 1 << 20];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<_, std::io::Error>(bytes::Bytes::from(buf)), file))
            }
            Err(e) => Some((Err(e), file)),
        }
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{snapshot}\"")),
        ],
        RawBody::from_stream(chunks),
    )
        .into_response())
}

#[utoipa::path(
    delete, path = "/collections/{name}/snapshots/{snapshot}", operation_id = "delete_snapshot", tag = "admin",
    params(CollectionName, SnapshotName),
    responses(
        (status = 200, description = "deleted"),
        (status = 400, description = "invalid collection or snapshot name, or unreadable request body", body = ErrorResponse),
        (status = 404, description = "no such collection or snapshot", body = ErrorResponse),
    )
)]
pub async fn delete(State(st): State<AppState>, Path((name, snapshot)): Path<(String, String)>) -> ApiResult {
    let started = Instant::now();
    let catalog = st.catalog.clone();
    blocking(move || snapshots::delete(&catalog, &name, &snapshot)).await?;
    Ok(ok(true, started))
}

/// Qdrant's `SnapshotRecover`; as in Qdrant, other fields (`wait` among them: it is a query
/// parameter) are ignored.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct RecoverRequest {
    /// An absolute path on the server or a `file://` URI, to a file in the snapshots directory;
    /// or an `http://` URL to fetch it from (hosts restricted by `storage.snapshot_hosts`).
    #[schema(pattern = "^((file://)?/|http://)")]
    pub location: String,
    /// The expected SHA-256 of the file (64 hex digits).
    #[schema(pattern = "^[0-9a-fA-F]{64}$")]
    pub checksum: Option<String>,
    /// Accepted for compatibility (the snapshot always replaces local data).
    #[serde(rename = "priority")]
    #[schema(value_type = Option<Value>, rename = "priority")]
    pub _priority: Option<Value>,
    /// Accepted for compatibility, ignored.
    #[serde(rename = "api_key")]
    #[schema(value_type = Option<Value>, rename = "api_key")]
    pub _api_key: Option<Value>,
}

#[utoipa::path(
    put, path = "/collections/{name}/snapshots/recover", tag = "admin",
    request_body = RecoverRequest,
    params(CollectionName),
    responses(
        (status = 200, description = "recovered (replacing the collection if it existed)"),
        (status = 400, description = "bad JSON body or collection name; a location that is not a file in the snapshots directory, nor an http:// URL of an allowed host that answers 200; a corrupt snapshot or a checksum mismatch", body = ErrorResponse),
    )
)]
pub async fn recover(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Body(body): Body<RecoverRequest>,
) -> ApiResult {
    let started = Instant::now();
    crate::catalog::validate_name(&name)?;
    let name = st.catalog.resolve(&name);
    let catalog = st.catalog.clone();
    if !super::download::is_url(&body.location) {
        blocking(move || {
            let file = snapshots::location(&catalog, &body.location)?;
            snapshots::recover(&catalog, &name, &file, body.checksum.as_deref())
        })
        .await?;
        return Ok(ok(true, started));
    }
    let dir = snapshots::collection_dir(&catalog, &name)?;
    tokio::fs::create_dir_all(&dir).await.map_err(Error::file(&dir))?;
    let fetched = Received(dir.join(format!("download-{}.partial", uuid::Uuid::new_v4())));
    let limits = super::download::Limits {
        hosts: st.config.storage.snapshot_hosts.as_deref(),
        idle: std::time::Duration::from_millis(st.config.service.body_idle_timeout_ms),
        max_bytes: st.config.storage.max_snapshot_bytes,
    };
    super::download::fetch(&body.location, &limits, &fetched.0).await?;
    blocking(move || {
        let recovered = snapshots::recover(&catalog, &name, &fetched.0, body.checksum.as_deref());
        drop(fetched);
        recovered
    })
    .await?;
    Ok(ok(true, started))
}

/// The payload of a `multipart/form-data` body saved at `path`: the first part's content.
fn multipart_payload(path: &FsPath, boundary: &str) -> Result<(u64, u64), Error> {
    let bad = |what: &str| Error::bad(format!("multipart upload: {what}"));
    let mut f = std::fs::File::open(path).map_err(Error::file(path))?;
    let len = f.metadata().map_err(Error::file(path))?.len();
    let mut head = vec![0u8; len.min(64 * 1024) as usize];
    f.read_exact(&mut head).map_err(Error::file(path))?;
    let start =
        head.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| bad("no part headers"))? as u64 + 4;
    let closing = format!("\r\n--{boundary}");
    let tail_len = len.min(closing.len() as u64 + 256);
    let mut tail = vec![0u8; tail_len as usize];
    f.seek(SeekFrom::Start(len - tail_len)).map_err(Error::file(path))?;
    f.read_exact(&mut tail).map_err(Error::file(path))?;
    let end = tail
        .windows(closing.len())
        .rposition(|w| w == closing.as_bytes())
        .ok_or_else(|| bad("no closing boundary"))? as u64
        + (len - tail_len);
    if end < start {
        return Err(bad("empty part"));
    }
    Ok((start, end - start))
}

/// Writes an uploaded body to `path` as it arrives (async file I/O: off the runtime's threads);
/// a client that sends nothing for `idle` is cut off.
pub(super) async fn receive<B>(
    mut body: B,
    path: &FsPath,
    idle: std::time::Duration,
    max: u64,
) -> Result<(), ApiError>
where
    B: hyper::body::Body<Data = axum::body::Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    use tokio::io::AsyncWriteExt;
    let failed = |e| ApiError::from(Error::file(path)(e));
    let mut file = tokio::fs::File::create(path).await.map_err(failed)?;
    let mut written = 0u64;
    loop {
        let Ok(frame) = tokio::time::timeout(idle, body.frame()).await else {
            return Err(ApiError::new(
                Code::RequestTimeout,
                format!("the snapshot's sender sent nothing for {} ms", idle.as_millis()),
            ));
        };
        let Some(frame) = frame else { break };
        let frame = frame.map_err(|e| ApiError::bad(format!("cannot read the snapshot: {e}")))?;
        if let Ok(data) = frame.into_data() {
            written += data.len() as u64;
            if written > max {
                return Err(ApiError::new(
                    Code::PayloadTooLarge,
                    format!("the snapshot is larger than {max} bytes (storage.max_snapshot_bytes)"),
                ));
            }
            file.write_all(&data).await.map_err(failed)?;
        }
    }
    file.flush().await.map_err(failed)
}

/// Removes a received file however the request ends (a client that goes away included).
pub(super) struct Received(pub std::path::PathBuf);

impl Drop for Received {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[utoipa::path(
    post, path = "/collections/{name}/snapshots/upload", tag = "admin",
    params(CollectionName, SnapshotParams),
    request_body(
        description = "the snapshot file, raw or as the first part of a multipart form; at most storage.max_snapshot_bytes (cut off when nothing arrives for service.body_idle_timeout_ms)",
        content(
            (SnapshotFile = "application/octet-stream"),
            (SnapshotForm = "multipart/form-data"),
        ),
    ),
    responses(
        (status = 200, description = "recovered (replacing the collection if it existed)"),
        (status = 400, description = "bad collection name or query parameters; a malformed multipart body; a corrupt snapshot or a checksum mismatch", body = ErrorResponse),
        (status = 408, description = "nothing arrived for service.body_idle_timeout_ms", body = ErrorResponse),
        (status = 413, description = "the snapshot is larger than storage.max_snapshot_bytes", body = ErrorResponse),
    )
)]
pub async fn upload(
    State(st): State<AppState>,
    Path(name): Path<String>,
    Params(params): Params<SnapshotParams>,
    req: Request,
) -> ApiResult {
    let started = Instant::now();
    crate::catalog::validate_name(&name)?;
    let name = st.catalog.resolve(&name);
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let dir = snapshots::collection_dir(&st.catalog, &name)?;
    tokio::fs::create_dir_all(&dir).await.map_err(Error::file(&dir))?;
    let guard = Received(dir.join(format!("upload-{}.partial", uuid::Uuid::new_v4())));
    let received = guard.0.clone();
    let idle = std::time::Duration::from_millis(st.config.service.body_idle_timeout_ms);
    receive(req.into_body(), &received, idle, st.config.storage.max_snapshot_bytes).await?;
    let catalog = st.catalog.clone();
    let result = blocking(move || {
        let multipart = content_type
            .split_once("boundary=")
            .filter(|(kind, _)| kind.trim_start().starts_with("multipart/form-data"))
            .map(|(_, b)| b.split(';').next().unwrap_or_default().trim_matches('"').to_string());
        // Both files go when the recovery ends, however it ends.
        let _received = guard;
        let extracted = Received(received.with_extension("snapshot-part"));
        let extracted = &extracted.0;
        (|| {
            let snapshot = match multipart {
                Some(boundary) => {
                    let (start, len) = multipart_payload(&received, &boundary)?;
                    let mut from = std::fs::File::open(&received).map_err(Error::file(&received))?;
                    from.seek(SeekFrom::Start(start)).map_err(Error::file(&received))?;
                    let mut to = std::fs::File::create(extracted).map_err(Error::file(extracted))?;
                    std::io::copy(&mut from.take(len), &mut to).map_err(Error::file(extracted))?;
                    extracted
                }
                None => &received,
            };
            snapshots::recover(&catalog, &name, snapshot, params.checksum.as_deref())
        })()
    })
    .await;
    result?;
    Ok(ok(true, started))
}
