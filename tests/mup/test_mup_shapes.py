"""Width classification against hand-derived tables (TP5 Table 3 classes)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from initlab.mup import classify, mup_plan, shapes_of


def _table(model: nn.Module, base: nn.Module, **kw: object) -> dict[str, tuple]:
    return {e.name: (e.kind, e.in_mult, e.out_mult) for e in classify(model, base, **kw)}


def mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(10, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 3)
    )


def test_mlp_table() -> None:
    assert _table(mlp(256), mlp(64)) == {
        "0.weight": ("input", 1.0, 4.0),
        "0.bias": ("vector", 1.0, 4.0),
        "2.weight": ("hidden", 4.0, 4.0),
        "2.bias": ("vector", 1.0, 4.0),
        "4.weight": ("output", 4.0, 1.0),
        "4.bias": ("fixed", 1.0, 1.0),
    }


def cnn(c: int) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, c, 3),  # 0 input
        nn.BatchNorm2d(c),  # 1 vectors
        nn.Conv2d(c, c, 3, groups=c, bias=False),  # 2 depthwise: (c, 1, 3, 3)
        nn.ConvTranspose2d(c, 2 * c, 3, bias=False),  # 3 stored (c, 2c, 3, 3)
        nn.Flatten(),
        nn.Linear(2 * c, 10),  # 5 output
    )


def test_cnn_table() -> None:
    table = _table(cnn(32), cnn(8))
    assert table == {
        "0.weight": ("input", 1.0, 4.0),
        "0.bias": ("vector", 1.0, 4.0),
        "1.weight": ("vector", 1.0, 4.0),
        "1.bias": ("vector", 1.0, 4.0),
        "2.weight": ("input", 1.0, 4.0),  # depthwise: only the channel (output) axis grows
        "3.weight": ("hidden", 4.0, 4.0),  # transposed: axis 0 is the input
        "5.weight": ("output", 4.0, 1.0),
        "5.bias": ("fixed", 1.0, 1.0),
    }
    entries = {e.name: e for e in classify(cnn(32), cnn(8))}
    assert entries["3.weight"].layout == "torch_transposed"
    assert (entries["3.weight"].fan_in, entries["3.weight"].fan_out) == (32 * 9, 64 * 9)
    assert entries["2.weight"].layout == "torch(groups=32)"


class Block(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, num_heads=2, batch_first=True)
        self.ln = nn.LayerNorm(d)
        self.up = nn.Linear(d, 4 * d)
        self.down = nn.Linear(4 * d, d)


class TinyTransformer(nn.Module):
    def __init__(self, d: int, vocab: int = 50) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.block = Block(d)
        self.head = nn.Linear(d, vocab, bias=False)


def test_transformer_packed_qkv_table() -> None:
    table = _table(TinyTransformer(64), TinyTransformer(16))
    assert table == {
        "embed.weight": ("input", 1.0, 4.0),  # (vocab, d): vocabulary is the input axis
        "block.attn.in_proj_weight": ("hidden", 4.0, 4.0),
        "block.attn.in_proj_bias": ("vector", 1.0, 4.0),
        "block.attn.out_proj.weight": ("hidden", 4.0, 4.0),
        "block.attn.out_proj.bias": ("vector", 1.0, 4.0),
        "block.ln.weight": ("vector", 1.0, 4.0),
        "block.ln.bias": ("vector", 1.0, 4.0),
        "block.up.weight": ("hidden", 4.0, 4.0),
        "block.up.bias": ("vector", 1.0, 4.0),
        "block.down.weight": ("hidden", 4.0, 4.0),
        "block.down.bias": ("vector", 1.0, 4.0),
        "head.weight": ("output", 4.0, 1.0),
    }
    qkv = next(
        e for e in classify(TinyTransformer(64), TinyTransformer(16)) if "in_proj_w" in e.name
    )
    assert qkv.layout == "torch(chunks=3)"
    assert (qkv.fan_in, qkv.fan_out, qkv.base_fan_in) == (64, 64, 16)  # per Q/K/V chunk


class MoEExperts(nn.Module):
    def __init__(self, d: int, experts: int = 4) -> None:
        super().__init__()
        self.gate_up_proj = nn.Parameter(torch.empty(experts, 2 * 3 * d, d))
        self.down_proj = nn.Parameter(torch.empty(experts, d, 3 * d))


class MoE(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.router = nn.Linear(d, 4, bias=False)
        self.experts = MoEExperts(d)


def test_moe_expert_stack_table() -> None:
    entries = {e.name: e for e in classify(MoE(64), MoE(16))}
    table = {n: (e.kind, e.in_mult, e.out_mult) for n, e in entries.items()}
    assert table == {
        "router.weight": ("output", 4.0, 1.0),  # d -> number of experts (fixed)
        "experts.gate_up_proj": ("hidden", 4.0, 4.0),
        "experts.down_proj": ("hidden", 4.0, 4.0),
    }
    gate_up = entries["experts.gate_up_proj"]
    assert gate_up.layout == "experts(chunks=2)"
    assert (gate_up.fan_in, gate_up.fan_out, gate_up.base_fan_in) == (64, 192, 16)


def test_expert_stack_growing_expert_count_does_not_make_hidden() -> None:
    class Stack(nn.Module):
        def __init__(self, d: int, e: int) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(e, 5, d))

    table = _table(Stack(32, 8), Stack(8, 2), layouts={"w": "experts"})
    assert table == {"w": ("output", 4.0, 1.0)}  # the batch (expert) axis is no width


def test_three_d_parameter_without_layout_is_refused() -> None:
    class Odd(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.empty(2, d, d))

    with pytest.raises(ValueError, match=r"'w' of shape \(2, 8, 8\).*layouts=\{'w': 'experts'\}"):
        classify(Odd(8), Odd(4))
    assert _table(Odd(8), Odd(4), layouts={"w": "experts"}) == {"w": ("hidden", 2.0, 2.0)}


def test_base_width_needs_delta_to_know_widths() -> None:
    assert _table(mlp(64), mlp(64))["2.weight"] == ("fixed", 1.0, 1.0)
    assert _table(mlp(64), mlp(64), delta=mlp(128))["2.weight"] == ("hidden", 1.0, 1.0)


def test_base_as_meta_model_and_as_shape_dict() -> None:
    with torch.device("meta"):
        base = mlp(64)
    assert _table(mlp(256), base) == _table(mlp(256), shapes_of(mlp(64)))
    as_lists = {k: list(v) for k, v in shapes_of(mlp(64)).items()}  # JSON form
    assert _table(mlp(256), as_lists) == _table(mlp(256), mlp(64))


def test_base_of_another_architecture_is_refused() -> None:
    with pytest.raises(ValueError, match=r"base does not have the model's parameters"):
        classify(mlp(64), nn.Linear(3, 3))
    with pytest.raises(TypeError, match=r"base=3 must be an nn.Module or a mapping"):
        classify(mlp(64), 3)  # type: ignore[arg-type]


def test_tied_embedding_listed_once_with_its_alias() -> None:
    class Tied(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.embed = nn.Embedding(20, d)
            self.hidden = nn.Linear(d, d)
            self.head = nn.Linear(d, 20, bias=False)
            self.head.weight = self.embed.weight

    entries = classify(Tied(32), Tied(8))
    first = entries[0]
    assert (first.name, first.kind, first.tied) == ("embed.weight", "input", ("head.weight",))
    plan = mup_plan(Tied(32), Tied(8))
    assert [c.module for c in plan.changes if c.change.startswith("readout")] == ["head"]
    with pytest.raises(ValueError, match=r"tied to \['head.weight'\].*readout='multiplier'"):
        mup_plan(Tied(32), Tied(8), readout="init").check()
