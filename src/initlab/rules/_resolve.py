"""Step 1 of :func:`initlab.init_model`: resolve rules into a plan, sampling nothing.

Every distinct storage (a parameter with its tie aliases, a buffer) gets a role, the
first rule that matches one of its names, and a :class:`~initlab.rules._fills.Fill`
that knows its spec (std, bound, fans). Every problem — an unknown scheme, bad
arguments, a shape a scheme cannot take, an uncovered tensor, a meta tensor that would
stay without values — is collected, so a dry run reports exactly what a real run raises.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from initlab._fans import Layout
from initlab._validation import _caller_stacklevel
from initlab.rules._activations import DetectedActivation, detect_activations, is_layer
from initlab.rules._fills import (
    SPECIAL_SCHEMES,
    CopyFill,
    Fill,
    KeepFill,
    Target,
    scheme_fill,
    torch_default_fill,
)
from initlab.rules._layouts import module_layout
from initlab.rules._meta import meta_problems
from initlab.rules._plan import Plan, PlanEntry
from initlab.rules._roles import TensorSite, buffer_sites, is_norm_module, parameter_role
from initlab.rules._roles import parameter_sites as _parameter_sites
from initlab.rules._rules import Rule, RuleSet

__all__ = [
    "DEFAULTS",
    "Action",
    "LazyActivations",
    "TieConflictWarning",
    "UnusedRuleWarning",
    "all_sites",
    "build_plan",
]

#: What happens to a tensor no rule covers: ``"error"`` (the plan fails naming it),
#: ``"keep"`` (its current values stay; a meta tensor has none, so that is an error),
#: ``"torch"`` (PyTorch's own default for its module; an error where PyTorch has none).
DEFAULTS = ("error", "keep", "torch")
_RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")


class TieConflictWarning(UserWarning):
    """Names sharing one storage matched rules of the user's that disagree; the first rule in
    order wins. A preset's order is deliberate (``auto`` lets a tied LM head's rule win over
    the embedding's): there the choice is a note on the plan row, not a warning."""


class UnusedRuleWarning(UserWarning):
    """A rule the user wrote initializes no tensor (a typo in a glob, a role that is absent)."""


class LazyActivations(Mapping[str, DetectedActivation]):
    """The activation after each layer, traced on first use only.

    Presets and rules that never ask (``gpt2``, ``torch-default``, explicit rules) never
    run the model, so a model whose forward cannot be traced is still initialized. An
    ``example_input`` given by the user is a request to look: then the plan always shows
    the activations.
    """

    def __init__(self, model: nn.Module, example_input: Any = None) -> None:
        self._model, self._input = model, example_input
        self._found: dict[str, DetectedActivation] | None = None
        if example_input is not None:
            self._get()

    @property
    def computed(self) -> bool:
        return self._found is not None

    def _get(self) -> dict[str, DetectedActivation]:
        if self._found is None:
            self._found = detect_activations(self._model, self._input)
        return self._found

    def __getitem__(self, key: str) -> DetectedActivation:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


@dataclass(kw_only=True)
class Action:
    """What to write into one storage, beside its public plan row."""

    entry: PlanEntry
    site: TensorSite
    fill: Fill


@dataclass(kw_only=True)
class _Context:
    rules: RuleSet
    default: str
    norm_types: tuple[str | type, ...]
    parents: dict[str, nn.Module | None]
    activations: Mapping[str, DetectedActivation]
    pretrained: dict[str, torch.Tensor]
    built: dict[tuple[int, Layout | None], Any] = field(default_factory=dict)
    used: set[int] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The user's own rules (not a preset's): tie conflicts and unused rules are warned about.
    users_rules: bool = False
    #: Tie conflicts resolved quietly under a preset: storage name -> the note for its row.
    tie_notes: dict[str, str] = field(default_factory=dict)


#: A rule that matched one name: its index, the rule, and its fill or the error it raised.
_Match = tuple[int, Rule, "Fill | Exception | None"]


def all_sites(model: nn.Module) -> list[TensorSite]:
    """Every parameter storage, then every buffer the engine must give values.

    Non-persistent buffers (RoPE tables, position ids) are included only on the meta
    device: there they have no values, and a plan that leaves them empty must fail.
    """
    return _parameter_sites(model) + buffer_sites(model) + _meta_transient_buffers(model)


def _meta_transient_buffers(model: nn.Module) -> list[TensorSite]:
    modules = dict(model.named_modules(remove_duplicate=False))
    sites = []
    seen: set[int] = set()
    for name, tensor in model.named_buffers(remove_duplicate=False):
        owner, _, local = name.rpartition(".")
        module = modules[owner]
        if tensor.device.type != "meta" or local not in module._non_persistent_buffers_set:
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        sites.append(
            TensorSite(
                name=name,
                module_name=owner,
                local_name=local,
                module=module,
                tensor=tensor,
                is_buffer=True,
            )
        )
    return sites


# --- matching --------------------------------------------------------------------------


def _role(site: TensorSite, module: nn.Module, local: str, ctx: _Context) -> str:
    if site.is_buffer:
        if local in _RUNNING_STATS and is_norm_module(module):
            return "running_stats"
        return "buffer"
    tensor = site.tensor
    if not tensor.requires_grad and tensor.device.type != "meta":
        return "frozen"
    return parameter_role(module, local, tensor, ctx.norm_types)


def _target(site: TensorSite, name: str, module: nn.Module, role: str, ctx: _Context) -> Target:
    parent = ctx.parents.get(name.rpartition(".")[0])
    return Target(name=name, module=module, parent=parent, role=role, tensor=site.tensor)


def _special(rule: Rule, target: Target) -> Fill | Exception | None:
    try:
        return SPECIAL_SCHEMES[rule.scheme].resolve(target, rule.args)
    except (ValueError, TypeError) as exc:
        return exc


def _first_match(target: Target, ctx: _Context) -> _Match | None:
    """The first rule that matches; a special scheme matches only where it applies
    (``torch_default`` only where PyTorch has a default)."""
    for index, rule in ctx.rules.matching(target.name, target.module, target.role):
        if rule.scheme not in SPECIAL_SCHEMES:
            return index, rule, None
        fill = _special(rule, target)
        if fill is not None:
            return index, rule, fill
    return None


def _site_names(site: TensorSite) -> Iterator[tuple[str, nn.Module]]:
    yield site.name, site.module
    for name, _, module in site.aliases:
        yield name, module


def _choose(site: TensorSite, ctx: _Context) -> tuple[Target, _Match | None]:
    """The alias whose match comes first in rule order (canonical name on a tie)."""
    candidates = []
    for name, module in _site_names(site):
        role = _role(site, module, name.rpartition(".")[2], ctx)
        target = _target(site, name, module, role, ctx)
        candidates.append((target, _first_match(target, ctx)))
    matched = [c for c in candidates if c[1] is not None]
    if not matched:
        return candidates[0]
    best = min(matched, key=lambda c: c[1][0] if c[1] is not None else 0)
    _warn_conflict(site, matched, best, ctx)
    return best


def _rule_key(rule: Rule) -> tuple[str, str, str]:
    return rule.scheme, repr(sorted(rule.args.items())), repr(rule.layout)


def _warn_conflict(site: TensorSite, matched: list, best: tuple, ctx: _Context) -> None:
    keys = {_rule_key(m[1]) for _, m in matched}
    if len(keys) <= 1:
        return
    described = "; ".join(f"{t.name} -> rule #{m[0]} ({m[1].scheme})" for t, m in matched)
    index, rule = best[1][0], best[1][1]
    if not ctx.users_rules:
        ctx.tie_notes[site.name] = (
            f"tied names' rules differ ({described}): rule #{index} ({rule.scheme}) of "
            f"{best[0].name}, first in the preset's order"
        )
        return
    message = (
        f"{site.name} is shared by {len(site.all_names)} names whose rules disagree "
        f"({described}); using rule #{index} ({rule.scheme}), the first in rule order"
    )
    ctx.warnings.append(message)
    warnings.warn(message, TieConflictWarning, stacklevel=_caller_stacklevel())


# --- fills -----------------------------------------------------------------------------


def _build(index: int, rule: Rule, layout: Layout | None, ctx: _Context) -> Any:
    key = (index, layout)
    if key not in ctx.built:
        try:
            ctx.built[key] = rule.build(default_layout=layout)
        except (ValueError, TypeError) as exc:
            ctx.built[key] = exc
    return ctx.built[key]


def _rule_fill(index: int, rule: Rule, target: Target, ctx: _Context) -> Fill:
    default_layout = None
    if rule.layout is None:
        default_layout = module_layout(target.module, target.local, target.tensor)
    init = _build(index, rule, default_layout, ctx)
    if isinstance(init, Exception):
        raise init
    return scheme_fill(target, init, rule.scheme, init.spec(target.shape))


def _uncovered(target: Target, site: TensorSite, ctx: _Context) -> Fill:
    if target.role == "buffer":
        # On meta, materialize() recomputes it from the model's own init methods, or
        # meta_problems() names it as a plan error.
        return KeepFill(scheme="keep", note="buffer kept (no rule)")
    if target.role == "frozen":
        return KeepFill(
            scheme="keep",
            note="frozen (requires_grad=False): kept; a rule with role 'frozen' targets it",
        )
    default = torch_default_fill(target, source="buffer-default")
    if target.role == "running_stats" and default is not None:
        default.note = "normalization running stats recomputed"
        return default
    ctx.uncovered.append(site.name)
    if ctx.default == "torch" and default is not None:
        default.source, default.note = "torch-default", "no rule: PyTorch's default drawn"
        return default
    if ctx.default == "torch":
        ctx.errors.append(
            f"{site.name}: no rule and no PyTorch default for {type(target.module).__name__}."
            f"{target.local}; add a rule, or pass default='keep'"
        )
    return KeepFill(scheme="keep", note="no rule: values kept")


def _entry(site: TensorSite, target: Target, ctx: _Context) -> PlanEntry:
    activation = None
    computed = not isinstance(ctx.activations, LazyActivations) or ctx.activations.computed
    if computed and target.role == "weight" and is_layer(target.module):
        found = ctx.activations.get(target.name.rpartition(".")[0])
        activation = found.label() if found is not None else None
    return PlanEntry(
        name=site.name,
        shape=tuple(site.tensor.shape),
        dtype=str(site.tensor.dtype).removeprefix("torch."),
        module=site.module_name,
        module_type=type(site.module).__name__,
        role=target.role,
        activation=activation,
    )


def _describe(entry: PlanEntry, fill: Fill) -> None:
    entry.scheme, entry.source, entry.layout = fill.scheme, fill.source, fill.layout
    entry.scheme_config = fill.config
    if fill.note:
        entry.note = fill.note
    spec = fill.spec
    if spec is None:
        return
    entry.std, entry.bound, entry.mean = spec.std, spec.bound, spec.mean
    if spec.fans is not None:
        entry.fans = {
            "fan_in": spec.fans.fan_in,
            "fan_out": spec.fans.fan_out,
            "receptive_field": spec.fans.receptive_field,
        }


def _resolve_site(site: TensorSite, ctx: _Context) -> Action:
    target, match = _choose(site, ctx)
    entry = _entry(site, target, ctx)
    fill: Fill = KeepFill(scheme="keep")
    if site.name in ctx.pretrained:
        fill = CopyFill(
            scheme="pretrained", note="from checkpoint", values=ctx.pretrained[site.name]
        )
        _describe(entry, fill)
        return Action(entry=entry, site=site, fill=fill)
    try:
        if match is None:
            fill = _uncovered(target, site, ctx)
        else:
            index, rule, special = match
            ctx.used.add(index)
            entry.rule, entry.rule_index, entry.scheme = rule.describe(), index, rule.scheme
            if isinstance(special, Exception):
                raise special
            fill = special if special is not None else _rule_fill(index, rule, target, ctx)
        _describe(entry, fill)
        if site.name in ctx.tie_notes:
            entry.note = "; ".join(n for n in (entry.note, ctx.tie_notes[site.name]) if n)
    except (ValueError, TypeError, RuntimeError) as exc:
        where = "" if entry.rule_index is None else f", rule #{entry.rule_index}"
        shape = list(site.tensor.shape)
        ctx.errors.append(f"{site.name} (shape {shape}, dtype {entry.dtype}{where}): {exc}")
    return Action(entry=entry, site=site, fill=fill)


# --- plan ------------------------------------------------------------------------------


def _alias_entries(action: Action) -> list[PlanEntry]:
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


def _warn_unused(rules: RuleSet, ctx: _Context) -> None:
    """Rules that name tensors yet initialize none: a typo, or shadowed by an earlier rule.
    (A rule by role or module type may fairly match nothing in a given model.)"""
    for index, rule in enumerate(rules.rules):
        if index in ctx.used or rule.name is None:
            continue
        criteria = ", ".join(
            f"{key}={value[0]!r}" if len(value) == 1 else f"{key}={list(value)!r}"
            for key, value in rule._criteria().items()
            if value
        )
        message = (
            f"rule #{index} ({rule.scheme}{', ' + criteria if criteria else ''}) matched no "
            "tensor, or an earlier rule claims every tensor it matches: it initializes nothing"
        )
        ctx.warnings.append(message)
        warnings.warn(message, UnusedRuleWarning, stacklevel=_caller_stacklevel())


def _is_layer_name(model: nn.Module, name: str) -> bool:
    try:
        return is_layer(model.get_submodule(name))
    except AttributeError:
        return False


def build_plan(
    model: nn.Module,
    rules: RuleSet,
    *,
    default: str = "error",
    norm_types: tuple[str | type, ...] = (),
    activations: Mapping[str, DetectedActivation] | None = None,
    pretrained: dict[str, torch.Tensor] | None = None,
    users_rules: bool = False,
    sites: list[TensorSite] | None = None,
) -> tuple[Plan, list[Action]]:
    """Resolve ``rules`` into a plan and the actions behind it. Problems are collected in
    ``plan.errors`` (``plan.check()`` raises them); nothing is sampled or written.
    ``users_rules``: the rules are the user's own, not a preset's: warn about rules that
    name tensors yet initialize none (a preset's rules for absent module kinds are expected
    to stay unused) and about tied names whose rules disagree (a preset's order decides
    those on purpose; the row's note says which rule won). ``sites``:
    :func:`all_sites` of the model, when the caller has them already."""
    ctx = _Context(
        rules=rules,
        default=default,
        norm_types=norm_types,
        parents=_parents(model),
        activations=activations if activations is not None else LazyActivations(model),
        pretrained=pretrained or {},
        users_rules=users_rules,
    )
    sites = sites if sites is not None else all_sites(model)
    actions = [_resolve_site(s, ctx) for s in sites]
    plan = Plan(rules=rules.name, uncovered=ctx.uncovered, warnings=ctx.warnings)
    for action in actions:
        plan.entries.extend([action.entry, *_alias_entries(action)])
    if not isinstance(ctx.activations, LazyActivations) or ctx.activations.computed:
        plan.undetermined = sorted(
            n for n, a in ctx.activations.items() if a.name is None and _is_layer_name(model, n)
        )
    if users_rules:
        _warn_unused(rules, ctx)
    written = {a.site.name for a in actions if not isinstance(a.fill, KeepFill)}
    plan.errors.extend(ctx.errors + meta_problems(model, written=written))
    if default == "error" and ctx.uncovered:
        plan.errors.append(
            f"{len(ctx.uncovered)} tensor(s) matched no rule: {', '.join(ctx.uncovered)} "
            "(add rules; or pass default='keep' to leave their values, or default='torch' "
            "to draw PyTorch's default for their modules)"
        )
    return plan, actions
