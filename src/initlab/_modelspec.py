"""Turn a command-line MODEL argument into an ``nn.Module``.

MODEL is ``package.module:factory`` or ``path/to/file.py:factory``, where the
factory is a zero-argument callable returning an ``nn.Module``. Whatever goes
wrong in the user's code (a syntax error, an exception while importing or in the
factory) becomes a ``ValueError`` naming MODEL with the original error and the line
it came from, so the command line can print one line instead of a traceback.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable
from pathlib import Path

from torch import nn

from initlab._validation import closest_match

__all__ = ["load_factory", "load_model"]


def _import_target(target: str):  # type: ignore[no-untyped-def]
    if target.endswith(".py") or "/" in target or "\\" in target:
        path = Path(target)
        if path.is_dir():
            raise ValueError(f"MODEL file {target!r} is a directory, not a Python file")
        if not path.is_file():
            raise ValueError(f"MODEL file {target!r} does not exist")
        name = f"_initlab_model_{abs(hash(path.resolve()))}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ValueError(f"MODEL file {target!r} cannot be imported as Python")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception as exc:  # the user's code: any error, reported in one line
            del sys.modules[name]
            raise ValueError(f"MODEL file {target!r} failed to load: {_describe(exc)}") from exc
        return module
    try:
        return importlib.import_module(target)
    except ImportError as exc:
        raise ValueError(f"MODEL module {target!r} cannot be imported: {exc}") from exc
    except Exception as exc:  # the module imported, but its own code raised
        raise ValueError(f"MODEL module {target!r} failed to load: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    """``Type: message (file, line N)`` for the innermost frame (or the syntax error's line)."""
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, SyntaxError):
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}, line {exc.lineno})"
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        text += f" ({frames[-1].filename}, line {frames[-1].lineno})"
    return text


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
        known = [n for n, v in vars(module).items() if callable(v) and not n.startswith("_")]
        hint = closest_match(attr, known)
        message = f"MODEL={spec!r}: {target!r} has no attribute {attr!r}"
        raise ValueError(message + (f" (did you mean {hint!r}?)" if hint else "")) from None
    if not callable(factory):
        raise ValueError(f"MODEL={spec!r}: {attr!r} is not callable")
    return factory  # type: ignore[no-any-return]


def load_model(spec: str) -> nn.Module:
    """Call the factory named by ``spec`` and check that it returns an ``nn.Module``."""
    factory = load_factory(spec)
    try:
        model = factory()
    except Exception as exc:  # the user's factory: any error, reported in one line
        raise ValueError(f"MODEL={spec!r}: the factory raised {_describe(exc)}") from exc
    if not isinstance(model, nn.Module):
        raise ValueError(
            f"MODEL={spec!r}: the factory returned {type(model).__name__}, not an nn.Module"
        )
    return model
