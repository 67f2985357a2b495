"""Fixtures that run the real vicinity binary for the end-to-end tests.

The binary is `$VICINITY_BIN` (default `$CARGO_TARGET_DIR/release/vicinity`, the target dir
defaulting to scripts/cache-dir.sh's cache root + `/target` as in the Makefile), started as
`$VICINITY_BIN serve --host 127.0.0.1 --port <free port> --data-dir <dir>`, with stdout and stderr
captured to one log file. A server counts as up once its log shows `listening on 127.0.0.1:<port>`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 60.0


def default_bin() -> str:
    target = os.environ.get("CARGO_TARGET_DIR")
    if not target:
        cache = subprocess.run(["bash", str(REPO_ROOT / "scripts" / "cache-dir.sh")],
                               check=True, capture_output=True, text=True).stdout.strip()
        target = str(Path(cache) / "target")
    return str(Path(target) / "release" / "vicinity")


def vicinity_bin() -> str:
    return os.environ.get("VICINITY_BIN") or default_bin()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerError(RuntimeError):
    pass


class Server:
    """One vicinity process. Iterable as (url, data_dir, log_path, proc)."""

    _count = 0

    def __init__(self, data_dir: Path, log_dir: Path, env: Optional[dict] = None, name: str = "vicinity"):
        self.data_dir = Path(data_dir)
        self.log_dir = Path(log_dir)
        self.extra_env = dict(env or {})
        self.name = name
        self.proc: Optional[subprocess.Popen] = None
        self.port: Optional[int] = None
        self.log_path: Optional[Path] = None
        self.startup_secs: Optional[float] = None

    # (url, data_dir, log_path, process)
    def __iter__(self):
        return iter((self.url, self.data_dir, self.log_path, self.proc))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def log_tail(self, n: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-n:])

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> "Server":
        binary = vicinity_bin()
        if not os.access(binary, os.X_OK):
            raise ServerError(f"vicinity binary not found or not executable: {binary} (set VICINITY_BIN)")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        last_err = None
        for _attempt in range(3):  # the free port may be taken in between: retry with another
            Server._count += 1
            self.port = free_port()
            self.log_path = self.log_dir / f"{self.name}-{Server._count}-{self.port}.log"
            env = dict(os.environ)
            env.update(self.extra_env)
            cmd = [binary, "serve", "--host", "127.0.0.1", "--port", str(self.port), "--data-dir", str(self.data_dir)]
            with open(self.log_path, "wb") as log:
                t0 = time.monotonic()
                self.proc = subprocess.Popen(
                    cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env=env, cwd=str(REPO_ROOT), start_new_session=True,
                )
            needle = f"listening on 127.0.0.1:{self.port}"
            deadline = t0 + timeout
            while True:
                if needle in self.log_text():
                    self.startup_secs = time.monotonic() - t0
                    return self
                rc = self.proc.poll()
                if rc is not None:
                    last_err = ServerError(
                        f"vicinity exited with {rc} before listening; log {self.log_path}:\n{self.log_tail()}"
                    )
                    break
                if time.monotonic() > deadline:
                    self.kill()
                    raise ServerError(
                        f"no '{needle}' in the log within {timeout:.0f}s; log {self.log_path}:\n{self.log_tail()}"
                    )
                time.sleep(0.02)
            if "in use" not in self.log_text().lower():
                break
        raise last_err  # type: ignore[misc]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 30.0) -> Optional[int]:
        """SIGTERM, then SIGKILL if it does not exit within `timeout`. Returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        return self.proc.returncode

    def kill(self) -> None:
        """kill -9."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)

    def restart(self, env: Optional[dict] = None, crash: bool = False) -> "Server":
        """Stop this server (SIGTERM, or SIGKILL if crash) and start a new one on the same data dir."""
        if crash:
            self.kill()
        else:
            self.stop()
        new_env = dict(self.extra_env)
        if env:
            new_env.update(env)
        return Server(self.data_dir, self.log_dir, env=new_env, name=self.name).start()


class ServerFactory:
    """Starts servers (each with a fresh data dir unless one is given) and stops them all at teardown."""

    def __init__(self, base: Path):
        self.base = Path(base)
        self.servers: list[Server] = []
        self._n = 0

    def start(self, data_dir: Optional[Path] = None, env: Optional[dict] = None) -> Server:
        self._n += 1
        if data_dir is None:
            data_dir = self.base / f"data-{self._n}"
        s = Server(data_dir, self.base / "logs", env=env).start()
        self.servers.append(s)
        return s

    def restart(self, server: Server, env: Optional[dict] = None, crash: bool = False) -> Server:
        s = server.restart(env=env, crash=crash)
        self.servers.append(s)
        return s

    def close(self) -> None:
        for s in self.servers:
            try:
                s.stop()
            except Exception:
                s.kill()


def _base_dir(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    return tmp_path_factory.mktemp(name)


@pytest.fixture(scope="module")
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerFactory]:
    f = ServerFactory(_base_dir(tmp_path_factory, "vicinity"))
    try:
        yield f
    finally:
        f.close()


@pytest.fixture(scope="module")
def server(server_factory: ServerFactory) -> Server:
    """A running server on a fresh data dir, shared by a test module.
    Unpacks as `url, data_dir, log_path, proc = server`."""
    try:
        return server_factory.start()
    except ServerError as e:
        pytest.fail(str(e))


@pytest.fixture(scope="module")
def client(request: pytest.FixtureRequest):
    """qdrant-client (REST) talking to the module's server.

    With E2E_LOCAL_MODE=1 it is qdrant-client's in-process local mode instead and no server is
    started: a self-test of the tests' references (error-status checks cannot pass there)."""
    from qdrant_client import QdrantClient

    if os.environ.get("E2E_LOCAL_MODE") == "1":
        c = QdrantClient(":memory:")
    else:
        server = request.getfixturevalue("server")
        c = QdrantClient(url=server.url, prefer_grpc=False, check_compatibility=False, timeout=300)
    yield c
    c.close()


def pytest_report_header(config):
    b = vicinity_bin()
    return f"vicinity binary: {b} ({'present' if os.access(b, os.X_OK) else 'MISSING'})"
