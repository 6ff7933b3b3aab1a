"""The small model of the grouped-launch tests (imported in-process and by the
interpreter subprocess)."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RULES", "Net"]


class Net(nn.Module):
    # fp32 and bf16, normal / uniform / truncated normal, a packed QKV (3 chunks), a
    # tie, a padding row (its fill is redone directly), a frozen tensor kept as is.
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.pos = nn.Embedding(9, 16, padding_idx=0)
        self.qkv = nn.Linear(16, 48)
        self.mlp = nn.Linear(16, 64).to(torch.bfloat16)
        self.out = nn.Linear(64, 16)
        self.norm = nn.LayerNorm(16)
        self.head = nn.Linear(16, 50, bias=False)
        self.head.weight = self.emb.weight
        self.frozen = nn.Linear(16, 16)
        self.frozen.requires_grad_(False)


RULES = [
    {"scheme": "normal", "args": {"std": 0.02}, "role": "embedding"},
    {"scheme": "he_normal", "name": "qkv.weight", "layout": {"name": "torch", "chunks": 3}},
    {"scheme": "truncated_normal", "args": {"std": 0.02}, "name": "mlp.weight"},
    {
        "scheme": "truncated_normal",
        "args": {"std": 1.0, "low": 0.5, "high": 3.0},
        "name": "mlp.bias",
    },
    {"scheme": "xavier_uniform", "name": "out.weight"},
    {"scheme": "uniform", "args": {"low": -0.1, "high": 0.1}, "role": "bias"},
    {"scheme": "ones", "name": "norm.weight"},
    {"scheme": "zeros", "name": "norm.bias"},
]
