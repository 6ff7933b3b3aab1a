"""The declared version floors are true: pyproject, the runtime check and the Makefile agree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from initlab import _versions
from initlab._versions import TORCH_FLOOR, check_torch, parse_version

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _declared_torch_floor() -> tuple[int, int]:
    text = (ROOT / "pyproject.toml").read_text()
    found = re.findall(r'"torch\s*>=\s*([0-9][^",;]*)"', text)
    assert len(found) == 1, f"expected one torch>= requirement in pyproject.toml, got {found}"
    return parse_version(found[0])


def test_pyproject_floor_is_the_runtime_floor() -> None:
    assert _declared_torch_floor() == TORCH_FLOOR


def test_make_test_versions_tests_the_floor() -> None:
    makefile = (ROOT / "Makefile").read_text()
    oldest = re.search(r"^TORCH_OLDEST \?= (\S+)$", makefile, re.M)
    assert oldest is not None
    assert parse_version(oldest.group(1)) == TORCH_FLOOR


def test_installed_torch_is_supported() -> None:
    assert parse_version(torch.__version__) >= TORCH_FLOOR
    check_torch()


@pytest.mark.parametrize("version", ["2.4.1", "2.11.0", "1.13.1", "2.11.0+cu121"])
def test_too_old_torch_is_a_clear_import_error(
    monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    monkeypatch.setattr(torch, "__version__", version)
    floor = ".".join(map(str, TORCH_FLOOR))
    with pytest.raises(ImportError, match=rf"needs torch>={floor}, but torch {re.escape(version)}"):
        check_torch()


@pytest.mark.parametrize("version", ["2.12.0", "2.12.0+cpu", "2.12.0a0+git1234", "2.15.0", "3.0"])
def test_floor_and_newer_pass(monkeypatch: pytest.MonkeyPatch, version: str) -> None:
    monkeypatch.setattr(torch, "__version__", version)
    check_torch()


def test_unparseable_version_is_named() -> None:
    with pytest.raises(
        ValueError, match=r"torch version 'nightly' does not start with MAJOR.MINOR"
    ):
        parse_version("nightly")


def test_import_initlab_on_old_torch_fails_before_anything_else() -> None:
    """The check runs first in ``import initlab`` (a fresh interpreter, torch's version faked)."""
    code = "import torch; torch.__version__ = '2.4.0'; import initlab"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: initlab needs torch>=") and "2.4.0 is installed" in last


def test_module_documents_why() -> None:
    doc = _versions.__doc__ or ""
    assert "166853" in doc and "DTensor" in doc
