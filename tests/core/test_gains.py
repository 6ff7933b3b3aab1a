"""Gains: PyTorch's table exactly, derived gains against scipy quadrature, and caching."""

from __future__ import annotations

import math
import random

import pytest
import torch
from scipy import integrate, special, stats
from torch import nn

import initlab
from initlab import calculate_gain, gain, second_moment
from initlab._gains import _second_moment_cached

# --- calculate_gain: PyTorch's table -------------------------------------------------------

LINEAR_LIKE = [
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
]


@pytest.mark.parametrize("name", LINEAR_LIKE)
def test_linear_like_gain_is_one(name):
    assert calculate_gain(name) == 1
    assert calculate_gain(name) == nn.init.calculate_gain(name)


def test_table_exact_floats():
    assert calculate_gain("tanh") == 1.6666666666666667
    assert calculate_gain("relu") == 1.4142135623730951
    assert calculate_gain("leaky_relu") == 1.4141428569978354
    assert calculate_gain("leaky_relu", 10) == 0.14071950894605836
    assert calculate_gain("selu") == 0.75


@pytest.mark.parametrize("slope", [0, 1, 0.01, 0.2, math.sqrt(5), 10, -0.5])
def test_leaky_relu_closed_form_and_torch_parity(slope):
    assert calculate_gain("leaky_relu", slope) == math.sqrt(2.0 / (1 + slope**2))
    assert calculate_gain("leaky_relu", slope) == nn.init.calculate_gain("leaky_relu", slope)


@pytest.mark.parametrize("param", [True, False, [1.0], {"slope": 1.0}, "0.1", None.__class__])
def test_leaky_relu_rejects_non_numbers(param):
    with pytest.raises(ValueError, match=r"negative_slope .* not a valid number"):
        calculate_gain("leaky_relu", param)


def test_unsupported_names_raise_like_pytorch():
    rng = random.Random(1234)
    letters = "abcdefghijklmnopqrstuvwxyz_"
    names = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(20)]
    for name in [*names, "gelu", "RELU", ""]:
        if name in (*LINEAR_LIKE, "tanh", "relu", "leaky_relu", "selu"):
            continue
        with pytest.raises(ValueError, match=rf"Unsupported nonlinearity {name}"):
            calculate_gain(name)


# --- gain(): derived from the activation ---------------------------------------------------


def test_relu_gain_is_sqrt2():
    assert math.isclose(gain("relu"), math.sqrt(2), rel_tol=1e-14)
    assert math.isclose(second_moment("relu"), 0.5, rel_tol=1e-14)


@pytest.mark.parametrize("slope", [0.01, 0.2, 0.5, 1.0])
def test_leaky_relu_gain_equals_table(slope):
    derived = gain("leaky_relu", negative_slope=slope)
    assert math.isclose(derived, calculate_gain("leaky_relu", slope), rel_tol=1e-13)


@pytest.mark.parametrize("name", ["linear", "identity"])
def test_linear_gain_is_one(name):
    assert math.isclose(gain(name), 1.0, rel_tol=1e-14)


def test_selu_is_self_normalizing():
    # Klambauer et al. (2017) chose alpha and lambda so that E[selu(z)^2] = 1 for z ~ N(0, 1);
    # the published constants are rounded, so the agreement is to about 1e-6.
    assert gain("selu") == pytest.approx(1.0, abs=1e-5)
    assert calculate_gain("selu") == 0.75


def test_tanh_gain_differs_from_table():
    assert gain("tanh") == pytest.approx(1.5925, abs=1e-4)
    assert calculate_gain("tanh") == 5 / 3


def _quad_second_moment(fn) -> float:
    """E[fn(z)^2] for z ~ N(0, 1) by scipy's adaptive quadrature (an independent method)."""

    def integrand(z: float) -> float:
        return fn(z) ** 2 * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    # Beyond |z| = 40 the Gaussian weight (< 1e-347) underflows; breakpoints at the kinks.
    kinks = (-6.0, -3.0, -1.0, 0.0, 1.0, 3.0, 6.0)
    value, error = integrate.quad(
        integrand, -40.0, 40.0, points=kinks, epsabs=0.0, epsrel=1e-12, limit=500
    )
    assert error < 1e-10 * value
    return value


def _sigmoid(z: float) -> float:
    return special.expit(z)


def _softplus(z: float, beta: float = 1.0) -> float:
    return math.log1p(math.exp(beta * z)) / beta if beta * z < 20 else z


ELU_ALPHA = 1.0
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

# (name or object, keyword params, scalar reference function written from the paper formulas)
REFERENCES = [
    ("gelu", {}, lambda z: z * 0.5 * math.erfc(-z / math.sqrt(2))),
    (
        "gelu_tanh",
        {},
        lambda z: 0.5 * z * (1 + math.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3))),
    ),
    ("silu", {}, lambda z: z * _sigmoid(z)),
    ("swish", {"beta": 1.7}, lambda z: z * _sigmoid(1.7 * z)),
    ("mish", {}, lambda z: z * math.tanh(_softplus(z))),
    ("elu", {}, lambda z: z if z > 0 else ELU_ALPHA * math.expm1(z)),
    ("elu", {"alpha": 0.5}, lambda z: z if z > 0 else 0.5 * math.expm1(z)),
    ("celu", {"alpha": 2.0}, lambda z: z if z > 0 else 2.0 * math.expm1(z / 2.0)),
    ("softplus", {}, lambda z: _softplus(z)),
    ("softplus", {"beta": 2.0}, lambda z: _softplus(z, 2.0)),
    ("selu", {}, lambda z: SELU_SCALE * (z if z > 0 else SELU_ALPHA * math.expm1(z))),
    ("hardswish", {}, lambda z: z * min(max(z + 3, 0), 6) / 6),
    ("hardsigmoid", {}, lambda z: min(max(z / 6 + 0.5, 0), 1)),
    ("hardtanh", {}, lambda z: min(max(z, -1), 1)),
    ("relu6", {}, lambda z: min(max(z, 0), 6)),
    ("tanh", {}, math.tanh),
    ("sigmoid", {}, _sigmoid),
    ("softsign", {}, lambda z: z / (1 + abs(z))),
    ("tanhshrink", {}, lambda z: z - math.tanh(z)),
    ("leaky_relu", {"negative_slope": 0.3}, lambda z: z if z > 0 else 0.3 * z),
]


@pytest.mark.parametrize(
    ("activation", "params", "reference"),
    REFERENCES,
    ids=[f"{a}-{p}" if p else a for a, p, _ in REFERENCES],
)
def test_second_moment_matches_scipy_quad(activation, params, reference):
    assert second_moment(activation, **params) == pytest.approx(
        _quad_second_moment(reference), rel=1e-9
    )


@pytest.mark.parametrize(
    ("module", "reference"),
    [
        (nn.GELU(), REFERENCES[0][2]),
        (nn.GELU(approximate="tanh"), REFERENCES[1][2]),
        (nn.SiLU(), REFERENCES[2][2]),
        (nn.Mish(), REFERENCES[4][2]),
        (nn.ELU(), REFERENCES[5][2]),
        (nn.CELU(alpha=2.0), REFERENCES[7][2]),
        (nn.Softplus(), REFERENCES[8][2]),
        (nn.SELU(), REFERENCES[10][2]),
        (nn.Hardswish(), REFERENCES[11][2]),
    ],
    ids=lambda x: type(x).__name__ if isinstance(x, nn.Module) else "",
)
def test_modules_match_scipy_quad(module, reference):
    expected = _quad_second_moment(reference)
    assert second_moment(module) == pytest.approx(expected, rel=1e-9)
    assert gain(module) == pytest.approx(1 / math.sqrt(expected), rel=1e-9)


def test_arbitrary_callable_matches_scipy_quad():
    def cubic_ish(x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x) + 0.1 * x**3

    expected = _quad_second_moment(lambda z: math.sin(z) + 0.1 * z**3)
    assert second_moment(cubic_ish) == pytest.approx(expected, rel=1e-9)


def test_gelu_closed_form_via_scipy_stats():
    # E[(z Φ(z))²] computed another way: expectation under scipy's normal.
    expected = stats.norm.expect(lambda z: (z * stats.norm.cdf(z)) ** 2)
    assert second_moment("gelu") == pytest.approx(expected, rel=1e-8)


def test_name_spelling_is_normalized():
    assert gain("Leaky-ReLU".lower()) == gain("leaky_relu")
    assert gain("gelu-tanh") == gain("gelu_tanh")


def test_named_results_are_cached():
    _second_moment_cached.cache_clear()
    gain("mish")
    before = _second_moment_cached.cache_info()
    gain("mish")
    after = _second_moment_cached.cache_info()
    assert after.hits == before.hits + 1
    assert after.misses == before.misses
    gain("elu", alpha=0.7)
    gain("elu", alpha=0.7)
    assert _second_moment_cached.cache_info().hits == after.hits + 1


def test_unhashable_callables_are_computed_not_cached():
    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(x)

    assert gain(Unhashable()) == pytest.approx(math.sqrt(2), rel=1e-13)


# --- errors ----------------------------------------------------------------------------------


def test_unknown_activation_lists_closest():
    with pytest.raises(ValueError, match=r"activation='gelu2' is not one of .*did you mean 'gelu'"):
        gain("gelu2")


def test_unexpected_parameter():
    with pytest.raises(TypeError, match=r"unexpected parameter\(s\) \['slope'\]"):
        gain("leaky_relu", slope=0.1)
    with pytest.raises(TypeError, match=r"only accepted with an activation name"):
        gain(nn.ReLU(), negative_slope=0.1)


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_non_finite_parameters(value):
    with pytest.raises(ValueError, match=r"alpha=.* must be finite"):
        gain("elu", alpha=value)


def test_bad_activations():
    with pytest.raises(TypeError, match=r"must be a name, an nn.Module or a callable"):
        gain(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"same shape"):
        gain(lambda x: x.sum())
    with pytest.raises(ValueError, match=r"outputs \(almost\) only zeros"):
        gain(lambda x: torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"is not finite"):
        gain(lambda x: torch.full_like(x, math.inf))


def test_activations_table_is_public():
    assert {"relu", "gelu", "silu", "mish", "selu"} <= set(initlab.ACTIVATIONS)


def test_non_numeric_activation_parameter_is_refused_by_name():
    with pytest.raises(TypeError, match=r"negative_slope='x' must be a real number, got str"):
        gain("leaky_relu", negative_slope="x")
    with pytest.raises(TypeError, match=r"alpha=None must be a real number"):
        gain("elu", alpha=None)
