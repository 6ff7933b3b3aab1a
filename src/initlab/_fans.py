"""Fans of a weight tensor under an explicit layout.

A layout says which axes of a weight are inputs, outputs, batch (independent
copies such as an expert stack) and receptive field (everything else), and
whether the tensor packs several independently scaled chunks (fused QKV, LSTM
gates). Fans are pure functions of the shape and the layout; nothing here
touches tensor data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from initlab._validation import unknown_name_error

__all__ = [
    "LAYOUTS",
    "Fans",
    "Layout",
    "LayoutLike",
    "chunk_bounds",
    "compute_fans",
    "get_layout",
]


@dataclass(frozen=True)
class Fans:
    """Fan-in and fan-out of one (chunk of a) weight.

    ``receptive_field`` is the product of the axes that are neither input,
    output nor batch (the kernel size of a convolution); ``batch`` is the
    product of the batch axes, which do not enter the fans.
    """

    fan_in: int
    fan_out: int
    receptive_field: int = 1
    batch: int = 1

    @property
    def fan_avg(self) -> float:
        """(fan_in + fan_out) / 2, Glorot & Bengio's averaged fan."""
        return (self.fan_in + self.fan_out) / 2

    def fan(self, mode: str) -> float:
        """The fan selected by ``mode`` ('fan_in', 'fan_out' or 'fan_avg')."""
        if mode == "fan_in":
            return self.fan_in
        if mode == "fan_out":
            return self.fan_out
        if mode == "fan_avg":
            return self.fan_avg
        raise unknown_name_error("mode", mode, FAN_MODES)


FAN_MODES = ("fan_in", "fan_out", "fan_avg")


@dataclass(frozen=True)
class Layout:
    """Which axes of a weight hold inputs, outputs and independent batch copies.

    Axes may be negative. ``groups`` divides the channel count stored on the
    full-channel axis (the output axis for ``"torch"``, the input axis for
    ``"torch_transposed"``) so grouped convolutions get their true fans; the
    default of 1 keeps PyTorch's rule. ``chunks`` packs independently scaled
    parameters along ``packed_axis`` (default: the first output axis): an int
    splits evenly (QKV: 3), a tuple gives each chunk's size (grouped-query QKV).
    ``leftover`` says what the remaining axes are: ``"receptive"`` (a kernel's
    spatial axes, which multiply both fans) or ``"batch"`` (independent copies,
    as the leading axes of a batched matmul weight).
    """

    in_axes: tuple[int, ...]
    out_axes: tuple[int, ...]
    batch_axes: tuple[int, ...] = ()
    groups: int = 1
    grouped_axis: str = "out"
    chunks: int | tuple[int, ...] = 1
    packed_axis: int | None = None
    leftover: str = "receptive"
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        if self.groups < 1:
            raise ValueError(f"groups={self.groups!r} must be a positive integer")
        if self.grouped_axis not in ("in", "out"):
            raise unknown_name_error("grouped_axis", self.grouped_axis, ("in", "out"))
        if self.leftover not in ("receptive", "batch"):
            raise unknown_name_error("leftover", self.leftover, ("receptive", "batch"))
        if isinstance(self.chunks, int):
            if self.chunks < 1:
                raise ValueError(f"chunks={self.chunks!r} must be a positive integer")
        elif not self.chunks or any(c < 1 for c in self.chunks):
            raise ValueError(f"chunks={self.chunks!r} must be positive chunk sizes")

    def with_(self, **changes: Any) -> Layout:
        """A copy with some fields changed, e.g. ``get_layout("torch").with_(chunks=3)``."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form; a built-in layout without changes serializes as its name."""
        if self.name in LAYOUTS and LAYOUTS[self.name] == self:
            return {"name": self.name}
        data = asdict(self)
        data["chunks"] = list(self.chunks) if isinstance(self.chunks, tuple) else self.chunks
        for key in ("in_axes", "out_axes", "batch_axes"):
            data[key] = list(data[key])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layout:
        """Inverse of :meth:`to_dict`; ``{"name": "torch", "chunks": 3}`` also works."""
        data = dict(data)
        name = data.pop("name", "custom")
        if name in LAYOUTS:
            return LAYOUTS[name].with_(**_tuplify(data)) if data else LAYOUTS[name]
        return cls(name=name, **_tuplify(data))


def _tuplify(data: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


LAYOUTS: dict[str, Layout] = {
    # nn.Linear (out, in) and nn.ConvNd (out, in/groups, *k): PyTorch's own rule.
    "torch": Layout(in_axes=(1,), out_axes=(0,), name="torch"),
    # nn.ConvTransposeNd stores (in, out/groups, *k): inputs are axis 0.
    "torch_transposed": Layout(
        in_axes=(0,), out_axes=(1,), grouped_axis="in", name="torch_transposed"
    ),
    # y = x @ W with W of shape (..., in, out); leading axes are independent batch copies.
    "matmul": Layout(in_axes=(-2,), out_axes=(-1,), leftover="batch", name="matmul"),
    # Keras / JAX / Flax kernels (*k, in, out): leading axes are the receptive field.
    "keras": Layout(in_axes=(-2,), out_axes=(-1,), name="keras"),
    # Expert stacks (E, out, in, *k): axis 0 indexes independent experts.
    "experts": Layout(in_axes=(2,), out_axes=(1,), batch_axes=(0,), name="experts"),
}

LayoutLike = str | Layout | Mapping[str, Any]


def get_layout(layout: LayoutLike) -> Layout:
    """Resolve a layout name, dict or :class:`Layout` to a :class:`Layout`."""
    if isinstance(layout, Layout):
        return layout
    if isinstance(layout, str):
        if layout not in LAYOUTS:
            raise unknown_name_error("layout", layout, LAYOUTS)
        return LAYOUTS[layout]
    if isinstance(layout, Mapping):
        return Layout.from_dict(layout)
    raise TypeError(f"layout={layout!r} must be a layout name, a dict or an initlab.Layout")


def _normalize_axes(axes: Sequence[int], ndim: int, what: str, shape: tuple[int, ...]) -> set[int]:
    out = set()
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ValueError(f"{what} axis {axis} is out of range for a weight of shape {shape}")
        out.add(axis % ndim)
    return out


def _check_rank(shape: tuple[int, ...]) -> None:
    if len(shape) < 2:
        raise ValueError(
            f"fans cannot be computed for a tensor of shape {shape} with fewer than 2 "
            "dimensions; fan-based schemes (xavier, kaiming, lecun, variance scaling) are for "
            "weight matrices and kernels: initialize vectors such as biases with zeros_, "
            "constant_, uniform_ or normal_ instead"
        )


def _packed_axis(layout: Layout, ndim: int, shape: tuple[int, ...]) -> int:
    axis = layout.packed_axis if layout.packed_axis is not None else layout.out_axes[0]
    return next(iter(_normalize_axes((axis,), ndim, "packed", shape)))


def chunk_bounds(shape: Sequence[int], layout: LayoutLike = "torch") -> list[tuple[int, int, int]]:
    """``(axis, start, length)`` of each packed chunk; one chunk for unpacked layouts.

    >>> chunk_bounds((12, 4), get_layout("torch").with_(chunks=3))
    [(0, 0, 4), (0, 4, 4), (0, 8, 4)]
    """
    shape = tuple(int(s) for s in shape)
    spec = get_layout(layout)
    _check_rank(shape)
    axis = _packed_axis(spec, len(shape), shape)
    if isinstance(spec.chunks, int):
        if shape[axis] % spec.chunks:
            raise ValueError(
                f"chunks={spec.chunks} does not divide axis {axis} of size {shape[axis]} "
                f"in a weight of shape {shape}"
            )
        sizes: tuple[int, ...] = (shape[axis] // spec.chunks,) * spec.chunks
    else:
        sizes = spec.chunks
        if sum(sizes) != shape[axis]:
            raise ValueError(
                f"chunk sizes {sizes} sum to {sum(sizes)}, not to axis {axis} of size "
                f"{shape[axis]} in a weight of shape {shape}"
            )
    starts = [sum(sizes[:i]) for i in range(len(sizes))]
    return [(axis, start, size) for start, size in zip(starts, sizes)]


def compute_fans(shape: Sequence[int], layout: LayoutLike = "torch") -> Fans:
    """Fan-in and fan-out of a weight of ``shape`` stored in ``layout``.

    For a packed layout the fans are those of one chunk (chunks must then be
    equal; use :func:`chunk_bounds` with uneven chunks and compute each).

    >>> compute_fans((64, 32, 3, 3))                      # Conv2d(32, 64, 3)
    Fans(fan_in=288, fan_out=576, receptive_field=9, batch=1)
    >>> compute_fans((32, 64, 3, 3), "torch_transposed")  # ConvTranspose2d(32, 64, 3)
    Fans(fan_in=288, fan_out=576, receptive_field=9, batch=1)
    >>> compute_fans((3, 3, 32, 64), "keras")
    Fans(fan_in=288, fan_out=576, receptive_field=9, batch=1)
    >>> compute_fans((8, 512, 128), "experts")            # 8 experts of Linear(128, 512)
    Fans(fan_in=128, fan_out=512, receptive_field=1, batch=8)
    >>> compute_fans((3 * 256, 256), get_layout("torch").with_(chunks=3))  # packed QKV
    Fans(fan_in=256, fan_out=256, receptive_field=1, batch=1)
    """
    shape = tuple(int(s) for s in shape)
    _check_rank(shape)
    spec = get_layout(layout)
    sizes = {length for _, _, length in chunk_bounds(shape, spec)}
    if len(sizes) > 1:
        raise ValueError(
            f"the chunks {spec.chunks} of a weight of shape {shape} have different fans; "
            "compute them per chunk with chunk_bounds()"
        )
    packed_axis = _packed_axis(spec, len(shape), shape)
    dims = list(shape)
    dims[packed_axis] = sizes.pop()
    return _fans_of(tuple(dims), spec, shape)


def _fans_of(dims: tuple[int, ...], spec: Layout, shape: tuple[int, ...]) -> Fans:
    ndim = len(dims)
    ins = _normalize_axes(spec.in_axes, ndim, "input", shape)
    outs = _normalize_axes(spec.out_axes, ndim, "output", shape)
    batch = _normalize_axes(spec.batch_axes, ndim, "batch", shape)
    if ins & outs or ins & batch or outs & batch:
        raise ValueError(f"layout {spec} uses an axis for two roles in a weight of shape {shape}")
    rest = set(range(ndim)) - ins - outs - batch
    if spec.leftover == "batch":
        batch, rest = batch | rest, set()
    receptive = math.prod(dims[a] for a in rest)
    fan_in = math.prod(dims[a] for a in ins) * receptive
    fan_out = math.prod(dims[a] for a in outs) * receptive
    if spec.groups > 1:
        grouped_axes = outs if spec.grouped_axis == "out" else ins
        channels = math.prod(dims[a] for a in grouped_axes)
        if channels % spec.groups:
            raise ValueError(
                f"groups={spec.groups} does not divide the channels of a weight of shape "
                f"{shape} ({channels} {spec.grouped_axis}put channels)"
            )
        if spec.grouped_axis == "out":
            fan_out //= spec.groups
        else:
            fan_in //= spec.groups
    return Fans(fan_in, fan_out, receptive, math.prod(dims[a] for a in batch))
