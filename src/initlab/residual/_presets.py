"""Residual-aware presets for the preset table (``initlab.rules.PRESETS``).

Each builder puts its scheme's rules first and the ``auto`` preset's rules after them
for everything else (stems, shortcuts, embeddings, norms), so the first match wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from torch import nn

from initlab.residual._branches import BLOCK_TYPES
from initlab.residual._schemes import (
    GAIN_NAMES,
    deepnet_rules,
    depth_scaled_rules,
    fixup_rules,
    rezero_rules,
)
from initlab.rules._presets import Preset, register_preset
from initlab.rules._rules import Rule

__all__ = ["RESIDUAL_PRESETS"]


def _auto(model: nn.Module, acts: dict, bias: str, bias_value: float) -> list[Rule]:
    return (
        Preset(name="auto", options={"bias": bias, "bias_value": bias_value})
        .rules(model, acts)
        .rules
    )


def _fixup(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    branches: Mapping[str, Sequence[Any]] | None = None,
    classifier: str | None = "auto",
    block_types: Sequence[str] = BLOCK_TYPES,
) -> list[Rule]:
    rules = fixup_rules(
        model, branches=branches, classifier=classifier, activations=acts, block_types=block_types
    )
    return [*rules, *_auto(model, acts, bias, bias_value)]


def _rezero(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    alpha: float = 0.0,
    names: Sequence[str] = GAIN_NAMES,
) -> list[Rule]:
    return [*rezero_rules(model, alpha=alpha, names=names), *_auto(model, acts, bias, bias_value)]


def _depth_scaled(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    std: float = 0.02,
    n_layer: int | None = None,
    branches: Mapping[str, Sequence[Any]] | None = None,
) -> list[Rule]:
    scaled = depth_scaled_rules(model, std=std, n_layer=n_layer, branches=branches)
    rest = Preset(name="gpt2", options={"bias": bias, "bias_value": bias_value, "std": std})
    return [*scaled, *rest.rules(model, acts).rules]


def _deepnet(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    architecture: str = "decoder",
    n_encoder: int | None = None,
    n_decoder: int | None = None,
    decoder: str = "*decoder*",
) -> list[Rule]:
    rules = deepnet_rules(
        model,
        architecture=architecture,
        n_encoder=n_encoder,
        n_decoder=n_decoder,
        decoder=decoder,
    )
    return [*rules, *_auto(model, acts, bias, bias_value)]


Builder = Callable[..., list[Rule]]

#: name -> (builder, option names, documented source), the shape of ``PRESETS``.
RESIDUAL_PRESETS: dict[str, tuple[Builder, tuple[str, ...], str]] = {
    "fixup": (
        _fixup,
        ("branches", "classifier", "block_types"),
        "Zhang, Dauphin & Ma 2019 (Fixup, ICLR): zero last branch layer and classifier, "
        "scale the rest by L^(-1/(2m-2)); auto elsewhere",
    ),
    "rezero": (
        _rezero,
        ("alpha", "names"),
        "Bachlechner et al. 2021 (ReZero) / De & Smith 2020 (SkipInit): residual "
        "multipliers α = 0; auto elsewhere",
    ),
    "depth-scaled": (
        _depth_scaled,
        ("std", "n_layer", "branches"),
        "Radford et al. 2019 (GPT-2): branch output projections N(0, (std/sqrt(2L))^2), "
        "branches found by initlab.residual",
    ),
    "deepnet": (
        _deepnet,
        ("architecture", "n_encoder", "n_decoder", "decoder"),
        "Wang et al. 2022 (DeepNet): Xavier normal gain β on FFN/value/output projections; "
        "auto elsewhere",
    ),
}


for _name, (_builder, _options, _source) in RESIDUAL_PRESETS.items():
    register_preset(_name, _builder, options=_options, source=_source)
