"""The object API: resolution, configs and serialization, seeding, NumPy output, spec()."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import initlab
import initlab.initializers
from initlab._registry import snake_case
from initlab._validation import check_seed
from initlab.initializers import Initializer


def _classes() -> list[type[Initializer]]:
    return sorted(
        {type(initlab.initializers.get(n)) for n in initlab.initializers.known_names()},
        key=lambda c: c.__name__,
    )


CLASSES = _classes()
SHAPE = (16, 8, 3)


def _shape_for(cls) -> tuple[int, ...]:
    return (8, 4) if cls is initlab.initializers.Sparse else SHAPE


# --- resolution ----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_class_name_and_snake_case_resolve(cls):
    assert type(initlab.initializers.get(cls.__name__)) is cls
    assert type(initlab.initializers.get(snake_case(cls.__name__))) is cls
    assert {cls.__name__, snake_case(cls.__name__)} <= set(initlab.initializers.known_names())


@pytest.mark.parametrize(
    ("alias", "cls"),
    [
        ("xavier_uniform", initlab.initializers.GlorotUniform),
        ("xavier_normal", initlab.initializers.XavierNormal),
        ("XavierUniform", initlab.initializers.GlorotUniform),
        ("he_truncated_normal", initlab.initializers.HeNormal),
        ("HeTruncatedNormal", initlab.initializers.HeNormal),
        ("GlorotTruncatedNormal", initlab.initializers.GlorotNormal),
        ("lecun_truncated_normal", initlab.initializers.LecunNormal),
        ("OrthogonalInitializer", initlab.initializers.Orthogonal),
        ("IdentityInitializer", initlab.initializers.Identity),
        ("kaiming_normal", initlab.initializers.KaimingNormal),
        ("zeros", initlab.initializers.Zeros),
        ("one", initlab.initializers.Ones),
        ("normal", initlab.initializers.RandomNormal),
        ("uniform", initlab.initializers.RandomUniform),
        ("eye", initlab.initializers.Identity),
        ("dirac", initlab.initializers.Identity),
    ],
)
def test_aliases(alias, cls):
    assert type(initlab.initializers.get(alias)) is cls


def test_get_passes_through_objects_dicts_and_callables():
    he = initlab.initializers.HeNormal(seed=1)
    assert initlab.initializers.get(he) is he
    assert initlab.initializers.get(
        {"class_name": "Orthogonal", "config": {"gain": 2.0}}
    ) == initlab.initializers.Orthogonal(
        gain=2.0, seed=initlab.initializers.get({"class_name": "Orthogonal"}).seed
    )
    assert initlab.initializers.get(torch.nn.init.zeros_) is torch.nn.init.zeros_
    assert initlab.initializers.get("he_normal", mode="fan_out").mode == "fan_out"
    with pytest.raises(TypeError, match=r"keyword arguments are only accepted with an initializer"):
        initlab.initializers.get(he, mode="fan_out")
    with pytest.raises(TypeError, match=r"cannot interpret 3 as an initializer"):
        initlab.initializers.get(3)


def test_unknown_name_closest_match():
    with pytest.raises(ValueError, match=r"initializer='he_norml' .*did you mean 'he_normal'"):
        initlab.initializers.get("he_norml")
    with pytest.raises(ValueError, match=r"initializer='Orthogonl' .*did you mean 'orthogonal'"):
        initlab.initializers.deserialize({"class_name": "Orthogonl"})


def test_register_rejects_duplicates():
    with pytest.raises(ValueError, match=r"initializer name 'he_normal' is already registered"):

        @initlab.initializers.register("he_normal")
        @dataclasses.dataclass(kw_only=True)
        class Mine(Initializer):
            pass


# --- configs and serialization -------------------------------------------------------------

NON_DEFAULT = {
    initlab.initializers.Constant: {"value": 0.25},
    initlab.initializers.RandomUniform: {"low": -0.1, "high": 0.3},
    initlab.initializers.RandomNormal: {"mean": 0.5, "std": 0.2},
    initlab.initializers.TruncatedNormal: {"std": 0.3, "low": -0.2, "high": 0.5},
    initlab.initializers.VarianceScaling: {
        "scale": 3.0,
        "mode": "fan_avg",
        "distribution": "uniform",
    },
    initlab.initializers.GlorotUniform: {"gain": 2.0, "layout": "keras"},
    initlab.initializers.HeNormal: {"mode": "fan_out", "negative_slope": 0.1},
    initlab.initializers.KaimingUniform: {
        "a": math.sqrt(5),
        "nonlinearity": "leaky_relu",
        "mode": "fan_out",
    },
    initlab.initializers.LecunNormal: {"layout": {"name": "torch", "chunks": [2, 6]}},
    initlab.initializers.Orthogonal: {"gain": 0.5},
    initlab.initializers.Identity: {"gain": 2.0, "groups": 2},
    initlab.initializers.Sparse: {"sparsity": 0.5, "std": 0.1},
}


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_config_round_trips_through_json(cls):
    init = cls(seed=7, **NON_DEFAULT.get(cls, {}))
    config = json.loads(json.dumps(init.get_config()))
    again = cls.from_config(config)
    assert again.get_config() == init.get_config()
    assert again == init
    payload = json.loads(json.dumps(initlab.initializers.serialize(init)))
    assert payload["class_name"] == cls.__name__
    restored = initlab.initializers.deserialize(payload)
    assert type(restored) is cls and restored.get_config() == init.get_config()
    shape = _shape_for(cls)
    if cls is initlab.initializers.LecunNormal:
        shape = (8, 4)
    assert torch.equal(init(shape, name="w"), restored(shape, name="w"))
    clone = init.clone()
    assert clone == init and clone is not init


def test_presets_hide_fixed_fields():
    assert set(initlab.initializers.GlorotUniform(seed=1).get_config()) == {
        "seed",
        "gain",
        "layout",
    }
    assert set(initlab.initializers.HeNormal(seed=1).get_config()) == {
        "seed",
        "mode",
        "layout",
        "negative_slope",
    }
    assert initlab.initializers.Zeros(seed=1).get_config() == {"seed": 1}
    with pytest.raises(TypeError, match=r"GlorotUniform has no argument\(s\) \['scale'\]"):
        initlab.initializers.GlorotUniform.from_config({"scale": 2.0})


def test_deserialize_errors():
    with pytest.raises(ValueError, match=r"needs a 'class_name' key"):
        initlab.initializers.deserialize({"config": {}})
    with pytest.raises(ValueError, match=r"unknown keys \['extra'\]"):
        initlab.initializers.deserialize({"class_name": "Zeros", "extra": 1})
    assert (
        type(initlab.initializers.deserialize({"class_name": "he_normal"}))
        is initlab.initializers.HeNormal
    )


# --- seeding --------------------------------------------------------------------------------

RANDOM_CLASSES = [c for c in CLASSES if c.random]


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_seeding_semantics(cls):
    shape = _shape_for(cls)
    a, b = cls(seed=3), cls(seed=3)
    first, second = a(shape), a(shape)
    assert torch.equal(first, b(shape))  # same seed, same values
    assert not torch.equal(first, second)  # one instance never repeats itself
    assert torch.equal(second, b(shape))
    a.reset()
    assert torch.equal(a(shape), first)
    assert not torch.equal(cls(seed=4)(shape), first)


@pytest.mark.parametrize("cls", RANDOM_CLASSES, ids=lambda c: c.__name__)
def test_name_selects_a_stream_independent_of_order(cls):
    shape = _shape_for(cls)
    a, b = cls(seed=5), cls(seed=5)
    a_fc1, a_fc2 = a(shape, name="fc1.weight"), a(shape, name="fc2.weight")
    b(shape)  # an unnamed call in between changes nothing for named streams
    b_fc2, b_fc1 = b(shape, name="fc2.weight"), b(shape, name="fc1.weight")
    assert torch.equal(a_fc1, b_fc1) and torch.equal(a_fc2, b_fc2)
    assert not torch.equal(a_fc1, a_fc2)
    assert torch.equal(a(shape, name="fc1.weight"), a_fc1)  # named calls repeat


def test_unseeded_instances_differ_and_leave_global_rng(preserve_global_rng):
    state = torch.random.get_rng_state()
    x, y = initlab.initializers.HeNormal()((8, 8)), initlab.initializers.HeNormal()((8, 8))
    assert not torch.equal(x, y)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_explicit_generator_overrides_seed():
    init = initlab.initializers.KaimingNormal(seed=1)
    values = init((8, 8), generator=torch.Generator().manual_seed(0))
    expected = initlab.kaiming_normal_(
        torch.empty(8, 8), generator=torch.Generator().manual_seed(0)
    )
    assert torch.equal(values, expected)


def test_seeded_values_equal_functional_with_derived_generator():
    init = initlab.initializers.GlorotUniform(seed=11)
    values = init((6, 4), name="layer.weight")
    g = initlab.rng.seeded_generator(11, "name", "layer.weight")
    assert torch.equal(values, initlab.xavier_uniform_(torch.empty(6, 4), generator=g))
    assert (
        initlab.rng.derive_seed(11, "a")
        == initlab.rng.derive_seed(11, "a")
        != initlab.rng.derive_seed(12, "a")
    )
    assert 0 <= initlab.rng.derive_seed(0) < 2**63
    with pytest.raises(TypeError, match=r"seed='1' must be an int"):
        initlab.rng.derive_seed("1")  # type: ignore[arg-type]


def test_derive_seed_is_pinned():
    # A change here changes every seeded user's weights.
    assert initlab.rng.derive_seed(1234, "name", "fc1.weight") == 5835020522716071940


# --- output types -----------------------------------------------------------------------------


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("np_dtype", [np.float32, np.float64, np.float16])
def test_numpy_output_matches_torch(cls, np_dtype):
    shape = _shape_for(cls)
    init = cls(seed=9)
    array = init.numpy(shape, np_dtype, name="w")
    assert isinstance(array, np.ndarray) and array.dtype == np_dtype and array.shape == shape
    torch_dtype = torch.from_numpy(np.empty(0, dtype=np_dtype)).dtype
    tensor = init(shape, dtype=torch_dtype, name="w")
    np.testing.assert_array_equal(array, tensor.numpy())
    via_call = init(shape, dtype=np_dtype, name="w")
    np.testing.assert_array_equal(via_call, array)
    filled = np.zeros(shape, dtype=np_dtype)
    assert init(filled, name="w") is filled
    np.testing.assert_array_equal(filled, array)


def test_shapes_tensors_and_dtypes():
    init = initlab.initializers.HeUniform(seed=0)
    assert init(5 * [2]).shape == (2, 2, 2, 2, 2)
    assert init(torch.Size([3, 4]), dtype=torch.float64).dtype == torch.float64
    t = torch.empty(4, 3, dtype=torch.bfloat16)
    assert init(t) is t
    assert initlab.initializers.Zeros()(3).shape == (3,)


# --- spec() without sampling ------------------------------------------------------------------


def test_spec_closed_forms():
    shape = (64, 32, 3, 3)
    fan_in, fan_out = 32 * 9, 64 * 9
    assert initlab.initializers.HeNormal().spec(shape).std == pytest.approx(
        math.sqrt(2 / fan_in), rel=1e-15
    )
    spec = initlab.initializers.GlorotUniform(gain=2.0).spec(shape)
    assert spec.std == pytest.approx(2 * math.sqrt(2 / (fan_in + fan_out)), rel=1e-15)
    assert spec.bound == pytest.approx(2 * math.sqrt(6 / (fan_in + fan_out)), rel=1e-15)
    spec = initlab.initializers.LecunTruncatedNormal().spec(shape)
    assert spec.std == pytest.approx(math.sqrt(1 / fan_in), rel=1e-15)
    assert spec.bound == pytest.approx(2 * math.sqrt(1 / fan_in) / initlab.TRUNC2_STD, rel=1e-15)
    spec = initlab.initializers.KaimingUniform(a=math.sqrt(5)).spec(shape)
    assert spec.bound == pytest.approx(1 / math.sqrt(fan_in), rel=1e-14)  # PyTorch's default
    spec = initlab.initializers.RandomUniform(low=-0.1, high=0.3).spec(shape)
    assert (spec.mean, spec.bound) == (pytest.approx(0.1), 0.3)
    assert spec.std == pytest.approx(0.4 / math.sqrt(12), rel=1e-15)
    assert initlab.initializers.VarianceScaling(scale=4.0, mode="fan_out").spec(
        shape
    ).std == pytest.approx(math.sqrt(4 / fan_out), rel=1e-15)
    assert initlab.initializers.Orthogonal(gain=2.0).spec((8, 32)).std == pytest.approx(
        2 / math.sqrt(32)
    )
    assert initlab.initializers.Constant(value=-2.0).spec(shape) == initlab.initializers.InitSpec(
        "constant", 0.0, -2.0, 2.0
    )


def test_spec_does_not_sample(preserve_global_rng):
    state = torch.random.get_rng_state()
    init = initlab.initializers.HeNormal(seed=0)
    init.spec((4, 4))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(
        init((4, 4)), initlab.initializers.HeNormal(seed=0)((4, 4))
    )  # no call consumed


def test_truncated_normal_spec_uses_closed_form_moments():
    from scipy import stats

    init = initlab.initializers.TruncatedNormal(mean=0.1, std=0.2, low=-0.1, high=0.6)
    dist = stats.truncnorm((-0.1 - 0.1) / 0.2, (0.6 - 0.1) / 0.2, loc=0.1, scale=0.2)
    spec = init.spec((3, 3))
    assert spec.mean == pytest.approx(dist.mean(), rel=1e-12)
    assert spec.std == pytest.approx(dist.std(), rel=1e-12)
    assert init.bounds() == (-0.1, 0.6)
    assert initlab.initializers.TruncatedNormal(std=0.5, trunc_std_multiple=3).bounds() == (
        -1.5,
        1.5,
    )


def test_refused_registration_leaves_no_partial_entries():
    before = set(initlab.initializers.known_names())
    with pytest.raises(ValueError, match=r"'he_normal' is already registered"):

        @initlab.initializers.register("he_normal")
        @dataclasses.dataclass(kw_only=True)
        class Another(Initializer):
            pass

    assert set(initlab.initializers.known_names()) == before


def test_spec_of_uneven_packed_chunks_weights_chunks_by_size():
    # Grouped-query QKV: 8 query rows and 2 + 2 key/value rows, each chunk scaled by its fan_out.
    init = initlab.initializers.HeNormal(
        layout={"name": "torch", "chunks": [8, 2, 2]}, mode="fan_out"
    )
    stds = [math.sqrt(2 / 8), math.sqrt(2 / 2), math.sqrt(2 / 2)]
    want = math.sqrt((8 * stds[0] ** 2 + 2 * stds[1] ** 2 + 2 * stds[2] ** 2) / 12)
    assert init.spec((12, 16)).chunk_stds == pytest.approx(stds)
    assert init.spec((12, 16)).std == pytest.approx(want)
    drawn = torch.cat([init((12, 16), name=f"w{i}") for i in range(200)], dim=1)
    assert drawn.std().item() == pytest.approx(want, rel=0.03)


# --- Keras 3 configs load to the distribution Keras draws -----------------------------------


def _keras(class_name: str, **config) -> dict:
    """What ``keras.initializers.serialize`` writes in Keras 3."""
    return {
        "module": "keras.initializers",
        "class_name": class_name,
        "config": {"seed": None, **config},
        "registered_name": None,
    }


@pytest.mark.parametrize(
    ("class_name", "variance"),
    [("HeNormal", 2 / 128), ("GlorotNormal", 2 / (128 + 512)), ("LecunNormal", 1 / 128)],
)
def test_keras_normal_presets_load_truncated_as_keras_draws(class_name, variance):
    from scipy import stats

    init = initlab.initializers.deserialize(_keras(class_name))
    values = init((512, 128), dtype=torch.float64).flatten().numpy()
    sigma = math.sqrt(variance) / initlab.TRUNC2_STD
    keras = stats.truncnorm(-2, 2, scale=sigma)  # frozen: scipy 1.18 broke args=(...)
    assert stats.kstest(values, keras.cdf).pvalue > 1e-4
    assert np.abs(values).max() <= 2 * sigma
    # Negative control: the untruncated normal of the same variance is rejected.
    untruncated = stats.norm(scale=math.sqrt(variance))
    assert stats.kstest(values, untruncated.cdf).pvalue < 1e-4


def test_keras_configs_of_every_builtin_load():
    configs = [
        _keras("RandomNormal", mean=0.0, stddev=0.05),
        _keras("RandomUniform", minval=-0.05, maxval=0.05),
        _keras("TruncatedNormal", mean=0.0, stddev=0.05),
        _keras("VarianceScaling", scale=1.0, mode="fan_avg", distribution="untruncated_normal"),
        _keras("GlorotUniform", input_axes=None, output_axes=None),
        _keras("HeUniform"),
        _keras("LecunUniform"),
        _keras("OrthogonalInitializer", gain=1.0),
        _keras("IdentityInitializer", gain=1.0),
        {"module": "keras.initializers", "class_name": "Zeros", "config": {}},
        {"class_name": "Constant", "config": {"value": 0.5}},
    ]
    loaded = [initlab.initializers.deserialize(c) for c in configs]
    assert (loaded[0].mean, loaded[0].std, loaded[2].std) == (0.0, 0.05, 0.05)
    assert (loaded[1].low, loaded[1].high) == (-0.05, 0.05)
    assert loaded[3].distribution == "normal"  # Keras's untruncated_normal
    assert isinstance(loaded[7], initlab.initializers.Orthogonal) and isinstance(
        loaded[8], initlab.initializers.Identity
    )
    assert initlab.initializers.get("OrthogonalInitializer").gain == 1.0


def test_keras_distribution_names_are_case_insensitive():
    assert initlab.initializers.VarianceScaling(distribution="Truncated_Normal").distribution == (
        "truncated_normal"
    )
    assert (
        initlab.initializers.VarianceScaling(distribution="UNTRUNCATED_NORMAL").distribution
        == "normal"
    )
    w = initlab.variance_scaling_(torch.empty(4, 4), distribution="Uniform")
    assert w.abs().max() <= math.sqrt(3 / 4)


def test_keras_axes_other_than_none_are_refused_with_the_reason():
    config = _keras("HeNormal", input_axes=[0], output_axes=[1])
    with pytest.raises(ValueError, match=r"input_axes name axes of a Keras kernel .*layout="):
        initlab.initializers.deserialize(config)


def test_keras_key_and_initlab_key_together_are_refused():
    with pytest.raises(TypeError, match=r"got both 'stddev' and 'std'"):
        initlab.initializers.RandomNormal.from_config({"stddev": 0.1, "std": 0.2})


def test_torch_and_keras_families_differ_only_where_documented():
    shape = (64, 32)
    assert initlab.initializers.HeNormal().spec(shape).distribution == "truncated_normal"
    assert initlab.initializers.KaimingNormal().spec(shape).distribution == "normal"
    assert initlab.initializers.GlorotNormal().spec(shape).distribution == "truncated_normal"
    assert initlab.initializers.XavierNormal().spec(shape).distribution == "normal"
    # Same variance either way, and the uniform pairs are one distribution.
    assert initlab.initializers.HeNormal().spec(shape).std == pytest.approx(
        initlab.initializers.KaimingNormal().spec(shape).std
    )
    assert initlab.initializers.XavierUniform is initlab.initializers.GlorotUniform
    g = torch.Generator().manual_seed(0)
    expected = torch.nn.init.xavier_normal_(torch.empty(shape), generator=g)
    assert torch.equal(
        initlab.initializers.XavierNormal()(shape, generator=torch.Generator().manual_seed(0)),
        expected,
    )


def test_jax_fan_geo_avg():
    init = initlab.initializers.VarianceScaling(
        scale=2.0, mode="fan_geo_avg", distribution="normal"
    )
    assert init.spec((16, 4)).std == pytest.approx(math.sqrt(2.0 / 8.0))


# --- bad input: names, keywords, configs, seeds --------------------------------------------


def test_unknown_keyword_lists_the_allowed_names():
    with pytest.raises(
        TypeError,
        match=r"HeNormal has no argument\(s\) \['sdt'\]; it takes \['layout', 'mode', "
        r"'negative_slope', 'seed'\]",
    ):
        initlab.initializers.get("he_normal", sdt=3)


@pytest.mark.parametrize("config", [["mode", "fan_in"], "mode=fan_in"])
def test_config_that_is_not_a_dict_is_refused(config):
    with pytest.raises(TypeError, match=r"config=.* must be a dict of keyword arguments, got"):
        initlab.initializers.deserialize({"class_name": "HeNormal", "config": config})


def test_deserialize_a_bare_name_says_to_use_get():
    with pytest.raises(TypeError, match=r"not the string 'HeNormal'; get\('HeNormal'\) builds"):
        initlab.initializers.deserialize("HeNormal")


def test_deserialize_refuses_other_modules():
    config = {"module": "torch.nn.init", "class_name": "HeNormal", "config": {}}
    with pytest.raises(ValueError, match=r"module 'torch.nn.init'"):
        initlab.initializers.deserialize(config)


@pytest.mark.parametrize(
    ("seed", "error", "message"),
    [
        (-1, ValueError, r"seed=-1 must lie in \[0, 2\*\*64\)"),
        (2**64, ValueError, r"seed=18446744073709551616 must lie in \[0, 2\*\*64\)"),
        (True, TypeError, r"seed=True must be an int or None"),
        (1.0, TypeError, r"seed=1.0 must be an int or None"),
    ],
)
def test_one_seed_rule(seed, error, message):
    with pytest.raises(error, match=message):
        initlab.initializers.HeNormal(seed=seed)


def test_seed_edges_accepted():
    assert initlab.initializers.HeNormal(seed=2**64 - 1)((2, 2)).shape == (2, 2)
    assert initlab.initializers.HeNormal(seed=np.int64(5)).seed == 5
    assert check_seed("seed", 0) == 0 and check_seed("seed", None) is None
    with pytest.raises(TypeError, match=r"seed=None must be an int with"):
        check_seed("seed", None, allow_none=False)
