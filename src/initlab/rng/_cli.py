"""``initlab info``: versions and which keyed-randomness route runs on each device."""

from __future__ import annotations

import argparse
import json
from typing import Any

from initlab.rng._info import runtime_info

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``info`` sub-command."""
    info = subparsers.add_parser(
        "info", help="versions, devices and the keyed-randomness route per device"
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    info = runtime_info()
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    versions: dict[str, str | None] = info["versions"]  # type: ignore[assignment]
    for name, version in versions.items():
        print(f"{name:<8} {version or 'not installed'}")
    print(f"torch threads: {info['torch_threads']}")
    devices: dict[str, str] = info["devices"]  # type: ignore[assignment]
    routes: dict[str, str] = info["routes"]  # type: ignore[assignment]
    print("keyed fill route per device (large tensors):")
    for device, route in routes.items():
        print(f"  {device:<8} {route:<11} {devices[device]}")
    if not info["cuda_available"]:
        print(f"  cuda     {info['route_cuda_if_present']:<11} (no CUDA device here)")
    return 0
