"""Smoke tests of ``python -m initlab.bench``: it runs and reports ratios (never timings)."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys

import pytest
import torch

import initlab.bench
from initlab.bench import BenchConfig, ModelCase, Record, render
from initlab.bench import _cli as bench_cli

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow


@pytest.mark.slow
def test_quick_bench_runs_and_reports_ratios_and_memory():
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.bench", "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = json.loads(proc.stdout)
    sections = {r["section"] for r in records}
    assert {"single tensor", "matrix", "cpu threads", "whole model"} <= sections
    for record in records:
        assert record["vs_torch"] > 0 and record["ms"] > 0 and record["baseline_ms"] > 0
    assert all(r["vs_floor"] > 0 for r in records if r["section"] == "single tensor")
    models = [r for r in records if r["section"] == "whole model"]
    # The product path, with both rngs, against PyTorch's own init from the meta device.
    assert {r["name"] for r in models} == {"meta -> init_model rng=torch",
                                           "meta -> init_model rng=keyed"}  # fmt: skip
    for r in models:
        assert r["model_mb"] > 0 and r["compile_ms"] > 0
        assert r["peak_mb"] is not None and r["baseline_peak_mb"] is not None


def _record(**extra: object) -> Record:
    fields: dict = dict(section="s", name="keyed normal", shape="2^20", dtype="float32",
                        device="cpu", ms=2.0, baseline="Tensor.normal_", baseline_ms=3.0,
                        floor_ms=1.0)  # fmt: skip
    return Record(**{**fields, **extra})


def test_render_shows_ratios_and_memory():
    text = render([_record(peak_mb=123.4, model_mb=100.0, compile_ms=5.0)])
    assert "1.50x" in text and "0.50x" in text and "123" in text
    assert BenchConfig.quick().sizes == (1 << 18,)


def test_library_module_never_prints_and_the_cli_lives_apart():
    assert "print(" not in inspect.getsource(initlab.bench)
    assert "main" not in initlab.bench.__all__ and not hasattr(initlab.bench, "main")


def test_cli_prints_what_the_library_returns(monkeypatch, capsys):
    seen = []
    monkeypatch.setattr(bench_cli, "run", lambda cfg: seen.append(cfg) or [_record()])
    assert bench_cli.main(["--quick", "--json", "--sizes", "10", "--model", "mlp", "8", "1"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["vs_torch"] == 1.5
    assert seen[0].sizes == (1 << 10,)
    assert seen[0].models == (ModelCase(kind="mlp", dim=8, layers=1),)
    assert bench_cli.main(["--quick"]) == 0
    assert capsys.readouterr().out == render([_record()]) + "\n"
    assert bench_cli.main(["--big"]) == 0
    assert seen[-1].sections == ("whole model",) and seen[-1].models[0].dim == 2048
    with pytest.raises(SystemExit, match=r"DIM and LAYERS must be integers"):
        bench_cli.main(["--quick", "--model", "llama", "x", "1"])
    with pytest.raises(SystemExit, match=r"kind='gru' is not one of"):
        bench_cli.main(["--quick", "--model", "gru", "8", "1"])
    with pytest.raises(SystemExit, match=r"dim=0, layers=1: both must be positive"):
        bench_cli.main(["--quick", "--model", "llama", "0", "1"])


def test_worker_measures_one_case_in_process(capsys):
    from initlab.bench import _worker

    request = {"case": {"kind": "mlp", "dim": 64, "layers": 1}, "method": "init_model rng=keyed",
               "device": "cpu", "repeats": 1}  # fmt: skip
    assert _worker.main(json.dumps(request)) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["model_mb"] == pytest.approx((64 * 64 + 64) * 4 / 2**20)
    assert result["ms"] > 0 and result["compile_ms"] > 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message shown without CUDA")
def test_gpu_check_without_cuda_exits_cleanly_and_says_why():
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.bench", "--gpu-check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "no CUDA device" in proc.stdout and "--gpu-check" in proc.stdout
    from initlab.bench import _gpu_check

    assert callable(_gpu_check.bit_checks) and callable(_gpu_check.gpu_records)
