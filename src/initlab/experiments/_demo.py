"""``initlab demo``: every experiment that has a demo size, in order, sized for ~1 minute on 2 cores."""  # noqa: E501

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from initlab.experiments._base import ExperimentConfig, ExperimentResult, Progress, check_names
from initlab.experiments._plots import write_results
from initlab.experiments._registry import EXPERIMENTS, get_experiment, run_experiment

__all__ = ["DemoConfig", "conclusion", "demo_experiments", "run_demo", "write_demo"]

DEMO_TITLE = "initlab demo: the classic initialization experiments, reproduced"
DEMO_INTRO = (
    "Each experiment below reruns a claim from the initialization literature with several "
    "seeds and shows the spread (bands: min–max over seeds). Where the source states a number, "
    "it is shown beside ours with the source named; 'differs' means our runs disagree with it. "
    "Run any experiment at full size with `initlab experiment NAME`."
)


def demo_experiments() -> tuple[str, ...]:
    """The registered experiments that have a demo size, in their order."""
    return tuple(name for name, exp in EXPERIMENTS.items() if exp.demo is not None)


@dataclass(kw_only=True)
class DemoConfig(ExperimentConfig):
    """Which experiments run (each at its demo size), with how many seeds, on which device."""

    experiments: tuple[str, ...] = field(default_factory=demo_experiments)

    def validate(self) -> None:
        check_names("experiments", self.experiments, EXPERIMENTS)


def run_demo(
    config: DemoConfig | None = None, progress: Progress | None = None
) -> list[ExperimentResult]:
    """Run the demo's experiments in order, each at its registered demo size."""
    config = config or DemoConfig()
    common = {"seeds": config.seeds, "seed": config.seed, "device": config.device}
    return [
        run_experiment(name, dict(get_experiment(name).demo or {}), progress=progress, **common)
        for name in config.experiments
    ]


def conclusion(result: ExperimentResult) -> str:
    """One line: how many checks agree with their sources, and the first that differs."""
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
    return write_results(results, out_dir, title=DEMO_TITLE, intro=DEMO_INTRO)
