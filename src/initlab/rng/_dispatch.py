"""The one place that picks a backend for a keyed fill, and says which one it picked.

Routes, by the device of the tensor written (:func:`backend_for`):

* ``"triton"`` — CUDA tensors when triton is installed (the default; ``INITLAB_TRITON=0``
  opts out): one fused kernel writes every element once in the target dtype.
* ``"numba"`` — CPU tensors of at least ``NUMBA_MIN_ELEMENTS`` elements: all cores.
* ``"numba+copy"`` — CUDA without Triton: the CPU numba kernels fill a host buffer that is
  copied to the device once (bounded by the host's speed plus one transfer, never by the
  per-element reference).
* ``"torch"`` — the vectorized reference: small CPU outputs (no JIT needed), or when numba
  is not installed.

Every route gives the same bits; the choice only changes the speed.
"""

from __future__ import annotations

import importlib.util
import os
from functools import cache

import torch

from initlab.rng import _torch_backend
from initlab.rng._draws import Draw
from initlab.rng._shards import box_runs, is_dtensor, shard_box

__all__ = [
    "BACKENDS",
    "backend_for",
    "fill_keyed",
    "keyed_runs",
    "keyed_words",
    "numba_available",
    "triton_available",
]

BACKENDS = ("triton", "numba", "numba+copy", "torch")
# Below this many elements the torch path is as fast and needs no JIT compile.
NUMBA_MIN_ELEMENTS = 1 << 12


@cache
def numba_available() -> bool:
    """Whether the numba backend imports (a required dependency; absent only if removed)."""
    return importlib.util.find_spec("numba") is not None


@cache
def triton_available() -> bool:
    """Whether triton is installed (it still needs a CUDA device or its interpreter to run)."""
    return importlib.util.find_spec("triton") is not None


def _triton_enabled() -> bool:
    value = os.environ.get("INITLAB_TRITON", "1")
    if value not in ("0", "1"):
        raise ValueError(
            f"INITLAB_TRITON={value!r} is not '0' (CUDA fills without Triton) or '1' (default)"
        )
    return value == "1" and triton_available()


def backend_for(device: torch.device | str, numel: int | None = None) -> str:
    """The route a keyed fill of ``numel`` elements (``None``: a large tensor) takes on ``device``.

    >>> backend_for("cpu", numel=10)
    'torch'
    """
    kind = torch.device(device).type
    large = numel is None or numel >= NUMBA_MIN_ELEMENTS
    if kind == "cpu":
        return "numba" if large and numba_available() else "torch"
    if kind == "cuda" and _triton_enabled():
        return "triton"
    return "numba+copy" if numba_available() else "torch"


def keyed_runs(
    key: tuple[int, int],
    stream: int,
    draw: Draw,
    starts: torch.Tensor,
    length: int,
    backend: str = "auto",
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """fp32 values of flat element indices ``starts[r] + j`` for j < ``length`` → (R, length).

    ``backend`` is ``"auto"`` (:func:`backend_for` the device of ``starts``), ``"torch"`` or
    ``"numba"`` (CPU). All give bit-identical values. ``out``, if given, is written in place
    (a contiguous fp32 (R, length) tensor).
    """
    if out is None:
        out = torch.empty((len(starts), length), dtype=torch.float32, device=starts.device)
    if out.shape != (len(starts), length) or out.dtype != torch.float32 or not out.is_contiguous():
        raise ValueError(f"out must be a contiguous fp32 ({len(starts)}, {length}) tensor")
    if backend not in ("auto", "torch", "numba"):
        raise ValueError(f"backend={backend!r} is not one of 'auto', 'torch', 'numba'")
    if out.numel() == 0:
        return out
    route = backend_for(out.device, out.numel()) if backend == "auto" else backend
    if route == "numba":
        from initlab.rng import _numba_backend

        return _numba_backend.fill_runs(out, key, stream, draw, starts)
    if route in ("triton", "numba+copy"):
        _fill_local(out, (out.numel(),), (0,), key, stream, draw, (starts, length))
        return out
    return _torch_backend.fill_runs(out, key, stream, draw, starts)


def keyed_words(
    key: tuple[int, int], stream: int, start: int, count: int, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """uint32 words (in int64) of flat indices [start, start + count): the bit-level contract."""
    route = backend_for(device, count)
    if route == "triton":
        from initlab.rng import _triton_backend

        return _triton_backend.keyed_words(key, stream, start, count, device)
    if route in ("numba", "numba+copy"):
        from initlab.rng import _numba_backend

        return _numba_backend.words(key, stream, start, count).to(device)
    return _torch_backend.words(key, stream, start, count, device)


def fill_keyed(tensor: torch.Tensor, key: tuple[int, int], stream: int, draw: Draw) -> torch.Tensor:
    """Write keyed values of ``draw`` into ``tensor`` (plain or DTensor) in place.

    Values are computed in fp32 and rounded once to ``tensor.dtype``; a DTensor's rank
    computes only its own box of the global tensor.
    """
    local = tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined]
    if local.numel() == 0:
        return tensor
    global_shape, offset, _ = shard_box(tensor)
    _fill_local(local, global_shape, offset, key, stream, draw)
    return tensor


def _fill_local(
    local: torch.Tensor,
    global_shape: tuple[int, ...],
    offset: tuple[int, ...],
    key: tuple[int, int],
    stream: int,
    draw: Draw,
    runs: tuple[torch.Tensor, int] | None = None,
) -> None:
    """Fill ``local``, the box at ``offset`` of a ``global_shape`` tensor, by its route.

    ``runs`` (starts, length), when given, replaces the box: ``local`` is then (R, length).
    """
    route = backend_for(local.device, local.numel())
    if route == "triton":
        from initlab.rng import _triton_backend

        if runs is None:
            _triton_backend.fill_box_(local, global_shape, offset, key, stream, draw)
        else:
            _triton_backend.fill_runs_(local, runs[0].to(local.device), key, stream, draw)
        return
    if route == "numba+copy":
        # Pageable, not pinned: pinning a one-shot buffer costs more than the copy it speeds.
        host = torch.empty(local.shape, dtype=local.dtype)
        host_runs = None if runs is None else (runs[0].cpu(), runs[1])
        _fill_local(host, global_shape, offset, key, stream, draw, host_runs)
        local.copy_(host)
        return
    starts, length = runs or box_runs(global_shape, offset, tuple(local.shape), local.device)
    one_aligned_run = len(starts) == 1 and int(starts[0]) % 4 == 0
    if route == "numba" and one_aligned_run and _is_contiguous_bf16(local):
        from initlab.rng import _numba_backend

        _numba_backend.fill_bf16_(local, key, stream, draw, int(starts[0]))
        return
    backend = "numba" if route == "numba" else "torch"
    if local.dtype == torch.float32 and local.is_contiguous():
        keyed_runs(key, stream, draw, starts, length, backend, out=local.view(len(starts), length))
    else:
        values = keyed_runs(key, stream, draw, starts, length, backend)
        local.copy_(values.reshape(local.shape))


def _is_contiguous_bf16(tensor: torch.Tensor) -> bool:
    return tensor.dtype == torch.bfloat16 and tensor.is_contiguous()
