"""Comparison mode: the same model under several schemes or presets, side by side.

A candidate is ``as-is`` (the model as given), a registered initializer name
(``initlab.known_names()``; applied to every Linear, Conv and ConvTranspose
weight, biases zeroed, each weight from its own generator keyed by (seed,
scheme, layer name); ConvTranspose weights are stored ``(in, out/groups, *k)``,
so fan-based schemes read their fans with ``layout="torch_transposed"``),
or an ``initlab.rules`` preset name. Each candidate runs on a deep copy with
the same probe, so the diagnoses differ only by initialization.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

import initlab
from initlab._fans import get_layout
from initlab._validation import closest_match
from initlab.doctor._config import DoctorConfig, ProbeSpec
from initlab.doctor._diagnose import LossFn, diagnose
from initlab.doctor._records import Diagnosis

__all__ = ["AS_IS", "apply_rules", "apply_scheme", "compare"]

AS_IS = "as-is"
_SCHEME_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_TRANSPOSED_TYPES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _initializer(scheme: str, module: nn.Module) -> Any:
    """The scheme for one layer; transposed convs get their own layout (with groups)."""
    initializer = initlab.get(scheme)
    if isinstance(module, _TRANSPOSED_TYPES) and hasattr(initializer, "layout"):
        # Only fan-based schemes take a layout; the others do not read fans at all.
        layout = dataclasses.replace(get_layout("torch_transposed"), groups=module.groups)
        initializer = initlab.get(scheme, layout=layout)
    return initializer


def apply_scheme(model: nn.Module, scheme: str, *, seed: int) -> nn.Module:
    """Return a copy of ``model`` whose Linear/Conv/ConvTranspose weights come from ``scheme``."""
    initlab.get(scheme)  # an unknown name fails before the copy
    model = copy.deepcopy(model)
    for name, module in model.named_modules():
        if isinstance(module, (*_SCHEME_TYPES, *_TRANSPOSED_TYPES)):
            generator = initlab.seeded_generator(seed, "doctor-compare", scheme, name)
            _initializer(scheme, module)(module.weight, generator=generator)
            if module.bias is not None:
                initlab.zeros_(module.bias)
    return model


def _rules_module() -> Any:
    try:
        import initlab.rules as rules
    except ImportError as exc:
        raise ValueError(f"presets and rule files need initlab.rules, which failed: {exc}") from exc
    return rules


def apply_rules(model: nn.Module, preset_or_file: str, *, seed: int) -> nn.Module:
    """Return a copy of ``model`` initialized by an ``initlab.rules`` preset or rule file."""
    rules = _rules_module()
    target: Any = preset_or_file
    if preset_or_file.endswith((".json", ".yaml", ".yml")) or Path(preset_or_file).is_file():
        target = rules.load_rules(preset_or_file)
    model = copy.deepcopy(model)
    rules.init_model(model, target, seed=seed, default="torch")
    return model


def _prepare(model: nn.Module, candidate: str, seed: int) -> nn.Module:
    if candidate == AS_IS:
        return model
    if candidate in initlab.known_names():
        return apply_scheme(model, candidate, seed=seed)
    rules = _rules_module()
    if candidate not in rules.PRESETS and not Path(candidate).is_file():
        hint = closest_match(candidate, [AS_IS, *initlab.known_names(), *rules.PRESETS])
        suggestion = f" (did you mean {hint!r}?)" if hint is not None else ""
        raise ValueError(
            f"candidate={candidate!r} is not {AS_IS!r}, an initializer "
            f"({', '.join(initlab.known_names())}), a preset ({', '.join(rules.PRESETS)}) "
            f"or a rules file{suggestion}"
        )
    return apply_rules(model, candidate, seed=seed)


def compare(
    model: nn.Module,
    candidates: Sequence[str],
    inputs: Any = None,
    *,
    probe: ProbeSpec | tuple[ProbeSpec, ...] | None = None,
    loss_fn: LossFn | None = None,
    config: DoctorConfig | None = None,
) -> list[Diagnosis]:
    """Diagnose ``model`` under each candidate init; one :class:`Diagnosis` per candidate.

    >>> net = nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 4))
    >>> [d.run for d in compare(net, ["he_normal", "xavier_uniform"])]
    ['he_normal', 'xavier_uniform']
    """
    if not candidates:
        raise ValueError("candidates is empty: give at least one scheme or preset")
    if len(set(candidates)) != len(candidates):
        raise ValueError(f"candidates={list(candidates)!r} repeats a name")
    config = config or DoctorConfig()
    prepared = [(c, _prepare(model, c, config.seed)) for c in candidates]
    return [
        diagnose(m, inputs, probe=probe, loss_fn=loss_fn, config=config, run=c) for c, m in prepared
    ]
