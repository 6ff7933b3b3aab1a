"""Presets: torch-default parity, auto, resnet, vit-jax, llama, bias options, meta device."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from tests.rules.models_zoo import (
    MLP,
    ZOO,
    LSTMTagger,
    ResNetTiny,
    TiedLM,
    TinyTransformer,
    meta_mlp,
)
from torch import nn

from initlab import gain
from initlab.rules import PRESETS, detect_activations, init_model, preset


def _build(factory, seed: int) -> nn.Module:  # type: ignore[no-untyped-def]
    torch.manual_seed(seed)  # test code only: PyTorch's own init from the global RNG
    return factory()


# "shared" is left out: its shared Linear is constructed before the layers that precede it in
# module order, and parity is defined for construction order == module order.
@pytest.mark.parametrize("name", ["mlp", "resnet", "transformer", "lstm", "tied_lm"])
def test_torch_default_bit_identical_with_shared_generator(name: str) -> None:
    reference = _build(ZOO[name], 123)
    model = _build(ZOO[name], 999)
    plan = init_model(model, "torch-default", generator=torch.Generator().manual_seed(123))
    assert plan.applied and plan.seed is None
    for key, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_torch_default_per_parameter_streams_same_distributions() -> None:
    model = MLP()
    plan = init_model(model, "torch-default", seed=0)
    bound = 1 / math.sqrt(16)
    assert plan["fc1.weight"].bound == pytest.approx(bound)
    assert plan["fc1.bias"].bound == pytest.approx(bound)
    assert model.fc1.weight.abs().max() <= bound


def test_torch_default_keeps_mha_halved_variance() -> None:
    plan = init_model(TinyTransformer(dim=32), "torch-default", seed=0, dry_run=True)
    assert plan["block.self_attn.in_proj_weight"].std == pytest.approx((2 / (32 + 96)) ** 0.5)
    assert plan["block.self_attn.out_proj.bias"].scheme == "torch_default:Zeros"


def test_torch_default_uncovered_custom_parameter() -> None:
    model = MLP()
    model.scale = nn.Parameter(torch.ones(()))
    with pytest.raises(ValueError, match=r"matched no rule: scale"):
        init_model(model, "torch-default", seed=0)
    # "torch" promises PyTorch's default: there is none for a custom parameter.
    with pytest.raises(ValueError, match=r"scale: no rule and no PyTorch default.*default='keep'"):
        init_model(model, "torch-default", seed=0, default="torch")
    before = model.scale.detach().clone()
    plan = init_model(model, "torch-default", seed=0, default="keep")
    assert plan["scale"].source == "kept" and plan.uncovered == ["scale"]
    assert torch.equal(model.scale, before)
    plan = init_model(MLP(), "auto", seed=0, default="torch")
    assert plan.uncovered == []


def test_auto_schemes_by_activation() -> None:
    model = nn.Sequential(
        nn.Linear(8, 8),
        nn.ReLU(),
        nn.Linear(8, 8),
        nn.Tanh(),
        nn.Linear(8, 8),
        nn.SELU(),
        nn.Linear(8, 8),
        nn.GELU(),
        nn.Linear(8, 2),
    )
    plan = init_model(model, "auto", seed=0, dry_run=True)
    schemes = [plan[f"{i}.weight"].scheme for i in (0, 2, 4, 6, 8)]
    assert schemes == [
        "he_normal",
        "xavier_uniform",
        "lecun_normal",
        "variance_scaling",
        "variance_scaling",
    ]
    from initlab import gain

    assert plan["6.weight"].std == pytest.approx(gain("gelu") / math.sqrt(8))
    assert plan["8.weight"].std == pytest.approx(1 / math.sqrt(8))
    assert plan["6.weight"].activation == "gelu" and plan["8.weight"].activation == "linear"


def test_auto_lists_undetermined_layers() -> None:
    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.a(x)
            return torch.relu(h) + torch.tanh(h) + torch.sigmoid(self.b(x))

    plan = init_model(Branchy(), "auto", seed=0, dry_run=True)
    assert plan.undetermined == ["a"]
    assert "undetermined" in plan["a.weight"].rule and "activation undetermined: a" in str(plan)


def test_auto_falls_back_to_hooks_for_untraceable_models() -> None:
    class Untraceable(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.sum() > -1e9:  # data-dependent control flow defeats torch.fx
                x = self.a(x)
            return self.b(x * torch.sigmoid(x))

    plan = init_model(Untraceable(), "auto", seed=0, dry_run=True)
    assert plan.undetermined == ["a", "b"]
    x = torch.randn(2, 4, generator=torch.Generator().manual_seed(0))
    plan = init_model(Untraceable(), "auto", seed=0, example_input=x)
    assert plan["a.weight"].activation == "silu" and plan["b.weight"].activation == "linear"


def test_resnet_preset_zero_gamma_and_fan_out() -> None:
    model = ResNetTiny()
    plan = init_model(model, "resnet", seed=0)
    assert torch.all(model.layer1.bn2.weight == 0) and torch.all(model.layer2.bn2.weight == 0)
    assert torch.all(model.layer2.downsample[1].weight == 1)
    assert plan["layer1.conv1.weight"].std == pytest.approx(math.sqrt(2 / (8 * 9)))
    assert plan["fc.weight"].source == "torch-default"


def test_bias_options() -> None:
    for bias, check in (
        ("zero", lambda b: torch.all(b == 0)),
        ("positive", lambda b: torch.all(b == 0.1)),
        ("torch", lambda b: b.abs().max() <= 1 / math.sqrt(16) and b.abs().sum() > 0),
    ):
        model = MLP()
        init_model(model, preset("auto", bias=bias, bias_value=0.1), seed=0)
        assert check(model.fc1.bias.detach()), bias
    with pytest.raises(ValueError, match="bias='tiny'"):
        preset("gpt2", bias="tiny")
    with pytest.raises(TypeError, match="has no option"):
        preset("gpt2", stdd=0.1)
    with pytest.raises(ValueError, match="did you mean 'gpt2'"):
        preset("gpt-2")


def test_vit_jax_zero_head_and_xavier() -> None:
    class ViTish(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.patch = nn.Conv2d(3, 16, 4, 4)
            self.pos_embed = nn.Parameter(torch.zeros(1, 5, 16))
            self.cls_token = nn.Parameter(torch.zeros(1, 1, 16))
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 10)

    model = ViTish()
    plan = init_model(model, "vit-jax", seed=0)
    assert torch.all(model.head.weight == 0) and torch.all(model.head.bias == 0)
    assert plan["mlp.0.weight"].scheme == "xavier_uniform"
    assert plan["mlp.0.bias"].std == pytest.approx(1e-6)
    assert plan["patch.weight"].scheme == "lecun_truncated_normal"


def test_llama_depth_scaled() -> None:
    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wq, self.wo = nn.Linear(8, 8, bias=False), nn.Linear(8, 8, bias=False)
            self.norm = nn.RMSNorm(8)

    class Titan(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok = nn.Embedding(10, 8)
            self.layers = nn.ModuleList(Block() for _ in range(3))
            self.output = nn.Linear(8, 10, bias=False)

    plan = init_model(Titan(), "llama", seed=0, dry_run=True)
    for i in range(3):
        expected_pre = 0.02 / math.sqrt(2 * (i + 1))
        assert plan[f"layers.{i}.wo.weight"].scheme_config["std"] == pytest.approx(expected_pre)
    assert plan["layers.0.wq.weight"].scheme_config["std"] == 0.02
    assert plan["output.weight"].bound == pytest.approx(3 * 8**-0.5)
    assert plan["tok.weight"].std == 1.0


def test_preset_on_model_it_does_not_fit_lists_uncovered() -> None:
    plan = init_model(LSTMTagger(), preset("gpt2", n_layer=2), seed=0, dry_run=True)
    assert any("matched no rule" in e for e in plan.errors)
    assert not any("matched no rule" in w for w in plan.warnings)
    assert "lstm.weight_hh_l0" in plan.uncovered


def test_every_preset_documents_a_source() -> None:
    assert all(spec.source for spec in PRESETS.values())


def test_meta_device_materialized_with_ties() -> None:
    model = meta_mlp()
    with pytest.raises(ValueError, match="pass device="):
        init_model(model, "torch-default", seed=0)
    dry = init_model(model, "torch-default", seed=0, dry_run=True)
    assert len(dry.errors) == 1 and "pass device=" in dry.errors[0]
    plan = init_model(model, "torch-default", seed=0, device="cpu")
    assert plan.materialized_on == "cpu"
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert model.head.weight is model.embed.weight
    assert torch.all(model.norm.weight == 1)
    reference = TiedLM()
    init_model(reference, "torch-default", seed=0)
    for key, value in reference.state_dict().items():
        assert torch.equal(value, model.state_dict()[key]), key


def test_meta_batchnorm_running_stats_recomputed() -> None:
    with torch.device("meta"):
        model = ResNetTiny()
    plan = init_model(model, "resnet", seed=0, device="cpu")
    assert torch.all(model.bn.running_var == 1) and model.bn.num_batches_tracked.item() == 0
    assert plan["bn.running_var"].note == "normalization running stats recomputed"


def test_meta_custom_buffer_needs_a_rule() -> None:
    with torch.device("meta"):
        model = MLP()
        model.register_buffer("table", torch.empty(3))
    with pytest.raises(ValueError, match="table: meta buffer with no values"):
        init_model(model, "auto", seed=0, device="cpu")
    rules = [{"scheme": "ones", "name": "table", "role": "buffer"}, {"scheme": "torch_default"}]
    init_model(model, rules, seed=0, device="cpu")
    assert torch.all(model.table == 1)


def test_transformer_presets_fit_a_plain_mlp_without_block_count() -> None:
    """No residual projections to scale: gpt2 and llama still plan every parameter."""
    from torch import nn

    from initlab import init_model

    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    for name in ("gpt2", "llama"):
        plan = init_model(model, name, seed=0, dry_run=True)
        assert {e.name for e in plan.entries} == {n for n, _ in model.named_parameters()}


def test_gpt2_preset_needs_a_block_count_only_when_it_scales_projections() -> None:
    from torch import nn

    from initlab import init_model

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.c_proj = nn.Linear(4, 4)

    model = nn.Sequential()
    model.add_module("attn", Block())
    with pytest.raises(ValueError, match=r"cannot count the transformer blocks.*n_layer="):
        init_model(model, "gpt2", seed=0, dry_run=True)
    plan = init_model(model, preset("gpt2", n_layer=8), seed=0, dry_run=True)
    weight = next(e for e in plan.entries if e.name == "attn.c_proj.weight")
    assert weight.std == pytest.approx(0.02 / 4)


class _UntraceableBN(nn.Module):
    """Data-dependent control flow (defeats torch.fx), BatchNorm, dropout."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.bn = nn.Linear(4, 8), nn.BatchNorm1d(8)
        self.drop, self.out = nn.Dropout(0.5), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > -1e9:
            x = self.fc(x)
        return self.out(self.drop(torch.relu(self.bn(x))))


def test_hook_detection_leaves_buffers_modes_and_global_rng_alone() -> None:
    model = _UntraceableBN()
    model.out.eval()  # mixed flags must survive as they are
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = [m.training for m in model.modules()]
    rng = torch.random.get_rng_state()
    found = detect_activations(model, x)
    plan = init_model(model, "auto", seed=0, example_input=x, dry_run=True)
    assert torch.equal(torch.random.get_rng_state(), rng)
    assert [m.training for m in model.modules()] == modes
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert found["fc"].name == "relu" and found["fc"].method == "hooks"
    assert plan["fc.weight"].activation == "relu"


@pytest.mark.parametrize("training", [True, False])
def test_hook_detection_runs_in_eval_mode_without_grad(training: bool) -> None:
    # BatchNorm1d on a batch of one: training mode refuses it ("Expected more than 1 value
    # per channel when training"), as timm's LeViT head did on a (1, 3, 224, 224) input.
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    model.train(training)
    seen: list[tuple[bool, bool, bool]] = []

    def probe(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        seen.append((module.training, torch.is_grad_enabled(), output.requires_grad))

    model[1].register_forward_hook(probe)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    found = detect_activations(model, torch.randn(1, 4), method="hooks")
    assert found["0"].name == "relu" and found["3"].name == "linear"
    assert seen == [(False, False, False)]  # eval mode, no autograd graph
    assert all(m.training is training for m in model.modules())  # the user's mode restored
    after = model.state_dict()
    assert after.keys() == before.keys()
    for key, value in before.items():
        assert torch.equal(after[key], value), key  # running stats and counter untouched


def test_hook_detection_sees_past_batchnorm_input_checks() -> None:
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    x = torch.randn(16, 4, generator=torch.Generator().manual_seed(0))
    found = detect_activations(model, x, method="hooks")
    assert found["0"].name == "relu" and found["3"].name == "linear"
    assert detect_activations(model)["0"].name == "relu"  # fx agrees


class _Residual(nn.Module):
    """torchvision/timm BasicBlock idioms: ``out += shortcut`` (``add_``), in-place ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3)
        self.pool, self.head = nn.MaxPool2d(2), nn.Linear(12, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        out += x
        out = F.relu(out, inplace=True)
        return self.head(self.pool(out).flatten(1))


class _BatchNormAct(nn.BatchNorm1d):
    """timm's BatchNormAct2d: a norm that applies its own activation."""

    def __init__(self, features: int) -> None:
        super().__init__(features)
        self.act = nn.SiLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(super().forward(x))


class _ConvNormAct(nn.Module):
    """timm's ConvNormAct: a "norm" by its name that holds the layer and a BatchNormAct."""

    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Linear(4, 8), _BatchNormAct(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_detection_follows_in_place_ops_and_norms_with_activations(method: str) -> None:
    x = torch.randn(2, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    found = detect_activations(_Residual(), x, method=method)
    assert found["conv"].name == "relu" and found["head"].name == "linear"
    # In-place ReLU then pooling: the pooling consumes the activation, not the conv.
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(inplace=True), nn.MaxPool2d(2))
    assert detect_activations(model, x, method=method)["0"].name == "relu"
    if method == "hooks":  # BatchNorm1d's input check does not trace (timm's norms do)
        model = nn.Sequential(nn.Linear(4, 8), _BatchNormAct(8), nn.Linear(8, 2))
        found = detect_activations(model, torch.ones(2, 4), method=method)
        assert found["0"].name == "silu" and found["2"].name == "linear"
        model = nn.Sequential(_ConvNormAct(), nn.Linear(8, 2))
        found = detect_activations(model, torch.ones(2, 4), method=method)
        assert found["0.conv"].name == "silu" and found["1"].name == "linear"


class _Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.hardtanh(self.a(x), -2.0, max_val=3.0)
        x = F.softplus(self.b(x), beta=2.0)
        return F.hardsigmoid(self.c(x))


@pytest.mark.parametrize("method", ["fx", "hooks"])
def test_detected_activations_carry_their_parameters(method: str) -> None:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    model = nn.Sequential(
        nn.Linear(4, 4),
        nn.Hardtanh(-2.0, 2.0),
        nn.Linear(4, 4),
        nn.Hardsigmoid(),
        nn.Linear(4, 4),
        nn.Tanhshrink(),
        nn.Linear(4, 4),
        nn.Softplus(beta=3.0),
    )
    found = detect_activations(model, x, method=method)
    assert found["0"].name == "hardtanh" and found["0"].params == {"min_val": -2.0, "max_val": 2.0}
    assert found["2"].name == "hardsigmoid" and found["4"].name == "tanhshrink"
    assert found["6"].params == {"beta": 3.0, "threshold": 20.0}
    found = detect_activations(_Functional(), x, method=method)
    assert found["a"].params == {"min_val": -2.0, "max_val": 3.0}
    assert found["b"].name == "softplus" and found["b"].params == {"beta": 2.0, "threshold": 20.0}
    assert found["c"].name == "hardsigmoid"
    assert gain("hardtanh", **found["a"].params) != pytest.approx(gain("hardtanh"))


def test_auto_detection_never_raises_on_the_models_behalf() -> None:
    class Broken(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("bug in the model")

    # The user's own input failing is the user's to fix: named, not swallowed.
    with pytest.raises(ValueError, match=r"example_input \(1, 4\): the model's forward failed"):
        detect_activations(Broken(), torch.zeros(1, 4))
    found = detect_activations(Broken())
    assert found["fc"].name is None
    assert "the model raised RuntimeError: bug in the model" in found["fc"].reason
    found = detect_activations(_UntraceableBN())
    assert found["fc"].method == "none" and found["fc"].name is None
    assert found["fc"].reason.startswith("torch.fx could not trace the model: TraceError")
