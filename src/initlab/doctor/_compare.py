"""Comparison mode: the same model under several schemes or presets, side by side.

A candidate is ``as-is`` (the model as given), a registered initializer name
(``initializers.known_names()``), or an ``initlab.rules`` preset name or rules file.
Every candidate but ``as-is`` is applied by the one model walker,
:func:`initlab.rules.init_model`, on a deep copy: an initializer name becomes the
rules "this scheme for every Linear, Conv and ConvTranspose weight, zeros for
their biases" (each tensor's stream keyed by (seed, name); the walker knows each
module's weight layout, e.g. ConvTranspose's ``(in, out/groups, *k)``); other
tensors keep their values. Each candidate runs with the same probe, so the
diagnoses differ only by initialization.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from initlab import initializers
from initlab._validation import closest_match
from initlab.doctor._config import DoctorConfig, ProbeSpec
from initlab.doctor._diagnose import LossFn, check_device, diagnose
from initlab.doctor._records import Diagnosis

__all__ = ["AS_IS", "SCHEME_MODULES", "apply_rules", "apply_scheme", "compare", "scheme_rules"]

AS_IS = "as-is"
#: The layers an initializer-name candidate initializes (class names, as rules match them).
SCHEME_MODULES = (
    "Linear",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
)


def _rules_module() -> Any:
    try:
        import initlab.rules as rules
    except ImportError as exc:
        raise ValueError(f"presets and rule files need initlab.rules, which failed: {exc}") from exc
    return rules


def scheme_rules(scheme: str) -> list[Any]:
    """The rules a comparison applies for an initializer name: weights by it, biases zero."""
    rules = _rules_module()
    return [
        rules.Rule(scheme=scheme, module=SCHEME_MODULES, role="weight", description=scheme),
        rules.Rule(scheme="zeros", module=SCHEME_MODULES, role="bias", description="bias: zero"),
    ]


def apply_scheme(model: nn.Module, scheme: str, *, seed: int) -> nn.Module:
    """Return a copy of ``model`` whose Linear/Conv/ConvTranspose weights come from ``scheme``."""
    initializers.get(scheme)  # an unknown name fails before the copy
    model = copy.deepcopy(model)
    _rules_module().init_model(model, scheme_rules(scheme), seed=seed, default="torch")
    return model


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
    if candidate in initializers.known_names():
        return apply_scheme(model, candidate, seed=seed)
    rules = _rules_module()
    if candidate not in rules.PRESETS and not Path(candidate).is_file():
        hint = closest_match(candidate, [AS_IS, *initializers.known_names(), *rules.PRESETS])
        suggestion = f" (did you mean {hint!r}?)" if hint is not None else ""
        raise ValueError(
            f"candidate={candidate!r} is not {AS_IS!r}, an initializer "
            f"({', '.join(initializers.known_names())}), "
            f"a preset ({', '.join(rules.PRESETS)}) "
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
    check_device(model)
    prepared = [(c, _prepare(model, c, config.seed)) for c in candidates]
    return [
        diagnose(m, inputs, probe=probe, loss_fn=loss_fn, config=config, run=c) for c, m in prepared
    ]
