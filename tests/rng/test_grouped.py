"""init_model(rng="keyed") on the Triton route: one launch per (dtype, scheme), same bits.

The grouped route runs only where ``backend_for`` says "triton" (CUDA). Here it is forced
on CPU tensors: in-process with the launcher replaced by the torch reference (the
bookkeeping: what waits, what is redone directly, what a failed launch reports), and in a
subprocess under ``TRITON_INTERPRET=1`` with the real kernel (the bits).
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest
import torch
from tests.rng.grouped_model import RULES, Net
from tests.rng.interpreter import run_interpreted
from torch import nn

from initlab import init_model
from initlab.rng import _dispatch, _triton_backend
from initlab.rng._grouped import GroupedFills
from initlab.rules import PartialWriteError


def _reference() -> nn.Module:
    model = Net()
    init_model(model, RULES, seed=11, rng="keyed")
    return model


def _force_triton_route(monkeypatch, launcher) -> list[int]:
    """Route every keyed fill to Triton; grouped launches go to ``launcher`` (counted)."""
    sizes: list[int] = []

    def counted(tensors, keys, draws, streams, signature):
        sizes.append(len(tensors))
        launcher(tensors, keys, draws, streams, signature)

    monkeypatch.setattr(_dispatch, "backend_for", lambda device, numel=None: "triton")
    monkeypatch.setattr(_triton_backend, "launch_group", counted)
    monkeypatch.setattr(
        _triton_backend,
        "fill_box_",
        lambda local, shape, offset, key, stream, draw: local.copy_(
            _reference_values(local, key, stream, draw)
        ),
    )
    return sizes


def _reference_values(tensor, key, stream, draw):
    zero = torch.zeros(1, dtype=torch.int64)
    values = _dispatch.keyed_runs(key, stream, draw, zero, tensor.numel(), backend="torch")
    return values.reshape(tensor.shape).to(tensor.dtype)


def _assert_same_init(model: nn.Module, want: nn.Module) -> None:
    """Every initialized tensor bit for bit (the frozen one keeps its construction values)."""
    for (name, got), ref in zip(model.state_dict().items(), want.state_dict().values()):
        assert name.startswith("frozen.") or torch.equal(got, ref), name


def _torch_launcher(tensors, keys, draws, streams, signature):
    for tensor, key, draw, stream in zip(tensors, keys, draws, streams):
        tensor.copy_(_reference_values(tensor, key, stream, draw))


def test_grouped_route_writes_the_reference_bits_in_few_launches(monkeypatch):
    want = _reference()
    sizes = _force_triton_route(monkeypatch, _torch_launcher)
    model = Net()
    frozen_before = model.frozen.weight.clone()
    init_model(model, RULES, seed=11, rng="keyed")
    _assert_same_init(model, want)
    assert torch.equal(model.frozen.weight, frozen_before)
    # One launch per (dtype, scheme): fp32 normal (emb; head is its tie), fp32 truncated
    # normal (he_normal, Keras-style: qkv's 3 chunks), fp32 uniform (out.weight, 2 biases),
    # bf16 truncated normal twice (mlp.bias reaches a second piece of the inverse CDF).
    assert sizes == [1, 3, 3, 1, 1]


def test_a_write_besides_the_draw_is_redone_directly(monkeypatch):
    launched: list[int] = []
    _force_triton_route(monkeypatch, lambda t, *rest: launched.extend(x.numel() for x in t))
    model = Net()
    init_model(model, RULES, seed=11, rng="keyed")
    # pos.weight's padding row is zeroed after the draw: written directly, not grouped.
    assert model.pos.weight.numel() not in launched
    assert torch.equal(model.pos.weight, _reference().pos.weight)


def test_draws_used_at_once_are_not_held_back(monkeypatch):
    # orthogonal_ draws a Gaussian matrix and runs QR on it: that draw must happen now.
    rules = [{"scheme": "orthogonal", "role": "weight"}, {"scheme": "normal", "role": "bias"}]
    want = nn.Linear(12, 8)
    init_model(want, rules, seed=2, rng="keyed")
    sizes = _force_triton_route(monkeypatch, _torch_launcher)
    redone: list[int] = []
    real_drop = GroupedFills.drop_since

    def drop_since(self, mark):
        redone.append(mark)
        real_drop(self, mark)

    monkeypatch.setattr(GroupedFills, "drop_since", drop_since)
    model = nn.Linear(12, 8)
    init_model(model, rules, seed=2, rng="keyed")
    assert torch.equal(model.weight, want.weight) and torch.equal(model.bias, want.bias)
    assert sizes == [1] and not redone  # the bias waited; the Gaussian was drawn at once


def test_failed_grouped_launch_names_what_was_not_written(monkeypatch):
    calls: list[int] = []

    def fail_second(tensors, *rest):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("launch failed")
        _torch_launcher(tensors, *rest)

    _force_triton_route(monkeypatch, fail_second)
    with pytest.raises(PartialWriteError, match=r"waiting for a grouped launch were not written"):
        init_model(Net(), RULES, seed=11, rng="keyed")
    try:
        init_model(Net(), RULES, seed=11, rng="keyed")
    except PartialWriteError as exc:
        assert "pos.weight" in exc.written and "norm.weight" in exc.written
        assert "emb.weight" in exc.written  # its group (the first) completed
        assert "out.weight" not in exc.written  # in the failed group


SCRIPT = textwrap.dedent(
    """
    import torch
    from initlab import init_model
    from tests.rng.grouped_model import RULES, Net
    from initlab.rng import _dispatch, _triton_backend as TK

    assert TK.available() and TK.interpreted()
    print("READY", flush=True)
    want = Net()
    init_model(want, RULES, seed=11, rng="keyed")  # the CPU routes (numba, torch)
    groups, singles = [], []
    real_group, real_launch = TK.launch_group, TK._launch
    TK.launch_group = lambda t, *a: (groups.append(len(t)), real_group(t, *a))
    TK._launch = lambda *a: (singles.append(1), real_launch(*a))
    _dispatch.backend_for = lambda device, numel=None: "triton"
    model = Net()
    init_model(model, RULES, seed=11, rng="keyed")
    for (name, got), ref in zip(model.state_dict().items(), want.state_dict().values()):
        assert name.startswith("frozen.") or torch.equal(got, ref), name
    assert groups == [1, 3, 3, 1, 1], groups
    assert len(singles) == 1, singles  # pos.weight (padding row): redone directly
    print("OK")
    """
)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("triton") is None, reason="triton not installed")
def test_grouped_kernel_matches_cpu_reference_under_interpreter():
    run_interpreted(SCRIPT)
