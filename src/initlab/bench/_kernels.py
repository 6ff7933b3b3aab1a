"""Single tensors and matrices: keyed fills against PyTorch's own functions, same run."""

from __future__ import annotations

from collections.abc import Callable

import torch

from initlab import orthogonal_, sparse_, trunc_normal_
from initlab.bench._records import Record, time_one, time_pair
from initlab.rng import KeyedSampler, numba_available

__all__ = ["matrix_records", "single_tensor_records", "thread_records"]

Case = tuple[str, Callable[[], object], str, Callable[[], object]]
TRUNC = (0.0, 0.02, -0.04, 0.04)  # mean, std, low, high: the usual transformer init


def _single_cases(x: torch.Tensor, gen: torch.Generator, seed: int) -> list[Case]:
    """(our name, ours, baseline name, baseline) for one tensor; fresh samplers each call."""
    return [
        ("keyed uniform", lambda: KeyedSampler(seed, "w").uniform_(x, -1, 1),
         "Tensor.uniform_", lambda: x.uniform_(-1, 1, generator=gen)),
        ("keyed normal", lambda: KeyedSampler(seed, "w").normal_(x, 0, 0.02),
         "Tensor.normal_", lambda: x.normal_(0, 0.02, generator=gen)),
        ("keyed trunc_normal", lambda: KeyedSampler(seed, "w").trunc_normal_(x, *TRUNC),
         "nn.init.trunc_normal_", lambda: torch.nn.init.trunc_normal_(x, *TRUNC, generator=gen)),
        # rng="torch": the pinned float64 algorithm (what init_model(rng="torch") draws).
        ("trunc_normal_ (torch.Generator)", lambda: trunc_normal_(x, *TRUNC, generator=gen),
         "nn.init.trunc_normal_", lambda: torch.nn.init.trunc_normal_(x, *TRUNC, generator=gen)),
        ("trunc_normal_ (torch.Generator)", lambda: trunc_normal_(x, *TRUNC, generator=gen),
         "Tensor.normal_", lambda: x.normal_(0, 0.02, generator=gen)),
    ]  # fmt: skip


def single_tensor_records(
    sizes: tuple[int, ...], dtypes: tuple[str, ...], device: str, repeats: int, seed: int
) -> list[Record]:
    records = []
    gen = torch.Generator(device=device).manual_seed(seed)
    for size in sizes:
        for dtype_name in dtypes:
            x = torch.empty(size, dtype=getattr(torch, dtype_name), device=device)
            floor = time_one(x.zero_, repeats, device)
            for name, ours, base_name, base in _single_cases(x, gen, seed):
                ms, base_ms = time_pair(ours, base, repeats, device)
                records.append(Record(
                    section="single tensor", name=name, shape=f"2^{size.bit_length() - 1}",
                    dtype=dtype_name, device=device, ms=ms, baseline=base_name,
                    baseline_ms=base_ms, floor_ms=floor,
                ))  # fmt: skip
            del x
    return records


def _matrix_cases(w: torch.Tensor, gen: torch.Generator, seed: int) -> list[Case]:
    return [
        ("initlab.orthogonal_ (keyed)", lambda: orthogonal_(w, generator=KeyedSampler(seed, "w")),
         "nn.init.orthogonal_", lambda: torch.nn.init.orthogonal_(w, generator=gen)),
        ("initlab.sparse_ 0.9 (keyed)", lambda: sparse_(w, 0.9, generator=KeyedSampler(seed, "w")),
         "nn.init.sparse_ 0.9", lambda: torch.nn.init.sparse_(w, 0.9, generator=gen)),
    ]  # fmt: skip


def matrix_records(sizes: tuple[int, ...], device: str, repeats: int, seed: int) -> list[Record]:
    records = []
    gen = torch.Generator(device=device).manual_seed(seed)
    for n in sizes:
        w = torch.empty(n, n, device=device)
        for name, ours, base_name, base in _matrix_cases(w, gen, seed):
            ms, base_ms = time_pair(ours, base, repeats, device)
            records.append(Record(
                section="matrix", name=name, shape=f"{n}x{n}", dtype="float32", device=device,
                ms=ms, baseline=base_name, baseline_ms=base_ms,
            ))  # fmt: skip
    return records


def thread_records(size: int, threads: tuple[int, ...], repeats: int, seed: int) -> list[Record]:
    """Keyed normal_ at each thread count, against torch's normal_ at the same count."""
    records = []
    x = torch.empty(size)
    before = torch.get_num_threads()
    for count in threads:
        _set_threads(count)
        try:
            ms, base_ms = time_pair(
                lambda: KeyedSampler(seed, "w").normal_(x, 0, 1),
                lambda: x.normal_(0, 1),
                repeats,
                "cpu",
            )
        finally:
            _set_threads(before)
        records.append(Record(
            section="cpu threads", name=f"keyed normal, {count} thread(s)",
            shape=f"2^{size.bit_length() - 1}", dtype="float32", device="cpu", ms=ms,
            baseline="Tensor.normal_", baseline_ms=base_ms,
        ))  # fmt: skip
    return records


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    if numba_available():
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
