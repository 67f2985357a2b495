"""The text path (issue 22) over HTTP, with the default model: a lone request is embedded as a
batch of one, batches form under load (the batch-size histogram in /metrics), and a bulk text
import running beside interactive text queries keeps their p99 within 2x of the idle figure.

The embedding cache is off, so every text runs the model. Without the model (`make setup`
installs it) the tests are skipped, unless VICINITY_TEST_REQUIRE_MODEL is set (as `make test`
does), when they fail.
"""
from __future__ import annotations

import json
import os
import random
import re
import threading
import time

import httpx
import pytest

MODEL = "all-minilm-l6-v2"
WORDS = ("river stone light garden winter market music engine forest letter doctor window "
         "silver harbor castle planet dinner morning journey candle mountain teacher "
         "question violin meadow anchor thunder lantern pocket orchard").split()


@pytest.fixture(scope="module")
def url(server_factory) -> str:
    s = server_factory.start(env={"VICINITY__EMBEDDING__CACHE_BYTES": "0"})
    r = httpx.post(f"{s.url}/embed", json={"texts": ["probe"]}, timeout=60)
    if r.status_code != 200:
        if os.environ.get("VICINITY_TEST_REQUIRE_MODEL", "0") != "0":
            pytest.fail(f"the embedding model is not loaded: {r.text}")
        pytest.skip(f"no embedding model (make setup installs it): {r.text}")
    return s.url


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + f" {rng.randrange(10**6)}."


def batch_histogram(url: str, lane: str = "interactive") -> dict[str, float]:
    """`le` bucket -> count, plus `count`, of vicinity_embedding_batch_size for the model's lane."""
    text = httpx.get(f"{url}/metrics", timeout=30).text
    out: dict[str, float] = {"count": 0.0}
    for line in text.splitlines():
        if not line.startswith("vicinity_embedding_batch_size") or f'lane="{lane}"' not in line:
            continue
        if f'model="{MODEL}"' not in line:
            continue
        value = float(line.rsplit(" ", 1)[1])
        le = re.search(r'le="([^"]+)"', line)
        if le:
            out[le.group(1)] = value
        elif line.startswith("vicinity_embedding_batch_size_count"):
            out["count"] = value
    return out


def embed(h: httpx.Client, text: str) -> None:
    r = h.post("/embed", json={"texts": [text]})
    assert r.status_code == 200, r.text
    assert len(r.json()["result"]["vectors"][0]) == 384


def test_a_lone_request_is_a_batch_of_one(url):
    with httpx.Client(base_url=url, timeout=60) as h:
        for i in range(3):
            before = batch_histogram(url)
            embed(h, f"a lone request number {i}")
            after = batch_histogram(url)
            assert after["count"] - before["count"] == 1, (before, after)
            assert after.get("1", 0) - before.get("1", 0) == 1, (before, after)


def test_batches_form_under_load(url):
    before = batch_histogram(url)
    rng = random.Random(22)
    texts = [sentence(rng, 4 + i % 20) for i in range(32 * 8)]
    errors: list[str] = []

    def client(mine: list[str]) -> None:
        with httpx.Client(base_url=url, timeout=120) as h:
            for t in mine:
                try:
                    embed(h, t)
                except AssertionError as e:
                    errors.append(str(e))

    threads = [threading.Thread(target=client, args=(texts[w::32],)) for w in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    after = batch_histogram(url)
    batches = after["count"] - before["count"]
    singles = after.get("1", 0) - before.get("1", 0)
    assert 0 < batches < len(texts), (before, after)
    assert batches - singles > 0, f"no batch of more than one text among {batches}: {after}"


def p99_of_text_queries(h: httpx.Client, queries: list[str], n: int) -> float:
    lat = []
    for i in range(n):
        t = time.perf_counter()
        r = h.post("/collections/docs/points/query",
                   json={"query": {"text": queries[i % len(queries)]}, "limit": 10, "cache": False})
        lat.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
    lat.sort()
    return lat[int(0.99 * (len(lat) - 1))]


def test_a_bulk_import_keeps_interactive_text_queries_fast(url, server_factory):
    server = server_factory.servers[-1]
    rng = random.Random(7)
    with httpx.Client(base_url=url, timeout=120) as h:
        h.delete("/collections/docs")
        assert h.put("/collections/docs", json={"embedding": {"model": MODEL}}).status_code == 200
        r = h.put("/collections/docs/points?wait=true",
                  json={"points": [{"id": i, "text": sentence(rng, 8)} for i in range(32)]})
        assert r.status_code == 200, r.text
        queries = [sentence(rng, 3 + i % 12) for i in range(50)]
        idle_before = p99_of_text_queries(h, queries, 600)

        imports = server.data_dir / "import"
        imports.mkdir(parents=True, exist_ok=True)
        path = imports / "texts.jsonl"
        with open(path, "w") as f:
            for i in range(20_000):
                f.write(json.dumps({"id": 1000 + i, "text": sentence(rng, 5 + i % 30)}) + "\n")
        r = h.post("/collections/docs/import", json={"path": str(path), "format": "jsonl"})
        assert r.status_code == 202, r.text
        job = r.json()["result"]["job_id"]
        deadline = time.monotonic() + 60
        while h.get(f"/jobs/{job}").json()["result"]["done"] == 0:
            assert time.monotonic() < deadline, "the import embedded nothing in 60 s"
            time.sleep(0.05)
        busy = p99_of_text_queries(h, queries, 600)
        state = h.get(f"/jobs/{job}").json()["result"]
        assert state["state"] == "running", f"the import ended before the busy figure was taken: {state}"
        assert h.delete(f"/jobs/{job}").status_code == 200
        while h.get(f"/jobs/{job}").json()["result"]["state"] == "running":
            time.sleep(0.05)
        idle_after = p99_of_text_queries(h, queries, 600)

    idle = max(idle_before, idle_after)
    print(f"text-query p99: idle {idle_before * 1000:.1f} / {idle_after * 1000:.1f} ms, "
          f"beside a bulk import {busy * 1000:.1f} ms")
    assert busy <= 2 * idle, (
        f"text-query p99 beside a bulk import {busy * 1000:.1f} ms, idle {idle * 1000:.1f} ms "
        f"(before {idle_before * 1000:.1f}, after {idle_after * 1000:.1f})")
