"""DTensor geometry (bottom layer: torch only): which part of a global tensor a rank holds.

A shard of a DTensor (``Shard(d)`` on any mesh dims, even or uneven, or ``Replicate``) is a
box inside the global tensor. Its elements are runs of consecutive global row-major indices:
all dims after the last partially covered one are whole, so each run has the same length.
The keyed generator evaluates exactly those indices, so the gathered result is bit-identical
to an unsharded fill with the same key — with no communication and O(local numel) work.
"""

from __future__ import annotations

import math
import sys

import torch

__all__ = ["box_runs", "copy_from_full_", "is_dtensor", "local_view", "shard_box"]


def is_dtensor(tensor: torch.Tensor) -> bool:
    """Whether ``tensor`` is a ``torch.distributed.tensor.DTensor``.

    A DTensor exists only once ``torch.distributed.tensor`` has been imported, so this never
    imports it (that import alone takes seconds, and plain tensors never need it).

    >>> is_dtensor(torch.zeros(2))
    False
    """
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(tensor, module.DTensor)


def shard_box(tensor: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(global shape, global offset, local shape) of this rank's part of ``tensor``."""
    if not is_dtensor(tensor):
        shape = tuple(tensor.shape)
        return shape, (0,) * len(shape), shape
    from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

    for placement in tensor.placements:  # type: ignore[attr-defined]
        kind = type(placement).__name__
        if placement.is_partial() or kind == "_StridedShard":
            raise NotImplementedError(
                f"keyed init of a DTensor with placement {placement!r} is not supported: "
                "initialize with Shard/Replicate placements, then redistribute"
            )
    global_shape = tuple(tensor.shape)
    local_shape, offset = compute_local_shape_and_global_offset(
        global_shape,
        tensor.device_mesh,  # type: ignore[attr-defined]
        tensor.placements,  # type: ignore[attr-defined]
    )
    return global_shape, tuple(offset), tuple(local_shape)


def box_runs(
    global_shape: tuple[int, ...],
    offset: tuple[int, ...],
    local_shape: tuple[int, ...],
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, int]:
    """Start indices (row-major, global) and common length of the runs that tile a box.

    >>> starts, length = box_runs((4, 6), (0, 2), (4, 3))
    >>> starts.tolist(), length
    ([2, 8, 14, 20], 3)
    """
    strides = [math.prod(global_shape[d + 1 :]) for d in range(len(global_shape))]
    partial = [d for d in range(len(global_shape)) if local_shape[d] != global_shape[d]]
    last = partial[-1] if partial else 0
    length = math.prod(local_shape[last:])
    starts = torch.full((), offset[last] * strides[last] if partial else 0, dtype=torch.int64)
    for d in range(last):
        coords = torch.arange(offset[d], offset[d] + local_shape[d], dtype=torch.int64)
        starts = starts[..., None] + coords * strides[d]
    return starts.reshape(-1).to(device), length


def local_view(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The part of a full (global) tensor that ``like`` holds on this rank.

    For whole-matrix schemes (orthogonal's QR, sparse's per-column mask): every rank computes
    the same keyed full result and keeps its box — still no communication.

    >>> local_view(torch.arange(6).reshape(2, 3), torch.empty(2, 3)).shape
    torch.Size([2, 3])
    """
    global_shape, offset, local_shape = shard_box(like)
    if tuple(full.shape) != global_shape:
        raise ValueError(f"full has shape {tuple(full.shape)}, expected {global_shape}")
    index = tuple(slice(o, o + n) for o, n in zip(offset, local_shape))
    return full[index]


def copy_from_full_(tensor: torch.Tensor, full: torch.Tensor) -> torch.Tensor:
    """Write this rank's box of ``full`` into ``tensor`` (a DTensor or a plain tensor)."""
    local = tensor.to_local() if is_dtensor(tensor) else tensor  # type: ignore[attr-defined]
    with torch.no_grad():
        local.copy_(local_view(full, tensor))
    return tensor
