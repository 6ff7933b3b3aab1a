"""Record every module call and functional activation of one probe pass.

Module hooks fire in execution order, once per call (a module called twice
gives ``name`` and ``name#2``), unlike LSUV's ``apply``-order hooks. Activations
applied functionally (``F.relu``, ``torch.tanh``, ``x.sigmoid()``) are seen
through a :class:`~torch.overrides.TorchFunctionMode` and recorded as
pseudo-layers named ``parent:relu``; other ops take a fast path straight
through. Statistics are reduced at hook time to small device tensors; the
output-gradient hook keeps only a norm and a histogram. Nothing is moved to the
host until :meth:`Recorder.resolve`, once for the whole pass.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.hooks import RemovableHandle

from initlab._activations import function_activation, module_activation
from initlab.doctor._stats import (
    Deferred,
    Slot,
    activation_stats,
    histogram,
    scaled_norm,
    unpack_histogram,
)
from initlab.rules import is_norm_module

__all__ = ["Call", "Recorder", "first_float_tensor"]

Histogram = tuple[float, float, list[float]]


@dataclass
class Call:
    """One module call (or functional activation) with its reduced statistics."""

    index: int
    name: str
    type: str
    kind: str  # "layer", "functional", "block" or "input"
    module: str
    activation: str | None
    params: dict[str, float]
    stats: dict[str, float]
    numel: int = 0
    normalizes: bool = False
    act_hist: Histogram | None = None
    grad_norm: float | None = None
    grad_hist: Histogram | None = None
    extra: dict[str, float] = field(default_factory=dict)
    slots: dict[str, Slot] = field(default_factory=dict, repr=False)
    stat_names: tuple[str, ...] = ()


def first_float_tensor(value: Any) -> torch.Tensor | None:
    """The first floating-point tensor in a tensor, sequence or mapping (depth first)."""
    if isinstance(value, torch.Tensor):
        return value if value.is_floating_point() else None
    items: Any = value.values() if isinstance(value, Mapping) else value
    if isinstance(value, (Mapping, tuple, list)):
        for item in items:
            found = first_float_tensor(item)
            if found is not None:
                return found
    return None


class _FunctionalActivations(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(
        self,
        func: Callable[..., Any],
        types: Any,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
    ) -> Any:
        activation = function_activation(func)
        if activation is None:  # fast path: every op that is not an activation
            return func(*args, **(kwargs or {}))
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            self.recorder.on_functional(activation, out)
        return out


class Recorder:
    """Hooks a model for one pass; use as a context manager (hooks removed on exit)."""

    def __init__(self, model: nn.Module, *, hist_bins: int, deferred: Deferred) -> None:
        self.model = model
        self.hist_bins = hist_bins
        self.deferred = deferred
        self.names: dict[int, str] = {}
        self.block_ids: set[int] = set()
        for name, module in model.named_modules():
            self.names.setdefault(id(module), name)
            if isinstance(module, (nn.Sequential, nn.ModuleList)):
                self.block_ids.update(id(c) for c in module.children() if _has_children(c))
        self.stack: list[nn.Module] = []
        self.calls: list[Call] = []
        self.recording = False
        #: Multiply-adds of the pass's weight layers (×2: flops), a yardstick for extra work.
        self.flops = 0.0
        self.counts: Counter[str] = Counter()
        self.handles: list[RemovableHandle] = []
        self.mode = _FunctionalActivations(self)

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Recorder:
        try:
            for module in self.model.modules():
                self.handles.append(module.register_forward_pre_hook(self._pre))
                self.handles.append(module.register_forward_hook(self._post))
            self.mode.__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.mode.__exit__(None, None, None)
        finally:
            self._remove()

    def _remove(self) -> None:
        for handle in self.handles:
            handle.remove()
        self.handles.clear()

    def failing(self) -> nn.Module | None:
        """The innermost module that was running when the pass raised, or None."""
        return self.stack[-1] if self.stack else None

    def failing_module(self) -> str | None:
        """The innermost module that was running when the pass raised."""
        if not self.stack:
            return None
        module = self.stack[-1]
        return f"{self._label(module)!r} ({type(module).__name__})"

    # -- recording --------------------------------------------------------------------
    def record_input(self, tensor: torch.Tensor) -> None:
        """Record the probe input itself (the depth-0 reference)."""
        self._record("(input)", "input", "input", "", None, tensor)

    def _label(self, module: nn.Module) -> str:
        return self.names.get(id(module), "") or "(model)"

    def _unique(self, name: str) -> str:
        self.counts[name] += 1
        count = self.counts[name]
        return name if count == 1 else f"{name}#{count}"

    def _pre(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self.stack.append(module)

    def _post(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        if self.stack and self.stack[-1] is module:
            self.stack.pop()
        tensor = first_float_tensor(output)
        if tensor is None:
            return
        label = self._label(module)
        if not _has_children(module):
            kind = "layer"
            self.flops += _layer_flops(module, tensor)
        elif id(module) in self.block_ids and _same_shape_input(args, tensor):
            kind = "block"
        else:
            return
        found = module_activation(module) if kind == "layer" else None
        activation, params = found if found is not None else (None, {})
        self._record(
            self._unique(label), type(module).__name__, kind, label, activation, tensor, params
        )
        self.calls[-1].normalizes = kind == "layer" and is_norm_module(module)

    def on_functional(self, activation: str, out: torch.Tensor) -> None:
        """A functional activation; skipped inside activation modules (nn.ReLU calls F.relu)."""
        parent = self.stack[-1] if self.stack else self.model
        if self.recording or module_activation(parent) is not None:
            return  # the recorder's own reductions, or inside an activation module
        label = f"{self._label(parent)}:{activation}"
        self._record(self._unique(label), f"F.{activation}", "functional", label, activation, out)

    def _record(
        self,
        name: str,
        type_name: str,
        kind: str,
        module: str,
        activation: str | None,
        tensor: torch.Tensor,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.recording = True
        try:
            names, values, range_ = activation_stats(tensor, activation, params)
        finally:
            self.recording = False
        call = Call(
            index=len(self.calls),
            name=name,
            type=type_name,
            kind=kind,
            module=module,
            activation=activation,
            params=dict(params or {}),
            numel=tensor.numel(),
            stats={},
            stat_names=names,
        )
        call.slots["stats"] = self.deferred.add(values)
        if kind != "block":
            hist = histogram(tensor, self.hist_bins, range_)
            call.slots["act_hist"] = self.deferred.add(hist)
        self.calls.append(call)
        if tensor.requires_grad:
            tensor.register_hook(self._grad_hook(call))

    def _grad_hook(self, call: Call) -> Callable[[torch.Tensor], None]:
        def hook(grad: torch.Tensor) -> None:
            grad = grad.detach()
            call.slots["grad_norm"] = self.deferred.add(scaled_norm(grad))
            if call.kind != "block":
                call.slots["grad_hist"] = self.deferred.add(histogram(grad, self.hist_bins))

        return hook

    def resolve(self) -> list[Call]:
        """Fill every call's statistics from the fetched :class:`Deferred` values."""
        get = self.deferred.get
        for call in self.calls:
            call.stats = dict(zip(call.stat_names, get(call.slots["stats"])))
            if "act_hist" in call.slots:
                call.act_hist = unpack_histogram(get(call.slots["act_hist"]))
            if "grad_norm" in call.slots:
                call.grad_norm = get(call.slots["grad_norm"])[0]
            if "grad_hist" in call.slots:
                call.grad_hist = unpack_histogram(get(call.slots["grad_hist"]))
        return self.calls


def _layer_flops(module: nn.Module, output: torch.Tensor) -> float:
    """2 × weight elements × output positions (Linear, Conv and kin); 0 for lookups."""
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) or output.dim() == 0:
        return 0.0
    weights = sum(p.numel() for p in module.parameters(recurse=False) if p.dim() >= 2)
    conv = isinstance(module, nn.modules.conv._ConvNd) and output.dim() >= 2
    units = output.shape[1] if conv else output.shape[-1]
    return 2.0 * weights * output.numel() / max(units, 1)


def _has_children(module: nn.Module) -> bool:
    return any(True for _ in module.children())


def _same_shape_input(args: tuple[Any, ...], output: torch.Tensor) -> bool:
    first = first_float_tensor(args)
    return first is not None and first.shape == output.shape
