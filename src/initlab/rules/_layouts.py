"""The weight layout each PyTorch module stores, worked out once for the whole engine.

A fan-based scheme (Glorot, He, LeCun, variance scaling, truncated variants) needs to
know which axes of a weight are inputs and outputs. ``"torch"`` — ``(out, in, *k)`` —
is right for ``nn.Linear`` and plain convolutions, and wrong for these modules:

- ``nn.ConvTranspose*d`` stores ``(in, out/groups, *k)``: ``"torch_transposed"``, with
  the module's groups (PyTorch's own ``_calculate_fan_in_and_fan_out`` reads the axes as
  if it were a plain conv, so its fans swap in and out).
- Grouped convolutions ``(out, in/groups, *k)``: each input channel feeds only
  ``out/groups`` outputs, so fan_out is divided by ``groups``.
- ``nn.MultiheadAttention.in_proj_weight`` packs Q, K and V: three ``(E, E)`` maps.
- Recurrent weights pack one matrix per gate (LSTM 4, GRU 3, plain RNN 1).

When a rule names no layout, the engine gives a fan-based scheme the layout returned
here; ``torch_default`` keeps PyTorch's own fan rule (its values must match PyTorch's).
"""

from __future__ import annotations

import torch
from torch import nn

from initlab._fans import Layout, get_layout

__all__ = ["module_layout"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_CELL_GATES: tuple[tuple[type[nn.Module], int], ...] = (
    (nn.LSTMCell, 4),
    (nn.GRUCell, 3),
    (nn.RNNCell, 1),
)


def _gates(module: nn.Module) -> int:
    if isinstance(module, nn.RNNBase):
        return _GATES.get(module.mode, 1)
    return next((n for cls, n in _CELL_GATES if isinstance(module, cls)), 1)


def module_layout(module: nn.Module, local_name: str, tensor: torch.Tensor) -> Layout | None:
    """The layout of ``module.<local_name>`` when it differs from ``"torch"``, else None.

    >>> module_layout(nn.ConvTranspose2d(64, 8, 4), "weight", torch.empty(64, 8, 4, 4)).name
    'torch_transposed'
    >>> module_layout(nn.Linear(4, 2), "weight", torch.empty(2, 4)) is None
    True
    """
    if tensor.dim() < 2:
        return None
    if isinstance(module, nn.modules.conv._ConvTransposeNd) and local_name == "weight":
        return get_layout("torch_transposed").with_(groups=module.groups)
    if isinstance(module, nn.modules.conv._ConvNd) and local_name == "weight":
        return get_layout("torch").with_(groups=module.groups) if module.groups > 1 else None
    if isinstance(module, nn.MultiheadAttention) and local_name == "in_proj_weight":
        return get_layout("torch").with_(chunks=3)
    if isinstance(module, (nn.RNNBase, nn.RNNCellBase)) and local_name.startswith(
        ("weight_ih", "weight_hh")
    ):
        gates = _gates(module)
        return get_layout("torch").with_(chunks=gates) if gates > 1 else None
    return None
