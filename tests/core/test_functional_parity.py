"""Differential tests against ``torch.nn.init``: bit-identical for the same generator state.

Each deliberate difference (sparse_'s generator, low-precision orthogonal_, the pinned
trunc_normal_ algorithm) is tested explicitly below or in test_trunc_normal.py.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import initlab

SHAPES = [(7, 5), (5, 7), (1, 9), (16, 8, 3), (12, 6, 3, 3), (4, 6, 2, 3, 2)]
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]


def _views(shape, dtype):
    """A contiguous tensor and two non-contiguous views of the same shape."""
    yield "contiguous", torch.empty(shape, dtype=dtype)
    yield (
        "transposed",
        torch.empty(tuple(reversed(shape)), dtype=dtype).permute(*reversed(range(len(shape)))),
    )
    yield "strided", torch.empty((shape[0] * 2, *shape[1:]), dtype=dtype)[::2]


def _same(ours_fn, theirs_fn, shape, dtype, seed=0):
    for kind, ours in _views(shape, dtype):
        theirs = torch.empty_strided(ours.shape, ours.stride(), dtype=dtype)
        returned = ours_fn(ours, torch.Generator().manual_seed(seed))
        assert returned is ours
        theirs_fn(theirs, torch.Generator().manual_seed(seed))
        assert torch.equal(ours, theirs), kind
        if kind != "contiguous" and min(shape) > 1:
            assert not ours.is_contiguous()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_uniform_and_normal(shape, dtype):
    _same(
        lambda t, g: initlab.uniform_(t, -0.3, 0.7, generator=g),
        lambda t, g: nn.init.uniform_(t, -0.3, 0.7, generator=g),
        shape,
        dtype,
    )
    _same(
        lambda t, g: initlab.normal_(t, 0.5, 0.02, generator=g),
        lambda t, g: nn.init.normal_(t, 0.5, 0.02, generator=g),
        shape,
        dtype,
    )


@pytest.mark.parametrize("shape", SHAPES)
def test_constants(shape):
    for dtype in (*DTYPES, torch.int64):
        _same(
            lambda t, g: initlab.constant_(t, 3), lambda t, g: nn.init.constant_(t, 3), shape, dtype
        )
        _same(lambda t, g: initlab.ones_(t), lambda t, g: nn.init.ones_(t), shape, dtype)
        _same(lambda t, g: initlab.zeros_(t), lambda t, g: nn.init.zeros_(t), shape, dtype)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("gain", [1.0, 0.5, math.sqrt(2)])
def test_xavier(shape, dtype, gain):
    for name in ("xavier_uniform_", "xavier_normal_"):
        ours, theirs = getattr(initlab, name), getattr(nn.init, name)
        _same(
            lambda t, g, f=ours: f(t, gain, generator=g),
            lambda t, g, f=theirs: f(t, gain, generator=g),
            shape,
            dtype,
        )


NONLINEARITIES = [
    ("leaky_relu", 0),
    ("leaky_relu", 0.2),
    ("leaky_relu", math.sqrt(5)),
    ("relu", 0),
    ("tanh", 0),
    ("linear", 0),
    ("sigmoid", 0),
    ("selu", 0),
    ("conv2d", 0),
    ("conv_transpose3d", 0),
]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "Fan_Out"])
@pytest.mark.parametrize(("nonlinearity", "a"), NONLINEARITIES)
def test_kaiming(shape, mode, nonlinearity, a):
    for name in ("kaiming_uniform_", "kaiming_normal_"):
        ours, theirs = getattr(initlab, name), getattr(nn.init, name)
        for dtype in (torch.float32, torch.bfloat16):
            _same(
                lambda t, g, f=ours: f(t, a, mode, nonlinearity, generator=g),
                lambda t, g, f=theirs: f(t, a, mode, nonlinearity, generator=g),
                shape,
                dtype,
            )


@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (20, 2, 3, 4), (2, 3, 4, 5), (1, 1), (6, 6)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, dtype, gain):
    ours = initlab.orthogonal_(
        torch.empty(shape, dtype=dtype), gain, torch.Generator().manual_seed(3)
    )
    theirs = nn.init.orthogonal_(
        torch.empty(shape, dtype=dtype), gain, generator=torch.Generator().manual_seed(3)
    )
    assert torch.equal(ours, theirs)


def test_orthogonal_fills_non_contiguous_views():
    # PyTorch's orthogonal_ writes through ``view_as`` and fails on such views.
    base = torch.empty(10, 12)
    view = base.t()
    assert initlab.orthogonal_(view, generator=torch.Generator().manual_seed(0)) is view
    expected = initlab.orthogonal_(torch.empty(12, 10), generator=torch.Generator().manual_seed(0))
    assert torch.equal(view, expected)


@pytest.mark.parametrize("shape", [(2, 2), (3, 5), (5, 3), (1, 4)])
@pytest.mark.parametrize("dtype", [*DTYPES, torch.int32, torch.bool], ids=str)
def test_eye(shape, dtype):
    _same(lambda t, g: initlab.eye_(t), lambda t, g: nn.init.eye_(t), shape, dtype)


@pytest.mark.parametrize(
    "shape", [(6, 6, 3), (6, 4, 3, 3), (4, 6, 3, 3), (6, 2, 3, 4, 5), (9, 3, 2, 2)]
)
@pytest.mark.parametrize("groups", [1, 3])
def test_dirac(shape, groups):
    if shape[0] % groups:
        pytest.skip("groups must divide dim 0")
    for dtype in (torch.float32, torch.float16, torch.int64):
        _same(
            lambda t, g: initlab.dirac_(t, groups),
            lambda t, g: nn.init.dirac_(t, groups),
            shape,
            dtype,
        )


@pytest.mark.parametrize("gain", [1.0, -2.0])
def test_identity_is_eye_or_dirac_times_gain(gain):
    eye = initlab.identity_(torch.empty(3, 5), gain)
    assert torch.equal(eye, nn.init.eye_(torch.empty(3, 5)) * gain)
    kernel = initlab.identity_(torch.empty(6, 3, 3, 3), gain, groups=2)
    assert torch.equal(kernel, nn.init.dirac_(torch.empty(6, 3, 3, 3), groups=2) * gain)


def test_identity_on_integer_tensors():
    assert torch.equal(
        initlab.identity_(torch.empty(2, 3, dtype=torch.int64), gain=2.0),
        torch.tensor([[2, 0, 0], [0, 2, 0]]),
    )


def test_torch_default_preset_equals_module_init(preserve_global_rng):
    # nn.Linear's default: kaiming_uniform_(a=sqrt(5)) on the weight, U(±1/sqrt(fan_in)) bias.
    torch.manual_seed(11)
    layer = nn.Linear(48, 24)
    torch.manual_seed(11)
    weight = initlab.kaiming_uniform_(torch.empty(24, 48), a=math.sqrt(5))
    bias = initlab.torch_default_bias_(torch.empty(24), fan_in=48)
    assert torch.equal(layer.weight, weight)
    assert torch.equal(layer.bias, bias)
    torch.manual_seed(12)
    conv = nn.Conv2d(4, 8, 3)
    torch.manual_seed(12)
    weight = initlab.kaiming_uniform_(torch.empty(8, 4, 3, 3), a=math.sqrt(5))
    bias = initlab.torch_default_bias_(torch.empty(8), fan_in=36)
    assert torch.equal(conv.weight, weight)
    assert torch.equal(conv.bias, bias)


def test_torch_default_bias_zero_fan_in_leaves_tensor():
    bias = torch.full((3,), 7.0)
    assert initlab.torch_default_bias_(bias, fan_in=0) is bias
    assert torch.equal(bias, torch.full((3,), 7.0))
    with pytest.raises(ValueError, match=r"fan_in=-1 must be >= 0"):
        initlab.torch_default_bias_(bias, fan_in=-1)


def test_global_generator_is_used_when_none(preserve_global_rng):
    torch.manual_seed(5)
    ours = initlab.kaiming_normal_(torch.empty(6, 4))
    torch.manual_seed(5)
    theirs = nn.init.kaiming_normal_(torch.empty(6, 4))
    assert torch.equal(ours, theirs)


# --- variance scaling equals the named torch schemes ----------------------------------------


@pytest.mark.parametrize("shape", [(64, 32), (16, 8, 3, 3)])
def test_variance_scaling_is_xavier_and_kaiming(shape):
    def run(fn):
        return fn(torch.empty(shape, dtype=torch.float64), torch.Generator().manual_seed(9))

    xavier = run(lambda t, g: initlab.xavier_uniform_(t, 1.5, g))
    scaled = run(lambda t, g: initlab.variance_scaling_(t, 1.5**2, "fan_avg", "uniform", g))
    torch.testing.assert_close(xavier, scaled, rtol=1e-14, atol=0)
    he = run(lambda t, g: initlab.kaiming_normal_(t, generator=g))
    scaled = run(lambda t, g: initlab.variance_scaling_(t, 2.0, "fan_in", "normal", g))
    torch.testing.assert_close(he, scaled, rtol=1e-14, atol=0)
    lecun = run(lambda t, g: initlab.lecun_uniform_(t, g))
    scaled = run(lambda t, g: initlab.variance_scaling_(t, 1.0, "fan_in", "uniform", g))
    assert torch.equal(lecun, scaled)


# --- deliberate differences -----------------------------------------------------------------


def test_sparse_honours_generator_and_leaves_global_rng(preserve_global_rng):
    state = torch.random.get_rng_state()
    first = initlab.sparse_(torch.empty(20, 30), 0.3, generator=torch.Generator().manual_seed(1))
    second = initlab.sparse_(torch.empty(20, 30), 0.3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(first, second)
    assert torch.equal(torch.random.get_rng_state(), state)
    other = initlab.sparse_(torch.empty(20, 30), 0.3, generator=torch.Generator().manual_seed(2))
    assert not torch.equal(first, other)
    # PyTorch's own sparse_ draws its zero pattern from the global generator.
    nn.init.sparse_(torch.empty(20, 30), 0.3, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (20, 2, 3, 4), (64, 64)])
def test_orthogonal_low_precision(dtype, shape):
    with pytest.raises(RuntimeError):  # PyTorch has no low-precision QR
        nn.init.orthogonal_(torch.empty(shape, dtype=dtype))
    w = initlab.orthogonal_(torch.empty(shape, dtype=dtype), 2.0, torch.Generator().manual_seed(0))
    assert w.dtype == dtype
    flat = w.double().reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    # One rounding of each entry (relative error <= 2^-8 for bf16, 2^-11 for fp16) moves each
    # Gram entry by at most about 2 * eps * gain^2; 4 * eps leaves margin for accumulation.
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(
        gram, 4.0 * torch.eye(gram.shape[0], dtype=torch.float64), rtol=0, atol=4 * 4 * eps
    )
    # And it is the float32 result rounded once.
    ref = initlab.orthogonal_(torch.empty(shape), 2.0, torch.Generator().manual_seed(0))
    assert torch.equal(w, ref.to(dtype))


# --- PyTorch parity for argument types, and what PyTorch does silently -----------------------


@pytest.mark.parametrize(
    "value",
    [np.float32(0.7), np.float64(0.7), torch.tensor(0.7)],
    ids=["np.float32", "np.float64", "0-d tensor"],
)
def test_numpy_scalars_and_0d_tensors_are_accepted_like_torch(value):
    for ours, theirs, args in [
        (initlab.xavier_uniform_, nn.init.xavier_uniform_, {"gain": value}),
        (initlab.xavier_normal_, nn.init.xavier_normal_, {"gain": value}),
        (initlab.uniform_, nn.init.uniform_, {"a": -value, "b": value}),
        (initlab.normal_, nn.init.normal_, {"mean": value, "std": value}),
        (initlab.orthogonal_, nn.init.orthogonal_, {"gain": value}),
    ]:
        got = ours(torch.empty(6, 5), **args, generator=torch.Generator().manual_seed(3))
        want = theirs(torch.empty(6, 5), **args, generator=torch.Generator().manual_seed(3))
        assert torch.equal(got, want), ours.__name__
    assert torch.equal(initlab.constant_(torch.empty(3), value), torch.full((3,), float(value)))


def test_zero_element_warning_starts_with_torchs_sentence():
    with pytest.warns(UserWarning) as ours:
        initlab.kaiming_normal_(torch.empty(0, 3))
    with pytest.warns(UserWarning) as theirs:
        nn.init.kaiming_normal_(torch.empty(0, 3))
    assert str(theirs[0].message) == "Initializing zero-element tensors is a no-op"
    assert str(ours[0].message).startswith(str(theirs[0].message))


@pytest.mark.parametrize(
    ("dtype", "value", "message"),
    [
        (torch.int64, 0.5, r"val=0.5 cannot be stored exactly in a torch.int64 tensor"),
        (torch.int8, 300, r"val=300 cannot be stored exactly in a torch.int8 tensor .*-128 to 127"),
        (torch.uint8, -1, r"val=-1 cannot be stored exactly in a torch.uint8"),
        (torch.bool, 2, r"val=2 cannot be stored in a bool tensor"),
        (torch.float16, 1e5, r"val=100000.0 would write values up to 1e\+05, beyond .*float16"),
    ],
)
def test_constant_refuses_what_the_dtype_cannot_hold(dtype, value, message):
    t = torch.zeros(3, dtype=dtype)
    with pytest.raises(ValueError, match=message):
        initlab.constant_(t, value)
    assert (t == 0).all()
    assert torch.equal(
        initlab.constant_(torch.empty(2, dtype=dtype), 1), torch.ones(2, dtype=dtype)
    )


def test_fills_that_would_overflow_to_inf_are_refused():
    t = torch.zeros(4, dtype=torch.float16)
    with pytest.raises(ValueError, match=r"normal_: mean=0.0, std=1000000.0 would write .*inf"):
        initlab.normal_(t, std=1e6)
    with pytest.raises(ValueError, match=r"uniform_: U\(-100000.0, 100000.0\) would write"):
        initlab.uniform_(t, -1e5, 1e5)
    assert (t == 0).all()
    # At the edge of float16 the draws are finite and accepted.
    assert torch.isfinite(initlab.uniform_(t, -3e4, 3e4)).all()
    assert torch.isfinite(initlab.normal_(torch.empty(1000, dtype=torch.bfloat16), std=1e30)).all()


def test_negative_xavier_gain_is_refused_by_initlab_itself():
    # PyTorch fails later, inside uniform_/normal_ ("expects ... from <= to", "std >= 0").
    with pytest.raises(RuntimeError):
        nn.init.xavier_uniform_(torch.empty(3, 4), gain=-1.0)
    with pytest.raises(ValueError, match=r"gain=-1.0 must be >= 0"):
        initlab.xavier_uniform_(torch.empty(3, 4), gain=-1.0)
