"""Snapshot recovery from an `https://` location, as Qdrant offers it: the server's certificate is
verified against the CA certificates OpenSSL trusts (the system's, or `SSL_CERT_FILE`), and an
untrusted one is refused with a 400 naming the failure.

A self-signed certificate for 127.0.0.1 is made with the `openssl` command (Debian's `openssl`,
which `ca-certificates` depends on) and served by Python's HTTP server over TLS.
"""

from __future__ import annotations

import functools
import http.server
import ssl
import subprocess
import threading
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest


def ok(r: httpx.Response) -> Any:
    assert r.status_code == 200, (r.request.method, str(r.request.url), r.status_code, r.text[:800])
    return r.json()["result"]


@pytest.fixture()
def https_dir(tmp_path: Path) -> Iterator[tuple[Path, Path, int]]:
    """A directory served over https on 127.0.0.1: (directory, certificate, port)."""
    cert, key, root = tmp_path / "cert.pem", tmp_path / "key.pem", tmp_path / "www"
    root.mkdir()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, cert, httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_snapshots_are_recovered_over_https_and_untrusted_certificates_refused(server_factory, https_dir):
    root, cert, port = https_dir
    listed = {"VICINITY__STORAGE__SNAPSHOT_HOSTS": '["127.0.0.1"]'}
    trusting = server_factory.start(env={**listed, "SSL_CERT_FILE": str(cert)})
    with httpx.Client(base_url=trusting.url, timeout=60) as h:
        ok(h.put("/collections/c", json={"vectors": {"size": 2, "distance": "Dot"}}))
        points = [{"id": i, "vector": [float(i), 1.0], "payload": {"i": i}} for i in range(1, 6)]
        ok(h.put("/collections/c/points", params={"wait": "true"}, json={"points": points}))
        snap = ok(h.post("/collections/c/snapshots"))
        (root / "c.snapshot").write_bytes((trusting.data_dir / "snapshots" / "c" / snap["name"]).read_bytes())
        url = f"https://127.0.0.1:{port}/c.snapshot"
        assert ok(h.put("/collections/r/snapshots/recover", json={"location": url, "checksum": snap["checksum"]}))
        scroll = {"limit": 10, "with_payload": True, "with_vector": True}
        assert ok(h.post("/collections/r/points/scroll", json=scroll)) == ok(h.post("/collections/c/points/scroll", json=scroll))
        r = h.put("/collections/x/snapshots/recover", json={"location": f"https://127.0.0.1:{port}/missing"})
        assert r.status_code == 400 and "status - 404" in r.json()["status"]["error"], r.text
    # Without the certificate among its trusted ones, the server refuses the connection.
    wary = server_factory.start(env=listed)
    with httpx.Client(base_url=wary.url, timeout=60) as h:
        r = h.put("/collections/y/snapshots/recover", json={"location": url})
        assert r.status_code == 400, r.text
        message = r.json()["status"]["error"]
        assert "Failed to download snapshot from" in message and "certificate" in message, message
        assert ok(h.get("/collections/y/exists"))["exists"] is False
