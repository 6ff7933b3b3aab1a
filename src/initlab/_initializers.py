"""Initializer objects: validated when built, seeded explicitly, serializable.

An initializer is called with a shape (or a tensor to fill, or a NumPy array)
and returns filled values. Seeding rules, the same for every class:

- ``seed=S``: reproducible. Each call without ``name`` draws a new stream
  (S, call number), so one instance used for several layers never gives two
  layers the same values (the Keras trap); ``name="fc1.weight"`` selects the
  stream (S, name), independent of call order.
- ``seed=None``: a seed is drawn once from the operating system at construction
  (never from PyTorch's global generator).
- ``generator=``: an explicit ``torch.Generator`` or Sampler overrides both.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from initlab import _functional as F
from initlab._fans import FAN_MODES, Fans, LayoutLike, chunk_bounds, compute_fans, get_layout
from initlab._gains import calculate_gain
from initlab._registry import register
from initlab._validation import (
    check_choice,
    check_finite,
    check_in_range,
    check_positive,
)
from initlab.rng import GeneratorLike, seeded_generator

__all__ = [
    "Constant",
    "DeltaOrthogonal",
    "GlorotNormal",
    "GlorotTruncatedNormal",
    "GlorotUniform",
    "HeNormal",
    "HeTruncatedNormal",
    "HeUniform",
    "Identity",
    "InitSpec",
    "Initializer",
    "KaimingNormal",
    "KaimingUniform",
    "LecunNormal",
    "LecunTruncatedNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "Sparse",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
]

ShapeLike = int | tuple[int, ...] | list[int] | torch.Size


@dataclass(frozen=True)
class InitSpec:
    """What an initializer will draw for a shape, computed without sampling.

    ``std`` is the standard deviation of the values (0 for constants); ``bound``
    the largest magnitude a value can take, when bounded; ``chunk_stds`` the std
    of each packed chunk when a layout packs several.
    """

    distribution: str
    std: float
    mean: float = 0.0
    bound: float | None = None
    fans: Fans | None = None
    chunk_stds: tuple[float, ...] = ()


@dataclass(kw_only=True)
class Initializer:
    """Base class: subclasses are keyword-only dataclasses whose fields are their config."""

    seed: int | None = None
    random: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.seed is not None and (
            isinstance(self.seed, bool) or not isinstance(self.seed, int)
        ):
            raise TypeError(f"seed={self.seed!r} must be an int or None")
        self._base_seed = self.seed if self.seed is not None else secrets.randbits(63)
        self._calls = 0
        self.validate()

    # -- to override ------------------------------------------------------------
    def validate(self) -> None:
        """Check the configuration; raise with the argument, value and what is allowed."""

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        """Fill ``tensor`` in place from ``generator``."""
        raise NotImplementedError

    def spec(self, shape: ShapeLike) -> InitSpec:
        """The distribution this initializer gives a weight of ``shape`` (no sampling)."""
        raise NotImplementedError

    # -- shared behaviour -------------------------------------------------------
    def __call__(
        self,
        shape_or_tensor: ShapeLike | torch.Tensor | np.ndarray,
        dtype: torch.dtype | np.dtype | type | None = None,
        device: torch.device | str | None = None,
        *,
        name: str | None = None,
        generator: GeneratorLike = None,
    ) -> Any:
        """Return values for a shape, or fill a given tensor or NumPy array in place.

        A NumPy ``dtype`` (or a NumPy array to fill) gives NumPy output.

        >>> HeNormal(seed=0)((3, 4)).shape
        torch.Size([3, 4])
        >>> HeNormal(seed=0)((3, 4), dtype=np.float32).dtype
        dtype('float32')
        """
        if isinstance(shape_or_tensor, np.ndarray):
            self.fill_(torch.from_numpy(shape_or_tensor), self._generator(name, generator, "cpu"))
            return shape_or_tensor
        if isinstance(shape_or_tensor, torch.Tensor):
            target = shape_or_tensor
            self.fill_(target, self._generator(name, generator, target.device))
            return target
        shape = _as_shape(shape_or_tensor)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            array = np.empty(shape, dtype=np.dtype(dtype))
            return self(array, name=name, generator=generator)
        target = torch.empty(shape, dtype=dtype, device=device)
        self.fill_(target, self._generator(name, generator, target.device))
        return target

    def numpy(
        self, shape: ShapeLike, dtype: Any = np.float32, *, name: str | None = None
    ) -> np.ndarray:
        """The same values as a NumPy array (for networks written in NumPy)."""
        return self(shape, dtype=np.dtype(dtype), name=name)  # type: ignore[no-any-return]

    def _generator(
        self, name: str | None, generator: GeneratorLike, device: torch.device | str
    ) -> GeneratorLike:
        if generator is not None:
            return generator
        if not self.random or torch.device(device).type == "meta":
            return None
        if name is not None:
            return seeded_generator(self._base_seed, "name", name, device=device)
        self._calls += 1
        return seeded_generator(self._base_seed, "call", self._calls - 1, device=device)

    def reset(self) -> None:
        """Restart the per-call streams: the next call repeats the first call's values."""
        self._calls = 0

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-ready dict."""
        # Fields fixed by a specialization (init=False, e.g. HeNormal's scale) are not config.
        return {
            f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self) if f.init
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """Rebuild from :meth:`get_config`'s dict."""
        names = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = set(config) - names
        if unknown:
            raise TypeError(
                f"{cls.__name__} has no argument(s) {sorted(unknown)}; it takes {sorted(names)}"
            )
        return cls(**config)

    def clone(self) -> Initializer:
        """A fresh instance with the same configuration and its call counter at 0.

        An unseeded instance (``seed=None``) clones to another unseeded one, which
        draws its own operating-system seed: pass ``seed=`` to repeat values.
        """
        return self.from_config(self.get_config())


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _as_shape(shape: Any) -> tuple[int, ...]:
    if isinstance(shape, int) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        dims = tuple(int(s) for s in shape)
    except (TypeError, ValueError):
        raise TypeError(f"shape={shape!r} must be an int, a sequence of ints or a tensor") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape={dims} has a negative dimension")
    return dims


# --- constants ------------------------------------------------------------------------


@register("constant")
@dataclass(kw_only=True)
class Constant(Initializer):
    """Every value equal to ``value``."""

    value: float = 0.0
    random: ClassVar[bool] = False

    def validate(self) -> None:
        check_finite("value", self.value)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.constant_(tensor, self.value)

    def spec(self, shape: ShapeLike) -> InitSpec:
        return InitSpec("constant", 0.0, mean=float(self.value), bound=abs(float(self.value)))


@register("zero", "zeros")
@dataclass(kw_only=True)
class Zeros(Constant):
    """All zeros: the usual bias and the zero-init of residual branches."""

    value: float = field(default=0.0, init=False, repr=False)


@register("one", "ones")
@dataclass(kw_only=True)
class Ones(Constant):
    """All ones: the usual normalization scale."""

    value: float = field(default=1.0, init=False, repr=False)


# --- plain distributions ---------------------------------------------------------------


@register("uniform")
@dataclass(kw_only=True)
class RandomUniform(Initializer):
    """U(low, high)."""

    low: float = -0.05
    high: float = 0.05

    def validate(self) -> None:
        if check_finite("low", self.low) > check_finite("high", self.high):
            raise ValueError(f"low={self.low!r} must not exceed high={self.high!r}")

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.uniform_(tensor, self.low, self.high, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        half = (self.high - self.low) / 2
        mean = (self.high + self.low) / 2
        return InitSpec("uniform", half / math.sqrt(3), mean, max(abs(self.low), abs(self.high)))


@register("normal")
@dataclass(kw_only=True)
class RandomNormal(Initializer):
    """N(mean, std²)."""

    mean: float = 0.0
    std: float = 0.05

    def validate(self) -> None:
        check_finite("mean", self.mean)
        check_positive("std", self.std, allow_zero=True)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.normal_(tensor, self.mean, self.std, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        return InitSpec("normal", float(self.std), float(self.mean))


@register()
@dataclass(kw_only=True)
class TruncatedNormal(Initializer):
    """N(mean, std²) truncated to [mean - k·std, mean + k·std], k = ``trunc_std_multiple``.

    ``std`` is the std *before* truncation, as in ``torch.nn.init.trunc_normal_``
    and Keras. Absolute ``low``/``high`` replace the symmetric bounds when given.
    """

    mean: float = 0.0
    std: float = 0.05
    trunc_std_multiple: float = 2.0
    low: float | None = None
    high: float | None = None

    def validate(self) -> None:
        check_finite("mean", self.mean)
        check_positive("std", self.std)
        check_positive("trunc_std_multiple", self.trunc_std_multiple)
        low, high = self.bounds()
        if not low < high:
            raise ValueError(f"low={low!r} must be less than high={high!r}")

    def bounds(self) -> tuple[float, float]:
        """The absolute truncation interval."""
        half = self.trunc_std_multiple * self.std
        low = self.mean - half if self.low is None else check_finite("low", self.low)
        high = self.mean + half if self.high is None else check_finite("high", self.high)
        return low, high

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.trunc_normal_(tensor, self.mean, self.std, *self.bounds(), generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        low, high = self.bounds()
        mean, std = _truncated_moments(self.mean, self.std, low, high)
        return InitSpec("truncated_normal", std, mean, max(abs(low), abs(high)))


def _truncated_moments(mean: float, std: float, low: float, high: float) -> tuple[float, float]:
    """Mean and std of N(mean, std²) truncated to [low, high] (closed form)."""
    alpha, beta = (low - mean) / std, (high - mean) / std

    def pdf(x: float) -> float:
        return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2))

    mass = cdf(beta) - cdf(alpha)
    shift = (pdf(alpha) - pdf(beta)) / mass
    var = 1 + (alpha * pdf(alpha) - beta * pdf(beta)) / mass - shift**2
    return mean + std * shift, std * math.sqrt(max(var, 0.0))


# --- variance scaling and its specializations ------------------------------------------


def _scaling_spec(shape: ShapeLike, layout: LayoutLike, std_of: Any, distribution: str) -> InitSpec:
    dims = _as_shape(shape)
    spec = get_layout(layout)
    chunks = chunk_bounds(dims, spec)
    stds = []
    for axis, _, length in chunks:
        part = dims[:axis] + (length,) + dims[axis + 1 :]
        stds.append(std_of(compute_fans(part, spec.with_(chunks=1))))
    first_part = dims[: chunks[0][0]] + (chunks[0][2],) + dims[chunks[0][0] + 1 :]
    fans = compute_fans(first_part, spec.with_(chunks=1))
    # The whole tensor's std mixes the chunks' zero-mean variances weighted by their sizes.
    sizes = [length for _, _, length in chunks]
    mixed = sum(n * s * s for n, s in zip(sizes, stds)) / sum(sizes)
    std = math.sqrt(mixed) if len(set(stds)) > 1 else stds[0]
    bound = {
        "uniform": math.sqrt(3.0) * max(stds),
        "truncated_normal": 2.0 * max(stds) / F.TRUNC2_STD,
    }.get(distribution)
    return InitSpec(distribution, std, 0.0, bound, fans, tuple(stds) if len(stds) > 1 else ())


@register()
@dataclass(kw_only=True)
class VarianceScaling(Initializer):
    """Zero-mean values with variance scale / n (see :func:`initlab.variance_scaling_`)."""

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"
    layout: LayoutLike = "torch"

    def validate(self) -> None:
        check_positive("scale", self.scale)
        check_choice("mode", self.mode, FAN_MODES)
        check_choice("distribution", self.distribution, F.DISTRIBUTIONS)
        get_layout(self.layout)

    def _scale(self) -> float:
        return float(self.scale)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.variance_scaling_(
            tensor, self._scale(), self.mode, self.distribution, generator, layout=self.layout
        )

    def spec(self, shape: ShapeLike) -> InitSpec:
        scale, mode = self._scale(), self.mode
        return _scaling_spec(
            shape, self.layout, lambda fans: F.scaled_std(scale, fans, mode), self.distribution
        )


@dataclass(kw_only=True)
class _Glorot(VarianceScaling):
    gain: float = 1.0
    scale: float = field(default=1.0, init=False, repr=False)
    mode: str = field(default="fan_avg", init=False, repr=False)

    def validate(self) -> None:
        check_positive("gain", self.gain)
        super().validate()

    def _scale(self) -> float:
        return float(self.gain) ** 2


@register("xavier_uniform")
@dataclass(kw_only=True)
class GlorotUniform(_Glorot):
    """Glorot & Bengio (2010) uniform: U(±gain·√(6/(fan_in+fan_out))). Aka Xavier uniform."""

    distribution: str = field(default="uniform", init=False, repr=False)


@register("xavier_normal")
@dataclass(kw_only=True)
class GlorotNormal(_Glorot):
    """Glorot & Bengio (2010) normal: N(0, 2·gain²/(fan_in+fan_out)), untruncated."""

    distribution: str = field(default="normal", init=False, repr=False)


@register()
@dataclass(kw_only=True)
class GlorotTruncatedNormal(_Glorot):
    """Glorot normal truncated at ±2σ, variance exact (Keras ``GlorotNormal``, JAX)."""

    distribution: str = field(default="truncated_normal", init=False, repr=False)


@dataclass(kw_only=True)
class _He(VarianceScaling):
    mode: str = "fan_in"
    negative_slope: float = 0.0
    scale: float = field(default=2.0, init=False, repr=False)

    def validate(self) -> None:
        check_finite("negative_slope", self.negative_slope)
        super().validate()

    def _scale(self) -> float:
        return 2.0 / (1.0 + float(self.negative_slope) ** 2)


@register()
@dataclass(kw_only=True)
class HeUniform(_He):
    """He et al. (2015) uniform: U(±√(6/((1+slope²)·fan))). For the ReLU family."""

    distribution: str = field(default="uniform", init=False, repr=False)


@register()
@dataclass(kw_only=True)
class HeNormal(_He):
    """He et al. (2015) normal: N(0, 2/((1+slope²)·fan)), untruncated. For the ReLU family."""

    distribution: str = field(default="normal", init=False, repr=False)


@register()
@dataclass(kw_only=True)
class HeTruncatedNormal(_He):
    """He normal truncated at ±2σ, variance exact (Keras ``HeNormal``, JAX ``he_normal``)."""

    distribution: str = field(default="truncated_normal", init=False, repr=False)


@dataclass(kw_only=True)
class _Lecun(VarianceScaling):
    mode: str = "fan_in"
    scale: float = field(default=1.0, init=False, repr=False)


@register()
@dataclass(kw_only=True)
class LecunUniform(_Lecun):
    """LeCun et al. (1998) uniform: U(±√(3/fan_in)). For SELU."""

    distribution: str = field(default="uniform", init=False, repr=False)


@register()
@dataclass(kw_only=True)
class LecunNormal(_Lecun):
    """LeCun et al. (1998) normal: N(0, 1/fan_in), untruncated. For SELU."""

    distribution: str = field(default="normal", init=False, repr=False)


@register()
@dataclass(kw_only=True)
class LecunTruncatedNormal(_Lecun):
    """LeCun normal truncated at ±2σ, variance exact (Keras ``LecunNormal``, JAX, timm)."""

    distribution: str = field(default="truncated_normal", init=False, repr=False)


@dataclass(kw_only=True)
class _Kaiming(Initializer):
    """PyTorch's kaiming_*_ with its own arguments (``a`` = negative slope)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"
    layout: LayoutLike = "torch"
    distribution: ClassVar[str] = "normal"

    def validate(self) -> None:
        check_finite("a", self.a)
        check_choice("mode", self.mode, ("fan_in", "fan_out"))
        calculate_gain(self.nonlinearity, self.a)
        get_layout(self.layout)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        fill = F.kaiming_uniform_ if self.distribution == "uniform" else F.kaiming_normal_
        return fill(tensor, self.a, self.mode, self.nonlinearity, generator, layout=self.layout)

    def spec(self, shape: ShapeLike) -> InitSpec:
        gain = calculate_gain(self.nonlinearity, self.a)
        mode = self.mode
        return _scaling_spec(
            shape,
            self.layout,
            lambda fans: gain / math.sqrt(fans.fan(mode)) if fans.fan(mode) else 0.0,
            self.distribution,
        )


@register("kaiming_uniform")
@dataclass(kw_only=True)
class KaimingUniform(_Kaiming):
    """``torch.nn.init.kaiming_uniform_`` as an object; ``a=√5`` is PyTorch's Linear default."""

    distribution: ClassVar[str] = "uniform"


@register("kaiming_normal")
@dataclass(kw_only=True)
class KaimingNormal(_Kaiming):
    """``torch.nn.init.kaiming_normal_`` as an object."""

    distribution: ClassVar[str] = "normal"


# --- structured -------------------------------------------------------------------------


def _unit_std(shape: ShapeLike, gain: float) -> float:
    """Std of the entries of a (semi-)orthogonal matrix of ``shape`` times ``gain``."""
    dims = _as_shape(shape)
    if len(dims) < 2 or 0 in dims:
        return 0.0
    rows, cols = dims[0], math.prod(dims[1:])
    return abs(gain) * math.sqrt(min(rows, cols) / (rows * cols))


@register()
@dataclass(kw_only=True)
class Orthogonal(Initializer):
    """(Semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013); see ``orthogonal_``."""

    gain: float = 1.0

    def validate(self) -> None:
        check_finite("gain", self.gain)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.orthogonal_(tensor, self.gain, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        F.check_orthogonal_shape(_as_shape(shape))
        return InitSpec("orthogonal", _unit_std(shape, self.gain), bound=abs(self.gain))


@register()
@dataclass(kw_only=True)
class DeltaOrthogonal(Initializer):
    """Orthogonal centre tap, zeros elsewhere (Xiao et al., 2018); see ``delta_orthogonal_``."""

    gain: float = 1.0

    def validate(self) -> None:
        check_finite("gain", self.gain)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.delta_orthogonal_(tensor, self.gain, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        dims = _as_shape(shape)
        F.check_delta_orthogonal_shape(dims)
        taps = math.prod(dims[2:])
        return InitSpec(
            "delta_orthogonal",
            _unit_std(dims[:2], self.gain) / math.sqrt(taps),
            bound=abs(self.gain),
        )


@register("eye", "dirac")
@dataclass(kw_only=True)
class Identity(Initializer):
    """Identity map times ``gain``: eye for 2-D weights, Dirac kernel for convolutions."""

    gain: float = 1.0
    groups: int = 1
    random: ClassVar[bool] = False

    def validate(self) -> None:
        check_finite("gain", self.gain)
        if isinstance(self.groups, bool) or not isinstance(self.groups, int) or self.groups < 1:
            raise ValueError(f"groups={self.groups!r} must be a positive integer")

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.identity_(tensor, self.gain, self.groups)

    def spec(self, shape: ShapeLike) -> InitSpec:
        dims = _as_shape(shape)
        F.check_identity_shape(dims, self.groups)
        total = math.prod(dims) or 1
        ones = min(dims[0] // self.groups, dims[1]) * self.groups
        mean = self.gain * ones / total
        std = abs(self.gain) * math.sqrt(max(ones / total - (ones / total) ** 2, 0.0))
        return InitSpec("identity", std, mean, abs(self.gain))


@register()
@dataclass(kw_only=True)
class Sparse(Initializer):
    """Sparse N(0, std²) with ``ceil(sparsity·rows)`` zeros per column (Martens, 2010)."""

    sparsity: float = 0.1
    std: float = 0.01

    def validate(self) -> None:
        check_in_range("sparsity", self.sparsity, 0.0, 1.0)
        check_positive("std", self.std, allow_zero=True)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.sparse_(tensor, self.sparsity, self.std, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        dims = _as_shape(shape)
        F.check_sparse_shape(dims)
        rows = dims[0]
        kept = (rows - math.ceil(self.sparsity * rows)) / rows if rows else 0.0
        return InitSpec("sparse", self.std * math.sqrt(kept))
