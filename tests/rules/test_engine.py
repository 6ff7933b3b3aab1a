"""The rules engine: module layouts, plan std = drawn std, in-place writes, frozen
parameters, lazy activation tracing, meta buffers, partial-write errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initlab
from initlab.rules import init_model
from initlab.rules._fills import SchemeFill
from initlab.rules._write import PartialWriteError


def _deconv_model(groups: int = 1) -> nn.Module:
    return nn.Sequential(nn.ConvTranspose2d(64, 8 * groups, 4, groups=groups), nn.ReLU())


@pytest.mark.parametrize("rules", ["auto", [{"scheme": "he_normal"}, {"scheme": "zeros"}]])
def test_conv_transpose_fans_come_from_the_transposed_layout(rules: object) -> None:
    # ConvTranspose2d(64, 8, 4) stores (in=64, out=8, 4, 4): fan_in = 64 * 16 = 1024.
    plan = init_model(_deconv_model(), rules, seed=0, dry_run=True)
    entry = plan["0.weight"]
    assert entry.fans == {"fan_in": 1024, "fan_out": 128, "receptive_field": 16}
    assert entry.std == pytest.approx(math.sqrt(2 / 1024))
    assert entry.layout is not None and "torch_transposed" in entry.layout


def test_grouped_conv_transpose_and_grouped_conv_fans() -> None:
    plan = init_model(_deconv_model(groups=4), "auto", seed=0, dry_run=True)
    # (in=64, out/groups=8, 4, 4): each output sees 64/4 input channels.
    assert plan["0.weight"].fans == {"fan_in": 256, "fan_out": 128, "receptive_field": 16}
    conv = nn.Sequential(nn.Conv2d(16, 32, 3, groups=4), nn.ReLU())
    plan = init_model(conv, [{"scheme": "he_normal", "args": {"mode": "fan_out"}}], dry_run=True)
    # (out=32, in/groups=4, 3, 3): each input channel feeds 32/4 outputs.
    assert plan["0.weight"].fans == {"fan_in": 36, "fan_out": 72, "receptive_field": 9}


def test_drawn_values_follow_the_transposed_fans() -> None:
    model = nn.Sequential(nn.ConvTranspose2d(256, 64, 4), nn.ReLU())
    plan = init_model(model, "auto", seed=0)
    drawn = model[0].weight.std().item()
    assert drawn == pytest.approx(plan["0.weight"].std, rel=0.02)
    # Negative control: the plain-conv reading of the axes gives fan_in 64 * 16.
    assert drawn != pytest.approx(math.sqrt(2 / (64 * 16)), rel=0.02)


def _zoo() -> dict[str, nn.Module]:
    return {
        "mlp": nn.Sequential(nn.Linear(300, 400), nn.Tanh(), nn.Linear(400, 200), nn.GELU()),
        "cnn": nn.Sequential(
            nn.Conv2d(16, 64, 3), nn.ReLU(), nn.Conv2d(64, 64, 3, groups=8), nn.SiLU()
        ),
        "deconv": nn.Sequential(nn.ConvTranspose2d(128, 32, 4), nn.LeakyReLU(0.2)),
        "attention": nn.MultiheadAttention(128, 4),
        "lstm": nn.LSTM(64, 128),
        "embedding": nn.Embedding(500, 64, padding_idx=0),
    }


_MATRICES = ["weight", "attention_in_proj", "recurrent_input", "recurrent_hidden", "embedding"]
_SCHEMES = [
    "auto",
    "torch-default",
    *(
        [{"scheme": scheme, "role": _MATRICES}, {"scheme": "torch_default"}]
        for scheme in ("xavier_normal", "lecun_uniform", "he_truncated_normal", "orthogonal")
    ),
]


def _sampling_tolerance(numel: int) -> float:
    # The sample std of n draws has relative sd ≈ 1/sqrt(2n) (heavier for uniform
    # mixtures); 6 of those is a 1e-9 false-alarm rate.
    return 6 / math.sqrt(2 * numel) + 1e-3


@pytest.mark.parametrize(
    "rules", _SCHEMES, ids=lambda r: r if isinstance(r, str) else r[0]["scheme"]
)
@pytest.mark.parametrize("name", list(_zoo()))
def test_plan_std_equals_drawn_std(name: str, rules: object) -> None:
    model = _zoo()[name]
    plan = init_model(model, rules, seed=3, default="keep")
    tensors = dict(model.named_parameters())
    checked = 0
    for entry in plan:
        value = tensors.get(entry.name)
        if value is None or entry.std is None or entry.tied_to or value.numel() < 256:
            continue
        drawn = value.detach().double()
        if entry.note.startswith("padding_idx"):
            drawn = torch.cat([drawn[:0], drawn[1:]])
        std = drawn.std(unbiased=False).item()
        tol = _sampling_tolerance(drawn.numel())
        assert std == pytest.approx(entry.std, rel=tol, abs=1e-12), (entry.name, entry.scheme)
        if tol < 0.04:  # negative control: a std off by 10 % must be told apart
            assert std != pytest.approx(1.1 * entry.std, rel=tol), entry.name
        checked += 1
    assert checked >= 1


def test_writes_happen_in_place() -> None:
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 8))
    pointers = {n: p.data_ptr() for n, p in model.named_parameters()}
    init_model(model, "auto", seed=0)
    assert {n: p.data_ptr() for n, p in model.named_parameters()} == pointers


def test_non_contiguous_parameter_gets_the_contiguous_draw() -> None:
    a, b = nn.Linear(8, 16), nn.Linear(8, 16)
    b.weight = nn.Parameter(torch.empty(8, 16).t())  # same shape, transposed strides
    rules = [{"scheme": "he_normal", "role": "weight"}, {"scheme": "zeros"}]
    init_model(a, rules, seed=0)
    # Same qualified names, same seed: the values must not depend on the strides.
    init_model(b, rules, seed=0)
    assert torch.equal(a.weight, b.weight)


def test_failure_midway_names_what_was_written(monkeypatch: pytest.MonkeyPatch) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4))
    original = SchemeFill.write_
    calls = []

    def flaky(self: SchemeFill, tensor: torch.Tensor, generator: object, *, parity: bool) -> bool:
        calls.append(1)
        if len(calls) == 3:
            raise MemoryError("simulated out of memory")
        return original(self, tensor, generator, parity=parity)  # type: ignore[arg-type]

    monkeypatch.setattr(SchemeFill, "write_", flaky)
    with pytest.raises(
        PartialWriteError, match=r"after writing 2 of 6 tensors \(0.weight, 0.bias\)"
    ):
        init_model(model, "auto", seed=0)


def test_frozen_parameters_are_kept_unless_a_rule_names_them() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    model[0].weight.requires_grad_(False)
    before = model[0].weight.detach().clone()
    plan = init_model(model, "auto", seed=0)
    assert plan["0.weight"].role == "frozen" and plan["0.weight"].source == "kept"
    assert "frozen" in plan["0.weight"].note
    assert torch.equal(model[0].weight, before)
    rules = [{"scheme": "zeros", "role": "frozen"}, {"scheme": "torch_default"}]
    init_model(model, rules, seed=0)
    assert torch.count_nonzero(model[0].weight) == 0
    model[0].weight.data.fill_(3.0)
    init_model(model, [{"scheme": "zeros", "name": "0.weight"}, {"scheme": "torch_default"}])
    assert torch.all(model[0].weight == 3.0)  # a name alone does not reach it


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this model checks its arguments and refuses tracing")


@pytest.mark.parametrize(
    "rules", ["torch-default", "gpt2", [{"scheme": "xavier_uniform", "role": "weight"}]]
)
def test_rules_that_ignore_activations_never_run_the_model(rules: object) -> None:
    plan = init_model(_Untraceable(), rules, seed=0, default="keep")
    assert plan.applied and plan["fc.weight"].activation is None


def test_meta_non_persistent_buffer_without_a_rule_fails_naming_it() -> None:
    with torch.device("meta"):
        model = nn.Linear(4, 4)
        model.register_buffer("inv_freq", torch.ones(2), persistent=False)
    plan = init_model(model, "auto", seed=0, device="cpu", dry_run=True)
    assert any(e.startswith("inv_freq: meta buffer with no values") for e in plan.errors)
    rules = [{"scheme": "ones", "role": "buffer"}, {"scheme": "torch_default"}]
    init_model(model, rules, seed=0, device="cpu")
    assert torch.equal(model.inv_freq, torch.ones(2))


class _RandomScale(nn.Module):
    """A layer scale its own init draws at random (no layer scheme can know it)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.gamma = nn.Parameter(torch.empty(4))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.gamma.uniform_(0.1, 0.2)


def test_meta_random_own_values_follow_the_seed() -> None:
    """Recomputed on materialization from a stream of the run's seed, not a fixed one."""

    def gamma(seed: int) -> torch.Tensor:
        with torch.device("meta"):
            model = _RandomScale()
        rules = [{"scheme": "zeros", "module": "Linear"}]
        init_model(model, rules, seed=seed, device="cpu", default="keep")
        return model.gamma.detach().clone()

    first = gamma(1)
    assert bool(((first >= 0.1) & (first <= 0.2)).all())
    assert torch.equal(first, gamma(1))
    assert not torch.equal(first, gamma(2))  # was the same stream whatever the seed


def test_special_schemes_share_one_registry() -> None:
    from initlab.rules import BUILTIN_SCHEMES
    from initlab.rules._fills import SPECIAL_SCHEMES

    assert (
        set(BUILTIN_SCHEMES)
        == set(SPECIAL_SCHEMES)
        == {"keep", "lstm_forget_bias", "torch_default"}
    )
    assert initlab.Rule(scheme="keep").build() is None


def test_wrapped_models_give_the_bare_models_names_and_weights() -> None:
    bare = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
    wrapped = nn.DataParallel(nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)))
    a = init_model(bare, "auto", seed=5)
    b = init_model(wrapped, "auto", seed=5)
    assert (
        [e.name for e in a] == [e.name for e in b] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    )
    assert b["0.weight"].activation == "relu"
    assert torch.equal(bare[0].weight, wrapped.module[0].weight)


def test_a_list_of_layers_is_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match=r"is a list, not a torch.nn.Module.*nn.Sequential"):
        init_model([nn.Linear(2, 2)], "auto")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "error", "match"),
    [
        ({"scheme": "zeros", "module": 3}, TypeError, r"module=3 must be a non-empty string"),
        ({"scheme": "zeros", "args": [1]}, TypeError, r"args=\[1\] must be a dict"),
        ({"scheme": "normal", "args": "std=1"}, TypeError, r"args='std=1' must be a dict"),
        ({"scheme": "zeros", "name": "[0.weight"}, ValueError, r"unclosed '\['.*'\[\[\]'"),
    ],
)
def test_malformed_rules_are_refused(rule: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        initlab.Rule.from_dict(rule)


def test_rules_that_initialize_nothing_warn_but_preset_rules_do_not() -> None:
    model = nn.Sequential(nn.Linear(4, 4))
    rules = [{"scheme": "ones", "name": "0.wieght"}, {"scheme": "zeros"}]
    with pytest.warns(initlab.rules.UnusedRuleWarning, match=r"rule #0 .*0.wieght.*no tensor"):
        plan = init_model(model, rules, seed=0)
    assert any("rule #0" in w for w in plan.warnings)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        init_model(model, "auto", seed=0)  # auto's LSTM/MHA rules stay unused: no warning


def test_norm_types_naming_no_module_warn() -> None:
    with pytest.warns(UserWarning, match=r"norm_types entry 'Nope' matches no module"):
        init_model(nn.Linear(2, 2), "auto", seed=0, norm_types=["Nope"])
