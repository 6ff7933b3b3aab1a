"""The doctor on every model of the HF zoo, each with its authors' own init: no error
verdict (issue 10). Warnings are collected and printed so a reviewer can judge them."""

from __future__ import annotations

import warnings

import pytest
import torch
from tests.zoo.hf_models import ZOO

from initlab.doctor import DoctorConfig, diagnose

pytest.importorskip("transformers")

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow


#: Known open cases (issue 10 stays open for them): the verdicts still call these authors'
#: inits errors. EfficientNet and MobileViT: gradients reported vanishing toward the input
#: (×1e-37, ×8e-6) through BatchNorm-in-eval stems; PoolFormer: layer-scale branches (1e-5)
#: judged against the block input rather than the residual stream.
KNOWN = {"efficientnet", "mobilevit", "poolformer"}


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            n, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason="see KNOWN")
        )
        if n in KNOWN
        else n
        for n in sorted(ZOO)
    ],
)
def test_stock_init_gets_no_error_verdict(name: str) -> None:
    factory, inputs = ZOO[name]
    torch.manual_seed(0)  # the model's own init draws from the global generator (test only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = factory()
    d = diagnose(model, inputs, config=DoctorConfig(seed=0))
    errors = [f"{f.statistic}: {f.message}" for f in d.findings if f.severity == "error"]
    assert not errors, errors
    assert d.layers()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_branch_discovery_finds_or_says_none_on_every_zoo_model(name: str) -> None:
    from initlab.residual import find_branches

    factory, _ = ZOO[name]
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = factory()
    try:
        branches = find_branches(model)
    except ValueError as exc:  # the one documented outcome besides a list
        assert "found no residual branch" in str(exc)
    else:
        assert branches and all(b.m >= 1 and b.output for b in branches)
