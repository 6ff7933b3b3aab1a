"""Activation detection on the constructs real models use (timm/torchvision idioms)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from initlab.rules import detect_activations, init_model

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow


class DropPath(nn.Module):
    """timm's stochastic depth (an identity in eval), by class name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Permute(nn.Module):
    """torchvision's Permute, by class name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 1)


class Idioms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(4, 8)
        self.drop, self.perm = DropPath(), Permute()
        self.out = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.drop(self.fc1(x))
        b = self.perm(self.fc2(x))
        batch = a.shape[0]  # a metadata read, not a use of the values
        h = torch.cat([a, b], dim=-1).reshape(batch, -1)
        return self.out(torch.relu(h))


def test_metadata_cat_droppath_and_permute_are_transparent() -> None:
    found = detect_activations(Idioms())
    assert found["fc1"].method == "fx"
    assert {k: v.name for k, v in found.items()} == {"fc1": "relu", "fc2": "relu", "out": "linear"}


def test_hooks_see_through_norm_modules() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc, self.norm, self.out = nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > 1e9:  # data-dependent control flow: fx cannot trace
                return x
            return self.out(nn.functional.gelu(self.norm(self.fc(x))))

    found = detect_activations(Block(), torch.ones(2, 4))
    assert found["fc"].method == "hooks" and found["fc"].name == "gelu"


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_dict_input_and_wrappers() -> None:
    class Keywords(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, *, values: torch.Tensor) -> torch.Tensor:
            if values.sum() > 1e9:
                return values
            return torch.tanh(self.fc(values))

    found = detect_activations(Keywords(), {"values": torch.ones(2, 4)})
    assert found["fc"].name == "tanh"
    torch.manual_seed(0)
    bare = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    compiled = torch.compile(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)))
    parallel = nn.DataParallel(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)))
    reference = init_model(bare, "auto", seed=1)
    for wrapped in (compiled, parallel):
        plan = init_model(wrapped, "auto", seed=1)
        assert [e.name for e in plan] == [e.name for e in reference]
        assert plan["0.weight"].activation == "relu"
        inner = dict(wrapped.named_parameters())
        for name, value in bare.named_parameters():
            prefixed = [v for k, v in inner.items() if k.endswith(name)]
            assert torch.equal(prefixed[0], value), name
