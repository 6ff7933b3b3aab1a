"""timm and torchvision for the zoo tests, or a module-level skip that says why.

PyPI's torchvision wheel is built against CUDA PyTorch: beside the CPU build of torch that
``make test`` installs, its compiled part fails to load with a RuntimeError (not an
ImportError), and timm imports torchvision. ``make test-zoo`` runs these tests in their own
venv (torch 2.14.1 + torchvision 0.29.1 + timm), where both import.
"""

from __future__ import annotations

from types import ModuleType

import pytest


def timm_and_torchvision() -> tuple[ModuleType, ModuleType]:
    """Import both libraries or skip the calling test module with the reason."""
    try:
        import timm
        import torchvision
    except Exception as exc:  # RuntimeError from torchvision's _C, or ImportError
        pytest.skip(
            f"timm/torchvision do not import here ({type(exc).__name__}: {exc}); "
            "`make test-zoo` runs these tests in their own venv",
            allow_module_level=True,
        )
    return timm, torchvision
