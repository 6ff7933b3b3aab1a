"""The experiment registry and the shared runner.

Each experiment is one module of :mod:`initlab.experiments.catalog` (config class,
``run``, ``check``, ``render``, source, demo size) that the catalog registers here;
:func:`run_experiment` does the rest for all of them:
builds the validated config, binds the progress callback, times the run,
collects the records and checks them against the source.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from initlab._validation import unknown_name_error
from initlab.experiments._base import (
    ExperimentConfig,
    ExperimentResult,
    Progress,
    Record,
    Source,
    SourceCheck,
    Tick,
    merge,
)

__all__ = [
    "EXPERIMENTS",
    "Experiment",
    "get_experiment",
    "make_config",
    "register_experiment",
    "run_experiment",
]


def _no_checks(result: ExperimentResult, config: Any) -> list[SourceCheck]:
    return []


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One named experiment: what it reproduces and the three functions that do it.

    ``run(config, tick) -> records``; ``check(result, config) -> source checks``;
    ``render(result) -> HTML sections`` (figures and tables, from records only).
    ``demo`` holds the config changes ``initlab demo`` uses (None: not in the demo);
    ``order`` places it in listings and in the demo.
    """

    name: str
    title: str
    config: type[ExperimentConfig]
    run: Callable[[Any, Tick], list[Record]]
    render: Callable[[ExperimentResult], list[str]]
    check: Callable[[ExperimentResult, Any], list[SourceCheck]] = _no_checks
    source: Source | None = None
    demo: Mapping[str, Any] | None = None
    order: int = 100
    doc: str = field(default="", repr=False)

    @classmethod
    def from_module(cls, module: ModuleType) -> Experiment:
        """The experiment a catalog module defines (see :mod:`initlab.experiments.kit`)."""
        configs = [
            obj
            for obj in vars(module).values()
            if isinstance(obj, type)
            and issubclass(obj, ExperimentConfig)
            and obj.__module__ == module.__name__
        ]
        missing = [a for a in _MODULE_ATTRIBUTES if not hasattr(module, a)]
        if missing or len(configs) != 1:
            raise TypeError(
                f"experiment module {module.__name__} must define {', '.join(_MODULE_ATTRIBUTES)} "
                f"and one ExperimentConfig subclass; missing {missing or 'none'}, "
                f"config classes {[c.__name__ for c in configs]}"
            )
        return cls(
            name=module.__name__.rsplit(".", 1)[-1].replace("_", "-"),
            title=module.TITLE,
            config=configs[0],
            run=module.run,
            check=module.check,
            render=module.render,
            source=module.SOURCE,
            demo=module.DEMO,
            order=module.ORDER,
            doc=(module.__doc__ or "").strip(),
        )


_MODULE_ATTRIBUTES = ("TITLE", "SOURCE", "DEMO", "ORDER", "run", "check", "render")
EXPERIMENTS: dict[str, Experiment] = {}


def register_experiment(experiment: Experiment) -> Experiment:
    """Add ``experiment`` under its name (a name can be registered once)."""
    if experiment.name in EXPERIMENTS:
        raise ValueError(f"experiment name={experiment.name!r} is already registered")
    EXPERIMENTS[experiment.name] = experiment
    ordered = sorted(EXPERIMENTS.values(), key=lambda e: (e.order, e.name))
    EXPERIMENTS.clear()
    EXPERIMENTS.update((e.name, e) for e in ordered)
    return experiment


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name``; unknown names list the known ones."""
    if name not in EXPERIMENTS:
        raise unknown_name_error("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def make_config(
    name: str, config: ExperimentConfig | Mapping[str, Any] | None = None, **changes: Any
) -> ExperimentConfig:
    """A validated config for ``name``: its defaults, then ``config``, then ``changes``.

    Nested specs merge key by key: ``make_config("circles", train={"steps": 600})``
    keeps the experiment's learning rate. ``None`` values in ``changes`` are ignored.
    """
    exp = get_experiment(name)
    if isinstance(config, ExperimentConfig) and not isinstance(config, exp.config):
        raise TypeError(
            f"config for experiment={name!r} must be a {exp.config.__name__}, "
            f"got {type(config).__name__}"
        )
    if config is not None and not isinstance(config, (ExperimentConfig, Mapping)):
        raise TypeError(f"config={config!r} must be a {exp.config.__name__} or a mapping")
    data = merge(
        exp.config().to_dict(),
        config.to_dict() if isinstance(config, ExperimentConfig) else config or {},
    )
    data = merge(data, {k: v for k, v in changes.items() if v is not None})
    return exp.config.from_dict(data)


def run_experiment(
    name: str,
    config: ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    **changes: Any,
) -> ExperimentResult:
    """Run experiment ``name`` (see :data:`EXPERIMENTS`) and return its tidy result.

    ``changes`` override config fields, e.g. ``seeds=5``, ``device="cuda"`` or
    ``train={"steps": 200}``.
    """
    exp = get_experiment(name)
    cfg = make_config(name, config, **changes)

    def tick(done: int, total: int) -> None:
        if progress is not None:
            progress(name, done, total)

    start = time.perf_counter()
    result = ExperimentResult(name=name, title=exp.title, config=cfg.to_dict())
    result.records = exp.run(cfg, tick)
    result.findings = [  # a check without its own source cites the experiment's
        c if c.source is not None else dataclasses.replace(c, source=exp.source)
        for c in exp.check(result, cfg)
    ]
    result.seconds = time.perf_counter() - start
    return result
