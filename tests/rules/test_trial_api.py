"""``init_model`` and ``initlab.build`` inputs a user tries on real models: each bad one is
refused up front with the argument, the value and what is allowed."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initlab


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ValueError, r"seed=-1 must lie in \[0, 2\*\*64\)"),
        (2**70, ValueError, r"seed=1180591620717411303424 must lie in \[0, 2\*\*64\)"),
        ("3", TypeError, r"seed='3' must be an int or None"),
        (True, TypeError, r"seed=True must be an int or None"),
    ],
)
def test_init_model_seeds_follow_the_one_seed_rule(seed: object, error: type, match: str) -> None:
    model = mlp()
    before = model[0].weight.detach().clone()
    with pytest.raises(error, match=match):
        initlab.init_model(model, "auto", seed=seed)  # type: ignore[arg-type]
    assert torch.equal(model[0].weight, before)


def test_init_model_accepts_the_largest_seed() -> None:
    initlab.init_model(mlp(), "auto", seed=2**64 - 1)  # the other side of the boundary


def test_init_model_refuses_to_write_on_meta() -> None:
    model = mlp()
    with pytest.raises(ValueError, match=r"device='meta': meta tensors hold no values"):
        initlab.init_model(model, "auto", seed=0, device="meta")
    assert model[0].weight.device.type == "cpu"
    plan = initlab.init_model(model, "auto", seed=0, device="meta", dry_run=True)
    assert len(plan) == 4
