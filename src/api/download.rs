//! Snapshot recovery from an `http://` or `https://` location, as Qdrant offers it: the file is
//! fetched with hyper's HTTP/1.1 client (over the system's TLS, which verifies the server's
//! certificate against the system's CA certificates) into the snapshots directory, then
//! recovered like an uploaded one.
//! Redirects are followed (at most [`MAX_REDIRECTS`], each target checked again). Unless
//! `storage.snapshot_hosts` lists a host, only public addresses are reached (never loopback,
//! private, link-local or unspecified ones), and the connection goes to the address checked.
//! A download is bounded in size (`storage.max_snapshot_bytes`), in idle time and in total
//! time ([`MAX_TIME`]); the admin key guards the route.

use std::path::Path as FsPath;
use std::time::Duration;

use axum::http::{header, Request, StatusCode, Uri};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;

use super::error::{ApiError, Code};

/// What a download may reach and take.
pub struct Limits<'a> {
    /// `storage.snapshot_hosts`.
    pub hosts: Option<&'a [String]>,
    /// A sender silent this long is cut off.
    pub idle: Duration,
    /// `storage.max_snapshot_bytes`.
    pub max_bytes: u64,
}

/// Whether `ip` is reachable without being listed: not loopback, private, link-local,
/// unspecified, multicast or shared (carrier-grade NAT) space.
fn public(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)))
        }
        std::net::IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(std::net::IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

const MAX_REDIRECTS: usize = 5;
/// The longest a download may take, however steadily it trickles.
const MAX_TIME: Duration = Duration::from_secs(3600);
/// A host that does not accept the connection within this is reported as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `location` is a network location (then [`fetch`] it).
pub fn is_url(location: &str) -> bool {
    let lower = location.get(..8).unwrap_or(location).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// `url`'s host and port, checked against `storage.snapshot_hosts`; `listed` when the list
/// names it (then any address may be reached).
fn checked(url: &str, hosts: Option<&[String]>) -> Result<(Uri, String, u16, bool), ApiError> {
    let uri: Uri = url.parse().map_err(|e| ApiError::bad(format!("snapshot location {url:?}: {e}")))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(scheme) => {
            return Err(ApiError::bad(format!(
            "URL {url} with scheme {scheme} is not supported: snapshots are fetched over http:// or https://"
        )))
        }
        None => return Err(ApiError::bad(format!("snapshot location {url:?} has no scheme"))),
    }
    let host = uri.host().ok_or_else(|| ApiError::bad(format!("snapshot location {url:?} has no host")))?;
    let host = host.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("https") { 443 } else { 80 });
    let listed = match hosts {
        None => false,
        Some(allowed) => {
            let named = |h: &String| {
                h.eq_ignore_ascii_case(&host) || h.eq_ignore_ascii_case(&format!("{host}:{port}"))
            };
            if !allowed.iter().any(named) {
                return Err(ApiError::bad(format!(
                    "snapshot host `{host}:{port}` is not in storage.snapshot_hosts"
                )));
            }
            true
        }
    };
    Ok((uri, host, port, listed))
}

/// The address to connect to: the host's first address, which must be public unless the host
/// is listed.
async fn address(host: &str, port: u16, listed: bool, url: &str) -> Result<std::net::SocketAddr, ApiError> {
    let addrs: Vec<std::net::SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ApiError::bad(format!("Failed to download snapshot from {url}: {e}")))?
        .collect();
    addrs.iter().copied().find(|a| listed || public(a.ip())).ok_or_else(|| {
        ApiError::bad(format!(
            "snapshot host `{host}` has no public address; list it in storage.snapshot_hosts to allow it"
        ))
    })
}

/// Fetches `url` into `to`, following redirects, within [`Limits`] and [`MAX_TIME`]. A
/// non-2xx answer is a 400 naming its status, as in Qdrant.
pub async fn fetch(url: &str, limits: &Limits<'_>, to: &FsPath) -> Result<(), ApiError> {
    match tokio::time::timeout(MAX_TIME, fetch_within(url, limits, to)).await {
        Ok(done) => done,
        Err(_) => Err(ApiError::new(
            Code::RequestTimeout,
            format!("the snapshot download from {url} took longer than {} s", MAX_TIME.as_secs()),
        )),
    }
}

async fn fetch_within(url: &str, limits: &Limits<'_>, to: &FsPath) -> Result<(), ApiError> {
    let mut url = url.to_string();
    for _ in 0..=MAX_REDIRECTS {
        let (uri, host, port, listed) = checked(&url, limits.hosts)?;
        let unreachable =
            |e: &dyn std::fmt::Display| ApiError::bad(format!("Failed to download snapshot from {url}: {e}"));
        let addr = address(&host, port, listed, &url).await?;
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, tokio::net::TcpStream::connect(addr))
            .await
            .map_err(|_| unreachable(&"the connection timed out"))?
            .map_err(|e| unreachable(&e))?;
        let stream: Box<dyn Io> = match uri.scheme_str() {
            Some("https") => Box::new(tls(&host, stream).await.map_err(|e| unreachable(&e))?),
            _ => Box::new(stream),
        };
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
        let answer = tokio::time::timeout(limits.idle, sender.send_request(request))
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
        return super::snapshots::receive(answer.into_body(), to, limits.idle, limits.max_bytes).await;
    }
    Err(ApiError::bad(format!("Failed to download snapshot from {url}: more than {MAX_REDIRECTS} redirects")))
}

/// A connection a download reads from: plain TCP or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// TLS over `stream` to `host`, its certificate verified against the system's CA certificates
/// (`SSL_CERT_FILE` / `SSL_CERT_DIR` point OpenSSL elsewhere), within [`CONNECT_TIMEOUT`].
async fn tls(
    host: &str,
    stream: tokio::net::TcpStream,
) -> Result<tokio_native_tls::TlsStream<tokio::net::TcpStream>, String> {
    let connector = tokio_native_tls::native_tls::TlsConnector::new().map_err(|e| e.to_string())?;
    let connector = tokio_native_tls::TlsConnector::from(connector);
    match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(host, stream)).await {
        Ok(connected) => connected.map_err(|e| format!("TLS: {e}")),
        Err(_) => Err("the TLS handshake timed out".into()),
    }
}

/// A `Location` resolved against the URL that answered with it.
fn redirect(from: &Uri, location: &str) -> String {
    if is_url(location) {
        return location.to_string();
    }
    let authority = from.authority().map_or("", |a| a.as_str());
    let scheme = from.scheme_str().unwrap_or("http");
    if let Some(elsewhere) = location.strip_prefix("//") {
        return format!("{scheme}://{elsewhere}");
    }
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
        let (_, _, port, _) = checked("https://example.org/a.snapshot", None).unwrap();
        assert_eq!(port, 443);
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
    fn unlisted_hosts_reach_only_public_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!public(private.parse().unwrap()), "{private}");
        }
        for open in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(public(open.parse().unwrap()), "{open}");
        }
    }

    #[test]
    fn redirects_resolve_against_the_answering_url() {
        let from: Uri = "http://h:1/dir/a.snapshot?x=1".parse().unwrap();
        assert_eq!(redirect(&from, "/b"), "http://h:1/b");
        assert_eq!(redirect(&from, "c.snapshot"), "http://h:1/dir/c.snapshot");
        assert_eq!(redirect(&from, "http://other/d"), "http://other/d");
        assert_eq!(redirect(&from, "//other:2/e"), "http://other:2/e");
    }
}
