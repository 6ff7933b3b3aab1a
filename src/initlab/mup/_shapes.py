"""Which dimensions of each parameter grow with width, from two (or three) shapes.

μP treats a parameter by how many of its dimensions go to infinity with width
(Yang et al. 2022, "Tensor Programs V", Table 3; Yang & Hu 2021): a weight whose
input and output dimensions both grow is **hidden** (matrix-like); one whose
output dimension grows but whose input is fixed (a first layer, an embedding) is
**input**-like; one whose input grows but whose output is fixed (the readout) is
**output**-like; a 1-D parameter with a growing dimension (bias, norm scale) is a
**vector**, treated like an input weight (Table 3's "input weights & all biases"
column, with fan_in 1); a parameter with no growing dimension is **fixed** and
μP leaves it as under standard parametrization.

Nothing is stored on tensors (no ``p.infshape``): a dimension grows when it differs
between the base shapes and the reference shapes (the model itself, or a
``delta`` model when the model *is* the base width), and the width multipliers
are ratios of the model's axis sizes to the base's. The input and output axes come
from initlab's layouts (:mod:`initlab._fans`): ``nn.Linear`` and ``nn.ConvNd`` are
``(out, in, *k)``, ``nn.ConvTransposeNd`` ``(in, out/groups, *k)``, an embedding
table ``(vocab, dim)`` with the vocabulary as its input axis, a packed QKV
projection three chunks of ``(E, E)``, an expert stack ``(experts, out, in)``.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from initlab._fans import Layout, LayoutLike, compute_fans, get_layout
from initlab.rules._roles import TensorSite, parameter_role, parameter_sites

__all__ = [
    "KINDS",
    "ShapesLike",
    "WidthEntry",
    "classify",
    "parameter_layout",
    "shapes_of",
]

#: Width classes (Tensor Programs V, Table 3), in the order the plan prints them.
KINDS = ("input", "hidden", "output", "vector", "fixed")

# nn.Embedding / EmbeddingBag store (vocab, dim): a one-hot input over the vocabulary
# feeds the table, so the vocabulary is the input axis and dim the output axis.
EMBEDDING_LAYOUT = Layout(in_axes=(0,), out_axes=(1,), name="embedding")

_RNN_GATES = {"LSTM": 4, "GRU": 3}

ShapesLike = nn.Module | Mapping[str, Sequence[int]]


def shapes_of(model: ShapesLike) -> dict[str, tuple[int, ...]]:
    """``{qualified name: shape}`` of every parameter (all aliases); JSON-ready as lists.

    A base "shape file" is just this dict; a model on the meta device gives it for free.

    >>> shapes_of(nn.Linear(3, 2))
    {'weight': (2, 3), 'bias': (2,)}
    """
    if isinstance(model, nn.Module):
        return {n: tuple(p.shape) for n, p in model.named_parameters(remove_duplicate=False)}
    if not isinstance(model, Mapping):
        raise TypeError(
            f"base={model!r} must be an nn.Module or a mapping of parameter name to shape"
        )
    return {str(k): tuple(int(s) for s in v) for k, v in model.items()}


def _override(name: str, layouts: Mapping[str, LayoutLike]) -> Layout | None:
    for pattern, layout in layouts.items():
        if fnmatch.fnmatchcase(name, pattern):
            return get_layout(layout)
    return None


def parameter_layout(
    name: str,
    module: nn.Module,
    tensor: torch.Tensor,
    layouts: Mapping[str, LayoutLike] | None = None,
) -> Layout | None:
    """The layout of parameter ``name`` (owned by ``module``); None for 0-D and 1-D tensors
    and for tokens and position tables (added to the stream: vector-like).

    ``layouts`` maps qualified-name globs to layouts and is tried first. A tensor of 3 or
    more dimensions outside a convolution needs a declared layout (an expert stack
    ``(E, out, in)`` is ``"experts"``), except in modules named ``*Experts`` (HF
    transformers' fused experts, whose ``gate_up_proj`` packs two chunks).

    >>> parameter_layout("attn.in_proj_weight", nn.MultiheadAttention(8, 2),
    ...                  torch.empty(24, 8)).chunks
    3
    """
    found = _override(name, layouts or {})
    if found is not None:
        return found
    local = name.rpartition(".")[2]
    if tensor.dim() < 2:
        return None
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return get_layout("torch_transposed").with_(groups=module.groups)
    if isinstance(module, nn.modules.conv._ConvNd):
        return get_layout("torch").with_(groups=module.groups)
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)):
        return EMBEDDING_LAYOUT
    if isinstance(module, nn.MultiheadAttention) and local == "in_proj_weight":
        return get_layout("torch").with_(chunks=3)
    if isinstance(module, nn.RNNBase) and local.startswith("weight_"):
        return get_layout("torch").with_(chunks=_RNN_GATES.get(module.mode, 1))
    if type(module).__name__.endswith("Experts") and tensor.dim() == 3:
        chunks = 2 if "gate_up" in local else 1
        return get_layout("experts").with_(chunks=chunks)
    if type(module).__name__ == "Conv1D" and tensor.dim() == 2:
        return get_layout("matmul")  # HF GPT-2's Conv1D: y = x @ W, W stored (in, out)
    if parameter_role(module, local, tensor) in ("token", "position_embedding"):
        # A class token (1, 1, d) or position table (1, N, d) is added to the stream: no
        # width axis goes in, so it is vector-like (TP5 Table 8: fan_in 1), as a bias.
        return None
    if tensor.dim() == 2:
        return get_layout("torch")
    raise ValueError(
        f"parameter {name!r} of shape {tuple(tensor.shape)} in {type(module).__name__} has "
        f"{tensor.dim()} dimensions and no known layout; declare it, e.g. "
        f"layouts={{{name!r}: 'experts'}} for an (experts, out, in) stack"
    )


@dataclass(frozen=True)
class WidthEntry:
    """One parameter: its shapes, layout, width class and width multipliers.

    ``in_mult`` and ``out_mult`` are the ratios of the model's input (output) axis sizes
    to the base's, 1 where those axes do not grow; for a vector ``in_mult`` is 1 and
    ``out_mult`` its length ratio. ``fan_in``/``fan_out`` are per packed chunk.
    """

    name: str
    shape: tuple[int, ...]
    base_shape: tuple[int, ...]
    layout: str | None
    kind: str
    fan_in: int
    fan_out: int
    base_fan_in: int
    base_fan_out: int
    in_mult: float
    out_mult: float
    module: str
    module_type: str
    role: str
    tied: tuple[str, ...] = ()

    def to_record(self) -> dict[str, Any]:
        """JSON-ready dict."""
        record = asdict(self)
        for key in ("shape", "base_shape", "tied"):
            record[key] = list(record[key])
        return record


def _layout_label(layout: Layout | None) -> str | None:
    if layout is None:
        return None
    changed = [f"{k}={getattr(layout, k)}" for k in ("groups", "chunks") if getattr(layout, k) != 1]
    return f"{layout.name}({','.join(changed)})" if changed else layout.name


def _axes_product(shape: tuple[int, ...], axes: Sequence[int]) -> int:
    return math.prod(shape[a % len(shape)] for a in axes)


def _grows(base: tuple[int, ...], ref: tuple[int, ...], axes: Sequence[int]) -> bool:
    return any(base[a % len(base)] != ref[a % len(ref)] for a in axes)


def _kind(in_grows: bool, out_grows: bool) -> str:
    if in_grows and out_grows:
        return "hidden"
    if out_grows:
        return "input"
    if in_grows:
        return "output"
    return "fixed"


def _check_names(model_shapes: Mapping[str, Any], other: Mapping[str, Any], what: str) -> None:
    missing = sorted(set(model_shapes) - set(other))
    extra = sorted(set(other) - set(model_shapes))
    if missing or extra:
        raise ValueError(
            f"the {what} does not have the model's parameters: missing {missing[:5]}, "
            f"unexpected {extra[:5]}; {what} must be the same architecture at another width"
        )


def _entry(
    site: TensorSite,
    role: str,
    layouts: tuple[Layout | None, Layout | None],
    base: tuple[int, ...],
    ref: tuple[int, ...],
) -> WidthEntry:
    layout, base_layout = layouts
    shape = tuple(site.tensor.shape)
    if len(base) != len(shape) or len(ref) != len(shape):
        raise ValueError(
            f"parameter {site.name!r} has shape {shape} but base shape {base} and reference "
            f"shape {ref}: the number of dimensions must match"
        )
    common: dict[str, Any] = {
        "name": site.name,
        "shape": shape,
        "base_shape": base,
        "layout": _layout_label(layout),
        "module": site.module_name,
        "module_type": type(site.module).__name__,
        "role": role,
        "tied": tuple(a[0] for a in site.aliases),
    }
    if layout is None:  # 0-D and 1-D: one output axis, fan_in 1 (TP5, Table 8 note)
        grows = base != ref
        n, n0 = math.prod(shape), math.prod(base)
        kind = "vector" if grows else "fixed"
        mult = n / n0 if grows else 1.0
        return WidthEntry(
            **common,
            kind=kind,
            fan_in=1,
            fan_out=n,
            base_fan_in=1,
            base_fan_out=n0,
            in_mult=1.0,
            out_mult=mult,
        )
    fans, base_fans = compute_fans(shape, layout), compute_fans(base, base_layout or layout)
    in_grows = _grows(base, ref, layout.in_axes)
    out_grows = _grows(base, ref, layout.out_axes)
    in_mult = _axes_product(shape, layout.in_axes) / _axes_product(base, layout.in_axes)
    out_mult = _axes_product(shape, layout.out_axes) / _axes_product(base, layout.out_axes)
    return WidthEntry(
        **common,
        kind=_kind(in_grows, out_grows),
        fan_in=fans.fan_in,
        fan_out=fans.fan_out,
        base_fan_in=base_fans.fan_in,
        base_fan_out=base_fans.fan_out,
        in_mult=in_mult if in_grows else 1.0,
        out_mult=out_mult if out_grows else 1.0,
    )


def classify(
    model: nn.Module,
    base: ShapesLike,
    delta: ShapesLike | None = None,
    *,
    layouts: Mapping[str, LayoutLike] | None = None,
) -> list[WidthEntry]:
    """One :class:`WidthEntry` per parameter storage (tied names listed once), in model order.

    ``base``: the same architecture at the base width (a model, possibly on the meta
    device, or :func:`shapes_of`'s dict). A dimension grows when it differs between
    ``base`` and ``delta`` (default: the model), so a model at the base width itself
    needs a ``delta`` at another width to know which dimensions are widths.

    >>> wide = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.Linear(64, 2))
    >>> narrow = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 16), nn.Linear(16, 2))
    >>> for e in classify(wide, narrow)[::2]:
    ...     print(e.name, e.kind, e.in_mult, e.out_mult)
    0.weight input 1.0 4.0
    2.weight hidden 4.0 4.0
    3.weight output 4.0 1.0
    """

    model_shapes = shapes_of(model)
    base_shapes = shapes_of(base)
    _check_names(model_shapes, base_shapes, "base")
    ref_shapes = model_shapes if delta is None else shapes_of(delta)
    if delta is not None:
        _check_names(model_shapes, ref_shapes, "delta")
    entries = []
    for site in parameter_sites(model):
        role = parameter_role(site.module, site.local_name, site.tensor)
        layout = parameter_layout(site.name, site.module, site.tensor, layouts)
        pair = (layout, _base_layout(base, site.name, layouts))
        entries.append(_entry(site, role, pair, base_shapes[site.name], ref_shapes[site.name]))
    return entries


def _base_layout(
    base: ShapesLike, name: str, layouts: Mapping[str, LayoutLike] | None
) -> Layout | None:
    """The base model's own layout for ``name`` (its groups may differ: a depthwise conv's
    groups grow with width); None for a shape dict, whose model layout is then used."""
    if not isinstance(base, nn.Module):
        return None
    tensor = base.get_parameter(name)
    return parameter_layout(name, base.get_submodule(name.rpartition(".")[0]), tensor, layouts)
