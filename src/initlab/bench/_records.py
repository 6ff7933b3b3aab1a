"""Bench records and their table; timing helpers shared by every section."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch

__all__ = ["Record", "render", "time_pair"]


@dataclass(frozen=True, kw_only=True)
class Record:
    """One measurement: ours against a baseline, both timed in this run.

    ``peak_mb`` / ``baseline_peak_mb``: peak memory of the initialization (CPU: VmHWM minus
    the resident set before the model, in a fresh process per case; CUDA:
    ``torch.cuda.max_memory_allocated``); ``model_mb``: the
    bytes of the model's tensors; ``compile_ms``: first call on a tiny model of the same
    kind (JIT compile or cache load), excluded from ``ms``.
    """

    section: str
    name: str
    shape: str
    dtype: str
    device: str
    ms: float
    baseline: str
    baseline_ms: float
    floor_ms: float | None = None
    peak_mb: float | None = None
    baseline_peak_mb: float | None = None
    model_mb: float | None = None
    compile_ms: float | None = None

    @property
    def vs_torch(self) -> float:
        return self.baseline_ms / self.ms

    @property
    def vs_floor(self) -> float | None:
        return None if self.floor_ms is None else self.floor_ms / self.ms

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "vs_torch": self.vs_torch, "vs_floor": self.vs_floor}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_pair(
    ours: Callable[[], object], base: Callable[[], object], repeats: int, device: str
) -> tuple[float, float]:
    """Best wall times (ms) of ``ours`` and ``base``, alternated so load hits both alike.

    One warm-up call each first (which also JIT-compiles).
    """
    best = [math.inf, math.inf]
    for fn in (ours, base):
        fn()
    for _ in range(repeats):
        for i, fn in enumerate((ours, base)):
            _sync(device)
            start = time.perf_counter()
            fn()
            _sync(device)
            best[i] = min(best[i], time.perf_counter() - start)
    return best[0] * 1e3, best[1] * 1e3


def time_one(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Best wall time (ms) of ``repeats`` calls after one warm-up."""
    return time_pair(fn, lambda: None, repeats, device)[0]


COLUMNS = (
    ("section", 13), ("ours", 28), ("shape", 30), ("dtype", 9), ("ms", 9),
    ("baseline", 30), ("base ms", 9), ("vs torch", 9), ("vs floor", 9),
    ("peak MB", 8), ("base peak", 9), ("model MB", 8), ("compile ms", 10),
)  # fmt: skip


def _mb(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def render(records: Sequence[Record]) -> str:
    """A plain-text table of records; ratios above 1 mean initlab is faster."""
    header = " ".join(f"{title:<{width}}" for title, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for r in records:
        floor = "" if r.vs_floor is None else f"{r.vs_floor:.2f}x"
        cells = (r.section, r.name, r.shape, r.dtype, f"{r.ms:.2f}", r.baseline,
                 f"{r.baseline_ms:.2f}", f"{r.vs_torch:.2f}x", floor, _mb(r.peak_mb),
                 _mb(r.baseline_peak_mb), _mb(r.model_mb), _mb(r.compile_ms))  # fmt: skip
        lines.append(" ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, COLUMNS)).rstrip())
    return "\n".join(lines)
