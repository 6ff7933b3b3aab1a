"""What this installation runs: versions and the keyed-fill route of each device."""

from __future__ import annotations

import importlib.metadata
import os

import torch

from initlab.rng._dispatch import backend_for

__all__ = ["runtime_info"]

_PACKAGES = ("initlab", "torch", "numpy", "numba", "triton")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def runtime_info() -> dict[str, object]:
    """Versions, devices and the route a large keyed fill takes on each device.

    >>> info = runtime_info()
    >>> info["routes"]["cpu"] in ("numba", "torch")
    True
    """
    devices = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    names = {"cpu": "cpu"} | {
        f"cuda:{i}": torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
    }
    return {
        "versions": {name: _version(name) for name in _PACKAGES},
        "cuda_available": torch.cuda.is_available(),
        "torch_threads": torch.get_num_threads(),
        "INITLAB_TRITON": os.environ.get("INITLAB_TRITON"),
        "devices": names,
        "routes": {device: backend_for(device) for device in devices},
        "route_cuda_if_present": backend_for("cuda"),
    }
