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

Seeds follow initlab's one rule (:func:`initlab._validation.check_seed`): ints in
[0, 2**64), bools refused.

Names follow two families, each drawing what its namesake draws:

- Keras's names (``HeNormal``, ``GlorotNormal``, ``LecunNormal``, ``VarianceScaling``,
  ``RandomNormal``, ...) take Keras's arguments and draw Keras's distributions: their
  ``*Normal`` variants are truncated at ±2σ with the variance kept exact. A Keras 3
  config (``keras.initializers.serialize``) loads to the distribution Keras draws.
- PyTorch's names (``XavierNormal``, ``KaimingNormal``, ``KaimingUniform``) take
  ``torch.nn.init``'s arguments and draw its untruncated distributions.

``GlorotUniform`` is the same distribution in both (alias ``XavierUniform``).
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch

from initlab import _functional as F
from initlab._fans import FAN_MODES, Chunk, Fans, LayoutLike, get_layout, walk_chunks
from initlab._gains import calculate_gain
from initlab._registry import deserialize, get, register, serialize
from initlab._scaling import (
    distribution_bound,
    glorot_std,
    identity_moments,
    kaiming_std,
    mix_chunks,
    semi_orthogonal_std,
    sparse_std,
    truncated_moments,
    uniform_moments,
    variance_std,
)
from initlab._validation import (
    as_mapping,
    check_choice,
    check_finite,
    check_in_range,
    check_positive,
    check_seed,
    check_unknown_keys,
)
from initlab.rng import GeneratorLike, seeded_generator

__all__ = [
    "Chunked",
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
    "XavierNormal",
    "XavierUniform",
    "Zeros",
    "with_layout",
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

    #: Other spellings of config keys, read by :meth:`from_config` (Keras's ``stddev``...).
    config_aliases: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        self.seed = check_seed("seed", self.seed)
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
        """Rebuild from :meth:`get_config`'s dict (or a Keras 3 config of the same class).

        Keras's key spellings (``stddev``, ``minval``, ``maxval``) are read as
        initlab's (``std``, ``low``, ``high``); Keras's ``input_axes``/``output_axes``
        are accepted when None (Keras's default) and refused otherwise, since they
        name axes of a Keras kernel: pass ``layout=`` for a torch weight.
        """
        config = dict(as_mapping("config", config))
        for keras_key in ("input_axes", "output_axes"):
            if config.pop(keras_key, None) is not None:
                raise ValueError(
                    f"{cls.__name__}: Keras's {keras_key} name axes of a Keras kernel "
                    "(in, out); for a torch weight say which axes are inputs and outputs "
                    "with layout={'name': ..., 'in_axes': [...], 'out_axes': [...]}"
                )
        for alias, key in cls.config_aliases.items():
            if alias in config:
                if key in config:
                    raise TypeError(
                        f"{cls.__name__} got both {alias!r} and {key!r}; they are one argument"
                    )
                config[key] = config.pop(alias)
        names = [f.name for f in dataclasses.fields(cls) if f.init]
        check_unknown_keys(cls.__name__, config, names)
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
    config_aliases: ClassVar[dict[str, str]] = {"minval": "low", "maxval": "high"}

    def validate(self) -> None:
        if check_finite("low", self.low) > check_finite("high", self.high):
            raise ValueError(f"low={self.low!r} must not exceed high={self.high!r}")

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.uniform_(tensor, self.low, self.high, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        mean, std = uniform_moments(float(self.low), float(self.high))
        return InitSpec("uniform", std, mean, max(abs(self.low), abs(self.high)))


@register("normal")
@dataclass(kw_only=True)
class RandomNormal(Initializer):
    """N(mean, std²)."""

    mean: float = 0.0
    std: float = 0.05
    config_aliases: ClassVar[dict[str, str]] = {"stddev": "std"}

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
    config_aliases: ClassVar[dict[str, str]] = {"stddev": "std"}

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
        mean, std = truncated_moments(self.mean, self.std, low, high)
        return InitSpec("truncated_normal", std, mean, max(abs(low), abs(high)))


# --- the fan-based family: one core, one walker ------------------------------------------


def describe_chunks(
    shape: ShapeLike, layout: LayoutLike, std_of: Any, distribution: str
) -> InitSpec:
    """The spec of a fan-based scheme: each chunk the walker yields gets the std its own
    fans give (the same calls the fill makes), mixed into the whole tensor's std."""
    chunks = walk_chunks(_as_shape(shape), layout)
    stds = [float(std_of(chunk.fans)) for chunk in chunks]
    _, std = mix_chunks([(chunk.numel, 0.0, s) for chunk, s in zip(chunks, stds)])
    bound = distribution_bound(distribution, max(stds))
    chunk_stds = tuple(stds) if len(stds) > 1 else ()
    return InitSpec(distribution, std, 0.0, bound, chunks[0].fans, chunk_stds)


@dataclass(kw_only=True)
class _FanScheme(Initializer):
    """A zero-mean scheme whose std comes from the fans: subclasses give :meth:`std_of`
    and ``distribution``; filling and describing share the walker and the math."""

    if TYPE_CHECKING:  # fields of every subclass, declared there to keep their order
        layout: LayoutLike
        distribution: str

    def validate(self) -> None:
        get_layout(self.layout)

    def std_of(self, fans: Fans) -> float:
        """The std of a chunk with these fans (pure; see :mod:`initlab._scaling`)."""
        raise NotImplementedError

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        with torch.no_grad():
            if F._prepare(tensor, type(self).__name__, self.layout):
                return tensor
            return F.fill_per_chunk_(tensor, self.layout, self.std_of, self.distribution, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        return describe_chunks(shape, self.layout, self.std_of, self.distribution)


@register()
@dataclass(kw_only=True)
class VarianceScaling(_FanScheme):
    """Zero-mean values with variance scale / n (see :func:`initlab.variance_scaling_`).

    ``mode``: fan_in, fan_out, fan_avg or fan_geo_avg (JAX). ``distribution``:
    ``"uniform"``, ``"normal"`` (untruncated, as JAX and timm; Keras's
    ``"untruncated_normal"`` is read as it) or ``"truncated_normal"`` (±2σ, variance
    exact; the default, as in Keras and JAX — timm's ``variance_scaling_``
    defaults to ``"normal"``). Names are case-insensitive.
    """

    scale: float = 1.0
    mode: str = "fan_in"
    distribution: str = "truncated_normal"
    layout: LayoutLike = "torch"

    def validate(self) -> None:
        check_positive("scale", self.scale)
        self.mode = check_choice("mode", _lower(self.mode), FAN_MODES)
        self.distribution = F.check_distribution(self.distribution)
        super().validate()

    def _scale(self) -> float:
        return float(self.scale)

    def std_of(self, fans: Fans) -> float:
        return variance_std(self._scale(), fans, self.mode)


def _lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


@dataclass(kw_only=True)
class _Glorot(_FanScheme):
    gain: float = 1.0
    layout: LayoutLike = "torch"

    def validate(self) -> None:
        self.gain = check_positive("gain", self.gain)
        super().validate()

    def std_of(self, fans: Fans) -> float:
        return glorot_std(self.gain, fans)  # PyTorch's expression: xavier_*_ bits


@register("xavier_uniform", "XavierUniform")
@dataclass(kw_only=True)
class GlorotUniform(_Glorot):
    """Glorot & Bengio (2010) uniform: U(±gain·√(6/(fan_in+fan_out))).

    Keras ``GlorotUniform`` and ``torch.nn.init.xavier_uniform_`` (same bits for the
    same generator) draw this one distribution; ``XavierUniform`` is its alias.
    """

    distribution: str = field(default="uniform", init=False, repr=False)


@register("glorot_truncated_normal", "GlorotTruncatedNormal")
@dataclass(kw_only=True)
class GlorotNormal(_Glorot):
    """Glorot normal as Keras and JAX draw it: ±2σ truncated, variance 2·gain²/(in+out).

    PyTorch's untruncated ``xavier_normal_`` is :class:`XavierNormal`.
    """

    distribution: str = field(default="truncated_normal", init=False, repr=False)


@register("xavier_normal")
@dataclass(kw_only=True)
class XavierNormal(_Glorot):
    """``torch.nn.init.xavier_normal_`` as an object: N(0, 2·gain²/(in+out)), untruncated.

    Keras's ``GlorotNormal`` truncates: that is :class:`GlorotNormal`.
    """

    distribution: str = field(default="normal", init=False, repr=False)


@dataclass(kw_only=True)
class _He(VarianceScaling):
    mode: str = "fan_in"
    negative_slope: float = 0.0
    scale: float = field(default=2.0, init=False, repr=False)

    def validate(self) -> None:
        self.negative_slope = check_finite("negative_slope", self.negative_slope)
        super().validate()

    def _scale(self) -> float:
        return 2.0 / (1.0 + float(self.negative_slope) ** 2)


@register()
@dataclass(kw_only=True)
class HeUniform(_He):
    """He et al. (2015) uniform, Keras's arguments: U(±√(6/((1+slope²)·fan))).

    PyTorch's ``kaiming_uniform_`` signature (``a``, ``nonlinearity``) is
    :class:`KaimingUniform`; with the defaults both draw the same distribution.
    """

    distribution: str = field(default="uniform", init=False, repr=False)


@register("he_truncated_normal", "HeTruncatedNormal")
@dataclass(kw_only=True)
class HeNormal(_He):
    """He normal as Keras and JAX draw it: ±2σ truncated, variance 2/((1+slope²)·fan).

    PyTorch's untruncated ``kaiming_normal_`` is :class:`KaimingNormal`.
    """

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


@register("lecun_truncated_normal", "LecunTruncatedNormal")
@dataclass(kw_only=True)
class LecunNormal(_Lecun):
    """LeCun normal as Keras, JAX and timm draw it: ±2σ truncated, variance 1/fan_in. For SELU.

    The untruncated one is ``KaimingNormal(nonlinearity="linear")`` (the function
    :func:`initlab.lecun_normal_` is untruncated too).
    """

    distribution: str = field(default="truncated_normal", init=False, repr=False)


@dataclass(kw_only=True)
class _Kaiming(_FanScheme):
    """PyTorch's kaiming_*_ with its own arguments (``a`` = negative slope)."""

    a: float = 0.0
    mode: str = "fan_in"
    nonlinearity: str = "leaky_relu"
    layout: LayoutLike = "torch"

    def validate(self) -> None:
        self.a = check_finite("a", self.a)
        self.mode = check_choice("mode", _lower(self.mode), ("fan_in", "fan_out"))
        calculate_gain(self.nonlinearity, self.a)
        super().validate()

    def std_of(self, fans: Fans) -> float:
        return kaiming_std(calculate_gain(self.nonlinearity, self.a), fans, self.mode)


@register("kaiming_uniform")
@dataclass(kw_only=True)
class KaimingUniform(_Kaiming):
    """``torch.nn.init.kaiming_uniform_`` as an object; ``a=√5`` is PyTorch's Linear default."""

    distribution: str = field(default="uniform", init=False, repr=False)


@register("kaiming_normal")
@dataclass(kw_only=True)
class KaimingNormal(_Kaiming):
    """``torch.nn.init.kaiming_normal_`` as an object: untruncated (Keras's HeNormal is not)."""

    distribution: str = field(default="normal", init=False, repr=False)


#: Documented aliases: one class, two spellings (same arguments, same distribution).
XavierUniform = GlorotUniform
HeTruncatedNormal = HeNormal
GlorotTruncatedNormal = GlorotNormal
LecunTruncatedNormal = LecunNormal


# --- structured -------------------------------------------------------------------------


@register("OrthogonalInitializer")
@dataclass(kw_only=True)
class Orthogonal(Initializer):
    """(Semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013); see ``orthogonal_``."""

    gain: float = 1.0

    def validate(self) -> None:
        check_finite("gain", self.gain)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        return F.orthogonal_(tensor, self.gain, generator)

    def spec(self, shape: ShapeLike) -> InitSpec:
        dims = _as_shape(shape)
        F.check_orthogonal_shape(dims)
        std = semi_orthogonal_std(dims[0], math.prod(dims[1:]), self.gain)
        return InitSpec("orthogonal", std, bound=abs(self.gain))


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
            semi_orthogonal_std(dims[0], dims[1], self.gain) / math.sqrt(taps),
            bound=abs(self.gain),
        )


@register("eye", "dirac", "IdentityInitializer")
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
        mean, std = identity_moments(dims, float(self.gain), self.groups)
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
        return InitSpec("sparse", sparse_std(dims[0], float(self.sparsity), float(self.std)))


# --- packed chunks for schemes without a layout ---------------------------------------------


@dataclass(kw_only=True)
class Chunked(Initializer):
    """Fill each chunk of a packed ``layout`` with its own call of ``initializer``.

    For schemes that have no fans and hence no ``layout`` of their own (orthogonal per
    LSTM gate, identity per QKV chunk, ...). The chunks are filled in order from this
    object's seed or generator (the inner initializer's seed is not used), and
    :meth:`spec` describes each chunk with the inner spec and mixes them, through the
    same chunk walker the fill uses. Build one with :func:`with_layout`. Not in the
    registry (it wraps another scheme rather than naming one); ``from_config`` reads
    its own ``get_config``.

    >>> init = Chunked(initializer=Orthogonal(), layout={"name": "torch", "chunks": 4}, seed=0)
    >>> w = init((8, 2))
    >>> torch.allclose(w[:2] @ w[:2].T, torch.eye(2), atol=1e-6)
    True
    """

    initializer: Any = None
    layout: LayoutLike = "torch"

    def validate(self) -> None:
        if self.initializer is None:
            raise TypeError("Chunked needs initializer= (a name, a config dict or an Initializer)")
        inner = get(self.initializer)
        if not isinstance(inner, Initializer):
            raise TypeError(f"initializer={self.initializer!r} must resolve to an Initializer")
        self.initializer = inner
        get_layout(self.layout)

    @property
    def random(self) -> bool:  # type: ignore[override]
        return bool(self.initializer.random)

    def _chunks(self, shape: tuple[int, ...]) -> list[Chunk]:
        if len(shape) < 2:
            chunks = get_layout(self.layout).chunks
            raise ValueError(
                f"layout chunks={chunks!r} split a tensor of at least 2 dimensions, not one of "
                f"shape {shape}; drop the layout for this tensor"
            )
        return walk_chunks(shape, self.layout)

    def fill_(self, tensor: torch.Tensor, generator: GeneratorLike) -> torch.Tensor:
        with torch.no_grad():
            for chunk in self._chunks(tuple(tensor.shape)):
                self.initializer.fill_(chunk.narrow(tensor), generator)
        return tensor

    def spec(self, shape: ShapeLike) -> InitSpec:
        chunks = self._chunks(_as_shape(shape))
        specs = [self.initializer.spec(chunk.shape) for chunk in chunks]
        mean, std = mix_chunks([(c.numel, s.mean, s.std) for c, s in zip(chunks, specs)])
        bounds = [s.bound for s in specs]
        bound = None if any(b is None for b in bounds) else max(b for b in bounds if b is not None)
        chunk_stds = tuple(s.std for s in specs) if len(specs) > 1 else ()
        return InitSpec(specs[0].distribution, std, mean, bound, specs[0].fans, chunk_stds)

    def get_config(self) -> dict[str, Any]:
        layout = get_layout(self.layout).to_dict()
        return {"seed": self.seed, "initializer": serialize(self.initializer), "layout": layout}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        config = dict(as_mapping("config", config))
        if isinstance(config.get("initializer"), dict):
            config["initializer"] = deserialize(config["initializer"])
        return super().from_config(config)


def with_layout(initializer: Initializer, layout: LayoutLike | None) -> Initializer:
    """``initializer`` applied under ``layout``: the one call a model walker needs.

    A fan-based scheme takes the layout itself (a copy with ``layout`` replaced); a
    scheme without a layout gets :class:`Chunked` when the layout packs chunks, and is
    returned unchanged otherwise. Either way ``spec(shape)`` and ``fill_`` then walk
    the chunks themselves.
    """
    if layout is None:
        return initializer
    resolved = get_layout(layout)
    if "layout" in {f.name for f in dataclasses.fields(initializer)}:
        if isinstance(initializer, Chunked):
            return Chunked(
                initializer=initializer.initializer, layout=resolved, seed=initializer.seed
            )
        return dataclasses.replace(initializer, layout=resolved)  # type: ignore[call-arg]
    if resolved.chunks == 1:
        return initializer
    return Chunked(initializer=initializer, layout=resolved, seed=initializer.seed)
