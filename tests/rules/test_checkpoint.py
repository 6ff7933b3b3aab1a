"""Initialization from a pretrained checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tests.rules.models_zoo import MLP, TiedLM
from torch import nn

from initlab._cli import main
from initlab.rules import init_model
from initlab.rules._checkpoint import CheckpointMismatchWarning

ZOO = str(Path(__file__).with_name("models_zoo.py"))


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
    with pytest.warns(CheckpointMismatchWarning, match=r"out.weight \(checkpoint \[5, 32\]"):
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
        (b"garbage", ".safetensors", "neither a safetensors nor a torch.save file"),
        (b"garbage", ".pt", "neither a safetensors nor a torch.save file"),
        ((40).to_bytes(8, "little") + b'{"x": 1', ".safetensors", "not a readable safetensors"),
        (b"PK\x03\x04 truncated zip", ".pt", "cannot be read with weights_only=True"),
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


# --- nothing silent: mismatches warn and are printed, the rest is refused -------------------------


def _ckpt(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "c.safetensors") -> Path:
    path = tmp_path / name
    save_file(state, str(path))
    return path


def test_shape_mismatch_is_in_the_printed_plan(tmp_path: Path) -> None:
    state = dict(MLP().state_dict())
    state["out.weight"] = torch.zeros(5, 32)
    with pytest.warns(CheckpointMismatchWarning, match="1 tensor.* differ in shape.*out.weight"):
        plan = init_model(MLP(), "auto", seed=0, pretrained=_ckpt(tmp_path, state))
    text = str(plan)
    assert "checkpoint" in text and "5 of 6 tensors loaded" in text
    assert "out.weight (checkpoint 5x32, model 4x32)" in text


def test_shape_mismatch_in_the_cli_plan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    state = {f"module.{k}": v for k, v in MLP().state_dict().items()}
    state["module.out.weight"] = torch.zeros(5, 32)
    path = _ckpt(tmp_path, state)
    argv = ["plan", f"{ZOO}:MLP", "--pretrained", str(path), "--prefix-map", "module.="]
    with pytest.warns(CheckpointMismatchWarning):
        assert main(argv) == 0
    out = " ".join(capsys.readouterr().out.split())  # the footer wraps at the console width
    assert "warning: 1 checkpoint tensor(s) differ in shape" in out
    assert "out.weight (checkpoint 5x32, model 4x32)" in out and "pretrained" in out


def _untouched(tmp_path: Path, match: str, error: type[Exception] = ValueError, **kwargs) -> None:
    model = MLP()
    before = _snapshot(model)
    with pytest.raises(error, match=match):
        init_model(model, "auto", seed=0, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_no_shared_name_is_an_error_with_a_prefix_hint(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in MLP().state_dict().items()}
    _untouched(
        tmp_path,
        r"shares no tensor name with the model.*module.fc1.weight.*fully random; "
        r"prefix_map=\{'module.': ''\} would match them",
        pretrained=_ckpt(tmp_path, state),
    )
    _untouched(tmp_path, "holds no tensors", pretrained={})


def test_nan_is_refused_inf_warns(tmp_path: Path) -> None:
    state = dict(MLP().state_dict())
    state["fc2.weight"] = state["fc2.weight"].clone()
    state["fc2.weight"][0, 0] = float("nan")
    _untouched(tmp_path, r"NaN values in fc2.weight", pretrained=state)
    state["fc2.weight"][0, 0] = float("-inf")
    model = MLP()
    with pytest.warns(CheckpointMismatchWarning, match="infinite values in fc2.weight"):
        init_model(model, "auto", seed=0, pretrained=state)
    assert model.fc2.weight[0, 0] == float("-inf")


def test_integer_values_for_float_parameters_are_refused(tmp_path: Path) -> None:
    state = dict(MLP().state_dict())
    state["fc1.weight"] = torch.ones(32, 16, dtype=torch.int64)
    _untouched(tmp_path, r"wrong kind: fc1.weight \(int64 for a float32 tensor\)", pretrained=state)
    state = dict(MLP().state_dict())
    state["fc1.weight"] = state["fc1.weight"].half()  # a float cast is fine
    init_model(MLP(), "auto", seed=0, pretrained=state)


def test_bad_pretrained_and_prefix_map_arguments(tmp_path: Path) -> None:
    state = dict(MLP().state_dict())
    _untouched(tmp_path, r"prefix_map=\['module.'\] must be a dict", TypeError,
               pretrained=state, prefix_map=["module."])  # fmt: skip
    _untouched(tmp_path, r"pretrained=3 is a int; pass a .safetensors file", TypeError,
               pretrained=3)  # fmt: skip
    folder = tmp_path / "ckpt"
    folder.mkdir()
    _ckpt(folder, state, "model.safetensors")
    _untouched(tmp_path, r"is a folder; pass one checkpoint file in it \(it holds model.safet",
               pretrained=folder)  # fmt: skip
    text = tmp_path / "notes.pt"
    text.write_text("hello, these are not weights\n")
    _untouched(tmp_path, r"neither a safetensors nor a torch.save file \(it starts with b'hello",
               pretrained=text)  # fmt: skip


def test_format_comes_from_content_not_suffix(tmp_path: Path) -> None:
    source = MLP()
    path = _ckpt(tmp_path, dict(source.state_dict()), "weights.bin")
    model = MLP()
    init_model(model, "auto", seed=0, pretrained=path)
    assert torch.equal(model.fc1.weight, source.fc1.weight)
