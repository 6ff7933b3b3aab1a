"""Smoke test of ``python -m initlab.bench --quick``: it runs and reports ratios (no timings)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from initlab.bench import BenchConfig, Record, render


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
