"""Fans of a weight tensor under an explicit layout.

A layout says which axes of a weight are inputs, outputs, batch (independent
copies such as an expert stack) and receptive field (everything else), and
whether the tensor packs several independently scaled chunks (fused QKV, LSTM
gates). Fans are pure functions of the shape and the layout; nothing here
touches tensor data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from initlab._validation import closest_match, unknown_name_error

__all__ = [
    "FAN_MODES",
    "LAYOUTS",
    "Chunk",
    "Fans",
    "Layout",
    "LayoutLike",
    "chunk_bounds",
    "compute_fans",
    "get_layout",
    "walk_chunks",
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

    @property
    def fan_geo_avg(self) -> float:
        """√(fan_in · fan_out), the geometric mean of the fans (JAX's ``fan_geo_avg``)."""
        return math.sqrt(self.fan_in * self.fan_out)

    def fan(self, mode: str) -> float:
        """The fan selected by ``mode`` (one of :data:`FAN_MODES`)."""
        if mode == "fan_in":
            return self.fan_in
        if mode == "fan_out":
            return self.fan_out
        if mode == "fan_avg":
            return self.fan_avg
        if mode == "fan_geo_avg":
            return self.fan_geo_avg
        raise unknown_name_error("mode", mode, FAN_MODES)


#: Fan modes of variance scaling: Keras's three and JAX's geometric mean (JAX 0.4.14+).
FAN_MODES = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")


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
        for key in ("in_axes", "out_axes", "batch_axes"):
            axes = getattr(self, key)
            if not isinstance(axes, tuple) or not all(_is_int(a) for a in axes):
                raise TypeError(f"{key}={axes!r} must be a tuple of ints")
        if not _is_int(self.groups) or self.groups < 1:
            raise ValueError(f"groups={self.groups!r} must be a positive integer")
        if self.grouped_axis not in ("in", "out"):
            raise unknown_name_error("grouped_axis", self.grouped_axis, ("in", "out"))
        if self.leftover not in ("receptive", "batch"):
            raise unknown_name_error("leftover", self.leftover, ("receptive", "batch"))
        if self.packed_axis is not None and not _is_int(self.packed_axis):
            raise TypeError(f"packed_axis={self.packed_axis!r} must be an int or None")
        if _is_int(self.chunks):
            if self.chunks < 1:  # type: ignore[operator]
                raise ValueError(f"chunks={self.chunks!r} must be a positive integer")
        elif (
            not isinstance(self.chunks, tuple)
            or not self.chunks
            or any(not _is_int(c) or c < 1 for c in self.chunks)
        ):
            raise ValueError(
                f"chunks={self.chunks!r} must be positive chunk sizes (an int, or a tuple of ints)"
            )

    def with_(self, **changes: Any) -> Layout:
        """A copy with some fields changed, e.g. ``get_layout("torch").with_(chunks=3)``."""
        allowed = [f.name for f in fields(self)]
        unknown = sorted(set(changes) - set(allowed))
        if unknown:
            raise TypeError(
                f"layout has no field(s) {unknown}; it takes {allowed}"
                + _did_you_mean(unknown[0], allowed)
            )
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
        """Inverse of :meth:`to_dict`; ``{"name": "torch", "chunks": 3}`` also works.

        A ``name`` that is not a built-in layout needs ``in_axes`` and ``out_axes``
        (a custom layout); a near miss of a built-in name gets the closest match.
        """
        data = dict(data)
        name = data.pop("name", "custom")
        allowed = [f.name for f in fields(cls) if f.name != "name"]
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise TypeError(
                f"layout has no field(s) {unknown}; it takes 'name' and {allowed}"
                + _did_you_mean(unknown[0], allowed)
            )
        if name in LAYOUTS:
            return LAYOUTS[name].with_(**_tuplify(data)) if data else LAYOUTS[name]
        if not isinstance(name, str):
            raise TypeError(f"layout name={name!r} must be a string")
        missing = [key for key in ("in_axes", "out_axes") if key not in data]
        if missing:
            hint = closest_match(name, LAYOUTS)
            if hint is not None:
                raise unknown_name_error("layout name", name, LAYOUTS)
            raise ValueError(
                f"layout name={name!r} is not a built-in layout ({', '.join(map(repr, LAYOUTS))})"
                f" and a custom layout needs {missing}"
            )
        return cls(name=name, **_tuplify(data))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _did_you_mean(name: str, known: Sequence[str]) -> str:
    hint = closest_match(name, known)
    return "" if hint is None else f" (did you mean {hint!r}?)"


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


def _as_dims(shape: Sequence[int]) -> tuple[int, ...]:
    """A shape as a tuple of ints; negative sizes are refused (no tensor has them)."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Iterable):
        raise TypeError(f"shape={shape!r} must be a sequence of ints")
    dims = tuple(shape)
    if not all(_is_int(d) or (hasattr(d, "__index__") and not isinstance(d, bool)) for d in dims):
        raise TypeError(f"shape={dims!r} must be a sequence of ints")
    dims = tuple(int(d) for d in dims)
    if any(d < 0 for d in dims):
        raise ValueError(f"shape={dims} has a negative dimension; sizes must be >= 0")
    return dims


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


@dataclass(frozen=True)
class Chunk:
    """One independently scaled chunk of a packed weight: where it lies and what it is.

    ``axis``/``start``/``length`` locate it (``tensor.narrow(axis, start, length)``);
    ``shape`` is its own shape and ``layout`` the unpacked layout its fans follow.
    """

    axis: int
    start: int
    length: int
    shape: tuple[int, ...]
    layout: Layout

    @property
    def numel(self) -> int:
        """Number of elements in the chunk."""
        return math.prod(self.shape)

    @property
    def fans(self) -> Fans:
        """Fans of this chunk alone (computed on demand: only fan-based schemes need them)."""
        return _fans_of(self.shape, self.layout, self.shape)

    def narrow(self, tensor: Any) -> Any:
        """The chunk's view of a tensor of the packed shape."""
        return tensor.narrow(self.axis, self.start, self.length)


def walk_chunks(shape: Sequence[int], layout: LayoutLike = "torch") -> list[Chunk]:
    """The one chunk walker: every independently scaled chunk of a weight, in order.

    Fillers fill each chunk's view and ``Initializer.spec`` describes each chunk's
    shape, from the same list, so what is drawn and what is described cannot drift.
    An unpacked layout gives one chunk, the whole tensor.

    >>> gqa = {"name": "torch", "chunks": [8, 2, 2]}  # grouped-query QKV
    >>> [(c.start, c.length, c.fans.fan_out) for c in walk_chunks((12, 4), gqa)]
    [(0, 8, 8), (8, 2, 2), (10, 2, 2)]
    """
    spec = get_layout(layout)
    dims = _as_dims(shape)
    unpacked = spec.with_(chunks=1, packed_axis=None) if spec.chunks != 1 else spec
    out = []
    for axis, start, length in chunk_bounds(dims, spec):
        part = dims[:axis] + (length,) + dims[axis + 1 :]
        out.append(Chunk(axis, start, length, part, unpacked))
    return out


def chunk_bounds(shape: Sequence[int], layout: LayoutLike = "torch") -> list[tuple[int, int, int]]:
    """``(axis, start, length)`` of each packed chunk; one chunk for unpacked layouts.

    >>> chunk_bounds((12, 4), get_layout("torch").with_(chunks=3))
    [(0, 0, 4), (0, 4, 4), (0, 8, 4)]
    """
    shape = _as_dims(shape)
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
    shape = _as_dims(shape)
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
