"""Fixup, ReZero/SkipInit, depth-scaled projections and DeepNet on torchvision-shaped,
Hugging Face ResNet and pre-norm transformer models (random weights, no downloads)."""

from __future__ import annotations

import importlib.util
import math
import sys
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

import initlab
from initlab.residual import (
    add_residual_gains,
    deepnet_constants,
    find_branches,
    find_classifier,
    fixup_rules,
    fixup_scale,
    fixup_transform,
    rezero_rules,
)

_spec = importlib.util.spec_from_file_location(
    "tv_resnet", Path(__file__).with_name("tv_resnet.py")
)
tv = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["tv_resnet"] = tv
_spec.loader.exec_module(tv)  # type: ignore[union-attr]

transformers = pytest.importorskip("transformers")


def _quiet(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", initlab.TieConflictWarning)
        return fn(*args, **kwargs)


def gpt2(n_layer: int = 3):  # type: ignore[no-untyped-def]
    config = transformers.GPT2Config(
        n_layer=n_layer,
        n_embd=16,
        n_head=2,
        vocab_size=50,
        n_positions=16,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


def llama(n_layer: int = 3):  # type: ignore[no-untyped-def]
    config = transformers.LlamaConfig(
        num_hidden_layers=n_layer,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=50,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.LlamaForCausalLM(config)


def hf_resnet(layer_type: str):  # type: ignore[no-untyped-def]
    config = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], layer_type=layer_type, num_labels=3
    )
    return transformers.ResNetForImageClassification(config)


@pytest.mark.parametrize(
    ("factory", "n_branches", "m", "last"),
    [(tv.resnet18, 8, 2, "conv2"), (tv.resnet50, 16, 3, "conv3")],
)
def test_fixup_on_torchvision_resnets_zeroes_exactly_the_last_layers(  # type: ignore[no-untyped-def]
    factory, n_branches, m, last
) -> None:
    model = factory()
    branches = find_branches(model)
    assert len(branches) == n_branches and {b.m for b in branches} == {m}
    plan = initlab.init_model(model, "fixup", seed=0)
    weights = {n: p for n, p in model.named_parameters() if p.dim() >= 2}
    zero = {n for n, p in weights.items() if not p.any()}
    expected = {f"{b.name}.{last}.weight" for b in branches} | {"fc.weight"}
    assert zero == expected
    assert not model.fc.bias.any()
    factor = fixup_scale(n_branches, m)
    assert factor == pytest.approx(n_branches ** (-1 / (2 * m - 2)))
    for branch in branches:
        for layer in branch.layers[:-1]:
            w = weights[f"{layer}.weight"]
            he_std = math.sqrt(2.0 / w[0].numel())
            entry = plan[f"{layer}.weight"]
            assert entry.std == pytest.approx(he_std * factor, rel=1e-12)
            assert f"L={n_branches}, m={m}" in entry.rule and f"{factor:.4g}" in entry.rule


def test_fixup_scaled_weights_have_the_scaled_std_and_not_he_std() -> None:
    model = tv.resnet50(width=16)
    initlab.init_model(model, "fixup", seed=1)
    w = model.layer3.get_submodule("0").conv2.weight  # 3x3, fan_in = 32 * 9
    he = math.sqrt(2.0 / w[0].numel())
    measured = float(w.detach().std())
    # ~9k samples: the std estimate's relative error is about 1/sqrt(2n) < 1%; 5% is safe.
    assert measured == pytest.approx(he * fixup_scale(16, 3), rel=0.05)
    assert abs(measured - he) / he > 0.3  # negative control: plain He is far off


def test_fixup_works_with_keyed_randomness_and_reproduces() -> None:
    a, b = tv.resnet18(), tv.resnet18()
    initlab.init_model(a, "fixup", seed=3, rng="keyed")
    initlab.init_model(b, "fixup", seed=3, rng="keyed")
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        assert torch.equal(p, q)


@pytest.mark.parametrize("layer_type", ["basic", "bottleneck"])
def test_fixup_on_hf_resnet(layer_type: str) -> None:
    model = hf_resnet(layer_type)
    branches = find_branches(model)
    assert len(branches) == 4
    assert {b.m for b in branches} == {2 if layer_type == "basic" else 3}
    assert all(b.output.endswith(".layer") for b in branches)
    assert find_classifier(model, branches) == "classifier.1"
    initlab.init_model(model, "fixup", seed=0)
    out = model(torch.randn(2, 3, 32, 32)).logits
    assert not out.any()  # zero classifier


def test_init_never_edits_the_module_tree_and_the_transform_reports_its_edits() -> None:
    model = tv.resnet18()
    before = [n for n, _ in model.named_modules()]
    norms = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    initlab.init_model(model, "fixup", seed=0)
    assert [n for n, _ in model.named_modules()] == before
    report = fixup_transform(model)
    assert report.count("replaced_module") == norms == 20
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert report.count("added_parameter") == 8 * (2 + 3)  # bias in/out on both, scale on last
    plan = initlab.init_model(model, "fixup", seed=0)
    assert plan["layer1.0.conv2.fixup_scale"].scheme == "ones"
    assert plan["layer1.0.conv1.fixup_bias_in"].scheme == "zeros"
    x = torch.randn(4, 3, 32, 32)
    loss = model(x).pow(2).sum() + (model(x)[:, 0] - 1).pow(2).sum()
    loss.backward()
    assert model.layer1.get_submodule("0").conv2.fixup_scale.grad is not None
    with pytest.raises(ValueError, match="transformed twice"):
        fixup_transform(model)


@pytest.mark.parametrize("factory", [gpt2, llama])
def test_pre_norm_transformers_have_two_branches_per_block(factory) -> None:  # type: ignore[no-untyped-def]
    model = factory(3)
    branches = find_branches(model)
    assert [b.kind for b in branches] == ["attention", "mlp"] * 3
    assert all(b.m == 2 for b in branches)
    plan = _quiet(initlab.init_model, model, "fixup", seed=0)
    for b in branches:
        assert all(plan[f"{layer}.weight"].std == 0 for layer in b.last)
        first = plan[f"{b.stages[0][0]}.weight"]
        assert first.std == pytest.approx(math.sqrt(1 / 16) * 6**-0.5)  # fan_in 16, L = 6


def test_rezero_multipliers_are_zero_and_blocks_start_as_identity() -> None:
    model = gpt2(2)
    with pytest.raises(ValueError, match="no residual multiplier"):
        rezero_rules(model)
    report = add_residual_gains(model, value=0.5)
    assert report.count("added_parameter") == 4
    _quiet(initlab.init_model, model, "rezero", seed=0)
    gains = [p for n, p in model.named_parameters() if n.endswith("residual_gain")]
    assert len(gains) == 4 and all(float(g.detach()) == 0.0 for g in gains)
    model.eval()
    hidden = model(torch.randint(0, 50, (2, 8)), output_hidden_states=True).hidden_states
    # hidden[0]: embeddings; hidden[1]: after block 0 (hidden[2] has ln_f applied).
    assert torch.equal(hidden[1], hidden[0])
    final = model.transformer.ln_f(hidden[0])
    assert torch.allclose(hidden[2], final)


def test_depth_scaled_matches_gpt2s_own_formula() -> None:
    model = gpt2(4)
    plan = _quiet(initlab.init_model, model, "depth-scaled", seed=0)
    for name in ("transformer.h.2.attn.c_proj.weight", "transformer.h.2.mlp.c_proj.weight"):
        assert plan[name].std == pytest.approx(0.02 / math.sqrt(2 * 4))
        assert "L=4" in plan[name].rule
    assert plan["transformer.h.2.attn.c_attn.weight"].std == pytest.approx(0.02)


def test_deepnet_constants_and_rules() -> None:
    c = deepnet_constants("decoder", n_decoder=2)
    assert c.alpha_decoder == pytest.approx(math.sqrt(2)) and c.beta_decoder == pytest.approx(0.5)
    e = deepnet_constants("encoder", n_encoder=6)
    assert e.alpha_encoder == pytest.approx(12**0.25) and e.beta_encoder == pytest.approx(48**-0.25)
    ed = deepnet_constants("encoder-decoder", n_encoder=6, n_decoder=6)
    assert ed.alpha_encoder == pytest.approx(0.81 * (6**5) ** (1 / 16))
    assert ed.beta_encoder == pytest.approx(0.87 * (6**5) ** (-1 / 16))
    assert ed.alpha_decoder == pytest.approx(18**0.25) and ed.beta_decoder == pytest.approx(
        72**-0.25
    )
    with pytest.raises(ValueError, match="n_decoder=None must be a positive integer"):
        deepnet_constants("decoder")
    model = llama(3)
    plan = initlab.init_model(model, "deepnet", seed=0)
    beta = (8 * 3) ** -0.25
    glorot = math.sqrt(2 / (16 + 16))
    assert plan["model.layers.0.self_attn.v_proj.weight"].std == pytest.approx(beta * glorot)
    assert plan["model.layers.0.self_attn.q_proj.weight"].std == pytest.approx(glorot)
    assert "(8M)^(-1/4)" in plan["model.layers.0.mlp.down_proj.weight"].rule


def test_named_branches_and_clear_errors() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Linear(4, 2))
    with pytest.raises(ValueError, match="found no residual branch in Sequential"):
        find_branches(net)
    rules = fixup_rules(net, branches={"res": ["0", "2"]}, activations={})
    plan = initlab.init_model(net, rules, seed=0)
    assert plan["2.weight"].std == 0 and plan["3.weight"].std == 0  # last layer, classifier
    assert plan["0.weight"].std == pytest.approx(math.sqrt(1 / 4))  # L = 1: factor 1
    with pytest.raises(ValueError, match="not a Linear/Conv layer"):
        find_branches(net, branches={"res": ["1", "2"]})
    with pytest.raises(ValueError, match="m=1: a branch of one layer"):
        fixup_scale(4, 1)


@pytest.mark.parametrize("factory", [gpt2, llama])
def test_fixup_transform_on_transformers_runs_and_backpropagates(factory) -> None:  # type: ignore[no-untyped-def]
    model = factory(2)
    report = fixup_transform(model)
    assert report.count("replaced_module") == 5  # 2 per block + the final norm
    assert not any(
        isinstance(m, nn.LayerNorm) or "RMSNorm" in type(m).__name__ for m in model.modules()
    )
    _quiet(initlab.init_model, model, "fixup", seed=0)
    logits = model(torch.randint(0, 50, (2, 8))).logits
    assert torch.isfinite(logits).all()
    logits.sum().backward()


def test_plan_cli_shows_the_fixup_scales(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from initlab._cli import main

    spec = f"{Path(__file__).with_name('tv_resnet.py')}:resnet18"
    assert main(["plan", spec, "--preset", "fixup", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["layer1.0.conv2.weight"]["std"] == 0
    assert "(L=8, m=2)" in rows["layer1.0.conv1.weight"]["rule"]
    assert rows["fc.weight"]["rule"] == "fixup: classifier fc zero"


def test_fixup_rules_name_only_tensors_the_model_has() -> None:
    """No UnusedRuleWarning for scalar biases/multipliers a model lacks; present ones are set."""
    model = tv.resnet18()
    with warnings.catch_warnings():
        warnings.simplefilter("error", initlab.rules.UnusedRuleWarning)
        initlab.init_model(model, "fixup", seed=0, dry_run=True)
    descriptions = [r.description for r in fixup_rules(model)]
    assert not any("scalar bias" in d or "multiplier one" in d for d in descriptions)
    fixup_transform(model)  # adds the scalar biases and multipliers
    descriptions = [r.description for r in fixup_rules(model)]
    assert "fixup: scalar bias zero" in descriptions  # negative control: now they exist
    assert "fixup: branch multiplier one" in descriptions
