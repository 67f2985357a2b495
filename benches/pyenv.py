"""Shared by the side-by-side scripts: run the calling script under a venv that has the
Python packages it needs, creating the venv and installing them on first use."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path


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
