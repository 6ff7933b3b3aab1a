"""Every ```python block of docs/residual.md and docs/lsuv.md runs, as a reader would paste it."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)


def _blocks() -> list:
    cases = []
    for name in ("residual.md", "lsuv.md"):
        text = (DOCS / name).read_text(encoding="utf-8")
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start(1)) + 1
            cases.append(pytest.param(m.group(1), id=f"{name}:{line}"))
    return cases


@pytest.mark.parametrize("source", _blocks())
def test_block_runs(source: str, capsys: pytest.CaptureFixture[str]) -> None:
    state = torch.random.get_rng_state()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            exec(compile(source, "<doc>", "exec"), {"__name__": "__doc__"})
    finally:
        torch.random.set_rng_state(state)
