"""The classic initialization experiments, reproduced with seeds, spreads and plots.

Each experiment is a named, configurable function returning tidy records
(:class:`ExperimentResult`); :func:`run_experiment` runs one by name,
:func:`run_demo` runs the curated set behind ``initlab demo``, and
:func:`write_results` renders records into ``index.html`` and ``results.json``.
Seeds and settings of one experiment train together as one vectorized model
(:class:`Stack`).
"""

from initlab.experiments._common import (
    ExperimentConfig,
    ExperimentResult,
    Finding,
    Progress,
    Record,
    aggregate,
    per_seed,
    resolve_device,
)
from initlab.experiments._data import DATASETS, Dataset, load_dataset
from initlab.experiments._demo import DEMO_EXPERIMENTS, DemoConfig, conclusion, run_demo, write_demo
from initlab.experiments._registry import (
    EXPERIMENTS,
    Experiment,
    get_experiment,
    make_config,
    run_experiment,
)
from initlab.experiments._report import render_result, write_results
from initlab.experiments._vectorized import (
    Single,
    Stack,
    TrainLog,
    TrainSpec,
    init_model,
    mlp,
    small_cnn,
    train,
    train_sequential,
)

__all__ = [
    "DATASETS",
    "DEMO_EXPERIMENTS",
    "EXPERIMENTS",
    "Dataset",
    "DemoConfig",
    "Experiment",
    "ExperimentConfig",
    "ExperimentResult",
    "Finding",
    "Progress",
    "Record",
    "Single",
    "Stack",
    "TrainLog",
    "TrainSpec",
    "aggregate",
    "conclusion",
    "get_experiment",
    "init_model",
    "load_dataset",
    "make_config",
    "mlp",
    "per_seed",
    "render_result",
    "resolve_device",
    "run_demo",
    "run_experiment",
    "small_cnn",
    "train",
    "train_sequential",
    "write_demo",
    "write_results",
]
