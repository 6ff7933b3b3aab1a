"""LSUV (Mishkin & Matas, 2016, "All you need is a good init", ICLR) in O(L) layer evaluations.

LSUV rescales each layer's weights, in execution order, until the layer's output on a
batch has standard deviation ``target_std`` (1 in the paper) within ``tol``, after an
optional orthonormal pre-init. The reference procedure runs a full forward pass per
attempt per layer: O(L²) layer evaluations for L layers.

Here one forward pass does the work. A forward pre-hook on every layer runs when the
layer is about to run, with its real input — computed by earlier layers that are
already rescaled. The hook re-runs *only that layer* on that input, rescales its weights
until the output is on target (one rescale is exact for a layer without bias, or with
``center=True`` where the bias is rescaled with it), and lets the forward continue. Cost:
one forward, plus ``1 + attempts`` evaluations of each layer, plus one checking forward
that measures every layer's output in place. A layer whose in-place output misses the
target there (its input depends on something rescaled after it ran) is fixed by the
reference procedure: full forwards, counted and reported with the reason.

Ties: a weight shared by several layers is scaled once, at its first use. A module
called twice is scaled at its first call. Statistics are reduced on the batch's device;
only scalars come back. The model runs in eval mode (restored afterwards) so dropout
does not make the statistics random.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from typing import Any

import torch
from torch import nn

from initlab._validation import check_choice, check_positive
from initlab.rules._activations import is_layer
from initlab.rules._plan import Plan
from initlab.rules._rules import Rule

__all__ = ["LSUVConfig", "LSUVLayer", "LSUVReport", "lsuv_"]

MODES = ("auto", "full")


@dataclass(frozen=True, kw_only=True)
class LSUVConfig:
    """Options of :func:`lsuv_`.

    ``target_std`` (the paper's 1.0) and ``tol`` (absolute, on the std); at most
    ``max_attempts`` rescales per layer; ``orthonormal`` pre-init (the paper's step 1);
    ``center`` subtracts each output channel's batch mean through the bias (then the
    bias is rescaled with the weight); ``mode="full"`` forces the reference procedure
    (a full forward per attempt); ``layers`` restricts the layers by name glob.
    """

    target_std: float = 1.0
    tol: float = 0.1
    max_attempts: int = 10
    orthonormal: bool = True
    center: bool = False
    mode: str = "auto"
    layers: tuple[str, ...] = ()
    eps: float = 1e-8

    def __post_init__(self) -> None:
        check_positive("target_std", self.target_std)
        check_positive("tol", self.tol)
        check_positive("eps", self.eps)
        if (
            isinstance(self.max_attempts, bool)
            or not isinstance(self.max_attempts, int)
            or self.max_attempts < 1
        ):
            raise ValueError(f"max_attempts={self.max_attempts!r} must be an integer >= 1")
        check_choice("mode", self.mode, MODES)
        object.__setattr__(self, "layers", tuple(self.layers))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        return data


@dataclass(kw_only=True)
class LSUVLayer:
    """One layer's outcome: output std before and after (``after`` measured in place by
    the checking forward), rescales made, the product of the scales, and how many times
    the layer was evaluated (isolated runs and calls inside forwards)."""

    name: str
    std_before: float | None = None
    std_after: float | None = None
    attempts: int = 0
    scale: float = 1.0
    evaluations: int = 0
    calls: int = 0
    converged: bool = False
    note: str = ""


@dataclass(kw_only=True)
class LSUVReport:
    """What :func:`lsuv_` did. ``mode`` is ``"hooks"`` (O(L)) or ``"full"``; ``fallback``
    names the layers the reference procedure fixed and why; ``full_forwards`` and
    ``layer_evaluations`` are the cost; ``plan`` is the orthonormal pre-init's plan."""

    config: LSUVConfig
    layers: list[LSUVLayer] = field(default_factory=list)
    mode: str = "hooks"
    full_forwards: int = 0
    layer_evaluations: int = 0
    fallback: list[str] = field(default_factory=list)
    fallback_reason: str = ""
    plan: Plan | None = None

    @property
    def converged(self) -> bool:
        """True when every scaled layer ended within tolerance."""
        return all(layer.converged for layer in self.layers if not layer.note.startswith("tied"))

    def __getitem__(self, name: str) -> LSUVLayer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer named {name!r} in the LSUV report")

    def to_records(self) -> list[dict[str, Any]]:
        """One dict per layer (tidy), with the run's mode and cost repeated."""
        return [
            {**asdict(layer), "mode": self.mode, "full_forwards": self.full_forwards}
            for layer in self.layers
        ]

    def summary(self) -> str:
        text = (
            f"LSUV ({self.mode}): {len(self.layers)} layers, target std "
            f"{self.config.target_std} ± {self.config.tol}, {self.full_forwards} full "
            f"forward(s), {self.layer_evaluations} layer evaluations"
        )
        if self.fallback:
            text += (
                f"; full-forward fallback for {', '.join(self.fallback)} ({self.fallback_reason})"
            )
        return text

    def __str__(self) -> str:
        head = f"{'layer':40s} {'std before':>10s} {'std after':>10s} {'tries':>5s} {'scale':>9s}"
        lines = [self.summary(), head]
        for r in self.layers:
            lines.append(
                f"{r.name[:40]:40s} {_fmt(r.std_before):>10s} {_fmt(r.std_after):>10s} "
                f"{r.attempts:5d} {r.scale:9.4g} {r.note}".rstrip()
            )
        return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4g}"


Batch = Any
Progress = Callable[[str, int, int], object]


def _forward(model: nn.Module, batch: Batch) -> Any:
    if isinstance(batch, Mapping):
        return model(**batch)
    if isinstance(batch, (tuple, list)):
        return model(*batch)
    return model(batch)


def _targets(model: nn.Module, patterns: Sequence[str]) -> list[tuple[str, nn.Module]]:
    found = [
        (name, m)
        for name, m in model.named_modules()
        if is_layer(m) and isinstance(getattr(m, "weight", None), torch.Tensor)
    ]
    if patterns:
        found = [(n, m) for n, m in found if any(fnmatchcase(n, p) for p in patterns)]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no Linear/Conv layer"
            + (f" matching layers={list(patterns)}" if patterns else "")
        )
    return found


def _channel_axis(module: nn.Module, out: torch.Tensor) -> int:
    return 1 if isinstance(module, nn.modules.conv._ConvNd) and out.dim() > 1 else -1


def _tensor(module: nn.Module, name: str) -> torch.Tensor | None:
    value = getattr(module, name, None)
    return value if isinstance(value, torch.Tensor) else None


def _stats(out: torch.Tensor) -> float:
    # Reduced on the device; only the scalar comes back.
    return float(out.detach().float().std())


def _channel_mean(module: nn.Module, out: torch.Tensor) -> torch.Tensor:
    axis = _channel_axis(module, out) % out.dim()
    dims = [d for d in range(out.dim()) if d != axis]
    return out.detach().float().mean(dim=dims)


class _Run:
    """State shared by the hooks of one LSUV run."""

    def __init__(self, model: nn.Module, config: LSUVConfig, on_layer: Progress | None) -> None:
        self.model, self.config, self.on_layer = model, config, on_layer
        self.targets = _targets(model, config.layers)
        self.names = {id(m): n for n, m in self.targets}
        self.results = {n: LSUVLayer(name=n) for n, _ in self.targets}
        self.done: set[int] = set()
        self.weights: dict[int, str] = {}
        self.busy = False
        # Per forward: each layer's first-call output std (a device scalar, not the
        # activation) and the full output of the one layer being refit (``keep``).
        self.stds: dict[str, torch.Tensor] = {}
        self.capture: dict[str, torch.Tensor] = {}
        self.keep: str | None = None
        self.forward_calls: dict[str, int] = {}

    # --- counting and capturing -----------------------------------------------------

    def count_hook(self, module: nn.Module, args: Any, output: Any) -> None:
        result = self.results[self.names[id(module)]]
        result.evaluations += 1
        if not self.busy:
            result.calls += 1
            name = result.name
            self.forward_calls[name] = self.forward_calls.get(name, 0) + 1
            if name not in self.stds and isinstance(output, torch.Tensor):
                self.stds[name] = output.detach().float().std()
                if name == self.keep:
                    self.capture[name] = output.detach()

    # --- the O(L) pass ----------------------------------------------------------------

    def pre_hook(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if self.busy or id(module) in self.done:
            return
        self.done.add(id(module))
        name = self.names[id(module)]
        result = self.results[name]
        owner = self.weights.get(id(module.weight))
        if owner is not None:
            result.note = f"tied to {owner}: scaled once"
            return
        self.weights[id(module.weight)] = name
        self.busy = True
        try:
            self._fit(module, result, lambda: module(*args, **kwargs))
        finally:
            self.busy = False
        self._progress(name)

    def _fit(self, module: nn.Module, result: LSUVLayer, evaluate: Callable[[], Any]) -> None:
        cfg = self.config
        out = evaluate()
        if result.std_before is None:  # a fallback refit keeps the first measurement
            result.std_before = _stats(out)
        for _ in range(cfg.max_attempts):
            bias = _tensor(module, "bias")
            if cfg.center and bias is not None:
                mean = _channel_mean(module, out)
                with torch.no_grad():
                    bias.sub_(mean.to(bias.dtype))
                out = evaluate()
            std = _stats(out)
            if abs(std - cfg.target_std) <= cfg.tol:
                break
            if not math.isfinite(std) or std < cfg.eps:
                result.note = f"output std {std:.3g}: cannot rescale"
                return
            self._rescale(module, result, cfg.target_std / std)
            out = evaluate()
        result.converged = abs(_stats(out) - cfg.target_std) <= cfg.tol

    def _rescale(self, module: nn.Module, result: LSUVLayer, factor: float) -> None:
        weight, bias = _tensor(module, "weight"), _tensor(module, "bias")
        with torch.no_grad():
            if weight is not None:
                weight.mul_(factor)
            if self.config.center and bias is not None:
                bias.mul_(factor)
        result.attempts += 1
        result.scale *= factor

    def _progress(self, name: str) -> None:
        if self.on_layer is not None:
            index = [n for n, _ in self.targets].index(name)
            self.on_layer(name, index, len(self.targets))

    # --- the reference procedure ----------------------------------------------------

    def full_forward(self, batch: Batch, report: LSUVReport) -> None:
        self.stds, self.capture, self.forward_calls = {}, {}, {}
        with torch.no_grad():
            _forward(self.model, batch)
        report.full_forwards += 1

    def fit_full(self, name: str, batch: Batch, report: LSUVReport) -> None:
        module = self.model.get_submodule(name)
        result = self.results[name]

        def evaluate() -> torch.Tensor:
            self.keep = name
            self.full_forward(batch, report)
            self.keep = None
            if name not in self.capture:
                raise ValueError(f"layer {name!r} did not run in the forward pass")
            return self.capture[name]

        self._fit(module, result, evaluate)


@contextlib.contextmanager
def _hooks(run: _Run, pre: bool) -> Iterator[None]:
    handles = []
    try:
        for _, module in run.targets:
            if pre:
                handles.append(module.register_forward_pre_hook(run.pre_hook, with_kwargs=True))
            handles.append(module.register_forward_hook(run.count_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = {m: m.training for m in model.modules()}
    model.eval()
    try:
        yield
    finally:
        for module, mode in modes.items():
            module.train(mode)


def _orthonormal(model: nn.Module, run: _Run, seed: int | None, rng: str) -> Plan:
    """Step 1 of LSUV through the rules engine: target weights orthonormal (under every
    name that shares them), everything else kept. A weight shared with a module that
    is not a layer (a tied embedding) is kept: re-drawing it would change that module."""
    from initlab.rules._apply import init_model

    layer_ids = {id(m) for _, m in run.targets}
    owners: dict[int, set[bool]] = {}
    for module in model.modules():
        for tensor in module.parameters(recurse=False):
            owners.setdefault(id(tensor), set()).add(id(module) in layer_ids)
    names = tuple(
        name
        for name, tensor in model.named_parameters(remove_duplicate=False)
        if owners.get(id(tensor)) == {True}
        and name.endswith("weight")
        and id(model.get_submodule(name.rpartition(".")[0])) in layer_ids
    )
    rules = [
        Rule(scheme="orthogonal", name=names, description="LSUV step 1: orthonormal"),
        Rule(scheme="keep", description="LSUV: kept"),
        Rule(scheme="keep", role=("buffer", "running_stats"), description="LSUV: kept"),
    ]
    return init_model(model, rules, seed=seed, rng=rng)


def _check(run: _Run, batch: Batch, report: LSUVReport) -> list[str]:
    """One forward measuring each layer's output in place; the layers off target."""
    run.full_forward(batch, report)
    off = []
    for name, result in run.results.items():
        if name in run.stds:
            result.std_after = float(run.stds[name])
        if run.forward_calls.get(name, 0) > 1 and "called" not in result.note:
            called = f"called {run.forward_calls[name]} times per forward: fit at its first call"
            result.note = f"{result.note}; {called}" if result.note else called
        if result.note.startswith("tied") or result.note.startswith("output std"):
            continue
        if name not in run.stds:
            result.note = result.note or "not reached by the forward pass"
            continue
        result.converged = abs(result.std_after - run.config.target_std) <= run.config.tol  # type: ignore[operator]
        if not result.converged:
            off.append(name)
    return off


def _fallback(run: _Run, batch: Batch, report: LSUVReport) -> None:
    """Check every layer in place; refit the ones off target with full forwards, in
    rounds (a refit can move another layer's input), at most ``max_attempts`` rounds."""
    off = _check(run, batch, report)
    for _ in range(run.config.max_attempts):
        if not off:
            return
        report.fallback += [n for n in off if n not in report.fallback]
        report.fallback_reason = (
            "their in-place output missed the target after the one-pass fit (their input "
            "depends on a layer rescaled after they ran); refit with full forwards"
        )
        for name in off:
            run.fit_full(name, batch, report)
        off = _check(run, batch, report)


def lsuv_(
    model: nn.Module,
    batch: Batch,
    config: LSUVConfig | None = None,
    *,
    seed: int | None = 0,
    rng: str = "torch",
    on_layer: Progress | None = None,
    **options: Any,
) -> LSUVReport:
    """Layer-sequential unit-variance init of ``model`` on ``batch``, in place.

    ``batch``: a tensor (``model(batch)``), a tuple (``model(*batch)``) or a dict
    (``model(**batch)``, e.g. ``{"input_ids": ...}``). ``config`` or keyword ``options``:
    :class:`LSUVConfig`. ``seed`` and ``rng`` drive the orthonormal pre-init (through
    :func:`initlab.init_model`, so it is planned and reproducible). ``on_layer(name,
    index, total)`` is called as each layer is done. Returns an :class:`LSUVReport`.

    >>> from torch import nn
    >>> net = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(32, 32), nn.Tanh())])
    >>> report = lsuv_(net, torch.randn(256, 32, generator=torch.Generator().manual_seed(0)))
    >>> report.converged, report.full_forwards, report.mode
    (True, 2, 'hooks')
    """
    if config is not None and options:
        raise TypeError("pass either config= or keyword options, not both")
    config = config if config is not None else LSUVConfig(**options)
    run = _Run(model, config, on_layer)
    report = LSUVReport(config=config, mode="hooks" if config.mode == "auto" else "full")
    if config.orthonormal:
        report.plan = _orthonormal(model, run, seed, rng)
    with _eval_mode(model), torch.no_grad():
        if config.mode == "full":
            with _hooks(run, pre=False):
                run.full_forward(batch, report)  # which layers run at all
                reached = set(run.stds)
                for name, module in run.targets:
                    owner = run.weights.setdefault(id(module.weight), name)
                    if owner != name:
                        run.results[name].note = f"tied to {owner}: scaled once"
                    elif name in reached:
                        run.fit_full(name, batch, report)
                    run._progress(name)
                _check(run, batch, report)
        else:
            with _hooks(run, pre=True):
                run.full_forward(batch, report)
            with _hooks(run, pre=False):
                _fallback(run, batch, report)
    report.layers = list(run.results.values())
    report.layer_evaluations = sum(r.evaluations for r in report.layers)
    return report
