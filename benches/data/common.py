"""Dataset layout, vector file IO and exact ground truth for vicinity's benchmark data.

Data lives under DATA_DIR = $VICINITY_BENCH_DATA (default
${XDG_CACHE_HOME:-~/.cache}/vicinity-bench), never inside the repository. Every dataset is
a directory DATA_DIR/<name>/ holding:

  base.fvecs   / base.npy      float32 [n, d]    vectors to index
  query.fvecs  / query.npy     float32 [q, d]    query vectors (never in base)
  gt.ivecs     / gt_ids.npy    int32   [q, 100]  exact top-100 base row ids, best first
  gt_scores.npy                float32 [q, 100]  the matching inner products
  meta.json                    how it was made: generator, seed, counts, timings,
                               size and sha256 of every file

.fvecs / .ivecs follow the TEXMEX / ann-benchmarks convention: each row is a
little-endian int32 dimension d followed by d little-endian float32 (fvecs) or
int32 (ivecs) values. Ids are 0-based row numbers of base.fvecs. All vectors are
L2-normalised, so inner product == cosine similarity; ground truth ranks by it.

A dataset is written into DATA_DIR/.<name>.partial and renamed to DATA_DIR/<name> once
complete (meta.json last), so a directory DATA_DIR/<name> is never half made; made(name)
tells whether one is complete (meta.json and every file it lists, at its recorded size).

Command line:
  python3 common.py dir [NAME]      print DATA_DIR or a dataset's directory
  python3 common.py made NAME       exit 0 if NAME is complete, 1 if not
  python3 common.py check NAME      re-hash the files against meta.json and
                                    recompute the ground truth of a few queries
"""
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

DATA_DIR = Path(os.environ.get("VICINITY_BENCH_DATA")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "vicinity-bench")
GT_K = 100


def dataset_dir(name: str) -> Path:
    return DATA_DIR / name


def partial_dir(name: str, fresh: bool = False) -> Path:
    """Where a dataset is written before it is complete; fresh=True empties it first."""
    p = DATA_DIR / f".{name}.partial"
    if fresh and p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True, exist_ok=True)
    return p


def made(name: str) -> bool:
    """True when DATA_DIR/<name> has meta.json and every file it lists, at its size."""
    d = dataset_dir(name)
    try:
        meta = json.loads((d / "meta.json").read_text())
        files = meta["files"]
        return bool(files) and all((d / f).stat().st_size == info["bytes"]
                                   for f, info in files.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(path)


def write_vecs(path: Path, arr: np.ndarray) -> None:
    """Write a 2-D float32 or int32 array as .fvecs / .ivecs (little-endian)."""
    arr = np.ascontiguousarray(arr)
    assert arr.dtype in (np.float32, np.int32), arr.dtype
    n, d = arr.shape
    out = np.empty((n, d + 1), dtype="<i4")
    out[:, 0] = d
    out[:, 1:] = arr.astype(arr.dtype.newbyteorder("<"), copy=False).view("<i4")
    out.tofile(path)


def read_vecs(path: Path, dtype=np.float32, mmap: bool = False) -> np.ndarray:
    """Read .fvecs (dtype=float32) or .ivecs (dtype=int32) into an [n, d] array.

    mmap=True maps the file instead of reading it (the result is a read-only view)."""
    raw = (np.memmap(path, dtype="<i4", mode="r") if mmap
           else np.fromfile(path, dtype="<i4"))
    if raw.size == 0:
        return np.empty((0, 0), dtype=dtype)
    d = int(raw[0])
    rows = raw.reshape(-1, d + 1)
    if not (rows[:, 0] == d).all():
        raise ValueError(f"{path}: rows do not all have dimension {d}")
    body = rows[:, 1:]
    want = np.dtype(dtype).newbyteorder("<")
    return body.view(want) if mmap else body.copy().view(want).astype(dtype, copy=False)


def normalize(x: np.ndarray) -> np.ndarray:
    """Row-wise L2 normalisation in float32."""
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def exact_topk(base: np.ndarray, query: np.ndarray, k: int = GT_K, chunk: int = 100_000):
    """Exact top-k by inner product, brute force with numpy BLAS over base chunks.

    Returns (ids int32 [q, k], scores float32 [q, k]), best first; equal scores are
    ordered by ascending id. Memory: about q * chunk * 12 bytes at a time.
    """
    q, k = query.shape[0], min(k, base.shape[0])
    best_s = np.full((q, k), -np.inf, dtype=np.float32)
    best_i = np.full((q, k), -1, dtype=np.int64)
    for start in range(0, base.shape[0], chunk):
        s = query @ np.asarray(base[start:start + chunk], dtype=np.float32).T   # [q, c]
        kk = min(k, s.shape[1])
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
        cand_s = np.concatenate([best_s, np.take_along_axis(s, part, axis=1)], axis=1)
        cand_i = np.concatenate([best_i, part + start], axis=1)
        sel = np.argpartition(-cand_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(cand_s, sel, axis=1)
        best_i = np.take_along_axis(cand_i, sel, axis=1)
    order = np.lexsort((best_i, -best_s), axis=1)
    return (np.take_along_axis(best_i, order, axis=1).astype(np.int32),
            np.take_along_axis(best_s, order, axis=1))


def file_info(path: Path) -> dict:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return {"bytes": path.stat().st_size, "sha256": h.hexdigest()}


def save_dataset(name: str, base: np.ndarray, query: np.ndarray, meta: dict,
                 extra_files: dict | None = None, also_hash: tuple = (),
                 k: int = GT_K) -> dict:
    """Compute the exact ground truth and write a dataset in both layouts, then move it from
    partial_dir(name) to dataset_dir(name) (replacing an incomplete one).

    extra_files: {filename: ndarray} saved as .npy beside the standard files;
    also_hash: names of files the caller already wrote into partial_dir(name), listed in
    meta.json. meta["total_seconds"] is set from meta["started"] (perf_counter) if given.
    Returns the meta dict written to meta.json."""
    d = partial_dir(name)
    t0 = time.perf_counter()
    gt_i, gt_s = exact_topk(base, query, k)
    gt_seconds = time.perf_counter() - t0
    files = {"base.fvecs": base, "query.fvecs": query, "gt.ivecs": gt_i}
    for fname, arr in files.items():
        write_vecs(d / fname, arr)
    npys = {"base.npy": base, "query.npy": query, "gt_ids.npy": gt_i, "gt_scores.npy": gt_s}
    npys.update(extra_files or {})
    for fname, arr in npys.items():
        np.save(d / fname, arr)
    names = sorted(list(files) + list(npys) + list(also_hash))
    meta = dict(name=name, **meta, n_base=int(base.shape[0]), n_query=int(query.shape[0]),
                dim=int(base.shape[1]), gt_k=int(gt_i.shape[1]),
                metric="inner product (vectors unit-norm, so cosine)",
                gt_seconds=round(gt_seconds, 2), numpy=np.__version__,
                files={f: file_info(d / f) for f in names})
    started = meta.pop("started", None)
    if started is not None:
        meta["total_seconds"] = round(time.perf_counter() - started, 2)
    write_json(d / "meta.json", meta)
    final = dataset_dir(name)
    if final.exists():
        shutil.rmtree(final)
    d.rename(final)
    return meta


def load_dataset(name: str, mmap: bool = False):
    """Return (base, query, gt_ids, meta) from the .npy copies."""
    d = dataset_dir(name)
    base = np.load(d / "base.npy", mmap_mode="r" if mmap else None)
    query = np.load(d / "query.npy")
    gt = np.load(d / "gt_ids.npy")
    meta = json.loads((d / "meta.json").read_text())
    return base, query, gt, meta


def recall_at(found: np.ndarray, gt: np.ndarray, k: int = 10) -> float:
    """recall@k: mean over queries of |found[:k] & gt[:k]| / k (ids < 0 are misses)."""
    hits = 0
    for f, g in zip(found[:, :k], gt[:, :k]):
        hits += len({int(x) for x in f if x >= 0} & {int(x) for x in g})
    return hits / (k * len(gt))


def check_dataset(name: str, n_check: int = 5) -> bool:
    """Re-hash files against meta.json and recompute the ground truth of a few queries."""
    d = dataset_dir(name)
    meta = json.loads((d / "meta.json").read_text())
    ok = True
    for fname, info in meta.get("files", {}).items():
        got = file_info(d / fname) if (d / fname).exists() else None
        good = got == info
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {fname} {info['bytes']} bytes")
    base = read_vecs(d / "base.fvecs", mmap=True)
    query = read_vecs(d / "query.fvecs")
    gt = read_vecs(d / "gt.ivecs", np.int32)
    rows = np.linspace(0, len(query) - 1, min(n_check, len(query))).astype(int)
    _, top_s = exact_topk(base, query[rows], gt.shape[1])
    # scores of the stored ids, recomputed: equal to the true top-k scores unless the
    # stored ground truth is wrong (robust to the order of exact ties)
    stored_s = np.einsum("qd,qkd->qk", query[rows], np.asarray(base)[gt[rows]])
    err = float(np.abs(stored_s - top_s).max())
    good = err < 1e-5
    ok &= good
    print(f"{'ok ' if good else 'BAD'} ground truth of {len(rows)} queries recomputed "
          f"(max score difference {err:.2e})")
    norms = np.linalg.norm(np.asarray(base[:1000]), axis=1)
    print(f"    base {base.shape}, query {query.shape}, gt {gt.shape}; norms of the first "
          f"1000 base rows in [{norms.min():.5f}, {norms.max():.5f}]")
    return ok


def main(argv):
    if len(argv) >= 1 and argv[0] == "dir":
        print(dataset_dir(argv[1]) if len(argv) > 1 else DATA_DIR)
        return 0
    if len(argv) == 2 and argv[0] == "made":
        return 0 if made(argv[1]) else 1
    if len(argv) == 2 and argv[0] == "check":
        return 0 if check_dataset(argv[1]) else 1
    print(__doc__.split("Command line:")[1].strip("\n"), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
