"""Many small models trained as one: parameters stacked along a leading run axis.

Every model is initialized by :func:`initlab.rules.init_model` (the one model
walker) before it joins a stack: :func:`initialized` turns "this scheme for the
weights, this constant for the biases" into two rules and draws them from one
seeded generator, so a run's weights depend only on its seed and setting, never
on which stack it trains in.

R models of one architecture become a :class:`Stack` whose parameters have shape
``(R, *shape)`` (``torch.func.stack_module_state``). ``nn.Sequential`` models of
Linear, Conv2d and parameter-free layers run through batched matmuls and
grouped convolutions; anything else runs through ``torch.vmap`` over
``torch.func.functional_call``. The training loss is the sum of the runs' mean
losses, so each run's gradient is exactly its own, and elementwise optimizers
(SGD, Adam, AdamW, RMSprop) applied to the stacked tensors update every run as
its own optimizer would. :func:`train_sequential` trains the same runs one at a
time with plain modules: the reference for tests and the benchmark.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab._activations import activation_module
from initlab._registry import get
from initlab._validation import check_choice, check_positive
from initlab.experiments._base import Record, Spec, Tick, check_int, finite_or_none
from initlab.experiments._data import Dataset
from initlab.rng import seeded_generator
from initlab.rules import Rule
from initlab.rules import init_model as init_by_rules

__all__ = [
    "OPTIMIZERS",
    "Init",
    "Single",
    "Stack",
    "TrainLog",
    "TrainSpec",
    "Trained",
    "initialized",
    "mlp",
    "small_cnn",
    "train",
    "train_runs",
    "train_sequential",
]

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")


@dataclass(frozen=True)
class Init:
    """A weight scheme by registry name and keyword arguments, with a label for reports.

    >>> Init("normal", {"std": 10.0}, "N(0,1)·10").rules(bias=0.0)[0].scheme
    'normal'
    """

    scheme: str
    args: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def rules(self, *, bias: float) -> list[Rule]:
        """Two rules: this scheme for every weight, the constant ``bias`` for every bias."""
        return [
            Rule(scheme=self.scheme, args=dict(self.args), role="weight"),
            Rule(scheme="constant", args={"value": bias}, role="bias"),
        ]

    def fill(self, tensor: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Fill one bare tensor (no model around it) with this scheme."""
        result: torch.Tensor = get(self.scheme, **self.args)(tensor, generator=generator)
        return result


def initialized(
    model: nn.Module, init: Init, seed: int, *names: object, bias: float = 0.0
) -> nn.Module:
    """``model`` initialized by :func:`initlab.rules.init_model` with ``init.rules(bias)``,
    drawing in module order from ``seeded_generator(seed, *names)``; returns ``model``."""
    generator = seeded_generator(seed, *names)
    init_by_rules(model, init.rules(bias=bias), generator=generator)
    return model


def mlp(sizes: Sequence[int], activation: str = "relu") -> nn.Sequential:
    """Linear layers ``sizes[0] → … → sizes[-1]`` with ``activation`` between them.

    Built on the meta device and materialized empty, so PyTorch's default init
    (which draws from the global generator) never runs: call :func:`initialized`.
    """
    if len(sizes) < 2:
        raise ValueError(f"sizes={list(sizes)!r} needs at least an input and an output size")
    with torch.device("meta"):
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers.append(nn.Linear(n_in, n_out))
            if i < len(sizes) - 2:
                layers.append(activation_module(activation))
        model = nn.Sequential(*layers)
    return model.to_empty(device="cpu")


def small_cnn(
    side: int, channels: Sequence[int], n_classes: int, activation: str = "relu"
) -> nn.Sequential:
    """3×3 convolutions (padding 1) with ``activation``, a 2×2 max-pool after the
    first, then a linear classifier; single-channel ``side × side`` inputs."""
    with torch.device("meta"):
        layers: list[nn.Module] = []
        in_ch = 1
        for i, out_ch in enumerate(channels):
            layers += [nn.Conv2d(in_ch, out_ch, 3, padding=1), activation_module(activation)]
            if i == 0:
                layers.append(nn.MaxPool2d(2))
            in_ch = out_ch
        layers += [nn.Flatten(), nn.Linear(in_ch * (side // 2) ** 2, n_classes)]
        model = nn.Sequential(*layers)
    return model.to_empty(device="cpu")


class Stack:
    """R models of one architecture as one vectorized model."""

    def __init__(self, models: Sequence[nn.Module], device: torch.device | str = "cpu") -> None:
        if not models:
            raise ValueError("Stack needs at least one model")
        params, _ = torch.func.stack_module_state(list(models))  # type: ignore[arg-type]
        self.params = {k: v.detach().to(device).requires_grad_() for k, v in params.items()}
        self.size = len(models)
        self.base = copy.deepcopy(models[0]).to("meta")
        self._fast = _supports_fast_path(self.base)

    def parameters(self) -> list[torch.Tensor]:
        return list(self.params.values())

    def weights(self) -> list[tuple[str, torch.Tensor]]:
        """Weight tensors (R, ...) by name; their ``.grad`` has the same shape."""
        return [(k, v) for k, v in self.params.items() if v.dim() >= 3]

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        """Same input ``(N, ...)`` to every run."""
        x = x.expand(self.size, *x.shape)
        return self._forward_fast(x) if self._fast else self._forward_vmap(x)

    def forward_batched(self, x: torch.Tensor) -> torch.Tensor:
        """One input ``(N, ...)`` per run: ``x`` is ``(R, N, ...)``."""
        return self._forward_fast(x) if self._fast else self._forward_vmap(x)

    def _forward_vmap(self, x: torch.Tensor) -> torch.Tensor:
        def one(params: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor = torch.func.functional_call(self.base, params, (xi,))
            return out

        result: torch.Tensor = torch.vmap(one)(self.params, x)
        return result

    def _forward_fast(self, x: torch.Tensor) -> torch.Tensor:
        for name, module in self.base.named_children():
            if type(module) is nn.Linear:
                x = _linear(x, self.params[f"{name}.weight"], self.params.get(f"{name}.bias"))
            elif type(module) is nn.Conv2d:
                x = _conv2d(
                    x, module, self.params[f"{name}.weight"], self.params.get(f"{name}.bias")
                )
            else:
                runs, n = x.shape[:2]
                y = module(x.reshape(runs * n, *x.shape[2:]))
                x = y.reshape(runs, n, *y.shape[1:])
        return x


def _supports_fast_path(base: nn.Module) -> bool:
    if not isinstance(base, nn.Sequential):
        return False
    children = list(base.children())
    if len(children) != len(base._modules):  # a module used twice: keep autograd's view
        return False
    for module in children:
        # Exact types only: a subclass (μP's Readout, a weight-normed layer) may change the
        # forward, which the fast path would silently replace with a plain matmul.
        if type(module) is nn.Conv2d:
            if module.padding_mode != "zeros" or isinstance(module.padding, str):
                return False
        elif type(module) is not nn.Linear and any(True for _ in module.parameters()):
            return False
    return True


def _linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    if bias is None:
        return torch.bmm(x, weight.transpose(1, 2))
    return torch.baddbmm(bias.unsqueeze(1), x, weight.transpose(1, 2))


def _conv2d(
    x: torch.Tensor, module: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None
) -> torch.Tensor:
    """All runs' convolutions as one grouped convolution over run-major channels."""
    runs, n, c, h, w = x.shape
    xg = x.transpose(0, 1).reshape(n, runs * c, h, w)
    wg = weight.reshape(runs * weight.shape[1], *weight.shape[2:])
    bg = None if bias is None else bias.reshape(-1)
    y = F.conv2d(
        xg,
        wg,
        bg,
        stride=module.stride,
        padding=module.padding,  # type: ignore[arg-type]
        dilation=module.dilation,
        groups=runs * module.groups,
    )
    return y.reshape(n, runs, weight.shape[1], *y.shape[2:]).transpose(0, 1)


class Single:
    """One plain module behind the :class:`Stack` interface (R = 1): the reference."""

    def __init__(self, model: nn.Module, device: torch.device | str = "cpu") -> None:
        self.model = model.to(device)
        self.size = 1

    def parameters(self) -> list[torch.Tensor]:
        return list(self.model.parameters())

    def weights(self) -> list[tuple[str, torch.Tensor]]:
        return [(k, v) for k, v in self.model.named_parameters() if v.dim() >= 2]

    def forward_shared(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x)
        return out.unsqueeze(0)

    def forward_batched(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.model(x[0])
        return out.unsqueeze(0)


Runner = Stack | Single


@dataclass(frozen=True, kw_only=True)
class TrainSpec(Spec):
    """How to train: optimizer by name, learning rate, steps, batch (None = full batch).

    ``momentum`` applies to SGD and RMSprop; ``grad_norm_steps`` logs per-layer
    gradient norms over the first steps; ``steps=0`` only evaluates at init.
    """

    optimizer: str = "sgd"
    lr: float = 0.01
    steps: int = 1000
    batch_size: int | None = None
    weight_decay: float = 0.0
    momentum: float = 0.0
    log_every: int = 50
    grad_norm_steps: int = 0

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_positive("lr", self.lr)
        check_int("steps", self.steps, minimum=0)
        check_int("log_every", self.log_every, minimum=1)
        check_int("grad_norm_steps", self.grad_norm_steps, minimum=0)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        check_positive("momentum", self.momentum, allow_zero=True)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)


@dataclass(kw_only=True)
class TrainLog:
    """Per-run curves at the logged steps (tensors shaped (R, T)) and early gradient norms."""

    steps: list[int]
    metrics: dict[str, torch.Tensor]
    layer_names: list[str] = field(default_factory=list)
    grad_norms: torch.Tensor | None = None  # (R, grad_norm_steps, layers)

    @staticmethod
    def concat(logs: Sequence[TrainLog]) -> TrainLog:
        """Join single-run logs along the run axis."""
        norms = [log.grad_norms for log in logs]
        return TrainLog(
            steps=logs[0].steps,
            metrics={k: torch.cat([log.metrics[k] for log in logs]) for k in logs[0].metrics},
            layer_names=logs[0].layer_names,
            grad_norms=None if norms[0] is None else torch.cat(norms),  # type: ignore[arg-type]
        )


def make_optimizer(spec: TrainSpec, params: list[torch.Tensor]) -> torch.optim.Optimizer:
    wd = spec.weight_decay
    if spec.optimizer == "sgd":
        return torch.optim.SGD(params, lr=spec.lr, momentum=spec.momentum, weight_decay=wd)
    if spec.optimizer == "adam":
        return torch.optim.Adam(params, lr=spec.lr, weight_decay=wd)
    if spec.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=spec.lr, weight_decay=wd)
    return torch.optim.RMSprop(params, lr=spec.lr, momentum=spec.momentum, weight_decay=wd)


def losses(logits: torch.Tensor, y: torch.Tensor, binary: bool) -> torch.Tensor:
    """Per-run mean loss ``(R,)`` from logits ``(R, N, C)`` and targets ``(R, N)`` or ``(N,)``."""
    runs, n = logits.shape[:2]
    y = y.expand(runs, n)
    if binary:
        per = F.binary_cross_entropy_with_logits(logits[..., 0], y, reduction="none")
    else:
        flat = F.cross_entropy(logits.reshape(runs * n, -1), y.reshape(-1), reduction="none")
        per = flat.reshape(runs, n)
    return per.mean(dim=1)


def accuracies(logits: torch.Tensor, y: torch.Tensor, binary: bool) -> torch.Tensor:
    pred = (logits[..., 0] > 0).to(y.dtype) if binary else logits.argmax(dim=-1)
    return (pred == y).float().mean(dim=-1)


class _Batches:
    """Per-run shuffled mini-batch indices; run ``seed`` gets the same order in any stack."""

    def __init__(self, seeds: Sequence[int], n: int, batch: int, device: torch.device) -> None:
        self.gens = [seeded_generator(s, "batches") for s in seeds]
        self.n, self.batch, self.device = n, min(batch, n), device
        self.pos = n
        self.perms = torch.empty(0)

    def next(self) -> torch.Tensor:
        if self.pos + self.batch > self.n:
            self.perms = torch.stack([torch.randperm(self.n, generator=g) for g in self.gens])
            self.perms = self.perms.to(self.device)
            self.pos = 0
        idx = self.perms[:, self.pos : self.pos + self.batch]
        self.pos += self.batch
        return idx


def _evaluate(runner: Runner, data: Dataset) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for split, x, y in (
            ("train", data.x_train, data.y_train),
            ("test", data.x_test, data.y_test),
        ):
            logits = runner.forward_shared(x)
            out[f"{split}_loss"] = losses(logits, y, data.binary)
            out[f"{split}_acc"] = accuracies(logits, y, data.binary)
        squares = [w.detach().reshape(runner.size, -1).pow(2).sum(1) for _, w in runner.weights()]
        out["weight_norm"] = torch.stack(squares).sum(0).sqrt()
    return out


def _grad_norms(runner: Runner) -> torch.Tensor:
    norms = []
    for _, w in runner.weights():
        g = w.grad if w.grad is not None else torch.zeros_like(w)
        norms.append(g.reshape(runner.size, -1).norm(dim=1))
    return torch.stack(norms, dim=-1)  # (R, layers)


def train(
    runner: Runner,
    data: Dataset,
    spec: TrainSpec,
    seeds: Sequence[int],
    *,
    on_log: Callable[[int], Any] | None = None,
) -> TrainLog:
    """Train every run of ``runner`` on ``data``; ``seeds[r]`` orders run r's mini-batches.

    Metrics on the full train and test sets are logged at step 0 and every
    ``spec.log_every`` steps (and the last); ``on_log(step)`` is called then.
    """
    if len(seeds) != runner.size:
        raise ValueError(f"got {len(seeds)} seeds for {runner.size} runs")
    params = runner.parameters()
    optimizer = make_optimizer(spec, params)
    device = params[0].device
    batches = (
        None
        if spec.batch_size is None
        else _Batches(seeds, len(data.y_train), spec.batch_size, device)
    )
    logged: list[dict[str, torch.Tensor]] = [_evaluate(runner, data)]
    steps, norms = [0], []
    for step in range(1, spec.steps + 1):
        if batches is None:
            logits, y = runner.forward_shared(data.x_train), data.y_train
        else:
            idx = batches.next()
            logits, y = runner.forward_batched(data.x_train[idx]), data.y_train[idx]
        optimizer.zero_grad(set_to_none=True)
        losses(logits, y, data.binary).sum().backward()
        if step <= spec.grad_norm_steps:
            norms.append(_grad_norms(runner))
        optimizer.step()
        if step % spec.log_every == 0 or step == spec.steps:
            logged.append(_evaluate(runner, data))
            steps.append(step)
            if on_log is not None:
                on_log(step)
    metrics = {k: torch.stack([m[k] for m in logged], dim=1).cpu() for k in logged[0]}
    return TrainLog(
        steps=steps,
        metrics=metrics,
        layer_names=[name for name, _ in runner.weights()],
        grad_norms=torch.stack(norms, dim=1).cpu() if norms else None,
    )


def train_sequential(
    models: Sequence[nn.Module],
    data: Dataset,
    spec: TrainSpec,
    seeds: Sequence[int],
    *,
    device: torch.device | str = "cpu",
) -> TrainLog:
    """The same runs as ``train(Stack(models), ...)``, one plain module at a time."""
    logs = [train(Single(copy.deepcopy(m), device), data, spec, [s]) for m, s in zip(models, seeds)]
    return TrainLog.concat(logs)


@dataclass(kw_only=True)
class Trained:
    """What :func:`train_runs` returns: tidy records, the raw log and the trained stack."""

    records: list[Record]
    log: TrainLog
    stack: Stack


def train_runs(
    runs: Sequence[tuple[str, int]],
    models: Sequence[nn.Module],
    data: Dataset,
    spec: TrainSpec,
    *,
    device: torch.device,
    tick: Tick,
    done: int = 0,
    total: int | None = None,
    curves: Sequence[str] = (),
    on_log: Callable[[int, Stack], object] | None = None,
) -> Trained:
    """Train ``models`` (run r is ``runs[r] = (setting, seed)``) as one stack; tidy records.

    Records per run: ``<metric>_curve`` at every logged step for each of ``curves``,
    the final ``train_loss, train_acc, test_loss, test_acc, weight_norm``, and, with
    ``spec.grad_norm_steps``, ``early_grad_norm`` per layer (mean over those steps).
    ``tick(done + step, total)`` reports progress (``total`` defaults to the steps);
    ``on_log(step, stack)`` runs at step 0 and at every logged step.
    """
    stack = Stack(models, device)

    def logged(step: int) -> None:
        tick(done + step, total if total is not None else spec.steps)
        if on_log is not None:
            on_log(step, stack)

    if on_log is not None:
        on_log(0, stack)

    log = train(stack, data, spec, [seed for _, seed in runs], on_log=logged)
    records: list[Record] = []
    for r, (setting, seed) in enumerate(runs):
        row: dict[str, Any] = {"setting": setting, "seed": seed}
        for key in curves:
            values = log.metrics[key][r].tolist()
            records += [
                Record(**row, metric=f"{key}_curve", index=step, value=finite_or_none(v))
                for step, v in zip(log.steps, values)
            ]
        records += [
            Record(**row, metric=key, value=finite_or_none(float(m[r, -1])))
            for key, m in log.metrics.items()
        ]
        if log.grad_norms is not None:
            early = log.grad_norms[r].mean(dim=0).tolist()  # mean over the first steps
            records += [
                Record(**row, metric="early_grad_norm", index=layer, value=finite_or_none(v))
                for layer, v in enumerate(early, 1)
            ]
    return Trained(records=records, log=log, stack=stack)
