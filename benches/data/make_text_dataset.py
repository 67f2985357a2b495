"""Build the real-text dataset `gcide-minilm`: GCIDE definitions embedded with MiniLM.

Texts: the distinct 5-40 word definition texts of GCIDE (gcide.py; Debian
package dict-gcide), shuffled with a seeded permutation (seed 7). The first
1,000 are the queries, the next 100,000 the base, the rest `extra` (for insert
or update workloads; not in the ground truth).

Vectors: all-MiniLM-L6-v2 int8 ONNX on onnxruntime, mean pooling + L2 norm,
384-d (embed.py), from the model files `make setup` installs for the service.
Ground truth: exact top-100 base ids by inner product.

Writes $VICINITY_BENCH_DATA/<name>/: the common.py layout plus
  texts.jsonl   {"id": int, "split": "query"|"base"|"extra", "text": str}; id is
                the row in query.* / base.* / extra.npy of that split
  extra.npy     float32 [n_extra, 384]
  meta.json     counts, seed, sources and sha256 of the dictionary and model
                files, timings, embedding rate, and a self-check: a sample of
                texts re-embedded one at a time without padding (min cosine)

--limit N keeps only the first N shuffled texts (a prefix of the full build:
same queries, base rows = the first N - 1000 base rows of the full set) and
names the dataset <name>-limit<N> unless --name is given.

  python3 make_text_dataset.py                  # full build (20-35 min on 2 busy cores)
  python3 make_text_dataset.py --limit 3000     # smoke-test size, ~1 min
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

import gcide  # noqa: E402
from common import dataset_dir, partial_dir, save_dataset  # noqa: E402
from embed import MAX_TOKENS, MODEL_DIR, Embedder, check_model, embed_one, sha256  # noqa: E402


def package_version(pkg: str) -> str | None:
    try:
        return subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], text=True,
                              capture_output=True, check=True).stdout.strip() or None
    except (OSError, subprocess.CalledProcessError):
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--name", default=None, help="dataset name (default gcide-minilm"
                    "[-limitN])")
    ap.add_argument("--limit", type=int, default=None,
                    help="use only the first N shuffled texts (smoke tests)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-query", type=int, default=1_000)
    ap.add_argument("--n-base", type=int, default=100_000)
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR,
                    help="holds model.onnx + tokenizer.json (default: the one `make setup` installs)")
    ap.add_argument("--gcide-dir", type=Path, default=gcide.GCIDE_DIR)
    ap.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--check", type=int, default=20,
                    help="texts re-embedded one at a time as a self-check (0: none)")
    a = ap.parse_args()
    name = a.name or ("gcide-minilm" + (f"-limit{a.limit}" if a.limit else ""))
    t_start = time.perf_counter()

    model_info = check_model(a.model_dir)
    t0 = time.perf_counter()
    texts = gcide.extract(a.gcide_dir)
    extract_s = time.perf_counter() - t0
    n_distinct = len(texts)
    perm = np.random.default_rng(a.seed).permutation(n_distinct)
    texts = [texts[i] for i in perm[:a.limit]]
    nq, nb = a.n_query, a.n_base
    if len(texts) <= nq:
        sys.exit(f"only {len(texts)} texts: need more than --n-query {nq} (--limit counts "
                 f"queries, base and extra together)")
    splits = {"query": texts[:nq], "base": texts[nq:nq + nb], "extra": texts[nq + nb:]}
    print(f"{n_distinct} distinct definitions ({extract_s:.1f}s); using {len(texts)}: "
          + ", ".join(f"{len(v)} {k}" for k, v in splits.items()), flush=True)

    emb = Embedder(a.model_dir, threads=a.threads)
    emb.encode(texts[:128], a.batch)                                    # warm-up
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    vecs = emb.encode(texts, a.batch, progress_every=60)
    embed_s = time.perf_counter() - t0
    rate = len(texts) / embed_s
    print(f"embedded {len(texts)} texts in {embed_s:.1f}s = {rate:.1f} texts/s "
          f"({a.threads} threads, batch {a.batch}, load average {load0:.2f} at start)",
          flush=True)

    # self-check: a different code path (fresh default InferenceSession, one text a run,
    # no padding, no batching) must give the same vectors
    rows = np.random.default_rng(a.seed + 1).choice(len(texts), min(a.check, len(texts)),
                                                   replace=False)
    ref = embed_one(a.model_dir, [texts[i] for i in rows])
    cos = (ref * vecs[rows]).sum(1) if len(rows) else np.ones(1, dtype=np.float32)
    print(f"self-check on {len(rows)} texts: cosine min {cos.min():.6f}, "
          f"mean {cos.mean():.6f}", flush=True)
    if cos.min() < 0.9999:
        sys.exit(f"self-check failed: min cosine {cos.min():.6f} < 0.9999; nothing written")

    query, base, extra = vecs[:nq], vecs[nq:nq + nb], vecs[nq + nb:]
    d = partial_dir(name, fresh=True)
    with open(d / "texts.jsonl", "w", encoding="utf-8") as f:
        for split, chunk in splits.items():
            for i, t in enumerate(chunk):
                f.write(json.dumps({"id": i, "split": split, "text": t},
                                   ensure_ascii=False) + "\n")
    import onnxruntime
    import tokenizers
    src = {f.name: sha256(f) for f in (a.gcide_dir / "gcide.index",
                                       a.gcide_dir / "gcide.dict.dz")}
    meta = dict(
        generator="make_text_dataset.py",
        source=f"GCIDE definitions, Debian dict-gcide {package_version('dict-gcide')}",
        source_sha256=src, n_distinct_texts=n_distinct, limit=a.limit, seed=a.seed,
        n_extra=int(extra.shape[0]),
        text_words=dict(min=gcide.MIN_WORDS, max=gcide.MAX_WORDS,
                        mean=round(float(np.mean([len(t.split()) for t in texts])), 2)),
        model="sentence-transformers/all-MiniLM-L6-v2, int8 ONNX; mean pooling over the "
              f"attention mask, L2 norm; max {MAX_TOKENS} tokens",
        model_files=model_info, onnxruntime=onnxruntime.__version__,
        tokenizers=tokenizers.__version__, python=platform.python_version(),
        extract_seconds=round(extract_s, 2), embed_texts=len(texts),
        embed_seconds=round(embed_s, 2), embed_texts_per_s=round(rate, 1),
        embed_threads=a.threads, embed_batch=a.batch, embed_sorted_by_tokens=True,
        loadavg_at_embed_start=round(load0, 2),
        self_check=dict(texts=int(len(rows)), min_cosine=round(float(cos.min()), 7),
                        mean_cosine=round(float(cos.mean()), 7)),
        started=t_start)
    meta = save_dataset(name, base, query, meta, extra_files={"extra.npy": extra},
                        also_hash=("texts.jsonl",))
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}, indent=2,
                     ensure_ascii=False))
    print(f"wrote {dataset_dir(name)}")


if __name__ == "__main__":
    main()
