"""The oldest PyTorch initlab runs on, checked when ``import initlab`` runs.

``TORCH_FLOOR`` is the single source of the floor: ``pyproject.toml`` declares the
same (``tests/contracts/test_versions.py`` checks that they agree) and ``make test-versions``
runs the suite on it. Why 2.12, not lower:

- ``torch.distributed.tensor.DTensor`` is public only from 2.5; the keyed and
  sharded fills import it.
- Up to 2.11, CPU ``normal_`` on bfloat16/float16 tensors computes in 16-bit
  (pytorch/pytorch#166853: about 0.6 % exact zeros, nothing beyond ±3.3σ, std
  0.993). initlab matches ``torch.nn.init`` bit for bit, so on those versions its
  normal fills would inherit that distribution, and ``sparse_`` would leave more
  zeros per column than it promises. Drawing in float32 there instead would break
  the bit-for-bit parity with ``nn.init`` that the library promises, on exactly the
  versions where it is hardest to test; a true floor keeps one meaning of parity.
"""

from __future__ import annotations

import re

__all__ = ["TORCH_FLOOR", "check_torch", "parse_version"]

#: The oldest supported torch release, as (major, minor).
TORCH_FLOOR = (2, 12)


def parse_version(text: str) -> tuple[int, int]:
    """``(major, minor)`` of a torch version string such as ``2.13.0+cpu`` or ``2.15.0a0+git1``."""
    match = re.match(r"\s*(\d+)\.(\d+)", str(text))
    if match is None:
        raise ValueError(f"torch version {text!r} does not start with MAJOR.MINOR")
    return int(match.group(1)), int(match.group(2))


def check_torch(version: str | None = None) -> None:
    """Raise ``ImportError`` when ``version`` (default: the installed torch) is below the floor.

    A pre-release of the floor itself (``2.12.0a0``, ``2.12.0.dev…``) is accepted.
    """
    if version is None:
        import torch

        version = torch.__version__
    if parse_version(version) < TORCH_FLOOR:
        floor = ".".join(map(str, TORCH_FLOOR))
        raise ImportError(
            f"initlab needs torch>={floor}, but torch {version} is installed "
            f"(pip install 'torch>={floor}'); see the module docstring of "
            "initlab._versions for why older releases are not supported"
        )


check_torch()
