"""Weight-decay parameter groups."""

from __future__ import annotations

import pytest
import torch
from tests.rules.models_zoo import LSTMTagger, ResNetTiny, TiedLM
from torch import nn

from initlab.rules import DecayConfig, decay_report, param_groups


class RMSNormish(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.norm = RMSNormish(4)
        self.custom = nn.Module()
        self.custom.g = nn.Parameter(torch.ones(4))
        self.gate = nn.Parameter(torch.zeros(()))


def _names(model: nn.Module, groups: list[dict]) -> list[set[str]]:
    ids = {id(p): n for n, p in model.named_parameters()}
    return [{ids[id(p)] for p in g["params"]} for g in groups]


def test_biases_norms_and_scalars_excluded() -> None:
    model = Scaled()
    decayed, excluded = _names(model, param_groups(model, weight_decay=0.1))
    assert decayed == {"fc.weight", "custom.g"}
    assert excluded == {"fc.bias", "norm.gamma", "gate"}


def test_user_declared_norm_type_and_globs() -> None:
    model = Scaled()
    config = DecayConfig(norm_types=(nn.Module,), no_decay_names=("fc.*",))
    decayed, excluded = _names(model, param_groups(model, config))
    assert decayed == set() and "custom.g" in excluded


def test_embeddings_optional_and_ties_once() -> None:
    model = TiedLM()
    groups = param_groups(model, embeddings=True)
    decayed, excluded = _names(model, groups)
    assert "embed.weight" in excluded and "head.weight" not in decayed | excluded
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    row = next(r for r in decay_report(model) if r.name == "embed.weight")
    assert row.tied_names == ("head.weight",) and row.decay


def test_works_with_torch_optimizers_and_bn_lstm() -> None:
    for model in (ResNetTiny(), LSTMTagger()):
        groups = param_groups(model, weight_decay=0.05)
        torch.optim.AdamW(groups, lr=1e-3)
        torch.optim.SGD(groups, lr=1e-3)
    report = decay_report(ResNetTiny())
    assert all(not r.decay for r in report if r.role.startswith("norm"))
    assert report[0].to_record()["reason"] == "decayed"


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="weight_decay=-1"):
        DecayConfig(weight_decay=-1)
    with pytest.raises(TypeError, match="either config"):
        param_groups(Scaled(), DecayConfig(), weight_decay=0.1)


def test_a_wrapped_model_reports_the_bare_models_names_and_declarations() -> None:
    """DataParallel's 'module.' prefix would defeat name globs and no_weight_decay()."""

    class Declares(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.pos_embed = nn.Parameter(torch.zeros(1, 4))

        def no_weight_decay(self) -> set[str]:
            return {"pos_embed"}

    bare = {
        r.name: r.decay
        for r in decay_report(Declares(), DecayConfig(no_decay_names=("fc.weight",)))
    }
    wrapped = nn.DataParallel(Declares())
    rows = {
        r.name: r.decay for r in decay_report(wrapped, DecayConfig(no_decay_names=("fc.weight",)))
    }
    assert rows == bare == {"fc.weight": False, "fc.bias": False, "pos_embed": False}
    groups = param_groups(wrapped, weight_decay=0.1)
    assert [len(g["params"]) for g in groups] == [1, 2]
    assert groups[0]["params"][0] is wrapped.module.fc.weight
