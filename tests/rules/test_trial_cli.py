"""``initlab plan`` options a user reaches for on real models (found trying the docs as a user)."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

import initlab
from initlab._cli import main

HERE = str(Path(__file__))


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def test_plan_rng_keyed_writes_the_keyed_weights(tmp_path: Path) -> None:
    out = tmp_path / "w.safetensors"
    argv = ["plan", f"{HERE}:mlp", "--preset", "auto", "--apply", "--seed", "3"]
    assert main([*argv, "--rng", "keyed", "--save", str(out)]) == 0
    saved = load_file(str(out))
    keyed, torch_rng = mlp(), mlp()
    initlab.init_model(keyed, "auto", seed=3, rng="keyed")
    initlab.init_model(torch_rng, "auto", seed=3)
    assert torch.equal(saved["0.weight"], keyed[0].weight.detach())
    assert not torch.equal(saved["0.weight"], torch_rng[0].weight.detach())  # negative control


def test_plan_rng_refuses_unknown_generators(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["plan", f"{HERE}:mlp", "--rng", "philox"])
    assert exc.value.code == 2
    assert "--rng" in capsys.readouterr().err


def test_plan_apply_on_meta_is_refused_before_loading(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{HERE}:mlp", "--apply", "--seed", "0", "--device", "meta"]) == 2
    err = capsys.readouterr().err
    assert "--device='meta'" in err and "hold no values" in err and "Traceback" not in err
    assert main(["plan", f"{HERE}:mlp", "--device", "meta"]) == 0  # a dry run may name it


class TiedLM(nn.Module):
    """A tied embedding/head: the user's rules for the two names disagree (a warning)."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 8)
        self.head = nn.Linear(8, 10, bias=False)
        self.head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(ids))


def _print_like_python(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
    """Python's own printer (pytest records warnings instead of printing them)."""
    sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def test_plan_prints_warnings_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = _print_like_python
        rules = tmp_path / "r.json"
        rules.write_text(
            json.dumps([{"scheme": "normal", "role": "embedding"}, {"scheme": "he_normal"}])
        )
        assert main(["plan", f"{HERE}:TiedLM", "--rules", str(rules)]) == 0
    err = capsys.readouterr().err
    assert "initlab plan: warning: TieConflictWarning: embed.weight is shared by 2 names" in err
    assert "runpy" not in err and "warnings.warn" not in err


def meta_mlp() -> nn.Module:
    with torch.device("meta"):
        return mlp()


@pytest.mark.parametrize("apply", [[], ["--apply", "--seed", "0"]])
def test_a_meta_model_without_device_names_the_flag(
    capsys: pytest.CaptureFixture[str], apply: list[str]
) -> None:
    assert main(["plan", f"{HERE}:meta_mlp", *apply]) == 2
    err = capsys.readouterr().err
    assert "has tensors on the meta device: pass --device cpu" in err
    assert "device=" not in err.replace("--device", "")


class EncoderDecoder(nn.Module):
    """Whisper's shape of forward: the decoder's input comes after an optional mask."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(8, 8)
        self.dec = nn.Linear(8, 8)

    def forward(
        self,
        features: torch.Tensor,
        mask: torch.Tensor | None = None,
        decoder_features: torch.Tensor | None = None,
    ) -> torch.Tensor:
        assert decoder_features is not None  # the model's own check: under fx it cannot trace
        return self.dec(torch.tanh(self.enc(features)) + decoder_features)


def test_keyword_inputs_go_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    """``--input NAME=...`` skips optional parameters (Whisper: input_features, then
    decoder_input_ids after attention_mask); they were bound by position and refused."""
    argv = ["plan", f"{HERE}:EncoderDecoder", "--json", "--input", "features=2x8"]
    assert main([*argv, "--input", "decoder_features=2x8"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["enc.weight"]["activation"] == "tanh"
    assert main([*argv, "--input", "decoder=2x8"]) == 2
    err = capsys.readouterr().err
    assert "--input decoder: EncoderDecoder.forward does not take these inputs" in err
    assert "['features', 'mask', 'decoder_features']" in err


class WithToken(nn.Module):
    """A class token: no PyTorch default, so the errors suggest ``default='keep'``."""

    def __init__(self) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.full((1, 4), 0.5))
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x + self.token)


def test_default_keep_is_reachable_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["plan", f"{HERE}:WithToken", "--preset", "torch-default"]
    assert main(argv) == 2
    assert "default='keep'" in capsys.readouterr().err  # what the error suggests ...
    out = tmp_path / "w.safetensors"
    assert main([*argv, "--default", "keep", "--apply", "--seed", "0", "--save", str(out)]) == 0
    assert torch.equal(load_file(str(out))["token"], torch.full((1, 4), 0.5))  # ... works
