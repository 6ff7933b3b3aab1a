"""Every ```python block of docs/mup.md runs as a reader would paste it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

DOC = Path(__file__).resolve().parents[2] / "docs" / "mup.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
BLOCKS = [m.group(1) for m in FENCE.finditer(DOC.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("source", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_doc_block_runs(source: str) -> None:
    if "transformers" in source:
        pytest.importorskip("transformers")
    exec(compile(source, str(DOC), "exec"), {})


def test_doc_has_blocks() -> None:
    assert len(BLOCKS) >= 2
