"""Smoke test of ``python -m initlab.bench --quick``: it runs and reports ratios (no timings)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest

import initlab.bench
from initlab.bench import BenchConfig, Record, render
from initlab.bench import _cli as bench_cli


@pytest.mark.slow
def test_quick_bench_runs_and_reports_ratios():
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(proc.stdout)
    sections = {r["section"] for r in records}
    assert {"single tensor", "matrix", "cpu threads", "whole model"} <= sections
    for record in records:
        assert record["vs_torch"] > 0 and record["ms"] > 0 and record["baseline_ms"] > 0
    assert all(r["vs_floor"] > 0 for r in records if r["section"] == "single tensor")


def test_render_shows_ratios():
    record = Record(section="s", name="keyed normal", shape="2^20", dtype="float32",
                    device="cpu", ms=2.0, baseline="Tensor.normal_", baseline_ms=3.0,
                    floor_ms=1.0)  # fmt: skip
    text = render([record])
    assert "1.50x" in text and "0.50x" in text
    assert BenchConfig.quick().sizes == (1 << 20,)


def _record() -> Record:
    return Record(section="s", name="keyed normal", shape="2^20", dtype="float32",
                  device="cpu", ms=2.0, baseline="Tensor.normal_", baseline_ms=3.0,
                  floor_ms=1.0)  # fmt: skip


def test_library_module_never_prints_and_the_cli_lives_apart():
    assert "print(" not in inspect.getsource(initlab.bench)
    assert "main" not in initlab.bench.__all__ and not hasattr(initlab.bench, "main")


def test_cli_prints_what_the_library_returns(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(bench_cli, "run", lambda cfg: seen.append(cfg) or [_record()])
    assert bench_cli.main(["--quick", "--json", "--sizes", "10", "--model", "8", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["vs_torch"] == 1.5
    assert seen[0].sizes == (1 << 10,) and (seen[0].model_dim, seen[0].model_layers) == (8, 1)
    assert bench_cli.main(["--quick"]) == 0
    assert capsys.readouterr().out == render([_record()]) + "\n"
    with pytest.raises(SystemExit, match=r"--model \[0, 1\]: DIM and LAYERS must be positive"):
        bench_cli.main(["--quick", "--model", "0", "1"])
