"""Keyed fills held back and written as one Triton launch per (dtype, scheme) group.

A model's plan has hundreds of tensors; on CUDA one launch per tensor (and per packed
chunk) costs more than the values. :class:`GroupedFills` hands out samplers that record
each fill (the view, key, stream and :class:`~initlab.rng.Draw`) instead of running it, and
:meth:`GroupedFills.launch` then writes them all in place, one launch per group of
:func:`~initlab.rng._triton_backend.group_signature`. Every value is a pure function of
(key, stream, index), so the grouped launch writes the same bits as the per-tensor route.

Whether a fill may wait is decided here only (:func:`groupable`); what runs in between
must not touch a waiting tensor. :meth:`GroupedFills.write` keeps that promise: a write
that also touched the tensor itself (a padding row zeroed after the draw, a copy) bumps
the tensor's version counter; its recorded draws are then dropped and the write is redone
with a plain :class:`KeyedSampler`, in order (same key, same streams, same bits).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from initlab.rng import _dispatch
from initlab.rng._draws import Draw
from initlab.rng._sampler import KeyedSampler
from initlab.rng._shards import is_dtensor

__all__ = ["GroupLaunchError", "GroupedFills", "groupable"]

#: Output dtypes the grouped kernel writes.
GROUPED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def groupable(tensor: torch.Tensor) -> bool:
    """Whether a keyed fill of ``tensor`` can wait for a grouped launch: a plain contiguous
    fp32/fp16/bf16 tensor whose route (:func:`~initlab.rng.backend_for`) is Triton."""
    return (
        not is_dtensor(tensor)
        and tensor.dtype in GROUPED_DTYPES
        and tensor.is_contiguous()
        and tensor.numel() > 0
        and not tensor.is_inference()  # no version counter to check writes against
        and _dispatch.backend_for(tensor.device, tensor.numel()) == "triton"
    )


@dataclass(frozen=True)
class _Pending:
    owner: str
    tensor: torch.Tensor
    key: tuple[int, int]
    stream: int
    draw: Draw


class GroupLaunchError(RuntimeError):
    """A grouped launch failed: ``written`` owners hold their values; the owners of the
    failed group and of every later group (``unwritten``) were not written, in whole."""

    def __init__(self, message: str, written: list[str], unwritten: list[str]) -> None:
        super().__init__(message)
        self.written = written
        self.unwritten = unwritten


class _DeferringSampler(KeyedSampler):
    """A :class:`KeyedSampler` whose groupable fills wait in a :class:`GroupedFills`."""

    def __init__(self, batch: GroupedFills, seed: int, name: str, owner: str) -> None:
        super().__init__(seed, name)
        self._batch = batch
        self._owner = owner

    def _fill(self, tensor: torch.Tensor, draw: Draw) -> torch.Tensor:
        if not groupable(tensor):
            return super()._fill(tensor, draw)
        self._batch._add(_Pending(self._owner, tensor, self.key, self._next_stream(), draw))
        return tensor

    def standard_normal(
        self, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
    ) -> torch.Tensor:
        # A returned tensor is used at once (orthogonal's QR): drawn now, never held back.
        return super()._fill(torch.empty(shape, dtype=dtype, device=device), Draw.normal(0, 1))


class GroupedFills:
    """Keyed fills recorded for :meth:`launch` (see the module docstring).

    >>> batch = GroupedFills()
    >>> w = torch.zeros(3)  # a CPU tensor is not groupable: its fill runs at once
    >>> _ = batch.sampler(0, "w", owner="w").normal_(w, 0.0, 1.0)
    >>> batch.pending_owners(), bool(w.abs().sum() > 0)
    ([], True)
    """

    def __init__(self) -> None:
        self._pending: list[_Pending] = []

    def _add(self, item: _Pending) -> None:
        self._pending.append(item)

    def sampler(self, seed: int, name: str, *, owner: str) -> KeyedSampler:
        """The sampler for one tensor: what :class:`KeyedSampler` (seed, name) would draw,
        with the groupable fills recorded under ``owner``."""
        return _DeferringSampler(self, seed, name, owner)

    def write(
        self, tensor: torch.Tensor, owner: str, seed: int, write: Callable[[KeyedSampler], object]
    ) -> bool:
        """Run ``write(sampler)`` for ``tensor``; True when some of its fills now wait.

        ``sampler`` draws as ``KeyedSampler(seed, owner)``. A write that touched ``tensor``
        besides recording draws is redone directly (see the module docstring): False.
        """
        mark, version = self.mark(), tensor._version
        write(self.sampler(seed, owner, owner=owner))
        if not self.recorded_since(mark):
            return False
        if tensor._version == version:
            return True
        self.drop_since(mark)
        write(KeyedSampler(seed, owner))
        return False

    def mark(self) -> int:
        """A position to test with :meth:`recorded_since` and :meth:`drop_since`."""
        return len(self._pending)

    def recorded_since(self, mark: int) -> bool:
        return len(self._pending) > mark

    def drop_since(self, mark: int) -> None:
        """Forget the fills recorded after ``mark`` (the caller redoes them directly)."""
        del self._pending[mark:]

    def pending_owners(self) -> list[str]:
        """Owners with fills still waiting, in the order they were recorded."""
        return list(dict.fromkeys(p.owner for p in self._pending))

    def launch(self) -> list[str]:
        """Write every recorded fill, one launch per group; return the owners written.

        On failure raises :class:`GroupLaunchError` naming the owners whose every fill
        was in a group that completed, and the rest.
        """
        from initlab.rng import _triton_backend

        groups: dict[tuple[torch.device, tuple[torch.dtype, int, bool, int]], list[_Pending]]
        groups = {}
        for item in self._pending:
            signature = _triton_backend.group_signature(item.tensor.dtype, item.draw)
            groups.setdefault((item.tensor.device, signature), []).append(item)
        done: list[list[_Pending]] = []
        try:
            for (_, signature), items in groups.items():
                _triton_backend.launch_group(
                    [p.tensor for p in items], [p.key for p in items],
                    [p.draw for p in items], [p.stream for p in items], signature,
                )  # fmt: skip
                done.append(items)
        except Exception as exc:
            launched = {id(p) for items in done for p in items}
            owners = self.pending_owners()
            unwritten = [o for o in owners if any(
                p.owner == o and id(p) not in launched for p in self._pending
            )]  # fmt: skip
            written = [o for o in owners if o not in unwritten]
            raise GroupLaunchError(
                f"grouped launch {len(done) + 1} of {len(groups)} failed "
                f"({len(unwritten)} tensors unwritten): {type(exc).__name__}: {exc}",
                written,
                unwritten,
            ) from exc
        owners = self.pending_owners()
        self._pending.clear()
        return owners
