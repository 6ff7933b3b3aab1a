"""The coordinate check flags standard parametrization and passes μP (fixed seeds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from initlab._cli import main
from initlab.mup._coord import CoordConfig, coord_check, verdicts

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

WIDTHS = (32, 64, 128)


def mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(16, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 4)
    )


def _check(parametrization: str):  # type: ignore[no-untyped-def]
    config = CoordConfig(widths=WIDTHS, parametrization=parametrization, steps=2, seeds=1)
    return coord_check(mlp, config)


def test_standard_parametrization_is_flagged_with_the_layers_that_break() -> None:
    result = _check("sp")
    assert not result.passed
    broken = {v.layer: v.verdict for v in result.broken}
    assert broken.get("4") == "grows"  # the readout: Adam moves SP logits by Θ(η·width)
    assert "NOT flat" in result.summary() and "4 grows" in result.summary()


def test_mup_passes() -> None:
    result = _check("mup")
    assert result.passed, result.summary()
    assert result.notes == []  # the plan's forward changes were all made
    assert {r["width"] for r in result.records} == set(WIDTHS)
    assert {r["step"] for r in result.records} == {0, 1, 2}


def test_verdict_math_on_synthetic_records() -> None:
    def rows(layer: str, power: float) -> list[dict]:
        return [
            {"layer": layer, "width": w, "step": s, "l1": (w**power) if s else 1.0, "seed": 0}
            for w in (10, 100, 1000)
            for s in (0, 1)
        ]

    found = {
        v.layer: (round(v.slope, 6), v.verdict)
        for v in verdicts(rows("flat", 0.0) + rows("up", 0.5) + rows("down", -1.0), tolerance=0.25)
    }
    assert found == {"flat": (0.0, "flat"), "up": (0.5, "grows"), "down": (-1.0, "shrinks")}


def test_config_errors() -> None:
    with pytest.raises(ValueError, match=r"widths=\(8,\) must be at least two"):
        CoordConfig(widths=(8,))
    with pytest.raises(ValueError, match=r"parametrization='up' is not one of 'mup', 'sp'"):
        CoordConfig(widths=(8, 16), parametrization="up")
    with pytest.raises(ValueError, match=r"steps=0 must be a positive integer"):
        CoordConfig(widths=(8, 16), steps=0)


def test_cli_writes_records_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    module = tmp_path / "models.py"
    module.write_text(
        "from torch import nn\n"
        "def mlp(w):\n"
        "    return nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w), nn.ReLU(),"
        " nn.Linear(w, 2))\n"
    )
    plot, records = tmp_path / "cc.png", tmp_path / "cc.csv"
    argv = [
        "coordcheck",
        f"{module}:mlp",
        "--widths",
        "32,64,128",
        "--steps",
        "1",
        "--seeds",
        "1",
        "--plot",
        str(plot),
        "--records",
        str(records),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "mup / adam lr=0.01: flat in width" in out and "sp / adam" in out
    assert (tmp_path / "cc_mup.png").stat().st_size > 0 and (tmp_path / "cc_sp.png").exists()
    assert records.read_text().startswith(
        "parametrization,optimizer,width,seed,step,layer,module_type,l1"
    )
    assert main(["coordcheck", f"{module}:mlp", "--widths", "16,x"]) == 2
    assert "--widths '16,x' must be integers" in capsys.readouterr().err
