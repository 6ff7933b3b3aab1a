"""Rules, plans, coverage, atomicity, ties, reproducibility and serialization."""

from __future__ import annotations

import json
import warnings

import pytest
import torch
from tests.rules.models_zoo import (
    MLP,
    ZOO,
    LSTMTagger,
    ResNetTiny,
    TiedLM,
    TinyTransformer,
    shared_sequential,
)
from torch import nn

import initlab
from initlab.rules import (
    Rule,
    RuleSet,
    TieConflictWarning,
    init_model,
    load_rules,
    parameter_role,
    save_rules,
)

BASIC = [
    {"scheme": "he_normal", "module": "Linear", "role": "weight"},
    {"scheme": "zeros", "role": "bias"},
]
NORMS = [{"scheme": "ones", "role": "norm_scale"}, {"scheme": "zeros", "role": "norm_shift"}]


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_first_match_wins_and_plan_columns() -> None:
    model = MLP()
    rules = [{"scheme": "zeros", "name": "fc1.weight"}, *BASIC]
    plan = init_model(model, rules, seed=1, example_input=torch.randn(2, 16))
    assert plan["fc1.weight"].scheme == "zeros" and plan["fc1.weight"].rule_index == 0
    assert plan["fc2.weight"].scheme == "he_normal" and plan["fc2.weight"].rule_index == 1
    assert torch.count_nonzero(model.fc1.weight) == 0
    entry = plan["fc2.weight"]
    assert entry.fans == {"fan_in": 32, "fan_out": 32, "receptive_field": 1}
    assert entry.std == pytest.approx((2 / 32) ** 0.5)
    assert entry.layout == "torch" and entry.dtype == "float32" and entry.module_type == "Linear"
    assert plan["fc1.weight"].activation == "relu" and plan["fc2.weight"].activation == "gelu"


def test_plan_table_and_json() -> None:
    plan = init_model(MLP(), BASIC, seed=0, dry_run=True)
    text = str(plan)
    assert "fc1.weight" in text and "he_normal" in text and "seed: 0" in text
    records = json.loads(plan.to_json())
    assert [r["name"] for r in records] == [e.name for e in plan.entries]
    for key in ("name", "shape", "module", "rule", "scheme", "std", "activation", "tied_to"):
        assert key in records[0]
    assert records[0]["shape"] == [32, 16]


def test_dry_run_touches_nothing() -> None:
    model = MLP()
    before = _snapshot(model)
    plan = init_model(model, BASIC, seed=0, dry_run=True)
    assert _same(before, _snapshot(model)) and not plan.applied


def test_coverage_error_lists_every_uncovered_name() -> None:
    model = TinyTransformer()
    before = _snapshot(model)
    with pytest.raises(ValueError, match=r"matched no rule: .*embed\.weight.*norm\.weight"):
        init_model(model, BASIC, seed=0)
    assert _same(before, _snapshot(model))


def test_default_torch_keeps_pytorch_default_and_says_so() -> None:
    plan = init_model(TinyTransformer(), BASIC, seed=0, default="torch")
    assert "embed.weight" in plan.uncovered
    assert plan["embed.weight"].source == "torch-default"
    assert "no rule" in plan["embed.weight"].note
    assert "kept PyTorch default" in str(plan)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ([{"scheme": "he_normal", "role": "bias"}, *BASIC], r"0\.bias .*rule #0"),
        ([{"scheme": "he_normal", "args": {"mode": "fan_inn"}}], r"mode='fan_inn'"),
        (
            [
                {
                    "scheme": "orthogonal",
                    "name": "fc1.weight",
                    "layout": {"name": "torch", "chunks": 5},
                },
                *BASIC,
            ],
            r"chunks=5 does not divide axis 0 of size 32",
        ),
    ],
)
def test_atomic_on_failure(rules: list, message: str) -> None:
    model = MLP() if "fc1" in str(rules) else nn.Sequential(nn.Linear(3, 4))
    before = _snapshot(model)
    with pytest.raises(ValueError, match=message):
        init_model(model, rules, seed=0)
    assert _same(before, _snapshot(model))


def test_unknown_scheme_and_bad_rule_keys() -> None:
    with pytest.raises(ValueError, match="did you mean 'he_normal'"):
        Rule(scheme="he_norml")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['modul'\]"):
        Rule.from_dict({"scheme": "zeros", "modul": "Linear"})
    with pytest.raises(ValueError, match="role='weights' is not one of"):
        Rule(scheme="zeros", role="weights")
    with pytest.raises(TypeError, match="must be a preset name"):
        init_model(MLP(), 42, seed=0)


def test_reproducible_regardless_of_construction_order_and_other_params() -> None:
    a = MLP()
    init_model(a, BASIC, seed=7)
    b = nn.Module()
    b.out = nn.Linear(32, 4)  # constructed first, different siblings
    b.fc2 = nn.Linear(32, 32)
    b.extra = nn.Linear(3, 3)
    init_model(b, BASIC, seed=7)
    assert torch.equal(a.fc2.weight, b.fc2.weight) and torch.equal(a.out.weight, b.out.weight)
    c = MLP()
    init_model(c, BASIC, seed=8)
    assert not torch.equal(a.fc2.weight, c.fc2.weight)


def test_seed_none_is_recorded() -> None:
    plan = init_model(MLP(), BASIC)
    assert isinstance(plan.seed, int)


def test_keyed_rng_is_reproducible() -> None:
    a, b = MLP(), MLP()
    init_model(a, BASIC, seed=3, rng="keyed")
    init_model(b, BASIC, seed=3, rng="keyed")
    assert torch.equal(a.fc1.weight, b.fc1.weight)
    with pytest.raises(ValueError, match="rng='philox'"):
        init_model(MLP(), BASIC, seed=3, rng="philox")


def test_shared_linear_initialized_once_and_tie_in_plan() -> None:
    model = shared_sequential()
    plan = init_model(model, BASIC, seed=0)
    assert plan["4.weight"].tied_to == "2.weight" and plan["4.weight"].source == "tied"
    assert plan["2.weight"].tied_to is None
    assert model[2].weight is model[4].weight
    assert len(plan.entries) == 8


def test_tied_lm_conflicting_rules_warn_and_first_rule_wins() -> None:
    model = TiedLM()
    rules = [
        {"scheme": "normal", "args": {"std": 0.5}, "role": "embedding"},
        {"scheme": "xavier_uniform", "role": "weight"},
        {"scheme": "zeros", "role": "bias"},
        {"scheme": "ones", "role": "norm_scale"},
        {"scheme": "zeros", "role": "norm_shift"},
    ]
    with pytest.warns(TieConflictWarning, match="rule #0"):
        plan = init_model(model, rules, seed=0)
    assert plan["embed.weight"].scheme == "normal"
    assert plan["head.weight"].tied_to == "embed.weight"
    assert model.head.weight is model.embed.weight
    assert model.embed.weight.std().item() == pytest.approx(0.5, rel=0.1)


def test_a_presets_tie_choice_is_a_row_note_not_a_warning() -> None:
    """auto lets a tied LM head's rule win over the embedding's on purpose: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", TieConflictWarning)
        plan = init_model(TiedLM(), "auto", seed=0, dry_run=True)
    assert plan["embed.weight"].scheme == "variance_scaling"  # the head's rule
    assert "first in the preset's order" in plan["embed.weight"].note
    assert "head.weight" in plan["embed.weight"].note
    assert not plan.warnings
    users = [{"scheme": "normal", "role": "embedding"}, {"scheme": "he_normal"}]
    with pytest.warns(TieConflictWarning):  # negative control: the user's own rules warn
        init_model(TiedLM(), users, seed=0, dry_run=True, default="torch")


def test_roles() -> None:
    lstm, mha = nn.LSTM(3, 4), nn.MultiheadAttention(8, 2)
    assert parameter_role(lstm, "weight_hh_l0", lstm.weight_hh_l0) == "recurrent_hidden"
    assert parameter_role(lstm, "weight_ih_l0", lstm.weight_ih_l0) == "recurrent_input"
    assert parameter_role(mha, "in_proj_weight", mha.in_proj_weight) == "attention_in_proj"

    class RMSNorm(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = nn.Parameter(torch.ones(4))

    assert parameter_role(RMSNorm(), "scale", RMSNorm().scale) == "norm_scale"
    emb = nn.Embedding(3, 2)
    assert parameter_role(emb, "weight", emb.weight) == "embedding"


def test_mha_packed_in_proj_per_chunk() -> None:
    model = TinyTransformer(dim=32)
    rules = [
        {
            "scheme": "xavier_uniform",
            "role": "attention_in_proj",
            "layout": {"name": "torch", "chunks": 3},
        },
        {"scheme": "torch_default"},
    ]
    plan = init_model(model, rules, seed=0)
    entry = plan["block.self_attn.in_proj_weight"]
    assert entry.std == pytest.approx((2 / 64) ** 0.5)  # separate-Q/K/V variance, not halved
    assert model.block.self_attn.in_proj_weight.std().item() == pytest.approx(entry.std, rel=0.05)


def test_lstm_orthogonal_per_gate_and_forget_bias() -> None:
    model = LSTMTagger()
    plan = init_model(model, "auto", seed=0, example_input=torch.zeros(2, 3, dtype=torch.long))
    w = model.lstm.weight_hh_l0.detach()
    for gate in w.split(12, dim=0):
        torch.testing.assert_close(gate @ gate.T, torch.eye(12), atol=1e-5, rtol=0)
    b = model.lstm.bias_ih_l0.detach()
    assert (
        torch.all(b[12:24] == 1)
        and torch.all(b[:12] == 0)
        and torch.all(model.lstm.bias_hh_l0 == 0)
    )
    assert plan["lstm.bias_ih_l0"].scheme == "lstm_forget_bias"


def test_serialization_round_trip(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rules = RuleSet(
        rules=[
            Rule(
                scheme="orthogonal",
                module=("LSTM", "GRU"),
                role="recurrent_hidden",
                layout={"name": "torch", "chunks": 4},
                description="rec",
            ),
            Rule(scheme="he_normal", args={"mode": "fan_out"}, name=["conv*.weight", "fc*"]),
        ],
        name="mine",
    )
    assert RuleSet.from_dict(rules.to_dict()) == rules
    for suffix in (".json", ".yaml"):
        path = tmp_path / f"rules{suffix}"
        save_rules(rules, path)
        assert load_rules(path) == rules
    assert RuleSet.from_dict([r.to_dict() for r in rules.rules]).rules == rules.rules


def test_yaml_loading_is_safe(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "evil.yaml"
    path.write_text("!!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_rules(path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_rules(bad)
    with pytest.raises(ValueError, match="must end in"):
        load_rules(bad.rename(tmp_path / "x.txt"))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_rules(tmp_path / "missing.json")


def test_buffers_in_plan_and_running_stats_reset() -> None:
    model = ResNetTiny()
    model.bn.running_mean.fill_(3.0)
    plan = init_model(model, "resnet", seed=0)
    entry = plan["bn.running_mean"]
    assert entry.role == "running_stats" and entry.source == "buffer-default"
    assert torch.all(model.bn.running_mean == 0) and torch.all(model.bn.running_var == 1)


@pytest.mark.parametrize("name", sorted(ZOO))
def test_every_zoo_model_gets_a_full_auto_plan(name: str) -> None:
    plan = init_model(ZOO[name](), "auto", seed=0, dry_run=True)
    assert not plan.uncovered and not [w for w in plan.warnings if "invalid" in w]


def test_initlab_get_still_resolves_rule_schemes() -> None:
    assert isinstance(Rule(scheme="he_normal").build(), initlab.initializers.HeNormal)


def _int_buffer_model() -> nn.Module:
    model = nn.Sequential(nn.Linear(2, 2))
    model.register_buffer("counts", torch.arange(4, dtype=torch.int64).reshape(2, 2))
    return model


def test_random_scheme_on_integer_tensor_is_a_plan_error() -> None:
    model = _int_buffer_model()
    rules = [*BASIC, {"name": "counts", "role": "buffer", "scheme": "he_normal"}]
    message = r"counts \(shape \[2, 2\], dtype int64, rule #2\): scheme 'he_normal' draws random"
    with pytest.raises(ValueError, match=message):
        init_model(model, rules, seed=0)
    assert torch.equal(model.counts, torch.arange(4).reshape(2, 2))
    plan = init_model(model, rules, seed=0, dry_run=True)
    assert len(plan.errors) == 1 and "int64" in plan.errors[0]
    rules[-1] = {"name": "counts", "role": "buffer", "scheme": "ones"}
    init_model(model, rules, seed=0)
    assert model.counts.dtype == torch.int64 and torch.all(model.counts == 1)


def test_chunks_follow_packed_axis() -> None:
    model = nn.Sequential(nn.Linear(8, 6, bias=False))
    layout = {"name": "torch", "chunks": 2, "packed_axis": 1}
    plan = init_model(model, [{"scheme": "orthogonal", "layout": layout}], seed=0)
    assert plan["0.weight"].layout is not None
    for chunk in model[0].weight.detach().split(4, dim=1):  # two (6, 4) column blocks
        torch.testing.assert_close(chunk.T @ chunk, torch.eye(4), atol=1e-5, rtol=0)
    bias_rule = [{"scheme": "orthogonal", "role": "bias", "layout": {"name": "torch", "chunks": 2}}]
    with pytest.raises(ValueError, match=r"0\.bias .*at least 2 dimensions, not one of shape"):
        init_model(nn.Sequential(nn.Linear(2, 4)), [BASIC[0], *bias_rule], seed=0)


def test_ruleset_match_is_the_engine_match() -> None:
    rules = RuleSet(rules=[{"scheme": "zeros", "name": "fc1.*"}, *BASIC])
    model = MLP()
    assert rules.match("fc1.weight", model.fc1, "weight") == (0, rules.rules[0])
    assert [i for i, _ in rules.matching("fc1.weight", model.fc1, "weight")] == [0, 1]
    plan = init_model(model, rules, seed=0, dry_run=True)
    for entry in plan:
        owner = model.get_submodule(entry.module)
        assert entry.rule_index == rules.match(entry.name, owner, entry.role)[0]  # type: ignore[index]


@pytest.mark.parametrize("default", ["error", "torch"])
@pytest.mark.parametrize(
    ("factory", "rules"),
    [
        (MLP, [{"scheme": "he_normal", "module": "Linear"}]),  # fans of a bias: error
        (MLP, BASIC),
        (TinyTransformer, BASIC),  # uncovered tensors: error only with default="error"
        # a tie whose (the user's) rules disagree: a warning, never an error
        (TiedLM, [{"scheme": "normal", "role": "embedding"}, *BASIC, *NORMS]),
    ],
)
def test_dry_run_errors_agree_with_apply(factory, rules, default: str) -> None:  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TieConflictWarning)
        plan = init_model(factory(), rules, seed=0, default=default, dry_run=True)
        try:
            init_model(factory(), rules, seed=0, default=default)
        except ValueError as exc:
            assert plan.errors and str(exc).endswith("\n  ".join(plan.errors))
            with pytest.raises(ValueError, match="the init plan is invalid"):
                plan.check()
        else:
            assert plan.errors == []
            plan.check()
    assert not [w for w in plan.warnings if "matched no rule" in w or "fans cannot" in w]
    if factory is TiedLM:
        assert plan.warnings and not plan.errors
