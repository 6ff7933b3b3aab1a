"""Models that are hard to hook, and models that fail on the probe."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from initlab.doctor import DoctorConfig, ProbeSpec, diagnose

CONFIG = DoctorConfig(seed=0, jacobian_steps=4)


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.b(F.relu(self.a(x)))).sigmoid()


class Reused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(8, 8)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for _ in range(3):
            x = self.act(self.shared(x))
        return x


class DictOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.gelu(self.body(x))
        return {"ids": x.argmax(-1), "logits": self.head(h)}


class TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.left = nn.Linear(8, 4)
        self.right = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.left(x) * self.right(y)


class Block(nn.Module):
    def __init__(self, width: int, scale: float) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        nn.init.normal_(self.fc.weight, std=scale / width**0.5)  # seeded by the test below

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc(F.relu(x))


def test_functional_activations_are_pseudo_layers_in_execution_order() -> None:
    d = diagnose(Functional(), config=CONFIG)
    assert [(r["name"], r["type"]) for r in d.layers()] == [
        ("a", "Linear"),
        ("(model):relu", "F.relu"),
        ("b", "Linear"),
        ("(model):tanh", "F.tanh"),
        ("(model):sigmoid", "F.sigmoid"),
    ]
    rows = d.layers()
    assert "dead_unit_frac" in rows[1] and "act_sat_frac" in rows[3]
    assert all(r["grad_norm"] is not None for r in rows)


def test_activation_modules_are_not_double_counted() -> None:
    d = diagnose(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Tanh()), config=CONFIG)
    assert [r["name"] for r in d.layers()] == ["0", "1", "2"]


def test_reused_module_gets_one_record_per_call() -> None:
    d = diagnose(Reused(), config=CONFIG)
    names = [r["name"] for r in d.layers()]
    assert names == ["shared", "act", "shared#2", "act#2", "shared#3", "act#3"]
    assert len({r["act_std"] for r in d.layers()}) == 6


def test_dict_output_and_multiple_inputs() -> None:
    x = torch.randn(16, 8, generator=torch.Generator().manual_seed(0))
    d = diagnose(DictOut(), x, config=CONFIG)
    assert [r["name"] for r in d.layers()] == ["body", "(model):gelu", "head"]
    assert d.to_dict()["jacobian_sv"]
    specs = (ProbeSpec(shape=(16, 8)), ProbeSpec(shape=(16, 6)))
    d = diagnose(TwoInputs(), probe=specs, config=CONFIG)
    assert [r["name"] for r in d.layers()] == ["left", "right"]
    kwargs = {"x": torch.ones(4, 8), "y": torch.ones(4, 6)}
    assert diagnose(TwoInputs(), kwargs, config=CONFIG).layers()[1]["grad_norm"] > 0


def test_residual_stream_is_recorded_by_block_and_growth_flagged() -> None:
    torch.manual_seed(0)  # test-only model construction
    blocks = nn.Sequential(*[Block(32, 3.0) for _ in range(8)])
    d = diagnose(blocks, config=CONFIG)
    stream = d.to_dict()["blocks"]
    assert [b["name"] for b in stream] == [str(i) for i in range(8)]
    assert stream[-1]["act_second_moment"] > 100 * stream[0]["act_second_moment"]
    assert any(f.statistic == "act_second_moment" for f in d.findings)


def test_model_failing_on_probe_names_the_module() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(16, 4))
    with pytest.raises(ValueError, match=r"failed on the probe batch .* in module '2' \(Linear\)"):
        diagnose(model, config=CONFIG)
    with pytest.raises(ValueError, match=r"in module '0' \(Linear\).*--input-shape"):
        diagnose(model, probe=ProbeSpec(shape=(4, 5)), config=CONFIG)


def test_batchnorm_on_a_batch_of_one_says_why() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8)).eval()
    with pytest.raises(ValueError, match=r"in module '1' \(BatchNorm1d\).*batch of at least 2"):
        diagnose(model, torch.randn(1, 8), config=CONFIG)
    # The model's own (eval) mode runs it, and the model keeps that mode either way.
    assert diagnose(model, torch.randn(1, 8), config=DoctorConfig(train_mode=False)).layers()
    assert not model.training and not model[1].training


def test_bad_inputs_are_rejected() -> None:
    with pytest.raises(TypeError, match="inputs of type str is not supported"):
        diagnose(nn.Linear(2, 2), "x")
    with pytest.raises(ValueError, match="give either inputs or spec"):
        diagnose(nn.Linear(2, 2), torch.ones(1, 2), probe=ProbeSpec(shape=(1, 2)))
    with pytest.raises(ValueError, match="must return a scalar tensor"):
        diagnose(nn.Linear(2, 2), loss_fn=lambda out: out, config=CONFIG)
