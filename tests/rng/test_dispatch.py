"""The one dispatch: which route a keyed fill takes, and every route gives the same bits."""

from __future__ import annotations

import json

import pytest
import torch

from initlab import _cli
from initlab.rng import BACKENDS, Draw, KeyedSampler, _dispatch, backend_for, runtime_info

DRAWS = [Draw.uniform(-1.0, 2.0), Draw.normal(0.1, 0.5), Draw.trunc_normal(0.0, 1.0, -2.0, 2.0)]


def test_cpu_routes_by_size_and_installed_numba(monkeypatch):
    assert backend_for("cpu") == "numba"
    assert backend_for("cpu", numel=_dispatch.NUMBA_MIN_ELEMENTS - 1) == "torch"
    monkeypatch.setattr(_dispatch, "numba_available", lambda: False)
    assert backend_for("cpu") == "torch"
    assert backend_for("cuda") in ("triton", "torch")


@pytest.mark.skipif(not _dispatch.triton_available(), reason="triton not installed")
def test_triton_is_the_cuda_default_and_env_opts_out(monkeypatch):
    monkeypatch.delenv("INITLAB_TRITON", raising=False)
    assert backend_for("cuda") == "triton"
    assert backend_for(torch.device("cuda", 0), numel=8) == "triton"
    monkeypatch.setenv("INITLAB_TRITON", "0")
    assert backend_for("cuda") == "numba+copy"  # never the element-wise reference
    assert set(BACKENDS) >= {backend_for(d) for d in ("cpu", "cuda", "meta")}
    monkeypatch.setenv("INITLAB_TRITON", "off")
    with pytest.raises(ValueError, match=r"INITLAB_TRITON='off' is not '0' .* or '1'"):
        backend_for("cuda")


def _host_route_once(monkeypatch) -> list[str]:
    """Make the next fill take the host route (as a CUDA tensor without Triton would)."""
    real = _dispatch.backend_for
    seen: list[str] = []

    def fake(device, numel=None):
        route = "numba+copy" if not seen else real(device, numel)
        seen.append(route)
        return route

    monkeypatch.setattr(_dispatch, "backend_for", fake)
    return seen


@pytest.mark.parametrize("draw", DRAWS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_host_route_equals_direct_fill(monkeypatch, draw, dtype):
    want = KeyedSampler(4, "w")._fill(torch.empty(129, 65, dtype=dtype), draw)
    seen = _host_route_once(monkeypatch)
    got = KeyedSampler(4, "w")._fill(torch.empty(129, 65, dtype=dtype), draw)
    assert seen == ["numba+copy", "numba"]
    assert torch.equal(got, want)


def test_backends_agree_on_one_run_and_on_boxes():
    key, draw = (12, 34), Draw.normal(0.0, 1.0)
    for starts in (torch.tensor([0]), torch.tensor([5, 1000, 2**33 + 3])):
        ref = _dispatch.keyed_runs(key, 3, draw, starts, 5000, backend="torch")
        assert torch.equal(_dispatch.keyed_runs(key, 3, draw, starts, 5000, backend="numba"), ref)
        assert torch.equal(_dispatch.keyed_runs(key, 3, draw, starts, 5000), ref)


def test_info_reports_versions_and_routes(capsys):
    info = runtime_info()
    assert info["versions"]["torch"] == torch.__version__
    assert info["routes"]["cpu"] == backend_for("cpu")
    assert _cli.main(["info", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["routes"] == info["routes"]
    assert _cli.main(["info"]) == 0
    assert "keyed fill route per device" in capsys.readouterr().out
