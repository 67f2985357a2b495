"""Deterministic clustered Gaussian-mixture datasets (unit-norm float32).

Model: C centres drawn uniformly on the unit sphere; each point picks a centre
uniformly, adds isotropic Gaussian noise with per-coordinate std sigma / sqrt(d)
(so the noise vector has norm ~sigma) and is L2-normalised. Queries are fresh
samples from the same mixture, not base points. Ground truth: exact top-100 by
inner product (= cosine). Same seed and numpy version => byte-identical files
(meta.json records both and every file's sha256).

Presets:
  gmm-1m-128    1,000,000 x 128, 1000 clusters, sigma 0.6, 1000 queries
  gmm-100k-960    100,000 x 960,  100 clusters, sigma 0.6, 1000 queries (GIST-like dim)
  gmm-tiny         20,000 x 64,    20 clusters, sigma 0.6, 1000 queries (smoke tests)

--limit N keeps at most N base vectors (same centres, same queries' distribution) and
names the dataset <preset>-limitN: a quick stand-in for checks of the scripts, not for
measurements.

Usage: python3 make_synthetic.py gmm-tiny [--seed 7] [--n-query 1000] [--limit N]
Writes $VICINITY_BENCH_DATA/<name>/ (see common.py for the layout).
"""
import argparse
import json
import sys
import time

sys.dont_write_bytecode = True   # keep the repository clean of __pycache__
import numpy as np  # noqa: E402

from common import dataset_dir, normalize, save_dataset  # noqa: E402

PRESETS = {
    "gmm-1m-128": dict(n=1_000_000, d=128, clusters=1000, sigma=0.6),
    "gmm-100k-960": dict(n=100_000, d=960, clusters=100, sigma=0.6),
    "gmm-tiny": dict(n=20_000, d=64, clusters=20, sigma=0.6),
}
CHUNK = 100_000   # part of the recipe: the random stream is drawn in chunks of this size


def sample(rng, centres, n, sigma):
    """n points from the mixture, generated in chunks to bound memory."""
    c, d = centres.shape
    out = np.empty((n, d), dtype=np.float32)
    for s in range(0, n, CHUNK):
        m = min(CHUNK, n - s)
        lab = rng.integers(0, c, size=m)
        noise = rng.standard_normal((m, d), dtype=np.float32) * np.float32(sigma / np.sqrt(d))
        out[s:s + m] = normalize(centres[lab] + noise)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("name", choices=sorted(PRESETS))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--n-query", type=int, default=1000)
    ap.add_argument("--limit", type=int, default=None,
                    help="at most N base vectors; the dataset is named <preset>-limitN")
    a = ap.parse_args()
    p = dict(PRESETS[a.name])
    name = a.name
    if a.limit:
        if a.limit < 1:
            sys.exit("--limit must be positive")
        p["n"] = min(p["n"], a.limit)
        name = f"{a.name}-limit{a.limit}"
    t0 = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    centres = normalize(rng.standard_normal((p["clusters"], p["d"]), dtype=np.float32))
    base = sample(rng, centres, p["n"], p["sigma"])
    query = sample(rng, centres, a.n_query, p["sigma"])
    gen_s = time.perf_counter() - t0
    meta = dict(generator="make_synthetic.py", preset=a.name, seed=a.seed, limit=a.limit,
                gen_seconds=round(gen_s, 2), **p, started=t0)
    meta = save_dataset(name, base, query, meta)
    print(json.dumps({k: v for k, v in meta.items() if k != "files"}, indent=2))
    print(f"wrote {dataset_dir(name)}")


if __name__ == "__main__":
    main()
