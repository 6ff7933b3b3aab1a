"""GPU evidence in one command: CPU == GPU bit for bit, then the GPU ratio table.

``python -m initlab.bench --gpu-check`` on a CUDA machine: every check compares a CUDA
result with the CPU result of the same call (``torch.equal``: 0 ulp). Without CUDA it says
so and exits 0 (nothing to check).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from initlab.bench._models import ModelCase, build
from initlab.bench._records import Record
from initlab.rng import Draw, KeyedSampler, backend_for, keyed_runs, keyed_words
from initlab.rng._philox import derive_key
from initlab.rules import init_model

__all__ = ["GPU_CONFIG_SIZES", "Check", "bit_checks", "gpu_records", "no_cuda_message"]

GPU_CONFIG_SIZES = (1 << 28, 1 << 30)
DTYPES = (torch.float32, torch.bfloat16, torch.float16)
FILLS: dict[str, Callable[[KeyedSampler, torch.Tensor], torch.Tensor]] = {
    "uniform": lambda s, x: s.uniform_(x, -0.5, 0.25),
    "normal": lambda s, x: s.normal_(x, 0.1, 0.02),
    "trunc_normal": lambda s, x: s.trunc_normal_(x, 0.0, 0.02, -0.04, 0.04),
    "trunc_normal tail": lambda s, x: s.trunc_normal_(x, 0.0, 1.0, 3.0, 4.0),
}


@dataclass(frozen=True)
class Check:
    """One comparison of a CUDA result with the CPU result of the same call."""

    name: str
    ok: bool
    detail: str = ""


def no_cuda_message() -> str | None:
    """Why the check cannot run here, or None when a CUDA device is present."""
    if torch.cuda.is_available():
        return None
    return (
        "gpu-check: no CUDA device here, nothing to check. Run "
        "`python -m initlab.bench --gpu-check` on a machine with an NVIDIA GPU."
    )


def _compare(name: str, cpu: torch.Tensor, gpu: torch.Tensor) -> Check:
    gpu = gpu.cpu()
    if torch.equal(cpu, gpu):
        return Check(name, True)
    differ = (cpu != gpu).sum().item()
    return Check(name, False, f"{differ} of {cpu.numel()} elements differ")


@contextmanager
def _triton_env(value: str | None) -> Iterator[None]:
    before = os.environ.get("INITLAB_TRITON")
    if value is None:
        os.environ.pop("INITLAB_TRITON", None)
    else:
        os.environ["INITLAB_TRITON"] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("INITLAB_TRITON", None)
        else:
            os.environ["INITLAB_TRITON"] = before


def _sampler_checks(route: str) -> Iterator[Check]:
    for dtype in DTYPES:
        for name, fill in FILLS.items():
            for shape in ((1000, 1023), (7, 3, 5)):
                cpu = fill(KeyedSampler(2, "w"), torch.empty(shape, dtype=dtype))
                gpu = fill(KeyedSampler(2, "w"), torch.empty(shape, dtype=dtype, device="cuda"))
                yield _compare(f"[{route}] KeyedSampler {name} {dtype} {shape}", cpu, gpu)


def _contract_checks() -> Iterator[Check]:
    key = derive_key(3, "blocks.0.mlp.w1")
    for start in (0, 5, 4 * 2**32 - 6):
        cpu = keyed_words(key, 7, start, 100_003)
        yield _compare(
            f"keyed_words start={start}", cpu, keyed_words(key, 7, start, 100_003, "cuda")
        )
    starts = torch.tensor([3, 1000, 2**33 + 6])
    for draw in (Draw.normal(0.0, 1.0), Draw.trunc_normal(0.0, 1.0, -2.0, 2.0)):
        cpu = keyed_runs(key, 1, draw, starts, 4099)
        gpu = keyed_runs(key, 1, draw, starts.cuda(), 4099)
        yield _compare(f"keyed_runs (a shard's box) kind={draw.kind}", cpu, gpu)


def _grouped_checks() -> Iterator[Check]:
    from initlab.rng import _triton_backend

    draws = [Draw.normal(0.0, 0.02), Draw.uniform(-1.0, 1.0), Draw.trunc_normal(0, 1, -2, 2)]
    for dtype in DTYPES:
        tensors = [torch.empty(s, dtype=dtype, device="cuda") for s in ((3, 5), (4097,), (640, 33))]
        keys = [derive_key(1, f"p{i}") for i in range(len(tensors))]
        _triton_backend.fill_grouped_(tensors, keys, draws, stream=2)
        for i, (tensor, key, draw) in enumerate(zip(tensors, keys, draws)):
            want = keyed_runs(key, 2, draw, torch.zeros(1, dtype=torch.int64), tensor.numel())
            yield _compare(
                f"fill_grouped_ {dtype} tensor {i}", want.reshape(tensor.shape).to(dtype), tensor
            )


def _model_checks() -> Iterator[Check]:
    cases = (ModelCase(kind="mlp", dim=256, layers=3), ModelCase(kind="llama", dim=128, layers=2),
             ModelCase(kind="llama", dim=128, layers=2, dtype="bfloat16"))  # fmt: skip
    for case in cases:
        states = {}
        for device in ("cpu", "cuda"):
            with torch.device("meta"):
                model = build(case)
            init_model(model, case.preset, seed=0, device=device, rng="keyed")
            states[device] = model.state_dict()
        bad = [n for n, t in states["cpu"].items() if not torch.equal(t, states["cuda"][n].cpu())]
        detail = f"{len(bad)} tensors differ, e.g. {bad[:3]}" if bad else ""
        name = f"init_model rng=keyed {case.describe()} {case.dtype}, meta -> cuda vs cpu"
        yield Check(name, not bad, detail)


@contextmanager
def _counting_launches() -> Iterator[dict[str, int]]:
    """Count Triton launches: grouped (one per dtype and scheme) and per tensor."""
    from initlab.rng import _triton_backend as tk

    counts = {"grouped": 0, "per_tensor": 0}
    real_group, real_launch = tk.launch_group, tk._launch

    def group(*args: Any) -> None:
        counts["grouped"] += 1
        real_group(*args)

    def single(*args: Any) -> None:
        counts["per_tensor"] += 1
        real_launch(*args)

    tk.launch_group, tk._launch = group, single  # type: ignore[assignment]
    try:
        yield counts
    finally:
        tk.launch_group, tk._launch = real_group, real_launch  # type: ignore[assignment]


def _grouped_model_check() -> Check:
    """init_model(rng="keyed") on cuda takes the grouped route: no per-tensor launch."""
    case = ModelCase(kind="llama", dim=256, layers=4, dtype="bfloat16")
    with torch.device("meta"):
        model = build(case)
    with _counting_launches() as counts:
        init_model(model, case.preset, seed=0, device="cuda", rng="keyed")
    ok = counts["per_tensor"] == 0 and 1 <= counts["grouped"] <= 4
    name = f"init_model rng=keyed {case.describe()} bf16 on cuda: one launch per dtype and scheme"
    return Check(name, ok, f"{counts['grouped']} grouped, {counts['per_tensor']} per-tensor")


def bit_checks() -> list[Check]:
    """Every CPU == CUDA comparison (needs a CUDA device)."""
    checks = [Check(f"route on cuda: {backend_for('cuda')}", backend_for("cuda") == "triton")]
    checks += _sampler_checks(backend_for("cuda"))
    checks += _contract_checks()
    if backend_for("cuda") == "triton":
        checks += _grouped_checks()
        checks.append(_grouped_model_check())
    checks += _model_checks()  # on the grouped route when Triton runs
    with _triton_env("0"):
        checks += [c for c in _sampler_checks(backend_for("cuda")) if "(7, 3, 5)" not in c.name]
    return checks


def gpu_records(repeats: int = 5) -> list[Record]:
    """The GPU ratio table: keyed fills at 2^28 and 2^30, the write floor, a whole model."""
    from initlab.bench import BenchConfig, run

    cfg = BenchConfig(
        device="cuda", sizes=GPU_CONFIG_SIZES, dtypes=("float32", "bfloat16"), repeats=repeats,
        matrix_sizes=(4096,), threads=(),
        # rng=keyed rows are the grouped route (one launch per dtype and scheme).
        models=(ModelCase(kind="llama", dim=2048, layers=16, dtype="bfloat16"),
                ModelCase(kind="llama", dim=4096, layers=32, dtype="bfloat16")),
    )  # fmt: skip
    return run(cfg)
