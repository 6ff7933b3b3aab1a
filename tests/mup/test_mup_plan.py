"""μP init stds, LR multipliers (TP5 Table 3 / Table 8), rules through init_model,
optimizer groups, and the forward-side checks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab
from initlab.mup import (
    MupConfig,
    Readout,
    apply_readout,
    hf_mup_config,
    mup_param_groups,
    mup_plan,
    set_attention_scale,
)

D_IN, D_OUT = 10, 3


def mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(D_IN, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, D_OUT),
    )


# Hand-derived from TP5 with n = width / base width (= 4 here), fan_in of the base:
# (init std, Adam LR mult, SGD LR mult) per parameter.
N, BASE = 4.0, 64
TABLE8 = {  # readout multiplier 1/n in forward
    "0.weight": (1 / math.sqrt(D_IN), 1.0, N),  # input: var 1/fan_in; Adam η; SGD η·fan_out
    "0.bias": (0.0, 1.0, N),
    "2.weight": (1 / math.sqrt(N * BASE), 1 / N, 1.0),  # hidden: var 1/fan_in; Adam η/n
    "2.bias": (0.0, 1.0, N),
    "4.weight": (1 / math.sqrt(BASE), 1.0, N),  # output: Θ(1) init; Adam η; SGD η·fan_in
    "4.bias": (0.0, 1.0, 1.0),
}
TABLE3 = {**TABLE8, "4.weight": (1 / math.sqrt(BASE) / N, 1 / N, 1 / N)}  # var 1/fan_in²


@pytest.mark.parametrize(("readout", "table"), [("multiplier", TABLE8), ("init", TABLE3)])
def test_stds_and_lr_multipliers_match_the_paper(readout: str, table: dict) -> None:
    plan = mup_plan(mlp(256), mlp(64), readout=readout)
    got = {e.name: (e.std, e.lr_mult("adam"), e.lr_mult("sgd")) for e in plan}
    assert got.keys() == table.keys()
    for name, expected in table.items():
        assert got[name] == pytest.approx(expected, rel=1e-12), name
    assert plan["2.weight"].lr_mult("adamw") == plan["2.weight"].lr_mult("adam")


def test_at_base_width_mup_is_standard_parametrization() -> None:
    plan = mup_plan(mlp(64), mlp(64), delta=mlp(128))
    for entry in plan:
        assert entry.lr_mult("adam") == entry.lr_mult("sgd") == 1.0
    assert plan["2.weight"].std == pytest.approx(1 / 8)  # 1/sqrt(64): He/LeCun-style
    assert plan.is_mup  # the readout multiplier is 1: a plain Linear is fine


def test_fixed_std_and_zero_readout() -> None:
    plan = mup_plan(mlp(256), mlp(64), std=0.02, readout_zero_init=True)
    assert plan["2.weight"].std == pytest.approx(0.02 / 2)
    assert plan["0.weight"].std == pytest.approx(0.02)
    assert (plan["4.weight"].scheme, plan["4.weight"].std) == ("zeros", 0.0)


@pytest.mark.parametrize("rng", ["torch", "keyed"])
def test_rules_drive_init_model_with_both_rngs(rng: str) -> None:
    model = mlp(512)
    plan = mup_plan(model, mlp(64))
    init_plan = initlab.init_model(model, plan.rules(), seed=3, rng=rng)
    assert init_plan["2.weight"].std == pytest.approx(plan["2.weight"].std)
    # 512² draws: the sample std is within 1% of the planned one...
    assert model[2].weight.std().item() == pytest.approx(1 / math.sqrt(512), rel=0.01)
    # ...and far from the SP value of a fixed-std init at the base (negative control)
    assert model[2].weight.std().item() != pytest.approx(1 / math.sqrt(64), rel=0.5)
    assert torch.count_nonzero(model[2].bias) == 0


def test_rules_on_meta_model_and_serializable() -> None:
    with torch.device("meta"):
        model, base = mlp(256), mlp(64)
    plan = mup_plan(model, base)
    rules = initlab.RuleSet.from_json(plan.rules().to_json())
    initlab.init_model(model, rules, seed=0, device="cpu")
    assert model[2].weight.device.type == "cpu"
    assert model[2].weight.std().item() == pytest.approx(1 / 16, rel=0.03)


def test_param_groups_for_stock_optimizers_with_weight_decay() -> None:
    model = nn.Sequential(mlp(256), nn.LayerNorm(D_OUT))
    base = nn.Sequential(mlp(64), nn.LayerNorm(D_OUT))
    plan = mup_plan(model, base)
    groups = mup_param_groups(model, plan, optimizer="adamw", lr=1e-2, weight_decay=0.1)
    by_param = {id(p): g for g in groups for p in g["params"]}
    hidden = by_param[id(model[0][2].weight)]
    assert (hidden["lr"], hidden["weight_decay"]) == pytest.approx((1e-2 / N, 0.1 * N))
    assert hidden["lr"] * hidden["weight_decay"] == pytest.approx(1e-2 * 0.1)  # per-step decay
    assert by_param[id(model[0][2].bias)]["weight_decay"] == 0.0  # biases never decayed
    assert by_param[id(model[1].weight)]["weight_decay"] == 0.0  # norms never decayed
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    torch.optim.AdamW(groups, lr=1e-2).step()  # stock optimizer takes them as is
    sgd = mup_param_groups(model, plan, optimizer="sgd", lr=0.1, weight_decay=0.0)
    first = {id(p): g for g in sgd for p in g["params"]}[id(model[0][0].weight)]
    assert first["lr"] == pytest.approx(0.1 * N)
    torch.optim.SGD(sgd, lr=0.1, momentum=0.9).step()


def test_param_group_argument_errors() -> None:
    plan = mup_plan(mlp(128), mlp(64))
    with pytest.raises(ValueError, match=r"optimizer='adagrad' is not one of 'sgd', 'adam'"):
        mup_param_groups(mlp(128), plan, optimizer="adagrad", lr=1.0)
    with pytest.raises(ValueError, match=r"lr=0"):
        mup_param_groups(mlp(128), plan, lr=0)
    with pytest.raises(ValueError, match=r"readout=.mult. is not one of .multiplier., .init."):
        MupConfig(readout="mult")


def test_readout_required_then_applied() -> None:
    model = mlp(256)
    plan = mup_plan(model, mlp(64))
    assert not plan.is_mup
    with pytest.raises(ValueError, match=r"4: readout input x 0.25 .* is missing"):
        plan.check()
    weight = model[4].weight
    assert apply_readout(model, plan) == ["4"]
    assert isinstance(model[4], Readout) and model[4].weight is weight
    x = torch.randn(2, 256)
    assert torch.allclose(model[4](x), nn.functional.linear(x / 4, weight, model[4].bias))
    after = mup_plan(model, mlp(64))
    assert after.is_mup
    after.check()
    assert "μP: yes" in str(after)


def test_multihead_attention_cannot_be_claimed() -> None:
    class Net(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.attn = nn.MultiheadAttention(d, 2)
            self.head = Readout(d, 2, multiplier=16 / d)

    plan = mup_plan(Net(64), Net(16))
    status = {c.module: c.status for c in plan.changes}
    assert status == {"head": "done", "attn": "unverifiable"}
    assert not plan.is_mup
    assert plan_declared(Net).is_mup


def plan_declared(net: type) -> initlab.mup.MupPlan:
    return mup_plan(net(64), net(16), checked_attention=("attn",))


class ScaledAttention(nn.Module):
    """Shaped like an HF attention: reads ``self.scaling`` and ``self.head_dim``."""

    def __init__(self, d: int, heads: int = 2) -> None:
        super().__init__()
        self.head_dim = d // heads
        self.scaling = self.head_dim**-0.5
        self.q_proj = nn.Linear(d, d)


def test_hf_style_attention_scaling_checked_and_fixed() -> None:
    model, base = ScaledAttention(64), ScaledAttention(16)
    plan = mup_plan(model, base)
    assert [c.status for c in plan.changes] == ["missing"]
    assert set_attention_scale(model) == [""]
    assert model.scaling == 1 / 32
    assert mup_plan(model, base).is_mup


def test_hf_config_fields() -> None:
    transformers = pytest.importorskip("transformers")
    granite = transformers.GraniteConfig(hidden_size=64, num_attention_heads=4)
    fixed = hf_mup_config(granite, width_mult=4.0)
    assert fixed.attention_multiplier == pytest.approx(1 / 16)
    assert fixed.logits_scaling == 4.0
    assert granite.attention_multiplier == 1.0  # a copy; the input is unchanged
    llama = transformers.LlamaConfig(hidden_size=64, num_attention_heads=4)
    with pytest.raises(ValueError, match=r"LlamaConfig has no attention-scale field"):
        hf_mup_config(llama)


def test_hf_llama_plan_runs_and_flags_attention() -> None:
    transformers = pytest.importorskip("transformers")

    def build(d: int) -> nn.Module:
        config = transformers.LlamaConfig(
            hidden_size=d,
            intermediate_size=2 * d,
            num_attention_heads=2,
            num_key_value_heads=2,
            num_hidden_layers=1,
            vocab_size=40,
        )
        return transformers.LlamaForCausalLM(config)

    model, base = build(64), build(32)
    plan = mup_plan(model, base)
    kinds = {e.name: e.kind for e in plan}
    assert kinds["model.embed_tokens.weight"] == "input"
    assert kinds["model.layers.0.self_attn.q_proj.weight"] == "hidden"
    assert kinds["lm_head.weight"] == "output"
    assert {c.status for c in plan.changes} == {"missing"}
    apply_readout(model, plan)
    set_attention_scale(model)
    assert mup_plan(model, base).is_mup
    initlab.init_model(model, mup_plan(model, base).rules(), seed=0, rng="keyed")
    logits = model(torch.randint(0, 40, (1, 5))).logits
    assert torch.isfinite(logits).all()


def test_hf_gpt2_conv1d_layout_and_tied_readout() -> None:
    transformers = pytest.importorskip("transformers")

    def build(d: int) -> nn.Module:
        config = transformers.GPT2Config(
            n_embd=d, n_head=2, n_layer=1, vocab_size=40, n_positions=8
        )
        return transformers.GPT2LMHeadModel(config)

    model, base = build(64), build(16)
    plan = mup_plan(model, base)
    c_fc = plan["transformer.h.0.mlp.c_fc.weight"]  # Conv1D stores (in, out)
    assert (c_fc.width.layout, c_fc.kind, c_fc.width.fan_in) == ("matmul", "hidden", 64)
    wte = plan["lm_head.weight"]  # the tied alias finds the canonical embedding
    assert (wte.name, wte.kind, wte.width.tied) == (
        "transformer.wte.weight",
        "input",
        ("lm_head.weight",),
    )
    status = {c.module: c.status for c in plan.changes}
    assert status == {"lm_head": "missing", "transformer.h.0.attn": "missing"}
    apply_readout(model, plan)
    set_attention_scale(model)
    assert model.lm_head.weight is model.transformer.wte.weight  # tie kept
    assert isinstance(model.lm_head, Readout) and model.lm_head.multiplier == 0.25
    assert mup_plan(model, base).is_mup


def test_attention_wrapper_is_judged_by_the_attention_inside() -> None:
    class SelfAttentionBlock(nn.Module):  # a wrapper named like attention, no scale of its own
        def __init__(self, d: int) -> None:
            super().__init__()
            self.inner = ScaledAttention(d)

    class OpaqueAttention(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.proj = nn.Linear(d, d)

    class Net(nn.Module):
        def __init__(self, d: int) -> None:
            super().__init__()
            self.block = SelfAttentionBlock(d)
            self.other = OpaqueAttention(d)

    status = {c.module: c.status for c in mup_plan(Net(64), Net(16)).changes}
    assert status == {"block.inner": "missing", "other": "unverifiable"}
