"""The experiments, one module each; importing this package registers every one of them.

Adding an experiment means adding a module here: see :mod:`initlab.experiments.kit`
for what it defines (``depth.py`` is a short example).
"""

from __future__ import annotations

import importlib
import pkgutil

from initlab.experiments._registry import Experiment, register_experiment

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    register_experiment(Experiment.from_module(importlib.import_module(f"{__name__}.{_info.name}")))
