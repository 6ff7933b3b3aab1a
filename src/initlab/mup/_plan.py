"""The μP plan: width class, init std and learning-rate multipliers per parameter.

Formulas (Yang et al. 2022, "Tensor Programs V: Tuning Large Neural Networks via
Zero-Shot Hyperparameter Transfer", Table 3 and its equivalent Table 8; Yang & Hu
2021, "Feature Learning in Infinite-Width Neural Networks"), written relative to a
base model as the reference implementation does, so μP equals the standard
parametrization at the base width. ``m_in``/``m_out`` are the fan-in/fan-out width
multipliers of :mod:`initlab.mup._shapes`; σ₀ is the base std (``std``, or
``sqrt(scale / base_fan_in)``); η the global learning rate.

========  ===============  =================  ================  ================
kind      init std         Adam LR            SGD LR            forward
========  ===============  =================  ================  ================
input     σ₀               η                  η·m_out           —
vector    (zeros / ones)   η                  η·m_out           —
hidden    σ₀/√m_in         η/m_in             η·m_out/m_in      —
output    σ₀ (or 0)        η                  η·m_in            input x 1/m_in
 (init)   σ₀/m_in (or 0)   η/m_in             η/m_in            —
fixed     σ₀               η                  η                 —
========  ===============  =================  ================  ================

``readout="multiplier"`` is Table 8 (output weights tie-able with the embedding; the
readout must multiply its input by ``output_mult/m_in``: a required forward change);
``readout="init"`` is Table 3 (no readout change; ties refused). Attention must use
1/d logits in both. With ``scale_weight_decay`` (default) each group's weight decay
is divided by its LR multiplier, so the per-step decay ``lr·weight_decay`` that
``torch.optim`` SGD/Adam/AdamW apply does not change with width (as the reference
implementation does unless ``decoupled_wd``). Adam's ε is not scaled (neither does the
reference implementation); lower it if gradients approach it at large widths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from torch import nn

from initlab._fans import LayoutLike
from initlab._validation import check_choice, check_finite, check_positive
from initlab.mup._forward import ChangeStatus, Readout, attention_changes
from initlab.mup._shapes import KINDS, ShapesLike, WidthEntry, classify
from initlab.rules._rules import Rule, RuleSet

__all__ = [
    "OPTIMIZERS",
    "READOUTS",
    "MupConfig",
    "MupEntry",
    "MupPlan",
    "apply_readout",
    "mup_plan",
]

READOUTS = ("multiplier", "init")
#: Optimizer families: "sgd" (any SGD, momentum included) and "adam" (Adam, AdamW).
OPTIMIZERS = ("sgd", "adam", "adamw")
SOURCE = (
    "Yang et al. 2022, Tensor Programs V, Table 3 / Table 8 (relative to a base model); "
    "Yang & Hu 2021"
)

_ZERO_ROLES = ("bias", "norm_shift", "recurrent_bias", "attention_bias_kv")


@dataclass(kw_only=True, frozen=True)
class MupConfig:
    """μP options; see the module docstring for the formulas.

    ``scale``: variance scale at the base fans (σ₀ = sqrt(scale/base_fan_in)); ``std``
    replaces that with one base std for every weight (GPT-style 0.02). ``embedding_std``:
    embedding tables (input-like, Θ(1)). ``output_mult``: the readout multiplier at the
    base width. ``readout_zero_init``: output weights start at zero (TP5 recommends it
    for transfer). ``checked_attention``: module-name globs whose attention you made 1/d.
    ``layouts``: name glob -> layout for parameters initlab cannot place (expert stacks).
    """

    readout: str = "multiplier"
    scale: float = 1.0
    std: float | None = None
    embedding_std: float = 1.0
    output_mult: float = 1.0
    readout_zero_init: bool = False
    scale_weight_decay: bool = True
    checked_attention: tuple[str, ...] = ()
    layouts: Mapping[str, LayoutLike] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("readout", self.readout, READOUTS)
        check_positive("scale", self.scale)
        if self.std is not None:
            check_positive("std", self.std)
        check_positive("embedding_std", self.embedding_std, allow_zero=True)
        check_finite("output_mult", self.output_mult)
        object.__setattr__(self, "checked_attention", tuple(self.checked_attention))
        object.__setattr__(self, "layouts", dict(self.layouts))


@dataclass(frozen=True)
class MupEntry:
    """A :class:`WidthEntry` with its μP init (``scheme``, ``std``) and multipliers."""

    width: WidthEntry
    scheme: str
    std: float | None
    adam_lr_mult: float
    sgd_lr_mult: float
    note: str = ""

    @property
    def name(self) -> str:
        return self.width.name

    @property
    def kind(self) -> str:
        return self.width.kind

    def lr_mult(self, optimizer: str) -> float:
        """The LR multiplier for ``optimizer`` ('sgd', 'adam' or 'adamw')."""
        check_choice("optimizer", optimizer, OPTIMIZERS)
        return self.sgd_lr_mult if optimizer == "sgd" else self.adam_lr_mult

    def to_record(self) -> dict[str, Any]:
        """One flat JSON-ready dict."""
        record = self.width.to_record()
        record.update(
            {k: v for k, v in asdict(self).items() if k != "width"},
        )
        return record


def _base_std(entry: WidthEntry, config: MupConfig) -> float:
    if entry.role == "embedding":
        return config.embedding_std
    if config.std is not None:
        return config.std
    return math.sqrt(config.scale / entry.base_fan_in)


def _multipliers(entry: WidthEntry, readout: str) -> tuple[float, float]:
    """(Adam LR multiplier, SGD LR multiplier) from the table in the module docstring."""
    m_in, m_out = entry.in_mult, entry.out_mult
    if entry.kind == "hidden":
        return 1 / m_in, m_out / m_in
    if entry.kind == "output":
        return (1.0, m_in) if readout == "multiplier" else (1 / m_in, 1 / m_in)
    if entry.kind in ("input", "vector"):
        return 1.0, m_out
    return 1.0, 1.0


def _init(entry: WidthEntry, config: MupConfig) -> tuple[str, float | None, str]:
    """(scheme, std, note) for one parameter."""
    if entry.layout is None:  # vectors and scalars: role decides
        if entry.role in _ZERO_ROLES:
            return "zeros", 0.0, ""
        if entry.role == "norm_scale":
            return "ones", 0.0, ""
        return "keep", None, "vector without a known role: values kept"
    sigma = _base_std(entry, config)
    if entry.kind == "hidden":
        return "normal", sigma / math.sqrt(entry.in_mult), ""
    if entry.kind == "output":
        if config.readout_zero_init:
            return "zeros", 0.0, "readout zero init"
        if config.readout == "init":
            return "normal", sigma / entry.in_mult, ""
    return "normal", sigma, ""


def _entry(width: WidthEntry, config: MupConfig) -> MupEntry:
    scheme, std, note = _init(width, config)
    adam, sgd = _multipliers(width, config.readout)
    return MupEntry(width, scheme, std, adam, sgd, note)


def _owner(model: nn.Module, name: str) -> tuple[str, nn.Module]:
    owner = name.rpartition(".")[0]
    return owner, model.get_submodule(owner)


def _readout_status(module_name: str, module: nn.Module, target: float) -> ChangeStatus:
    change = f"readout input x {target:.6g} (output_mult / m_in)"
    if isinstance(module, Readout):
        if math.isclose(module.multiplier, target, rel_tol=1e-6):
            return ChangeStatus(change, module_name, "done", "Readout multiplier set", target)
        return ChangeStatus(
            change,
            module_name,
            "missing",
            f"Readout multiplier is {module.multiplier:.6g}",
            target,
        )
    if math.isclose(target, 1.0, rel_tol=1e-12):
        return ChangeStatus(
            change, module_name, "done", "multiplier 1: a plain layer is μP", target
        )
    fix = (
        "initlab.mup.apply_readout(model, plan)"
        if isinstance(module, nn.Linear)
        else (
            f"multiply the input of this {type(module).__name__} by {target:.6g} in forward and "
            "declare it with a Readout-like wrapper"
        )
    )
    return ChangeStatus(change, module_name, "missing", fix, target)


def _readout_changes(
    model: nn.Module, entries: list[MupEntry], config: MupConfig
) -> tuple[list[ChangeStatus], list[str]]:
    changes: list[ChangeStatus] = []
    errors: list[str] = []
    for entry in entries:
        width = entry.width
        used_as_readout: list[tuple[str, nn.Module]] = [
            (owner, mod)
            for owner, mod in (_owner(model, n) for n in width.tied)
            if isinstance(mod, nn.Linear) and width.kind in ("input",)
        ]
        if width.kind == "output":
            used_as_readout.append(_owner(model, width.name))
            m_in = width.in_mult
        elif used_as_readout:
            m_in = width.out_mult  # tied (vocab, dim) table: dim is the readout's fan-in
        if not used_as_readout:
            continue
        if config.readout == "init":
            if width.tied:
                errors.append(
                    f"{width.name} is tied to {list(width.tied)}, which readout='init' (TP5 "
                    "Table 3) cannot give one init; use readout='multiplier' (Table 8)"
                )
            continue
        target = config.output_mult / m_in
        changes.extend(_readout_status(name, mod, target) for name, mod in used_as_readout)
    return changes, errors


@dataclass(kw_only=True)
class MupPlan:
    """Every parameter's width class, μP init and LR multipliers, and the forward changes.

    ``changes`` lists each required forward change with its status (``done``,
    ``missing``, ``unverifiable``); :attr:`is_mup` is True only when all are done and
    there are no ``errors``; :meth:`check` raises otherwise. :meth:`rules` gives the
    init as rules for :func:`initlab.init_model`.
    """

    entries: list[MupEntry]
    config: MupConfig
    changes: list[ChangeStatus] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> MupEntry:
        for entry in self.entries:
            if entry.name == name or name in entry.width.tied:
                return entry
        raise KeyError(f"no parameter named {name!r} in the μP plan")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def is_mup(self) -> bool:
        """True when every required forward change is done and nothing is refused."""
        return not self.errors and all(c.status == "done" for c in self.changes)

    def problems(self) -> list[str]:
        """Errors, then every forward change not done, as sentences."""
        pending = [
            f"{c.module}: {c.change} is {c.status} ({c.detail})"
            for c in self.changes
            if c.status != "done"
        ]
        return [*self.errors, *pending]

    def check(self) -> None:
        """Raise ``ValueError`` naming every problem that keeps the model from being μP."""
        problems = self.problems()
        if problems:
            raise ValueError(
                "the model is not μP as built; the init and optimizer groups alone do not "
                "make it so:\n  " + "\n  ".join(problems)
            )

    def rules(self) -> RuleSet:
        """The μP init as one rule per parameter (exact names), for ``init_model``."""
        rules = [_rule(e) for e in self.entries]
        rules.append(
            Rule(scheme="torch_default", role="running_stats", description="running stats")
        )
        return RuleSet(rules=rules, name=f"mup({self.config.readout})", source=SOURCE)

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per parameter."""
        return [e.to_record() for e in self.entries]

    def summary(self) -> dict[str, Any]:
        """Counts per kind, the forward changes and the verdict."""
        return {
            "kinds": {k: sum(e.kind == k for e in self.entries) for k in KINDS},
            "changes": [c.to_record() for c in self.changes],
            "errors": list(self.errors),
            "is_mup": self.is_mup,
        }

    def __str__(self) -> str:
        header = ["name", "shape", "base", "layout", "kind", "m_in", "m_out", "std", "adam", "sgd"]
        rows = [header, *(_row(e) for e in self.entries)]
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"readout formulation: {self.config.readout}  source: {SOURCE}")
        lines.extend(
            f"required: {c.module or '<model>'}: {c.change} [{c.status}] {c.detail}"
            for c in self.changes
        )
        lines.extend(f"error: {e}" for e in self.errors)
        lines.append("μP: yes" if self.is_mup else "μP: NOT claimed (see required/error lines)")
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


def _row(entry: MupEntry) -> list[str]:
    w = entry.width
    shape = "x".join(map(str, w.shape)) or "scalar"
    base = "x".join(map(str, w.base_shape)) or "scalar"
    return [
        w.name + (f" (= {', '.join(w.tied)})" if w.tied else ""),
        shape,
        base,
        w.layout or "-",
        w.kind,
        _fmt(w.in_mult),
        _fmt(w.out_mult),
        _fmt(entry.std) if entry.scheme != "ones" else "ones",
        _fmt(entry.adam_lr_mult),
        _fmt(entry.sgd_lr_mult),
    ]


def _literal(name: str) -> str:
    """A glob that matches exactly ``name`` (``[``, ``*`` and ``?`` bracketed)."""
    return "".join(f"[{c}]" if c in "[]*?" else c for c in name)


def _rule(entry: MupEntry) -> Rule:
    label = f"μP {entry.kind}"
    pattern = _literal(entry.name)
    if entry.scheme == "normal":
        return Rule(
            scheme="normal",
            args={"std": entry.std},
            name=pattern,
            description=f"{label}: N(0, {entry.std:.4g}^2)",
        )
    return Rule(scheme=entry.scheme, name=pattern, description=f"{label}: {entry.scheme}")


def mup_plan(
    model: nn.Module,
    base: ShapesLike,
    delta: ShapesLike | None = None,
    config: MupConfig | None = None,
    **options: Any,
) -> MupPlan:
    """The μP plan for ``model`` relative to ``base`` (see :func:`classify` for ``delta``).

    ``options`` build a :class:`MupConfig` when ``config`` is not given.

    >>> net = lambda w: nn.Sequential(nn.Linear(4, w), nn.ReLU(), nn.Linear(w, w),
    ...                               nn.ReLU(), nn.Linear(w, 2))
    >>> plan = mup_plan(net(256), base=net(64))
    >>> plan["2.weight"].kind, plan["2.weight"].adam_lr_mult, plan.is_mup
    ('hidden', 0.25, False)
    """
    if config is None:
        config = MupConfig(**options)
    elif options:
        raise TypeError("pass either config= or keyword options, not both")
    widths = classify(model, base, delta, layouts=config.layouts)
    entries = [_entry(w, config) for w in widths]
    changes, errors = _readout_changes(model, entries, config)
    if any(e.kind == "hidden" for e in entries):
        changes.extend(attention_changes(model, config.checked_attention))
    return MupPlan(entries=entries, config=config, changes=changes, errors=errors)


def apply_readout(model: nn.Module, plan: MupPlan) -> list[str]:
    """Replace each ``nn.Linear`` readout whose multiplier is missing by a :class:`Readout`
    sharing its parameters (names and ties unchanged); returns the module names changed.
    Make a new plan afterwards to see the change as done."""
    changed = []
    for change in plan.changes:
        if not change.change.startswith("readout") or change.status == "done":
            continue
        module = model.get_submodule(change.module)
        if not isinstance(module, nn.Linear) or change.value is None:
            continue
        readout = Readout.from_linear(module, change.value)
        parent_name, _, child = change.module.rpartition(".")
        setattr(model.get_submodule(parent_name), child, readout)
        changed.append(change.module)
    return changed
