"""The doctor's reductions against direct computation, and what its findings say."""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from initlab.doctor import DoctorConfig, diagnose
from initlab.doctor._stats import HIST_SAMPLE, Deferred, activation_stats, histogram


def _fetched(tensor: torch.Tensor) -> list[float]:
    deferred = Deferred()
    slot = deferred.add(tensor)
    deferred.fetch()
    return deferred.get(slot)


@pytest.mark.parametrize("activation", [None, "relu", "tanh", "sigmoid"])
def test_activation_stats_match_direct_reductions(activation: str | None) -> None:
    x = torch.randn(64, 32, generator=torch.Generator().manual_seed(0))
    x = {None: x, "relu": x.relu(), "tanh": (3 * x).tanh(), "sigmoid": (3 * x).sigmoid()}[
        activation
    ]
    names, values, _ = activation_stats(x, activation)
    got = dict(zip(names, _fetched(values)))
    assert got["act_mean"] == pytest.approx(float(x.mean()), abs=1e-6)
    assert got["act_std"] == pytest.approx(float(x.std(correction=0)), rel=1e-5)
    assert got["act_second_moment"] == pytest.approx(float(x.square().mean()), rel=1e-5)
    assert got["act_zero_frac"] == pytest.approx(float((x == 0).float().mean()))
    assert got["act_max_abs"] == pytest.approx(float(x.abs().max()))
    if activation == "tanh":
        assert got["act_sat_frac"] == pytest.approx(float((x.abs() > 0.99).float().mean()))
    if activation == "sigmoid":
        sat = (x < 0.01) | (x > 0.99)
        assert got["act_sat_frac"] == pytest.approx(float(sat.float().mean()))
    if activation == "relu":
        dead = (x.amax(dim=0) <= 0).float().mean()
        assert got["dead_unit_frac"] == pytest.approx(float(dead))


def test_std_is_stable_when_the_mean_dominates() -> None:
    # Sigmoid-like outputs: mean 0.5, std 1e-4; E[x²] − E[x]² would lose every digit.
    x = 0.5 + 1e-4 * torch.randn(4096, generator=torch.Generator().manual_seed(1))
    names, values, _ = activation_stats(x, None)
    got = dict(zip(names, _fetched(values)))
    assert got["act_std"] == pytest.approx(float(x.double().std(correction=0)), rel=1e-3)


def test_small_histogram_equals_histc_and_large_one_is_a_rescaled_sample() -> None:
    generator = torch.Generator().manual_seed(2)
    small = torch.randn(1000, generator=generator)
    values = _fetched(histogram(small, 30))
    low, high = float(small.min()), float(small.max())
    assert values[:2] == [low, high]
    assert values[2:] == torch.histc(small, 30, low, high).tolist()
    large = torch.randn(4 * HIST_SAMPLE + 3, generator=generator)
    values = _fetched(histogram(large, 30))
    assert values[:2] == [float(large.min()), float(large.max())]
    assert sum(values[2:]) == pytest.approx(large.numel())
    exact = torch.histc(large, 30, values[0], values[1])
    assert values[2:] == pytest.approx(exact.tolist(), rel=0.1, abs=200)


def test_vanishing_message_names_real_start_value_and_table_layers() -> None:
    torch.manual_seed(0)  # this test's own model weights
    layers: list[nn.Module] = []
    for _ in range(20):
        linear = nn.Linear(256, 256)
        nn.init.xavier_uniform_(linear.weight)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
    d = diagnose(nn.Sequential(*layers), config=DoctorConfig(jacobian_steps=0))
    rows = {r["name"]: r for r in d.layers()}
    (finding,) = [f for f in d.findings if f.statistic == "act_std"]
    match = re.search(r"it is (\S+) at (\S+) and falls to (\S+) at (\S+) ", finding.message)
    assert match, finding.message
    start, first, end, last = match.groups()
    assert first == finding.layers[0] and float(start) == pytest.approx(
        rows[first]["act_std"], rel=1e-2
    )
    assert float(start) < 0.01  # the start is below the threshold, not the reference (1)
    assert float(end) == pytest.approx(rows[last]["act_std"], rel=1e-2)
    count = re.search(r"\((\d+) of (\d+) layers\)", finding.message)
    assert count and int(count.group(1)) == len(finding.layers)
    assert int(count.group(2)) == len(rows)


def test_span_shows_gaps_instead_of_hiding_them() -> None:
    from initlab.doctor._verdicts import _span

    rows = [{"name": str(i)} for i in range(6)]
    assert _span(rows, [rows[1], rows[3], rows[4], rows[5]]) == "layers 1, 3–5 (4 of 6 layers)"
    assert _span(rows, [rows[2]]) == "layer 2"
