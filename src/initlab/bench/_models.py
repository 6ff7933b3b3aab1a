"""Whole models through the product path: ``initlab.init_model`` against PyTorch's own init.

Each case runs in a fresh Python process (:mod:`initlab.bench._worker`) so that its peak
resident memory (VmHWM) is its own: the model is built on the meta device, then either
``init_model(model, preset, device=..., rng=...)`` or ``to_empty`` + every module's
``reset_parameters()``. The first call on a tiny model of the same kind is timed apart as
``compile_ms`` (numba cache load or compile, Triton compile) and excluded from ``ms``.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import asdict, dataclass

import torch

from initlab.bench._records import Record

__all__ = ["METHODS", "MODEL_KINDS", "ModelCase", "build", "llama_like", "mlp", "model_records"]

# How a case initializes the model: PyTorch's path, or init_model with each rng.
METHODS = ("reset_parameters", "init_model rng=torch", "init_model rng=keyed")


def llama_like(dim: int, layers: int, vocab: int = 8192) -> torch.nn.Module:
    """A Llama-shaped stack of plain modules (attention and SwiGLU projections, RMSNorm)."""
    ffn = int(8 * dim / 3) // 64 * 64 or 64

    def linear(fan_in: int, fan_out: int) -> torch.nn.Linear:
        return torch.nn.Linear(fan_in, fan_out, bias=False)

    def block() -> torch.nn.Module:
        return torch.nn.ModuleDict(
            {
                "attention_norm": torch.nn.RMSNorm(dim),
                **{name: linear(dim, dim) for name in ("wq", "wk", "wv", "wo")},
                "ffn_norm": torch.nn.RMSNorm(dim),
                "w1": linear(dim, ffn),
                "w2": linear(ffn, dim),
                "w3": linear(dim, ffn),
            }
        )

    return torch.nn.ModuleDict({
        "tok_embeddings": torch.nn.Embedding(vocab, dim),
        "layers": torch.nn.ModuleList(block() for _ in range(layers)),
        "norm": torch.nn.RMSNorm(dim), "output": torch.nn.Linear(dim, vocab, bias=False),
    })  # fmt: skip


def mlp(dim: int, layers: int) -> torch.nn.Module:
    """``layers`` x (Linear(dim, dim), ReLU): what the ``auto`` preset is for."""
    modules: list[torch.nn.Module] = []
    for _ in range(layers):
        modules += [torch.nn.Linear(dim, dim), torch.nn.ReLU()]
    return torch.nn.Sequential(*modules)


# kind -> (builder, the preset a user would choose for it)
MODEL_KINDS = {"llama": (llama_like, "llama"), "mlp": (mlp, "auto")}


@dataclass(frozen=True, kw_only=True)
class ModelCase:
    """One model shape: ``kind`` in MODEL_KINDS, its width and depth, and the dtype."""

    kind: str = "llama"
    dim: int = 512
    layers: int = 4
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"kind={self.kind!r} is not one of {sorted(MODEL_KINDS)}")
        if self.dim < 1 or self.layers < 1:
            raise ValueError(f"dim={self.dim}, layers={self.layers}: both must be positive")

    @property
    def preset(self) -> str:
        return MODEL_KINDS[self.kind][1]

    def describe(self) -> str:
        with torch.device("meta"):
            n = sum(p.numel() for p in build(self).parameters())
        return f"{self.kind} d={self.dim} L={self.layers} ({n / 1e6:.1f} M) {self.preset!r}"


def build(case: ModelCase, dim: int | None = None, layers: int | None = None) -> torch.nn.Module:
    """The case's model in the current default device (use ``torch.device("meta")``)."""
    builder = MODEL_KINDS[case.kind][0]
    model = builder(dim or case.dim, layers or case.layers)
    return model.to(getattr(torch, case.dtype))


def _run_worker(case: ModelCase, method: str, device: str, repeats: int) -> dict[str, float]:
    request = json.dumps({"case": asdict(case), "method": method, "device": device,
                          "repeats": repeats})  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "initlab.bench._worker", request],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker {method} on {case} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def model_records(cases: tuple[ModelCase, ...], device: str, repeats: int) -> list[Record]:
    """One record per (case, rng): init_model against to_empty + reset_parameters."""
    records: list[Record] = []
    for case in cases:
        results = {m: _run_worker(case, m, device, repeats) for m in METHODS}
        base = results["reset_parameters"]
        for method in METHODS[1:]:
            ours = results[method]
            records.append(Record(
                section="whole model", name=f"meta -> {method}", shape=case.describe(),
                dtype=case.dtype, device=device, ms=ours["ms"],
                baseline="meta -> to_empty -> reset_parameters", baseline_ms=base["ms"],
                peak_mb=ours["peak_mb"], baseline_peak_mb=base["peak_mb"],
                model_mb=ours["model_mb"], compile_ms=ours["compile_ms"],
            ))  # fmt: skip
    return records


def model_bytes(model: torch.nn.Module) -> int:
    tensors = [*model.parameters(), *model.buffers()]
    return sum(t.numel() * t.element_size() for t in tensors)


def memory_mb(field: str) -> float:
    """``VmHWM`` (peak) or ``VmRSS`` (now) of this process in MiB, from /proc (Linux) or,
    for the peak only, getrusage."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    if field != "VmHWM":
        return math.nan
    import resource

    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
