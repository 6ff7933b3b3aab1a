"""Bad input: each case is a clear error (checked by its message) or a documented no-op."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab

NAN_INF = [math.nan, math.inf, -math.inf]

# --- too few dims, empty and meta tensors -----------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        initlab.xavier_uniform_,
        initlab.kaiming_normal_,
        initlab.lecun_normal_,
        initlab.variance_scaling_,
        initlab.he_truncated_normal_,
    ],
    ids=lambda f: f.__name__,
)
def test_too_few_dims_names_shape_and_fix(fn):
    with pytest.raises(
        ValueError,
        match=r"tensor of shape \(5,\) with fewer than 2 dimensions.*initialize vectors such as "
        r"biases with zeros_, constant_, uniform_ or normal_",
    ):
        fn(torch.empty(5))


def test_initializer_objects_raise_the_same_on_vectors():
    with pytest.raises(ValueError, match=r"shape \(7,\) with fewer than 2 dimensions"):
        initlab.initializers.HeNormal(seed=0)(7)


def test_zero_element_warns_no_op_same_object():
    t = torch.empty(0, 4)
    with pytest.warns(
        UserWarning, match=r"^Initializing zero-element tensors is a no-op \(kaiming_uniform_, "
    ):
        assert initlab.kaiming_uniform_(t) is t


def test_meta_is_no_op_for_objects_too(recwarn):
    for init in (
        initlab.initializers.HeNormal(seed=0),
        initlab.initializers.Orthogonal(seed=0),
        initlab.initializers.Identity(),
    ):
        t = init((4, 3, 3, 3), device="meta")
        assert t.is_meta and t.shape == (4, 3, 3, 3)
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


# --- dtypes ------------------------------------------------------------------------------------

RANDOM_FNS = [
    ("uniform_", lambda t: initlab.uniform_(t)),
    ("normal_", lambda t: initlab.normal_(t)),
    ("trunc_normal_", lambda t: initlab.trunc_normal_(t)),
    ("xavier_uniform_", lambda t: initlab.xavier_uniform_(t)),
    ("kaiming_normal_", lambda t: initlab.kaiming_normal_(t)),
    ("variance_scaling_", lambda t: initlab.variance_scaling_(t)),
    ("orthogonal_", lambda t: initlab.orthogonal_(t)),
    ("sparse_", lambda t: initlab.sparse_(t, 0.1)),
]


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.uint8, torch.bool], ids=str)
@pytest.mark.parametrize(("name", "fn"), RANDOM_FNS, ids=[n for n, _ in RANDOM_FNS])
def test_random_schemes_reject_integer_and_bool(dtype, name, fn):
    t = torch.zeros(4, 4, dtype=dtype)
    with pytest.raises(
        TypeError,
        match=rf"{name} needs a real floating-point tensor, got dtype={dtype} \(shape \(4, 4\)\); "
        "create the parameter as float32",
    ):
        fn(t)
    assert (t == 0).all()


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool], ids=str)
def test_deterministic_schemes_accept_integer_and_bool(dtype):
    assert initlab.zeros_(torch.ones(2, 2, dtype=dtype)).sum().item() == 0
    assert initlab.ones_(torch.zeros(2, 2, dtype=dtype)).sum().item() == 4
    assert initlab.eye_(torch.zeros(2, 3, dtype=dtype)).sum().item() == 2
    assert initlab.dirac_(torch.zeros(2, 2, 3, dtype=dtype)).sum().item() == 2
    assert initlab.identity_(torch.zeros(3, 2, dtype=dtype)).sum().item() == 2


def test_non_finite_constant_in_integer_tensor():
    with pytest.raises(
        ValueError, match=r"val=nan cannot be stored in a tensor of dtype torch.int64"
    ):
        initlab.constant_(torch.empty(2, dtype=torch.int64), math.nan)


def test_non_finite_constant_in_float_tensor_is_allowed_like_pytorch():
    # Documented parity with torch.nn.init.constant_ (e.g. NaN as a "not initialized" marker);
    # the Constant initializer object, which is configuration, rejects it.
    assert torch.isnan(initlab.constant_(torch.empty(2), math.nan)).all()
    with pytest.raises(ValueError, match=r"value=nan must be finite"):
        initlab.initializers.Constant(value=math.nan)


def test_not_a_tensor():
    with pytest.raises(TypeError, match=r"uniform_ expects a torch.Tensor, got list"):
        initlab.uniform_([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"xavier_normal_ expects a torch.Tensor, got ndarray"):
        import numpy as np

        initlab.xavier_normal_(np.zeros((2, 2)))  # type: ignore[arg-type]


# --- unknown names ------------------------------------------------------------------------------


def test_unknown_mode_lists_allowed_and_closest():
    with pytest.raises(
        ValueError,
        match=r"mode='fan_inn' is not one of 'fan_in', 'fan_out' \(did you mean 'fan_in'\?\)",
    ):
        initlab.kaiming_uniform_(torch.empty(3, 3), mode="fan_inn")
    with pytest.raises(
        ValueError,
        match=r"mode='fan_outt' is not one of 'fan_in', 'fan_out', 'fan_avg', 'fan_geo_avg' "
        r"\(did you mean 'fan_out'",
    ):
        initlab.variance_scaling_(torch.empty(3, 3), mode="fan_outt")
    with pytest.raises(ValueError, match=r"mode='fan_avg' is not one of 'fan_in', 'fan_out' \("):
        initlab.kaiming_normal_(torch.empty(3, 3), mode="fan_avg")


def test_unknown_distribution():
    with pytest.raises(
        ValueError,
        match=r"distribution='normla' is not one of 'uniform', 'normal', 'truncated_normal' "
        r"\(did you mean 'normal'\?\)",
    ):
        initlab.variance_scaling_(torch.empty(3, 3), distribution="normla")
    with pytest.raises(ValueError, match=r"distribution='gaussian' is not one of"):
        initlab.initializers.VarianceScaling(distribution="gaussian")


def test_unknown_nonlinearity():
    with pytest.raises(ValueError, match=r"Unsupported nonlinearity gelu"):
        initlab.kaiming_normal_(torch.empty(3, 3), nonlinearity="gelu")
    with pytest.raises(ValueError, match=r"Unsupported nonlinearity relu6"):
        initlab.initializers.KaimingNormal(nonlinearity="relu6")


def test_unknown_layout():
    with pytest.raises(
        ValueError, match=r"layout='tourch' is not one of 'torch', .* \(did you mean 'torch'\?\)"
    ):
        initlab.xavier_uniform_(torch.empty(3, 3), layout="tourch")
    with pytest.raises(ValueError, match=r"layout='kers' is not one of .*did you mean 'keras'"):
        initlab.initializers.HeNormal(layout="kers")


def test_unknown_initializer_name():
    with pytest.raises(
        ValueError,
        match=r"initializer='glorot_unifrom' is not one of 'constant', .* "
        r"\(did you mean 'glorot_uniform'\?\)",
    ):
        initlab.initializers.get("glorot_unifrom")
    with pytest.raises(ValueError, match=r"initializer='zzzz' is not one of [^(]*$"):
        initlab.initializers.get("zzzz")


# --- numeric arguments ---------------------------------------------------------------------


def test_negative_std():
    with pytest.raises(ValueError, match=r"std=-0.5 must be >= 0"):
        initlab.normal_(torch.empty(3), std=-0.5)
    with pytest.raises(ValueError, match=r"std=-0.5 must be >= 0"):
        initlab.sparse_(torch.empty(3, 3), 0.1, std=-0.5)
    with pytest.raises(ValueError, match=r"std=-0.5 must be >= 0"):
        initlab.initializers.RandomNormal(std=-0.5)
    with pytest.raises(ValueError, match=r"std=0.0 must be > 0"):
        initlab.initializers.TruncatedNormal(std=0.0)


@pytest.mark.parametrize("scale", [0.0, -1.0])
def test_non_positive_scale(scale):
    with pytest.raises(ValueError, match=rf"scale={scale!r} must be > 0"):
        initlab.variance_scaling_(torch.empty(3, 3), scale)
    with pytest.raises(ValueError, match=rf"scale={scale!r} must be > 0"):
        initlab.initializers.VarianceScaling(scale=scale)
    with pytest.raises(ValueError, match=rf"gain={scale!r} must be > 0"):
        initlab.initializers.GlorotUniform(gain=scale)


@pytest.mark.parametrize("sparsity", [-0.1, 1.5])
def test_sparsity_outside_unit_interval(sparsity):
    with pytest.raises(ValueError, match=rf"sparsity={sparsity!r} must lie in \[0.0, 1.0\]"):
        initlab.sparse_(torch.empty(4, 4), sparsity)
    with pytest.raises(ValueError, match=rf"sparsity={sparsity!r} must lie in \[0.0, 1.0\]"):
        initlab.initializers.Sparse(sparsity=sparsity)


@pytest.mark.parametrize("sparsity", [0.0, 1.0])
def test_sparsity_edges(sparsity):
    t = initlab.sparse_(torch.empty(8, 5), sparsity, generator=torch.Generator().manual_seed(0))
    assert ((t == 0).sum(dim=0) == round(sparsity * 8)).all()


@pytest.mark.parametrize("value", NAN_INF)
def test_nan_and_inf_arguments(value):
    t = torch.zeros(4, 4)
    cases = [
        (lambda: initlab.uniform_(t, value, 1.0), "a"),
        (lambda: initlab.uniform_(t, 0.0, value), "b"),
        (lambda: initlab.normal_(t, value), "mean"),
        (lambda: initlab.normal_(t, 0.0, value), "std"),
        (lambda: initlab.trunc_normal_(t, value), "mean"),
        (lambda: initlab.xavier_uniform_(t, value), "gain"),
        (lambda: initlab.kaiming_uniform_(t, value), "a"),
        (lambda: initlab.kaiming_normal_(t, value), "a"),
        (lambda: initlab.orthogonal_(t, value), "gain"),
        (lambda: initlab.identity_(t, value), "gain"),
        (lambda: initlab.variance_scaling_(t, value), "scale"),
        (lambda: initlab.sparse_(t, value), "sparsity"),
        (lambda: initlab.positive_bias_(t, value), "value"),
        (lambda: initlab.initializers.RandomUniform(low=value), "low"),
        (lambda: initlab.initializers.HeNormal(negative_slope=value), "negative_slope"),
        (lambda: initlab.initializers.TruncatedNormal(mean=value), "mean"),
    ]
    for call, arg in cases:
        if value == math.inf and arg in ("std", "scale"):
            pattern = rf"{arg}=inf must be finite"
        else:
            pattern = rf"{arg}={value!r} must be finite"
        with pytest.raises(ValueError, match=pattern):
            call()
    assert (t == 0).all()


def test_non_numbers_are_type_errors():
    with pytest.raises(TypeError, match=r"std='0.1' must be a real number, got str"):
        initlab.normal_(torch.empty(3), std="0.1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"gain=True must be a real number, got bool"):
        initlab.orthogonal_(torch.empty(3, 3), gain=True)


def test_uniform_bounds_order():
    with pytest.raises(ValueError, match=r"a=1.0 must not exceed b=0.0 in uniform_"):
        initlab.uniform_(torch.empty(3), 1.0, 0.0)
    with pytest.raises(ValueError, match=r"low=1.0 must not exceed high=0.0"):
        initlab.initializers.RandomUniform(low=1.0, high=0.0)


# --- groups --------------------------------------------------------------------------------------


def test_groups_not_dividing_channels():
    with pytest.raises(
        ValueError, match=r"groups=4 does not divide dim 0 \(size 6\) of shape \(6, 3, 3\)"
    ):
        initlab.dirac_(torch.empty(6, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"groups=0 must be a positive integer"):
        initlab.identity_(torch.empty(6, 3, 3), groups=0)
    with pytest.raises(ValueError, match=r"groups=2.0 must be a positive integer"):
        initlab.initializers.Identity(groups=2.0)  # type: ignore[arg-type]
    layout = initlab.get_layout("torch").with_(groups=5)
    with pytest.raises(ValueError, match=r"groups=5 does not divide the channels"):
        initlab.kaiming_normal_(torch.empty(12, 4, 3, 3), layout=layout)


def test_delta_orthogonal_contracting_kernel():
    with pytest.raises(ValueError, match=r"needs out_channels >= in_channels .* \(4, 8, 3\)"):
        initlab.delta_orthogonal_(torch.empty(4, 8, 3))


# --- non-contiguous views and autograd ---------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, g: initlab.orthogonal_(t, generator=g),
        lambda t, g: initlab.trunc_normal_(t, generator=g),
        lambda t, g: initlab.he_truncated_normal_(t, g),
        lambda t, g: initlab.identity_(t),
        lambda t, g: initlab.eye_(t),
    ],
)
def test_non_contiguous_views_filled_like_contiguous(fn):
    # Schemes that compute their values first and copy them in give the contiguous values.
    base = torch.zeros(12, 20)
    view = base.t()[::2]  # (10, 12), non-contiguous
    assert not view.is_contiguous()
    assert fn(view, torch.Generator().manual_seed(0)) is view
    expected = fn(torch.empty(10, 12), torch.Generator().manual_seed(0))
    assert torch.equal(view, expected)
    assert (base.t()[1::2] == 0).all()  # the rest of the base is untouched


def test_non_contiguous_views_sampled_in_place_with_right_distribution():
    # uniform_/normal_-based schemes draw in memory order, exactly as torch.nn.init does
    # (see test_functional_parity.py); here: the view gets the right values, the base keeps
    # the rest. KS threshold p > 1e-6 (false-failure probability 1e-6; fixed seed).
    from scipy import stats

    base = torch.zeros(512, 400)
    view = base.t()[::2]  # (200, 512)
    assert initlab.kaiming_uniform_(view, generator=torch.Generator().manual_seed(0)) is view
    bound = math.sqrt(6 / 512)
    assert stats.kstest(view.flatten().numpy(), stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-6
    assert (base.t()[1::2] == 0).all()
    sparse = initlab.sparse_(base.t()[1::2], 0.25, generator=torch.Generator().manual_seed(1))
    assert ((sparse == 0).sum(dim=0) == 50).all()
    assert torch.equal(base.t()[1::2], sparse)


@pytest.mark.parametrize(
    "fn",
    [
        lambda p: initlab.kaiming_normal_(p),
        lambda p: initlab.zeros_(p),
        lambda p: initlab.ones_(p),
        lambda p: initlab.orthogonal_(p),
        lambda p: initlab.trunc_normal_(p),
        lambda p: initlab.identity_(p, 2.0),
        lambda p: initlab.sparse_(p, 0.5),
        lambda p: initlab.initializers.LecunTruncatedNormal(seed=0)(p),
    ],
)
def test_requires_grad_parameters_record_no_graph(fn):
    p = nn.Parameter(torch.empty(6, 4))
    out = fn(p)
    assert out is p
    assert p.requires_grad
    assert p.grad_fn is None
    assert p.is_leaf
    (p.sum() * 2).backward()  # still usable as a leaf
    assert torch.equal(p.grad, torch.full((6, 4), 2.0))


# --- objects: construction-time validation ---------------------------------------------------


def test_validation_happens_at_construction():
    with pytest.raises(ValueError, match=r"mode='fanin' is not one of"):
        initlab.initializers.HeUniform(mode="fanin")
    with pytest.raises(ValueError, match=r"low=0.5 must be less than high=0.5"):
        initlab.initializers.TruncatedNormal(low=0.5, high=0.5)
    with pytest.raises(TypeError, match=r"seed='1' must be an int or None"):
        initlab.initializers.HeNormal(seed="1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"seed=True must be an int or None"):
        initlab.initializers.HeNormal(seed=True)


def test_bad_shapes_for_objects():
    with pytest.raises(ValueError, match=r"shape=\(3, -1\) has a negative dimension"):
        initlab.initializers.RandomNormal(seed=0)((3, -1))
    with pytest.raises(TypeError, match=r"shape='abc' must be an int, a sequence of ints"):
        initlab.initializers.RandomNormal(seed=0)("abc")  # type: ignore[arg-type]


def test_bad_generator():
    with pytest.raises(
        TypeError, match=r"generator=3 must be a torch.Generator, an initlab Sampler"
    ):
        initlab.normal_(torch.empty(3), generator=3)  # type: ignore[arg-type]


def test_spec_rejects_shapes_the_fill_rejects():
    """spec() answers for exactly the shapes fill accepts (no rows that cannot be drawn)."""
    with pytest.raises(ValueError, match=r"sparse_ supports 2-D tensors only"):
        initlab.initializers.get("sparse").spec((64, 3, 7, 7))
    with pytest.raises(ValueError, match=r"needs out_channels >= in_channels"):
        initlab.initializers.get("delta_orthogonal").spec((4, 8, 3, 3))
    with pytest.raises(ValueError, match=r"supports 3-, 4- and 5-D kernels"):
        initlab.initializers.get("delta_orthogonal").spec((256, 784))
    with pytest.raises(ValueError, match=r"orthogonal_ needs at least 2 dimensions"):
        initlab.initializers.get("orthogonal").spec((5,))
    with pytest.raises(ValueError, match=r"identity_ supports 2- to 5-D tensors"):
        initlab.initializers.get("identity").spec((5,))


def test_groups_divisibility_is_checked_on_channels_not_receptive_field():
    layout = initlab.get_layout("torch").with_(groups=3)
    # 2 output channels × kernel 3: fan_out 6 is divisible by 3, the channels are not.
    with pytest.raises(ValueError, match=r"groups=3 does not divide the channels .*2 output"):
        initlab.compute_fans((2, 4, 3), layout)
