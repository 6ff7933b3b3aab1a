"""The ``mup`` preset: the same init as ``mup_plan(...).rules()``, its base given every way a
user can (module, shapes dict, JSON file, MODEL spec), its refusals, and ``initlab plan
--preset mup --preset-option ...``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

import initlab
from initlab import preset
from initlab._cli import main
from initlab.mup import apply_readout, mup_plan, shapes_of

HERE = str(Path(__file__))


def mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3)
    )


def wide() -> nn.Module:  # MODEL=this_file.py:wide
    return mlp(256)


def narrow() -> nn.Module:  # MODEL=this_file.py:narrow
    return mlp(64)


def ready(width: int = 256, base: int = 64) -> nn.Module:
    """A μP-ready MLP: the readout multiplier applied."""
    model = mlp(width)
    apply_readout(model, mup_plan(model, mlp(base)))
    return model


def values(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("rng", ["torch", "keyed"])
def test_preset_writes_what_the_plan_rules_write(rng: str) -> None:
    by_plan, by_preset = ready(), ready()
    initlab.init_model(by_plan, mup_plan(by_plan, mlp(64)).rules(), seed=3, rng=rng)
    plan = initlab.init_model(by_preset, preset("mup", base=mlp(64)), seed=3, rng=rng)
    assert plan.rules == "mup"
    expected, got = values(by_plan), values(by_preset)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    # The hidden std is σ₀/√m_in = 1/√(64·4), not the standard 1/√256·... of the base.
    assert plan["2.weight"].std == pytest.approx((64 * 4) ** -0.5)


def test_the_preset_is_registered_with_a_source() -> None:
    spec = initlab.PRESETS["mup"]
    assert "Tensor Programs V" in spec.source
    assert "base" in spec.options


def test_base_as_shapes_dict_json_file_and_model_spec(tmp_path: Path) -> None:
    shapes_file = tmp_path / "base.json"
    shapes_file.write_text(json.dumps(shapes_of(mlp(64))))
    reference = initlab.init_model(ready(), preset("mup", base=mlp(64)), dry_run=True)
    for base in (shapes_of(mlp(64)), str(shapes_file), f"{HERE}:narrow"):
        plan = initlab.init_model(ready(), preset("mup", base=base), dry_run=True)
        assert [e.std for e in plan.entries] == [e.std for e in reference.entries], base


def test_delta_at_the_base_width() -> None:
    """At the base width every multiplier is 1; delta= says which dimensions grow."""
    plan = initlab.init_model(
        mlp(64), preset("mup", base=mlp(64), delta=mlp(128), readout="init"), dry_run=True
    )
    assert plan["2.weight"].std == pytest.approx(64**-0.5)


def test_no_base_names_what_to_pass() -> None:
    with pytest.raises(ValueError, match=r"mup preset needs base=.*preset\('mup', base="):
        initlab.init_model(ready(), "mup", dry_run=True)


def test_a_model_that_is_not_mup_as_built_is_refused() -> None:
    with pytest.raises(ValueError, match=r"(?s)preset 'mup'.*readout input x 0\.25.*check=False"):
        initlab.init_model(mlp(256), preset("mup", base=mlp(64)), dry_run=True)


def test_check_false_and_readout_init_write_without_the_forward_change() -> None:
    model = mlp(256)
    plan = initlab.init_model(model, preset("mup", base=mlp(64), check=False), seed=0)
    assert plan["2.weight"].std == pytest.approx((64 * 4) ** -0.5)
    table3 = initlab.init_model(mlp(256), preset("mup", base=mlp(64), readout="init"), seed=0)
    assert table3["4.weight"].std == pytest.approx(64**-0.5 / 4)  # σ₀/m_in, TP5 Table 3


def test_bias_options() -> None:
    plan = initlab.init_model(
        ready(), preset("mup", base=mlp(64), bias="positive", bias_value=0.1), seed=0
    )
    assert plan["0.bias"].scheme == "constant" and plan["0.bias"].mean == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"bias='torch'.*shrinks with width"):
        initlab.init_model(ready(), preset("mup", base=mlp(64), bias="torch"), dry_run=True)


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"base": 64}, TypeError, r"base=64 must be a narrow model"),
        ({"base": "nowhere.json"}, ValueError, r"base='nowhere.json': no such file"),
        ({"base": "nope.py:f"}, ValueError, r"base='nope.py:f': MODEL file"),
        ({"base": mlp(64), "check": "no"}, TypeError, r"check='no' must be True or False"),
        ({"base": mlp(64), "readout": "logits"}, ValueError, r"readout"),
    ],
)
def test_bad_options(options: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        initlab.init_model(ready(), preset("mup", **options), dry_run=True)


def test_unknown_option_is_refused_when_the_preset_is_named() -> None:
    with pytest.raises(TypeError, match=r"no option\(s\) \['bsae'\].*'base'"):
        preset("mup", bsae=mlp(64))


# --- the command line -------------------------------------------------------------------


def test_cli_plan_with_preset_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", f"{HERE}:wide", "--preset", "mup", "--json"]
    options = ["--preset-option", f"base={HERE}:narrow", "--preset-option", "readout=init"]
    assert main([*argv, *options]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["2.weight"]["std"] == pytest.approx((64 * 4) ** -0.5)
    assert rows["4.weight"]["std"] == pytest.approx(64**-0.5 / 4)


def test_cli_json_values_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", f"{HERE}:wide", "--preset", "gpt2", "--json"]
    assert main([*argv, "--preset-option", "std=0.01", "--preset-option", "n_layer=2"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["0.weight"]["std"] == pytest.approx(0.01)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "mup preset needs base="),
        (["--preset-option", "std"], "--preset-option 'std' must look like KEY=VALUE"),
        (["--preset-option", "bsae=x"], r"no option(s) ['bsae']"),
        (["--preset-option", f"base={HERE}:narrow"], "readout input x 0.25 (output_mult / m_in)"),
    ],
)
def test_cli_refusals(extra: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", f"{HERE}:wide", "--preset", "mup", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_preset_option_with_rules_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.json"
    rules.write_text(json.dumps([{"scheme": "zeros"}]))
    argv = ["plan", f"{HERE}:wide", "--rules", str(rules), "--preset-option", "std=1"]
    assert main(argv) == 2
    assert "--preset-option sets options of --preset, not of --rules" in capsys.readouterr().err


def test_tokens_and_position_tables_are_vector_like() -> None:
    """A ViT's (1, 1, d) class token and (1, N, d) position table: no layout error."""
    from initlab.mup import classify

    class Tokens(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
            self.pos_embed = nn.Parameter(torch.zeros(1, 5, d))
            self.body = nn.Linear(d, d)
            self.head = nn.Linear(d, 3)

    kinds = {e.name: e.kind for e in classify(Tokens(64), Tokens(16))}
    assert kinds["cls_token"] == kinds["pos_embed"] == "vector"
    assert kinds["body.weight"] == "hidden"  # negative control: a matrix is still one
