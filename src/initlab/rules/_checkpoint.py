"""Initialize from a pretrained checkpoint: read, map names, match by name and shape.

Files are read with ``safetensors`` or ``torch.load(weights_only=True)`` (never
unpickling arbitrary objects). Reading and matching happen before any weight is
written; an unreadable file raises and the model is left untouched.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch

from initlab.rules._plan import CheckpointReport

__all__ = ["load_state", "map_names", "match_checkpoint"]

StateLike = str | Path | Mapping[str, torch.Tensor]


def _read_file(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
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
    path = Path(source)
    return _read_file(path), str(path)


def map_names(
    state: Mapping[str, torch.Tensor], prefix_map: Mapping[str, str] | None
) -> dict[str, torch.Tensor]:
    """Rename keys: the first ``old -> new`` prefix that a key starts with is replaced
    (``{"module.": ""}`` strips DDP's prefix). Two keys mapping to one name is an error."""
    if not prefix_map:
        return dict(state)
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


def match_checkpoint(
    state: Mapping[str, torch.Tensor],
    shapes: Mapping[str, tuple[int, ...]],
    aliases: Mapping[str, str],
    path: str,
) -> tuple[CheckpointReport, dict[str, torch.Tensor]]:
    """Match checkpoint tensors to model tensors (``shapes``: canonical name -> shape;
    ``aliases``: alias name -> canonical name, so a tied LM head may supply its storage).
    Returns the report and the tensor chosen for each matched canonical name."""
    report = CheckpointReport(path=path)
    chosen: dict[str, torch.Tensor] = {}
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
        chosen[canonical] = tensor
    report.matched = [n for n in shapes if n in chosen]
    report.missing = [n for n in shapes if n not in chosen and n not in report.mismatched]
    return report, chosen
