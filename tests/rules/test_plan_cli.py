"""``initlab plan`` end to end (in-process through ``initlab._cli.main``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from initlab._cli import main

ZOO = str(Path(__file__).with_name("models_zoo.py"))


def test_plan_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{ZOO}:MLP"]) == 0
    out = capsys.readouterr().out
    assert "fc1.weight" in out and "he_normal" in out and "relu" in out


def test_plan_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{ZOO}:TiedLM", "--preset", "torch-default", "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    keys = {"name", "shape", "module", "rule", "scheme", "std", "activation", "tied_to"}
    assert all(keys <= set(r) for r in records)
    head = next(r for r in records if r["name"] == "head.weight")
    assert head["tied_to"] == "embed.weight"
    norm = next(r for r in records if r["name"] == "norm.weight")
    assert norm["std"] == 0


def test_apply_save_ties_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "w.safetensors"
    argv = ["plan", f"{ZOO}:TiedLM", "--preset", "torch-default", "--apply", "--seed", "3"]
    assert main([*argv, "--save", str(out)]) == 0
    tensors = load_file(str(out))
    assert "embed.weight" in tensors and "head.weight" not in tensors
    again = tmp_path / "v.safetensors"
    assert main([*argv, "--save", str(again)]) == 0
    assert all(torch.equal(t, load_file(str(again))[k]) for k, t in tensors.items())


def test_rules_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "r.yaml"
    rules.write_text(
        "rules:\n- {scheme: orthogonal, role: weight}\n- {scheme: zeros, role: bias}\n"
    )
    assert main(["plan", f"{ZOO}:MLP", "--rules", str(rules), "--json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert {r["scheme"] for r in records} == {"orthogonal", "zeros"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "bert"], "matched no rule"),
        (["--rules", "missing.yaml"], "does not exist"),
        (["--apply", "--save", "x.bin"], "must end in .safetensors"),
        (["--save", "x.safetensors"], "needs --apply"),
    ],
)
def test_failures_exit_nonzero_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    argv = [a if not a.startswith(("x.", "missing")) else str(tmp_path / a) for a in argv]
    model = f"{ZOO}:LSTMTagger"
    assert main(["plan", model, *argv]) == 2
    err = capsys.readouterr().err
    assert "initlab plan: error:" in err and message in err
    assert list(tmp_path.iterdir()) == []


def test_bad_model_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "no_such_module_xyz:f"]) == 2
    assert "cannot be imported" in capsys.readouterr().err


@pytest.mark.parametrize("default", ["error", "torch"])
def test_dry_run_fails_where_apply_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], default: str
) -> None:
    rules = tmp_path / "r.json"
    rules.write_text(json.dumps([{"scheme": "he_normal", "module": "Linear"}]))
    argv = ["plan", f"{ZOO}:MLP", "--rules", str(rules), "--default", default]
    assert main(argv) == 2
    dry = capsys.readouterr()
    assert "the init plan is invalid" in dry.err and "fc1.bias" in dry.err and dry.out == ""
    out = tmp_path / "w.safetensors"
    assert main([*argv, "--apply", "--seed", "0", "--save", str(out)]) == 2
    assert capsys.readouterr().err == dry.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json"]


def test_tied_model_dry_run_and_apply_both_succeed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "r.json"
    rules.write_text(
        json.dumps(
            [{"scheme": "normal", "role": "embedding"}, {"scheme": "he_normal", "role": "weight"}]
        )
    )
    argv = ["plan", f"{ZOO}:TiedLM", "--rules", str(rules), "--default", "torch"]
    with pytest.warns(UserWarning, match="rule #"):  # TieConflictWarning: not an error
        assert main(argv) == 0
    assert "warning:" in capsys.readouterr().out
    with pytest.warns(UserWarning, match="rule #"):
        assert main([*argv, "--apply", "--seed", "0"]) == 0
