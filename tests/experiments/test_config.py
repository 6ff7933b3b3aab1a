"""Experiment configs: keyword-only dataclasses, JSON round trip, checked when built."""

from __future__ import annotations

import json
import math

import pytest
import torch

from initlab.experiments import EXPERIMENTS, make_config, run_experiment


@pytest.mark.parametrize("seeds", [0, -1])
def test_seeds_must_be_positive(seeds):
    with pytest.raises(ValueError, match=r"seeds=.* must be >= 1"):
        run_experiment("depth", seeds=seeds)


def test_seeds_have_an_upper_bound_checked_before_any_work():
    with pytest.raises(ValueError, match=r"seeds=1000000000 is more than 256"):
        make_config("depth", seeds=10**9)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match=r"experiment='dept' is not one of .*did you mean 'depth'"):
        run_experiment("dept")
    with pytest.raises(ValueError, match=r"scheme='he_norml'.*did you mean 'he_normal'"):
        make_config("compare", schemes=["he_norml"])
    with pytest.raises(ValueError, match="dataset='mnist' is not one of"):
        make_config("compare", data={"dataset": "mnist"})
    with pytest.raises(ValueError, match="inits='ones' is not one of"):
        make_config("circles", inits=["ones"])
    with pytest.raises(ValueError, match="CirclesConfig field='iters' is not one of"):
        make_config("circles", {"iters": 3})
    with pytest.raises(ValueError, match=r"TrainSpec field='stepz' is not one of.*'steps'"):
        make_config("circles", train={"stepz": 3})
    with pytest.raises(ValueError, match=r"activation='rleu'.*did you mean 'relu'"):
        make_config("compare", activation="rleu")


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


def test_nested_changes_merge_with_the_experiments_defaults():
    cfg = make_config("circles", train={"steps": 7})
    assert cfg.train.steps == 7 and cfg.train.lr == 0.01  # the assignment's lr is kept
    assert make_config("circles", cfg).train.steps == 7
    assert make_config("he", {"train": {"lr": 0.1}}, train={"steps": 2}).train.lr == 0.1


@pytest.mark.parametrize(
    ("name", "changes", "message"),
    [
        ("circles", {"data": {"noise": -5}}, r"noise=-5(\.0)? must be >= 0"),
        ("circles", {"data": {"noise": math.nan}}, r"noise=nan must be finite"),
        ("circles", {"train": {"lr": 0.0}}, r"lr=0\.0 must be > 0"),
        ("circles", {"sizes": (2, 0, 1)}, r"sizes\[1\]=0 must be >= 1"),
        ("circles", {"train": {"log_every": 0}}, r"log_every=0 must be >= 1"),
        ("circles", {"data": {"data_seed": -1}}, r"data_seed=-1 must be >= 0"),
        ("weight-decay", {"train": {"momentum": -0.5}}, r"momentum=-0\.5 must be >= 0"),
        ("weight-decay", {"hidden": (64, 0)}, r"hidden\[1\]=0 must be >= 1"),
        ("weight-decay", {"data": {"n_train": 0}}, r"n_train=0 must be >= 2"),
        ("glorot", {"train": {"lr": -1.0}}, r"lr=-1\.0 must be > 0"),
        ("glorot", {"train": {"batch_size": 0}}, r"batch_size=0 must be >= 1"),
        ("he", {"depths": ()}, r"depths=\(\) must list at least one entry"),
        ("he", {"train": {"momentum": -1.0}}, r"momentum=-1\.0 must be >= 0"),
        ("compare", {"channels": (8, 0)}, r"channels\[1\]=0 must be >= 1"),
        ("compare", {"train": {"grad_norm_steps": -1}}, r"grad_norm_steps=-1 must be >= 0"),
        ("symmetry", {"train": {"lr": 0.0}}, r"lr=0\.0 must be > 0"),
        ("symmetry", {"train": {"optimizer": "adm"}}, r"optimizer='adm' .*did you mean 'adam'"),
        ("orthogonal", {"depths": (4, 0)}, r"depths\[1\]=0 must be >= 1"),
        ("depth", {"n_inputs": 1}, r"n_inputs=1 must be >= 2"),
        ("shared", {"batch": 0}, r"batch=0 must be >= 1"),
    ],
)
def test_config_numbers_are_validated_when_built(name, changes, message):
    with pytest.raises(ValueError, match=message):
        make_config(name, **changes)


def test_check_fields_is_one_checker_for_ints_tuples_and_reals():
    from dataclasses import dataclass

    from initlab.experiments._base import check_fields

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
