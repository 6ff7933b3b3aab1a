"""The doctor reads the one activation vocabulary and recommends what ``auto`` applies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from initlab._activations import ACTIVATIONS, activation_module
from initlab._gains import recommended_scheme
from initlab.doctor import DoctorConfig, diagnose
from initlab.doctor._verdicts import row_activation
from initlab.rules import init_model

CONFIG = DoctorConfig(seed=0)
WITH_MODULE = sorted(name for name, act in ACTIVATIONS.items() if act.modules and name != "linear")


def _doctor_activation(model: nn.Module) -> tuple[str, dict[str, float]]:
    rows = diagnose(model, config=CONFIG).layers()
    found = [row_activation(r) for r in rows if row_activation(r) is not None]
    assert len(found) == 1, rows
    return found[0]  # type: ignore[return-value]


@pytest.mark.parametrize("name", WITH_MODULE)
def test_doctor_recommends_what_auto_applies(name: str) -> None:
    model = nn.Sequential(nn.Linear(16, 16), activation_module(name))
    activation, params = _doctor_activation(model)
    assert activation == name
    plan = init_model(model, "auto", seed=0, dry_run=True)
    entry = plan["0.weight"]
    scheme, args = recommended_scheme(activation, params)
    assert entry.scheme == scheme
    for key, value in args.items():
        assert entry.scheme_config is not None
        assert entry.scheme_config[key] == pytest.approx(value), (name, key)


def test_parameters_reach_the_recommendation() -> None:
    model = nn.Sequential(nn.Linear(16, 16), nn.LeakyReLU(0.3))
    activation, params = _doctor_activation(model)
    assert (activation, params) == ("leaky_relu", {"negative_slope": pytest.approx(0.3)})
    plan = init_model(model, "auto", seed=0, dry_run=True)
    assert plan["0.weight"].scheme_config["negative_slope"] == pytest.approx(0.3)


@pytest.mark.parametrize(
    ("module", "statistic"),
    [
        (nn.Softsign(), "act_sat_frac"),
        (nn.Hardtanh(-2.0, 2.0), "act_sat_frac"),
        (nn.ReLU6(), "dead_unit_frac"),
    ],
)
def test_statistics_follow_the_vocabulary(module: nn.Module, statistic: str) -> None:
    rows = diagnose(nn.Sequential(nn.Linear(16, 16), module), config=CONFIG).layers()
    assert statistic in rows[1]


@pytest.mark.parametrize("module", [nn.PReLU(), nn.CELU(), nn.Hardswish(), nn.LeakyReLU()])
def test_leaky_and_smooth_units_are_activations_but_never_dead(module: nn.Module) -> None:
    rows = diagnose(nn.Sequential(nn.Linear(16, 16), module), config=CONFIG).layers()
    assert row_activation(rows[1]) is not None
    assert "dead_unit_frac" not in rows[1] and "act_sat_frac" not in rows[1]


def test_hardtanh_saturation_uses_its_own_range() -> None:
    # Hardtanh(-2, 2) on N(0, 9) inputs: saturated exactly where |x| >= 1.99.
    model = nn.Sequential(nn.Hardtanh(-2.0, 2.0))
    x = 3 * torch.randn(256, 16, generator=torch.Generator().manual_seed(0))
    rows = diagnose(model, x, config=CONFIG).layers()
    expected = float((x.clamp(-2, 2).abs() > 1.99).float().mean())
    assert rows[0]["act_sat_frac"] == pytest.approx(expected)
