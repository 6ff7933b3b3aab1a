"""``initlab schemes`` and ``initlab gains``: tables computed without sampling."""

import json
import math

import pytest

from initlab._cli import main


def test_schemes_json_rows_match_closed_forms(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemes", "--scheme", "he_normal", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    linear = next(r for r in rows if r["layer"] == "Linear(784, 256)")
    assert linear["fan_in"] == 784 and linear["fan_out"] == 256
    assert math.isclose(linear["std"], math.sqrt(2 / 784), rel_tol=1e-12)


def test_gains_json_has_relu_sqrt2_and_torch_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gains", "--json"]) == 0
    rows = {r["activation"]: r for r in json.loads(capsys.readouterr().out)}
    assert math.isclose(rows["relu"]["derived"], math.sqrt(2), rel_tol=1e-14)
    assert rows["tanh"]["torch_table"] == pytest.approx(5 / 3)
    assert rows["gelu"]["torch_table"] is None


def test_unknown_scheme_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schemes", "--scheme", "he_norml"]) == 2
    err = capsys.readouterr().err
    assert "he_norml" in err and "did you mean 'he_normal'" in err


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out
