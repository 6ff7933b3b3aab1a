"""Turn a command-line MODEL argument into an ``nn.Module``.

MODEL is ``package.module:factory`` or ``path/to/file.py:factory``, where the
factory is a zero-argument callable returning an ``nn.Module``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

from torch import nn

__all__ = ["load_factory", "load_model"]


def _import_target(target: str):  # type: ignore[no-untyped-def]
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"MODEL file {target!r} does not exist")
        name = f"_initlab_model_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"MODEL file {target!r} cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ValueError(f"MODEL module {target!r} cannot be imported: {exc}") from exc


def load_factory(spec: str) -> Callable[[], nn.Module]:
    """Resolve ``module:factory`` or ``file.py:factory`` to the factory callable."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise ValueError(
            f"MODEL={spec!r} must look like 'package.module:factory' or 'path/to/file.py:factory'"
        )
    module = _import_target(target)
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ValueError(f"MODEL={spec!r}: {target!r} has no attribute {attr!r}") from None
    if not callable(factory):
        raise ValueError(f"MODEL={spec!r}: {attr!r} is not callable")
    return factory  # type: ignore[no-any-return]


def load_model(spec: str) -> nn.Module:
    """Call the factory named by ``spec`` and check that it returns an ``nn.Module``."""
    model = load_factory(spec)()
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"MODEL={spec!r}: the factory returned {type(model).__name__}, not an nn.Module"
        )
    return model
