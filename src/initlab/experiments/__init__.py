"""The classic initialization experiments, reproduced with seeds, spreads and plots.

Each experiment is one module of :mod:`initlab.experiments.catalog` (config,
``run``, ``check`` against its source, ``render``) registered in
:data:`EXPERIMENTS`; :func:`run_experiment` runs one by name,
:func:`run_demo` runs those with a demo size (``initlab demo``), and
:func:`write_results` renders records into ``index.html`` and ``results.json``.
Every model is initialized by :func:`initlab.rules.init_model`; the seeds and
settings of one experiment train together as one vectorized model (:class:`Stack`).
Reports need the ``report`` extra (matplotlib, scikit-learn).
"""

from initlab.experiments import catalog as catalog  # registers every experiment
from initlab.experiments._base import MAX_SEEDS, Progress, Spec, aggregate, per_seed, resolve_device
from initlab.experiments._data import DATASETS, load_dataset
from initlab.experiments._demo import DemoConfig, conclusion, demo_experiments, run_demo, write_demo
from initlab.experiments._plots import render_result, write_results
from initlab.experiments._registry import (
    EXPERIMENTS,
    Experiment,
    get_experiment,
    make_config,
    register_experiment,
    run_experiment,
)
from initlab.experiments._training import (
    Init,
    Single,
    Stack,
    TrainLog,
    TrainSpec,
    initialized,
    mlp,
    small_cnn,
    train,
    train_runs,
    train_sequential,
)
from initlab.experiments.kit import (
    Dataset,
    DataSpec,
    ExperimentConfig,
    ExperimentResult,
    Record,
    Source,
    SourceCheck,
)

__all__ = [
    "DATASETS",
    "EXPERIMENTS",
    "MAX_SEEDS",
    "DataSpec",
    "Dataset",
    "DemoConfig",
    "Experiment",
    "ExperimentConfig",
    "ExperimentResult",
    "Init",
    "Progress",
    "Record",
    "Single",
    "Source",
    "SourceCheck",
    "Spec",
    "Stack",
    "TrainLog",
    "TrainSpec",
    "aggregate",
    "conclusion",
    "demo_experiments",
    "get_experiment",
    "initialized",
    "load_dataset",
    "make_config",
    "mlp",
    "per_seed",
    "register_experiment",
    "render_result",
    "resolve_device",
    "run_demo",
    "run_experiment",
    "small_cnn",
    "train",
    "train_runs",
    "train_sequential",
    "write_demo",
    "write_results",
]
