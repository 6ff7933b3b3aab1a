"""Steps 2 and 3 of :func:`initlab.init_model`: draw and write, in place, tensor by tensor.

Only a plan without errors reaches this step, so nothing that can be known in advance
fails here. The model is materialized (meta) or moved first, then every storage is
filled where it lives: peak memory is the model plus at most one temporary tensor (a
non-contiguous parameter is drawn contiguously and copied, so its values do not depend
on its strides). A failure midway (out of memory, an interrupt) raises
:class:`PartialWriteError` naming what was written.

With ``rng="keyed"``, the fills of tensors on the Triton route (CUDA) wait in one
:class:`~initlab.rng._grouped.GroupedFills` and are written at the end as one launch per
(dtype, scheme): the same bits as tensor-by-tensor fills, still in place. Which fills wait
is decided there (``groupable``), not here. A grouped launch writes its whole group or,
when it fails, none of it: the error then names the group's tensors as unwritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import torch
from torch import nn

from initlab.rng import GeneratorLike, KeyedSampler, seeded_generator
from initlab.rng._grouped import GroupedFills, GroupLaunchError, groupable
from initlab.rng._shards import is_dtensor
from initlab.rules._fills import KeepFill
from initlab.rules._meta import has_meta, materialize
from initlab.rules._resolve import Action
from initlab.rules._torchdefault import torch_default

__all__ = ["PartialWriteError", "target_device", "write_plan"]


class PartialWriteError(RuntimeError):
    """Writing stopped midway; ``written`` lists the tensors that hold their new values."""

    def __init__(self, message: str, written: list[str]) -> None:
        super().__init__(message)
        self.written = written


def target_device(model: nn.Module, device: torch.device | str | None) -> torch.device | None:
    """Where the model is written: ``device``, or None (in place); meta needs a device."""
    if device is not None:
        return torch.device(device)
    if has_meta(model):
        raise ValueError(
            "the model has tensors on the meta device: pass device= (e.g. 'cpu' or 'cuda') "
            "to materialize it"
        )
    return None


def _generator(
    action: Action, rng: str, shared: torch.Generator | None, seed: int, device: torch.device
) -> GeneratorLike:
    if shared is not None:
        return shared
    if rng == "keyed":
        return KeyedSampler(seed, action.site.name)
    return seeded_generator(seed, action.site.name, device=device)


def _post_order(module: nn.Module, seen: set[int]) -> Iterator[nn.Module]:
    for child in module.children():
        if id(child) not in seen:
            seen.add(id(child))
            yield from _post_order(child, seen)
    yield module


def _parity_order(model: nn.Module, actions: list[Action]) -> list[tuple[Action, bool]]:
    """Construction order: children before their parent, own parameters in registration
    order; a slot re-pointed to an earlier parameter (a tie made after construction)
    replays the discarded draw PyTorch made for it."""
    by_id = {id(a.site.tensor): a for a in actions}
    order: list[tuple[Action, bool]] = []
    done: set[int] = set()
    for module in _post_order(model, {id(model)}):
        for tensor in module._parameters.values():
            if tensor is None or id(tensor) not in by_id:
                continue
            order.append((by_id[id(tensor)], id(tensor) in done))
            done.add(id(tensor))
    order.extend((a, False) for a in actions if id(a.site.tensor) not in done)
    return order


def _discarded_draw(action: Action, generator: torch.Generator) -> None:
    """Replay what PyTorch drew for a tied slot before the tie replaced it."""
    for name, _, module in action.site.aliases:
        default = torch_default(module, name.rpartition(".")[2], None)
        if default is not None and default.initializer.random:
            scratch = torch.empty(action.entry.shape, dtype=action.site.tensor.dtype)
            default.initializer.fill_(scratch, generator)
            return


def _check_sharded(actions: list[Action], rng: str) -> None:
    """DTensor parameters: each rank fills only its own shard, from global element indices.

    Only keyed randomness is shard-invariant, so other generators are refused; chunked,
    padded and recurrent special cases need the whole tensor and are refused too.
    Checked before anything is written.
    """
    for action in actions:
        if is_dtensor(action.site.tensor):
            _check_one_sharded(action, rng)


def _check_one_sharded(action: Action, rng: str) -> None:
    name, fill = action.site.name, action.fill
    if fill.whole_tensor_only:
        raise ValueError(
            f"{name}: packed chunks, padding_idx and forget-gate biases are not supported on "
            "DTensor (sharded) parameters; initialize before sharding, or use a plain rule"
        )
    if fill.random and rng != "keyed":
        raise ValueError(
            f"{name} is a DTensor (sharded) parameter: pass rng='keyed' so every rank draws "
            "its own shard of the same global values"
        )


def _lookup(model: nn.Module, name: str) -> torch.Tensor:
    owner, _, local = name.rpartition(".")
    tensor = getattr(model.get_submodule(owner), local)
    assert isinstance(tensor, torch.Tensor)  # every plan row names a tensor of the model
    return tensor


def _write_one(
    action: Action, tensor: torch.Tensor, generator: GeneratorLike, *, parity: bool
) -> None:
    if is_dtensor(tensor) or tensor.is_contiguous():
        action.fill.write_(tensor, generator, parity=parity)
    else:  # draw in a contiguous layout so the values do not depend on the strides
        scratch = torch.empty(tuple(tensor.shape), dtype=tensor.dtype, device=tensor.device)
        if action.fill.write_(scratch, generator, parity=parity):
            tensor.copy_(scratch)


def _place(model: nn.Module, device: torch.device | None, written: set[str], seed: int) -> None:
    if has_meta(model):
        materialize(model, device or "cpu", written=written, seed=seed)
    elif device is not None:
        model.to(device)


def write_plan(
    model: nn.Module,
    actions: list[Action],
    *,
    seed: int,
    rng: str = "torch",
    generator: torch.Generator | None = None,
    device: torch.device | None = None,
) -> None:
    """Materialize or move ``model``, then fill every action's storage in place.

    ``generator``: one shared generator in module construction order (PyTorch parity)."""
    _check_sharded(actions, "torch" if generator is not None else rng)
    _place(model, device, {a.site.name for a in actions if not isinstance(a.fill, KeepFill)}, seed)
    parity = generator is not None
    steps = _parity_order(model, actions) if parity else [(a, False) for a in actions]
    batch = GroupedFills() if rng == "keyed" and not parity else None
    written: list[str] = []
    try:
        with torch.no_grad():
            for action, replay in steps:
                if replay:
                    assert generator is not None  # replays exist only in parity mode
                    _discarded_draw(action, generator)
                    continue
                tensor = _lookup(model, action.site.name)
                if batch is not None and groupable(tensor):
                    write = partial(_write_one, action, tensor, parity=parity)
                    if batch.write(tensor, action.site.name, seed, write):
                        continue  # written by the grouped launch below
                else:
                    draw = _generator(action, rng, generator, seed, tensor.device)
                    _write_one(action, tensor, draw, parity=parity)
                written.append(action.site.name)
            if batch is not None:
                written.extend(batch.launch())
    except Exception as exc:
        if isinstance(exc, GroupLaunchError):
            written.extend(exc.written)
        if not written:
            raise
        raise _partial(written, len(steps), batch, exc) from exc


def _partial(
    written: list[str], total: int, batch: GroupedFills | None, exc: Exception
) -> PartialWriteError:
    done = ", ".join(written[:8]) + (f" and {len(written) - 8} more" if len(written) > 8 else "")
    waiting = batch.pending_owners() if batch is not None else []
    unwritten = [name for name in waiting if name not in written]
    grouped = (
        f"; {len(unwritten)} tensors waiting for a grouped launch were not written"
        if unwritten
        else ""
    )
    return PartialWriteError(
        f"init_model stopped after writing {len(written)} of {total} tensors "
        f"({done or 'none'}){grouped}: {type(exc).__name__}: {exc}",
        written,
    )
