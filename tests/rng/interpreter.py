"""Run a check script under Triton's CPU interpreter, for the interpreter tests of tests/rng.

``TRITON_INTERPRET`` must be set before triton is imported, so the script runs in a
subprocess (with the repository root on its path, for ``tests.*`` imports). It prints
``READY`` once the interpreter is up and ``OK`` at the end.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

__all__ = ["run_interpreted"]

ROOT = str(Path(__file__).resolve().parents[2])


def run_interpreted(script: str, timeout: float = 300) -> None:
    if importlib.util.find_spec("triton") is None:
        pytest.skip("triton is not installed (the [triton] extra); `make test` installs it")
    path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=timeout
    )
    # With triton installed every failure counts, also one before the interpreter is up.
    assert "READY" in proc.stdout, f"the interpreter did not start: {proc.stderr[-3000:]}"
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().endswith("OK")
