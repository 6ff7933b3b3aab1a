"""Data-dependent initialization: LSUV in O(L) layer evaluations and output-bias priors.

>>> import torch
>>> from torch import nn
>>> net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU())
>>> report = lsuv_(net, torch.randn(128, 16, generator=torch.Generator().manual_seed(0)))
>>> all(abs(r.std_after - 1.0) <= 0.1 for r in report.layers)
True
"""

from initlab.datadep._bias import OutputPrior, class_prior, init_with_output_prior, output_prior
from initlab.datadep._lsuv import LSUVConfig, LSUVLayer, LSUVReport, lsuv_

__all__ = [
    "LSUVConfig",
    "LSUVLayer",
    "LSUVReport",
    "OutputPrior",
    "class_prior",
    "init_with_output_prior",
    "lsuv_",
    "output_prior",
]
