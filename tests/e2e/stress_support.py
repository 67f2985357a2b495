"""Machinery shared by the stress suite (test_stress.py) and the crash oracle (test_crash_oracle.py).

- `Monitor`: the requests in flight (who sent what, since when), the failures (the first one
  stops the run), counters, and whether the server was killed on purpose (crash oracle).
- `Api`: one thread's HTTP client (httpx, keep-alive). Every request has a client-side timeout
  and is registered as in flight; a stall, a transport error, a 5xx or a status the caller did
  not allow is a failure naming the request. 503 must carry Retry-After.
- `Watchdog`: polls /healthz on its own connection; no answer within HEALTH_TIMEOUT_S (or a
  request in flight far past its timeout) fails the run with the requests in flight, the
  server's threads (gdb) and its log tail, then kills the server so the clients unblock.
- `Oracle`: the acknowledged state of a collection (id -> vector as sent, payload), written only
  after a 200 with wait=true, plus every id ever sent. Each worker owns a disjoint id range.
- `Writer` / `Importer` / `Admin`: the operations (upserts of every size, deletes, payload
  edits, streamed and file imports, rebuilds, snapshots), each recording what it would change
  before sending (`Pending`) so that an unacknowledged write can be judged after a kill -9.
- `compare` / `self_query_check` / `wait_jobs`: the final checks against the oracle.

Everything random comes from seeded numpy generators; thread interleaving is the only
nondeterminism.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

import httpx
import numpy as np
from qdrant_client import models as M

import e2e_support as S

# A request not answered within this is a stall (the server's own request timeout is 60 s).
REQUEST_TIMEOUT_S = float(os.environ.get("STRESS_REQUEST_TIMEOUT", "90"))
# /healthz must answer within this, polled every HEALTH_PERIOD_S on its own connection.
HEALTH_TIMEOUT_S = float(os.environ.get("STRESS_HEALTH_TIMEOUT", "10"))
HEALTH_PERIOD_S = 0.5
# A job (import, rebuild, vacuum) must finish within this.
JOB_TIMEOUT_S = float(os.environ.get("STRESS_JOB_TIMEOUT", "180"))
FINISHED = ("succeeded", "failed", "cancelled")
NDJSON = {"content-type": "application/x-ndjson"}
DISTANCES = {"Cosine": M.Distance.COSINE, "Euclid": M.Distance.EUCLID, "Dot": M.Distance.DOT}
# Server settings of both suites: saves every second (so kills land around saves and restarts
# replay), no embedding models (not used; faster restarts).
SERVER_ENV = {
    "VICINITY__STORAGE__INDEX_SAVE_INTERVAL_SECS": "1",
    "VICINITY__EMBEDDING__ENABLED": "false",
}

# Id ranges: preload [0, 1e6), writer t [(t+1)e7, (t+2)e7), importer 9e8.., churn 7e8..,
# ids sent only in bad import lines (must never appear) 5e9..
PRELOAD_BASE = 0
IMPORT_BASE = 900_000_000
BAD_BASE = 5_000_000_000
GHOST_BASE = 6_000_000_000  # ids deleted without ever being written


def writer_base(t: int) -> int:
    return (t + 1) * 10_000_000


# --------------------------------------------------------------------------------------------
# Monitor, failures, HTTP
# --------------------------------------------------------------------------------------------


class Stopped(Exception):
    """The run is over (stopped or failed): the worker stops quietly."""


class Interrupted(Exception):
    """The server was killed on purpose while this request was in flight: outcome unknown."""


class Monitor:
    def __init__(self, server, label: str):
        self.server = server
        self.label = label
        self.lock = threading.Lock()
        self.inflight: dict[int, tuple[str, str, float]] = {}  # token -> (thread, what, t0)
        self._token = 0
        self.failures: list[str] = []
        self.stop = threading.Event()  # workers stop at their next operation
        self.killed = threading.Event()  # set just before a deliberate kill -9
        self.counts: Counter = Counter()  # (kind, status) -> n
        self.latency: dict[str, list] = {}  # kind -> [n, total seconds, max seconds]
        self.notes: list[str] = []
        self.diagnosed = False
        self.diagnosis_done = threading.Event()  # clear while a failure's diagnostics are taken
        self.diagnosis_done.set()

    @property
    def url(self) -> str:
        return self.server.url

    def begin(self, what: str) -> int:
        with self.lock:
            self._token += 1
            self.inflight[self._token] = (threading.current_thread().name, what, time.monotonic())
            return self._token

    def end(self, token: int) -> None:
        with self.lock:
            self.inflight.pop(token, None)

    def inflight_report(self, limit: int = 25) -> str:
        now = time.monotonic()
        with self.lock:
            items = sorted(self.inflight.values(), key=lambda x: x[2])
        if not items:
            return "  (no request in flight)"
        lines = [f"  {now - t0:7.1f}s  [{th}] {what}" for th, what, t0 in items[:limit]]
        if len(items) > limit:
            lines.append(f"  ... and {len(items) - limit} more")
        return "\n".join(lines)

    def count(self, kind: str, status: Any, secs: float = 0.0) -> None:
        with self.lock:
            self.counts[(kind, status)] += 1
            lat = self.latency.setdefault(kind, [0, 0.0, 0.0])
            lat[0] += 1
            lat[1] += secs
            lat[2] = max(lat[2], secs)

    def latency_report(self) -> str:
        with self.lock:
            items = sorted(self.latency.items())
        return ", ".join(f"{k} {n}x avg {1000 * t / n:.0f} max {1000 * mx:.0f}ms" for k, (n, t, mx) in items if n)

    def note(self, msg: str) -> None:
        with self.lock:
            self.notes.append(msg)

    def fail(self, msg: str, diagnose: bool = False) -> None:
        """Records a failure (the first one stops the run). With `diagnose`, the server's state
        is captured and the server is killed so blocked clients return."""
        with self.lock:
            first = not self.failures
            index = len(self.failures)
            self.failures.append(msg)
            diagnose = diagnose and not self.diagnosed
            self.diagnosed = self.diagnosed or diagnose
            if diagnose:
                self.diagnosis_done.clear()
        self.stop.set()
        if diagnose:
            try:
                diag = diagnostics(self.server)
                with self.lock:
                    self.failures[index] = f"{msg}\n{diag}"
                if self.server.alive():
                    self.server.kill()
            finally:
                self.diagnosis_done.set()
        if first:
            print(f"\n[{self.label}] FAILURE: {msg.splitlines()[0]}", flush=True)

    def check(self, problems: Optional[list] = None) -> None:
        """Raises AssertionError with every failure recorded so far (and the oracle's
        `problems`, if any)."""
        self.diagnosis_done.wait(300)
        with self.lock:
            failures = list(self.failures)
        if failures:
            head = f"{len(failures)} failure(s); the first:\n{failures[0]}"
            rest = "\n".join(f"- {f.splitlines()[0][:400]}" for f in failures[1:12])
            more = "\noracle problems found before it:\n" + "\n".join(problems) if problems else ""
            raise AssertionError(head + ("\nthen:\n" + rest if rest else "") + more)


def _short(text: str, n: int = 600) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= n else text[:n] + "..."


class Api:
    """One thread's connection to the server. `call` returns the response when its status is in
    `ok` or `soft`; anything else is a failure (raises Stopped), or Interrupted when the server
    was killed on purpose."""

    def __init__(self, monitor: Monitor, timeout: float = REQUEST_TIMEOUT_S):
        self.monitor = monitor
        self.url = monitor.url
        self.timeout = timeout
        self.client = httpx.Client(base_url=self.url, timeout=httpx.Timeout(timeout, connect=10.0))

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> "Api":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        ok: tuple = (200,),
        soft: tuple = (),
        kind: str = "",
        params: Optional[dict] = None,
        body: Any = None,
        content: Any = None,
        headers: Optional[dict] = None,
    ) -> httpx.Response:
        m = self.monitor
        desc = f"{method} {path} ({what})"
        token = m.begin(desc)
        t0 = time.monotonic()
        try:
            r = self.client.request(method, path, params=params, json=body, content=content, headers=headers)
        except httpx.HTTPError as e:
            if m.killed.is_set():
                raise Interrupted(desc) from e
            if m.stop.is_set() and m.failures:
                raise Stopped() from e
            if isinstance(e, httpx.TimeoutException):
                m.fail(f"STALL: {desc} got no answer within {self.timeout:.0f}s ({type(e).__name__}); "
                       f"requests in flight:\n{m.inflight_report()}", diagnose=True)
            else:
                m.fail(f"connection error on {desc} after {time.monotonic() - t0:.1f}s: {e!r}", diagnose=True)
            raise Stopped() from e
        finally:
            m.end(token)
        m.count(kind or method, r.status_code, time.monotonic() - t0)
        if r.status_code in ok:
            ctype = r.headers.get("content-type", "")
            if ctype.startswith("application/json"):
                try:
                    env = r.json()
                except ValueError:
                    m.fail(f"{desc}: HTTP {r.status_code} with a body that is not JSON: {_short(r.text)}")
                    raise Stopped()
                if env.get("status") != "ok":
                    m.fail(f"{desc}: HTTP {r.status_code} without status ok: {_short(r.text)}")
                    raise Stopped()
            return r
        if r.status_code in soft:
            if r.status_code == 503 and "retry-after" not in r.headers:
                m.fail(f"{desc}: 503 without Retry-After: {_short(r.text)}")
                raise Stopped()
            return r
        if m.killed.is_set():
            raise Interrupted(desc)
        kind_ = "server error" if r.status_code >= 500 else "unexpected status"
        m.fail(f"{kind_}: {desc} answered HTTP {r.status_code}: {_short(r.text)}"
               + (f"\nserver log tail:\n{m.server.log_tail(30)}" if r.status_code >= 500 else ""))
        raise Stopped()

    def result(self, *a, **kw) -> Any:
        return self.call(*a, **kw).json()["result"]


# --------------------------------------------------------------------------------------------
# Diagnostics and the watchdog
# --------------------------------------------------------------------------------------------


def server_threads(pid: int, log_dir: Path) -> str:
    """The server's threads: gdb backtraces (full text to a file, a summary returned), or the
    kernel's view of each thread when gdb is unavailable."""
    lines = []
    try:
        for task in sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda p: int(p.name)):
            try:
                comm = (task / "comm").read_text().strip()
                stat = (task / "stat").read_text()
                state = stat[stat.rindex(")") + 2]
                wchan = (task / "wchan").read_text().strip() if (task / "wchan").exists() else "?"
                lines.append(f"{comm}:{state}:{wchan}")
            except OSError:
                continue
    except OSError as e:
        return f"(cannot read /proc/{pid}/task: {e})"
    summary = "threads (name:state:wchan): " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in Counter(lines).items())
    gdb = "/usr/bin/gdb"
    if not os.access(gdb, os.X_OK) or os.environ.get("STRESS_GDB", "1") == "0":
        return summary
    try:
        p = subprocess.run([gdb, "-p", str(pid), "-batch", "-nx", "-ex", "set pagination off",
                            "-ex", "thread apply all bt 30"], capture_output=True, text=True, timeout=120,
                           stdin=subprocess.DEVNULL)
    except (subprocess.TimeoutExpired, OSError) as e:
        return f"{summary}\n(gdb failed: {e!r})"
    out_path = log_dir / f"gdb-{pid}-{int(time.time())}.txt"
    try:
        out_path.write_text(p.stdout + "\n" + p.stderr)
    except OSError:
        pass
    # one line per thread: its name and the first frames (function names only)
    threads: list[str] = []
    cur: Optional[list] = None
    for line in p.stdout.splitlines():
        mt = re.match(r'^Thread \d+ \(.*?"(.*?)"\)', line) or re.match(r"^Thread \d+ \((.*?)\)", line)
        if mt:
            cur = [mt.group(1)]
            threads.append(cur)  # type: ignore[arg-type]
            continue
        mf = re.match(r"^#(\d+)\s+(?:0x[0-9a-f]+ in )?(.+?) \(", line)
        if mf and cur is not None and len(cur) < 9:
            fn = re.sub(r"<[^<>]*>", "", mf.group(2))
            fn = re.sub(r"::h[0-9a-f]{16}$", "", fn)
            cur.append(fn.split("::")[-2] + "::" + fn.split("::")[-1] if "::" in fn else fn)
    grouped = Counter(" <- ".join(t[1:]) for t in threads)
    names: dict[str, list] = {}
    for t in threads:
        names.setdefault(" <- ".join(t[1:]), []).append(t[0])
    stacks = "\n".join(f"  {len(names[k])}x [{', '.join(sorted(set(names[k])))[:80]}]: {k[:400]}"
                       for k, _ in grouped.most_common(14))
    return f"{summary}\nthread stacks (gdb, full text in {out_path}):\n{stacks}"


def diagnostics(server) -> str:
    parts = []
    if server.alive():
        parts.append(server_threads(server.proc.pid, server.log_dir))
    else:
        parts.append(f"(server process exited with {server.proc.returncode if server.proc else None})")
    parts.append(f"server log ({server.log_path}) tail:\n{server.log_tail(60)}")
    return "\n".join(parts)


class Watchdog(threading.Thread):
    """Polls /healthz every HEALTH_PERIOD_S on its own connection. No answer within
    HEALTH_TIMEOUT_S, or a request in flight for longer than its timeout plus a grace, fails
    the run (with the requests in flight, the server's threads and its log tail)."""

    def __init__(self, monitor: Monitor):
        super().__init__(name="watchdog", daemon=True)
        self.monitor = monitor
        self.done = threading.Event()
        self.paused = threading.Event()  # while the server is deliberately down
        self.polls = 0
        self.slowest = 0.0

    def run(self) -> None:
        m = self.monitor
        client: Optional[httpx.Client] = None
        url = None
        while not self.done.is_set():
            if self.paused.is_set() or m.killed.is_set() or m.failures:
                if client:
                    client.close()
                    client = None
                self.done.wait(HEALTH_PERIOD_S)
                continue
            if client is None or url != m.url:
                if client:
                    client.close()
                url = m.url
                client = httpx.Client(base_url=url, timeout=httpx.Timeout(HEALTH_TIMEOUT_S, connect=HEALTH_TIMEOUT_S))
            t0 = time.monotonic()
            err = None
            try:
                r = client.get("/healthz")
                if r.status_code != 200:
                    err = f"HTTP {r.status_code}: {_short(r.text)}"
            except httpx.HTTPError as e:
                err = repr(e)
            dt = time.monotonic() - t0
            self.polls += 1
            self.slowest = max(self.slowest, dt)
            if err and not (self.paused.is_set() or m.killed.is_set()):
                if not m.server.alive():
                    m.fail(f"the server died (exit code {m.server.proc.returncode}); /healthz: {err}; "
                           f"requests in flight:\n{m.inflight_report()}", diagnose=True)
                else:
                    m.fail(f"WATCHDOG: /healthz did not answer within {HEALTH_TIMEOUT_S:.0f}s ({err}, after "
                           f"{dt:.1f}s); requests in flight (oldest first):\n{m.inflight_report()}", diagnose=True)
                continue
            now = time.monotonic()
            with m.lock:
                stale = [(th, what, now - t0_) for th, what, t0_ in m.inflight.values()
                         if now - t0_ > REQUEST_TIMEOUT_S + 30]
            if stale and not m.killed.is_set():
                th, what, age = max(stale, key=lambda x: x[2])
                m.fail(f"WATCHDOG: request stalled for {age:.0f}s (past its {REQUEST_TIMEOUT_S:.0f}s timeout): "
                       f"[{th}] {what}; in flight:\n{m.inflight_report()}", diagnose=True)
                continue
            self.done.wait(HEALTH_PERIOD_S)
        if client:
            client.close()


def run_worker(monitor: Monitor, step: Callable[[], None], stop_on: Optional[threading.Event] = None) -> None:
    """Calls `step` until the monitor stops; a bug in the test code is a failure too."""
    try:
        while not monitor.stop.is_set() and not (stop_on is not None and stop_on.is_set()):
            step()
    except (Stopped, Interrupted):
        pass
    except Exception:  # noqa: BLE001 - reported as a failure with its traceback
        if monitor.killed.is_set():
            return
        monitor.fail(f"[{threading.current_thread().name}] test code raised:\n{traceback.format_exc()}")


def stop_server(server, timeout: float = 60.0) -> tuple[Optional[int], float]:
    """SIGTERM; the server must exit within `timeout` (a hang is a failure, reported with its
    threads and log). Returns (exit code, seconds)."""
    t0 = time.monotonic()
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        diag = diagnostics(server)
        server.kill()
        raise AssertionError(f"the server did not exit within {timeout:.0f}s of SIGTERM\n{diag}")
    return server.proc.returncode, time.monotonic() - t0


def log_problems(text: str) -> list[str]:
    """ERROR lines and panics in a server log. Not counted: an automatic vacuum that could not
    start because a rebuild of the collection had just started (it is tried again each second)."""
    out = []
    for line in text.splitlines():
        if "cannot start a vacuum" in line and "already being rebuilt" in line:
            continue
        if "panicked at" in line or re.search(r"\bERROR\b", line):
            out.append(line.strip())
    return out


# --------------------------------------------------------------------------------------------
# The oracle
# --------------------------------------------------------------------------------------------

State = Optional[tuple]  # None (absent) or (vector float32 as sent, payload dict)


def same_payload(a: Optional[dict], b: Optional[dict]) -> bool:
    return (a or {}) == (b or {})


class Oracle:
    """The acknowledged state of one collection."""

    def __init__(self, name: str, distance: str, dim: int, m: int = 16, quant: bool = False):
        self.name = name
        self.distance = distance
        self.dim = dim
        self.m = m
        self.quant = quant
        self.state: dict[int, tuple] = {}
        self.sent: set[int] = set()
        self.applied_jobs: set[int] = set()  # rebuild jobs whose settings are in m / quant
        self.lock = threading.Lock()

    @property
    def qdist(self) -> M.Distance:
        return DISTANCES[self.distance]

    def stored(self, v: np.ndarray) -> np.ndarray:
        return S.stored_vectors(np.asarray(v, dtype=np.float32)[None, :], self.qdist)[0]

    def get(self, pid: int) -> State:
        with self.lock:
            return self.state.get(pid)

    def put(self, pid: int, st: State) -> None:
        with self.lock:
            if st is None:
                self.state.pop(pid, None)
            else:
                self.state[pid] = st

    def note_sent(self, ids) -> None:
        with self.lock:
            self.sent.update(ids)

    def live_in(self, lo: int, hi: int) -> list[int]:
        with self.lock:
            return sorted(i for i in self.state if lo <= i < hi)

    def matches(self, lo: int, hi: int, tag: str, g: int) -> list[int]:
        """Ids in [lo, hi) whose payload matches `w == tag and g == g` (Qdrant's match value)."""
        with self.lock:
            return sorted(i for i, (_, p) in self.state.items() if lo <= i < hi and p.get("w") == tag
                          and type(p.get("g")) is int and p.get("g") == g)

    def snapshot(self) -> dict:
        with self.lock:
            return dict(self.state)

    def same(self, st: State, got: State) -> bool:
        """Whether a server state `got` (vector as stored, payload) is the oracle state `st`."""
        if st is None or got is None:
            return st is None and got is None
        if not same_payload(st[1], got[1]):
            return False
        gv = got[0]
        return gv is not None and len(gv) == self.dim and bool(np.allclose(gv, self.stored(st[0]), atol=1e-5, rtol=1e-5))


def filter_wg(tag: str, g: int) -> dict:
    return {"must": [{"key": "w", "match": {"value": tag}}, {"key": "g", "match": {"value": g}}]}


def apply_payload_op(old: dict, op: str, arg: Any) -> dict:
    """The server's payload update semantics (src/collection/write.rs apply_update)."""
    if op == "overwrite":
        return json.loads(json.dumps(arg))
    if op == "clear":
        return {}
    if op == "delete_keys":
        p = dict(old)
        for k in arg:
            p.pop(k, None)
        return p
    def merge(target: dict, source: dict) -> None:
        # As in Qdrant: a null value removes its key.
        for k, v in json.loads(json.dumps(source)).items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = v

    if op == "set":
        p = json.loads(json.dumps(old))
        merge(p, arg)
        return p
    if op == "set_key":
        key, payload = arg
        p = json.loads(json.dumps(old))
        target = p
        for part in key.split("."):
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        merge(target, payload)
        return p
    raise ValueError(op)


WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "ünïcødé", "emoji \U0001f600", "q\"uote", ""]


def rand_payload(rng: np.random.Generator, tag: str) -> dict:
    p: dict[str, Any] = {"g": int(rng.integers(0, 6)), "n": int(rng.integers(-1000, 1000))}
    if rng.random() < 0.9:
        p["w"] = tag
    r = rng.random()
    if r < 0.3:
        p["s"] = WORDS[int(rng.integers(0, len(WORDS)))]
    elif r < 0.5:
        p["f"] = round(float(rng.normal() * 100), 4)
    elif r < 0.6:
        p["l"] = [int(x) for x in rng.integers(0, 50, size=int(rng.integers(0, 5)))]
    elif r < 0.7:
        p["o"] = {"a": int(rng.integers(0, 9)), "b": [WORDS[int(rng.integers(0, 5))]], "c": {"d": None}}
    elif r < 0.75:
        p["z"] = None
    elif r < 0.8:
        p["b"] = bool(rng.integers(0, 2))
    return p


def rand_vectors(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    return rng.standard_normal((n, dim)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Pending (unacknowledged) writes, for the crash oracle
# --------------------------------------------------------------------------------------------


@dataclass
class Pending:
    """A write sent and not (yet) acknowledged: per id, the state before and after it."""

    what: str
    oracle: Oracle
    changes: dict  # id -> (old State, new State)
    atomic: bool = True  # all-or-nothing across ids (one RocksDB batch)
    job_path: Optional[str] = None  # file import: its path (to find the job after a restart)
    stream: bool = False  # streamed import: lines are committed in order, whole chunks
    stream_ids: list = field(default_factory=list)  # ids in line order (streamed import)
    job_id: Optional[int] = None

    def apply(self) -> None:
        for pid, (_, new) in self.changes.items():
            self.oracle.put(pid, new)


# --------------------------------------------------------------------------------------------
# Workers
# --------------------------------------------------------------------------------------------

UPSERT_SIZES = [1, 10, 65, 300, 1500]
UPSERT_WEIGHTS = [0.15, 0.2, 0.3, 0.25, 0.1]


class Writer:
    """Upserts (1..1500 points, new and existing ids, points or batch form, sometimes a
    duplicate id or a duplicate vector), deletes (ids, ghost ids, filter), payload edits (set,
    set under a key, overwrite, delete keys, clear; by ids or filter) in its own id range."""

    def __init__(self, monitor: Monitor, oracles: list[Oracle], t: int, rng: np.random.Generator,
                 cap: int = 3000, sizes: list = UPSERT_SIZES, weights: list = UPSERT_WEIGHTS):
        self.monitor = monitor
        self.api = Api(monitor)
        self.oracles = oracles
        self.t = t
        self.tag = f"w{t}"
        self.lo = writer_base(t)
        self.hi = self.lo + 10_000_000
        self.rng = rng
        self.cap = cap
        self.sizes, self.weights = sizes, weights
        self.next_id = {o.name: self.lo for o in oracles}
        self.ghost = GHOST_BASE + t * 1_000_000
        self.pending: Optional[Pending] = None
        self.acked = 0
        self.ops: Counter = Counter()

    def close(self) -> None:
        self.api.close()

    def reconnect(self) -> None:
        self.api.close()
        self.api = Api(self.monitor)

    def _send(self, p: Pending, method: str, path: str, body: dict, kind: str) -> dict:
        self.pending = p
        p.oracle.note_sent(p.changes.keys())
        res = self.api.result(method, path, p.what, params={"wait": "true"}, body=body, kind=kind)
        if res.get("status") != "completed":
            self.monitor.fail(f"{p.what}: wait=true answered status {res.get('status')!r}, not completed")
            raise Stopped()
        p.apply()
        self.pending = None
        self.acked += 1
        self.ops[kind] += 1
        return res

    def step(self) -> None:
        o = self.oracles[int(self.rng.integers(0, len(self.oracles)))]
        live = o.live_in(self.lo, self.hi)
        r = self.rng.random()
        if r < 0.5 or len(live) < 20:
            self.upsert(o, live)
        elif r < 0.68:
            self.delete(o, live)
        else:
            self.payload(o, live)

    def upsert(self, o: Oracle, live: list) -> None:
        rng = self.rng
        n = int(rng.choice(self.sizes, p=self.weights))
        over = 0
        if live:
            frac = 0.9 if len(live) >= self.cap else float(rng.choice([0.0, 0.3, 0.7]))
            over = min(len(live), int(round(n * frac)))
        ids = [int(x) for x in rng.choice(live, size=over, replace=False)] if over else []
        fresh = n - len(ids)
        start = self.next_id[o.name]
        ids += list(range(start, start + fresh))
        self.next_id[o.name] = start + fresh
        rng.shuffle(ids)
        vecs = rand_vectors(rng, len(ids), o.dim)
        payloads: list = [rand_payload(rng, self.tag) if rng.random() < 0.85 else None for _ in ids]
        if len(ids) >= 10 and rng.random() < 0.2:  # a duplicate vector under another id
            vecs[1] = vecs[0]
        if len(ids) >= 10 and rng.random() < 0.1:  # a duplicate id: the last occurrence wins
            ids.append(ids[2])
            vecs = np.vstack([vecs, rand_vectors(rng, 1, o.dim)])
            payloads.append(rand_payload(rng, self.tag))
        changes: dict = {}
        for pid, v, p in zip(ids, vecs, payloads):
            old = changes[pid][0] if pid in changes else o.get(pid)
            changes[pid] = (old, (v, p or {}))
        if rng.random() < 0.5:
            body = {"points": [{"id": pid, "vector": v.tolist(), **({"payload": p} if p is not None else {})}
                               for pid, v, p in zip(ids, vecs, payloads)]}
        else:
            body = {"batch": {"ids": ids, "vectors": vecs.tolist(), "payloads": payloads}}
        self._send(Pending(f"upsert of {len(ids)} points into {o.name}", o, changes),
                   "PUT", f"/collections/{o.name}/points", body, "upsert")

    def delete(self, o: Oracle, live: list) -> None:
        rng = self.rng
        if rng.random() < 0.3:
            g = int(rng.integers(0, 6))
            targets = o.matches(self.lo, self.hi, self.tag, g)
            changes = {pid: (o.get(pid), None) for pid in targets}
            self._send(Pending(f"delete by filter w={self.tag},g={g} ({len(targets)} points) in {o.name}", o, changes),
                       "POST", f"/collections/{o.name}/points/delete", {"filter": filter_wg(self.tag, g)}, "delete")
            return
        k = int(rng.integers(1, min(60, len(live)) + 1))
        ids = [int(x) for x in rng.choice(live, size=k, replace=False)]
        ghosts = [self.ghost + int(x) for x in rng.integers(0, 1_000_000, size=int(rng.integers(0, 3)))]
        changes = {pid: (o.get(pid), None) for pid in ids}
        self._send(Pending(f"delete of {k} points (+{len(ghosts)} never written) in {o.name}", o, changes),
                   "POST", f"/collections/{o.name}/points/delete", {"points": ids + ghosts}, "delete")

    def payload(self, o: Oracle, live: list) -> None:
        rng = self.rng
        op = str(rng.choice(["set", "set_key", "overwrite", "delete_keys", "clear"], p=[0.3, 0.15, 0.25, 0.15, 0.15]))
        by_filter = rng.random() < 0.25
        if by_filter:
            g = int(rng.integers(0, 6))
            targets = o.matches(self.lo, self.hi, self.tag, g)
            sel: dict = {"filter": filter_wg(self.tag, g)}
        else:
            k = int(rng.integers(1, min(40, len(live)) + 1))
            targets = sorted(int(x) for x in rng.choice(live, size=k, replace=False))
            sel = {"points": targets}
        if op == "set":
            arg: Any = {k_: v for k_, v in rand_payload(rng, self.tag).items() if rng.random() < 0.6}
            method, path, body = "POST", "payload", {"payload": arg, **sel}
        elif op == "set_key":
            key = str(rng.choice(["o", "o.c", "deep.er"]))
            inner = {"x": int(rng.integers(0, 100)), "y": WORDS[int(rng.integers(0, 5))]}
            arg = (key, inner)
            method, path, body = "POST", "payload", {"payload": inner, "key": key, **sel}
        elif op == "overwrite":
            arg = rand_payload(rng, self.tag)
            method, path, body = "PUT", "payload", {"payload": arg, **sel}
        elif op == "delete_keys":
            arg = [str(k_) for k_ in rng.choice(["w", "g", "n", "s", "o", "l", "missing"], size=2, replace=False)]
            method, path, body = "POST", "payload/delete", {"keys": arg, **sel}
        else:
            arg = None
            method, path, body = "POST", "payload/clear", sel
        changes = {}
        for pid in targets:
            old = o.get(pid)
            changes[pid] = (old, (old[0], apply_payload_op(old[1], op, arg)))
        how = f"filter g" if by_filter else "ids"
        self._send(Pending(f"payload {op} of {len(targets)} points (by {how}) in {o.name}", o, changes),
                   method, f"/collections/{o.name}/points/{path}", body, f"payload_{op}")


def write_import_file(path: Path, fmt: str, ids: list, vecs: np.ndarray, payloads: list, bad: dict) -> int:
    """Writes a jsonl / npy / fvecs import file; returns its rows. `bad`: line number -> text
    (jsonl only). fvecs and npy rows get ids_from + row, no payload."""
    if fmt == "jsonl":
        lines = []
        rows = iter(zip(ids, vecs, payloads))
        total = len(ids) + len(bad)
        for n in range(1, total + 1):
            if n in bad:
                lines.append(bad[n])
            else:
                pid, v, p = next(rows)
                lines.append(json.dumps({"id": pid, "vector": v.tolist(), **({"payload": p} if p is not None else {})}))
        path.write_text("\n".join(lines) + "\n")
        return total
    if fmt == "npy":
        np.save(path, np.ascontiguousarray(vecs, dtype=np.float32))
        return len(ids)
    if fmt == "fvecs":
        x = np.ascontiguousarray(vecs, dtype=np.float32)
        n, d = x.shape
        rows = np.empty((n, d + 1), dtype=np.float32)
        rows[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
        rows[:, 1:] = x
        rows.tofile(path)
        return n
    raise ValueError(fmt)


BIG_ROWS = 12_000


class Importer:
    """Streamed NDJSON imports (with a few bad lines, on_error=skip) and file imports (jsonl
    with payloads, npy, fvecs) into its own id range; waits for each job."""

    def __init__(self, monitor: Monitor, oracles: list[Oracle], rng: np.random.Generator, import_dir: Path,
                 cap: int = 4000, max_rows: int = 3000):
        self.monitor = monitor
        self.api = Api(monitor)
        self.oracles = oracles
        self.rng = rng
        self.dir = import_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.cap = cap
        self.max_rows = max_rows
        self.lo, self.hi = IMPORT_BASE, IMPORT_BASE + 90_000_000
        self.next_block = {o.name: 0 for o in oracles}
        self.pending: Optional[Pending] = None
        self.n = 0
        self.bad_n = 0
        self.acked = 0
        self.ops: Counter = Counter()
        self.current_job: Optional[int] = None  # a file import job running now
        self.force: Optional[str] = None  # "big": only file imports of BIG_ROWS rows
        self.acked_jobs: set = set()  # ids of the jobs whose start was acknowledged

    def close(self) -> None:
        self.api.close()

    def reconnect(self) -> None:
        self.api.close()
        self.api = Api(self.monitor)

    def _rows(self, o: Oracle, n: int, full: bool) -> tuple[list, int]:
        """n contiguous ids (fvecs / npy number rows from ids_from): a fresh block, or once
        the importer holds `cap` points of the collection, its first block again."""
        if full:
            block = 0
        else:
            block = self.next_block[o.name]
            self.next_block[o.name] = block + 1
        start = self.lo + block * 100_000
        return list(range(start, start + n)), start

    def step(self) -> None:
        rng = self.rng
        self.n += 1
        o = self.oracles[int(rng.integers(0, len(self.oracles)))]
        n = int(rng.integers(50, self.max_rows + 1))
        kind = str(rng.choice(["stream", "jsonl", "npy", "fvecs"], p=[0.45, 0.25, 0.15, 0.15]))
        live = o.live_in(self.lo, self.hi)
        full = len(live) > self.cap
        start: Optional[int] = None
        if self.force == "big":
            # more rows than one 10,000-row chunk, always onto the same ids of the collection
            # (overwrites: the collection does not grow)
            kind = str(rng.choice(["npy", "fvecs"]))
            start = self.lo + 80_000_000 + self.oracles.index(o) * 100_000
            ids = list(range(start, start + BIG_ROWS))
        elif full and kind in ("stream", "jsonl"):
            # overwrite existing points instead of growing
            ids = [int(x) for x in rng.choice(live, size=min(n, len(live)), replace=False)]
        else:
            ids, start = self._rows(o, n, full)
        vecs = rand_vectors(rng, len(ids), o.dim)
        tag = "imp"
        payloads = [rand_payload(rng, tag) if rng.random() < 0.8 else None for _ in ids]
        if kind in ("npy", "fvecs"):
            payloads = [None] * len(ids)
        changes: dict = {}
        for pid, v, p in zip(ids, vecs, payloads):
            changes[pid] = (o.get(pid), (v, p or {}))
        if kind == "stream":
            self.stream(o, ids, vecs, payloads, changes)
        else:
            self.file(o, kind, ids, start, vecs, payloads, changes)

    def _bad_lines(self, o: Oracle, total: int) -> dict:
        """0-2 bad lines (wrong dimension, unknown field, not JSON), by line number."""
        rng = self.rng
        bad = {}
        for _ in range(int(rng.choice([0, 0, 1, 2]))):
            n = int(rng.integers(1, total + 2))
            self.bad_n += 1
            pid = BAD_BASE + self.bad_n
            bad[n] = str(rng.choice([
                json.dumps({"id": pid, "vector": [0.5] * (o.dim + 1)}),
                json.dumps({"id": pid, "vector": [0.5] * o.dim, "bogus": 1}),
                '{"id": %d, "vector": [0.5' % pid,
            ]))
        return bad

    def stream(self, o: Oracle, ids: list, vecs: np.ndarray, payloads: list, changes: dict) -> None:
        rng = self.rng
        bad = self._bad_lines(o, len(ids))
        lines, rows = [], iter(zip(ids, vecs, payloads))
        order = []
        for n in range(1, len(ids) + len(bad) + 1):
            if n in bad:
                lines.append(bad[n])
                order.append(None)
            else:
                pid, v, p = next(rows)
                lines.append(json.dumps({"id": pid, "vector": v.tolist(), **({"payload": p} if p is not None else {})}))
                order.append(pid)
        data = ("\n".join(lines) + "\n").encode()
        chunk = int(rng.integers(2_000, 200_000))

        def body():
            for i in range(0, len(data), chunk):
                yield data[i:i + chunk]

        what = f"streamed import of {len(lines)} lines ({len(bad)} bad) into {o.name}"
        p = Pending(what, o, changes, stream=True, stream_ids=order)
        self.pending = p
        o.note_sent(ids)
        res = self.api.result("POST", f"/collections/{o.name}/import", what, ok=(202,), kind="import_stream",
                              params={"on_error": "skip", "total": len(lines)}, content=body(), headers=NDJSON)
        job = res.get("job") or {}
        p.job_id = res.get("job_id")
        if job.get("state") != "succeeded" or job.get("done") != len(lines) or job.get("skipped") != len(bad):
            self.monitor.fail(f"{what}: job {_short(json.dumps(job))}: expected succeeded, done {len(lines)}, "
                              f"skipped {len(bad)}")
            raise Stopped()
        self.acked_jobs.add(p.job_id)
        got_bad = sorted(b["line"] for b in job.get("bad_lines", []))
        if got_bad != sorted(bad):
            self.monitor.fail(f"{what}: bad_lines {got_bad}, expected {sorted(bad)}")
            raise Stopped()
        p.apply()
        self.pending = None
        self.acked += 1
        self.ops["stream"] += 1

    def file(self, o: Oracle, fmt: str, ids: list, start: Optional[int], vecs: np.ndarray, payloads: list,
             changes: dict) -> None:
        bad = self._bad_lines(o, len(ids)) if fmt == "jsonl" else {}
        path = self.dir / f"{o.name}-{self.n}.{fmt}"
        total = write_import_file(path, fmt, ids, vecs, payloads, bad)
        spec: dict = {"path": str(path), "format": fmt, "on_error": "skip"}
        if fmt != "jsonl":
            spec["ids_from"] = start
        what = f"{fmt} file import of {total} rows ({len(bad)} bad) into {o.name}"
        p = Pending(what, o, changes, job_path=str(path))
        self.pending = p
        o.note_sent(ids)
        jid = self.api.result("POST", f"/collections/{o.name}/import", what, ok=(202,), kind="import_file",
                              body=spec)["job_id"]
        p.job_id = jid
        self.acked_jobs.add(jid)
        self.current_job = jid
        j = wait_job(self.api, jid, what)
        self.current_job = None
        if j["state"] != "succeeded" or j["done"] != total or j["skipped"] != len(bad):
            self.monitor.fail(f"{what}: job {jid} ended {_short(json.dumps(j))}; expected succeeded, "
                              f"done {total}, skipped {len(bad)}")
            raise Stopped()
        p.apply()
        self.pending = None
        self.acked += 1
        self.ops[fmt] += 1
        path.unlink(missing_ok=True)


def wait_job(api: Api, jid: int, what: str, timeout: float = JOB_TIMEOUT_S) -> dict:
    """Polls GET /jobs/{id} until the job finishes; a job running past `timeout` is a failure."""
    deadline = time.monotonic() + timeout
    while True:
        j = api.result("GET", f"/jobs/{jid}", f"poll job {jid}", kind="jobs")
        if j["state"] in FINISHED:
            return j
        if time.monotonic() > deadline:
            api.monitor.fail(f"job {jid} ({what}) did not finish within {timeout:.0f}s: {_short(json.dumps(j))}",
                             diagnose=True)
            raise Stopped()
        time.sleep(0.05)


def wait_all_jobs(api: Api, timeout: float = JOB_TIMEOUT_S) -> list:
    """Waits until no job is queued or running; returns every job."""
    deadline = time.monotonic() + timeout
    while True:
        jobs = api.result("GET", "/jobs", "list jobs", kind="jobs")
        running = [j for j in jobs if j["state"] not in FINISHED]
        if not running:
            return jobs
        if time.monotonic() > deadline:
            api.monitor.fail(f"jobs still unfinished after {timeout:.0f}s: "
                             f"{_short(json.dumps(running), 1500)}", diagnose=True)
            raise Stopped()
        time.sleep(0.1)


REBUILD_CHOICES = [
    ({"hnsw_config": {"m": 8}}, 8, None),
    ({"hnsw_config": {"m": 12}}, 12, None),
    ({"hnsw_config": {"m": 24}}, 24, None),
    ({"hnsw_config": {"m": 16}, "quantization_config": {"scalar": {"type": "int8"}}}, 16, True),
    ({"quantization_config": {"scalar": {"type": "int8"}}}, None, True),
    ({"quantization_config": "Disabled"}, None, False),
    ({"hnsw_config": {"m": 20}, "quantization_config": "Disabled"}, 20, False),
    ({}, None, None),
]


class Admin:
    """Online rebuilds (changed m and/or quantization; sometimes cancelled), snapshots
    (create / list / download + checksum / delete), and reads of the collection's info."""

    def __init__(self, monitor: Monitor, oracles: list[Oracle], rng: np.random.Generator):
        self.monitor = monitor
        self.api = Api(monitor)
        self.oracles = oracles
        self.rng = rng
        self.rebuilds: dict[int, tuple[str, dict, Optional[int], Optional[bool]]] = {}  # job id -> request
        self.pending_rebuild: Optional[tuple[str, dict, Optional[int], Optional[bool]]] = None
        self.snapshots: dict[str, set] = {o.name: set() for o in oracles}  # acknowledged, not deleted
        self.pending_snapshot: Optional[str] = None  # collection of a snapshot request in flight
        self.acked = 0
        self.ops: Counter = Counter()
        self.last_rebuild: Optional[int] = None
        self.refused = 0
        self.force: Optional[str] = None  # "rebuild" / "snapshot": only those

    def close(self) -> None:
        self.api.close()

    def reconnect(self) -> None:
        self.api.close()
        self.api = Api(self.monitor)

    def step(self) -> None:
        r = self.rng.random()
        o = self.oracles[int(self.rng.integers(0, len(self.oracles)))]
        if self.force == "rebuild":
            r = 0.0
        elif self.force == "snapshot":
            r = 0.5
        if r < 0.35:
            self.rebuild(o)
        elif r < 0.6:
            self.snapshot(o)
        else:
            self.read(o)

    def rebuild(self, o: Oracle, cancel: Optional[bool] = None) -> Optional[int]:
        body, m, q = REBUILD_CHOICES[int(self.rng.integers(0, len(REBUILD_CHOICES)))]
        self.pending_rebuild = (o.name, body, m, q)
        r = self.api.call("POST", f"/collections/{o.name}/index/rebuild", f"rebuild {o.name} {json.dumps(body)}",
                          ok=(202,), soft=(409,), kind="rebuild", body=body)
        self.pending_rebuild = None
        if r.status_code == 409:
            self.refused += 1
            self.ops["rebuild_409"] += 1
            return None
        jid = r.json()["result"]["job_id"]
        self.rebuilds[jid] = (o.name, body, m, q)
        self.last_rebuild = jid
        self.acked += 1
        self.ops["rebuild"] += 1
        if cancel is None:
            cancel = self.rng.random() < 0.15
        if cancel:
            self.api.call("DELETE", f"/jobs/{jid}", f"cancel rebuild job {jid}", soft=(409,), kind="cancel")
            self.ops["cancel"] += 1
        return jid

    def snapshot(self, o: Oracle) -> None:
        api = self.api
        self.pending_snapshot = o.name
        info = api.result("POST", f"/collections/{o.name}/snapshots", f"create snapshot of {o.name}", kind="snapshot")
        self.pending_snapshot = None
        name = info["name"]
        self.snapshots[o.name].add(name)
        self.acked += 1
        self.ops["snapshot"] += 1
        listed = api.result("GET", f"/collections/{o.name}/snapshots", f"list snapshots of {o.name}", kind="snapshot")
        mine = [s for s in listed if s["name"] == name]
        if mine != [info]:
            self.monitor.fail(f"snapshot {name} of {o.name}: created {info}, listed as {mine}")
            raise Stopped()
        r = api.call("GET", f"/collections/{o.name}/snapshots/{name}", f"download snapshot {name}", kind="snapshot")
        digest = hashlib.sha256(r.content).hexdigest()
        if len(r.content) != info["size"] or digest != info["checksum"]:
            self.monitor.fail(f"snapshot {name} of {o.name}: downloaded {len(r.content)} bytes with sha256 {digest}, "
                              f"created with size {info['size']} checksum {info['checksum']}")
            raise Stopped()
        kept = self.snapshots[o.name]
        if self.rng.random() < 0.8 or len(kept) > 2:
            # this one, or (to keep at most two) the oldest kept one
            victim = name if name in kept and self.rng.random() < 0.8 else sorted(kept)[0]
            kept.discard(victim)  # from now on it may or may not exist
            api.call("DELETE", f"/collections/{o.name}/snapshots/{victim}", f"delete snapshot {victim}",
                     kind="snapshot")
            name = victim
            listed = api.result("GET", f"/collections/{o.name}/snapshots", f"list snapshots of {o.name}",
                                kind="snapshot")
            if any(s["name"] == name for s in listed):
                self.monitor.fail(f"snapshot {name} of {o.name} still listed after its delete: {listed}")
                raise Stopped()

    def read(self, o: Oracle) -> None:
        api = self.api
        r = self.rng.random()
        if r < 0.4:
            info = api.result("GET", f"/collections/{o.name}", f"info of {o.name}", kind="info")
            v = info["config"]["params"]["vectors"]
            if v != {"size": o.dim, "distance": o.distance}:
                self.monitor.fail(f"collection {o.name}: vectors config {v}, expected size {o.dim} {o.distance}")
                raise Stopped()
        elif r < 0.7:
            api.result("POST", f"/collections/{o.name}/points/count", f"count {o.name}", body={"exact": True},
                       kind="count")
        else:
            api.result("GET", "/jobs", "list jobs", kind="jobs")


# --------------------------------------------------------------------------------------------
# Reading the server's state and comparing it with the oracle
# --------------------------------------------------------------------------------------------


def fetch_state(api: Api, name: str, page: int = 5000) -> dict:
    """Every point of the collection: id -> (vector as float32 array, payload)."""
    out: dict = {}
    offset = None
    while True:
        body: dict = {"limit": page, "with_payload": True, "with_vector": True}
        if offset is not None:
            body["offset"] = offset
        res = api.result("POST", f"/collections/{name}/points/scroll", f"scroll {name} from {offset}", body=body,
                         kind="scroll")
        for p in res["points"]:
            if p["id"] in out:
                raise AssertionError(f"{name}: scroll returned id {p['id']} twice")
            vec = p.get("vector")
            out[p["id"]] = (None if vec is None else np.asarray(vec, dtype=np.float32), p.get("payload") or {})
        offset = res.get("next_page_offset")
        if offset is None:
            return out


def compare(o: Oracle, server: dict, where: str) -> list[str]:
    """Problems of the server's state against the oracle: missing, phantom, wrong vector,
    wrong payload (each with a few examples)."""
    want = o.snapshot()
    missing = sorted(set(want) - set(server))
    extra = sorted(set(server) - set(want))
    phantom_deleted = [i for i in extra if i in o.sent]
    phantom_never = [i for i in extra if i not in o.sent]
    wrong_vec, wrong_pay = [], []
    for pid in sorted(set(want) & set(server)):
        v, p = want[pid]
        gv, gp = server[pid]
        if gv is None or len(gv) != o.dim or not np.allclose(gv, o.stored(v), atol=1e-5, rtol=1e-5):
            d = None if gv is None or len(gv) != o.dim else float(np.abs(gv - o.stored(v)).max())
            wrong_vec.append(f"{pid} (max abs diff {d})")
        if not same_payload(p, gp):
            wrong_pay.append(f"{pid}: got {_short(json.dumps(gp), 200)} expected {_short(json.dumps(p), 200)}")
    problems = []
    if missing:
        problems.append(f"{where}: {o.name}: {len(missing)} acknowledged points MISSING, e.g. {missing[:8]}")
    if phantom_deleted:
        problems.append(f"{where}: {o.name}: {len(phantom_deleted)} PHANTOM points (deleted, or never acknowledged) "
                        f"present, e.g. {phantom_deleted[:8]}")
    if phantom_never:
        problems.append(f"{where}: {o.name}: {len(phantom_never)} PHANTOM points never written present, "
                        f"e.g. {phantom_never[:8]}")
    if wrong_vec:
        problems.append(f"{where}: {o.name}: {len(wrong_vec)} points with a WRONG VECTOR, e.g. {wrong_vec[:5]}")
    if wrong_pay:
        problems.append(f"{where}: {o.name}: {len(wrong_pay)} points with a WRONG PAYLOAD, e.g. {wrong_pay[:3]}")
    return problems


def self_query_check(api: Api, o: Oracle, rng: np.random.Generator, sample: int, where: str,
                     approx: bool = True) -> tuple[list[str], Optional[float]]:
    """Top-1 of an exact search by a point's own vector must be the exact best over the
    oracle's points (the point itself under Cosine / Euclid, or a tie with it). Also returns
    the share of points an approximate (HNSW) search finds first under Cosine / Euclid."""
    state = o.snapshot()
    if not state:
        return [], None
    ids = sorted(state)
    stored = np.stack([o.stored(state[i][0]) for i in ids]).astype(np.float64)
    row = {pid: r for r, pid in enumerate(ids)}
    pick = [ids[int(i)] for i in rng.choice(len(ids), size=min(sample, len(ids)), replace=False)]
    higher = o.distance in ("Cosine", "Dot")
    problems = []
    approx_hits = approx_total = 0
    for exact in ((True, False) if approx and o.distance != "Dot" else (True,)):
        for start in range(0, len(pick), 100):
            chunk = pick[start:start + 100]
            searches = [{"query": state[pid][0].tolist(), "limit": 3,
                         "params": {"exact": exact, **({} if exact else {"hnsw_ef": 128})}} for pid in chunk]
            res = api.result("POST", f"/collections/{o.name}/points/query/batch",
                             f"self queries ({'exact' if exact else 'hnsw'}) {o.name}",
                             body={"searches": searches, "cache": False}, kind="verify_query")
            for pid, r in zip(chunk, res):
                pts = r["points"]
                if not exact:
                    approx_total += 1
                    approx_hits += bool(pts) and pts[0]["id"] == pid
                    continue
                scores = S.nearest_scores(stored, state[pid][0], o.qdist)
                best = float(scores.max() if higher else scores.min())
                tol = S.score_tol(best)
                if not pts:
                    problems.append(f"{pid}: no result")
                    continue
                top = pts[0]
                r_top = row.get(top["id"])
                if r_top is None:
                    problems.append(f"{pid}: top-1 is {top['id']} which should not exist (score {top['score']})")
                elif abs(scores[r_top] - best) > tol or abs(top["score"] - best) > tol:
                    problems.append(f"{pid}: top-1 is {top['id']} (score {top['score']:.5f}, exact "
                                    f"{scores[r_top]:.5f}), the exact best is {best:.5f}"
                                    f" (own score {scores[row[pid]]:.5f})")
    out = [f"{where}: {o.name}: exact search by own vector: {len(problems)} of {len(pick)} wrong, "
           f"e.g. {problems[:4]}"] if problems else []
    return out, (approx_hits / approx_total if approx_total else None)


def check_config(api: Api, o: Oracle, where: str) -> list[str]:
    info = api.result("GET", f"/collections/{o.name}", f"info of {o.name}", kind="info")
    cfg = info["config"]
    problems = []
    v = cfg["params"]["vectors"]
    if v != {"size": o.dim, "distance": o.distance}:
        problems.append(f"{where}: {o.name}: vectors {v}, expected size {o.dim} {o.distance}")
    if cfg["hnsw_config"]["m"] != o.m:
        problems.append(f"{where}: {o.name}: hnsw m {cfg['hnsw_config']['m']}, expected {o.m}")
    q = cfg.get("quantization_config") is not None
    if q != o.quant:
        problems.append(f"{where}: {o.name}: quantization {'int8' if q else 'none'}, expected "
                        f"{'int8' if o.quant else 'none'}")
    if info["points_count"] != len(o.state):
        problems.append(f"{where}: {o.name}: points_count {info['points_count']}, oracle has {len(o.state)}")
    return problems


def expected_config(o: Oracle, jobs: list, requests: dict) -> None:
    """Applies the succeeded rebuilds of `o` not applied yet (in job order; they never overlap)
    to its expected config. `requests`: job id -> (collection, body, m, quant) as the client
    asked. Call it once every job has finished."""
    for j in sorted(jobs, key=lambda j: j["id"]):
        if j["collection"] != o.name or j["kind"] != "rebuild" or j["state"] != "succeeded":
            continue
        if j["id"] in o.applied_jobs:
            continue
        o.applied_jobs.add(j["id"])
        req = requests.get(j["id"])
        if req is None:
            raise AssertionError(f"rebuild job {j['id']} of {o.name} succeeded but no client asked for it: {j}")
        _, _, m, q = req
        if m is not None:
            o.m = m
        if q is not None:
            o.quant = q


def create_collection(api: Api, o: Oracle) -> None:
    api.call("DELETE", f"/collections/{o.name}", f"drop {o.name}", soft=(404,), kind="ddl")
    body: dict = {"vectors": {"size": o.dim, "distance": o.distance}, "hnsw_config": {"m": o.m}}
    if o.quant:
        body["quantization_config"] = {"scalar": {"type": "int8"}}
    api.call("PUT", f"/collections/{o.name}", f"create {o.name}", body=body, kind="ddl")


def preload(api: Api, o: Oracle, n: int, rng: np.random.Generator, import_dir: Path) -> None:
    """n immutable points with payload {"pre": true, "g": ..}: ids [0, n), by a jsonl file import."""
    import_dir.mkdir(parents=True, exist_ok=True)
    ids = list(range(PRELOAD_BASE, PRELOAD_BASE + n))
    vecs = rand_vectors(rng, n, o.dim)
    payloads = [{"pre": True, "g": int(rng.integers(0, 6)), "w": "pre"} for _ in ids]
    path = import_dir / f"preload-{o.name}.jsonl"
    write_import_file(path, "jsonl", ids, vecs, payloads, {})
    jid = api.result("POST", f"/collections/{o.name}/import", f"preload {o.name}", ok=(202,),
                     body={"path": str(path), "format": "jsonl"}, kind="import_file")["job_id"]
    j = wait_job(api, jid, f"preload {o.name}")
    assert j["state"] == "succeeded" and j["done"] == n, j
    o.note_sent(ids)
    for pid, v, p in zip(ids, vecs, payloads):
        o.put(pid, (v, p))
