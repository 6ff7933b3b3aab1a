"""Triton kernels under Triton's CPU interpreter: bit-for-bit equal to the torch reference.

TRITON_INTERPRET must be set before triton is imported, so the checks run in a subprocess
(:func:`tests.rng.interpreter.run_interpreted`).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest
from tests.rng.interpreter import run_interpreted

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("triton") is None, reason="triton not installed"
)

SCRIPT = textwrap.dedent(
    """
    import torch
    from initlab import rng as K
    from initlab.rng import _triton_backend as TK
    from initlab.rng._shards import box_runs

    assert TK.available() and TK.interpreted()
    print("READY", flush=True)
    key = K.derive_key(3, "blocks.0.mlp.w1")
    # Uniform words, bit for bit, from an unaligned start and across a 2^32-block boundary.
    for start in (0, 5, 4 * 2**32 - 6):
        want = K.keyed_words(key, 7, start, 2053)
        assert torch.equal(TK.keyed_words(key, 7, start, 2053, "cpu"), want), start
    draws = {
        "uniform": K.Draw.uniform(-0.5, 0.25),
        "normal": K.Draw.normal(0.1, 0.02),
        "trunc": K.Draw.trunc_normal(0.0, 0.02, -0.04, 0.04),
        "trunc_tail": K.Draw.trunc_normal(0.0, 1.0, 3.0, 4.0),
        "trunc_deep": K.Draw.trunc_normal(0.0, 1.0, -7.0, -5.5),  # w >= 16: third polynomial
    }
    boxes = [
        ((37, 11), (0, 0), (37, 11)),
        ((12, 10), (0, 3), (12, 4)),
        ((6, 5, 7), (2, 1, 3), (3, 2, 4)),
    ]
    for name, draw in draws.items():
        for shape, offset, local in boxes:
            starts, length = box_runs(shape, offset, local)
            want = K.keyed_runs(key, 7, draw, starts, length, backend="torch").reshape(local)
            got = TK.fill_box_(torch.empty(local), shape, offset, key, 7, draw)
            assert torch.equal(got, want), (name, shape, offset)
    # Rows longer than one program, unaligned starts, counters that carry into the high word
    # inside a program (block 2^32 - 3 onwards), fp16 / bf16 outputs rounded to nearest even.
    starts = torch.tensor([1, 4 * (2**32 - 3) + 2, 4 * (2**32 - 3) + 4, 9_000_003])
    for name, draw in draws.items():
        want = K.keyed_runs(key, 5, draw, starts, 4500, backend="torch")
        got = TK.fill_runs_(torch.empty(len(starts), 4500), starts, key, 5, draw)
        assert torch.equal(got, want), name
    for name in ("normal", "trunc"):
        draw = draws[name]
        for dtype in (torch.float16, torch.bfloat16):
            shape, offset, local = (40, 300), (3, 0), (4, 300)
            b_starts, length = box_runs(shape, offset, local)
            ref = K.keyed_runs(key, 5, draw, b_starts, length, backend="torch").reshape(local)
            out = TK.fill_box_(torch.empty(local, dtype=dtype), shape, offset, key, 5, draw)
            assert torch.equal(out, ref.to(dtype)), (name, dtype)
    # Grouped launch: many tensors, mixed schemes and dtypes, bf16 rounded to nearest even.
    tensors = [torch.empty(3, 5), torch.empty(17), torch.empty(40, 133)]
    tensors.append(torch.empty(9, dtype=torch.bfloat16))
    keys = [K.derive_key(1, f"p{i}") for i in range(len(tensors))]
    group = [draws["normal"], draws["uniform"], draws["trunc"], draws["normal"]]
    TK.fill_grouped_(tensors, keys, group, stream=2)
    for tensor, k, draw in zip(tensors, keys, group):
        zero = torch.zeros(1, dtype=torch.int64)
        want = K.keyed_runs(k, 2, draw, zero, tensor.numel(), backend="torch")
        assert torch.equal(tensor, want.reshape(tensor.shape).to(tensor.dtype))
    # One group of many tensors spanning 1 to 5 programs each: every program finds its tensor.
    sizes = [5, 4097, 1, 2048, 2049, 10000, 3, 8193]
    tensors = [torch.empty(n) for n in sizes]
    keys = [K.derive_key(4, f"q{i}") for i in range(len(sizes))]
    streams = list(range(len(sizes)))
    TK.fill_grouped_(tensors, keys, [draws["normal"]] * len(sizes), stream=streams)
    for tensor, k, s in zip(tensors, keys, streams):
        zero = torch.zeros(1, dtype=torch.int64)
        want = K.keyed_runs(k, s, draws["normal"], zero, tensor.numel(), backend="torch")
        assert torch.equal(tensor, want.reshape(-1)), tensor.numel()
    print("OK")
    """
)


def test_kernels_match_reference_under_interpreter():
    run_interpreted(SCRIPT)


def test_import_without_interpreter_or_gpu_is_clean():
    code = "import initlab.rng._triton_backend as TK; print(TK.available())"
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]


# Part of the whole suite (make test); left out of make test-fast.
pytestmark = [pytestmark, pytest.mark.slow]
