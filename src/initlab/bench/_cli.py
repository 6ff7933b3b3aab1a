"""``python -m initlab.bench``: parse the flags, run the benchmarks, print the table.

All printing lives here; :mod:`initlab.bench` itself only returns records and strings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import torch

import initlab.bench as bench
from initlab.bench import SECTIONS, BenchConfig, ModelCase, render, run

__all__ = ["main"]

# About 1.04 B parameters (4.2 GB in fp32): the size at which init memory matters.
BIG_MODEL = ModelCase(kind="llama", dim=2048, layers=20)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m initlab.bench", description=bench.__doc__)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--json", action="store_true", help="print records as JSON")
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min on 2 cores)")
    parser.add_argument("--sizes", type=int, nargs="+", help="log2 element counts, e.g. 24 26")
    parser.add_argument(
        "--model",
        nargs=3,
        action="append",
        metavar=("KIND", "DIM", "LAYERS"),
        help="whole-model case (repeatable), KIND llama or mlp, e.g. llama 2048 18",
    )
    parser.add_argument(
        "--big", action="store_true", help=f"whole model only, {BIG_MODEL.kind} d=2048 L=20 (1 B)"
    )
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, help="measure only these")
    parser.add_argument(
        "--gpu-check",
        action="store_true",
        help="CUDA: CPU == GPU bit for bit, then the GPU ratio table (a few minutes)",
    )
    return parser.parse_args(argv)


def _models(specs: list[list[str]]) -> tuple[ModelCase, ...]:
    cases = []
    for kind, dim, layers in specs:
        if not (dim.isdigit() and layers.isdigit()):
            raise SystemExit(f"--model {kind} {dim} {layers}: DIM and LAYERS must be integers")
        cases.append(ModelCase(kind=kind, dim=int(dim), layers=int(layers)))
    return tuple(cases)


def _config(args: argparse.Namespace) -> BenchConfig:
    cfg = BenchConfig.quick(args.device) if args.quick else BenchConfig.full(args.device)
    changes: dict[str, Any] = {}
    if args.sizes:
        changes["sizes"] = tuple(1 << s for s in args.sizes)
    try:
        if args.model:
            changes["models"] = _models(args.model)
        if args.big:
            changes["models"], changes["sections"] = (BIG_MODEL,), ("whole model",)
            changes["model_repeats"] = 1
        if args.sections:
            changes["sections"] = tuple(args.sections)
        return dataclasses.replace(cfg, **changes)
    except ValueError as exc:
        raise SystemExit(f"python -m initlab.bench: {exc}") from exc


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.gpu_check:
        return _gpu_check(args.json)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is available")
    records = run(_config(args))
    if args.json:
        print(json.dumps([r.as_dict() for r in records], indent=1))
    else:
        print(render(records))
    return 0


def _gpu_check(as_json: bool) -> int:
    from initlab.bench import _gpu_check as gpu

    message = gpu.no_cuda_message()
    if message:
        print(message)
        return 0
    print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}")
    checks = gpu.bit_checks()
    for check in checks:
        print(f"{'PASS' if check.ok else 'FAIL'}  {check.name}  {check.detail}".rstrip())
    failed = sum(not c.ok for c in checks)
    print(f"{len(checks) - failed} of {len(checks)} CPU == GPU checks passed")
    records = gpu.gpu_records()
    print(json.dumps([r.as_dict() for r in records], indent=1) if as_json else render(records))
    return 1 if failed else 0
