"""Resolve rules against a model into a plan, validate it whole, then write it.

Order of work in :func:`init_model`, and why:

1. Every tensor (parameters with their tie aliases, persistent buffers) gets a
   role and the first matching rule; specs (std, bound, fans) come from
   ``Initializer.spec`` — nothing is sampled.
2. Every problem (unknown scheme, bad arguments, a shape a scheme cannot take,
   uncovered tensors, an unreadable checkpoint) is collected and raised together.
3. New values are drawn into fresh tensors; only when all succeeded is the model
   materialized (meta) and written. A failure at any step leaves it untouched.
"""

from __future__ import annotations

import math
import secrets
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab._distributed import copy_from_full_, is_dtensor
from initlab._fans import chunk_bounds, get_layout
from initlab._initializers import Initializer, InitSpec
from initlab._keyed import KeyedSampler
from initlab._sampling import GeneratorLike, seeded_generator
from initlab._validation import check_choice
from initlab.rules._activations import (
    DetectedActivation,
    detect_activations,
    is_layer,
    unwrap_model,
)
from initlab.rules._checkpoint import StateLike, load_state, map_names, match_checkpoint
from initlab.rules._meta import has_meta, materialize, meta_problems
from initlab.rules._plan import Plan, PlanEntry
from initlab.rules._roles import TensorSite, buffer_sites, is_norm_module, parameter_role
from initlab.rules._roles import parameter_sites as _parameter_sites
from initlab.rules._rules import Rule, RuleSet
from initlab.rules._torchdefault import TorchDefault, running_stat_default, torch_default

__all__ = ["InitOptions", "TieConflictWarning", "build_plan", "init_model"]

_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")

#: ``(axis, start, length)`` of one independently filled chunk (see ``initlab.chunk_bounds``).
Chunk = tuple[int, int, int]


class TieConflictWarning(UserWarning):
    """Names sharing one storage matched rules that disagree; the first rule in order wins."""


@dataclass(kw_only=True)
class InitOptions:
    """Options of :func:`init_model` (see there)."""

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
        check_choice("default", self.default, ("error", "torch"))
        check_choice("rng", self.rng, ("torch", "keyed"))
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise TypeError(f"seed={self.seed!r} must be an int or None")
        if self.generator is not None and not isinstance(self.generator, torch.Generator):
            raise TypeError(f"generator={self.generator!r} must be a torch.Generator or None")
        if self.generator is not None and self.seed is not None:
            raise ValueError("pass either seed= or generator= (the shared-generator parity mode)")


@dataclass(kw_only=True)
class _Action:
    """What to write into one storage; kept beside its public plan row."""

    entry: PlanEntry
    site: TensorSite
    initializer: Initializer | None = None
    chunks: list[Chunk] = field(default_factory=list)
    predraw: Initializer | None = None
    padding_idx: int | None = None
    forget_value: float | None = None
    pretrained: torch.Tensor | None = None


@dataclass(kw_only=True)
class _Context:
    rules: RuleSet
    options: InitOptions
    parents: dict[str, nn.Module | None]
    activations: dict[str, DetectedActivation]
    pretrained: dict[str, torch.Tensor]
    built: dict[int, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- matching --------------------------------------------------------------------------


def _role(
    site_module: nn.Module, local: str, tensor: torch.Tensor, ctx: _Context, buf: bool
) -> str:
    if buf:
        return (
            "running_stats" if local in _RUNNING_STATS and is_norm_module(site_module) else "buffer"
        )
    return parameter_role(site_module, local, tensor, ctx.options.norm_types)


def _first_match(
    name: str, module: nn.Module, role: str, ctx: _Context
) -> tuple[int, Rule, TorchDefault | None] | None:
    """First rule that matches; a ``torch_default`` rule matches only where PyTorch has one."""
    local = name.rpartition(".")[2]
    for index, rule in ctx.rules.matching(name, module, role):
        if rule.scheme != "torch_default":
            return index, rule, None
        default = _torch_default_for(name, module, local, role, ctx)
        if default is not None:
            return index, rule, default
    return None


def _torch_default_for(
    name: str, module: nn.Module, local: str, role: str, ctx: _Context
) -> TorchDefault | None:
    if role == "running_stats":
        init = running_stat_default(local)
        return TorchDefault(init) if init is not None else None
    if role == "buffer":
        return None
    return torch_default(module, local, ctx.parents.get(name.rpartition(".")[0]))


def _site_names(site: TensorSite) -> Iterator[tuple[str, nn.Module]]:
    yield site.name, site.module
    for name, _, module in site.aliases:
        yield name, module


def _choose(site: TensorSite, ctx: _Context) -> tuple[str, nn.Module, str, Any]:
    """The alias whose match comes first in rule order (canonical name on a tie)."""
    candidates = []
    for name, module in _site_names(site):
        local = name.rpartition(".")[2]
        role = _role(module, local, site.tensor, ctx, site.is_buffer)
        candidates.append((name, module, role, _first_match(name, module, role, ctx)))
    matched = [c for c in candidates if c[3] is not None]
    if not matched:
        return candidates[0]
    best = min(matched, key=lambda c: c[3][0] if c[3] is not None else 0)
    _warn_conflict(site, matched, best, ctx)
    return best


def _rule_key(rule: Rule) -> tuple[str, str, str]:
    return rule.scheme, repr(sorted(rule.args.items())), repr(rule.layout)


def _warn_conflict(site: TensorSite, matched: list, best: tuple, ctx: _Context) -> None:
    keys = {_rule_key(c[3][1]) for c in matched}
    if len(keys) <= 1:
        return
    described = "; ".join(f"{c[0]} -> rule #{c[3][0]} ({c[3][1].scheme})" for c in matched)
    message = (
        f"{site.name} is shared by {len(site.all_names)} names whose rules disagree "
        f"({described}); using rule #{best[3][0]} ({best[3][1].scheme}), the first in rule order"
    )
    ctx.warnings.append(message)
    warnings.warn(message, TieConflictWarning, stacklevel=4)


# --- specs -----------------------------------------------------------------------------


def _build(index: int, rule: Rule, ctx: _Context) -> Any:
    if index not in ctx.built:
        try:
            ctx.built[index] = rule.build()
        except (ValueError, TypeError) as exc:
            ctx.built[index] = exc
    return ctx.built[index]


def _chunk_slices(shape: tuple[int, ...], rule: Rule, init: Any) -> list[Chunk]:
    """``(axis, start, length)`` of each chunk a scheme without a layout fills on its own
    (empty: fill whole); schemes with a layout split their fans themselves."""
    layout = rule.layout_object()
    if layout is None or layout.chunks == 1 or hasattr(init, "layout"):
        return []
    if len(shape) < 2:
        raise ValueError(
            f"layout chunks={layout.chunks!r} split a tensor of at least 2 dimensions, "
            f"not one of shape {shape}; drop the layout from this rule"
        )
    return chunk_bounds(shape, layout)


def _part_shape(shape: tuple[int, ...], chunk: Chunk) -> tuple[int, ...]:
    axis, _, length = chunk
    return shape[:axis] + (length,) + shape[axis + 1 :]


def _spec(init: Initializer, shape: tuple[int, ...], chunks: list[Chunk]) -> InitSpec:
    """The spec of the whole tensor: per-chunk specs mixed by chunk size."""
    if not chunks:
        return init.spec(shape)
    specs = [init.spec(_part_shape(shape, c)) for c in chunks]
    weights = [length / shape[axis] for axis, _, length in chunks]
    var = sum(w * (s.std**2 + s.mean**2) for w, s in zip(weights, specs))
    mean = sum(w * s.mean for w, s in zip(weights, specs))
    bounds = [s.bound for s in specs]
    bound = None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
    std = math.sqrt(max(var - mean**2, 0.0))
    return InitSpec(
        specs[0].distribution, std, mean, bound, specs[0].fans, tuple(s.std for s in specs)
    )


def _forget_spec(value: float, local: str, module: nn.Module) -> InitSpec:
    if not isinstance(module, (nn.LSTM, nn.LSTMCell)):
        raise ValueError(f"lstm_forget_bias applies to LSTM biases, not {type(module).__name__}")
    if not local.startswith("bias_ih"):
        return InitSpec("constant", 0.0, 0.0, 0.0)
    return InitSpec("constant", abs(value) * math.sqrt(3) / 4, value / 4, abs(value))


def _layout_name(init: Any, rule: Rule | None) -> str | None:
    layout = getattr(init, "layout", None)
    if layout is None and rule is not None and rule.layout is not None:
        layout = rule.layout_object()
    if layout is None:
        return None
    resolved = get_layout(layout)
    data = resolved.to_dict()
    return str(data["name"]) if list(data) == ["name"] else str(data)


def _entry(site: TensorSite, name: str, module: nn.Module, role: str, ctx: _Context) -> PlanEntry:
    activation = None
    if role == "weight" and is_layer(module):
        found = ctx.activations.get(name.rpartition(".")[0])
        activation = found.label() if found is not None else None
    return PlanEntry(
        name=site.name,
        shape=tuple(site.tensor.shape),
        dtype=str(site.tensor.dtype).removeprefix("torch."),
        module=site.module_name,
        module_type=type(site.module).__name__,
        role=role,
        activation=activation,
    )


def _fill_spec(entry: PlanEntry, spec: InitSpec) -> None:
    entry.std, entry.bound, entry.mean = spec.std, spec.bound, spec.mean
    if spec.fans is not None:
        entry.fans = {
            "fan_in": spec.fans.fan_in,
            "fan_out": spec.fans.fan_out,
            "receptive_field": spec.fans.receptive_field,
        }


def _resolve_site(site: TensorSite, ctx: _Context) -> _Action:
    name, module, role, match = _choose(site, ctx)
    entry = _entry(site, name, module, role, ctx)
    action = _Action(entry=entry, site=site)
    if site.name in ctx.pretrained:
        entry.source, entry.scheme, entry.note = "pretrained", "pretrained", "from checkpoint"
        action.pretrained = ctx.pretrained[site.name]
        return action
    try:
        if match is None:
            _uncovered(action, name, module, role, ctx)
        else:
            index, rule, default = match
            entry.rule, entry.rule_index = rule.describe(), index
            _apply_rule(action, rule, index, default, name, module, ctx)
    except (ValueError, TypeError, RuntimeError) as exc:
        where = "" if entry.rule_index is None else f", rule #{entry.rule_index}"
        shape = list(site.tensor.shape)
        ctx.errors.append(f"{site.name} (shape {shape}, dtype {entry.dtype}{where}): {exc}")
    return action


def _apply_rule(
    action: _Action,
    rule: Rule,
    index: int,
    default: TorchDefault | None,
    name: str,
    module: nn.Module,
    ctx: _Context,
) -> None:
    entry, shape = action.entry, tuple(action.site.tensor.shape)
    entry.scheme = rule.scheme
    if rule.scheme == "keep":
        entry.source, entry.note = "kept", "values kept by rule"
        return
    if rule.scheme == "lstm_forget_bias":
        value = float(rule.args.get("value", 1.0))
        _fill_spec(entry, _forget_spec(value, name.rpartition(".")[2], module))
        action.forget_value, entry.scheme_config = value, {"value": value}
        return
    if default is not None:
        _use_default(action, default, module)
        entry.source = "torch-default"
        return
    init = _build(index, rule, ctx)
    if isinstance(init, Exception):
        raise init
    _check_dtype(init, rule.scheme, action.site.tensor.dtype)
    action.initializer = init
    action.chunks = _chunk_slices(shape, rule, init)
    entry.scheme_config = init.get_config()
    entry.layout = _layout_name(init, rule)
    _fill_spec(entry, _spec(init, shape, action.chunks))
    _padding(action, module)


def _check_dtype(init: Initializer, scheme: str, dtype: torch.dtype) -> None:
    """Random schemes need floating-point storage; only constants fill other dtypes."""
    if init.random and not dtype.is_floating_point:
        name = str(dtype).removeprefix("torch.")
        raise ValueError(
            f"scheme {scheme!r} draws random values and cannot fill a {name} tensor; "
            "use a constant scheme (zeros, ones, constant), 'keep', or a floating-point dtype"
        )


def _use_default(action: _Action, default: TorchDefault, module: nn.Module) -> None:
    init = default.initializer
    _check_dtype(init, f"torch_default:{type(init).__name__}", action.site.tensor.dtype)
    action.initializer, action.predraw = init, default.predraw
    entry = action.entry
    entry.scheme = f"torch_default:{type(init).__name__}"
    entry.scheme_config = init.get_config()
    entry.layout = _layout_name(init, None)
    _fill_spec(entry, init.spec(tuple(action.site.tensor.shape)))
    _padding(action, module)


def _padding(action: _Action, module: nn.Module) -> None:
    padding = getattr(module, "padding_idx", None)
    if action.entry.role == "embedding" and padding is not None and action.initializer.random:  # type: ignore[union-attr]
        action.padding_idx = int(padding)
        action.entry.note = f"padding_idx row {padding} zeroed"


def _uncovered(action: _Action, name: str, module: nn.Module, role: str, ctx: _Context) -> None:
    entry = action.entry
    if role in ("buffer",):
        entry.source, entry.note = "kept", "buffer kept (no rule)"
        return  # on meta, materialize() recomputes it or meta_problems() names it
    default = _torch_default_for(name, module, name.rpartition(".")[2], role, ctx)
    if role == "running_stats" and default is not None:
        _use_default(action, default, module)
        entry.source, entry.note = "buffer-default", "normalization running stats recomputed"
        return
    if ctx.options.default == "error":
        ctx.uncovered.append(action.site.name)
        return
    ctx.uncovered.append(action.site.name)
    if default is None:
        entry.source, entry.note = "kept", "no rule and no PyTorch default: values kept"
        if action.site.tensor.device.type == "meta":
            ctx.errors.append(f"{name}: meta tensor has no PyTorch default; add a rule for it")
        return
    _use_default(action, default, module)
    entry.source, entry.note = "torch-default", "no rule: PyTorch default kept"


# --- plan ------------------------------------------------------------------------------


def _alias_entries(action: _Action) -> list[PlanEntry]:
    rows = []
    for name, owner, module in action.site.aliases:
        rows.append(
            PlanEntry(
                name=name,
                shape=action.entry.shape,
                dtype=action.entry.dtype,
                module=owner,
                module_type=type(module).__name__,
                role=action.entry.role,
                scheme=action.entry.scheme,
                std=action.entry.std,
                bound=action.entry.bound,
                mean=action.entry.mean,
                tied_to=action.site.name,
                source="tied",
                note=f"shares storage with {action.site.name}; initialized once",
            )
        )
    return rows


def _parents(model: nn.Module) -> dict[str, nn.Module | None]:
    parents: dict[str, nn.Module | None] = {"": None}
    for name, module in model.named_modules(remove_duplicate=False):
        for child_name, _ in module.named_children():
            parents[f"{name}.{child_name}" if name else child_name] = module
    return parents


def build_plan(
    model: nn.Module,
    rules: RuleSet,
    options: InitOptions,
    activations: dict[str, DetectedActivation] | None = None,
    pretrained: dict[str, torch.Tensor] | None = None,
) -> tuple[Plan, list[_Action]]:
    """Resolve ``rules`` into a plan and the actions behind it; raise on any problem
    unless ``options.dry_run`` (then the problems are in ``plan.errors``)."""
    if activations is None:
        activations = detect_activations(model, options.example_input)
    ctx = _Context(
        rules=rules,
        options=options,
        parents=_parents(model),
        activations=activations,
        pretrained=pretrained or {},
    )
    actions = [_resolve_site(s, ctx) for s in _parameter_sites(model) + buffer_sites(model)]
    writing = [
        a
        for a in actions
        if a.initializer is not None or a.forget_value is not None or a.pretrained is not None
    ]
    ctx.errors.extend(meta_problems(model, written={a.site.name for a in writing}))
    plan = Plan(rules=rules.name, uncovered=ctx.uncovered, warnings=ctx.warnings)
    for action in actions:
        plan.entries.extend([action.entry, *_alias_entries(action)])
    plan.undetermined = sorted(
        n for n, a in activations.items() if a.name is None and _is_layer_name(model, n)
    )
    _raise_problems(ctx, options, plan)
    return plan, actions


def _is_layer_name(model: nn.Module, name: str) -> bool:
    try:
        return is_layer(model.get_submodule(name))
    except AttributeError:
        return False


def _raise_problems(ctx: _Context, options: InitOptions, plan: Plan) -> None:
    plan.errors.extend(ctx.errors)
    if options.default == "error" and ctx.uncovered:
        plan.errors.append(
            f"{len(ctx.uncovered)} tensor(s) matched no rule: {', '.join(ctx.uncovered)} "
            "(add rules, or pass default='torch' to keep PyTorch's default for them)"
        )
    if not options.dry_run:
        plan.check()


# --- applying --------------------------------------------------------------------------


def _generator(
    action: _Action, options: InitOptions, seed: int, device: torch.device
) -> GeneratorLike:
    if options.generator is not None:
        return options.generator
    if options.rng == "keyed":
        return KeyedSampler(seed, action.site.name)
    return seeded_generator(seed, action.site.name, device=device)


def _draw(
    action: _Action, generator: GeneratorLike, device: torch.device, parity: bool
) -> torch.Tensor | None:
    tensor = action.site.tensor
    if is_dtensor(tensor):
        return _draw_sharded(action, generator)
    new = torch.empty(tuple(tensor.shape), dtype=tensor.dtype, device=device)
    if action.pretrained is not None:
        return new.copy_(action.pretrained)
    if action.forget_value is not None:
        new.zero_()
        if action.site.local_name.startswith("bias_ih"):
            hidden = new.shape[0] // 4
            new[hidden : 2 * hidden] = action.forget_value  # gate order i, f, g, o
        return new
    if action.initializer is None:
        return None
    if parity and action.predraw is not None:
        action.predraw.fill_(new, generator)
    if new.numel() == 0:
        return new
    if not new.dtype.is_floating_point:  # constants only: random schemes are plan errors
        return new.fill_(int(action.initializer.spec(tuple(new.shape)).mean))
    for axis, start, length in action.chunks or [(0, 0, 0)]:
        target = new.narrow(axis, start, length) if action.chunks else new
        action.initializer.fill_(target, generator)
    if action.padding_idx is not None:
        new[action.padding_idx].zero_()
    return new


def _draw_sharded(action: _Action, generator: GeneratorLike) -> torch.Tensor | None:
    """A DTensor parameter: each rank fills only its own shard, from global element indices.

    Only keyed randomness is shard-invariant, so other generators are refused; chunked,
    padded and recurrent special cases would need a redistribution and are refused too.
    """
    name = action.site.name
    new = torch.empty_like(action.site.tensor)
    if action.pretrained is not None:
        return copy_from_full_(new, action.pretrained)
    if action.initializer is None:
        return None
    if action.chunks or action.padding_idx is not None or action.forget_value is not None:
        raise ValueError(
            f"{name}: packed chunks, padding_idx and forget-gate biases are not supported on "
            "DTensor (sharded) parameters; initialize before sharding, or use a plain rule"
        )
    if action.initializer.random and not isinstance(generator, KeyedSampler):
        raise ValueError(
            f"{name} is a DTensor (sharded) parameter: pass rng='keyed' so every rank draws "
            "its own shard of the same global values"
        )
    action.initializer.fill_(new, generator)
    return new


def _post_order(module: nn.Module, seen: set[int]) -> Iterator[nn.Module]:
    for child in module.children():
        if id(child) not in seen:
            seen.add(id(child))
            yield from _post_order(child, seen)
    yield module


def _parity_order(model: nn.Module, actions: list[_Action]) -> list[tuple[_Action, bool]]:
    """Construction order: children before their parent, own parameters in registration
    order; a slot re-pointed to an earlier parameter (a tie made after construction)
    replays the discarded draw PyTorch made for it."""
    by_id = {id(a.site.tensor): a for a in actions}
    order: list[tuple[_Action, bool]] = []
    done: set[int] = set()
    for module in _post_order(model, {id(model)}):
        for tensor in module._parameters.values():
            if tensor is None or id(tensor) not in by_id:
                continue
            order.append((by_id[id(tensor)], id(tensor) in done))
            done.add(id(tensor))
    order.extend((a, False) for a in actions if id(a.site.tensor) not in done)
    return order


def _discarded_draw(action: _Action, model: nn.Module, generator: GeneratorLike) -> None:
    """Replay what PyTorch drew for a tied slot before the tie replaced it."""
    for name, _, module in action.site.aliases:
        default = torch_default(module, name.rpartition(".")[2], None)
        if default is not None and default.initializer.random:
            scratch = torch.empty(action.entry.shape, dtype=action.site.tensor.dtype)
            default.initializer.fill_(scratch, generator)
            return


def _compute(
    model: nn.Module,
    actions: list[_Action],
    options: InitOptions,
    seed: int,
    device: torch.device | None,
) -> dict[str, torch.Tensor]:
    values: dict[str, torch.Tensor] = {}
    parity = options.generator is not None
    steps = _parity_order(model, actions) if parity else [(a, False) for a in actions]
    for action, replay in steps:
        if replay:
            _discarded_draw(action, model, options.generator)
            continue
        target = device or action.site.tensor.device
        value = _draw(action, _generator(action, options, seed, target), target, parity)
        if value is not None:
            values[action.site.name] = value
    return values


def _write(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for name, value in values.items():
            owner, _, local = name.rpartition(".")
            module = model.get_submodule(owner)
            getattr(module, local).copy_(value)


def _target_device(model: nn.Module, options: InitOptions) -> torch.device | None:
    if options.device is not None:
        return torch.device(options.device)
    if has_meta(model):
        raise ValueError(
            "the model has tensors on the meta device: pass device= (e.g. 'cpu' or 'cuda') "
            "to materialize it"
        )
    return None


def _finish(model: nn.Module, values: dict[str, torch.Tensor], device: torch.device | None) -> None:
    if has_meta(model):
        materialize(model, device or "cpu", written=set(values))
    elif device is not None:
        model.to(device)
    _write(model, values)


# --- entry point -----------------------------------------------------------------------


def _load_pretrained(model: nn.Module, options: InitOptions, plan_names: list[TensorSite]) -> tuple:
    if options.pretrained is None:
        return {}, None
    state, path = load_state(options.pretrained)
    state = map_names(state, options.prefix_map)
    shapes = {s.name: tuple(s.tensor.shape) for s in plan_names}
    aliases = {a[0]: s.name for s in plan_names for a in s.aliases}
    report, chosen = match_checkpoint(state, shapes, aliases, path)
    return chosen, report


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
    """Initialize every parameter and persistent buffer of ``model`` by rules; return the plan.

    ``rules_or_preset``: a preset name (``initlab.rules.PRESETS``), a :class:`Preset`,
    a :class:`RuleSet`, or a list of :class:`Rule` / rule dicts. ``seed``: each
    tensor's stream is derived from (seed, qualified name) — ``None`` draws a seed
    from the OS and records it in ``plan.seed``. ``rng="keyed"`` uses initlab's
    counter-based ``KeyedSampler`` instead of a ``torch.Generator`` per tensor.
    ``generator``: draw everything from this one generator in module construction
    order (bit-identical to PyTorch for the ``torch-default`` preset). ``device``:
    where a meta-device model is materialized (ties kept). ``default="torch"`` keeps
    PyTorch's default for tensors no rule covers (the plan lists them) instead of
    raising. ``pretrained`` (a ``.safetensors``/``.pt`` path or a state dict, names
    mapped by ``prefix_map``) supplies tensors that match by name and shape.
    ``dry_run`` computes the plan without writing and without raising: the problems
    that would stop a real run are in ``plan.errors`` (``plan.check()`` raises them).

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> plan = init_model(net, "auto", seed=0)
    >>> plan["0.weight"].scheme, plan["0.weight"].activation
    ('he_normal', 'relu')
    """
    from initlab.rules._presets import resolve_rules

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
    model = unwrap_model(model)
    activations = detect_activations(model, example_input)
    rules = resolve_rules(rules_or_preset, model, activations)
    sites = _parameter_sites(model) + buffer_sites(model)
    chosen, report = _load_pretrained(model, options, sites)
    plan, actions = build_plan(model, rules, options, activations, chosen)
    plan.checkpoint = report
    plan.seed = (
        None if generator is not None else (seed if seed is not None else secrets.randbits(63))
    )
    target = None
    try:
        target = _target_device(model, options)
    except ValueError as exc:  # a dry run reports what would stop the real run
        plan.errors.append(str(exc))
    if dry_run:
        return plan
    plan.check()
    values = _compute(model, actions, options, plan.seed or 0, target)
    _finish(model, values, target)
    plan.applied = True
    plan.materialized_on = str(target) if target is not None else None
    return plan
