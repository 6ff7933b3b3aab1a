"""Speed and memory of initialization, initlab against PyTorch, measured in the same run.

Every figure is a ratio to a baseline timed alongside it (alternating runs, best of):
``vs_torch`` = PyTorch's time / ours (above 1 means faster), ``vs_floor`` = time of
``zero_`` on the same bytes / ours (the write-bandwidth floor; 1 would be perfect).
Sections: single tensors (keyed uniform / normal / truncated normal), matrices (orthogonal,
sparse), CPU thread scaling, and whole models through ``initlab.init_model`` from the meta
device (each case in a fresh process, with its peak memory and first-call compile time).
The library returns records; :func:`render` and the CLI present them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from initlab.bench._kernels import matrix_records, single_tensor_records, thread_records
from initlab.bench._models import MODEL_KINDS, ModelCase, llama_like, mlp, model_records
from initlab.bench._records import Record, render

__all__ = [
    "MODEL_KINDS",
    "SECTIONS",
    "BenchConfig",
    "ModelCase",
    "Record",
    "llama_like",
    "mlp",
    "render",
    "run",
]

SECTIONS = ("single tensor", "matrix", "cpu threads", "whole model")


def _thread_counts() -> tuple[int, ...]:
    cores = torch.get_num_threads()
    return tuple(sorted({1, cores}))


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What to measure. ``sizes`` are element counts of the single-tensor benchmarks."""

    device: str = "cpu"
    sizes: tuple[int, ...] = (1 << 22,)
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    repeats: int = 3
    matrix_sizes: tuple[int, ...] = (512,)
    models: tuple[ModelCase, ...] = (
        ModelCase(kind="llama", dim=512, layers=4),
        ModelCase(kind="mlp", dim=1024, layers=8),
    )
    model_repeats: int = 2
    threads: tuple[int, ...] = field(default_factory=_thread_counts)
    sections: tuple[str, ...] = SECTIONS
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = sorted(set(self.sections) - set(SECTIONS))
        if unknown:
            raise ValueError(f"sections={unknown} are not among {SECTIONS}")

    @classmethod
    def quick(cls, device: str = "cpu") -> BenchConfig:
        """Small sizes that finish in well under a minute on 2 CPU cores."""
        return cls(device=device, sizes=(1 << 18,), dtypes=("float32",), repeats=1,
                   matrix_sizes=(128,), models=(ModelCase(kind="mlp", dim=128, layers=2),),
                   model_repeats=1, threads=(1,))  # fmt: skip

    @classmethod
    def full(cls, device: str = "cpu") -> BenchConfig:
        """The default run (about 2 minutes on 2 CPU cores); on CUDA, GPU-sized tensors."""
        if device == "cuda":
            return cls(device=device, sizes=(1 << 28, 1 << 30), matrix_sizes=(1024, 4096),
                       models=(ModelCase(kind="llama", dim=4096, layers=32, dtype="bfloat16"),
                               ModelCase(kind="llama", dim=2048, layers=16, dtype="bfloat16")),
                       threads=())  # fmt: skip
        return cls(device=device)


def run(cfg: BenchConfig) -> list[Record]:
    """Measure every section asked for; returns the records (nothing printed)."""
    records: list[Record] = []
    if "single tensor" in cfg.sections:
        records += single_tensor_records(cfg.sizes, cfg.dtypes, cfg.device, cfg.repeats, cfg.seed)
    if "matrix" in cfg.sections:
        records += matrix_records(cfg.matrix_sizes, cfg.device, cfg.repeats, cfg.seed)
    if "cpu threads" in cfg.sections and cfg.device == "cpu" and cfg.threads:
        records += thread_records(cfg.sizes[0], cfg.threads, cfg.repeats, cfg.seed)
    if "whole model" in cfg.sections:
        records += model_records(cfg.models, cfg.device, cfg.model_repeats)
    return records
