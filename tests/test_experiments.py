"""Experiments: each qualitative claim as a band over seeds, on reduced configurations."""

from __future__ import annotations

import json
import math

import pytest
import torch

import initlab
from initlab.experiments import (
    EXPERIMENTS,
    Stack,
    TrainSpec,
    init_model,
    load_dataset,
    make_config,
    mlp,
    run_experiment,
    small_cnn,
    train,
    train_sequential,
    write_results,
)

pytestmark = pytest.mark.xdist_group("experiments")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models run faster on one thread (and do not fight the other test worker)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _he(w: torch.Tensor, g: torch.Generator) -> None:
    initlab.kaiming_normal_(w, nonlinearity="relu", generator=g)


def values(result, setting, metric):
    return [r.value for r in result.select(setting=setting, metric=metric, index=None)]


def test_depth_normal_is_nonfinite_before_layer_40_and_kaiming_survives():
    r = run_experiment(
        "depth", width=256, n_inputs=16, settings=["normal", "relu_kaiming", "relu_xavier"]
    )
    assert all(v is not None and v < 40 for v in values(r, "normal", "first_nonfinite_layer"))
    assert all(
        v is not None and v < 40 for v in values(r, "normal (one matrix)", "first_nonfinite_layer")
    )
    assert all(0.1 < v < 10 for v in values(r, "relu_kaiming", "final_std"))
    assert all(v < 1e-10 for v in values(r, "relu_xavier", "final_std"))
    assert len(r.select(setting="normal", seed=0, metric="std_by_layer")) == 100


def test_circles_zeros_stays_at_ln2_and_he_beats_large_random():
    r = run_experiment("circles", iterations=600, lr=0.1, log_every=100, grid=10)
    assert values(r, "zeros", "train_acc") == [0.5, 0.5, 0.5]
    losses = [rec.value for rec in r.select(setting="zeros", metric="loss")]
    assert max(abs(v - math.log(2)) for v in losses) < 1e-5
    he, big = values(r, "he", "train_acc"), values(r, "large_random", "train_acc")
    assert min(he) > 0.6 and sum(he) > sum(big)  # He is ahead early on
    assert min(values(r, "large_random", "initial_loss")) > 10


def test_symmetry_constant_keeps_one_unit():
    r = run_experiment("symmetry", steps=200, log_every=50)
    assert {rec.value for rec in r.select(setting="constant", metric="distinct_units")} == {1}
    assert {rec.value for rec in r.select(setting="random", metric="distinct_units")} == {16}


def test_glorot_standard_gradients_shrink_more_than_normalized():
    r = run_experiment("glorot", width=64, n_probe=200, train_steps=0, activations=["tanh"])
    std = values(r, "tanh/standard", "grad_std_ratio_bottom_top")
    norm = values(r, "tanh/normalized", "grad_std_ratio_bottom_top")
    assert max(std) < 0.8 and min(norm) > 2 * max(std)


def test_he_xavier_stalls_kaiming_trains_at_depth_30():
    r = run_experiment("he", depths=[30], steps=300, log_every=100)
    assert max(values(r, "xavier, depth 30", "train_acc")) < 0.3
    kaiming = values(r, "kaiming, depth 30", "train_acc")
    assert min(kaiming) > 0.3 and sum(kaiming) / len(kaiming) > 0.5


def test_orthogonal_products_keep_unit_singular_values():
    r = run_experiment("orthogonal", width=32, depths=[1, 16, 64])
    ortho = [x.value for x in r.select(setting="orthogonal", metric="log10_condition")]
    gauss = [x.value for x in r.select(setting="gaussian", metric="log10_condition", index=64)]
    assert max(ortho) < 1e-6 and min(gauss) > 1.0


def test_weight_decay_shrinks_weights():
    r = run_experiment(
        "weight-decay", steps=200, log_every=100, settings=["adam", "adamw"], hidden=[64]
    )
    assert max(values(r, "adamw", "weight_norm")) < min(values(r, "adam", "weight_norm"))


def test_shared_layer_gradient_is_the_sum():
    r = run_experiment("shared")
    assert all(v < 1e-6 for v in values(r, "shared", "grad_sum_max_error"))
    assert values(r, "shared", "same_tensor") == [1.0, 1.0, 1.0]


def test_compare_runs_schemes_on_moons_and_cnn_on_digits():
    r = run_experiment(
        "compare", schemes=["he_normal", "zeros"], dataset="moons", steps=60, log_every=20
    )
    assert min(values(r, "he_normal", "train_acc")) > max(values(r, "zeros", "train_acc")) - 0.05
    c = run_experiment(
        "compare", schemes=["orthogonal"], model="cnn", steps=5, seeds=1, grad_norm_steps=2
    )
    assert len(c.select(setting="orthogonal", metric="early_grad_norm")) == 3


@pytest.mark.parametrize("seeds", [0, -1])
def test_seeds_must_be_positive(seeds):
    with pytest.raises(ValueError, match=r"seeds=.* must be >= 1"):
        run_experiment("depth", seeds=seeds)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match=r"experiment='dept' is not one of .*did you mean 'depth'"):
        run_experiment("dept")
    with pytest.raises(ValueError, match=r"scheme='he_norml'.*did you mean 'he_normal'"):
        make_config("compare", schemes=["he_norml"])
    with pytest.raises(ValueError, match="dataset='mnist' is not one of"):
        make_config("compare", dataset="mnist")
    with pytest.raises(ValueError, match="inits='ones' is not one of"):
        make_config("circles", inits=["ones"])
    with pytest.raises(ValueError, match="CirclesConfig field='iters' is not one of"):
        make_config("circles", {"iters": 3})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_device_is_a_clear_error():
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        run_experiment("depth", device="cuda")
    with pytest.raises(ValueError, match="device='tpu' is not a device name"):
        run_experiment("depth", device="tpu")


def test_configs_round_trip_through_json():
    for name in EXPERIMENTS:
        cfg = make_config(name)
        again = type(cfg).from_dict(json.loads(json.dumps(cfg.to_dict())))
        assert again == cfg


def _runs(seeds, sizes=(2, 8, 1)):
    return [init_model(mlp(sizes), _he, initlab.seeded_generator(s, "t")) for s in seeds]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_vectorized_equals_sequential(optimizer):
    data = load_dataset("moons", n_train=64, n_test=32, binary=True)
    seeds = [0, 1, 2, 3]
    spec = TrainSpec(
        optimizer=optimizer,
        lr=0.01,
        steps=30,
        batch_size=16,
        log_every=10,
        weight_decay=0.01,
        grad_norm_steps=3,
    )
    a = train(Stack(_runs(seeds)), data, spec, seeds)
    b = train_sequential(_runs(seeds), data, spec, seeds)
    for key in a.metrics:
        torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.grad_norms, b.grad_norms, rtol=1e-4, atol=1e-6)


def test_vectorized_cnn_equals_sequential():
    data = load_dataset("digits", n_train=64, n_test=32).as_images()
    seeds = [0, 1]
    models = [
        init_model(small_cnn(8, [4, 6], 10), _he, initlab.seeded_generator(s, "c")) for s in seeds
    ]
    spec = TrainSpec(optimizer="adam", lr=0.01, steps=5, batch_size=16, log_every=5)
    a = train(Stack(models), data, spec, seeds)
    b = train_sequential(models, data, spec, seeds)
    for key in a.metrics:
        torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)


def test_experiments_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    run_experiment("shared")
    run_experiment("depth", width=32, depth=5, settings=["normal"])
    assert torch.equal(state, torch.get_rng_state())


def test_results_json_and_html(tmp_path):
    r = run_experiment("orthogonal", width=16, depths=[1, 4])
    html_path, json_path = write_results([r], tmp_path, title="t")
    data = json.loads(json_path.read_text())
    assert data["orthogonal"]["config"]["width"] == 16
    assert set(data["orthogonal"]["per_seed"]["orthogonal"]) == {"0", "1", "2"}
    assert "data:image/png;base64," in html_path.read_text()


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("circles", {"noise": -5}, r"noise=-5\.0 must be >= 0"),
        ("circles", {"noise": math.nan}, r"noise=nan must be finite"),
        ("circles", {"lr": 0.0}, r"lr=0\.0 must be > 0"),
        ("circles", {"sizes": (2, 0, 1)}, r"sizes\[1\]=0 must be >= 1"),
        ("circles", {"log_every": 0}, r"log_every=0 must be >= 1"),
        ("circles", {"data_seed": -1}, r"data_seed=-1 must be >= 0"),
        ("weight-decay", {"momentum": -0.5}, r"momentum=-0\.5 must be >= 0"),
        ("weight-decay", {"hidden": (64, 0)}, r"hidden\[1\]=0 must be >= 1"),
        ("weight-decay", {"n_train": 0}, r"n_train=0 must be >= 2"),
        ("glorot", {"lr": -1.0}, r"lr=-1\.0 must be > 0"),
        ("glorot", {"batch_size": 0}, r"batch_size=0 must be >= 1"),
        ("he", {"depths": ()}, r"depths=\(\) must list at least one entry"),
        ("he", {"momentum": -1.0}, r"momentum=-1\.0 must be >= 0"),
        ("compare", {"channels": (8, 0)}, r"channels\[1\]=0 must be >= 1"),
        ("compare", {"grad_norm_steps": -1}, r"grad_norm_steps=-1 must be >= 0"),
        ("symmetry", {"lr": 0.0}, r"lr=0\.0 must be > 0"),
        ("symmetry", {"optimizer": "adm"}, r"optimizer='adm' .*did you mean 'adam'"),
        ("orthogonal", {"depths": (4, 0)}, r"depths\[1\]=0 must be >= 1"),
        ("depth", {"n_inputs": 1}, r"n_inputs=1 must be >= 2"),
        ("shared", {"batch": 0}, r"batch=0 must be >= 1"),
    ],
)
def test_config_numbers_are_validated_when_built(name, changes, message):
    with pytest.raises(ValueError, match=message):
        make_config(name, **changes)


def test_bad_set_value_is_a_cli_error_naming_the_field(capsys):
    from initlab._cli import main

    assert main(["experiment", "circles", "--set", "noise=-5"]) == 2
    assert "noise=-5.0 must be >= 0" in capsys.readouterr().err


def test_check_fields_is_one_checker_for_ints_tuples_and_reals():
    from dataclasses import dataclass

    from initlab.experiments._common import check_fields

    @dataclass
    class Config:
        steps: int = 1
        sizes: tuple[int, ...] = (2, 3)
        lr: float = 0.1
        noise: float = 0.0

    spec = {"at_least": {"steps": 1, "sizes": 2}, "positive": ("lr",), "non_negative": ("noise",)}
    check_fields(Config(), **spec)
    with pytest.raises(TypeError, match=r"steps=1\.5 must be an integer"):
        check_fields(Config(steps=1.5), **spec)
    with pytest.raises(ValueError, match=r"sizes\[0\]=1 must be >= 2"):
        check_fields(Config(sizes=(1, 3)), **spec)
    with pytest.raises(ValueError, match=r"lr=inf must be finite"):
        check_fields(Config(lr=math.inf), **spec)
    with pytest.raises(TypeError, match=r"noise=True must be a real number"):
        check_fields(Config(noise=True), **spec)
