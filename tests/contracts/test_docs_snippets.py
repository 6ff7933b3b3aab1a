"""Run every ```python block of the user guides so the documentation cannot rot.

Each fenced block of docs/choosing.md and docs/api.md runs on its own, in a fresh
namespace, exactly as a reader would paste it: a block imports what it uses and
checks its own claims with ``assert``. A failing block is reported with its file
and first line. Warnings are errors inside a block (a documented call should not
warn; blocks that show a warning catch it), and the default RNG state and the
initializer registry are restored afterwards. The API reference is also checked
for coverage: every public name from the core modules and every registered
initializer name must appear in it.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch

import initlab
from initlab import _registry

DOCS = Path(__file__).resolve().parents[2] / "docs"
DOC_FILES = ("choosing.md", "api.md")
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)

# Modules whose public names docs/api.md documents; the model-level tools
# (rules, doctor, experiments, keyed RNG) have their own documents.
CORE_MODULES = frozenset(
    {
        "initlab._fans",
        "initlab._functional",
        "initlab._gains",
        "initlab._initializers",
        "initlab._registry",
        "initlab.rng._seam",
    }
)
CORE_CONSTANTS = ("ACTIVATIONS", "DISTRIBUTIONS", "LAYOUTS", "TRUNC2_STD", "GeneratorLike")


def python_blocks(name: str) -> list[tuple[int, str]]:
    """``(first line number, source)`` of every ```python block of docs/<name>."""
    text = (DOCS / name).read_text(encoding="utf-8")
    return [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]


def _cases() -> list[pytest.param]:
    cases = []
    for name in DOC_FILES:
        if not (DOCS / name).exists():
            cases.append(pytest.param(name, 0, "", id=f"{name}-missing"))
            continue
        for line, source in python_blocks(name):
            cases.append(pytest.param(name, line, source, id=f"{name}:{line}"))
    return cases


@pytest.mark.parametrize(("name", "line", "source"), _cases())
def test_snippet_runs(name: str, line: int, source: str) -> None:
    assert source, f"docs/{name} is missing or has no ```python blocks"
    code = compile(source, f"docs/{name}:{line}", "exec")
    namespace: dict[str, object] = {"__name__": f"docs_snippet_{line}"}
    rng_state = torch.random.get_rng_state()
    registry = dict(_registry._REGISTRY)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a documented call should not warn
            exec(code, namespace)
    finally:
        # Blocks may draw from the default generator or register example classes;
        # neither may leak into other tests.
        torch.random.set_rng_state(rng_state)
        _registry._REGISTRY.clear()
        _registry._REGISTRY.update(registry)


@pytest.mark.parametrize("name", DOC_FILES)
def test_every_doc_has_snippets(name: str) -> None:
    assert python_blocks(name), f"docs/{name} has no ```python blocks"


def _api_text() -> str:
    return (DOCS / "api.md").read_text(encoding="utf-8")


def test_api_reference_covers_core_public_names() -> None:
    text = _api_text()
    core = [
        name
        for name in initlab.__all__
        if getattr(getattr(initlab, name), "__module__", None) in CORE_MODULES
    ]
    missing = [n for n in [*core, *CORE_CONSTANTS] if f"`{n}" not in text]
    assert not missing, f"docs/api.md does not document {missing}"


def test_api_reference_lists_every_registry_name() -> None:
    text = _api_text()
    names = [
        name
        for name in initlab.initializers.known_names()
        if initlab.initializers.get(name).__class__.__module__ == "initlab._initializers"
    ]
    missing = [n for n in names if f"`{n}`" not in text]
    assert not missing, f"docs/api.md does not list the registry names {missing}"
