"""The coordinate check: does each layer's activation size stay put as width grows?

Build the model at several widths, train a few steps on one probe batch, and record
every leaf module's mean |x| per step and width (Yang et al. 2022, "Tensor Programs
V", Appendix on the coordinate check; the reference implementation's
``get_coord_data``). Under μP the curves for different widths lie on top of each
other after training starts; under the standard parametrization they grow with width
(SP with Adam: an update of the hidden weights moves activations by Θ(η·width)).

The verdict fits, per layer and step, the slope of log(mean |x|) against log(width),
averaged over seeds. Step 0 (the init) is recorded but not judged: μP's readout is
allowed to start at Θ(1/√width) or zero. A layer breaks when the slope exceeds
``tolerance`` in size at any later step.

Standard parametrization here is μP's plan with the model as its own base (every
multiplier 1, the same init formulas): the two runs differ only by parametrization.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from initlab._validation import check_choice, check_positive
from initlab.doctor._config import ProbeSpec
from initlab.doctor._hooks import first_float_tensor
from initlab.doctor._probe import build_probe
from initlab.mup._optim import mup_param_groups
from initlab.mup._plan import OPTIMIZERS, MupPlan, apply_readout, mup_plan
from initlab.rules._apply import init_model

__all__ = [
    "PARAMETRIZATIONS",
    "CoordCheck",
    "CoordConfig",
    "LayerVerdict",
    "coord_check",
    "make_optimizer",
    "parametrized_model",
]

PARAMETRIZATIONS = ("mup", "sp")
Factory = Callable[[int], nn.Module]
Progress = Callable[[str], None]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(kw_only=True, frozen=True)
class CoordConfig:
    """What the coordinate check runs.

    ``widths``: at least two, increasing; the base width is ``base_width`` (default: the
    smallest). ``lr``: the global learning rate η. ``readout_zero_init`` (μP only; TP5
    recommends it): the readout starts at zero. ``tolerance``: largest allowed
    |d log mean|x| / d log width| after step 0.
    """

    widths: tuple[int, ...]
    parametrization: str = "mup"
    optimizer: str = "adam"
    lr: float = 1e-2
    steps: int = 3
    seeds: int = 2
    seed: int = 0
    batch_size: int = 32
    base_width: int | None = None
    readout_zero_init: bool = True
    tolerance: float = 0.25

    def __post_init__(self) -> None:
        widths = tuple(int(w) for w in self.widths)
        if len(widths) < 2 or any(w <= 0 for w in widths) or len(set(widths)) != len(widths):
            raise ValueError(
                f"widths={self.widths!r} must be at least two different positive integers"
            )
        object.__setattr__(self, "widths", tuple(sorted(widths)))
        check_choice("parametrization", self.parametrization, PARAMETRIZATIONS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("lr", self.lr)
        check_positive("tolerance", self.tolerance)
        for name in ("steps", "seeds", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")

    @property
    def base(self) -> int:
        return self.base_width if self.base_width is not None else self.widths[0]


@dataclass(frozen=True)
class LayerVerdict:
    """One layer's worst slope after step 0 and what it means."""

    layer: str
    slope: float
    step: int
    verdict: str  # "flat", "grows" or "shrinks"

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return asdict(self)


@dataclass(kw_only=True)
class CoordCheck:
    """Tidy records (one row per parametrization, width, seed, step, layer) and verdicts."""

    config: CoordConfig
    records: list[dict[str, Any]] = field(default_factory=list)
    layers: list[LayerVerdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def broken(self) -> list[LayerVerdict]:
        """Layers whose activation size is not flat in width."""
        return [v for v in self.layers if v.verdict != "flat"]

    @property
    def passed(self) -> bool:
        return not self.broken

    def summary(self) -> str:
        """One line: the verdict and the layers that break."""
        head = f"{self.config.parametrization} / {self.config.optimizer} lr={self.config.lr:g}"
        if self.passed:
            within = f"all {len(self.layers)} layers within ±{self.config.tolerance} slope"
            return f"{head}: flat in width ({within})"
        worst = ", ".join(
            f"{v.layer} {v.verdict} (slope {v.slope:+.2f} at step {v.step})" for v in self.broken
        )
        return f"{head}: NOT flat: {worst}"


def parametrized_model(
    factory: Factory,
    width: int,
    *,
    parametrization: str,
    widths: Sequence[int],
    seed: int,
    base_width: int | None = None,
    readout_zero_init: bool = True,
) -> tuple[nn.Module, MupPlan]:
    """``factory(width)`` initialized under ``parametrization`` ('mup' or 'sp'), with μP's
    readout multiplier applied, and its plan. ``widths`` give the base (``base_width``,
    default the smallest) and, at the base width itself, the other width that shows which
    dimensions grow."""
    check_choice("parametrization", parametrization, PARAMETRIZATIONS)
    model = factory(width)
    if parametrization == "sp":
        plan = mup_plan(model, model)  # every multiplier 1: standard parametrization
    else:
        base_w = base_width if base_width is not None else min(widths)
        other = None if width != base_w else next(w for w in widths if w != base_w)
        base, delta = _meta_shapes(factory, base_w, other)
        plan = mup_plan(model, base, delta, readout_zero_init=readout_zero_init)
        if apply_readout(model, plan):
            plan = mup_plan(model, base, delta, readout_zero_init=readout_zero_init)
    init_model(model, plan.rules(), seed=seed)
    return model, plan


def _meta_shapes(factory: Factory, base: int, delta: int | None) -> tuple[Any, Any]:
    with torch.device("meta"):
        base_model = factory(base)
        delta_model = factory(delta) if delta is not None else None
    return base_model, delta_model


def make_optimizer(
    model: nn.Module, plan: MupPlan, optimizer: str, lr: float
) -> torch.optim.Optimizer:
    """A stock ``torch.optim`` optimizer over the plan's μP groups (AdamW without decay)."""
    groups = mup_param_groups(model, plan, optimizer=optimizer, lr=lr)
    if optimizer == "sgd":
        return torch.optim.SGD(groups, lr=lr)
    return torch.optim.AdamW(groups, lr=lr, weight_decay=0.0)


@contextmanager
def _recording(model: nn.Module, sink: dict[str, tuple[str, float]]) -> Iterator[None]:
    """Record ``(module type, mean |output|)`` of every leaf module into ``sink``."""
    handles = []
    for name, module in model.named_modules():
        if not name or any(True for _ in module.children()):
            continue

        def hook(m: nn.Module, _a: Any, out: Any, name: str = name) -> None:
            tensor = first_float_tensor(out)
            if tensor is not None and tensor.numel():
                sink[name] = (type(m).__name__, float(tensor.detach().abs().mean()))

        handles.append(module.register_forward_hook(hook))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _mse_to_target(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.mse_loss(output, target)


def _run_one(
    factory: Factory,
    width: int,
    seed: int,
    inputs: Any,
    config: CoordConfig,
    loss_fn: LossFn,
    probe: ProbeSpec | None,
) -> tuple[list[dict[str, Any]], list[str]]:
    model, plan = parametrized_model(
        factory,
        width,
        parametrization=config.parametrization,
        widths=config.widths,
        seed=seed,
        base_width=config.base_width,
        readout_zero_init=config.readout_zero_init,
    )
    batch = build_probe(model, inputs, probe, seed=seed, batch_size=config.batch_size)
    optimizer = make_optimizer(model, plan, config.optimizer, config.lr)
    target: torch.Tensor | None = None
    rows = []
    for step in range(config.steps + 1):
        sink: dict[str, tuple[str, float]] = {}
        with _recording(model, sink):
            output = first_float_tensor(model(*batch.args, **batch.kwargs))
        if output is None:
            raise ValueError("the model's output holds no floating-point tensor to train on")
        rows += [
            {"width": width, "seed": seed, "step": step, "layer": k, "module_type": t, "l1": v}
            for k, (t, v) in sink.items()
        ]
        if step == config.steps:
            break
        if target is None:  # one fixed random target per seed, the same at every width
            gen = torch.Generator().manual_seed(seed)
            target = torch.randn(output.shape, generator=gen).to(output.device, output.dtype)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(output, target).backward()
        optimizer.step()
    notes = [] if config.parametrization == "sp" else plan.problems()
    return rows, notes


def _slope(widths: Sequence[float], values: Sequence[float]) -> float:
    xs = [math.log(w) for w in widths]
    ys = [math.log(v) for v in values]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def verdicts(records: Sequence[dict[str, Any]], tolerance: float) -> list[LayerVerdict]:
    """Per layer: the step after 0 with the largest |slope| of log mean|x| vs log width."""
    means: dict[tuple[str, int], dict[int, list[float]]] = {}
    order: list[str] = []
    for r in records:
        if r["layer"] not in order:
            order.append(r["layer"])
        means.setdefault((r["layer"], r["step"]), {}).setdefault(r["width"], []).append(r["l1"])
    out = []
    for layer in order:
        worst: tuple[float, int] | None = None
        for (name, step), by_width in means.items():
            if name != layer or step == 0:
                continue
            widths = sorted(by_width)
            values = [sum(by_width[w]) / len(by_width[w]) for w in widths]
            if len(widths) < 2 or min(values) <= 0:
                continue  # all-zero outputs (e.g. a zero readout at step 0) have no slope
            slope = _slope(widths, values)
            if worst is None or abs(slope) > abs(worst[0]):
                worst = (slope, step)
        if worst is None:
            continue
        slope, step = worst
        verdict = "flat" if abs(slope) <= tolerance else ("grows" if slope > 0 else "shrinks")
        out.append(LayerVerdict(layer, slope, step, verdict))
    return out


def coord_check(
    factory: Factory,
    config: CoordConfig,
    inputs: Any = None,
    *,
    probe: ProbeSpec | None = None,
    loss_fn: LossFn | None = None,
    progress: Progress | None = None,
) -> CoordCheck:
    """Run the coordinate check of ``factory(width)`` over ``config.widths``.

    ``inputs``: a probe batch (tensor, tuple or dict), else ``probe`` or one inferred
    from the first layer. ``loss_fn(output, target)``: default MSE to a fixed random
    target. ``progress(label)`` is called before each (seed, width) run.

    >>> net = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, 2))
    >>> result = coord_check(net, CoordConfig(widths=(16, 32), steps=1, seeds=1))
    >>> sorted(result.records[0])
    ['l1', 'layer', 'module_type', 'optimizer', 'parametrization', 'seed', 'step', 'width']
    """
    loss_fn = loss_fn or _mse_to_target
    result = CoordCheck(config=config)
    for s in range(config.seeds):
        seed = config.seed + s
        for width in config.widths:
            if progress is not None:
                progress(f"{config.parametrization} width {width} seed {seed}")
            rows, notes = _run_one(factory, width, seed, inputs, config, loss_fn, probe)
            for row in rows:
                row.update(parametrization=config.parametrization, optimizer=config.optimizer)
            result.records += rows
            result.notes += [n for n in notes if n not in result.notes]
    result.layers = verdicts(result.records, config.tolerance)
    return result
