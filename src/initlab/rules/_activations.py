"""Find the nonlinearity that follows each Linear/Conv layer in the real forward pass.

Two methods, same answer format:

- ``torch.fx`` symbolic tracing, when the model traces: the graph is walked from
  each layer's output through shape-only, normalization and addition ops to its consumers.
- Execution tracing on a probe input, when it does not: forward hooks tag each
  layer's output tensor and a ``TorchFunctionMode`` sees every function applied
  to it (``F.relu``, ``torch.tanh``, ``x * torch.sigmoid(x)``, a module's own
  ``F.gelu``), following the tag through shape-only and normalization ops.

A layer whose output reaches the model output (or another Linear/Conv) with no
nonlinearity is ``"linear"``; a layer whose consumers disagree or are not
recognised is undetermined. Residual additions are looked through (the sum feeds
the same nonlinearity as the branch). (``name=None``), never guessed.
"""

from __future__ import annotations

import contextlib
import operator
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from initlab._activations import ACTIVATIONS, function_activation, module_activation
from initlab.rules._roles import is_norm_module

__all__ = ["DetectedActivation", "detect_activations", "is_layer", "unwrap_model"]


@dataclass(frozen=True)
class DetectedActivation:
    """The activation after one layer: ``name`` from ``initlab.ACTIVATIONS`` (or
    ``"linear"``), its parameters, and the method that found it (``"fx"``,
    ``"hooks"`` or ``"none"``, with ``reason`` saying why torch.fx was not used);
    ``name=None`` when it could not be determined."""

    name: str | None
    params: dict[str, Any] = field(default_factory=dict)
    method: str = "fx"
    #: Why ``torch.fx`` was not used (its tracing error), when ``method`` is not "fx".
    reason: str = field(default="", compare=False)

    def label(self) -> str | None:
        """``"leaky_relu(negative_slope=0.2)"``-style text, or None."""
        if self.name is None or not self.params:
            return self.name
        inner = ", ".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.name}({inner})"


def is_layer(module: nn.Module) -> bool:
    """The layers whose init depends on the next activation: Linear and convolutions."""
    return isinstance(module, (nn.Linear, nn.modules.conv._ConvNd)) or (
        type(module).__name__ == "Conv1D"
    )


_SIGMOIDS: tuple[Any, ...] = (torch.sigmoid, F.sigmoid, torch.Tensor.sigmoid, "sigmoid")

_TRANSPARENT_FUNCTIONS: tuple[Any, ...] = (
    F.dropout,
    F.layer_norm,
    F.batch_norm,
    F.group_norm,
    F.instance_norm,
    F.rms_norm,
    torch.flatten,
    torch.reshape,
    torch.Tensor.view,
    torch.Tensor.reshape,
    torch.Tensor.flatten,
    torch.Tensor.contiguous,
    torch.Tensor.permute,
    torch.Tensor.transpose,
    torch.Tensor.__getitem__,
    torch.permute,
    torch.transpose,
    torch.cat,
    torch.concat,
    operator.getitem,
    operator.add,
    operator.iadd,
    torch.add,
    torch.Tensor.add,
    torch.Tensor.__add__,
    torch.Tensor.__radd__,
    torch.Tensor.__iadd__,
    torch.Tensor.add_,  # what ``x += shortcut`` dispatches to
    "add",
    "add_",
    "view",
    "reshape",
    "flatten",
    "contiguous",
    "permute",
    "transpose",
    "cat",
)
#: Shape-preserving modules of timm and torchvision, by class name (neither imports here).
_TRANSPARENT_NAMES = ("DropPath", "StochasticDepth", "Permute", "DropBlock2d")
#: Reads of a tensor's metadata, not of its values (``x.shape``, ``x.size(0)``, ``x.ndim``).
_METADATA_METHODS = ("size", "dim", "numel", "ndimension", "stride", "is_contiguous")
_TRANSPARENT_MODULES = (
    nn.Dropout,
    nn.Dropout1d,
    nn.Dropout2d,
    nn.Dropout3d,
    nn.Identity,
    nn.Flatten,
    nn.Unflatten,
)
#: Products of two activations (attention scores, attention-weighted values): the layer's
#: output enters them linearly, with no pointwise nonlinearity of its own.
_BILINEAR: tuple[Any, ...] = (
    torch.matmul,
    torch.Tensor.matmul,
    torch.Tensor.__matmul__,
    torch.bmm,
    torch.einsum,
    F.scaled_dot_product_attention,
)
_MULS: tuple[Any, ...] = (operator.mul, torch.mul, torch.Tensor.mul, torch.Tensor.__mul__, "mul")


def _function_activation(target: Any, args: tuple, kwargs: dict) -> tuple[str, dict] | None:
    """A functional activation call with its numeric parameters (sigmoid is left to the
    caller, which tells ``x * sigmoid(x)`` (SiLU) from a plain sigmoid)."""
    name = function_activation(target)
    if name is None or name == "sigmoid":
        return None
    params: dict[str, Any] = {}
    for position, (key, default) in enumerate(ACTIVATIONS[name].defaults.items(), start=1):
        params[key] = float(kwargs.get(key, args[position] if len(args) > position else default))
    if name == "gelu" and kwargs.get("approximate", args[1] if len(args) > 1 else "none") == "tanh":
        name = "gelu_tanh"
    return name, params


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _module_kind(module: nn.Module) -> tuple[str, Any]:
    found = module_activation(module)
    if found is not None:
        return ("act", found)
    if isinstance(module, _TRANSPARENT_MODULES) or is_norm_module(module):
        return ("through", None)
    if type(module).__name__ in _TRANSPARENT_NAMES:
        return ("through", None)
    if is_layer(module):
        return ("act", ("linear", {}))
    return ("other", None)


def _combine(found: list[tuple[str, dict] | None]) -> tuple[str, dict] | None:
    if not found or any(f is None for f in found):
        return None
    first = found[0]
    return first if all(f == first for f in found) else None


# --- torch.fx --------------------------------------------------------------------------


class _FxWalker:
    def __init__(self, graph_module: fx.GraphModule) -> None:
        self.modules = dict(graph_module.named_modules())

    def follow(self, node: fx.Node, depth: int = 0) -> tuple[str, dict] | None:
        if depth > 32:
            return None
        found = []
        for user in node.users:
            found.append(self.classify(node, user, depth))
        return _combine([f for f in found if f != ("skip", {})])

    def classify(self, node: fx.Node, user: fx.Node, depth: int) -> tuple[str, dict] | None:
        if user.op == "output":
            return ("linear", {})
        if user.op == "call_module":
            kind, act = _module_kind(self.modules[str(user.target)])
            if kind == "through":
                return self.follow(user, depth + 1)
            return act if kind == "act" else None
        target = user.target
        if (user.op == "call_method" and target in _METADATA_METHODS) or target is getattr:
            return ("skip", {})  # x.shape, x.size(0), x.ndim: metadata, not values
        act = _function_activation(target, user.args, dict(user.kwargs))
        if act is not None:
            return act
        if _hashable(target) and target in _SIGMOIDS:
            return self._sigmoid_use(node, user)
        if _hashable(target) and target in _MULS:
            return self._mul_use(node, user)
        if _hashable(target) and target in _TRANSPARENT_FUNCTIONS:
            return self.follow(user, depth + 1)
        if target is F.linear or (_hashable(target) and target in (torch.matmul,)):
            return None
        return None

    def _sigmoid_use(self, node: fx.Node, sigmoid: fx.Node) -> tuple[str, dict] | None:
        users = list(sigmoid.users)
        if users and all(self._is_swish(node, u, sigmoid) for u in users):
            return ("skip", {})
        return ("sigmoid", {})

    def _mul_use(self, node: fx.Node, mul: fx.Node) -> tuple[str, dict] | None:
        others = [a for a in mul.args if a is not node]
        if len(others) == 1 and isinstance(others[0], fx.Node):
            other = others[0]
            if self._is_swish(node, mul, other):
                return ("silu", {})
        return None

    @staticmethod
    def _is_swish(node: fx.Node, mul: fx.Node, sigmoid: fx.Node) -> bool:
        sig_target = sigmoid.target
        return (
            _hashable(mul.target)
            and mul.target in _MULS
            and _hashable(sig_target)
            and sig_target in _SIGMOIDS
            and sigmoid.args[:1] == (node,)
            and set(mul.args) == {node, sigmoid}
        )


def _detect_fx(model: nn.Module) -> dict[str, DetectedActivation]:
    graph_module = fx.symbolic_trace(model)
    walker = _FxWalker(graph_module)
    result: dict[str, DetectedActivation] = {}
    for node in graph_module.graph.nodes:
        if node.op == "call_module" and is_layer(walker.modules[str(node.target)]):
            act = walker.follow(node)
            name = str(node.target)
            if name in result and result[name].name != (act[0] if act else None):
                result[name] = DetectedActivation(None, {}, "fx")
                continue
            result[name] = (
                DetectedActivation(act[0], act[1], "fx")
                if act
                else (DetectedActivation(None, {}, "fx"))
            )
    return result


# --- execution tracing -----------------------------------------------------------------


class _Tracer(TorchFunctionMode):
    """Follows tagged layer outputs through every torch function call."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: dict[int, set[str]] = {}
        self.keep: list[torch.Tensor] = []
        self.uses: dict[str, list[tuple[str, dict] | None]] = {}
        self.sigmoid_of: dict[int, int] = {}
        self.swish_sigmoids: set[int] = set()
        self.suspended = 0
        self.sigmoid_uses: dict[str, list[int]] = {}

    def tag(self, tensor: Any, layers: set[str]) -> None:
        if isinstance(tensor, torch.Tensor):
            self.tags.setdefault(id(tensor), set()).update(layers)
            self.keep.append(tensor)

    def layers_of(self, values: Iterable[Any]) -> set[str]:
        found: set[str] = set()
        for value in values:
            if isinstance(value, torch.Tensor):
                found |= self.tags.get(id(value), set())
        return found

    def enter(self, module: nn.Module, inputs: Any) -> None:
        """A shape-preserving module (a norm, dropout): its inner ops are not uses."""
        self.suspended += 1

    def leave(self, module: nn.Module, inputs: Any, output: Any) -> None:
        self.suspended -= 1
        layers = self.layers_of(tree_flatten(inputs)[0])
        if layers:
            for value in tree_flatten(output)[0]:
                self.tag(value, layers)

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.suspended:
            return out
        outputs, _ = tree_flatten(out)
        if not any(isinstance(v, torch.Tensor) for v in outputs):
            # Metadata queries (dim, size, numel, shape, ...) read a tensor without
            # consuming its values: BatchNorm's input check must not hide the ReLU after it.
            return out
        flat, _ = tree_flatten((args, kwargs))
        layers = self.layers_of(flat)
        if layers:
            self.record(func, args, kwargs, layers, out)
        return out

    def record(self, func: Any, args: tuple, kwargs: dict, layers: set[str], out: Any) -> None:
        act = _function_activation(func, args, kwargs)
        if act is None and _hashable(func) and func in _SIGMOIDS:
            self.sigmoid_of[id(out)] = id(args[0])
            self.keep.append(out)
            for layer in layers:
                self.sigmoid_uses.setdefault(layer, []).append(id(out))
            return
        if act is None and _hashable(func) and func in _MULS:
            act = self._swish(args)
        if act is None and _hashable(func) and func in _TRANSPARENT_FUNCTIONS:
            flat, _ = tree_flatten(out)
            for value in flat:
                self.tag(value, layers)
            return
        if func is F.linear or func in (F.conv1d, F.conv2d, F.conv3d) or func in _BILINEAR:
            act = ("linear", {})
        for layer in layers:
            self.uses.setdefault(layer, []).append(act)
        # An in-place op (``ReLU(inplace=True)``, ``x.mul_(s)``) returns its input, which now
        # holds the op's result: the next consumer (a pooling) is not a use of the layer.
        for value in tree_flatten(out)[0]:
            if any(value is arg for arg in args):
                self.tags.pop(id(value), None)

    def _swish(self, args: tuple) -> tuple[str, dict] | None:
        tensors = [a for a in args if isinstance(a, torch.Tensor)]
        if len(tensors) != 2:
            return None
        a, b = tensors
        for x, s in ((a, b), (b, a)):
            if self.sigmoid_of.get(id(s)) == id(x):
                self.swish_sigmoids.add(id(s))
                return ("silu", {})
        return None

    def result(
        self, outputs: set[str], layers: list[str], reason: str = ""
    ) -> dict[str, DetectedActivation]:
        found: dict[str, DetectedActivation] = {}
        for layer in layers:
            uses = list(self.uses.get(layer, []))
            sigmoids = [s for s in self.sigmoid_uses.get(layer, []) if s not in self.swish_sigmoids]
            uses += [("sigmoid", {})] * len(sigmoids)
            if layer in outputs:
                uses.append(("linear", {}))
            act = _combine(uses)
            found[layer] = DetectedActivation(
                act[0] if act else None, act[1] if act else {}, "hooks", reason
            )
        return found


def _detect_hooks(
    model: nn.Module, example_input: Any, reason: str = ""
) -> dict[str, DetectedActivation]:
    tracer = _Tracer()
    layers = [(n, m) for n, m in model.named_modules() if is_layer(m)]
    handles = []
    for name, module in layers:
        handles.append(module.register_forward_hook(_tagger(tracer, name)))
    for module in model.modules():  # norms and dropouts pass their input's layers through
        if not is_layer(module) and _module_kind(module)[0] == "through" and not _acts(module):
            handles.append(module.register_forward_pre_hook(tracer.enter))
            handles.append(module.register_forward_hook(tracer.leave))
    try:
        with _isolated(model), torch.no_grad(), tracer:
            output = _call(model, example_input)
    except Exception as exc:  # the user's input does not fit the model: say so
        raise ValueError(
            f"example_input {_describe_input(example_input)}: the model's forward failed on "
            f"it ({type(exc).__name__}: {exc}); pass an input the model accepts"
        ) from None
    finally:
        for handle in handles:
            handle.remove()
    flat, _ = tree_flatten(output)
    return tracer.result(tracer.layers_of(flat), [n for n, _ in layers], reason)


def _acts(module: nn.Module) -> bool:
    """A "norm" that applies its own activation (timm's ``BatchNormAct2d``) or holds a layer
    (timm's ``ConvNormAct``, a norm by name): its inner ops are followed, not hidden."""
    inner = [m for m in module.modules() if m is not module]
    return any(module_activation(m) is not None or is_layer(m) for m in inner)


def _describe_input(value: Any) -> str:
    """Shapes of an input, e.g. ``(3, 5)`` or ``{input_ids: (2, 8)}``."""
    if isinstance(value, torch.Tensor):
        dtype = (
            "" if value.dtype == torch.float32 else f" {str(value.dtype).removeprefix('torch.')}"
        )
        return f"{tuple(value.shape)}{dtype}"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_describe_input(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_describe_input(v) for v in value) + ")"
    return type(value).__name__


def _call(model: nn.Module, example_input: Any) -> Any:
    """``model(**inputs)`` for a dict (HF models), ``model(*inputs)`` for a tuple."""
    if isinstance(example_input, Mapping):
        return model(**example_input)
    args = example_input if isinstance(example_input, tuple) else (example_input,)
    return model(*args)


@contextlib.contextmanager
def _isolated(model: nn.Module) -> Iterator[None]:
    """Run a probe forward in eval mode that leaves no trace.

    Eval mode, because what follows a layer does not depend on the mode, and training mode
    both writes (BatchNorm running statistics) and refuses inputs eval accepts (BatchNorm
    on one value per channel, e.g. a batch of one after pooling). The train/eval flags,
    buffers and the global RNG state (CPU and the model's CUDA devices) are restored
    afterwards, whatever a custom forward did (buffer caches, random draws)."""
    modules = list(model.modules())
    slots = [(m, dict(m._buffers)) for m in modules]  # a forward may also rebind a buffer
    values = [
        (b, b.detach().clone())
        for _, held in slots
        for b in held.values()
        if b is not None and b.device.type != "meta"
    ]
    modes = [(m, m.training) for m in modules]
    cuda = sorted(
        {t.device.index or 0 for t in [*model.parameters(), *model.buffers()] if t.is_cuda}
    )
    try:
        with torch.random.fork_rng(devices=cuda):
            model.eval()
            yield
    finally:
        for module, held in slots:
            module._buffers.update(held)
        with torch.no_grad():
            for buffer, saved in values:
                buffer.copy_(saved)
        for module, training in modes:
            module.training = training


def _tagger(tracer: _Tracer, name: str) -> Callable[..., None]:
    def hook(module: nn.Module, inputs: Any, output: Any) -> None:
        flat, _ = tree_flatten(output)
        for value in flat:
            tracer.tag(value, {name})

    return hook


#: What symbolic tracing raises on models it cannot follow: ``TraceError`` for a
#: proxy used in control flow (``if x.sum() > 0``), ``TypeError`` for a proxy given
#: to Python built-ins (``range``, ``int``), ``NotImplementedError`` for unsupported
#: constructs. Other errors count only when torch.fx itself raised them (its code
#: patching rejects some ``*args`` signatures with ``ValueError``, a proxy's
#: ``len`` is a ``RuntimeError``); anything else is a bug in the model and propagates.
_FX_FAILURES: tuple[type[BaseException], ...] = (
    fx.proxy.TraceError,
    TypeError,
    NotImplementedError,
)
_FX_DIR = os.path.dirname(os.path.abspath(fx.__file__))


def _is_trace_failure(exc: Exception) -> bool:
    if isinstance(exc, _FX_FAILURES):
        return True
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    origin = os.path.abspath(tb.tb_frame.f_code.co_filename) if tb is not None else ""
    return origin.startswith(_FX_DIR + os.sep)


#: Wrappers that hold the real model in one attribute: DataParallel and
#: DistributedDataParallel (``module``), ``torch.compile``'s OptimizedModule (``_orig_mod``).
_WRAPPERS = (("DataParallel", "module"), ("DistributedDataParallel", "module"))


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DataParallel, DistributedDataParallel and ``torch.compile``
    wrappers (nested ones too), so that names and per-name seeds are the bare model's."""
    while True:
        names = [cls.__name__ for cls in type(model).__mro__]
        inner = None
        if "OptimizedModule" in names:
            inner = getattr(model, "_orig_mod", None)
        for wrapper, attribute in _WRAPPERS:
            if wrapper in names:
                inner = getattr(model, attribute, None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def detect_activations(
    model: nn.Module, example_input: Any = None, *, method: str = "auto"
) -> dict[str, DetectedActivation]:
    """The activation following every Linear/Conv layer, keyed by qualified module name.

    ``method="auto"`` traces the real execution on ``example_input`` when one is given
    (a tensor, a tuple of positional inputs or a dict of keyword inputs; an input the
    model's forward refuses is a ``ValueError`` naming it), else tries ``torch.fx``.
    Without an input, layers of an untraceable model come back undetermined (``reason``
    says why): tracing never raises on the model's behalf (its own argument checks
    under fx proxies). Wrapped models
    (DataParallel, DDP, ``torch.compile``) are unwrapped: names are the bare model's.
    Weights are never touched; the fallback runs the model in eval mode under
    ``torch.no_grad()`` and restores its buffers, train/eval flags and the global
    RNG state afterwards.

    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    >>> {k: v.name for k, v in detect_activations(net).items()}
    {'0': 'relu', '2': 'linear'}
    """
    if method not in ("auto", "fx", "hooks"):
        raise ValueError(f"method={method!r} is not one of 'auto', 'fx', 'hooks'")
    model = unwrap_model(model)
    reason = ""
    if method == "fx" or (method == "auto" and example_input is None):
        try:
            return _detect_fx(model)
        except Exception as exc:  # torch.fx's failures, and the model's own checks on proxies
            if method == "fx":
                raise
            origin = "" if _is_trace_failure(exc) else "the model raised "
            reason = f"torch.fx could not trace the model: {origin}{type(exc).__name__}: {exc}"
    if example_input is None:
        return {
            name: DetectedActivation(None, {}, "none", reason)
            for name, module in model.named_modules()
            if is_layer(module)
        }
    return _detect_hooks(model, example_input, reason)
