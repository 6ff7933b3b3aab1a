"""Statistical conformance: every registered scheme × shapes × float dtypes draws what
``Initializer.spec(shape)`` says it draws, and each check has the power to tell a wrong
distribution (fan_in vs fan_out, packed vs whole-tensor fans) apart.

Thresholds (fixed seeds, so the suite is deterministic; the probabilities say how
often a *correct* sampler would fail a given check on a fresh seed):

- Kolmogorov–Smirnov: D must not exceed the 1 - 1e-6 quantile of its exact finite-n
  null distribution (``scipy.stats.kstwo``), false-failure probability 1e-6. For
  float16/bfloat16 the deterministic CDF shift of one rounding, u · sup |x| f(x) (u the
  unit roundoff), is added.
- Moments: the sample mean and second moment must lie within 6 standard errors
  (two-sided normal tail 2e-9) of the spec, plus the bound on what one rounding can move
  them (u · E|x| and (2u + u²) · E[x²]).

Every positive check is paired with a negative control on the *same samples* against a
wrong but plausible distribution (the other fan mode, the whole-tensor fans of a packed
weight, or a 25% larger std), and that control must fail.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re

import numpy as np
import pytest
import torch
from scipy import stats

import initlab
import initlab.initializers
from initlab import TRUNC2_STD, get_layout
from initlab.initializers import Initializer

ALPHA = 1e-6
Z = 6.0
SEED = 20240611
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
PACKED = get_layout("torch").with_(chunks=3)
SHAPES = {"2d": (256, 64), "conv": (64, 32, 3, 3), "packed": (192, 96)}


def _registered_classes() -> list[type[Initializer]]:
    classes = {
        initlab.initializers.get(name).__class__ for name in initlab.initializers.known_names()
    }
    return sorted(classes, key=lambda cls: cls.__name__)


def _configs() -> list[Initializer]:
    defaults = [cls(seed=SEED) for cls in _registered_classes()]
    extras = [
        initlab.initializers.VarianceScaling(
            seed=SEED, scale=3.0, mode="fan_out", distribution="uniform"
        ),
        initlab.initializers.VarianceScaling(
            seed=SEED, scale=0.5, mode="fan_avg", distribution="normal"
        ),
        initlab.initializers.KaimingUniform(seed=SEED, a=math.sqrt(5), mode="fan_out"),
        initlab.initializers.KaimingNormal(seed=SEED, nonlinearity="tanh", mode="fan_out"),
        initlab.initializers.HeNormal(seed=SEED, mode="fan_out", negative_slope=0.2),
        initlab.initializers.GlorotUniform(seed=SEED, gain=2.0),
        initlab.initializers.RandomUniform(seed=SEED, low=-0.2, high=0.6),
        initlab.initializers.RandomNormal(seed=SEED, mean=0.3, std=0.1),
        initlab.initializers.TruncatedNormal(seed=SEED, mean=0.1, std=0.2, low=-0.1, high=0.6),
        initlab.initializers.Orthogonal(seed=SEED, gain=1.7),
        initlab.initializers.Sparse(seed=SEED, sparsity=0.5, std=0.3),
        initlab.initializers.Identity(gain=-0.5),
        initlab.initializers.Constant(value=-1.25),
    ]
    return defaults + extras


CONFIGS = _configs()


def _config_id(init: Initializer) -> str:
    fields = {f.name for f in dataclasses.fields(init)} - {"seed"}
    config = {k: v for k, v in init.get_config().items() if k in fields}
    changed = ",".join(f"{k}={v}" for k, v in sorted(config.items()) if v != _default(init, k))
    return f"{type(init).__name__}({changed})"


def _default(init: Initializer, key: str):
    for f in dataclasses.fields(init):
        if f.name == key:
            return f.default
    return None


def _has_layout(init: Initializer) -> bool:
    return "layout" in {f.name for f in dataclasses.fields(init) if f.init}


def _with(init: Initializer, **changes) -> Initializer:
    return type(init).from_config({**init.get_config(), **changes})


# --- checkers -----------------------------------------------------------------------------


@functools.cache
def _ks_critical(n: int) -> float:
    return float(stats.kstwo.ppf(1 - ALPHA, n))


def _unit_roundoff(dtype: torch.dtype) -> float:
    return 0.0 if dtype == torch.float64 else torch.finfo(dtype).eps / 2


def _ks_ok(values: torch.Tensor, dist) -> bool:
    x = values.double().flatten().numpy()
    grid = np.linspace(dist.ppf(1e-12), dist.ppf(1 - 1e-12), 20001)
    pdf = dist.pdf(grid)
    finfo = torch.finfo(values.dtype)
    slack = _unit_roundoff(values.dtype) * np.max(np.abs(grid) * pdf)
    slack += np.max(pdf) * finfo.smallest_normal
    return _ks_statistic(x, dist) <= _ks_critical(x.size) + slack


def _ks_statistic(x: np.ndarray, dist) -> float:
    """Two-sided one-sample KS statistic D (what scipy.stats.kstest reports, without p)."""
    cdf = dist.cdf(np.sort(x))
    n = x.size
    ranks = np.arange(1, n + 1) / n
    return float(max(np.max(ranks - cdf), np.max(cdf - (ranks - 1 / n))))


def _moments_ok(values: torch.Tensor, dist) -> bool:
    x = values.double().flatten()
    n = x.numel()
    u = _unit_roundoff(values.dtype)
    m1, m2 = dist.mean(), dist.var() + dist.mean() ** 2
    # Standard errors: exact for the mean; studentized (sample variance of x²) for E[x²].
    abs_mean = x.abs().mean().item()
    mean_ok = abs(x.mean().item() - m1) <= Z * math.sqrt(dist.var() / n) + u * abs_mean
    squares = x * x
    m2_tol = Z * math.sqrt(squares.var().item() / n) + (2 * u + u * u) * m2
    return mean_ok and abs(squares.mean().item() - m2) <= m2_tol


def _continuous_dist(init: Initializer, spec: initlab.initializers.InitSpec):
    """The scipy distribution the spec describes, cross-checked against the spec's std."""
    if spec.distribution == "uniform":
        half = math.sqrt(3.0) * spec.std
        dist = stats.uniform(loc=spec.mean - half, scale=2 * half)
    elif spec.distribution == "normal":
        dist = stats.norm(loc=spec.mean, scale=spec.std)
    elif isinstance(init, initlab.initializers.TruncatedNormal):
        low, high = init.bounds()
        a, b = (low - init.mean) / init.std, (high - init.mean) / init.std
        dist = stats.truncnorm(a, b, loc=init.mean, scale=init.std)
        assert dist.mean() == pytest.approx(spec.mean, rel=1e-9, abs=1e-15)
    else:
        sigma = spec.std / TRUNC2_STD
        assert spec.bound == pytest.approx(2 * sigma, rel=1e-14)
        dist = stats.truncnorm(-2, 2, scale=sigma)
    assert dist.std() == pytest.approx(spec.std, rel=1e-9)
    return dist


def _random_checks(init, spec, values) -> bool:
    dist = _continuous_dist(init, spec)
    within = True
    if spec.bound is not None:
        # Truncated normals are clamped inside the bound after rounding; uniform may round up.
        u = 0.0 if spec.distribution == "truncated_normal" else _unit_roundoff(values.dtype)
        within = values.double().abs().max().item() <= spec.bound * (1 + u)
    return within and _ks_ok(values, dist) and _moments_ok(values, dist)


def _semi_orthogonal_ok(matrix: torch.Tensor, gain: float, dtype: torch.dtype) -> bool:
    m = matrix.double()
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    eye = torch.eye(gram.shape[0], dtype=torch.float64) * gain**2
    # One rounding per entry moves Gram entries by <= ~2u·gain²; float32 QR by ~1e-6.
    tol = (4 * _unit_roundoff(dtype) + 1e-5) * gain**2
    return torch.allclose(gram, eye, rtol=0, atol=tol)


def _rms_ok(values: torch.Tensor, std: float) -> bool:
    rms = values.double().pow(2).mean().sqrt().item()
    return math.isclose(rms, std, rel_tol=2 * _unit_roundoff(values.dtype) + 1e-5)


def _conforms(init: Initializer, spec: initlab.initializers.InitSpec, values: torch.Tensor) -> bool:
    """Whether ``values`` look like a draw from ``spec`` (the positive and negative check)."""
    kind = spec.distribution
    if kind in ("uniform", "normal", "truncated_normal"):
        return _random_checks(init, spec, values)
    if kind == "constant":
        return bool((values.double() == spec.mean).all())
    if kind == "identity":
        x = values.double()
        return math.isclose(x.mean().item(), spec.mean, rel_tol=1e-12, abs_tol=1e-15) and (
            math.isclose(x.std(correction=0).item(), spec.std, rel_tol=1e-9)
        )
    if kind == "orthogonal":
        flat = values.reshape(values.shape[0], -1)
        return _rms_ok(values, spec.std) and _semi_orthogonal_ok(
            flat, spec.bound or 0.0, values.dtype
        )
    if kind == "delta_orthogonal":
        centre = values[(slice(None), slice(None), *(k // 2 for k in values.shape[2:]))]
        rest = values.clone()
        rest[(slice(None), slice(None), *(k // 2 for k in values.shape[2:]))] = 0
        return (
            _rms_ok(values, spec.std)
            and bool((rest == 0).all())
            and _semi_orthogonal_ok(centre, spec.bound or 0.0, values.dtype)
        )
    if kind == "sparse":
        rows = values.shape[0]
        zeros = math.ceil(init.sparsity * rows)
        per_column = (values == 0).sum(dim=0)
        nonzero = values[values != 0]
        dist = stats.norm(scale=init.std)
        return (
            bool((per_column == zeros).all())
            and _ks_ok(nonzero, dist)
            and _moments_ok(nonzero, dist)
            and math.isclose(spec.std, init.std * math.sqrt((rows - zeros) / rows), rel_tol=1e-12)
        )
    raise AssertionError(f"no conformance check for distribution {kind!r}")


def _scaled(spec: initlab.initializers.InitSpec, factor: float) -> initlab.initializers.InitSpec:
    bound = None if spec.bound is None else spec.bound * factor
    return dataclasses.replace(spec, std=spec.std * factor, bound=bound)


def _wrong_spec(init: Initializer, shape, spec: initlab.initializers.InitSpec):
    """A plausible wrong distribution: whole-tensor fans for packed weights, the other fan
    mode, or a 25% larger scale; the first whose std differs by at least 20%."""
    candidates = []
    if _has_layout(init) and get_layout(init.layout).chunks != 1:
        candidates.append(_with(init, layout="torch").spec(shape))
    mode = getattr(init, "mode", None)
    if mode is not None and spec.fans is not None:
        other = {"fan_in": "fan_out", "fan_out": "fan_in", "fan_avg": "fan_in"}[mode]
        ratio = spec.fans.fan(mode) / spec.fans.fan(other)
        candidates.append(_scaled(spec, math.sqrt(ratio)))
    for candidate in candidates:
        if abs(candidate.std / spec.std - 1) >= 0.2:
            return candidate, init
    if spec.distribution == "constant":
        return dataclasses.replace(spec, mean=spec.mean + 1), init
    if spec.distribution == "identity":
        return dataclasses.replace(spec, mean=spec.mean * 1.25, std=spec.std * 1.25), init
    if spec.distribution == "sparse":
        return _scaled(spec, 1.25), _with(init, std=init.std * 1.25)
    if isinstance(init, initlab.initializers.TruncatedNormal):
        wider = _with(init, std=init.std * 1.25)
        return wider.spec(shape), wider
    if spec.distribution in ("orthogonal", "delta_orthogonal"):
        return _scaled(spec, 1.25), init
    return _scaled(spec, 1.25), init


def _cases():
    for init in CONFIGS:
        for shape_name in SHAPES:
            if shape_name == "packed" and not _has_layout(init):
                continue
            for dtype in DTYPES:
                yield pytest.param(
                    init, shape_name, dtype, id=f"{_config_id(init)}-{shape_name}-{dtype}"
                )


def _draw(init: Initializer, shape_name: str, dtype: torch.dtype):
    shape = SHAPES[shape_name]
    if shape_name == "packed":
        init = _with(init, layout=PACKED.to_dict())
    return init, shape, init(shape, dtype=dtype, name="conformance.weight")


@pytest.mark.parametrize(("init", "shape_name", "dtype"), list(_cases()))
def test_scheme_conforms_to_its_spec(init, shape_name, dtype):
    if isinstance(init, initlab.initializers.DeltaOrthogonal) and shape_name != "conv":
        with pytest.raises(ValueError, match=r"supports 3-, 4- and 5-D kernels"):
            _draw(init, shape_name, dtype)
        return
    if isinstance(init, initlab.initializers.Sparse) and shape_name == "conv":
        with pytest.raises(ValueError, match=r"sparse_ supports 2-D tensors only"):
            _draw(init, shape_name, dtype)
        return
    init, shape, values = _draw(init, shape_name, dtype)
    assert values.dtype == dtype
    assert tuple(values.shape) == shape
    assert torch.isfinite(values).all()
    spec = init.spec(shape)
    if spec.fans is not None and shape_name != "packed":
        assert spec.fans == initlab.compute_fans(shape, init.layout)
    assert _conforms(init, spec, values), "samples do not match the spec"
    wrong, wrong_init = _wrong_spec(init, shape, spec)
    assert not _conforms(wrong_init, wrong, values), "negative control passed: no power"


def test_every_registered_class_is_covered():
    covered = {type(init) for init in CONFIGS}
    assert covered == set(_registered_classes())
    assert len(covered) == 20


def test_power_fan_in_vs_fan_out_explicitly():
    # The canonical power check: kaiming fan_in samples against the fan_out distribution.
    shape = (256, 64)
    fan_in = initlab.initializers.KaimingNormal(seed=1, mode="fan_in")
    fan_out = initlab.initializers.KaimingNormal(seed=1, mode="fan_out")
    values = fan_in(shape, dtype=torch.float32)
    assert _conforms(fan_in, fan_in.spec(shape), values)
    assert not _conforms(fan_out, fan_out.spec(shape), values)
    uniform_in = initlab.initializers.HeUniform(seed=1)
    values = uniform_in(shape)
    assert _conforms(uniform_in, uniform_in.spec(shape), values)
    assert not _conforms(
        uniform_in, initlab.initializers.HeUniform(mode="fan_out").spec(shape), values
    )


# --- packed chunks and layouts ------------------------------------------------------------

UNEVEN = get_layout("torch").with_(chunks=(256, 64, 64))


@pytest.mark.parametrize(
    "init",
    [
        initlab.initializers.VarianceScaling(
            seed=3, mode="fan_out", distribution="normal", layout=UNEVEN
        ),
        initlab.initializers.VarianceScaling(
            seed=3, mode="fan_avg", distribution="uniform", layout=UNEVEN
        ),
        initlab.initializers.GlorotTruncatedNormal(seed=3, layout=UNEVEN),
        initlab.initializers.KaimingUniform(seed=3, mode="fan_out", layout=UNEVEN),
        initlab.initializers.HeNormal(seed=3, mode="fan_out", layout=UNEVEN),
    ],
    ids=lambda init: type(init).__name__,
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_uneven_packed_chunks_each_scaled_by_own_fans(init, dtype):
    shape = (384, 256)
    values = init(shape, dtype=dtype)
    spec = init.spec(shape)
    assert len(spec.chunk_stds) == 3
    whole = _with(init, layout="torch").spec(shape)
    for (axis, start, length), std in zip(initlab.chunk_bounds(shape, UNEVEN), spec.chunk_stds):
        part_shape = (length, shape[1])
        fans = initlab.compute_fans(part_shape)
        expected = _with(init, layout="torch").spec(part_shape)
        assert expected.std == pytest.approx(std, rel=1e-14)
        assert expected.fans == fans
        chunk = values.narrow(axis, start, length)
        assert _conforms(init, expected, chunk)
        # Negative control: the chunk against the fans of the whole packed tensor.
        if abs(whole.std / std - 1) >= 0.2:
            assert not _conforms(init, whole, chunk)


LAYOUT_CASES = [
    # (layout, shape, fan_in, fan_out, wrong fans as PyTorch's rule would see them)
    ("torch_transposed", (32, 64, 3, 3), 32 * 9, 64 * 9),
    ("keras", (3, 3, 32, 64), 32 * 9, 64 * 9),
    ("matmul", (8, 64, 128), 64, 128),
    ("experts", (8, 128, 64), 64, 128),
    ("experts", (4, 64, 32, 3), 32 * 3, 64 * 3),
]


@pytest.mark.parametrize(("layout", "shape", "fan_in", "fan_out"), LAYOUT_CASES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_layouts_give_the_true_fans_statistically(layout, shape, fan_in, fan_out, mode):
    init = initlab.initializers.HeNormal(seed=4, mode=mode, layout=layout)
    values = init(shape)
    spec = init.spec(shape)
    fan = fan_in if mode == "fan_in" else fan_out
    assert spec.std == pytest.approx(math.sqrt(2 / fan), rel=1e-14)
    assert _conforms(init, spec, values)
    torch_rule = initlab.initializers.HeNormal(mode=mode).spec(shape)
    if abs(torch_rule.std / spec.std - 1) >= 0.2:
        assert not _conforms(init, torch_rule, values)


def test_ks_statistic_helper_matches_scipy():
    x = np.random.default_rng(0).normal(size=5000)
    for dist in (stats.norm(), stats.norm(scale=1.3), stats.uniform(-2, 4)):
        expected = stats.kstest(x, dist.cdf).statistic
        assert _ks_statistic(x, dist) == pytest.approx(expected, rel=1e-12)


# --- spec() == drawn std for every scheme under every layout (one core, one walker) ------------

# Layouts a model walker meets: plain, packed (even, uneven, along the input axis), grouped
# conv, grouped transposed conv, packed grouped conv. Layout-less schemes get them through
# ``with_layout`` (``Chunked``), so spec() and the fill walk the same chunks.
WALKER_CASES = {
    "plain": ("torch", (192, 96)),
    "packed3": ({"name": "torch", "chunks": 3}, (192, 96)),
    "uneven": ({"name": "torch", "chunks": [128, 32, 32]}, (192, 96)),
    "packed_in": ({"name": "torch", "chunks": [64, 16, 16], "packed_axis": 1}, (64, 96)),
    "grouped": ({"name": "torch", "groups": 4}, (64, 8, 3, 3)),
    "transposed": ({"name": "torch_transposed", "groups": 2}, (32, 16, 3, 3)),
    "packed_grouped": ({"name": "torch", "chunks": 3, "groups": 2}, (96, 8, 3, 3)),
}
MIN_SAMPLES = 16000


def _walker_configs() -> list[Initializer]:
    extras = [
        initlab.initializers.RandomUniform(seed=SEED, low=-0.2, high=0.6),
        initlab.initializers.Identity(gain=-0.5),
        initlab.initializers.Constant(value=-1.25),
        initlab.initializers.VarianceScaling(
            seed=SEED, scale=0.5, mode="fan_geo_avg", distribution="uniform"
        ),
        initlab.initializers.KaimingNormal(seed=SEED, nonlinearity="tanh", mode="fan_out"),
    ]
    return [cls(seed=SEED) for cls in _registered_classes()] + extras


def _draw_many(init: Initializer, shape: tuple[int, ...]) -> torch.Tensor:
    reps = max(1, math.ceil(MIN_SAMPLES / math.prod(shape)))
    return torch.stack(
        [init(shape, dtype=torch.float64, name=f"w{i}") for i in range(reps)]
    ).flatten()


# Schemes whose second moment is exact in every draw (an orthonormal matrix has a fixed
# sum of squares; identity and constants are not random): checked to rounding.
EXACT_ENERGY = ("orthogonal", "delta_orthogonal", "identity", "constant")


def _second_moment_exact(values: torch.Tensor, mean: float, std: float) -> bool:
    expected = std * std + mean * mean
    return abs(values.pow(2).mean().item() - expected) <= 1e-9 * max(expected, 1e-300)


def _std_within_sampling_error(values: torch.Tensor, mean: float, std: float) -> bool:
    """Sample variance about the spec's mean vs std², within 6 studentized standard errors
    (two-sided normal tail 2e-9)."""
    centred = (values - mean).pow(2)
    n = centred.numel()
    error = Z * math.sqrt(centred.var().item() / n) + 1e-12 * max(std * std, 1.0)
    mean_ok = abs(values.mean().item() - mean) <= Z * math.sqrt(std * std / n) + 1e-12
    return mean_ok and abs(centred.mean().item() - std * std) <= error


def _walker_cases():
    for init in _walker_configs():
        for case in WALKER_CASES:
            yield pytest.param(init, case, id=f"{_config_id(init)}-{case}")


@pytest.mark.parametrize(("init", "case"), list(_walker_cases()))
def test_spec_std_is_the_drawn_std_under_every_layout(init, case):
    layout, shape = WALKER_CASES[case]
    placed = initlab.initializers.with_layout(init, layout)
    try:
        spec = placed.spec(shape)
    except ValueError as exc:  # a shape the scheme cannot take: the fill refuses it too
        with pytest.raises(ValueError, match=re.escape(str(exc)[:40])):
            placed(shape)
        return
    values = _draw_many(placed, shape)
    check = (
        _second_moment_exact if spec.distribution in EXACT_ENERGY else _std_within_sampling_error
    )
    assert check(values, spec.mean, spec.std)
    # Negative control on the same samples: a 10% larger std (or 0.1 for a constant).
    wrong = spec.std * 1.1 if spec.std > 0 else 0.1
    assert not check(values, spec.mean, wrong)


def test_chunk_mixing_uses_the_chunk_means():
    # Identity per uneven chunk: each chunk has its own mean, so a zero-mean mix is wrong.
    init = initlab.initializers.with_layout(
        initlab.initializers.Identity(gain=2.0), {"name": "torch", "chunks": [6, 2]}
    )
    spec = init.spec((8, 4))
    values = init((8, 4)).double()
    assert spec.mean == pytest.approx(values.mean().item(), rel=1e-12)
    assert spec.std == pytest.approx(values.std(correction=0).item(), rel=1e-12)
    zero_mean = math.sqrt(sum(n * s * s for n, s in zip((24, 8), spec.chunk_stds)) / 32)
    # The zero-mean formula (about 4e-3 off here) fails the exact comparison above.
    assert abs(zero_mean - values.std(correction=0).item()) > 1e-3


def test_with_layout_gives_fan_schemes_the_layout_and_wraps_the_others():
    packed = {"name": "torch", "chunks": 3}
    he = initlab.initializers.with_layout(initlab.initializers.HeNormal(seed=1), packed)
    assert isinstance(he, initlab.initializers.HeNormal) and get_layout(he.layout).chunks == 3
    ortho = initlab.initializers.with_layout(initlab.initializers.Orthogonal(seed=1), packed)
    assert isinstance(ortho, initlab.initializers.Chunked)
    assert initlab.initializers.with_layout(
        initlab.initializers.Orthogonal(seed=1), "torch_transposed"
    ) == (initlab.initializers.Orthogonal(seed=1))
    again = type(ortho).from_config(json.loads(json.dumps(ortho.get_config())))
    assert torch.equal(again((12, 4), name="w"), ortho((12, 4), name="w"))


def test_chunked_vector_says_to_drop_the_layout():
    init = initlab.initializers.with_layout(
        initlab.initializers.Zeros(), {"name": "torch", "chunks": 4}
    )
    with pytest.raises(ValueError, match=r"chunks=4 split a tensor of at least 2 dimensions"):
        init.spec((16,))
    with pytest.raises(ValueError, match=r"not one of shape \(16,\); drop the layout"):
        init((16,))
