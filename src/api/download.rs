//! Snapshot recovery from an `http://` location, as Qdrant offers it: the file is fetched with
//! hyper's HTTP/1.1 client into the snapshots directory, then recovered like an uploaded one.
//! Redirects are followed (at most [`MAX_REDIRECTS`], each target checked again);
//! `storage.snapshot_hosts` can restrict the hosts; the admin key guards the route.

use std::path::Path as FsPath;
use std::time::Duration;

use axum::http::{header, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::error::ApiError;

const MAX_REDIRECTS: usize = 5;
/// A host that does not accept the connection within this is reported as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `location` is a network location (then [`fetch`] it).
pub fn is_url(location: &str) -> bool {
    let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `url`'s host as `storage.snapshot_hosts` names it, checked against that list.
fn checked(url: &str, hosts: Option<&[String]>) -> Result<(Uri, String, u16), ApiError> {
    let uri: Uri = url.parse().map_err(|e| ApiError::bad(format!("snapshot location {url:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(scheme) => {
            return Err(ApiError::bad(format!(
                "URL {url} with scheme {scheme} is not supported: this server fetches snapshots over http:// (for https, download the file and upload it)"
            )))
        }
        None => return Err(ApiError::bad(format!("snapshot location {url:?} has no scheme"))),
    }
    let host = uri.host().ok_or_else(|| ApiError::bad(format!("snapshot location {url:?} has no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(80);
    if let Some(allowed) = hosts {
        let named =
            |h: &String| h.eq_ignore_ascii_case(&host) || h.eq_ignore_ascii_case(&format!("{host}:{port}"));
        if !allowed.iter().any(named) {
            return Err(ApiError::bad(format!(
                "snapshot host `{host}:{port}` is not in storage.snapshot_hosts"
            )));
        }
    }
    Ok((uri, host, port))
}

/// Fetches `url` into `to`, following redirects; a server that sends nothing for `idle` is cut
/// off. A non-2xx answer is a 400 naming its status, as in Qdrant.
pub async fn fetch(url: &str, hosts: Option<&[String]>, to: &FsPath, idle: Duration) -> Result<(), ApiError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (uri, host, port) = checked(&url, hosts)?;
        let unreachable =
            |e: &dyn std::fmt::Display| ApiError::bad(format!("Failed to download snapshot from {url}: {e}"));
        let stream =
            tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| unreachable(&"the connection timed out"))?
                .map_err(|e| unreachable(&e))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| unreachable(&e))?;
        tokio::spawn(connection);
        let target = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
        let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
        let request = Request::get(target)
            .header(header::HOST, authority)
            .header(header::USER_AGENT, concat!("vicinity/", env!("CARGO_PKG_VERSION")))
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(&e))?;
        let answer = tokio::time::timeout(idle, sender.send_request(request))
            .await
            .map_err(|_| unreachable(&"no answer in time"))?
            .map_err(|e| unreachable(&e))?;
        let status = answer.status();
        if status.is_redirection() {
            let next = answer.headers().get(header::LOCATION).and_then(|v| v.to_str().ok());
            let next = next.ok_or_else(|| unreachable(&format!("status - {status} without a Location")))?;
            url = redirect(&uri, next);
            continue;
        }
        if status != StatusCode::OK {
            return Err(ApiError::bad(format!("Failed to download snapshot from {url}: status - {status}")));
        }
        return super::snapshots::receive(answer.into_body(), to, idle).await;
    }
    Err(ApiError::bad(format!("Failed to download snapshot from {url}: more than {MAX_REDIRECTS} redirects")))
}

/// A `Location` resolved against the URL that answered with it.
fn redirect(from: &Uri, location: &str) -> String {
    if is_url(location) {
        return location.to_string();
    }
    let authority = from.authority().map_or("", |a| a.as_str());
    let scheme = from.scheme_str().unwrap_or("http");
    if location.starts_with('/') {
        format!("{scheme}://{authority}{location}")
    } else {
        let path = from.path();
        let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
        format!("{scheme}://{authority}{dir}{location}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http_and_only_the_listed_hosts() {
        assert!(checked("http://example.org/a.snapshot", None).is_ok());
        assert!(checked("ftp://example.org/a.snapshot", None).unwrap_err().message.contains("scheme ftp"));
        let hosts = ["example.org".to_string(), "10.0.0.5:8080".to_string()];
        assert!(checked("http://example.org:9000/a", Some(&hosts)).is_ok());
        assert!(checked("http://10.0.0.5:8080/a", Some(&hosts)).is_ok());
        let refused = checked("http://10.0.0.5:8081/a", Some(&hosts)).unwrap_err();
        assert!(
            refused.message.contains("`10.0.0.5:8081` is not in storage.snapshot_hosts"),
            "{}",
            refused.message
        );
        assert!(checked("http://localhost/a", Some(&[])).is_err());
    }

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        let from: Uri = "http://h:1/dir/a.snapshot?x=1".parse().unwrap();
        assert_eq!(redirect(&from, "/b"), "http://h:1/b");
        assert_eq!(redirect(&from, "c.snapshot"), "http://h:1/dir/c.snapshot");
        assert_eq!(redirect(&from, "http://other/d"), "http://other/d");
    }
}
