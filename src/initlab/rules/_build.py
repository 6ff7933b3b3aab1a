"""``initlab.build``: a model from a zero-argument factory, initialized on its device.

The factory runs once on meta while its own init is recorded (:mod:`._native`); nothing is
allocated or sampled on the CPU. The log is replayed on ``device`` (so every buffer the
model computes, RoPE tables and position ids included, has its real value), then the
chosen rules write the weights there. With ``preset="native"`` and ``rng="torch"`` the
replay *is* the init: equal, bit for bit on the CPU, to ``torch.manual_seed(seed);
factory()``.
"""

from __future__ import annotations

import dataclasses
import inspect
import secrets
import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from initlab._validation import check_choice, check_device, check_seed, check_unknown_keys
from initlab.rng import derive_seed
from initlab.rules._native import install, record
from initlab.rules._plan import Plan
from initlab.rules._roles import ROLES
from initlab.rules._rules import Rule, RuleSet

__all__ = ["build"]


def build(
    factory: Callable[[], nn.Module],
    preset: Any = "native",
    *,
    rng: str = "torch",
    seed: int | None = None,
    device: torch.device | str = "cpu",
    **init_options: Any,
) -> tuple[nn.Module, Plan]:
    """Build ``factory()`` on meta, record its own init, initialize it on ``device``.

    ``preset``: ``"native"`` (the model's own init, see :func:`initlab.rules.native_rules`),
    any preset name, :class:`~initlab.rules.Preset`, rule set or rule list that
    :func:`~initlab.rules.init_model` takes; ``rng``/``seed`` as there (``seed=None``
    draws one and records it in ``plan.seed``); other keywords go to ``init_model``.
    Returns the model and the plan (``plan.materialized_on`` names the device).

    >>> from torch import nn
    >>> model, plan = build(lambda: nn.Linear(4, 2), seed=0)
    >>> torch.manual_seed(0); reference = nn.Linear(4, 2)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> torch.equal(model.weight, reference.weight), plan["weight"].rule
    (True, 'uniform(-0.5, 0.5) [native]')
    """
    from initlab.rules._apply import init_model

    _check_arguments(factory, preset, rng, seed, device, init_options)
    seed = secrets.randbits(63) if seed is None else seed
    recording = record(factory)
    replayed_is_init = isinstance(preset, str) and preset == "native" and rng == "torch"
    # Random values the rules overwrite still come from a stream of their own.
    stream = seed if replayed_is_init else derive_seed(seed, "initlab.build replay")
    model = recording.model
    install(model, recording.replay(device, stream))
    native = isinstance(preset, str) and preset == "native"
    rules = _bare_names(recording.rules(), model) if native else preset
    if replayed_is_init:
        plan = init_model(model, rules, seed=seed, dry_run=True, **init_options)
        plan.check()
        if init_options.get("pretrained") is not None:
            _copy_pretrained(model, seed, init_options)
        plan.applied, plan.materialized_on = True, str(torch.device(device))
        return model, plan
    plan = init_model(model, rules, seed=seed, rng=rng, **init_options)
    plan.materialized_on = str(torch.device(device))
    return model, plan


def _copy_pretrained(model: nn.Module, seed: int, init_options: dict) -> None:
    """The checkpoint's tensors over the replayed init (every other tensor keeps the
    replay's value); the dry run before has already reported the checkpoint and warned."""
    from initlab.rules._apply import init_model

    keep = RuleSet(rules=[Rule(scheme="keep", role=ROLES)], name="native")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        init_model(model, keep, seed=seed, **init_options)


def _bare_names(rules: RuleSet, model: nn.Module) -> RuleSet:
    """The recorded rules under the bare model's names: ``init_model`` unwraps
    DataParallel and ``torch.compile`` (``module.``, ``_orig_mod.``), the recording does not."""
    from initlab.rules._activations import unwrap_model

    inner = unwrap_model(model)
    if inner is model:
        return rules
    prefix = next(name for name, m in model.named_modules() if m is inner) + "."
    bare = [
        dataclasses.replace(rule, name=tuple(n.removeprefix(prefix) for n in rule.name or ()))
        for rule in rules.rules
    ]
    return dataclasses.replace(rules, rules=bare)


#: ``init_model`` options that ``build`` sets itself, with the reason.
_OWN_OPTIONS = {
    "dry_run": "build always writes; to plan without writing, build the model under "
    "torch.device('meta') and call init_model(model, preset, dry_run=True)",
    "generator": "build seeds every stream from seed=; pass seed=",
}


def _check_arguments(
    factory: object, preset: Any, rng: str, seed: object, device: object, options: dict
) -> None:
    """Every argument, checked before the factory runs (a refused call costs nothing)."""
    from initlab.rules._apply import InitOptions
    from initlab.rules._presets import Preset

    if isinstance(factory, nn.Module):
        raise TypeError(
            f"factory={type(factory).__name__}(...) is a built model; build takes a "
            "zero-argument factory (e.g. lambda: Model(config)); for a built model use "
            "init_model(model, preset)"
        )
    if not callable(factory):
        raise TypeError(f"factory={factory!r} must be a zero-argument callable returning a module")
    try:
        inspect.signature(factory).bind()
    except TypeError as exc:
        raise TypeError(
            f"factory={getattr(factory, '__name__', factory)!r} cannot be called with no "
            f"arguments ({exc}); wrap it, e.g. lambda: factory(config)"
        ) from None
    except ValueError:  # no signature to read (some builtins): calling it will tell
        pass
    check_choice("rng", rng, ("torch", "keyed"))
    check_seed("seed", seed)
    if check_device("device", device).type == "meta":
        raise ValueError(
            f"device={device!r}: build writes real values, and meta tensors hold none; pass "
            "the device the weights should live on ('cpu', 'cuda', ...). A meta model needs "
            "no build: construct it under torch.device('meta') (init_model(model, preset, "
            "dry_run=True) shows its plan)"
        )
    for name, reason in _OWN_OPTIONS.items():
        if name in options:
            raise TypeError(f"build() takes no {name}=: {reason}")
    allowed = {f.name for f in dataclasses.fields(InitOptions)} - {"seed", "rng", "device"}
    check_unknown_keys("build()", options, allowed - set(_OWN_OPTIONS))
    if isinstance(preset, str) and preset != "native":
        Preset(name=preset)  # an unknown name is refused with the known ones
