"""``initlab demo``: a curated set of experiments sized for a few minutes on a 2-core CPU."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from initlab.experiments._common import ExperimentConfig, ExperimentResult, Progress, check_names
from initlab.experiments._registry import EXPERIMENTS, get_experiment, run_experiment
from initlab.experiments._report import write_results

__all__ = ["DEMO_EXPERIMENTS", "DemoConfig", "conclusion", "run_demo", "write_demo"]

DEMO_EXPERIMENTS = (
    "depth",
    "circles",
    "symmetry",
    "glorot",
    "he",
    "orthogonal",
    "weight-decay",
    "shared",
)
DEMO_TITLE = "initlab demo: the classic initialization experiments, reproduced"
DEMO_INTRO = (
    "Each experiment below reruns a claim from the initialization literature with several "
    "seeds and shows the spread (bands: min–max over seeds). Where the source states a number, "
    "it is shown beside ours with the source named; 'differs' means our runs disagree with it. "
    "Run any experiment at full size with `initlab experiment NAME`."
)


@dataclass(kw_only=True)
class DemoConfig(ExperimentConfig):
    """Which experiments run (each at its demo size), with how many seeds, on which device."""

    experiments: tuple[str, ...] = DEMO_EXPERIMENTS

    def validate(self) -> None:
        check_names("experiments", self.experiments, EXPERIMENTS)


def run_demo(
    config: DemoConfig | None = None, progress: Progress | None = None
) -> list[ExperimentResult]:
    """Run the curated experiments in order; each at its registered demo size."""
    config = config or DemoConfig()
    results = []
    for name in config.experiments:
        demo: Mapping[str, Any] = get_experiment(name).demo or {}
        results.append(
            run_experiment(
                name,
                dict(demo),
                progress=progress,
                seeds=config.seeds,
                seed=config.seed,
                device=config.device,
            )
        )
    return results


def conclusion(result: ExperimentResult) -> str:
    """One line: how many findings agree with their sources, and the first that differs."""
    agree = [f for f in result.findings if f.agrees is True]
    differ = [f for f in result.findings if f.agrees is False]
    line = f"{len(agree)}/{len(result.findings)} findings agree"
    if differ:
        line += f"; differs: {differ[0].claim} — ours {differ[0].ours}"
    elif result.findings:
        line += f"; e.g. {result.findings[0].claim}: {result.findings[0].ours}"
    return line


def write_demo(results: list[ExperimentResult], out_dir: str | Path) -> tuple[Path, Path]:
    """``out_dir/index.html`` and ``out_dir/results.json`` for the demo's results."""
    docs = {r.name: get_experiment(r.name).doc for r in results}
    return write_results(results, out_dir, title=DEMO_TITLE, intro=DEMO_INTRO, docs=docs)
