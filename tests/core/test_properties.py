"""Property-based contract tests: every scheme, over shapes, dtypes, layouts and devices,
either fills correctly or raises one of the documented errors.

Hypothesis runs derandomized (a fixed example sequence), so CI is deterministic.
"""

from __future__ import annotations

import dataclasses
import math
import re
import warnings

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import initlab
from initlab import LAYOUTS
from initlab.initializers import Initializer

DETERMINISTIC = settings(
    derandomize=True,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

CLASSES = sorted(
    {type(initlab.initializers.get(n)) for n in initlab.initializers.known_names()},
    key=lambda c: c.__name__,
)
DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16, torch.int32, torch.bool]

# The documented errors (ValueError/TypeError) and their wording.
DOCUMENTED = [
    (ValueError, r"with fewer than 2 dimensions; fan-based schemes"),
    (ValueError, r"supports 2-D tensors only, got shape"),
    (ValueError, r"identity_ supports 2- to 5-D tensors, got shape"),
    (ValueError, r"delta_orthogonal_ supports 3-, 4- and 5-D kernels, got shape"),
    (ValueError, r"delta_orthogonal_ needs out_channels >= in_channels"),
    (ValueError, r"orthogonal_ needs at least 2 dimensions, got shape"),
    (ValueError, r"axis -?\d+ is out of range for a weight of shape"),
    (ValueError, r"groups=\d+ does not divide"),
    (ValueError, r"chunks=\d+ does not divide axis"),
    (TypeError, r"needs a real floating-point tensor, got dtype=torch\.(int32|bool)"),
]


def _documented(error: Exception) -> bool:
    return any(isinstance(error, kind) and re.search(p, str(error)) for kind, p in DOCUMENTED)


def _has_layout(cls) -> bool:
    return "layout" in {f.name for f in dataclasses.fields(cls) if f.init}


@st.composite
def initializers(draw) -> Initializer:
    cls = draw(st.sampled_from(CLASSES))
    kwargs = {"seed": draw(st.integers(0, 2**31))}
    if _has_layout(cls):
        layout = initlab.get_layout(draw(st.sampled_from(sorted(LAYOUTS))))
        kwargs["layout"] = layout.with_(chunks=draw(st.sampled_from([1, 1, 2, 3])))
    if cls is initlab.initializers.Identity:
        kwargs["groups"] = draw(st.sampled_from([1, 2]))
    return cls(**kwargs)


shapes = st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple)


@DETERMINISTIC
@given(
    init=initializers(),
    shape=shapes,
    dtype=st.sampled_from(DTYPES),
    meta=st.booleans(),
    requires_grad=st.booleans(),
)
def test_every_scheme_fills_or_raises_documented_errors(init, shape, dtype, meta, requires_grad):
    device = "meta" if meta else "cpu"
    tensor = torch.full(shape, 7, dtype=dtype, device=device)
    if requires_grad and dtype.is_floating_point:
        tensor = torch.nn.Parameter(tensor)
    before = tensor.detach().clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = init(tensor)
        except (ValueError, TypeError) as error:
            assert _documented(error), f"undocumented error: {error!r}"
            event("raised a documented error")
            if not meta:
                assert torch.equal(tensor.detach(), before), "a failed call must not write"
            return
    assert out is tensor
    assert out.shape == shape and out.dtype == dtype
    assert out.grad_fn is None
    if requires_grad and dtype.is_floating_point:
        assert out.requires_grad and out.is_leaf
    if type(init).random:
        assert dtype.is_floating_point, "random schemes must reject non-float dtypes"
    if meta:
        assert out.is_meta
        return
    zero_warnings = [w for w in caught if "zero-element" in str(w.message)]
    if tensor.numel() == 0:
        assert zero_warnings
        return
    assert not zero_warnings
    event("filled")
    if dtype.is_floating_point:
        assert torch.isfinite(out.detach()).all()
        spec = init.spec(shape)
        assert math.isfinite(spec.std) and spec.std >= 0


@DETERMINISTIC
@given(
    layout_name=st.sampled_from(sorted(LAYOUTS)),
    shape=st.lists(st.integers(1, 7), min_size=2, max_size=5).map(tuple),
)
def test_fans_factor_the_shape(layout_name, shape):
    try:
        fans = initlab.compute_fans(shape, layout_name)
    except ValueError as error:
        assert _documented(error)
        return
    rf = fans.receptive_field
    assert fans.fan_in % rf == 0 and fans.fan_out % rf == 0
    assert (fans.fan_in // rf) * (fans.fan_out // rf) * rf * fans.batch == math.prod(shape)


@DETERMINISTIC
@given(
    scale=st.floats(1e-3, 1e3),
    mode=st.sampled_from(["fan_in", "fan_out", "fan_avg"]),
    distribution=st.sampled_from(["uniform", "normal", "truncated_normal"]),
    shape=st.lists(st.integers(1, 6), min_size=2, max_size=4).map(tuple),
    dtype=st.sampled_from(DTYPES[:4]),
)
def test_variance_scaling_stays_within_its_bound(scale, mode, distribution, shape, dtype):
    init = initlab.initializers.VarianceScaling(
        seed=0, scale=scale, mode=mode, distribution=distribution
    )
    values = init(shape, dtype=dtype)
    spec = init.spec(shape)
    assert torch.isfinite(values).all()
    if spec.bound is not None:
        u = 0.0 if distribution == "truncated_normal" else torch.finfo(dtype).eps / 2
        assert values.double().abs().max().item() <= spec.bound * (1 + u)
