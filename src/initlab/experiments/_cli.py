"""``initlab demo`` and ``initlab experiment NAME``: run, show progress, summarize, write a report.

Everything that can be checked is checked before any work starts: the output
folder, the seeds, the config (``--set``) and the report's optional dependencies.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from initlab._report import check_output_dir, require_report
from initlab.experiments._base import MAX_SEEDS, ExperimentResult, Progress
from initlab.experiments._demo import DemoConfig, conclusion, run_demo, write_demo
from initlab.experiments._plots import write_results
from initlab.experiments._registry import EXPERIMENTS, get_experiment, make_config, run_experiment

__all__ = ["register"]


def register(subparsers: Any) -> None:
    """Add the ``demo`` and ``experiment`` sub-commands."""
    about = "run the classic initialization experiments at demo size (about a minute on 2 cores) and write a report"  # noqa: E501
    demo = subparsers.add_parser("demo", help=about, description=about[0].upper() + about[1:] + ".")
    _common_args(demo, default_out="initlab-demo")
    demo.set_defaults(func=_run_demo)
    about = "run one experiment at full size and write its report"
    exp = subparsers.add_parser(
        "experiment", help=about, description=about[0].upper() + about[1:] + "."
    )
    exp.add_argument("name", metavar="NAME", help="one of: " + ", ".join(EXPERIMENTS))
    _common_args(exp, default_out=None)
    exp.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=JSON",
        help="override a config field; nested fields with a dot, e.g. --set train.steps=2000 "
        "--set 'inits=[\"he\"]'",
    )
    exp.set_defaults(func=_run_experiment)


def _seeds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a whole number from 1 to {MAX_SEEDS} "
            "(every seed is one more model per setting in memory)"
        )
    return value


def _threads(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return value


def _common_args(parser: argparse.ArgumentParser, default_out: str | None) -> None:
    parser.add_argument(
        "--seeds", type=_seeds, default=None, help=f"number of seeds, 1 to {MAX_SEEDS} (default 3)"
    )
    parser.add_argument("--seed", type=int, default=None, help="first seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument(
        "--out",
        default=default_out,
        help="output folder for index.html and results.json"
        + (f" (default {default_out})" if default_out else " (default initlab-NAME)"),
    )
    parser.add_argument(
        "--threads",
        type=_threads,
        default=1,
        help="torch CPU threads (default 1: the models are tiny, and extra intra-op threads "
        "only add synchronization; the vectorized runs already batch the work)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _overrides(pairs: list[str]) -> dict[str, Any]:
    """``FIELD=JSON`` pairs as a nested dict (``train.steps=5`` → ``{"train": {"steps": 5}}``)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key or "" in key.split("."):
            raise ValueError(f"--set {pair!r} must look like FIELD=VALUE (VALUE in JSON)")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *parents, leaf = key.split(".")
        slot = out
        for name in parents:
            slot = slot.setdefault(name, {})
            if not isinstance(slot, dict):
                raise ValueError(f"--set {pair!r}: {name!r} is also set to a plain value")
        slot[leaf] = value
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


def _prepare(args: argparse.Namespace, out: str, command: str) -> None:
    """Checks that would otherwise fail after the work: output folder, optional packages."""
    check_output_dir("--out", out)
    require_report(f"initlab {command}")
    import torch

    torch.set_num_threads(args.threads)


def _run_demo(args: argparse.Namespace) -> int:
    common = {"seeds": args.seeds, "seed": args.seed, "device": args.device}
    config = DemoConfig.from_dict({k: v for k, v in common.items() if v is not None})
    _prepare(args, args.out, "demo")
    start = time.perf_counter()
    with _progress(args.quiet) as progress:
        results = run_demo(config, progress)
    html_path, json_path = write_demo(results, args.out)
    _print_summary(results, time.perf_counter() - start, html_path, json_path)
    return 0


def _run_experiment(args: argparse.Namespace) -> int:
    exp = get_experiment(args.name)
    changes = {"seeds": args.seeds, "seed": args.seed, "device": args.device}
    config = make_config(exp.name, _overrides(args.set), **changes)
    out = args.out or f"initlab-{exp.name}"
    _prepare(args, out, "experiment")
    start = time.perf_counter()
    with _progress(args.quiet) as progress:
        result = run_experiment(exp.name, config, progress=progress)
    html_path, json_path = write_results([result], out, title=f"initlab experiment {exp.name}")
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
