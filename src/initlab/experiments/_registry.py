"""The experiment registry: name → config class, runner, demo size and one-line summary."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from initlab._validation import unknown_name_error
from initlab.experiments._common import ExperimentConfig, ExperimentResult, Progress

__all__ = ["EXPERIMENTS", "Experiment", "get_experiment", "make_config", "run_experiment"]


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One named experiment. ``demo`` holds the config changes the demo uses."""

    name: str
    title: str
    config_class: type[ExperimentConfig]
    run: Callable[[Any, Progress | None], ExperimentResult]
    demo: Mapping[str, Any] | None = None
    doc: str = field(default="", repr=False)


EXPERIMENTS: dict[str, Experiment] = {}


def _register(
    module: Any,
    config_class: type[ExperimentConfig],
    run: Callable[..., Any],
    demo: Mapping[str, Any] | None,
) -> None:
    EXPERIMENTS[module.NAME] = Experiment(
        name=module.NAME,
        title=module.TITLE,
        config_class=config_class,
        run=run,
        demo=demo,
        doc=(module.__doc__ or "").strip(),
    )


def get_experiment(name: str) -> Experiment:
    """The registered experiment ``name``; unknown names list the known ones."""
    if name not in EXPERIMENTS:
        raise unknown_name_error("experiment", name, EXPERIMENTS)
    return EXPERIMENTS[name]


def make_config(
    name: str, config: ExperimentConfig | Mapping[str, Any] | None = None, **changes: Any
) -> ExperimentConfig:
    """A validated config for ``name`` from defaults, a dict or a config, plus ``changes``."""
    exp = get_experiment(name)
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, ExperimentConfig):
        if not isinstance(config, exp.config_class):
            raise TypeError(
                f"config for experiment={name!r} must be a {exp.config_class.__name__}, got {type(config).__name__}"  # noqa: E501
            )
        base = config.to_dict()
    else:
        base = dict(config)
    base.update({k: v for k, v in changes.items() if v is not None})
    return exp.config_class.from_dict(base)


def run_experiment(
    name: str,
    config: ExperimentConfig | Mapping[str, Any] | None = None,
    *,
    progress: Progress | None = None,
    **changes: Any,
) -> ExperimentResult:
    """Run experiment ``name`` (see :data:`EXPERIMENTS`) and return its tidy result.

    ``changes`` override config fields, e.g. ``seeds=5`` or ``device="cuda"``.
    """
    cfg = make_config(name, config, **changes)
    start = time.perf_counter()
    result = get_experiment(name).run(cfg, progress)
    result.seconds = time.perf_counter() - start
    return result


def _populate() -> None:
    from initlab.experiments import (
        _circles,
        _compare,
        _depth,
        _glorot,
        _he,
        _orthogonal,
        _shared,
        _symmetry,
        _weight_decay,
    )

    _register(_depth, _depth.DepthConfig, _depth.run_depth, {})
    _register(_circles, _circles.CirclesConfig, _circles.run_circles, {})
    _register(_symmetry, _symmetry.SymmetryConfig, _symmetry.run_symmetry, {})
    _register(_glorot, _glorot.GlorotConfig, _glorot.run_glorot, {"width": 128, "train_steps": 400})
    _register(_he, _he.HeConfig, _he.run_he, {"steps": 600})
    _register(_orthogonal, _orthogonal.OrthogonalConfig, _orthogonal.run_orthogonal, {})
    _register(
        _weight_decay,
        _weight_decay.WeightDecayConfig,
        _weight_decay.run_weight_decay,
        {"steps": 1000},
    )
    _register(_shared, _shared.SharedConfig, _shared.run_shared, {})
    _register(_compare, _compare.CompareConfig, _compare.run_compare, {"steps": 300})


_populate()
