"""Side-by-side text-embedding throughput: Python onnxruntime vs vicinity's `embed-bench`.

    python3 benches/compare_embed.py                       # 10,000 texts, batch 1 and 32, 1 and 2 threads
    python3 benches/compare_embed.py --n 2000 --threads 1 --batches 32

Both sides embed the same N texts with the same model files (all-MiniLM-L6-v2 int8, as
installed by scripts/setup-embedding.sh), the same batch size and the same intra-op thread
count and ONNX Runtime's default graph optimisation (`all`; the server's sessions use `basic`,
see compare_text_path.py), end to end: tokenize (truncate at 256), group the texts into batches
by token length, pad each batch to its longest text, run the model, mean-pool over the
attention mask, L2-normalise. Throughput = N / wall time of all of that, after a warm-up of 64 texts.

Texts (one per line in a file both sides read, written to --texts-out or a temp dir):
  1. the real-text dataset: $VICINITY_BENCH_DATA/gcide-minilm*/texts.jsonl (made by
     `make bench-data`, benches/data/make_text_dataset.py), the first N texts;
  2. else GCIDE definitions extracted on the fly with benches/data/gcide.py when Debian's
     dict-gcide is installed (shuffled with seed 7, as make_text_dataset.py does);
  3. else (or for any shortfall) generated English-like sentences of 5-40 words, seed 7.

Python side: each (batch, threads) point runs in its own process (a hidden --worker mode of
this script) with onnxruntime intra_op_num_threads = threads, inter_op 1, and
RAYON_NUM_THREADS = threads so that the tokenizers library's batch encoding uses no more
threads than the model does.

vicinity side: $CARGO_TARGET_DIR/release/embed-bench (CARGO_TARGET_DIR defaults to the
Makefile's, scripts/cache-dir.sh's cache root + /target; --embed-bench overrides), called as
    embed-bench --model-dir DIR --ort-lib PATH --texts FILE --batch B --threads T
which embeds every line of FILE and prints one JSON line
    {"sentences_per_s": x, "batch": b, "threads": t}
(other fields are allowed; the last line with "sentences_per_s" counts). If the binary is
missing, only the Python numbers are reported. This script never runs cargo.

Outside a Python that has numpy, onnxruntime and tokenizers, the script installs the pinned
versions into the venv ${VENV:-<cache root>/venv} (creating it if needed) and re-runs
itself there. Use `nice` and --repeat 3 on a shared machine: the fastest pass counts.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.dont_write_bytecode = True

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pyenv  # noqa: E402

REPO = pyenv.REPO
DATA_SCRIPTS = REPO / "benches" / "data"
BENCH_DATA = pyenv.bench_data_dir()
MODELS = pyenv.models_dir()
VENV = pyenv.venv_dir()
TARGET = pyenv.target_dir()
PY_PACKAGES = ["numpy", "onnxruntime==1.32.0", "tokenizers==0.23.3"]
MAX_TOKENS = 256
DIM = 384
WARMUP = 64


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000, help="number of texts")
    p.add_argument("--batches", default="1,32", help="batch sizes, comma-separated")
    p.add_argument("--threads", default="1,2", help="intra-op thread counts, comma-separated")
    p.add_argument("--repeat", type=int, default=1, help="timed passes per point; best counts")
    p.add_argument("--model-dir", type=Path, default=MODELS / "all-minilm-l6-v2")
    p.add_argument("--ort-lib", type=Path, default=MODELS / "onnxruntime" / "libonnxruntime.so",
                   help="ONNX Runtime shared library handed to embed-bench")
    p.add_argument("--embed-bench", type=Path, default=TARGET / "release" / "embed-bench")
    p.add_argument("--texts-file", type=Path,
                   help="use this file (one text per line) instead of choosing texts")
    p.add_argument("--texts-out", type=Path, help="keep the chosen texts in this file")
    p.add_argument("--engines", default="python,vicinity")
    p.add_argument("--json-out", type=Path, help="also write every result line here")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--batch", type=int, default=32, help=argparse.SUPPRESS)
    p.add_argument("--worker-threads", type=int, default=1, help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    a.batches = [int(x) for x in a.batches.split(",") if x.strip()]
    a.threads = [int(x) for x in a.threads.split(",") if x.strip()]
    a.engines = [e.strip() for e in a.engines.split(",") if e.strip()]
    return a


def ensure_python(argv):
    """Re-run under VENV with what this script imports, installing it if missing."""
    pyenv.ensure(__file__, argv, VENV, ("numpy", "onnxruntime", "tokenizers"), PY_PACKAGES)


# ---------------------------------------------------------------- texts

WORDS = """the a an of to in for on with by from at as that which this these those
is are was were be been being has have had do does made make takes gives used using known
called small large long short old new young early late high low hard soft bright dark cold warm
heavy light quick slow common rare simple complex round flat narrow wide deep open closed
plant animal tree flower leaf root seed fruit bird fish insect horse dog cat river sea lake
hill mountain stone iron wood glass water fire wind rain snow light sound colour color form
body hand head eye heart blood bone skin hair tooth foot mind spirit person man woman child
king church ship house door wall room tool knife rope wheel cloth paper book letter word
name number line point part side end kind sort state act process quality condition manner
instrument vessel substance mixture compound salt acid metal oil gold silver copper lead
species genus family order class group member branch system series place region country
city town village field garden road bridge market trade money price law court office army
war peace art music song dance game sport play work labor time day night year season""".split()


def generated_texts(n, seed=7):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(5, 40)
        w = [rng.choice(WORDS) for _ in range(k)]
        if rng.random() < 0.4:
            w[rng.randrange(k)] += ","
        out.append(" ".join(w).capitalize() + rng.choice(".;."))
    return out


def dataset_texts(n):
    """First n texts of the largest gcide-minilm* dataset under $VICINITY_BENCH_DATA."""
    best = None
    for d in sorted(BENCH_DATA.glob("gcide-minilm*")):
        f = d / "texts.jsonl"
        if f.exists() and (best is None or f.stat().st_size > best.stat().st_size):
            best = f
    if best is None:
        return [], None
    out = []
    with open(best, encoding="utf-8") as fh:
        for line in fh:
            out.append(json.loads(line)["text"])
            if len(out) >= n:
                break
    return out, str(best)


def gcide_texts(n):
    gcide_dir = Path(os.environ.get("GCIDE_DIR") or "/usr/share/dictd")
    if not (gcide_dir / "gcide.index").exists():
        return [], None
    sys.path.insert(0, str(DATA_SCRIPTS))
    try:
        import gcide
        texts = gcide.extract(gcide_dir)
    finally:
        sys.path.pop(0)
    rng = random.Random(7)
    rng.shuffle(texts)
    return texts[:n], f"GCIDE definitions from {gcide_dir}"


def choose_texts(n):
    texts, src = dataset_texts(n)
    if len(texts) < n:
        more, src2 = gcide_texts(n)
        if len(more) > len(texts):
            texts, src = more, src2
    sources = [f"{len(texts)} from {src}"] if texts else []
    if len(texts) < n:
        gen = generated_texts(n - len(texts))
        texts += gen
        sources.append(f"{len(gen)} generated (seed 7)")
    # one per line: no line breaks inside a text
    return [" ".join(t.split()) or "." for t in texts], "; ".join(sources)


# ---------------------------------------------------------------- Python onnxruntime worker

def worker(a):
    """Embed every line of --texts-file; print one JSON line like embed-bench's."""
    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    texts = a.texts_file.read_text(encoding="utf-8").splitlines()
    tok = Tokenizer.from_file(str(a.model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=MAX_TOKENS)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.worker_threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(str(a.model_dir / "model.onnx"), so,
                                providers=["CPUExecutionProvider"])
    batch = a.batch

    def embed(chunk):
        t0 = time.perf_counter()
        encs = tok.encode_batch(chunk)
        t_tok = time.perf_counter() - t0
        lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        order = np.argsort(lens, kind="stable")
        out = np.empty((len(encs), DIM), dtype=np.float32)
        for s in range(0, len(order), batch):
            rows = order[s:s + batch]
            width = int(lens[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, :lens[i]] = encs[i].ids
                mask[r, :lens[i]] = 1
            h = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask,
                                                 "token_type_ids": np.zeros_like(ids)})[0]
            m = mask[:, :, None].astype(np.float32)
            v = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
            out[rows] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return out, t_tok, int(lens.sum())

    embed(texts[:WARMUP])
    best = None
    for _ in range(max(1, a.repeat)):
        t0 = time.perf_counter()
        vecs, t_tok, n_tokens = embed(texts)
        secs = time.perf_counter() - t0
        if best is None or secs < best[0]:
            best = (secs, t_tok, n_tokens)
    secs, t_tok, n_tokens = best
    assert np.isfinite(vecs).all()
    print(json.dumps({"sentences_per_s": round(len(texts) / secs, 2), "batch": batch,
                      "threads": a.worker_threads, "n": len(texts), "seconds": round(secs, 3),
                      "tokenize_seconds": round(t_tok, 3), "tokens": n_tokens,
                      "engine": "python-onnxruntime", "onnxruntime": ort.__version__}),
          flush=True)


# ---------------------------------------------------------------- driver

def run_json(cmd, env=None):
    """Run cmd, pass its stderr through, return the last stdout JSON line with sentences_per_s."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=env)
    found = None
    for line in proc.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "sentences_per_s" in obj:
                found = obj
    if proc.returncode != 0 or found is None:
        print(f"  failed (exit {proc.returncode}): {' '.join(map(str, cmd))}", file=sys.stderr)
        return None
    print("  " + json.dumps(found), file=sys.stderr, flush=True)
    return found


def python_point(a, texts_file, batch, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               TOKENIZERS_PARALLELISM="true" if threads > 1 else "false")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--texts-file",
           str(texts_file), "--model-dir", str(a.model_dir), "--batch", str(batch),
           "--worker-threads", str(threads), "--repeat", str(a.repeat)]
    return run_json(cmd, env)


def vicinity_point(a, texts_file, batch, threads):
    cmd = [str(a.embed_bench), "--model-dir", str(a.model_dir), "--ort-lib", str(a.ort_lib),
           "--texts", str(texts_file), "--batch", str(batch), "--threads", str(threads),
           "--optimization", "all"]
    best = None
    for _ in range(max(1, a.repeat)):
        r = run_json(cmd)
        if r is None:
            return None
        if best is None or r["sentences_per_s"] > best["sentences_per_s"]:
            best = r
    return best


def main(argv):
    a = parse_args(argv)
    ensure_python(argv)
    if a.worker:
        return worker(a)
    for f in ("model.onnx", "tokenizer.json"):
        if not (a.model_dir / f).exists():
            sys.exit(f"{a.model_dir / f} missing: run scripts/setup-embedding.sh first")

    tmp = None
    if a.texts_file:
        texts_file = a.texts_file
        source = str(texts_file)
        n = sum(1 for _ in open(texts_file, encoding="utf-8"))
    else:
        texts, source = choose_texts(a.n)
        n = len(texts)
        if a.texts_out:
            texts_file = a.texts_out
        else:
            tmp = tempfile.TemporaryDirectory(prefix="compare-embed-")
            texts_file = Path(tmp.name) / "texts.txt"
        texts_file.write_text("\n".join(texts) + "\n", encoding="utf-8")

    have_bin = a.embed_bench.is_file() and os.access(a.embed_bench, os.X_OK)
    run_vicinity = "vicinity" in a.engines and have_bin
    print(f"texts: {n} ({source}); model {a.model_dir}; load average "
          f"{os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)

    results = []
    for threads in a.threads:
        for batch in a.batches:
            row = {"batch": batch, "threads": threads, "python": None, "vicinity": None}
            if "python" in a.engines:
                print(f"python onnxruntime: batch {batch}, {threads} thread(s)", file=sys.stderr)
                row["python"] = python_point(a, texts_file, batch, threads)
            if run_vicinity:
                print(f"vicinity embed-bench: batch {batch}, {threads} thread(s)", file=sys.stderr)
                row["vicinity"] = vicinity_point(a, texts_file, batch, threads)
            results.append(row)
    if tmp:
        tmp.cleanup()

    if a.json_out:
        with open(a.json_out, "w") as f:
            for r in results:
                f.write(json.dumps(r) + "\n")

    def rate(x):
        return f"{x['sentences_per_s']:.1f}" if x else "–"

    print(f"\nEmbedding throughput, sentences/s ({n} texts: {source}; all-MiniLM-L6-v2 int8; "
          f"length-sorted batches; best of {max(1, a.repeat)})\n")
    print("| batch | threads | python onnxruntime | vicinity | vicinity / python |")
    print("|---:|---:|---:|---:|---:|")
    for r in results:
        p, v = r["python"], r["vicinity"]
        ratio = f"{v['sentences_per_s'] / p['sentences_per_s']:.2f}" if p and v else "–"
        print(f"| {r['batch']} | {r['threads']} | {rate(p)} | {rate(v)} | {ratio} |")
    if "vicinity" in a.engines and not have_bin:
        print(f"\nvicinity side skipped: {a.embed_bench} not found (build the `embed-bench` "
              "binary with cargo build --release, or pass --embed-bench PATH).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
