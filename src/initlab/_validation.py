"""Argument checks shared by every initializer: one wording, one policy.

Errors name the argument, echo the value and say what is allowed; an unknown
name gets the closest known one as a suggestion.
"""

from __future__ import annotations

import difflib
import math
import numbers
import os
import sys
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import torch

__all__ = [
    "as_mapping",
    "check_choice",
    "check_device",
    "check_finite",
    "check_floating",
    "check_in_range",
    "check_positive",
    "check_representable",
    "check_seed",
    "check_unknown_keys",
    "closest_match",
    "is_noop_tensor",
    "unknown_name_error",
]


def closest_match(name: str, known: Iterable[str]) -> str | None:
    """Return the known name closest to ``name``, or None when nothing is close."""
    matches = difflib.get_close_matches(str(name), list(known), n=1, cutoff=0.6)
    return matches[0] if matches else None


def unknown_name_error(arg: str, value: object, known: Iterable[str]) -> ValueError:
    """Build the error for a name that is not one of ``known``."""
    known = list(known)
    hint = closest_match(str(value), known)
    allowed = ", ".join(repr(k) for k in known)
    message = f"{arg}={value!r} is not one of {allowed}"
    if hint is not None:
        message += f" (did you mean {hint!r}?)"
    return ValueError(message)


def check_choice(arg: str, value: str, known: Iterable[str]) -> str:
    """Return ``value`` when it is one of ``known``, else raise with the closest match."""
    known = list(known)
    if not isinstance(value, str) or value not in known:
        raise unknown_name_error(arg, value, known)
    return value


def _real(value: object) -> float | None:
    """``value`` as a float when it is a real number (bool excluded), else None.

    Python and NumPy scalars and 0-d real tensors/arrays count, as in
    ``torch.nn.init`` (``xavier_uniform_(w, gain=np.float32(0.7))`` works there).
    """
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        if value.dtype == torch.bool or value.is_complex() or value.is_meta:
            return None
        return float(value.item())
    if isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf":
        return float(value)
    return None


def check_finite(arg: str, value: float) -> float:
    """Reject NaN, infinities and non-numbers (bool included) for a numeric argument.

    Returns the value as a Python float (NumPy scalars and 0-d tensors accepted).
    """
    number = _real(value)
    if number is None:
        raise TypeError(f"{arg}={value!r} must be a real number, got {type(value).__name__}")
    if not math.isfinite(number):
        raise ValueError(f"{arg}={value!r} must be finite")
    return number


def check_positive(arg: str, value: float, *, allow_zero: bool = False) -> float:
    """Finite and > 0 (or >= 0 with ``allow_zero``)."""
    value = check_finite(arg, value)
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{arg}={value!r} must be {bound}")
    return value


def check_in_range(arg: str, value: float, low: float, high: float) -> float:
    """Finite and within the closed interval [low, high]."""
    value = check_finite(arg, value)
    if not low <= value <= high:
        raise ValueError(f"{arg}={value!r} must lie in [{low}, {high}]")
    return value


#: Seeds everywhere in initlab: Python (or NumPy) ints in [0, 2**64), bools refused.
SEED_LIMIT = 2**64


def check_seed(arg: str, value: object, *, allow_none: bool = True) -> int | None:
    """The one rule for seeds: an int with 0 <= seed < 2**64 (or None where allowed).

    Every seed initlab takes (initializers, ``init_model``, keyed samplers, the CLI)
    follows it, so a seed valid in one place is valid in all of them.

    >>> check_seed("seed", 7)
    7
    >>> check_seed("seed", -1)
    Traceback (most recent call last):
    ...
    ValueError: seed=-1 must lie in [0, 2**64)
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        allowed = "an int or None" if allow_none else "an int"
        raise TypeError(
            f"{arg}={value!r} must be {allowed} with 0 <= {arg} < 2**64, got {type(value).__name__}"
        )
    if not 0 <= int(value) < SEED_LIMIT:
        raise ValueError(f"{arg}={value!r} must lie in [0, 2**64)")
    return int(value)


def check_unknown_keys(what: str, given: Iterable[str], allowed: Iterable[str]) -> None:
    """Refuse keyword arguments or config keys that ``what`` does not take, listing
    the allowed names and the closest match."""
    allowed = sorted(allowed)
    unknown = sorted(set(given) - set(allowed))
    if not unknown:
        return
    hint = closest_match(unknown[0], allowed)
    message = f"{what} has no argument(s) {unknown}; it takes {allowed}"
    if hint is not None:
        message += f" (did you mean {hint!r}?)"
    raise TypeError(message)


def check_representable(tensor: torch.Tensor, what: str, largest: float, describe: str) -> None:
    """Refuse a fill whose values would overflow the tensor's dtype to inf.

    ``largest`` is the largest magnitude the fill can write (for a normal
    distribution: |mean| + 6·std, beyond which a draw has probability 2e-9).
    """
    if not tensor.dtype.is_floating_point:
        return
    limit = torch.finfo(tensor.dtype).max
    if largest > limit:
        name = str(tensor.dtype).removeprefix("torch.")
        raise ValueError(
            f"{what}: {describe} would write values up to {largest:.3g}, beyond the largest "
            f"{name} value {limit:.5g} (they would become inf); use a wider dtype "
            "(float32) or a smaller scale"
        )


def as_mapping(arg: str, value: Any) -> Mapping[str, Any]:
    """A dict-like argument (rule ``args``, an initializer ``config``), or a clear error."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{arg}={value!r} must be a dict of keyword arguments, got {type(value).__name__}"
        )
    return value


def check_floating(tensor: torch.Tensor, what: str) -> None:
    """Random initializers write real floating-point values only."""
    if not tensor.dtype.is_floating_point:
        raise TypeError(
            f"{what} needs a real floating-point tensor, got dtype={tensor.dtype} "
            f"(shape {tuple(tensor.shape)}); create the parameter as float32, "
            "float64, float16 or bfloat16"
        )


def is_noop_tensor(tensor: torch.Tensor, what: str) -> bool:
    """The degenerate-tensor policy shared by every initializer.

    Meta tensors have no storage to write: silently a no-op. Zero-element tensors
    are a no-op with a warning, since an empty parameter is usually a mistake.
    """
    if tensor.is_meta:
        return True
    if tensor.numel() == 0:
        # Starts with PyTorch's own sentence, so filters and tests written for torch's
        # warning (``warnings.filterwarnings(message=...)`` matches the start) still work.
        warnings.warn(
            f"Initializing zero-element tensors is a no-op ({what}, shape {tuple(tensor.shape)})",
            UserWarning,
            stacklevel=_caller_stacklevel(),
        )
        return True
    return False


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_TORCH_NO_GRAD_WRAPPER = os.path.join("torch", "utils", "_contextlib.py")


def _caller_stacklevel() -> int:
    """Stack level of the first frame outside initlab (and torch's no_grad wrapper).

    Counted from the function that calls this one, so a warning points at the
    user's line whatever the depth of initlab's own calls.
    """
    frame = sys._getframe(1)
    level = 1
    while frame.f_back is not None and (
        frame.f_code.co_filename.startswith(_PACKAGE_DIR)
        or frame.f_code.co_filename.endswith(_TORCH_NO_GRAD_WRAPPER)
    ):
        frame = frame.f_back
        level += 1
    return level


def check_device(arg: str, value: object) -> torch.device:
    """``value`` as a ``torch.device`` this build can use, else a clear error.

    Refuses what ``torch.device`` cannot parse (``'bogus'``), a backend this build
    or machine lacks (``'cuda'`` on a CPU-only build) and an index past the device
    count (``'cuda:3'`` with two GPUs): each would otherwise fail deep inside torch.
    """
    allowed = "'cpu', 'cuda', 'cuda:N', 'mps' or a torch.device"
    if not isinstance(value, (str, torch.device)) or isinstance(value, bool):
        raise TypeError(f"{arg}={value!r} must be a device name or torch.device: {allowed}")
    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise ValueError(f"{arg}={value!r} is not a device; expected {allowed}") from None
    if device.type in ("cpu", "meta"):
        return device
    backend = getattr(torch, device.type, None)
    is_available = getattr(backend, "is_available", None)
    if device.type == "mps":
        is_available = torch.backends.mps.is_available
    if is_available is None or not is_available():
        raise ValueError(
            f"{arg}={value!r}: no {device.type} device is available to this PyTorch "
            f"{torch.__version__} build (torch.{device.type}.is_available() is False); "
            "use 'cpu'"
        )
    count = getattr(backend, "device_count", None)
    if device.index is not None and count is not None and device.index >= count():
        raise ValueError(
            f"{arg}={value!r}: index {device.index} is past the {count()} visible "
            f"{device.type} device(s); use {device.type}:0 to {device.type}:{count() - 1}"
        )
    return device
