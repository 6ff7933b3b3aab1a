"""``initlab demo`` and ``initlab experiment NAME``: run, show progress, summarize, write a report."""  # noqa: E501

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from initlab.experiments._common import ExperimentResult, Progress
from initlab.experiments._demo import DemoConfig, conclusion, run_demo, write_demo
from initlab.experiments._registry import EXPERIMENTS, get_experiment, run_experiment
from initlab.experiments._report import write_results

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` and ``experiment`` sub-commands."""
    demo = subparsers.add_parser(
        "demo", help="run the classic initialization experiments (a few minutes) and write a report"
    )
    _common_args(demo, default_out="initlab-demo")
    demo.set_defaults(func=_run_demo)
    exp = subparsers.add_parser("experiment", help="run one experiment at full size")
    exp.add_argument("name", metavar="NAME", help="one of: " + ", ".join(EXPERIMENTS))
    _common_args(exp, default_out=None)
    exp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a config field, e.g. --set iterations=2000 --set 'inits=[\"he\"]'",
    )
    exp.set_defaults(func=_run_experiment)


def _common_args(parser: argparse.ArgumentParser, default_out: str | None) -> None:
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (default 3)")
    parser.add_argument("--seed", type=int, default=None, help="first seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument(
        "--out", default=default_out, help="output folder (index.html, results.json)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the models are tiny, and extra intra-op threads "
        "only add synchronization; the vectorized runs already batch the work)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    import json

    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"--set {pair!r} must look like FIELD=VALUE (VALUE in JSON)")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@contextmanager
def _progress(quiet: bool) -> Iterator[Progress | None]:
    if quiet:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bar

    bar = Bar(
        TextColumn("{task.description:<14}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    tasks: dict[str, Any] = {}

    def update(name: str, done: int, total: int) -> None:
        if name not in tasks:
            tasks[name] = bar.add_task(name, total=total)
        bar.update(tasks[name], completed=done, total=total)

    with bar:
        yield update


def _setup(args: argparse.Namespace) -> None:
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ValueError(f"--threads={args.threads} must be >= 1")
        torch.set_num_threads(args.threads)


def _run_demo(args: argparse.Namespace) -> int:
    _setup(args)
    config = DemoConfig.from_dict(
        {
            k: v
            for k, v in {"seeds": args.seeds, "seed": args.seed, "device": args.device}.items()
            if v is not None
        }
    )
    start = time.perf_counter()
    with _progress(args.quiet) as progress:
        results = run_demo(config, progress)
    html_path, json_path = write_demo(results, args.out)
    _print_summary(results, time.perf_counter() - start, html_path, json_path)
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    _setup(args)
    exp = get_experiment(args.name)
    changes = {"seeds": args.seeds, "seed": args.seed, "device": args.device}
    start = time.perf_counter()
    with _progress(args.quiet) as progress:
        result = run_experiment(exp.name, _overrides(args.set), progress=progress, **changes)
    out = args.out or f"initlab-{exp.name}"
    html_path, json_path = write_results(
        [result], out, title=f"initlab experiment {exp.name}", docs={exp.name: exp.doc}
    )
    _print_summary([result], time.perf_counter() - start, html_path, json_path)
    return 0


def _print_summary(results: list[ExperimentResult], seconds: float, *paths: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"initlab: {len(results)} experiment(s) in {seconds:.0f} s")
    table.add_column("experiment")
    table.add_column("seeds", justify="right")
    table.add_column("time", justify="right")
    table.add_column("conclusion")
    for r in results:
        table.add_row(r.name, str(r.config.get("seeds")), f"{r.seconds:.0f} s", conclusion(r))
    console = Console()
    console.print(table)
    for path in paths:
        console.print(f"wrote {path}")
