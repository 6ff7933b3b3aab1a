"""``initlab lsuv``: a random or file batch, the report table, JSON and clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from initlab._cli import main

MODEL = """
from torch import nn
def deep():
    return nn.Sequential(*[m for _ in range(6) for m in (nn.Linear(16, 16), nn.ReLU())])
"""


@pytest.fixture
def spec(tmp_path: Path) -> str:
    (tmp_path / "m.py").write_text(MODEL, encoding="utf-8")
    return f"{tmp_path / 'm.py'}:deep"


def test_random_batch_prints_the_table(spec: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lsuv", spec, "--input-shape", "64,16", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "LSUV (hooks): 6 layers" in out and "std after" in out


@pytest.mark.parametrize("suffix", [".pt", ".npy"])
def test_batch_files_and_json(  # type: ignore[no-untyped-def]
    spec: str, tmp_path: Path, capsys, suffix: str
) -> None:
    x = torch.randn(64, 16, generator=torch.Generator().manual_seed(0))
    path = tmp_path / f"batch{suffix}"
    if suffix == ".pt":
        torch.save(x, path)
    else:
        np.save(path, x.numpy())
    save = tmp_path / "w.safetensors"
    assert main(["lsuv", spec, "--data", str(path), "--json", "--save", str(save)]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 6 and all(abs(r["std_after"] - 1) <= 0.1 for r in records)
    assert save.is_file()


def test_errors_name_the_flag(
    spec: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["lsuv", spec, "--data", str(tmp_path / "none.pt")]) == 2
    assert "--data" in capsys.readouterr().err
    (tmp_path / "b.txt").write_text("1", encoding="utf-8")
    assert main(["lsuv", spec, "--data", str(tmp_path / "b.txt")]) == 2
    assert "must end in .pt or .npy" in capsys.readouterr().err
    assert main(["lsuv", spec, "--input-shape", "64,0"]) == 2
    assert main(["lsuv", spec, "--input-shape", "64,16", "--tol", "0"]) == 2
    assert "tol" in capsys.readouterr().err


TOKENS = """
from torch import nn
class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(50, 16)
        self.body = nn.Sequential(*[m for _ in range(3) for m in (nn.Linear(16, 16), nn.ReLU())])
    def forward(self, input_ids):
        return self.body(self.embed(input_ids))
"""


def test_token_models_take_keyword_inputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "t.py").write_text(TOKENS, encoding="utf-8")
    spec = f"{tmp_path / 't.py'}:Tokens"
    assert main(["lsuv", spec, "--input", "input_ids=8x16:int64:50", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 3 and all(abs(r["std_after"] - 1) <= 0.1 for r in records)
    shape = ["--input-shape", "8,16", "--input-dtype", "int64", "--input-high", "50"]
    assert main(["lsuv", spec, *shape, "--json"]) == 0
    capsys.readouterr()


def test_exactly_one_batch_source(spec: str, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["lsuv", spec]) == 2
    assert "--data FILE, --input-shape" in capsys.readouterr().err
    torch.save(torch.randn(4, 16), tmp_path / "b.pt")
    assert main(["lsuv", spec, "--data", str(tmp_path / "b.pt"), "--input-shape", "4,16"]) == 2
    assert "one of --data" in capsys.readouterr().err
