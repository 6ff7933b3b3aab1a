"""Initialization from a pretrained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tests.models_zoo import MLP, TiedLM
from torch import nn

from initlab.rules import init_model


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_safetensors_match_mismatch_missing_with_prefix(tmp_path: Path) -> None:
    source = MLP()
    state = {f"module.{k}": v for k, v in source.state_dict().items()}
    state["module.out.weight"] = torch.zeros(5, 32)  # wrong shape
    state["module.extra"] = torch.zeros(2)
    del state["module.fc2.bias"]
    path = tmp_path / "ckpt.safetensors"
    save_file(state, str(path))
    model = MLP()
    plan = init_model(model, "auto", seed=0, pretrained=path, prefix_map={"module.": ""})
    report = plan.checkpoint
    assert report is not None
    assert report.matched == ["fc1.weight", "fc1.bias", "fc2.weight", "out.bias"]
    assert report.mismatched == {"out.weight": ([5, 32], [4, 32])}
    assert report.missing == ["fc2.bias"] and report.unexpected == ["extra"]
    assert torch.equal(model.fc1.weight, source.fc1.weight)
    assert plan["fc1.weight"].source == "pretrained" and plan["out.weight"].source == "rule"


def test_torch_state_dict_weights_only_and_tied_head(tmp_path: Path) -> None:
    source = TiedLM()
    path = tmp_path / "ckpt.pt"
    torch.save(source.state_dict(), path)
    model = TiedLM()
    plan = init_model(model, "torch-default", seed=0, pretrained=path)
    assert torch.equal(model.embed.weight, source.embed.weight)
    assert model.head.weight is model.embed.weight
    assert plan.checkpoint is not None and not plan.checkpoint.missing


@pytest.mark.parametrize(
    ("content", "suffix", "message"),
    [
        (b"garbage", ".safetensors", "not a readable safetensors file"),
        (b"garbage", ".pt", "cannot be read with weights_only=True"),
    ],
)
def test_corrupt_file_leaves_model_untouched(
    tmp_path: Path, content: bytes, suffix: str, message: str
) -> None:
    path = tmp_path / f"bad{suffix}"
    path.write_bytes(content)
    model = MLP()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        init_model(model, "auto", seed=0, pretrained=path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pickled_object_rejected(tmp_path: Path) -> None:
    path = tmp_path / "obj.pt"
    torch.save({"w": torch.zeros(1), "cfg": object()}, path)  # not loadable with weights_only
    with pytest.raises(ValueError, match="weights_only=True"):
        init_model(MLP(), "auto", seed=0, pretrained=path)


def test_missing_file_and_bad_state() -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        init_model(MLP(), "auto", seed=0, pretrained="/nonexistent/x.safetensors")
    with pytest.raises(ValueError, match="non-tensor entries"):
        init_model(MLP(), "auto", seed=0, pretrained={"fc1.weight": [1, 2]})
    with pytest.raises(ValueError, match="two checkpoint keys"):
        init_model(
            MLP(),
            "auto",
            seed=0,
            pretrained={"a.x": torch.zeros(1), "b.x": torch.zeros(1)},
            prefix_map={"a.": "", "b.": ""},
        )
