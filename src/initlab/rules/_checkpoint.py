"""Initialize from a pretrained checkpoint: read, map names, match by name, shape and dtype.

Files are read with ``safetensors`` or ``torch.load(weights_only=True)`` (never
unpickling arbitrary objects), chosen by the file's first bytes, not its suffix.
Reading and matching happen before any weight is written; whatever is refused
raises and leaves the model untouched.

What matching refuses, and why: a checkpoint that shares no name with the model
(almost always a missing ``prefix_map``: loading it would give a silently random
model); NaN values (they would poison training from the first step); an integer
tensor for a floating-point one or the reverse (the values cannot be meant for it).
What it accepts with a :class:`CheckpointMismatchWarning`: tensors whose shapes
differ (they are initialized by the rules instead, and the plan lists them) and
infinite values (attention-mask buffers hold ``-inf`` on purpose).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from initlab._validation import _caller_stacklevel
from initlab.rules._plan import CheckpointReport

__all__ = ["CheckpointMismatchWarning", "load_state", "map_names", "match_checkpoint"]

StateLike = str | Path | Mapping[str, torch.Tensor]

_FORMS = "a .safetensors file, a torch.save file (.pt, .pth, .bin) or a state dict"


class CheckpointMismatchWarning(UserWarning):
    """Checkpoint tensors were loaded only in part (shapes differ) or hold infinities."""


def _names(items: list[str], limit: int = 5) -> str:
    more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def _format(path: Path) -> str:
    """``'safetensors'`` or ``'torch'`` from the first bytes; a clear error otherwise."""
    with path.open("rb") as handle:
        head = handle.read(9)
    if len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0:
        return "safetensors"  # 8-byte little-endian header length, then a JSON header
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\x80"):
        return "torch"  # torch.save's zip archive, or a legacy pickle
    raise ValueError(
        f"pretrained={str(path)!r} is neither a safetensors nor a torch.save file "
        f"(it starts with {head!r}); pass {_FORMS}"
    )


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if path.is_dir():
        files = sorted(
            p.name for p in path.iterdir() if p.suffix in (".safetensors", ".pt", ".pth", ".bin")
        )
        listing = f" (it holds {_names(files)})" if files else ""
        raise ValueError(
            f"pretrained={str(path)!r} is a folder; pass one checkpoint file in it{listing}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if _format(path) == "safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return dict(load_file(str(path)))
        except (SafetensorError, OSError, RuntimeError) as exc:
            raise ValueError(
                f"checkpoint {str(path)!r} is not a readable safetensors file: {exc}"
            ) from None
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises pickle, zip and runtime errors alike
        raise ValueError(
            f"checkpoint {str(path)!r} cannot be read with weights_only=True: {exc}"
        ) from None
    if (
        isinstance(state, Mapping)
        and "state_dict" in state
        and isinstance(state["state_dict"], Mapping)
    ):
        state = state["state_dict"]
    return _check_state(state, str(path))


def _check_state(state: object, where: str) -> dict[str, torch.Tensor]:
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {where} holds {type(state).__name__}, not a state dict")
    bad = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"checkpoint {where} has non-tensor entries: {bad[:5]}")
    return dict(state)


def load_state(source: StateLike) -> tuple[dict[str, torch.Tensor], str]:
    """The checkpoint's tensors and a label for reports."""
    if isinstance(source, Mapping):
        return _check_state(source, "(state dict)"), "(state dict)"
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"pretrained={source!r} is a {type(source).__name__}; pass {_FORMS}")
    path = Path(source)
    return _read_file(path), str(path)


def map_names(
    state: Mapping[str, torch.Tensor], prefix_map: Mapping[str, str] | None
) -> dict[str, torch.Tensor]:
    """Rename keys: the first ``old -> new`` prefix that a key starts with is replaced
    (``{"module.": ""}`` strips DDP's prefix). Two keys mapping to one name is an error."""
    if prefix_map is None:
        return dict(state)
    if not isinstance(prefix_map, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in prefix_map.items()
    ):
        raise TypeError(
            f"prefix_map={prefix_map!r} must be a dict of old prefix -> new prefix (strings), "
            "e.g. {'module.': ''} to strip DDP's prefix"
        )
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        new = key
        for old, replacement in prefix_map.items():
            if key.startswith(old):
                new = replacement + key.removeprefix(old)
                break
        if new in out:
            raise ValueError(f"prefix_map sends two checkpoint keys to {new!r}")
        out[new] = tensor
    return out


def _prefix_hint(keys: list[str], names: list[str]) -> str:
    """A ``prefix_map`` that would make the first checkpoint key a model name, if one does."""
    for key in keys[:50]:
        for name in names:
            if key.endswith(name) and key != name:
                return f"; prefix_map={{{key.removesuffix(name)!r}: ''}} would match them"
            if name.endswith(key):
                return f"; prefix_map={{'': {name.removesuffix(key)!r}}} would match them"
    return ""


def _check_overlap(state: Mapping[str, torch.Tensor], names: list[str], path: str) -> None:
    keys = list(state)
    if not keys:
        raise ValueError(f"checkpoint {path} holds no tensors")
    raise ValueError(
        f"checkpoint {path} shares no tensor name with the model (checkpoint keys such as "
        f"{_names(keys, 3)}; model names such as {_names(names, 3)}): loading it would "
        f"leave the model fully random{_prefix_hint(keys, names)}"
    )


def _check_values(chosen: Mapping[str, torch.Tensor], path: str) -> None:
    nan = [n for n, t in chosen.items() if t.is_floating_point() and bool(t.isnan().any())]
    if nan:
        raise ValueError(
            f"checkpoint {path} holds NaN values in {_names(nan)}; they would make every "
            "output NaN (clean the checkpoint, or drop these keys from the state dict)"
        )
    inf = [n for n, t in chosen.items() if t.is_floating_point() and bool(t.isinf().any())]
    if inf:
        warnings.warn(
            f"checkpoint {path} holds infinite values in {_names(inf)} (loaded as they are)",
            CheckpointMismatchWarning,
            stacklevel=_caller_stacklevel(),
        )


def _kind(dtype: torch.dtype) -> str:
    if dtype.is_complex:
        return "complex"
    return "floating-point" if dtype.is_floating_point else "integer"


def match_checkpoint(
    state: Mapping[str, torch.Tensor],
    shapes: Mapping[str, tuple[int, ...]],
    aliases: Mapping[str, str],
    path: str,
    dtypes: Mapping[str, torch.dtype] | None = None,
) -> tuple[CheckpointReport, dict[str, torch.Tensor]]:
    """Match checkpoint tensors to model tensors (``shapes``: canonical name -> shape;
    ``aliases``: alias name -> canonical name, so a tied LM head may supply its storage;
    ``dtypes``: canonical name -> dtype, to refuse integer values for float tensors).
    Returns the report and the tensor chosen for each matched canonical name; see the
    module docstring for what is refused and what only warns."""
    report = CheckpointReport(path=path)
    chosen: dict[str, torch.Tensor] = {}
    wrong_kind: list[str] = []
    for key, tensor in state.items():
        canonical = aliases.get(key, key)
        if canonical not in shapes:
            report.unexpected.append(key)
            continue
        if canonical in chosen:
            continue
        if tuple(tensor.shape) != tuple(shapes[canonical]):
            report.mismatched[canonical] = (list(tensor.shape), list(shapes[canonical]))
            continue
        model_dtype = (dtypes or {}).get(canonical)
        if model_dtype is not None and _kind(tensor.dtype) != _kind(model_dtype):
            wrong_kind.append(
                f"{key} ({str(tensor.dtype).removeprefix('torch.')} for a "
                f"{str(model_dtype).removeprefix('torch.')} tensor)"
            )
        chosen[canonical] = tensor
    if not chosen and not report.mismatched:
        _check_overlap(state, list(shapes), path)
    if wrong_kind:
        raise ValueError(
            f"checkpoint {path} holds values of the wrong kind: {_names(wrong_kind)}; "
            "casting would truncate or invent values (convert the checkpoint explicitly)"
        )
    _check_values(chosen, path)
    report.matched = [n for n in shapes if n in chosen]
    report.missing = [n for n in shapes if n not in chosen and n not in report.mismatched]
    if report.mismatched:
        shown = [f"{n} (checkpoint {a}, model {b})" for n, (a, b) in report.mismatched.items()]
        warnings.warn(
            f"checkpoint {path}: {len(shown)} tensor(s) differ in shape and were not loaded "
            f"(the rules initialize them instead): {_names(shown)}",
            CheckpointMismatchWarning,
            stacklevel=_caller_stacklevel(),
        )
    return report, chosen
