"""Verdicts on deliberate inits, symmetric units, advice, and the Jacobian's rank.

Each check beside a negative control: the deliberate choice is not an error, the
same numbers where they are a problem still are.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import initlab
from initlab.doctor import Diagnosis, DoctorConfig, diagnose

CONFIG = DoctorConfig(seed=0)


def errors(d: Diagnosis) -> list[str]:
    return [f"{f.statistic}: {f.message}" for f in d.findings if f.severity == "error"]


def problems(d: Diagnosis) -> list[str]:
    return [f"{f.statistic}: {f.message}" for f in d.findings if f.severity in ("warning", "error")]


def he_mlp(width: int, depth: int = 3, seed: int = 0) -> nn.Sequential:
    generator = initlab.rng.seeded_generator(seed, "verdict-tests")
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        initlab.kaiming_normal_(linear.weight, nonlinearity="relu", generator=generator)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers)


# -- symmetric units ---------------------------------------------------------------------
@pytest.mark.parametrize("width", [32, 256, 512])
def test_constant_layer_is_symmetric_at_any_width(width: int) -> None:
    # cdist in matrix-product mode gave 4e-4 between identical rows: missed at 256 and 512.
    model = he_mlp(width)
    nn.init.constant_(model[2].weight, 0.01)
    d = diagnose(model, config=CONFIG)
    (found,) = [f for f in d.findings if f.statistic == "dup_unit_frac"]
    assert found.severity == "error" and found.layers == ("2",) and found.value == 1.0
    assert "stay identical under gradient descent" in found.message
    assert not [
        f for f in diagnose(he_mlp(width), config=CONFIG).findings if f.statistic == "dup_unit_frac"
    ]


def test_equal_weights_with_different_biases_are_not_symmetric() -> None:
    model = he_mlp(16)
    nn.init.constant_(model[2].weight, 0.1)
    with torch.no_grad():
        model[2].bias.copy_(torch.linspace(-1, 1, 16))
    rows = diagnose(model, config=CONFIG).layers()
    assert rows[2]["params"]["weight"]["dup_unit_frac"] == 0.0
    with torch.no_grad():
        model[2].bias[1] = model[2].bias[0]  # now units 0 and 1 are twins
    rows = diagnose(model, config=CONFIG).layers()
    assert rows[2]["params"]["weight"]["dup_unit_frac"] == pytest.approx(2 / 16)


def test_only_units_of_one_group_can_be_symmetric() -> None:
    conv = nn.Conv2d(4, 4, 3, groups=2, bias=False)
    with torch.no_grad():  # group 0's two units equal each other; group 1's differ
        conv.weight.copy_(torch.arange(4 * 2 * 9, dtype=torch.float32).reshape(4, 2, 3, 3))
        conv.weight[1] = conv.weight[0]
    rows = diagnose(nn.Sequential(conv), config=CONFIG).layers()
    assert rows[0]["params"]["weight"]["dup_unit_frac"] == pytest.approx(2 / 4)
    with torch.no_grad():  # units equal across groups see different inputs: not symmetric
        conv.weight.copy_(
            torch.arange(2 * 2 * 9, dtype=torch.float32).reshape(2, 2, 3, 3).repeat(2, 1, 1, 1)
        )
    rows = diagnose(nn.Sequential(conv), config=CONFIG).layers()
    assert rows[0]["params"]["weight"]["dup_unit_frac"] == 0.0


def test_depthwise_units_constant_gains_and_embeddings_are_not_compared() -> None:
    model = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.GroupNorm(2, 8))
    nn.init.constant_(model[0].weight, 0.1)  # one scalar kernel per channel, all equal
    d = diagnose(model, config=CONFIG)
    assert not [f for f in d.findings if f.statistic == "dup_unit_frac"]
    embed = nn.Sequential(nn.Embedding(10, 8), nn.Linear(8, 8))
    nn.init.constant_(embed[0].weight, 0.5)
    d = diagnose(embed, config=CONFIG)
    assert not [f for f in d.findings if f.statistic == "dup_unit_frac" and f.layers == ("0",)]


# -- deliberate inits --------------------------------------------------------------------
class Bottleneck(nn.Module):
    def __init__(self, width: int, zero_last: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        for conv in (self.conv1, self.conv2):  # torchvision: He fan_out
            nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
        if zero_last:  # torchvision's zero_init_residual
            nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + x)


def resnet(zero_last: bool, head_zero: bool) -> nn.Module:
    torch.manual_seed(0)  # test-only model construction
    blocks = nn.Sequential(*[Bottleneck(8, zero_last) for _ in range(3)])
    head = nn.Linear(8, 5)
    if head_zero:
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
    stem = nn.Conv2d(3, 8, 3, padding=1)
    nn.init.kaiming_normal_(stem.weight, mode="fan_out", nonlinearity="relu")
    return nn.Sequential(stem, nn.ReLU(), blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), head)


def test_zero_init_residual_and_zero_head_are_not_errors() -> None:
    d = diagnose(resnet(zero_last=True, head_zero=True), config=CONFIG)
    assert not problems(d), problems(d)
    infos = [f for f in d.findings if f.statistic == "weight_zero"]
    assert {f.layers[0] for f in infos} >= {"5", "2.0.bn2"}


def test_zero_hidden_layer_still_vanishes() -> None:
    # Negative control: a zero layer outside any residual block kills the signal after it.
    model = he_mlp(32, depth=4)
    nn.init.zeros_(model[2].weight)
    d = diagnose(model, config=CONFIG)
    assert any(f.statistic == "act_std" and f.severity == "error" for f in d.findings)


class ScaledBlock(nn.Module):
    """ConvNeXt-style: depthwise conv, LayerNorm, MLP, layer scale gamma (1e-6)."""

    def __init__(self, dim: int, gamma: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), gamma))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.norm(y)))) * self.gamma
        return x + y.permute(0, 3, 1, 2)


def test_layer_scale_is_judged_against_the_residual_stream() -> None:
    torch.manual_seed(0)  # test-only model construction
    model = nn.Sequential(nn.Conv2d(3, 16, 4, stride=4), *[ScaledBlock(16, 1e-6) for _ in range(3)])
    d = diagnose(model, torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)))
    assert not problems(d), problems(d)


def test_small_branch_ends_are_info_against_a_healthy_stream() -> None:
    torch.manual_seed(0)  # test-only model construction
    blocks = [Bottleneck(8, zero_last=False) for _ in range(3)]
    for block in blocks:  # branch output 1e-4 of the stream: deliberate, e.g. a tiny BN gain
        nn.init.constant_(block.bn2.weight, 1e-4)
    d = diagnose(
        nn.Sequential(*blocks), torch.randn(2, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    )
    assert not problems(d), problems(d)
    assert any(f.severity == "info" and "residual stream" in f.message for f in d.findings)


def test_softmax_over_one_token_is_not_vanishing() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.Softmax(dim=1))
    d = diagnose(model, torch.randn(4, 1, 8, generator=torch.Generator().manual_seed(0)))
    assert not problems(d), problems(d)


class SetsRequiresGrad(nn.Module):
    """Like HF Wav2Vec2's feature encoder: flips requires_grad on a view of its input."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x[:, None]
        if self.training:
            h.requires_grad = True
        return self.fc(h)


def test_model_that_sets_requires_grad_on_its_input_runs() -> None:
    d = diagnose(SetsRequiresGrad(), torch.randn(4, 8, generator=torch.Generator().manual_seed(0)))
    assert d.layers()[0]["grad_norm"] > 0


def test_token_reference_is_robust_to_a_tiny_embedding() -> None:
    # RWKV: embedding at 1e-4 into a LayerNorm; the rest is healthy.
    torch.manual_seed(0)  # test-only model construction
    model = nn.Sequential(nn.Embedding(50, 32), nn.LayerNorm(32), nn.Linear(32, 32), nn.GELU())
    nn.init.uniform_(model[0].weight, -1e-4, 1e-4)
    d = diagnose(model, config=CONFIG)
    assert not problems(d), problems(d)


# -- advice --------------------------------------------------------------------------------
def test_he_fan_out_is_he() -> None:
    d = diagnose(resnet(zero_last=False, head_zero=False), config=CONFIG)
    assert not any("Xavier" in f.recommendation for f in d.findings)
    from initlab.doctor._verdicts import guess_scheme, matches_recommended

    fan_in, fan_out = 8 * 9.0, 32 * 9.0
    assert guess_scheme(math.sqrt(2 / fan_out), fan_in, fan_out) == "He fan_out (std √(2/fan_out))"
    assert matches_recommended(math.sqrt(2 / fan_out), "relu", {}, (fan_in, fan_out))
    assert not matches_recommended(math.sqrt(1 / (3 * fan_in)), "relu", {}, (fan_in, fan_in))


def test_one_default_head_does_not_outvote_twenty_layers() -> None:
    generator = initlab.rng.seeded_generator(0, "advice")
    layers: list[nn.Module] = []
    for _ in range(20):
        linear = nn.Linear(64, 64)
        initlab.normal_(linear.weight, std=0.01, generator=generator)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh()]
    head = nn.Linear(64, 10)
    bound = 1 / math.sqrt(64)
    initlab.uniform_(head.weight, -bound, bound, generator=generator)  # PyTorch's default scale
    d = diagnose(nn.Sequential(*layers, head), config=CONFIG)
    advice = {f.recommendation for f in d.findings if f.statistic in ("act_std", "grad_norm")}
    assert advice, d.findings
    for text in advice:
        assert "PyTorch's default" not in text
        assert "followed by tanh" in text and "matches no common scheme" in text
        assert "xavier_uniform_" in text


def test_no_advice_to_switch_when_the_scheme_already_matches() -> None:
    from initlab.doctor._verdicts import _advice

    d = diagnose(he_mlp(64, depth=6), config=CONFIG)
    assert "already have the recommended scale (he_normal)" in _advice(d.layers())


# -- Jacobian --------------------------------------------------------------------------------
def test_jacobian_rank_is_the_output_size_and_zeros_are_dropped() -> None:
    torch.manual_seed(0)  # test-only model construction
    model = nn.Sequential(nn.Linear(40, 64), nn.Tanh(), nn.Linear(64, 10))
    d = diagnose(model, config=DoctorConfig(seed=0, jacobian_steps=24))
    data = d.to_dict()
    assert len(data["jacobian_sv"]) == 10 and data["jacobian_rank"] == 10
    assert min(data["jacobian_sv"]) > 1e-3 * max(data["jacobian_sv"])


def test_deep_tanh_jacobian_does_not_stop_after_one_step() -> None:
    generator = initlab.rng.seeded_generator(0, "deep-tanh")
    layers: list[nn.Module] = []
    for _ in range(20):
        linear = nn.Linear(32, 32, bias=False)
        initlab.normal_(linear.weight, std=0.01, generator=generator)
        layers += [linear, nn.Tanh()]
    d = diagnose(nn.Sequential(*layers), config=DoctorConfig(seed=0, jacobian_steps=12))
    sv = d.to_dict()["jacobian_sv"]
    # Each layer scales by about 0.01·√32 ≈ 0.06: σ ≈ 1e-24, whose square underflows float32.
    assert len(sv) > 1 and 0 < sv[0] < 1e-20


class _ResBlock(nn.Module):
    def __init__(self, d: int) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(x)))


class _ResNet(nn.Module):
    def __init__(self, d: int = 64, n: int = 16) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(_ResBlock(d) for _ in range(n))
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x)


def test_growing_residual_stream_recommends_depth_aware_schemes() -> None:
    from initlab.doctor import DoctorConfig, diagnose
    from initlab.rules import init_model

    net, x = _ResNet(), torch.randn(128, 64, generator=torch.Generator().manual_seed(0))
    init_model(net, [{"scheme": "he_normal", "role": "weight"}, {"scheme": "zeros"}], seed=0)
    found = [f for f in diagnose(net, x, config=DoctorConfig(seed=0)).findings
             if f.statistic == "act_second_moment"]  # fmt: skip
    assert len(found) == 1 and "per block" in found[0].message
    assert "'fixup' preset" in found[0].recommendation
    # Negative control: the branches' last layers at zero keep the stream flat.
    rules = [{"scheme": "zeros", "name": "*.fc2.weight"}, {"scheme": "he_normal", "role": "weight"},
             {"scheme": "zeros"}]  # fmt: skip
    init_model(net, rules, seed=0)
    found = [f for f in diagnose(net, x, config=DoctorConfig(seed=0)).findings
             if f.statistic == "act_second_moment"]  # fmt: skip
    assert not found


def test_residual_branches_are_found_and_their_scale_reported() -> None:
    from initlab.doctor import DoctorConfig, diagnose
    from initlab.rules import init_model

    class Block(nn.Module):  # a torchvision-style block name: found by initlab.residual
        def __init__(self, d: int) -> None:
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(d, d, 3, padding=1), nn.Conv2d(d, d, 3, padding=1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.conv2(torch.relu(self.conv1(x)))

    net = nn.Sequential(*[Block(8) for _ in range(4)])
    x = torch.randn(4, 8, 8, 8, generator=torch.Generator().manual_seed(0))
    init_model(net, "fixup", seed=0)
    found = [f for f in diagnose(net, x, config=DoctorConfig(seed=0)).findings
             if f.statistic == "residual_branches"]  # fmt: skip
    assert len(found) == 1 and "L = 4, m = 2" in found[0].message
    assert found[0].value == 0.0  # Fixup zeroes every branch's last layer
    plain = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))  # negative control
    d = diagnose(plain, torch.randn(8, 4), config=DoctorConfig(seed=0))
    assert not [f for f in d.findings if f.statistic == "residual_branches"]


# -- training mode, norm scales, pass-through rows, gates (issue 10) ----------------------
def conv_bn_net(depth: int, *, gain_std: float | None, eps: float = 1e-5, seed: int = 0):
    """depth × (Conv 3×3 std 0.02, BatchNorm, ReLU): HF's std-0.02 convs behind BatchNorms.

    ``gain_std``: BatchNorm weights drawn N(0, gain_std) (HF EfficientNet/MobileViT in
    transformers 5); None keeps PyTorch's 1.
    """
    generator = torch.Generator().manual_seed(seed)
    layers: list[nn.Module] = []
    for i in range(depth):
        conv = nn.Conv2d(3 if i == 0 else 16, 16, 3, padding=1, bias=False)
        bn = nn.BatchNorm2d(16, eps=eps)
        with torch.no_grad():
            conv.weight.normal_(0, 0.02, generator=generator)
            if gain_std is not None:
                bn.weight.normal_(0, gain_std, generator=generator)
        layers += [conv, bn, nn.ReLU()]
    return nn.Sequential(*layers, nn.Dropout(0.5))


def test_batchnorm_uses_batch_statistics_and_the_model_is_left_as_found() -> None:
    # In eval mode a fresh BatchNorm is the identity and the std-0.02 convs would shrink
    # the signal 0.02·√144 ≈ 0.24× per layer; training normalizes with batch statistics.
    model = conv_bn_net(8, gain_std=None).eval()
    model[1].train()  # mixed modes come back as they were
    before = {k: v.clone() for k, v in model.state_dict().items()}
    d = diagnose(model, torch.randn(4, 3, 8, 8), config=CONFIG)
    assert not problems(d), problems(d)
    assert [m.training for m in model.modules()] == [False, False, True] + [False] * 23
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    # The model's own modes, on request: the eval-mode identity BatchNorms let it vanish.
    as_is = diagnose(model, torch.randn(4, 3, 8, 8), config=DoctorConfig(train_mode=False))
    assert "error" in [f.severity for f in as_is.findings if f.statistic == "act_std"]


def test_dropout_is_off_during_the_probe() -> None:
    model = nn.Sequential(nn.Linear(16, 16), nn.Dropout(0.9), nn.Linear(16, 16))
    d = diagnose(model, config=CONFIG)
    rows = {r["name"]: r for r in d.layers()}
    assert rows["1"]["act_std"] == rows["0"]["act_std"]  # a copy, not 90 % zeros
    assert model.training and model[1].training


def test_plain_net_with_std_002_weights_still_vanishes() -> None:
    # Negative control: no normalization, nothing rescues the signal.
    model = nn.Sequential(*[m for _ in range(8) for m in (nn.Linear(64, 64), nn.ReLU())])
    for layer in model[::2]:
        nn.init.normal_(layer.weight, 0, 0.02)
        nn.init.zeros_(layer.bias)
    d = diagnose(model, config=CONFIG)
    assert "error" in [f.severity for f in d.findings if f.statistic == "act_std"]


def test_small_random_norm_scales_vanish_and_the_advice_names_them() -> None:
    # HF EfficientNet (transformers 5) draws BatchNorm weights from N(0, 0.02) and uses
    # eps 1e-3: once the variance is below eps a BatchNorm no longer normalizes, and
    # every norm multiplies by ≈0.02. A true positive, in training mode too.
    d = diagnose(conv_bn_net(8, gain_std=0.02, eps=1e-3), torch.randn(4, 3, 8, 8), config=CONFIG)
    (found,) = [f for f in d.findings if f.statistic == "act_std" and f.severity == "error"]
    assert "8 of 8 normalization layers have small scales" in found.recommendation
    assert "initlab.ones_" in found.recommendation
    # The same net with PyTorch's unit scales is healthy, and its advice never says so.
    fine = diagnose(conv_bn_net(8, gain_std=None, eps=1e-3), torch.randn(4, 3, 8, 8), config=CONFIG)
    assert not problems(fine), problems(fine)


def test_zero_scale_inside_a_norm_with_children_is_deliberate() -> None:
    # timm's BatchNormAct2d is a BatchNorm with children (drop, act): its zero-initialized
    # scale (zero_init_last) shows only in its children's rows and the Identity after it.
    class NormAct(nn.BatchNorm2d):
        def __init__(self, channels: int) -> None:
            super().__init__(channels)
            self.drop = nn.Identity()
            self.act = nn.Identity()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.drop(super().forward(x)))

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(8, 8, 3, padding=1)
            self.bn = NormAct(8)
            self.drop_path = nn.Identity()
            nn.init.zeros_(self.bn.weight)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x + self.drop_path(self.bn(self.conv(x)))

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Sequential(Block(), Block()))
    d = diagnose(model, torch.randn(2, 3, 8, 8), config=CONFIG)
    assert not errors(d), errors(d)


def test_squeeze_excitation_gate_near_constant_is_not_vanishing() -> None:
    class SE(nn.Module):
        def __init__(self, channels: int, std: float) -> None:
            super().__init__()
            self.reduce = nn.Conv2d(channels, 4, 1)
            self.act = nn.SiLU()
            self.expand = nn.Conv2d(4, channels, 1)
            self.gate = nn.Sigmoid()
            nn.init.normal_(self.expand.weight, 0, std)
            nn.init.zeros_(self.expand.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            pooled = x.mean((2, 3), keepdim=True)
            return x * self.gate(self.expand(self.act(self.reduce(pooled))))

    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), SE(16, 1e-4))
    d = diagnose(model, torch.randn(2, 3, 8, 8), config=CONFIG)
    assert not errors(d), errors(d)
    # Negative control: the gate's gradients are still judged (a deep sigmoid net vanishes).
    deep = nn.Sequential(*[m for _ in range(12) for m in (nn.Linear(32, 32), nn.Sigmoid())])
    for layer in deep[::2]:
        nn.init.normal_(layer.weight, 0, 0.05)
    found = diagnose(deep, config=CONFIG).findings
    assert "error" in [f.severity for f in found if f.statistic == "grad_norm"]


class _ClassAttention(nn.Module):
    """Like timm's CaiT class-attention block: the token stream reaches the class token only
    through a branch multiplied by a layer scale ``gamma`` (CaiT: 1e-5)."""

    def __init__(self, width: int, gamma: float) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.proj = nn.Linear(width, width)
        self.gamma = nn.Parameter(torch.full((width,), gamma))
        self.drop_path = nn.Identity()

    def forward(self, tokens: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        return cls + self.drop_path(self.gamma * self.proj(self.norm(tokens).mean(1)))


class _HandOver(nn.Module):
    def __init__(self, width: int, depth: int, std: float | None, gamma: float) -> None:
        super().__init__()
        self.embed = nn.Linear(16, width)
        layers = [m for _ in range(depth) for m in (nn.Linear(width, width), nn.Tanh())]
        self.body = nn.Sequential(*layers)
        for layer in self.body[::2] if std is not None else []:
            nn.init.normal_(layer.weight, 0, std)
        self.cls = nn.Parameter(
            0.02 * torch.randn(1, width, generator=torch.Generator().manual_seed(1))
        )
        self.blocks = nn.ModuleList([_ClassAttention(width, gamma) for _ in range(2)])
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.body(self.embed(x))
        cls = self.cls.expand(x.shape[0], -1)
        for block in self.blocks:
            cls = block(tokens, cls)
        return self.head(self.norm(cls))


def _hand_over(seed: int, **kwargs: Any) -> _HandOver:
    """Built under a fixed seed (its layers' default init reads the global RNG, which the
    order of tests under xdist would otherwise decide); the caller's RNG state is kept."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return _HandOver(32, **kwargs)


def test_gradient_through_a_layer_scaled_hand_over_is_info() -> None:
    x = torch.randn(4, 8, 16, generator=torch.Generator().manual_seed(0))
    d = diagnose(_hand_over(0, depth=2, std=None, gamma=1e-5), x, config=CONFIG)
    assert not problems(d), problems(d)
    (found,) = [f for f in d.findings if f.statistic == "grad_norm"]
    assert found.severity == "info" and ".gamma (RMS 1e-05)" in found.message
    # Negative controls: the same hand-over after a deep std-0.02 tanh stack still vanishes
    # (one hand-over's worth is explained, not the rest) ...
    deep = diagnose(_hand_over(0, depth=8, std=0.02, gamma=1e-5), x, config=CONFIG)
    assert "error" in [f.severity for f in deep.findings if f.statistic == "grad_norm"]
    # ... and a hand-over scaled by a fixed constant, not a parameter the author set, is
    # not excused: nothing says the 1e-5 is deliberate (a warning or an error, not info).
    fixed = _hand_over(0, depth=2, std=None, gamma=1e-5)
    for block in fixed.blocks:
        scale = block.gamma.detach().clone()
        del block.gamma
        block.register_buffer("gamma", scale)
    d = diagnose(fixed, x, config=CONFIG)
    severities = [f.severity for f in d.findings if f.statistic == "grad_norm"]
    assert len(severities) == 1 and severities[0] in ("warning", "error")
