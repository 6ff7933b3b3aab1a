"""In-place initializers: PyTorch's ``torch.nn.init`` and what it lacks.

Every function fills its tensor in place under ``torch.no_grad()`` and returns
the same object. Randomness comes from ``generator``: a ``torch.Generator``
(PyTorch's default one when None, as in ``torch.nn.init``) or an initlab
:class:`~initlab.rng.Sampler`. Fan-based schemes take an explicit ``layout``.

Degenerate tensors follow one policy: meta tensors are a silent no-op,
zero-element tensors a no-op with a warning, and fewer than 2 dimensions where
fans are needed is an error that says what to use instead.

Each scheme is three steps: fans from the shape (:func:`~initlab.compute_fans`),
a std or bound from the fans (pure math), and a fill through the sampler.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from initlab._fans import FAN_MODES, Fans, LayoutLike, chunk_bounds, walk_chunks
from initlab._gains import calculate_gain
from initlab._scaling import (
    DISTRIBUTIONS,
    TRUNC2_STD,
    glorot_std,
    kaiming_std,
    truncated_sigma,
    uniform_bound,
    variance_std,
)
from initlab._validation import (
    check_choice,
    check_finite,
    check_floating,
    check_in_range,
    check_positive,
    check_representable,
    is_noop_tensor,
)
from initlab.rng._seam import GeneratorLike, Sampler, as_sampler

__all__ = [
    "DISTRIBUTIONS",
    "TRUNC2_STD",
    "constant_",
    "delta_orthogonal_",
    "dirac_",
    "eye_",
    "glorot_truncated_normal_",
    "he_truncated_normal_",
    "identity_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "lecun_normal_",
    "lecun_truncated_normal_",
    "lecun_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "positive_bias_",
    "scaled_std",
    "sparse_",
    "torch_default_bias_",
    "trunc_normal_",
    "uniform_",
    "variance_scaling_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)

# A normal draw passes mean ± 6 std with probability 2e-9: the reach used to refuse
# fills that would overflow their dtype to inf.
_NORMAL_REACH = 6.0

T = TypeVar("T", bound=Callable[..., Any])


def _no_grad(fn: T) -> T:
    return torch.no_grad()(fn)  # type: ignore[no-any-return]


def _write_full_(tensor: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """Copy a whole-tensor result in; a DTensor keeps only its own shard (no communication)."""
    from initlab.rng._shards import copy_from_full_, is_dtensor

    if is_dtensor(tensor):
        return copy_from_full_(tensor, full)
    return tensor.copy_(full)


def _skip(tensor: torch.Tensor, what: str, *, random: bool = True) -> bool:
    """Apply the degenerate-tensor policy; True when there is nothing to write."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor, got {type(tensor).__name__}")
    if random:
        check_floating(tensor, what)
    return is_noop_tensor(tensor, what)


# --- plain distributions -------------------------------------------------------------


@_no_grad
def uniform_(
    tensor: torch.Tensor, a: float = 0.0, b: float = 1.0, generator: GeneratorLike = None
) -> torch.Tensor:
    """Fill with U(a, b). Same as ``torch.nn.init.uniform_``.

    >>> uniform_(torch.empty(2, 3), -1.0, 1.0).abs().max() <= 1
    tensor(True)
    """
    low, high = check_finite("a", a), check_finite("b", b)
    if low > high:
        raise ValueError(f"a={a!r} must not exceed b={b!r} in uniform_")
    if _skip(tensor, "uniform_"):
        return tensor
    check_representable(tensor, "uniform_", max(abs(low), abs(high)), f"U({a!r}, {b!r})")
    as_sampler(generator).uniform_(tensor, low, high)
    return tensor


@_no_grad
def normal_(
    tensor: torch.Tensor, mean: float = 0.0, std: float = 1.0, generator: GeneratorLike = None
) -> torch.Tensor:
    """Fill with N(mean, std²). Same as ``torch.nn.init.normal_``.

    >>> w = normal_(torch.empty(10000), std=0.02, generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item(), 3)
    0.02
    """
    mean = check_finite("mean", mean)
    std = check_positive("std", std, allow_zero=True)
    if _skip(tensor, "normal_"):
        return tensor
    check_representable(
        tensor, "normal_", abs(mean) + _NORMAL_REACH * std, f"mean={mean!r}, std={std!r}"
    )
    as_sampler(generator).normal_(tensor, mean, std)
    return tensor


@_no_grad
def trunc_normal_(
    tensor: torch.Tensor,
    mean: float = 0.0,
    std: float = 1.0,
    a: float = -2.0,
    b: float = 2.0,
    generator: GeneratorLike = None,
) -> torch.Tensor:
    """Fill with N(mean, std²) truncated to the absolute interval [a, b].

    Same signature as ``torch.nn.init.trunc_normal_`` (``a``/``b`` are absolute
    values, not multiples of std). Pinned algorithm, one draw per element:
    inverse-CDF sampling in float64, u ~ U(Φ(α), Φ(β)) with α = (a-μ)/σ,
    β = (b-μ)/σ, mirrored into the lower tail for precision, x = μ + σ·Φ⁻¹(u),
    then one rounding to the tensor's dtype, kept inside [a, b]. Hence no
    outliers at tiny std and no skew in bfloat16/float16, unlike PyTorch's
    erfinv-and-clamp algorithm; values differ from PyTorch's (by design).

    >>> x = trunc_normal_(torch.empty(10000, dtype=torch.bfloat16), std=0.02)
    >>> bool(x.abs().max() < 0.1)
    True
    """
    mean = check_finite("mean", mean)
    std = check_positive("std", std, allow_zero=True)
    low, high = check_finite("a", a), check_finite("b", b)
    if not low < high:
        raise ValueError(f"a={a!r} must be less than b={b!r} in trunc_normal_")
    if _skip(tensor, "trunc_normal_"):
        return tensor
    check_representable(tensor, "trunc_normal_", max(abs(low), abs(high)), f"[a, b]=[{a}, {b}]")
    if std == 0:
        return tensor.fill_(min(max(mean, low), high))
    as_sampler(generator).trunc_normal_(tensor, mean, std, low, high)
    return tensor


def constant_(tensor: torch.Tensor, val: float) -> torch.Tensor:
    """Fill with the constant ``val``. Same as ``torch.nn.init.constant_``.

    >>> constant_(torch.empty(2), 0.5)
    tensor([0.5000, 0.5000])
    """
    return _constant(tensor, val, "constant_")


@_no_grad
def _constant(tensor: torch.Tensor, val: float, what: str) -> torch.Tensor:
    if _skip(tensor, what, random=False):
        return tensor
    return tensor.fill_(_storable(tensor, val, what))


def _storable(tensor: torch.Tensor, val: Any, what: str) -> Any:
    """``val`` when the tensor's dtype holds it; integer dtypes never truncate or wrap,
    and a float dtype never overflows to inf (PyTorch does both silently)."""
    dtype = tensor.dtype
    if isinstance(val, complex) and not isinstance(val, float):
        if dtype.is_complex:
            return val
        raise TypeError(f"{what}: val={val!r} is complex; a {dtype} tensor holds real values")
    if dtype.is_floating_point or dtype.is_complex:
        if isinstance(val, float) and not math.isfinite(val):
            return val  # an explicit inf or nan is the caller's choice, as in PyTorch
        real = check_finite("val", val)
        check_representable(tensor, what, abs(real), f"val={val!r}")
        return real
    if isinstance(val, float) and not math.isfinite(val):
        raise ValueError(f"{what}: val={val!r} cannot be stored in a tensor of dtype {dtype}")
    if isinstance(val, (bool, np.bool_)):
        number: float | int = int(val)
    elif isinstance(val, (int, np.integer)):
        number = int(val)
    else:
        number = check_finite("val", val)
    if dtype == torch.bool:
        if number not in (0, 1):
            raise ValueError(f"{what}: val={val!r} cannot be stored in a bool tensor (0 or 1)")
        return bool(number)
    info = torch.iinfo(dtype)
    if number != int(number) or not info.min <= number <= info.max:
        raise ValueError(
            f"{what}: val={val!r} cannot be stored exactly in a {dtype} tensor (integers "
            f"from {info.min} to {info.max}); PyTorch would silently truncate or wrap it"
        )
    return int(number)


def zeros_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill with 0. Same as ``torch.nn.init.zeros_``; the usual bias init."""
    with torch.no_grad():
        return tensor if _skip(tensor, "zeros_", random=False) else tensor.zero_()


def ones_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill with 1. Same as ``torch.nn.init.ones_``; the usual normalization scale."""
    return _constant(tensor, 1.0, "ones_")


def positive_bias_(tensor: torch.Tensor, value: float = 0.01) -> torch.Tensor:
    """Fill a bias with a small positive constant (default 0.01).

    The classic advice for ReLU layers (CS231n): a small positive bias makes
    every unit fire at the start, so none starts dead. Zero is the common,
    equally valid default (:func:`zeros_`).

    >>> positive_bias_(torch.empty(3))
    tensor([0.0100, 0.0100, 0.0100])
    """
    check_positive("value", value)
    return _constant(tensor, value, "positive_bias_")


@_no_grad
def torch_default_bias_(
    tensor: torch.Tensor, fan_in: int, generator: GeneratorLike = None
) -> torch.Tensor:
    """PyTorch's default Linear/Conv bias: U(±1/√fan_in), or untouched when fan_in is 0."""
    if fan_in < 0:
        raise ValueError(f"fan_in={fan_in!r} must be >= 0")
    if _skip(tensor, "torch_default_bias_") or fan_in == 0:
        return tensor
    bound = 1 / math.sqrt(fan_in)
    as_sampler(generator).uniform_(tensor, -bound, bound)
    return tensor


# --- structured matrices -------------------------------------------------------------


def _check_2d(tensor: torch.Tensor, what: str) -> None:
    if tensor.dim() != 2:
        raise ValueError(
            f"{what} supports 2-D tensors only, got shape {tuple(tensor.shape)}; "
            "for convolution kernels use dirac_ or identity_"
        )


@_no_grad
def eye_(tensor: torch.Tensor) -> torch.Tensor:
    """Fill a 2-D tensor with the identity matrix. Same as ``torch.nn.init.eye_``."""
    _check_2d(tensor, "eye_")
    if _skip(tensor, "eye_", random=False):
        return tensor
    return tensor.copy_(torch.eye(*tensor.shape, dtype=tensor.dtype, device=tensor.device))


def _check_groups(groups: int, channels: int, shape: tuple[int, ...]) -> None:
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups={groups!r} must be a positive integer")
    if channels % groups:
        raise ValueError(
            f"groups={groups} does not divide dim 0 (size {channels}) of shape {shape}: "
            "dim 0 must be divisible by groups"
        )


@_no_grad
def dirac_(tensor: torch.Tensor, groups: int = 1) -> torch.Tensor:
    """Fill a 3/4/5-D conv kernel with the Dirac delta: the identity map on channels.

    Same as ``torch.nn.init.dirac_``: centre tap at ``k // 2``; with ``groups``
    each group maps its first min(out/groups, in) channels through.
    """
    if tensor.dim() not in (3, 4, 5):
        _dirac_rank_error(tensor)
    return _identity(tensor, 1.0, groups, "dirac_")


def check_identity_shape(shape: tuple[int, ...], groups: int, what: str = "identity_") -> None:
    """The shapes identity_/dirac_ accept; shared by the fillers and ``Identity.spec``."""
    if len(shape) not in (2, 3, 4, 5):
        raise ValueError(f"{what} supports 2- to 5-D tensors, got shape {shape}")
    _check_groups(groups, shape[0], shape)


def check_orthogonal_shape(shape: tuple[int, ...]) -> None:
    """orthogonal_ needs a matrix view: at least 2 dimensions."""
    if len(shape) < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got shape {shape}")


def check_delta_orthogonal_shape(shape: tuple[int, ...]) -> None:
    """3/4/5-D conv kernels with out_channels >= in_channels."""
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"delta_orthogonal_ supports 3-, 4- and 5-D kernels, got shape {shape}")
    if shape[0] < shape[1]:
        raise ValueError(
            f"delta_orthogonal_ needs out_channels >= in_channels to preserve norms, got shape "
            f"{shape}; use orthogonal_ or dirac_ for a contracting layer"
        )


def check_sparse_shape(shape: tuple[int, ...]) -> None:
    """sparse_ works on 2-D matrices only."""
    if len(shape) != 2:
        raise ValueError(f"sparse_ supports 2-D tensors only, got shape {shape}")


def _dirac_rank_error(tensor: torch.Tensor) -> None:
    raise ValueError(
        f"dirac_ supports 3-, 4- and 5-D tensors only, got shape {tuple(tensor.shape)}; "
        "for a 2-D weight use eye_ or identity_"
    )


@_no_grad
def identity_(tensor: torch.Tensor, gain: float = 1.0, groups: int = 1) -> torch.Tensor:
    """Identity map times ``gain`` for 2-D weights (also non-square) and conv kernels.

    2-D: ``gain`` on the main diagonal (``eye_``); with ``groups`` > 1 the rows split
    into ``groups`` blocks, each holding its own diagonal (a stack of identities, as
    for packed chunks). 3/4/5-D ``(out, in/groups, *k)``: the Dirac kernel (centre
    tap ``k // 2``, as ``dirac_``) times ``gain``.

    >>> identity_(torch.empty(2, 3), gain=2.0)
    tensor([[2., 0., 0.],
            [0., 2., 0.]])
    """
    return _identity(tensor, gain, groups, "identity_")


@_no_grad
def _identity(tensor: torch.Tensor, gain: float, groups: int, what: str) -> torch.Tensor:
    gain = check_finite("gain", gain)
    shape = tuple(tensor.shape)
    check_identity_shape(shape, groups, what)
    if _skip(tensor, what, random=False):
        return tensor
    if tensor.dim() == 2 and groups == 1:
        # zero + diagonal fill (not eye_ * gain) also works for integer and bool dtypes.
        tensor.zero_()
        tensor.diagonal().fill_(gain)
        return tensor
    tensor.zero_()
    per_group = shape[0] // groups
    centre = tuple(k // 2 for k in shape[2:])
    for g in range(groups):
        for d in range(min(per_group, shape[1])):
            index: tuple[int, ...] = (g * per_group + d, d, *centre)
            tensor[index] = gain
    return tensor


@_no_grad
def orthogonal_(
    tensor: torch.Tensor, gain: float = 1, generator: GeneratorLike = None
) -> torch.Tensor:
    """Fill with a (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2013).

    The tensor is viewed as rows = size(0) by cols = numel / rows; the result has
    orthonormal rows when rows ≤ cols, else orthonormal columns. Algorithm and
    draws are PyTorch's (QR of a Gaussian matrix with the sign correction of
    Mezzadri, 2007), so float32/float64 results are bit-identical to
    ``torch.nn.init.orthogonal_`` for the same generator. float16/bfloat16,
    where PyTorch fails (no QR), draw and factor in float32 and round once.

    >>> w = orthogonal_(torch.empty(3, 5, dtype=torch.bfloat16))
    >>> torch.allclose((w.float() @ w.float().T), torch.eye(3), atol=2e-2)
    True
    """
    gain = check_finite("gain", gain)
    check_orthogonal_shape(tuple(tensor.shape))
    if _skip(tensor, "orthogonal_"):
        return tensor
    work = torch.float32 if tensor.dtype in _LOW_PRECISION else tensor.dtype
    matrix = _orthogonal_matrix(tensor.shape, work, tensor.device, as_sampler(generator), gain)
    return _write_full_(tensor, matrix)


def _orthogonal_matrix(
    shape: torch.Size, dtype: torch.dtype, device: torch.device, sampler: Sampler, gain: float
) -> torch.Tensor:
    rows = shape[0]
    cols = math.prod(shape) // rows
    flat = sampler.standard_normal((rows, cols), dtype, device)
    if rows < cols:
        flat = flat.t()
    q, r = torch.linalg.qr(flat)
    # Haar-uniform Q needs the sign fix of Mezzadri (2007).
    q *= torch.diag(r, 0).sign()
    if rows < cols:
        q = q.t()
    return q.reshape(shape).mul_(gain)


@_no_grad
def delta_orthogonal_(
    tensor: torch.Tensor, gain: float = 1.0, generator: GeneratorLike = None
) -> torch.Tensor:
    """Delta-orthogonal conv kernel (Xiao et al., 2018): orthogonal centre tap, zeros elsewhere.

    For a weight ``(out, in, *k)`` with out ≥ in, the centre tap (index ``k // 2``,
    as ``dirac_``; JAX uses ``(k - 1) // 2``, which differs for even k) holds an
    ``out × in`` matrix with orthonormal columns times ``gain``, so the
    convolution preserves the norm of its input (exactly with circular padding).

    >>> w = delta_orthogonal_(torch.empty(8, 4, 3, 3))
    >>> torch.allclose(w[:, :, 1, 1].T @ w[:, :, 1, 1], torch.eye(4), atol=1e-5)
    True
    """
    gain = check_finite("gain", gain)
    shape = tuple(tensor.shape)
    check_delta_orthogonal_shape(shape)
    if _skip(tensor, "delta_orthogonal_"):
        return tensor
    work = torch.float32 if tensor.dtype in _LOW_PRECISION else tensor.dtype
    centre_matrix = _orthogonal_matrix(
        torch.Size(shape[:2]), work, tensor.device, as_sampler(generator), gain
    )
    kernel = torch.zeros(shape, dtype=work, device=centre_matrix.device)
    centre: tuple[Any, ...] = (slice(None), slice(None), *(k // 2 for k in shape[2:]))
    kernel[centre] = centre_matrix
    return _write_full_(tensor, kernel)


@_no_grad
def sparse_(
    tensor: torch.Tensor, sparsity: float, std: float = 0.01, generator: GeneratorLike = None
) -> torch.Tensor:
    """Sparse N(0, std²) matrix (Martens, 2010): in every column ``ceil(sparsity·rows)`` zeros.

    Same distribution as ``torch.nn.init.sparse_``, but every draw honours
    ``generator`` (PyTorch's row choice uses the global CPU generator) and the
    zero pattern is chosen for all columns at once instead of one ``randperm``
    per column, so values differ from PyTorch's for the same seed.
    """
    sparsity = check_in_range("sparsity", sparsity, 0.0, 1.0)
    std = check_positive("std", std, allow_zero=True)
    check_sparse_shape(tuple(tensor.shape))
    if _skip(tensor, "sparse_"):
        return tensor
    rows, cols = tensor.shape
    sampler = as_sampler(generator)
    sampler.normal_(tensor, 0.0, std)
    zeros = math.ceil(sparsity * rows)
    if zeros:
        _zero_where_(tensor, sampler.column_zero_mask(rows, cols, zeros, tensor.device))
    return tensor


def _zero_where_(tensor: torch.Tensor, mask: torch.Tensor) -> None:
    """Zero the entries a full-size mask selects; a DTensor applies its shard of the mask."""
    from initlab.rng._shards import is_dtensor, local_view

    if is_dtensor(tensor):
        tensor.to_local().masked_fill_(local_view(mask, tensor), 0)  # type: ignore[attr-defined]
    else:
        tensor.masked_fill_(mask, 0)


# --- the variance-scaling family -----------------------------------------------------


def scaled_std(scale: float, fans: Fans, mode: str) -> float:
    """std = √(scale / n), n the fan chosen by ``mode`` (0 for an empty tensor's fan of 0).

    The pure math lives in :mod:`initlab._scaling`, shared with ``Initializer.spec``.

    >>> from initlab import compute_fans
    >>> scaled_std(2.0, compute_fans((256, 128)), "fan_in")
    0.125
    """
    return variance_std(scale, fans, mode)


def _fill(tensor: torch.Tensor, std: float, distribution: str, sampler: Sampler) -> torch.Tensor:
    """Draw zero-mean values with standard deviation ``std`` from ``distribution``."""
    if distribution == "uniform":
        bound = uniform_bound(std)
        return sampler.uniform_(tensor, -bound, bound)
    if distribution == "normal":
        return sampler.normal_(tensor, 0.0, std)
    if std == 0:
        return tensor.zero_()
    sigma = truncated_sigma(std)
    return sampler.trunc_normal_(tensor, 0.0, sigma, -2.0 * sigma, 2.0 * sigma)


def fill_per_chunk_(
    tensor: torch.Tensor,
    layout: LayoutLike,
    std_of: Callable[[Fans], float],
    distribution: str,
    generator: GeneratorLike,
) -> torch.Tensor:
    """Fill each chunk the walker yields with the std its own fans give, in order.

    An unpacked tensor is one chunk (the whole tensor, no narrowing).
    """
    sampler = as_sampler(generator)
    chunks = walk_chunks(tuple(tensor.shape), layout)
    if len(chunks) == 1:
        return _fill(tensor, std_of(chunks[0].fans), distribution, sampler)
    for chunk in chunks:
        _fill(chunk.narrow(tensor), std_of(chunk.fans), distribution, sampler)
    return tensor


def _prepare(tensor: torch.Tensor, what: str, layout: LayoutLike) -> bool:
    """Validate a fan-based call; True when the tensor needs no writing."""
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{what} expects a torch.Tensor, got {type(tensor).__name__}")
    chunk_bounds(tuple(tensor.shape), layout)  # rank, layout and chunk checks
    return _skip(tensor, what)


@_no_grad
def variance_scaling_(
    tensor: torch.Tensor,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    generator: GeneratorLike = None,
    *,
    layout: LayoutLike = "torch",
) -> torch.Tensor:
    """Zero-mean values with variance ``scale / n``: the core of Glorot, He and LeCun.

    n is fan_in, fan_out or (fan_in + fan_out) / 2 by ``mode``, computed under
    ``layout`` (per chunk for packed layouts), and at least 1. ``distribution``:

    - ``"uniform"``: U(-√(3·scale/n), √(3·scale/n));
    - ``"normal"``: N(0, scale/n), untruncated;
    - ``"truncated_normal"``: a normal truncated at ±2σ with σ = √(scale/n) / 0.8796…,
      so that the variance after truncation is exactly scale/n (the Keras/JAX
      convention).

    Glorot/Xavier is (1, fan_avg), He/Kaiming (2, fan_in) and LeCun (1, fan_in).

    >>> w = variance_scaling_(torch.empty(512, 256), 2.0, "fan_in", "normal")
    >>> round(w.var().item() * 256, 1)
    2.0
    """
    return _variance_scaling(
        tensor, scale, mode, distribution, generator, layout, "variance_scaling_"
    )


def _variance_scaling(
    tensor: torch.Tensor,
    scale: float,
    mode: str,
    distribution: str,
    generator: GeneratorLike,
    layout: LayoutLike,
    what: str,
) -> torch.Tensor:
    scale = check_positive("scale", scale)
    check_choice("mode", mode, FAN_MODES)
    distribution = check_distribution(distribution)
    if _prepare(tensor, what, layout):
        return tensor
    return fill_per_chunk_(
        tensor, layout, lambda fans: variance_std(scale, fans, mode), distribution, generator
    )


#: Other spellings of the three distributions: Keras's ``untruncated_normal``.
_DISTRIBUTION_ALIASES = {"untruncated_normal": "normal"}


def check_distribution(distribution: str) -> str:
    """A distribution name, case-insensitive (as Keras), Keras's ``untruncated_normal``
    read as ``normal``; anything else raises with the allowed names.

    ``"normal"`` is untruncated here, as in JAX and timm. Keras's constructor rewrites
    ``"normal"`` to ``"truncated_normal"``, so its saved configs never contain it.
    """
    if isinstance(distribution, str):
        key = distribution.lower()
        key = _DISTRIBUTION_ALIASES.get(key, key)
        if key in DISTRIBUTIONS:
            return key
    return check_choice("distribution", distribution, DISTRIBUTIONS)


@_no_grad
def xavier_uniform_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: GeneratorLike = None,
    *,
    layout: LayoutLike = "torch",
) -> torch.Tensor:
    """Glorot & Bengio (2010) uniform: U(-b, b), b = gain·√(6 / (fan_in + fan_out)).

    Same as ``torch.nn.init.xavier_uniform_`` (bit-identical for the same
    generator); equal to ``variance_scaling_(scale=gain², mode="fan_avg",
    distribution="uniform")``. Suits tanh and sigmoid layers.
    """
    gain = check_positive("gain", gain, allow_zero=True)
    if _prepare(tensor, "xavier_uniform_", layout):
        return tensor
    return fill_per_chunk_(tensor, layout, _glorot(gain), "uniform", generator)


@_no_grad
def xavier_normal_(
    tensor: torch.Tensor,
    gain: float = 1.0,
    generator: GeneratorLike = None,
    *,
    layout: LayoutLike = "torch",
) -> torch.Tensor:
    """Glorot & Bengio (2010) normal: N(0, std²), std = gain·√(2 / (fan_in + fan_out)).

    Same as ``torch.nn.init.xavier_normal_`` (bit-identical for the same generator).
    """
    gain = check_positive("gain", gain, allow_zero=True)
    if _prepare(tensor, "xavier_normal_", layout):
        return tensor
    return fill_per_chunk_(tensor, layout, _glorot(gain), "normal", generator)


def _glorot(gain: float) -> Callable[[Fans], float]:
    return lambda fans: glorot_std(gain, fans)


def _kaiming_std(a: float, mode: str, nonlinearity: str) -> Callable[[Fans], float]:
    check_choice("mode", mode, ("fan_in", "fan_out"))
    if _is_real(a):
        a = check_finite("a", a)
    gain = calculate_gain(nonlinearity, a)
    return lambda fans: kaiming_std(gain, fans, mode)


def _is_real(value: Any) -> bool:
    try:
        check_finite("a", value)
    except TypeError:
        return False
    except ValueError:
        return True
    return True


def _kaiming(
    tensor: torch.Tensor,
    a: float,
    mode: str,
    nonlinearity: str,
    generator: GeneratorLike,
    layout: LayoutLike,
    distribution: str,
) -> torch.Tensor:
    what = f"kaiming_{distribution}_"
    std_of = _kaiming_std(a, mode.lower() if isinstance(mode, str) else mode, nonlinearity)
    if _prepare(tensor, what, layout):
        return tensor
    return fill_per_chunk_(tensor, layout, std_of, distribution, generator)


@_no_grad
def kaiming_uniform_(
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: GeneratorLike = None,
    *,
    layout: LayoutLike = "torch",
) -> torch.Tensor:
    """He et al. (2015) uniform: U(-b, b), b = gain·√(3/fan), gain = calculate_gain(...).

    Same as ``torch.nn.init.kaiming_uniform_`` (bit-identical for the same
    generator): ``a`` is the leaky-ReLU negative slope, the defaults give He
    init for ReLU (gain √2). PyTorch's Linear/Conv default is ``a=√5``.
    """
    return _kaiming(tensor, a, mode, nonlinearity, generator, layout, "uniform")


@_no_grad
def kaiming_normal_(
    tensor: torch.Tensor,
    a: float = 0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    generator: GeneratorLike = None,
    *,
    layout: LayoutLike = "torch",
) -> torch.Tensor:
    """He et al. (2015) normal: N(0, std²), std = gain / √fan.

    Same as ``torch.nn.init.kaiming_normal_`` (bit-identical for the same generator).

    >>> w = kaiming_normal_(torch.empty(1024, 512), generator=torch.Generator().manual_seed(0))
    >>> round(w.std().item() * math.sqrt(512 / 2), 2)
    1.0
    """
    return _kaiming(tensor, a, mode, nonlinearity, generator, layout, "normal")


def _named_scaling(
    name: str, scale: float, mode: str, distribution: str
) -> Callable[..., torch.Tensor]:
    def init(
        tensor: torch.Tensor,
        generator: GeneratorLike = None,
        *,
        mode: str = mode,
        layout: LayoutLike = "torch",
    ) -> torch.Tensor:
        with torch.no_grad():
            return _variance_scaling(tensor, scale, mode, distribution, generator, layout, name)

    init.__name__ = init.__qualname__ = name
    return init


lecun_uniform_ = _named_scaling("lecun_uniform_", 1.0, "fan_in", "uniform")
lecun_uniform_.__doc__ = """LeCun et al. (1998) uniform: U(±√(3 / fan_in)).

``variance_scaling_(scale=1, mode="fan_in", distribution="uniform")``; suits SELU.

>>> w = lecun_uniform_(torch.empty(64, 300))
>>> bool(w.abs().max() <= 0.1)
True
"""
lecun_normal_ = _named_scaling("lecun_normal_", 1.0, "fan_in", "normal")
lecun_normal_.__doc__ = """LeCun et al. (1998) normal: N(0, 1 / fan_in), untruncated.

``variance_scaling_(scale=1, mode="fan_in", distribution="normal")``. Keras,
JAX and timm's ``lecun_normal`` is truncated: that is :func:`lecun_truncated_normal_`.
"""
lecun_truncated_normal_ = _named_scaling(
    "lecun_truncated_normal_", 1.0, "fan_in", "truncated_normal"
)
lecun_truncated_normal_.__doc__ = """LeCun normal, Keras/JAX style: ±2σ truncated, var 1/fan_in.

``variance_scaling_(scale=1, mode="fan_in", distribution="truncated_normal")``;
equals Keras ``LecunNormal`` and JAX ``lecun_normal`` in distribution.
"""
he_truncated_normal_ = _named_scaling("he_truncated_normal_", 2.0, "fan_in", "truncated_normal")
he_truncated_normal_.__doc__ = """He normal, Keras/JAX convention: ±2σ truncated, variance 2/fan_in.

``variance_scaling_(scale=2, mode="fan_in", distribution="truncated_normal")``;
equals Keras ``HeNormal`` and JAX ``he_normal`` in distribution.
"""
glorot_truncated_normal_ = _named_scaling(
    "glorot_truncated_normal_", 1.0, "fan_avg", "truncated_normal"
)
glorot_truncated_normal_.__doc__ = """Glorot normal, Keras/JAX style: ±2σ truncated, var 2/(in+out).

``variance_scaling_(scale=1, mode="fan_avg", distribution="truncated_normal")``;
equals Keras ``GlorotNormal`` and JAX ``glorot_normal`` in distribution.
"""
