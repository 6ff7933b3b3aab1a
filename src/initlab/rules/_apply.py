"""Initialize a whole model by rules: resolve, then draw and write.

:func:`init_model` works in the three steps its docstring names, each in its own module:

1. **Resolve** (``_resolve``): every tensor (parameters with their tie aliases, buffers)
   gets a role, the first matching rule and a fill whose spec (std, bound, fans) comes
   from ``Initializer.spec`` — nothing is sampled; every problem is collected.
2. **Check**: a plan with errors raises them all together; nothing has been touched.
3. **Draw and write** (``_write``): the model is materialized (meta) or moved, then each
   storage is filled in place, so peak memory is the model plus one temporary tensor.

Fills (``_fills``) are the one interface between the two: regular schemes, PyTorch's
defaults, ``keep``, LSTM forget-gate biases and pretrained copies look the same to
the engine.
"""

from __future__ import annotations

import secrets
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab._validation import _caller_stacklevel, check_choice, check_device, check_seed
from initlab.rules._activations import unwrap_model
from initlab.rules._checkpoint import StateLike, load_state, map_names, match_checkpoint
from initlab.rules._plan import CheckpointReport, Plan
from initlab.rules._presets import resolve_rules
from initlab.rules._resolve import (
    DEFAULTS,
    LazyActivations,
    TieConflictWarning,
    UnusedRuleWarning,
    all_sites,
    build_plan,
)
from initlab.rules._roles import TensorSite, is_of_type
from initlab.rules._rules import RuleSet
from initlab.rules._write import PartialWriteError, target_device, write_plan

__all__ = [
    "InitOptions",
    "PartialWriteError",
    "TieConflictWarning",
    "UnusedRuleWarning",
    "check_target_device",
    "init_model",
    "unwrap_model",
]


@dataclass(kw_only=True)
class InitOptions:
    """Options of :func:`init_model` (see there), validated together."""

    seed: int | None = None
    device: torch.device | str | None = None
    dry_run: bool = False
    default: str = "error"
    rng: str = "torch"
    generator: torch.Generator | None = None
    example_input: Any = None
    pretrained: StateLike | None = None
    prefix_map: Mapping[str, str] | None = None
    norm_types: tuple[str | type, ...] = ()

    def __post_init__(self) -> None:
        check_choice("default", self.default, DEFAULTS)
        check_choice("rng", self.rng, ("torch", "keyed"))
        if self.device is not None:
            check_target_device("device", self.device, dry_run=self.dry_run)
        check_seed("seed", self.seed)
        if self.generator is not None and not isinstance(self.generator, torch.Generator):
            raise TypeError(f"generator={self.generator!r} must be a torch.Generator or None")
        if self.generator is not None and self.seed is not None:
            raise ValueError("pass either seed= or generator= (the shared-generator parity mode)")


def check_target_device(arg: str, value: object, *, dry_run: bool = False) -> torch.device:
    """A device that can hold initialized values: :func:`check_device`, and not meta.

    Meta tensors hold no values, so writing there would silently do nothing; a dry run
    (which writes nothing) may name it.
    """
    device = check_device(arg, value)
    if device.type == "meta" and not dry_run:
        raise ValueError(
            f"{arg}={value!r}: meta tensors hold no values, so nothing can be initialized "
            "there; pass the device the weights should live on ('cpu', 'cuda', ...), or "
            "plan without writing (dry_run=True)"
        )
    return device


def _check_model(model: object) -> None:
    if not isinstance(model, nn.Module):
        shown = repr(model)
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        raise TypeError(
            f"model={shown} is a {type(model).__name__}, not a torch.nn.Module; "
            "wrap a list of layers in nn.Sequential or nn.ModuleList"
        )


def _check_norm_types(model: nn.Module, norm_types: tuple[str | type, ...]) -> list[str]:
    """A ``norm_types`` entry that names no module of the model is almost always a typo."""
    messages = []
    for item in norm_types:
        if not isinstance(item, (str, type)):
            raise TypeError(f"norm_types entry {item!r} must be a class or a class-name glob")
        if not any(is_of_type(module, item) for module in model.modules()):
            messages.append(f"norm_types entry {item!r} matches no module of the model")
    return messages


def _load_pretrained(
    options: InitOptions, sites: list[TensorSite]
) -> tuple[dict[str, torch.Tensor], CheckpointReport | None]:
    if options.pretrained is None:
        return {}, None
    state, path = load_state(options.pretrained)
    state = map_names(state, options.prefix_map)
    shapes = {s.name: tuple(s.tensor.shape) for s in sites}
    aliases = {a[0]: s.name for s in sites for a in s.aliases}
    dtypes = {s.name: s.tensor.dtype for s in sites}
    report, chosen = match_checkpoint(state, shapes, aliases, path, dtypes)
    return chosen, report


def _native_replays(
    model: nn.Module, rules_or_preset: Any, plan: Plan, target: torch.device | None
) -> dict[str, torch.Tensor]:
    """``native``'s random tensors with no closed form (Mamba's ``dt_proj.bias``), replayed
    from the model's recorded init with a stream of the plan's seed; the rules keep them, so
    without this they would hold whatever the global RNG gave the constructor."""
    from initlab.rules._presets import Preset

    name = rules_or_preset.name if isinstance(rules_or_preset, Preset) else rules_or_preset
    if not isinstance(name, str) or name != "native" or plan.seed is None:
        return {}
    from initlab.rng import derive_seed
    from initlab.rules._native import REPLAY_STREAM, record_model

    recording = record_model(model)
    kept = {e.name for e in plan.entries if e.scheme == "keep" and e.source != "tied"}
    names = [n for n, s in recording.schemes.items() if s.kind == "replayed" and n in kept]
    if not names:
        return {}
    real = (t.device for t in [*model.parameters(), *model.buffers()] if not t.is_meta)
    device = target or next(real, torch.device("cpu"))
    return recording.replay(device, derive_seed(plan.seed, REPLAY_STREAM), names=names)


def _install(model: nn.Module, values: Mapping[str, torch.Tensor]) -> None:
    tensors = dict([*model.named_parameters(), *model.named_buffers()])
    with torch.no_grad():
        for name, value in values.items():
            tensors[name].copy_(value)


def init_model(
    model: nn.Module,
    rules_or_preset: Any,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dry_run: bool = False,
    default: str = "error",
    rng: str = "torch",
    generator: torch.Generator | None = None,
    example_input: Any = None,
    pretrained: StateLike | None = None,
    prefix_map: Mapping[str, str] | None = None,
    norm_types: Sequence[str | type] = (),
) -> Plan:
    """Initialize every parameter and buffer of ``model`` by rules; return the plan.

    ``rules_or_preset``: a preset name (``initlab.rules.PRESETS``), a :class:`Preset`,
    a :class:`RuleSet`, or a list of :class:`Rule` / rule dicts. ``seed``: each
    tensor's stream is derived from (seed, qualified name) — ``None`` draws a seed
    from the OS and records it in ``plan.seed``. ``rng="keyed"`` uses initlab's
    counter-based ``KeyedSampler`` instead of a ``torch.Generator`` per tensor.
    ``generator``: draw everything from this one generator in module construction
    order (bit-identical to PyTorch for the ``torch-default`` preset). ``device``:
    where a meta-device model is materialized (ties kept). ``default``: what happens
    to tensors no rule covers (the plan lists them in ``plan.uncovered``): ``"error"``
    (the plan fails), ``"keep"`` (their values stay), ``"torch"`` (PyTorch's default
    for their module is drawn; an error where PyTorch has none). Frozen parameters
    (``requires_grad=False``) keep their values unless a rule names role ``"frozen"``;
    activations are traced only when the rules ask for them (``auto``). Values are
    written in place: peak memory is the model plus one tensor. ``pretrained`` (a
    ``.safetensors``/``.pt`` path or a state dict, names mapped by ``prefix_map``)
    supplies tensors that match by name and shape.
    ``dry_run`` computes the plan without writing and without raising: the problems
    that would stop a real run are in ``plan.errors`` (``plan.check()`` raises them).

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> plan = init_model(net, "auto", seed=0)
    >>> plan["0.weight"].scheme, plan["0.weight"].activation
    ('he_normal', 'relu')
    """
    options = InitOptions(
        seed=seed,
        device=device,
        dry_run=dry_run,
        default=default,
        rng=rng,
        generator=generator,
        example_input=example_input,
        pretrained=pretrained,
        prefix_map=prefix_map,
        norm_types=tuple(norm_types),
    )
    _check_model(model)
    model = unwrap_model(model)
    activations = LazyActivations(model, example_input)
    rules = resolve_rules(rules_or_preset, model, activations)
    sites = all_sites(model)
    chosen, report = _load_pretrained(options, sites)
    plan, actions = build_plan(
        model,
        rules,
        default=options.default,
        norm_types=options.norm_types,
        activations=activations,
        pretrained=chosen,
        # The user's own rules: written out, or read from a file (a RuleSet named "custom").
        users_rules=isinstance(rules_or_preset, (list, tuple, Mapping))
        or (isinstance(rules_or_preset, RuleSet) and rules_or_preset.name == "custom"),
        sites=sites,
    )
    for message in _check_norm_types(model, options.norm_types):
        plan.warnings.append(message)
        warnings.warn(message, UserWarning, stacklevel=_caller_stacklevel())
    plan.checkpoint = report
    # A dry run without a seed draws none: it would name a seed no run ever used.
    plan.seed = (
        seed if seed is not None or generator is not None or dry_run else secrets.randbits(63)
    )
    target = None
    try:
        target = target_device(model, options.device)
    except ValueError as exc:  # a dry run reports what would stop the real run
        plan.errors.append(str(exc))
    if dry_run:
        return plan
    plan.check()
    replayed = _native_replays(model, rules_or_preset, plan, target)
    write_plan(
        model, actions, seed=plan.seed or 0, rng=options.rng, generator=generator, device=target
    )
    _install(model, replayed)
    plan.applied = True
    plan.materialized_on = str(target) if target is not None else None
    return plan
