"""Everything an experiment module uses, in one namespace: ``from initlab.experiments import kit``.

An experiment is one module of :mod:`initlab.experiments.catalog` that defines
``NAME``, ``TITLE``, ``SOURCE`` (a :class:`Source` or None), ``DEMO`` (the config
changes ``initlab demo`` uses, or None), ``ORDER``, one :class:`ExperimentConfig`
subclass and three functions: ``run(config, tick) -> records``,
``check(result, config) -> source checks`` and ``render(result) -> HTML sections``.
The catalog registers every such module (:meth:`Experiment.from_module`).
"""

from initlab.experiments._base import (
    ExperimentConfig,
    ExperimentResult,
    Record,
    Source,
    SourceCheck,
    Tick,
    check_fields,
    check_names,
    finite_or_none,
    fmt_range,
    scalar_values,
)
from initlab.experiments._data import Dataset, DataSpec
from initlab.experiments._plots import COLORS, aggregate_table, band, figure_to_html, pyplot
from initlab.experiments._sources import SOURCES
from initlab.experiments._training import (
    Init,
    Stack,
    TrainSpec,
    initialized,
    mlp,
    small_cnn,
    train_runs,
)

__all__ = [
    "COLORS",
    "SOURCES",
    "DataSpec",
    "Dataset",
    "ExperimentConfig",
    "ExperimentResult",
    "Init",
    "Record",
    "Source",
    "SourceCheck",
    "Stack",
    "Tick",
    "TrainSpec",
    "aggregate_table",
    "band",
    "check_fields",
    "check_names",
    "figure_to_html",
    "finite_or_none",
    "fmt_range",
    "initialized",
    "mlp",
    "pyplot",
    "scalar_values",
    "small_cnn",
    "train_runs",
]
