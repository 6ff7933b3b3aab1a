"""Each experiment's claim as a band over seeds, on reduced configurations."""

from __future__ import annotations

import math

import pytest

from initlab.experiments import run_experiment

pytestmark = pytest.mark.xdist_group("experiments")


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
    r = run_experiment("circles", train={"steps": 600, "lr": 0.1, "log_every": 100}, grid=10)
    assert values(r, "zeros", "train_acc") == [0.5, 0.5, 0.5]
    losses = [rec.value for rec in r.select(setting="zeros", metric="train_loss_curve")]
    assert max(abs(v - math.log(2)) for v in losses) < 1e-5
    he, big = values(r, "he", "train_acc"), values(r, "large_random", "train_acc")
    assert min(he) > 0.6 and sum(he) > sum(big)  # He is ahead early on
    assert min(values(r, "large_random", "initial_loss")) > 10


def test_symmetry_constant_keeps_one_unit():
    r = run_experiment("symmetry", train={"steps": 200, "log_every": 50})
    assert {rec.value for rec in r.select(setting="constant", metric="distinct_units")} == {1}
    assert {rec.value for rec in r.select(setting="random", metric="distinct_units")} == {16}


def test_glorot_standard_gradients_shrink_more_than_normalized():
    r = run_experiment("glorot", width=64, n_probe=200, train={"steps": 0}, activations=["tanh"])
    std = values(r, "tanh/standard", "grad_std_ratio_bottom_top")
    norm = values(r, "tanh/normalized", "grad_std_ratio_bottom_top")
    assert max(std) < 0.8 and min(norm) > 2 * max(std)


def test_glorot_standard_init_is_uniform_with_bound_one_over_sqrt_fan_in():
    from initlab.experiments import initialized, mlp
    from initlab.experiments.catalog.glorot import GLOROT_INITS

    model = initialized(mlp([64, 256, 10]), GLOROT_INITS["standard"], 0, "t")
    w = model[0].weight.detach()
    assert float(w.abs().max()) <= 1 / 8 and float(w.abs().max()) > 0.99 / 8
    assert abs(float(w.std()) - 1 / 8 / math.sqrt(3)) < 0.002


def test_he_xavier_stalls_kaiming_trains_at_depth_30():
    r = run_experiment("he", depths=[30], train={"steps": 300, "log_every": 100})
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
        "weight-decay", train={"steps": 200, "log_every": 100}, settings=["adam", "adamw"],
        hidden=[64],
    )  # fmt: skip
    assert max(values(r, "adamw", "weight_norm")) < min(values(r, "adam", "weight_norm"))


def test_shared_layer_gradient_is_the_sum():
    r = run_experiment("shared")
    assert all(v < 1e-6 for v in values(r, "shared", "grad_sum_max_error"))
    assert values(r, "shared", "same_tensor") == [1.0, 1.0, 1.0]
    # init_model sees 4 weight uses and draws 3: the second use of the shared layer is tied
    assert values(r, "shared", "weight_uses_in_plan") == [4.0] * 3
    assert values(r, "shared", "weights_drawn") == [3.0] * 3
    assert all(f.agrees for f in r.findings)


def test_compare_runs_schemes_on_moons_and_cnn_on_digits():
    r = run_experiment(
        "compare", schemes=["he_normal", "zeros"], data={"dataset": "moons"},
        train={"steps": 60, "log_every": 20},
    )  # fmt: skip
    assert min(values(r, "he_normal", "train_acc")) > max(values(r, "zeros", "train_acc")) - 0.05
    c = run_experiment(
        "compare", schemes=["orthogonal"], model="cnn", seeds=1,
        train={"steps": 5, "grad_norm_steps": 2},
    )  # fmt: skip
    assert len(c.select(setting="orthogonal", metric="early_grad_norm")) == 3


def test_compare_accepts_a_rules_preset():
    r = run_experiment("compare", schemes=["auto"], seeds=1, train={"steps": 2, "log_every": 1})
    assert len(values(r, "auto", "test_acc")) == 1


def test_every_check_cites_a_source_a_reader_can_look_up():
    r = run_experiment("orthogonal", width=8, depths=[1, 2], seeds=1)
    for check in r.findings:
        assert check.source is not None and "seed article" not in check.source.citation
        assert check.source.url and check.source.url.startswith("https://")


def test_glorot_report_explains_runs_that_predict_one_class():
    from initlab.experiments import ExperimentResult, Record
    from initlab.experiments.catalog.glorot import _chance_note

    config = {"activations": ["sigmoid", "tanh"], "inits": ["standard", "normalized"]}
    records = []
    for act, classes in (("sigmoid", 1.0), ("tanh", 10.0)):
        for init in config["inits"]:
            for seed, acc in ((0, 0.08), (1, 0.1)):
                name = f"{act}/{init}"
                records += [
                    Record(setting=name, seed=seed, metric="classes_predicted", value=classes),
                    Record(setting=name, seed=seed, metric="test_acc", value=acc),
                ]
    result = ExperimentResult(name="glorot", title="t", config=config, records=records)
    note = _chance_note(result)
    assert "Every sigmoid run (4 runs: both inits, every seed) ends predicting one" in note
    assert "Fig. 2" in note and "tanh" not in note  # tanh runs predict 10 classes: no note


def test_glorot_training_records_how_many_classes_each_run_predicts():
    r = run_experiment(
        "glorot", width=16, n_probe=50, seeds=1, activations=["tanh"],
        train={"steps": 2, "log_every": 1},
    )  # fmt: skip
    for init in ("standard", "normalized"):
        (n,) = values(r, f"tanh/{init}", "classes_predicted")
        assert 1 <= n <= 10


# Part of the whole suite (make test); left out of make test-fast.
pytestmark = [pytestmark, pytest.mark.slow]
