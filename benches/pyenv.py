"""Shared by the side-by-side scripts: where things live (the same places as the Makefile's),
and running the calling script under a venv that has the Python packages it needs, creating the
venv and installing them on first use."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def cache_root() -> Path:
    """vicinity's cache root, as scripts/cache-dir.sh (and so the Makefile) decides it:
    $VICINITY_CACHE, else /var/cache/vicinity when writable, else ~/.cache/vicinity."""
    out = subprocess.run(["bash", str(REPO / "scripts" / "cache-dir.sh")], check=True,
                         capture_output=True, text=True).stdout.strip()
    return Path(out)


def target_dir() -> Path:
    """Cargo's target dir: $CARGO_TARGET_DIR, else <cache>/target (the Makefile's default)."""
    return Path(os.environ.get("CARGO_TARGET_DIR") or cache_root() / "target")


def models_dir() -> Path:
    """Where scripts/setup-embedding.sh installs ONNX Runtime and the model."""
    return Path(os.environ.get("VICINITY_MODELS") or cache_root() / "models")


def venv_dir() -> Path:
    """The project's venv (qdrant-client, pytest, numpy; the embedding comparison's packages)."""
    return Path(os.environ.get("VENV") or cache_root() / "venv")


def bench_data_dir() -> Path:
    """Benchmark datasets made by `make bench-data` (benches/data/):
    $VICINITY_BENCH_DATA, else ${XDG_CACHE_HOME:-~/.cache}/vicinity-bench."""
    if os.environ.get("VICINITY_BENCH_DATA"):
        return Path(os.environ["VICINITY_BENCH_DATA"])
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "vicinity-bench"


def bench_venv() -> Path:
    """The benchmark venv (numpy, onnxruntime, tokenizers, hnswlib, faiss-cpu), made by
    benches/data/setup_venv.sh: $VICINITY_BENCH_VENV, else <bench data>/venv."""
    return Path(os.environ.get("VICINITY_BENCH_VENV") or bench_data_dir() / "venv")


def bench_python() -> str:
    """Creates or updates the benchmark venv (idempotent, <1 s when ready); returns its python."""
    setup = REPO / "benches" / "data" / "setup_venv.sh"
    done = subprocess.run(["bash", str(setup)], stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        sys.exit(f"{setup} failed (exit {done.returncode})")
    return done.stdout.strip().splitlines()[-1]


def make_hint(dataset: str) -> str:
    """The command that makes `dataset` (a name from benches/data/make.sh, maybe -limitN)."""
    base, _, limit = dataset.partition("-limit")
    env = f"VICINITY_BENCH_LIMIT={limit} " if limit else ""
    return f"make bench-data BENCH_DATASETS={base} {env}".strip()


def ensure(script, argv, venv, modules, packages):
    """Returns when `modules` import here; otherwise re-executes `script` with `argv` under
    `venv`'s python, after installing `packages` there if the modules are missing."""
    if all(importlib.util.find_spec(m) for m in modules):
        return
    name = Path(script).stem
    marker = f"_{name.upper()}_REEXEC"
    if os.environ.get(marker):
        sys.exit(f"{name}: {', '.join(modules)} still missing in {sys.executable}")
    py = Path(venv) / "bin" / "python"
    if not py.exists():
        print(f"{name}: creating venv {venv}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    probe = "import " + ", ".join(modules)
    if subprocess.run([str(py), "-c", probe], capture_output=True).returncode != 0:
        print(f"{name}: installing {' '.join(packages)} into {venv}", file=sys.stderr)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        *packages], check=True)
    os.environ[marker] = "1"
    os.execv(str(py), [str(py), str(Path(script).resolve()), *argv])
