"""The ``mup`` preset: μP's init by name, ``init_model(model, preset("mup", base=small))``.

The preset is :func:`initlab.mup.mup_plan`'s rules (one exact-name rule per parameter,
the formulas of :mod:`initlab.mup._plan`) registered in the preset table like every
other preset. Its options are the base shapes (``base``, and ``delta`` when the model
*is* the base width), ``check`` and the fields of :class:`MupConfig` that change the
init. A base given as text (what ``initlab plan --preset-option base=...`` passes) is
a MODEL spec (``file.py:factory``, built on the meta device, so only its shapes are
read) or a ``.json`` file holding :func:`initlab.mup.shapes_of`'s dict.

The init alone does not make a model μP (the readout multiplier and 1/d attention are
forward changes), so with ``check=True`` (default) the preset refuses a model whose
plan is not μP as built and names what is missing; ``check=False`` writes μP's init
anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

from initlab.mup._plan import SOURCE, MupConfig, mup_plan
from initlab.mup._shapes import ShapesLike, shapes_of
from initlab.rules._presets import _bias_rules, register_preset
from initlab.rules._rules import Rule

__all__ = ["MUP_PRESET_OPTIONS"]

#: The MupConfig fields that change the init (weight decay scaling is the optimizer's).
_CONFIG_OPTIONS = tuple(f.name for f in fields(MupConfig) if f.name != "scale_weight_decay")
#: Options of the ``mup`` preset besides ``bias`` / ``bias_value``.
MUP_PRESET_OPTIONS = ("base", "delta", "check", *_CONFIG_OPTIONS)

_BASE_HINT = (
    "a narrow model of the same architecture (an nn.Module; one built on the meta device "
    "is enough), its initlab.mup.shapes_of() dict, a MODEL spec 'file.py:factory' or a "
    ".json file of that dict"
)


def _load_shapes(argument: str, value: str) -> dict[str, tuple[int, ...]]:
    """A base given as text: a ``.json`` shapes file or a MODEL spec built on meta."""
    if value.endswith(".json"):
        path = Path(value)
        if not path.is_file():
            raise ValueError(f"{argument}={value!r}: no such file")
        try:
            loaded = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{argument}={value!r} is not valid JSON: {exc}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{argument}={value!r} must hold a JSON object of name -> shape")
        return shapes_of(loaded)
    from initlab._modelspec import load_model

    try:
        with torch.device("meta"):
            return shapes_of(load_model(value))
    except ValueError as exc:
        raise ValueError(f"{argument}={value!r}: {exc}") from None


def _shapes(argument: str, value: Any) -> ShapesLike:
    if isinstance(value, str):
        return _load_shapes(argument, value)
    if isinstance(value, (nn.Module, Mapping)):
        return value
    raise TypeError(f"{argument}={value!r} must be {_BASE_HINT}")


def _mup(
    model: nn.Module,
    acts: Mapping[str, Any],
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    base: Any = None,
    delta: Any = None,
    check: bool = True,
    **config: Any,
) -> list[Rule]:
    if base is None:
        raise ValueError(
            f"the mup preset needs base=: {_BASE_HINT}; e.g. "
            "init_model(model, preset('mup', base=small_model)), or on the command line "
            "--preset-option base=file.py:small_factory"
        )
    if not isinstance(check, bool):
        raise TypeError(f"check={check!r} must be True or False (command line: check=false)")
    if bias == "torch":
        raise ValueError(
            "bias='torch' draws U(±1/sqrt(fan_in)), which shrinks with width; μP keeps "
            "biases Θ(1): use bias='zero' (μP's default) or bias='positive'"
        )
    plan = mup_plan(
        model,
        _shapes("base", base),
        None if delta is None else _shapes("delta", delta),
        MupConfig(**config),
    )
    if check:
        try:
            plan.check()
        except ValueError as exc:
            raise ValueError(
                f"preset 'mup': {exc}\nmake the changes first (initlab.mup.apply_readout, "
                "initlab.mup.set_attention_scale; see docs/mup.md), use readout='init' "
                "where only the readout is missing (TP5 Table 3), or pass check=False to "
                "write μP's init anyway"
            ) from None
    positive = _bias_rules(bias, bias_value) if bias == "positive" else []
    return [*positive, *plan.rules().rules]


register_preset(
    "mup",
    _mup,
    options=MUP_PRESET_OPTIONS,
    source=SOURCE + "; initlab.mup.mup_plan relative to base=",
)
