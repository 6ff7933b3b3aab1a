"""The experiments, one module each; importing this package registers every one of them.

Adding an experiment means adding a module here that calls
:func:`initlab.experiments.register_experiment` (see ``depth.py`` for the shape:
config dataclass, ``run``, ``check``, ``render``, then the registration).
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")
