"""Output-bias priors: initial loss equals the prior's entropy, shown in the plan."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initlab.datadep import class_prior, init_with_output_prior, output_prior


def classifier(classes: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, classes))


def imbalanced(n: int = 1000, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.multinomial(torch.tensor([0.8, 0.15, 0.05]), n, replacement=True, generator=g)
    return torch.randn(n, 8, generator=g), y


def test_initial_loss_is_the_entropy_of_the_prior() -> None:
    x, y = imbalanced()
    model = classifier(3)
    prior = output_prior(model, labels=y)
    p = class_prior(y)
    entropy = float(-(p * p.log()).sum())
    assert prior.initial_loss == pytest.approx(entropy) and prior.kind == "classification"
    plan = init_with_output_prior(model, "auto", prior, zero_head_weight=True, seed=0)
    with torch.no_grad():
        loss = float(F.cross_entropy(model(x), y))
    assert loss == pytest.approx(entropy, abs=1e-6)
    entry = plan["2.bias"]
    assert entry.scheme == "log_prior" and "H(prior)" in (entry.rule or "")
    assert plan.rules == "auto+output-prior"
    # Negative control: the same model without the prior starts near log(3), far above H.
    plain = classifier(3)
    init_with_output_prior(
        plain, "auto", output_prior(plain, prior=[1, 1, 1]), seed=0, zero_head_weight=True
    )
    with torch.no_grad():
        assert float(F.cross_entropy(plain(x), y)) == pytest.approx(math.log(3), abs=1e-6)
    assert math.log(3) - entropy > 0.4


def test_with_a_random_head_the_initial_loss_is_close_to_the_entropy() -> None:
    x, y = imbalanced()
    model = classifier(3)
    prior = output_prior(model, labels=y)
    init_with_output_prior(model, "auto", prior, seed=0)
    with torch.no_grad():
        loss = float(F.cross_entropy(model(x), y))
    assert abs(loss - prior.initial_loss) < abs(math.log(3) - prior.initial_loss)


def test_binary_logit_and_regression_heads() -> None:
    x, y = imbalanced()
    labels = (y == 0).long()
    model = classifier(1)
    prior = output_prior(model, labels=labels)
    assert prior.kind == "binary"
    init_with_output_prior(model, "auto", prior, zero_head_weight=True, seed=0)
    with torch.no_grad():
        bce = float(F.binary_cross_entropy_with_logits(model(x)[:, 0], labels.float()))
    assert bce == pytest.approx(prior.initial_loss, abs=1e-6)
    targets = torch.randn(1000, 2, generator=torch.Generator().manual_seed(1)) * 3 + 5
    reg = classifier(2)
    rprior = output_prior(reg, targets=targets)
    plan = init_with_output_prior(reg, "auto", rprior, zero_head_weight=True, seed=0)
    with torch.no_grad():
        mse = float(F.mse_loss(reg(x), targets))
    assert mse == pytest.approx(rprior.initial_loss, rel=1e-5)
    assert plan["2.bias"].scheme == "target_mean"


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_plan_says_prior_not_pretrained(dry_run: bool) -> None:
    _, y = imbalanced()
    model = classifier(3)
    plan = init_with_output_prior(
        model, "auto", output_prior(model, labels=y), seed=0, dry_run=dry_run
    )
    entry = plan["2.bias"]
    assert entry.source == "prior" and entry.scheme == "log_prior"
    config = entry.scheme_config or {}
    assert config["kind"] == "classification" and config["from"] == "1000 labels"
    assert config["prior"] == pytest.approx(class_prior(y).tolist())
    assert plan.checkpoint is None and "checkpoint" not in str(plan)
    assert {e.source for e in plan.entries if e.name != "2.bias"} == {"rule"}
    # Negative control: a real checkpoint through init_model still reads "pretrained".
    from initlab import init_model

    real = init_model(classifier(3), "auto", seed=0, pretrained={"2.bias": torch.zeros(3)})
    assert real["2.bias"].source == "pretrained" and real.checkpoint is not None


def test_regression_row_names_its_targets() -> None:
    model = nn.Sequential(nn.Linear(8, 2))
    targets = torch.tensor([[1.0, 2.0], [3.0, 6.0]])
    plan = init_with_output_prior(model, "auto", output_prior(model, targets=targets), seed=0)
    entry = plan["0.bias"]
    assert entry.source == "prior" and entry.scheme == "target_mean"
    assert entry.scheme_config == {
        "kind": "regression", "prior": None, "initial_loss": pytest.approx(2.5), "from": "2 targets"
    }  # fmt: skip


def test_dry_run_writes_nothing() -> None:
    model = classifier(3)
    before = model[2].bias.detach().clone()
    plan = init_with_output_prior(
        model, "auto", output_prior(model, prior=[0.5, 0.3, 0.2]), seed=0, dry_run=True
    )
    assert torch.equal(model[2].bias, before) and plan["2.bias"].scheme == "log_prior"


def test_clear_errors() -> None:
    model = classifier(3)
    with pytest.raises(ValueError, match="exactly one of labels=, prior= or targets="):
        output_prior(model)
    with pytest.raises(ValueError, match="must be a non-empty list of positive"):
        output_prior(model, prior=[0.5, 0.5, 0.0])
    with pytest.raises(ValueError, match="the prior has 2 classes; head '2' has 3"):
        output_prior(model, prior=[0.5, 0.5])
    with pytest.raises(ValueError, match="has no bias"):
        output_prior(nn.Linear(3, 3, bias=False), prior=[1, 1, 1])
    with pytest.raises(ValueError, match="integer tensor of class indices"):
        class_prior(torch.tensor([0.5, 1.0]))
    with pytest.raises(TypeError, match="no pretrained="):
        init_with_output_prior(model, "auto", output_prior(model, prior=[1, 1, 1]), pretrained={})
