"""Sharded keyed init on torch.distributed (gloo, CPU): shards equal the unsharded init."""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from torch.utils._python_dispatch import TorchDispatchMode

pytestmark = pytest.mark.skipif(not dist.is_available(), reason="torch.distributed unavailable")

SEED = 2026
SHAPES = [(10, 7), (8, 12), (5, 3, 4)]  # uneven splits over 2 and 4 ranks included


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fill_all(sampler, tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every fill of the sampler on ``tensor``, gathered after each (sub-streams advance)."""
    out = []
    for method, args in (
        ("uniform_", (-0.5, 0.5)),
        ("normal_", (0.0, 0.02)),
        ("trunc_normal_", (0.0, 0.02, -0.04, 0.04)),
    ):
        getattr(sampler, method)(tensor, *args)
        full = tensor.full_tensor() if hasattr(tensor, "full_tensor") else tensor
        out.append(full.clone())
    return out


def _meshes(world: int):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate, Shard

    mesh = init_device_mesh("cpu", (world,))
    cases = [(mesh, [Shard(0)]), (mesh, [Shard(1)]), (mesh, [Replicate()])]
    if world == 4:
        mesh2d = init_device_mesh("cpu", (2, 2))
        cases += [(mesh2d, [Shard(0), Shard(1)]), (mesh2d, [Shard(1), Shard(1)])]
    return cases


class _CollectiveCounter(TorchDispatchMode):
    """Counts collective ops dispatched while active (cheaper to import than CommDebugMode)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += "c10d" in func.namespace
        return func(*args, **(kwargs or {}))


def _worker(rank: int, world: int, port: int, result_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        _check_all(world)
    finally:
        dist.destroy_process_group()
    Path(result_dir, f"ok{rank}").touch()


def _check_all(world: int) -> None:
    from torch.distributed.tensor import empty as dtensor_empty

    from initlab.rng import KeyedSampler
    from initlab.rng._shards import copy_from_full_

    torch.set_num_threads(1)  # ranks share 2 cores here: no oversubscription
    cases = _meshes(world)
    for shape in SHAPES:
        reference = _fill_all(KeyedSampler(SEED, "layer.weight"), torch.empty(shape))
        for mesh, placements in cases:
            dt = dtensor_empty(shape, device_mesh=mesh, placements=placements)
            sampler = KeyedSampler(SEED, "layer.weight")
            with _CollectiveCounter() as comm:
                sampler.normal_(dt, 0.0, 1.0)
            assert comm.count == 0, "keyed init must not communicate"
            with _CollectiveCounter() as control:
                dt.full_tensor()
            gathers = world > 1 and not all(p.is_replicate() for p in placements)
            assert control.count > 0 or not gathers  # positive control: collectives are seen
            got = _fill_all(KeyedSampler(SEED, "layer.weight"), dt)
            for want, have in zip(reference, got):
                assert torch.equal(want, have), (shape, placements)
            # Whole-tensor schemes: every rank computes the same full result, keeps its box.
            copy_from_full_(dt, reference[0])
            assert torch.equal(dt.full_tensor(), reference[0])
            _check_whole_matrix_schemes(shape, dt)
    _check_init_model(cases)


def _check_init_model(cases) -> None:
    """init_model(rng="keyed") on a model whose parameters are DTensors equals the unsharded
    init; other generators are refused with a message that says to use rng="keyed"."""
    from torch import nn
    from torch.distributed.tensor import distribute_tensor

    import initlab

    def build() -> nn.Module:
        return nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 4), nn.LayerNorm(4))

    reference = build()
    initlab.init_model(reference, "auto", seed=SEED, rng="keyed")
    for mesh, placements in cases:
        if len(placements) != 1 or (placements[0].is_shard() and placements[0].dim != 0):
            continue  # 1-D parameters (biases, norms) only shard along dim 0
        model = build()
        for module in model:
            for name, param in list(module.named_parameters(recurse=False)):
                sharded = distribute_tensor(param.detach(), mesh, placements)
                setattr(module, name, nn.Parameter(sharded))
        initlab.init_model(model, "auto", seed=SEED, rng="keyed")
        for (name, want), (_, have) in zip(reference.named_parameters(), model.named_parameters()):
            assert torch.equal(want, have.full_tensor()), (name, placements)
        try:
            initlab.init_model(model, "auto", seed=SEED)
        except ValueError as exc:
            assert "rng='keyed'" in str(exc)
        else:
            raise AssertionError("a torch.Generator on DTensor parameters must be refused")


def _check_whole_matrix_schemes(shape: tuple[int, ...], dt: torch.Tensor) -> None:
    """orthogonal_, sparse_ (and delta_orthogonal_ for kernels) on a DTensor, keyed."""
    import initlab
    from initlab.rng import KeyedSampler

    schemes = [
        lambda t, g: initlab.orthogonal_(t, 1.5, generator=g),
        lambda t, g: initlab.sparse_(t, 0.3, 0.02, generator=g),
    ]
    if len(shape) != 2:
        schemes = [schemes[0]]
    for fill in schemes:
        want = fill(torch.empty(shape), KeyedSampler(SEED, "w"))
        fill(dt, KeyedSampler(SEED, "w"))
        assert torch.equal(dt.full_tensor(), want), (shape, fill)


def _run(world: int) -> None:
    import torch.distributed.tensor  # noqa: F401  (imported once here, inherited by the ranks)
    import torch.multiprocessing as mp

    # fork, not spawn: spawned ranks re-import torch.distributed.tensor (~3 s each on 2 cores).
    # Safe here: CPU only, and ranks run torch single-threaded (no OpenMP pool after fork).
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with tempfile.TemporaryDirectory() as result_dir:
        args = (world, _free_port(), result_dir)
        mp.start_processes(_worker, args=args, nprocs=world, join=True, start_method=method)
        assert sorted(os.listdir(result_dir)) == [f"ok{r}" for r in range(world)]


@pytest.mark.slow
@pytest.mark.parametrize("world", [1, 2, 4])
def test_sharded_init_is_bit_identical_to_unsharded(world):
    _run(world)


def test_plain_tensor_box_is_whole():
    from initlab.rng._shards import shard_box

    assert shard_box(torch.empty(3, 4)) == ((3, 4), (0, 0), (3, 4))
