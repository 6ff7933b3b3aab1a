"""What one storage is filled with: the objects the engine resolves rules into.

Every tensor of a plan resolves to one :class:`Fill`. A fill describes itself for the
plan (scheme, spec, config, layout, note) and writes its values in place
(:meth:`Fill.write_`); the engine never branches on the kind of fill. The kinds:

- :class:`SchemeFill`: a registered initializer (a rule's scheme or PyTorch's
  default), and the padding row it zeroes (packed chunks are the initializer's own:
  ``initlab.initializers.with_layout``).
- :class:`KeepFill`: the values stay as they are.
- :class:`ForgetGateFill`: an LSTM bias with forget-gate bias ``value``.
- :class:`CopyFill`: pretrained values.

Rules name registered initializers by their registry name, and three special schemes
registered here in :data:`SPECIAL_SCHEMES` with one interface (``resolve`` a
:class:`Target` into a fill, or None where the scheme does not apply):
``keep``, ``lstm_forget_bias`` and ``torch_default``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from initlab._initializers import Chunked, Initializer, InitSpec
from initlab.rng import GeneratorLike
from initlab.rng._shards import copy_from_full_, is_dtensor
from initlab.rules._torchdefault import TorchDefault, running_stat_default, torch_default

__all__ = [
    "SPECIAL_SCHEMES",
    "CopyFill",
    "Fill",
    "ForgetGateFill",
    "KeepFill",
    "SchemeFill",
    "SpecialScheme",
    "Target",
    "padding_row",
    "scheme_fill",
    "torch_default_fill",
]


@dataclass(frozen=True)
class Target:
    """The tensor a rule is resolved for, under the name that matched."""

    name: str
    module: nn.Module
    parent: nn.Module | None
    role: str
    tensor: torch.Tensor

    @property
    def local(self) -> str:
        return self.name.rpartition(".")[2]

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.tensor.shape)


@dataclass(kw_only=True)
class Fill:
    """How one storage gets its values (base: nothing is written)."""

    scheme: str
    source: str = "rule"
    note: str = ""
    spec: InitSpec | None = None
    config: dict[str, Any] | None = None
    layout: str | None = None
    #: Draws random numbers (needs a floating-point tensor; sharded: keyed rng).
    random: bool = False
    #: Chunks and padding rows need the whole tensor: not writable shard by shard.
    whole_tensor_only: bool = False

    def write_(self, tensor: torch.Tensor, generator: GeneratorLike, *, parity: bool) -> bool:
        """Write the values into ``tensor`` in place; False when nothing was written."""
        return False


@dataclass(kw_only=True)
class KeepFill(Fill):
    """The tensor keeps the values it has."""

    source: str = "kept"


@dataclass(kw_only=True)
class SchemeFill(Fill):
    """A registered initializer, filled whole or chunk by chunk."""

    initializer: Initializer
    padding_idx: int | None = None
    #: A draw PyTorch makes and then overwrites (MHA ``out_proj.bias``): parity mode only.
    predraw: Initializer | None = None

    def write_(self, tensor: torch.Tensor, generator: GeneratorLike, *, parity: bool) -> bool:
        if parity and self.predraw is not None:
            self.predraw.fill_(tensor, generator)
        if tensor.numel() == 0:
            return True
        if not tensor.dtype.is_floating_point:  # constants only: random ones are plan errors
            tensor.fill_(int(self.initializer.spec(tuple(tensor.shape)).mean))
            return True
        self.initializer.fill_(tensor, generator)
        if self.padding_idx is not None:
            tensor[self.padding_idx].zero_()
        return True


@dataclass(kw_only=True)
class ForgetGateFill(Fill):
    """LSTM biases: zero, with ``value`` on the forget gate of ``bias_ih`` (gates i, f, g, o),
    so the summed bias b_ih + b_hh starts at ``value`` on the forget gate
    (Gers, Schmidhuber & Cummins 2000; Jozefowicz et al. 2015 use 1)."""

    value: float
    input_bias: bool

    def write_(self, tensor: torch.Tensor, generator: GeneratorLike, *, parity: bool) -> bool:
        tensor.zero_()
        if self.input_bias:
            hidden = tensor.shape[0] // 4
            tensor[hidden : 2 * hidden] = self.value
        return True


@dataclass(kw_only=True)
class CopyFill(Fill):
    """Values copied from a checkpoint (a full tensor; a sharded target takes its shard)."""

    values: torch.Tensor
    source: str = "pretrained"

    def write_(self, tensor: torch.Tensor, generator: GeneratorLike, *, parity: bool) -> bool:
        if is_dtensor(tensor):
            copy_from_full_(tensor, self.values)
        else:
            tensor.copy_(self.values)
        return True


# --- special schemes -------------------------------------------------------------------


@dataclass(frozen=True)
class SpecialScheme:
    """A scheme rules can name besides the initializer registry."""

    name: str
    summary: str
    #: ``(target, args) -> fill``, or None where the scheme does not apply to the target
    #: (the rule then does not match and the next rule is tried).
    resolve: Callable[[Target, Mapping[str, Any]], Fill | None]


def _check_dtype(init: Initializer, scheme: str, dtype: torch.dtype) -> None:
    """Random schemes need floating-point storage; only constants fill other dtypes."""
    if init.random and not dtype.is_floating_point:
        name = str(dtype).removeprefix("torch.")
        raise ValueError(
            f"scheme {scheme!r} draws random values and cannot fill a {name} tensor; "
            "use a constant scheme (zeros, ones, constant), 'keep', or a floating-point dtype"
        )


def padding_row(target: Target, init: Initializer) -> int | None:
    """The embedding row a random scheme leaves at zero (``padding_idx``), if any."""
    padding = getattr(target.module, "padding_idx", None)
    if target.role == "embedding" and padding is not None and init.random:
        return int(padding)
    return None


def scheme_fill(
    target: Target, init: Initializer, scheme: str, spec: InitSpec, **kw: Any
) -> SchemeFill:
    """A :class:`SchemeFill` for ``init`` on ``target``, checked and described."""
    _check_dtype(init, scheme, target.tensor.dtype)
    fill = SchemeFill(
        scheme=scheme,
        initializer=init,
        spec=spec,
        config=init.get_config(),
        random=init.random,
        padding_idx=padding_row(target, init),
        whole_tensor_only=isinstance(init, Chunked),
        layout=_layout_label(getattr(init, "layout", None)),
        **kw,
    )
    if fill.padding_idx is not None:
        fill.note = f"padding_idx row {fill.padding_idx} zeroed"
        fill.whole_tensor_only = True
    return fill


def _torch_default(target: Target) -> TorchDefault | None:
    if target.role == "running_stats":
        init = running_stat_default(target.local)
        return TorchDefault(init) if init is not None else None
    if target.role in ("buffer", "frozen"):
        return None
    return torch_default(target.module, target.local, target.parent)


def torch_default_fill(target: Target, source: str = "torch-default") -> SchemeFill | None:
    """PyTorch's own default for ``target`` as a fill, or None where PyTorch has none."""
    default = _torch_default(target)
    if default is None:
        return None
    init = default.initializer
    return scheme_fill(
        target,
        init,
        f"torch_default:{type(init).__name__}",
        init.spec(target.shape),
        predraw=default.predraw,
        source=source,
    )


def _layout_label(layout: Any) -> str | None:
    if layout is None:
        return None
    data = layout.to_dict() if hasattr(layout, "to_dict") else {"name": layout}
    return str(data["name"]) if list(data) == ["name"] else str(data)


def _keep(target: Target, args: Mapping[str, Any]) -> Fill:
    return KeepFill(scheme="keep", note="values kept by rule")


def _forget_gate(target: Target, args: Mapping[str, Any]) -> Fill:
    if not isinstance(target.module, (nn.LSTM, nn.LSTMCell)):
        raise ValueError(
            f"lstm_forget_bias applies to LSTM biases, not {type(target.module).__name__}"
        )
    value = float(args.get("value", 1.0))
    input_bias = target.local.startswith("bias_ih")
    # One quarter of the entries hold ``value``, the rest 0.
    spec = (
        InitSpec("constant", abs(value) * math.sqrt(3) / 4, value / 4, abs(value))
        if input_bias
        else InitSpec("constant", 0.0, 0.0, 0.0)
    )
    return ForgetGateFill(
        scheme="lstm_forget_bias",
        value=value,
        input_bias=input_bias,
        spec=spec,
        config={"value": value},
        whole_tensor_only=True,
    )


def _torch_default_scheme(target: Target, args: Mapping[str, Any]) -> Fill | None:
    return torch_default_fill(target)


#: The schemes a rule can name that are not initializers in the registry.
SPECIAL_SCHEMES: dict[str, SpecialScheme] = {
    s.name: s
    for s in (
        SpecialScheme(
            "torch_default",
            "PyTorch's own default for the module (matches only where PyTorch has one)",
            _torch_default_scheme,
        ),
        SpecialScheme("keep", "leave the values as they are", _keep),
        SpecialScheme(
            "lstm_forget_bias",
            "LSTM biases zero with the forget-gate bias set to args['value'] (default 1)",
            _forget_gate,
        ),
    )
}
