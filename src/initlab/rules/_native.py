"""``native``: a model's own initialization, recorded once and replayed as a plan.

How it works, and why this way:

1. **Record.** The model's factory runs under ``torch.device("meta")`` and a
   ``TorchDispatchMode`` that logs every ATen op it executes: the ``torch.empty`` behind
   each parameter, each constructor's ``reset_parameters`` (``kaiming_uniform_`` arrives as
   one ``uniform_``), HF's ``_init_weights`` and timm's init functions (``trunc_normal_``
   arrives as ``uniform_, erfinv_, mul_, add_, clamp_``), and the arithmetic that computes
   buffers (RoPE ``inv_freq``, ``position_ids``, Gemma's ``embed_scale``). On meta nothing is
   allocated or sampled, so recording a large model costs only Python time. Tensors are
   identified by their storage, so ``.data``, views and ties need no special case. A factory
   that needs real values while it builds (``.item()`` on a tensor) is recorded on the CPU
   instead (``Recording.device`` says which).
2. **Replay.** The log is re-executed on the target device, random ops drawing from one
   ``torch.Generator``: with the seed a normal build used (``torch.manual_seed(seed)``), every
   tensor equals the normally built model's bit for bit on the CPU, discarded draws
   included (a ``Linear``'s default draw that ``_init_weights`` overwrites still advances
   the generator). Every buffer the model computes comes back with its real value.
3. **Read.** Each tensor's last full write, with the ops that follow it, names its
   distribution: ``normal(0, 0.02)``, ``uniform(-0.25, 0.25)``, ``trunc_normal(0, 0.02,
   [-2, 2])``, ``constant(1)``; anything else is ``computed`` (no randomness upstream) or
   ``replayed`` (a random op sequence with no closed form, e.g. orthogonal). These become
   plain rules (:func:`native_rules`), so ``rng="keyed"`` draws the author's distributions
   reproducibly on any device and sharding, and the plan shows them as ``normal(0, 0.02)
   [native]``; computed and replayed tensors keep the replayed values (scheme ``keep``).

Related work: torchdistx's deferred initialization also replayed recorded ops (archived);
it replayed the global generator, so values depended on the sharding. Here the replayed
stream reproduces the author's build, and keyed draws the same distributions per tensor.
"""

from __future__ import annotations

import contextlib
import copy
import math
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten, tree_map

from initlab.rules._roles import ROLES
from initlab.rules._rules import Rule, RuleSet

__all__ = ["REPLAY_STREAM", "NativeScheme", "Recording", "native_rules", "record", "record_model"]

#: The stream label a run's seed is derived with (``derive_seed(seed, REPLAY_STREAM)``) when a
#: model's own random values are replayed: by ``native`` for tensors it keeps, and when a meta
#: model is materialized. One label, so both give a tensor the same stream.
REPLAY_STREAM = "native replay"

_aten = torch.ops.aten

#: In-place ops that overwrite every element without reading the old values.
_OVERWRITES = {
    "fill_",
    "zero_",
    "normal_",
    "uniform_",
    "copy_",
    "random_",
    "exponential_",
    "bernoulli_",
    "log_normal_",
    "cauchy_",
    "geometric_",
    "trunc_normal_",
    "orthogonal_",
    "sparse_",
    "dirac_",
}


@dataclass(frozen=True)
class _Ref:
    """A view of a storage created by a logged op (a meta tensor has no values to keep)."""

    sid: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    dtype: torch.dtype


@dataclass
class _Op:
    func: Any
    args: Any
    kwargs: dict[str, Any]
    created: list[tuple[int, int]]  # (output position, storage id) of new storages
    random: bool
    writes: list[_Ref] = field(default_factory=list)


@dataclass(frozen=True)
class NativeScheme:
    """What a model's own init leaves in one tensor: ``kind`` is ``normal``, ``uniform``,
    ``trunc_normal``, ``constant``, ``orthogonal``, ``computed`` (no randomness upstream),
    ``replayed`` (random, with no closed form) or ``unset`` (allocated and never written: a built
    model's constructor set it, outside any init method); ``args`` the distribution's parameters;
    ``note`` partial writes after it (an embedding's padding row)."""

    kind: str
    args: dict[str, float] = field(default_factory=dict)
    note: str = ""

    def label(self) -> str:
        """``"normal(0, 0.02) [native]"``-style text for the plan."""
        a = self.args
        if self.kind == "normal":
            text = f"normal({a['mean']:.4g}, {a['std']:.4g})"
        elif self.kind == "uniform":
            text = f"uniform({a['low']:.4g}, {a['high']:.4g})"
        elif self.kind == "trunc_normal":
            text = (
                f"trunc_normal({a['mean']:.4g}, {a['std']:.4g}, [{a['low']:.4g}, {a['high']:.4g}])"
            )
        elif self.kind == "constant":
            text = f"constant({a['value']:.4g})"
        elif self.kind == "orthogonal":
            text = f"orthogonal(gain={a['gain']:.4g})"
        elif self.kind == "computed":
            text = "computed by the model"
        elif self.kind == "unset":
            text = "not written by an init method (set in the constructor)"
        else:
            text = "random op sequence, replayed"
        note = f", {self.note}" if self.note else ""
        return f"{text}{note} [native]"

    def rule(self, name: str, buffer: bool) -> Rule:
        """A rule for exactly ``name`` that draws this distribution (``keep`` otherwise)."""
        scheme, args = "keep", {}
        a = self.args
        if self.kind == "normal" and a["std"] > 0:
            scheme, args = "normal", {"mean": a["mean"], "std": a["std"]}
        elif self.kind == "uniform" and a["low"] < a["high"]:
            scheme, args = "uniform", {"low": a["low"], "high": a["high"]}
        elif self.kind == "trunc_normal" and a["std"] > 0:
            scheme, args = "truncated_normal", dict(a)
        elif self.kind == "constant":
            scheme, args = "constant", {"value": a["value"]}
        elif self.kind == "orthogonal" and a["gain"] > 0:
            scheme, args = "orthogonal", {"gain": a["gain"]}
        # The model's own init writes frozen parameters too (Whisper's sinusoidal table).
        role = ("buffer", "running_stats") if buffer else PARAMETER_ROLES
        return Rule(
            scheme=scheme, args=args, name=_escape(name), role=role, description=self.label()
        )


#: Every role a parameter can have, frozen included (a rule without ``role`` skips frozen).
PARAMETER_ROLES = tuple(r for r in ROLES if r not in ("buffer", "running_stats"))


def _escape(name: str) -> str:
    """A glob that matches exactly ``name`` (``[`` would start a character class)."""
    return name.replace("[", "[[]")


def _sid(tensor: torch.Tensor) -> int:
    return int(tensor.untyped_storage()._cdata)


def _writes_of(func: Any, args: tuple, kwargs: dict) -> list[torch.Tensor]:
    written = []
    schema = func._schema
    for position, argument in enumerate(schema.arguments):
        if argument.alias_info is None or not argument.alias_info.is_write:
            continue
        if argument.kwarg_only or position >= len(args):
            value = kwargs.get(argument.name)
        else:
            value = args[position]
        if isinstance(value, torch.Tensor):
            written.append(value)
    return written


class _Recorder(TorchDispatchMode):
    """Logs every op; tensors become references to the storages logged ops created."""

    def __init__(self, placeholders: bool = False) -> None:
        super().__init__()
        self.placeholders = placeholders  # allow meta tensors made outside the log
        self.ops: list[_Op] = []
        self.keep: list[torch.Tensor] = []  # storages stay alive so their ids stay unique
        self.known: set[int] = set()
        self.random_sids: set[int] = set()
        self.writes: dict[int, list[int]] = {}
        self.created_by: dict[int, str] = {}

    def ref(self, tensor: torch.Tensor) -> _Ref:
        return _Ref(
            _sid(tensor),
            tuple(tensor.shape),
            tuple(tensor.stride()),
            int(tensor.storage_offset()),
            tensor.dtype,
        )

    def encode(self, value: Any) -> Any:
        if not isinstance(value, torch.Tensor):
            return value
        if value.device.type != "meta" and _sid(value) not in self.known:
            return value.detach().clone()  # a constant made outside the log
        if _sid(value) not in self.known:  # a meta tensor made outside the log: no values
            if not self.placeholders:
                raise RuntimeError("a meta tensor made outside the recording reached the init")
            self.placeholder(value)
        return self.ref(value)

    def placeholder(self, tensor: torch.Tensor) -> None:
        """Log an allocation for a storage made outside the log (its values are unset)."""
        sid = _sid(tensor)
        self.known.add(sid)
        self.keep.append(tensor)
        kwargs = {"dtype": tensor.dtype, "device": torch.device("meta")}
        size = (tensor.untyped_storage().nbytes() // tensor.element_size(),)
        self.ops.append(_Op(_aten.empty.memory_format, (size,), kwargs, [(0, sid)], False))
        self.created_by[sid] = "empty"

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        outputs, _ = tree_flatten(out)
        inputs, _ = tree_flatten((args, kwargs))
        if not any(isinstance(v, torch.Tensor) for v in [*outputs, *inputs]):
            return out
        if func is _aten._local_scalar_dense.default:
            return out  # reads a value (``.item()``): no storage changes
        self.log(func, args, kwargs, outputs, inputs)
        return out

    def log_call(self, func: _WholeCall, args: tuple, kwargs: dict) -> None:
        """A whole init function on ``args[0]`` (see :func:`_whole_calls`)."""
        target = args[0]
        encoded = tree_map(self.encode, args), tree_map(self.encode, kwargs)
        op = _Op(func, encoded[0], encoded[1], [], func.random, [self.ref(target)])
        self.writes.setdefault(_sid(target), []).append(len(self.ops))
        if func.random:
            self.random_sids.add(_sid(target))
        else:
            self.random_sids.discard(_sid(target))
        self.ops.append(op)

    def log(self, func: Any, args: tuple, kwargs: dict, outputs: list, inputs: list) -> None:
        random = torch.Tag.nondeterministic_seeded in func.tags
        written = _writes_of(func, args, kwargs)
        written_ids = {id(w) for w in written}
        overwrite = func.__name__.split(".")[0] in _OVERWRITES
        read = [
            v
            for v in inputs
            if isinstance(v, torch.Tensor) and not (overwrite and id(v) in written_ids)
        ]
        tainted = random or any(_sid(v) in self.random_sids for v in read)
        op = _Op(
            func,
            tree_map(self.encode, args),
            tree_map(self.encode, kwargs),
            [],
            random,
        )
        for position, value in enumerate(outputs):
            if isinstance(value, torch.Tensor) and _sid(value) not in self.known:
                self.known.add(_sid(value))
                self.keep.append(value)
                op.created.append((position, _sid(value)))
                self.created_by[_sid(value)] = _name(op)
                if tainted:
                    self.random_sids.add(_sid(value))
        index = len(self.ops)
        for value in written:
            sid = _sid(value)
            op.writes.append(self.ref(value))
            self.writes.setdefault(sid, []).append(index)
            if tainted:
                self.random_sids.add(sid)
            elif overwrite and _covers(value):
                self.random_sids.discard(sid)
        self.ops.append(op)


def _covers(tensor: torch.Tensor) -> bool:
    return tensor.storage_offset() == 0 and tensor.numel() * tensor.element_size() == (
        tensor.untyped_storage().nbytes()
    )


# --- reading schemes -------------------------------------------------------------------


def _scalar(value: Any, default: float) -> float:
    return float(value) if isinstance(value, (int, float)) else default


def _op_args(op: _Op, names: tuple[str, ...], defaults: tuple[float, ...]) -> list[float]:
    found = []
    for position, (name, default) in enumerate(zip(names, defaults), start=1):
        value = op.kwargs.get(name, op.args[position] if len(op.args) > position else default)
        found.append(_scalar(value, default))
    return found


def _name(op: _Op) -> str:
    return str(op.func.__name__).split(".")[0]


def _trunc_normal(tail: list[_Op]) -> dict[str, float] | None:
    """``uniform_ -> erfinv_ -> mul_(std·√2) -> add_(mean) -> clamp_(low, high)``: the
    inverse-CDF sampler of ``torch.nn.init.trunc_normal_`` (and timm's copy of it)."""
    if [_name(o) for o in tail] != ["erfinv_", "mul_", "add_", "clamp_"]:
        return None
    scale, mean = _op_args(tail[1], ("other",), (1.0,))[0], _op_args(tail[2], ("other",), (0.0,))
    low, high = _op_args(tail[3], ("min", "max"), (-math.inf, math.inf))
    return {"mean": mean[0], "std": scale / math.sqrt(2.0), "low": low, "high": high}


def _classify(rec: _Recorder, ref: _Ref) -> NativeScheme:
    indices = rec.writes.get(ref.sid, [])
    ops = [rec.ops[i] for i in indices]
    base = None
    for position in range(len(ops) - 1, -1, -1):
        op = ops[position]
        if _name(op) in _OVERWRITES and any(_same(w, ref) for w in op.writes):
            base = position
            break
    random = ref.sid in rec.random_sids
    if base is None and not ops and rec.created_by.get(ref.sid, "").startswith("empty"):
        return NativeScheme("unset")
    if base is None:
        return NativeScheme("replayed" if random else "computed")
    op, tail = ops[base], ops[base + 1 :]
    partial = [o for o in tail if not any(_same(w, ref) for w in o.writes)]
    full_tail = [o for o in tail if o not in partial]
    note = "then partly overwritten (e.g. a padding row)" if partial else ""
    name = _name(op)
    if name == "normal_" and not full_tail:
        mean, std = _op_args(op, ("mean", "std"), (0.0, 1.0))
        return NativeScheme("normal", {"mean": mean, "std": std}, note)
    if name == "uniform_":
        low, high = _op_args(op, ("from", "to"), (0.0, 1.0))
        if not full_tail:
            return NativeScheme("uniform", {"low": low, "high": high}, note)
        trunc = _trunc_normal(full_tail)
        if trunc is not None:
            return NativeScheme("trunc_normal", trunc, note)
    if name == "trunc_normal_" and not full_tail:
        mean, std, low, high = (float(v) for v in op.args[1:5])
        return NativeScheme("trunc_normal", {"mean": mean, "std": std, "low": low, "high": high})
    if name == "orthogonal_" and not full_tail:
        gain = op.kwargs.get("gain", op.args[1] if len(op.args) > 1 else 1.0)
        return NativeScheme("orthogonal", {"gain": _scalar(gain, 1.0)}, note)
    if name in ("fill_", "zero_") and not full_tail:
        value = 0.0 if name == "zero_" else _op_args(op, ("value",), (0.0,))[0]
        if isinstance(op.args[1] if len(op.args) > 1 else None, _Ref):
            return NativeScheme("replayed" if random else "computed", {}, note)
        return NativeScheme("constant", {"value": value}, note)
    return NativeScheme("replayed" if random else "computed", {}, note)


def _same(a: _Ref, b: _Ref) -> bool:
    return a.offset == b.offset and math.prod(a.size) == math.prod(b.size)


# --- the recording ---------------------------------------------------------------------


@dataclass
class Recording:
    """A model's own init as a replayable log; see the module docstring.

    ``model`` is the model the factory built (on ``device``: ``"meta"`` unless the factory
    needed real values); ``schemes`` maps every parameter and buffer name (aliases
    included) to what its own init does.
    """

    model: nn.Module
    device: str
    schemes: dict[str, NativeScheme]
    buffers: set[str]
    _recorder: _Recorder
    _refs: dict[str, _Ref]

    def rules(self) -> RuleSet:
        """One rule per tensor (see :func:`native_rules`)."""
        rules = [self.schemes[n].rule(n, n in self.buffers) for n in self.schemes]
        return RuleSet(rules=rules, name="native", source="the model's own init, recorded")

    def replay(
        self,
        device: torch.device | str,
        seed: int,
        *,
        names: list[str] | None = None,
        generators: dict | None = None,
    ) -> dict[str, torch.Tensor]:
        """Every tensor's value after re-running the log on ``device``; random ops draw
        from generators seeded with ``seed`` (one per device type, as ``torch.manual_seed``
        seeds them). ``names`` limits the replay to the ops those tensors depend on (then
        random values differ from a full replay's; deterministic ones do not)."""
        target = torch.device(device)
        refs = self._refs if names is None else {n: self._refs[n] for n in names}
        ops = self._recorder.ops if names is None else _slice(self._recorder.ops, refs)
        gens = generators or {}
        real: dict[int, torch.Tensor] = {}

        def decode(value: Any) -> Any:
            if isinstance(value, _Ref):
                return _view(real[value.sid], value)
            if isinstance(value, torch.device) and value.type == "meta":
                return target
            return value

        last_use = _last_uses(ops, {ref.sid for ref in refs.values()})
        with torch.no_grad():
            for index, op in enumerate(ops):
                args = tree_map(decode, op.args)
                kwargs = tree_map(decode, op.kwargs)
                func = op.func
                if op.random:
                    func = _with_generator(func)
                    kwargs["generator"] = _generator(gens, _device_of(args, kwargs, target), seed)
                out = func(*args, **kwargs)
                outputs, _ = tree_flatten(out)
                for position, sid in op.created:
                    real[sid] = outputs[position]
                for sid in last_use.get(index, ()):
                    real.pop(sid, None)  # an intermediate no later op reads: free it now
        return {name: _view(real[ref.sid], ref) for name, ref in refs.items()}


def _last_uses(ops: list[_Op], keep: set[int]) -> dict[int, list[int]]:
    """op index -> the storages (other than ``keep``) no op after it touches."""
    last: dict[int, int] = {}
    for index, op in enumerate(ops):
        flat, _ = tree_flatten((op.args, op.kwargs))
        for sid in [v.sid for v in flat if isinstance(v, _Ref)] + [s for _, s in op.created]:
            last[sid] = index
    freed: dict[int, list[int]] = {}
    for sid, index in last.items():
        if sid not in keep:
            freed.setdefault(index, []).append(sid)
    return freed


def _slice(ops: list[_Op], refs: dict[str, _Ref]) -> list[_Op]:
    """The ops the storages of ``refs`` depend on, in order (walked backwards)."""
    needed = {ref.sid for ref in refs.values()}
    kept: list[_Op] = []
    for op in reversed(ops):
        touched = {sid for _, sid in op.created} | {w.sid for w in op.writes}
        if not touched & needed:
            continue
        kept.append(op)
        flat, _ = tree_flatten((op.args, op.kwargs))
        needed |= {v.sid for v in flat if isinstance(v, _Ref)}
    return kept[::-1]


def _with_generator(func: Any) -> Any:
    """The overload of a random op that takes a generator (``aten.randn.default`` has
    none; ``aten.randn.generator`` is the same op with one)."""
    if not isinstance(func, torch._ops.OpOverload):
        return func  # a whole init function (``_whole_calls``) takes ``generator=``
    names = [a.name for a in func._schema.arguments]
    if "generator" in names:
        return func
    packet = func.overloadpacket
    for overload in packet.overloads():
        candidate = getattr(packet, overload)
        others = [a.name for a in candidate._schema.arguments if a.name != "generator"]
        if "generator" in overload and others == names:
            return candidate
    raise NotImplementedError(f"{func} draws random values but has no generator overload")


def _generator(gens: dict, device: torch.device, seed: int) -> torch.Generator:
    key = device.type if device.index is None else f"{device.type}:{device.index}"
    if key not in gens:
        gens[key] = torch.Generator(device=device).manual_seed(seed)
    return gens[key]


def _device_of(args: Any, kwargs: dict, default: torch.device) -> torch.device:
    flat, _ = tree_flatten((args, kwargs))
    for value in flat:
        if isinstance(value, torch.Tensor):
            return value.device
        if isinstance(value, torch.device):
            return value
    return default


def _view(base: torch.Tensor, ref: _Ref) -> torch.Tensor:
    if base.dtype == ref.dtype:
        return base.as_strided(ref.size, ref.stride, ref.offset)
    view = torch.empty(0, dtype=ref.dtype, device=base.device)
    return view.set_(base.untyped_storage(), ref.offset, ref.size, ref.stride)


def _tensors(model: nn.Module) -> Iterator[tuple[str, torch.Tensor, bool]]:
    for name, param in model.named_parameters(remove_duplicate=False):
        yield name, param, False
    for name, buffer in model.named_buffers(remove_duplicate=False):
        yield name, buffer, True


def _finish(rec: _Recorder, model: nn.Module, device: str) -> Recording:
    refs: dict[str, _Ref] = {}
    schemes: dict[str, NativeScheme] = {}
    buffers = set()
    for name, tensor, is_buffer in _tensors(model):
        if _sid(tensor) not in rec.known:
            raise RuntimeError(
                f"{name} was not created while recording: build every tensor in the factory"
            )
        refs[name] = rec.ref(tensor)
        schemes[name] = _classify(rec, refs[name])
        if is_buffer:
            buffers.add(name)
    return Recording(
        model=model, device=device, schemes=schemes, buffers=buffers, _recorder=rec, _refs=refs
    )


class _MetaFactories(TorchFunctionMode):
    """Tensor factories called without a device make meta tensors, like
    ``torch.device("meta")``, except data constructors (``torch.tensor``): libraries probe
    the device context with ``torch.tensor([]).device`` and skip their init on meta (HF
    ``init_weights``), which would make the recording differ from a normal build."""

    def __init__(self, redirect: bool = True) -> None:
        super().__init__()
        self.redirect = redirect

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        if self.redirect and func in _meta_constructors() and kwargs.get("device") is None:
            kwargs["device"] = torch.device("meta")
        elif func in _DATA_CONSTRUCTORS and _is_meta(kwargs.get("device")):
            # Data made straight on meta is lost before any op sees it: make it on the CPU
            # and copy it over, so the log holds the values (RWKV's time-mix tables).
            kwargs["device"] = None
            return func(*args, **kwargs).to("meta")
        return func(*args, **kwargs)


_DATA_CONSTRUCTORS = (torch.tensor, torch.as_tensor, torch.asarray, torch.scalar_tensor)


def _is_meta(device: Any) -> bool:
    return device is not None and torch.device(device).type == "meta"


def _meta_constructors() -> set[Any]:
    from torch.utils._device import _device_constructors

    return set(_device_constructors()) - set(_DATA_CONSTRUCTORS)


class _WholeCall:
    """An init function replayed whole: since torch 2.13 ``trunc_normal_`` samples by
    rejection (a data-dependent number of draws) and ``orthogonal_``, ``sparse_`` and
    ``dirac_`` return early on meta tensors, so their ops cannot be recorded there."""

    def __init__(self, name: str, original: Callable[..., Any], random: bool) -> None:
        self.__name__ = name
        self.original = original
        self.random = random

    def __call__(self, tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not self.random:
            kwargs.pop("generator", None)
        return self.original(tensor, *args, **kwargs)


#: (module attribute of torch.nn.init, name in the log, draws random values)
_WHOLE = (
    ("_no_grad_trunc_normal_", "trunc_normal_", True),
    ("orthogonal_", "orthogonal_", True),
    ("sparse_", "sparse_", True),
    ("dirac_", "dirac_", False),
)


def _patch_sites(attribute: str) -> list[tuple[Any, str, Any]]:
    """Where an init function is looked up: ``torch.nn.init`` and the table HF
    transformers copied at import (``transformers.initialization.TORCH_INIT_FUNCTIONS``)."""
    sites: list[tuple[Any, str, Any]] = [(torch.nn.init, attribute, None)]
    hf = sys.modules.get("transformers.initialization")
    table = getattr(hf, "TORCH_INIT_FUNCTIONS", None)
    if isinstance(table, dict) and attribute in table:
        sites.append((table, attribute, "item"))
    return sites


@contextlib.contextmanager
def _whole_calls(recorder: _Recorder) -> Iterator[None]:
    """Log the functions of :data:`_WHOLE` as one op each (restored on exit)."""
    saved: list[tuple[Any, str, Any, Any]] = []
    try:
        for attribute, name, random in _WHOLE:
            original = getattr(torch.nn.init, attribute, None)
            if original is None:
                continue
            call = _WholeCall(name, original, random)
            for owner, key, kind in _patch_sites(attribute):
                old = owner[key] if kind == "item" else getattr(owner, key)
                saved.append((owner, key, kind, old))
                wrapper = _logged(recorder, call, old)
                if kind == "item":
                    owner[key] = wrapper
                else:
                    setattr(owner, key, wrapper)
        yield
    finally:
        for owner, key, kind, old in reversed(saved):
            if kind == "item":
                owner[key] = old
            else:
                setattr(owner, key, old)


def _logged(recorder: _Recorder, call: _WholeCall, old: Callable[..., Any]) -> Callable[..., Any]:
    def logged(tensor: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(tensor, torch.Tensor) or _sid(tensor) not in recorder.known:
            return old(tensor, *args, **kwargs)
        with torch.utils._python_dispatch._disable_current_modes():
            out = old(tensor, *args, **kwargs)
        kwargs.pop("generator", None)
        recorder.log_call(call, (tensor, *args), kwargs)
        return out

    return logged


def record(factory: Callable[[], nn.Module]) -> Recording:
    """Run ``factory`` (no arguments, returns the model) on meta and record its init.

    A factory that needs real values while building (``.item()``) is recorded on the CPU.
    The global RNG is left as it was.
    """
    if not callable(factory):
        raise TypeError(f"factory={factory!r} must be a callable that takes no argument")
    with torch.random.fork_rng(devices=[]):
        try:
            recorder = _Recorder()
            with _MetaFactories(), recorder, _whole_calls(recorder):
                model = factory()
            device = "meta"
        except (NotImplementedError, RuntimeError):
            recorder = _Recorder()
            with recorder, _whole_calls(recorder):
                model = factory()
            device = "cpu"
    if not isinstance(model, nn.Module):
        raise TypeError(f"factory returned {type(model).__name__}, not an nn.Module")
    return _finish(recorder, model, device)


def _meta_twin(model: nn.Module) -> nn.Module:
    """A copy of ``model`` whose tensors are fresh meta tensors (no values are copied)."""
    memo: dict[int, Any] = {}
    for _, tensor, _ in _tensors(model):
        if id(tensor) in memo:
            continue
        twin = torch.empty_like(tensor, device="meta")
        if isinstance(tensor, nn.Parameter):
            twin = nn.Parameter(twin, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = twin
    return copy.deepcopy(model, memo)


def _reset(module: nn.Module) -> None:
    for method in ("reset_parameters", "_reset_parameters"):
        found = getattr(module, method, None)
        if callable(found):
            found()
            return


def record_model(model: nn.Module) -> Recording:
    """Record the init methods of an already built ``model`` on a meta copy: each
    module's ``reset_parameters`` (children first) and, for an HF ``PreTrainedModel``, its
    ``initialize_weights``. Tensors they do not write were set by the constructors and
    are ``computed``/``replayed`` (kept). ``model`` is not changed."""
    twin = _meta_twin(model)
    recorder = _Recorder(placeholders=True)
    for _, tensor, _ in _tensors(twin):  # the twin's tensors enter the log as fresh storages
        if _sid(tensor) not in recorder.known:
            recorder.placeholder(tensor)
    modes = (_MetaFactories(redirect=False), recorder, _whole_calls(recorder))
    with torch.random.fork_rng(devices=[]), modes[0], modes[1], modes[2]:
        for module in _post_order(twin):
            _reset(module)
        hf_init = getattr(twin, "initialize_weights", None)
        if callable(hf_init):
            for module in twin.modules():
                module.__dict__.pop("_is_hf_initialized", None)
            hf_init()
    return _finish(recorder, twin, "meta")


def _post_order(module: nn.Module) -> list[nn.Module]:
    found: list[nn.Module] = []
    seen: set[int] = set()

    def visit(m: nn.Module) -> None:
        for child in m.children():
            if id(child) not in seen:
                seen.add(id(child))
                visit(child)
        found.append(m)

    visit(module)
    return found


def native_rules(model_or_factory: nn.Module | Callable[[], nn.Module]) -> RuleSet:
    """The model's own init as rules, one per tensor, labelled ``... [native]``.

    Given a factory, the whole construction is recorded (:func:`record`); given a built
    model, its init methods are (:func:`record_model`). Distributions become ``normal``,
    ``uniform``, ``truncated_normal`` or ``constant`` rules; computed and replayed tensors
    become ``keep`` rules (their values come from the model or from :func:`initlab.build`).
    """
    if isinstance(model_or_factory, nn.Module):
        return record_model(model_or_factory).rules()
    return record(model_or_factory).rules()


def install(model: nn.Module, values: dict[str, torch.Tensor]) -> None:
    """Replace every parameter and buffer of ``model`` by ``values`` (ties kept: names that
    shared one tensor share the new one)."""
    made: dict[int, torch.Tensor] = {}
    modules = dict(model.named_modules(remove_duplicate=False))
    for name, tensor, is_buffer in list(_tensors(model)):
        owner, _, local = name.rpartition(".")
        module = modules[owner]
        if id(tensor) not in made:
            value = values[name]
            if isinstance(tensor, nn.Parameter):
                value = nn.Parameter(value, requires_grad=tensor.requires_grad)
            made[id(tensor)] = value
        if is_buffer:
            module._buffers[local] = made[id(tensor)]
        else:
            module._parameters[local] = made[id(tensor)]  # type: ignore[assignment]
