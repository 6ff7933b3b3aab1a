"""``init_model`` and ``initlab.build`` inputs a user tries on real models: each bad one is
refused up front with the argument, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import initlab


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ValueError, r"seed=-1 must lie in \[0, 2\*\*64\)"),
        (2**70, ValueError, r"seed=1180591620717411303424 must lie in \[0, 2\*\*64\)"),
        ("3", TypeError, r"seed='3' must be an int or None"),
        (True, TypeError, r"seed=True must be an int or None"),
    ],
)
def test_init_model_seeds_follow_the_one_seed_rule(seed: object, error: type, match: str) -> None:
    model = mlp()
    before = model[0].weight.detach().clone()
    with pytest.raises(error, match=match):
        initlab.init_model(model, "auto", seed=seed)  # type: ignore[arg-type]
    assert torch.equal(model[0].weight, before)


def test_init_model_accepts_the_largest_seed() -> None:
    initlab.init_model(mlp(), "auto", seed=2**64 - 1)  # the other side of the boundary


def test_init_model_refuses_to_write_on_meta() -> None:
    model = mlp()
    with pytest.raises(ValueError, match=r"device='meta': meta tensors hold no values"):
        initlab.init_model(model, "auto", seed=0, device="meta")
    assert model[0].weight.device.type == "cpu"
    plan = initlab.init_model(model, "auto", seed=0, device="meta", dry_run=True)
    assert len(plan) == 4


class _Factory:
    """Counts calls: a refused ``build`` must not have run the factory."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> nn.Module:
        self.calls += 1
        return mlp()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"device": "bogus"}, ValueError, r"device='bogus' is not a device"),
        ({"device": "meta"}, ValueError, r"device='meta': build writes real values"),
        ({"seed": -1}, ValueError, r"seed=-1 must lie in \[0, 2\*\*64\)"),
        ({"seed": 2**70}, ValueError, r"must lie in \[0, 2\*\*64\)"),
        ({"seed": "3"}, TypeError, r"seed='3' must be an int"),
        ({"dry_run": True}, TypeError, r"build\(\) takes no dry_run=: build always writes"),
        ({"generator": torch.Generator()}, TypeError, r"takes no generator=.*pass seed="),
        ({"foo": 1}, TypeError, r"build\(\) has no argument\(s\) \['foo'\]; it takes \["),
        ({"preset": "natve"}, ValueError, r"preset='natve' is not one of .*did you mean 'native'"),
    ],
)
def test_build_checks_every_argument_before_running_the_factory(
    kwargs: dict, error: type, match: str
) -> None:
    factory = _Factory()
    kwargs = {"seed": 0, **kwargs}
    preset = kwargs.pop("preset", "native")
    with pytest.raises(error, match=match):
        initlab.build(factory, preset, **kwargs)
    assert factory.calls == 0


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (mlp(), r"factory=Sequential\(\.\.\.\) is a built model; .* use init_model"),
        (nn.Linear, r"factory='Linear' cannot be called with no arguments .*in_features"),
        (lambda width: mlp(), r"factory='<lambda>' cannot be called with no arguments"),
        (3, r"factory=3 must be a zero-argument callable"),
    ],
)
def test_build_refuses_what_is_not_a_zero_argument_factory(factory: object, match: str) -> None:
    with pytest.raises(TypeError, match=match):
        initlab.build(factory, seed=0)  # type: ignore[arg-type]


def test_build_still_takes_init_model_options() -> None:
    _model, plan = initlab.build(mlp, "auto", seed=0, example_input=torch.zeros(2, 8))
    assert plan["0.weight"].activation == "relu"


def test_the_printed_plan_names_each_rule() -> None:
    """README: ``print(plan)`` shows "name, shape, rule, scheme, std, activation, tie"; a
    recorded native scheme is readable there (a norm's constant(1), not just std 0)."""
    _model, plan = initlab.build(lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), seed=0)
    header, _, *rows = str(plan).splitlines()
    assert header.split()[:6] == ["name", "shape", "module_type", "role", "rule", "scheme"]
    norm = next(row for row in rows if row.startswith("1.weight"))
    assert "constant(1) [native]" in norm


class RandomSequence(nn.Module):
    """An own init with no closed form (like Mamba's ``dt_proj.bias``: exp of a uniform)."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.rate = nn.Parameter(torch.empty(64))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.rate.copy_(torch.rand(64).exp())


def _native_rate(global_seed: int, seed: int, rng: str = "torch") -> torch.Tensor:
    torch.manual_seed(global_seed)
    model = RandomSequence()
    plan = initlab.init_model(model, "native", seed=seed, rng=rng)
    assert plan["rate"].scheme == "keep" and "replayed" in plan["rate"].rule
    return model.rate.detach().clone()


def test_native_replays_random_sequences_from_the_seed(preserve_global_rng: None) -> None:
    first = _native_rate(global_seed=1, seed=0)
    assert torch.equal(first, _native_rate(global_seed=2, seed=0))  # the seed decides
    assert not torch.equal(first, _native_rate(global_seed=1, seed=1))  # negative control
    assert torch.equal(first, _native_rate(global_seed=3, seed=0, rng="keyed"))
    assert first.min() >= 1 and first.max() <= torch.e  # the author's distribution
    assert first.std() > 0.1


@pytest.mark.parametrize("wrap", [nn.DataParallel, torch.compile], ids=["DataParallel", "compile"])
@pytest.mark.parametrize("rng", ["torch", "keyed"])
def test_build_native_of_a_wrapped_factory(wrap: Any, rng: str, preserve_global_rng: None) -> None:
    """``init_model`` plans a wrapped model under the bare names; the recorded rules of a
    wrapped factory must use them too (they named 'module.0.weight': every tensor uncovered)."""
    wrapped, plan = initlab.build(lambda: wrap(mlp()), rng=rng, seed=0)
    bare, bare_plan = initlab.build(mlp, rng=rng, seed=0)
    assert [e.name for e in plan.entries] == [e.name for e in bare_plan.entries]
    assert plan["0.weight"].rule == "uniform(-0.3536, 0.3536) [native]"
    inner = initlab.rules.unwrap_model(wrapped)
    if rng == "torch":  # the replay is the init: a normal build with the same seed
        torch.manual_seed(0)
        assert torch.equal(
            inner.state_dict()["0.weight"],
            wrap(mlp()).state_dict()[
                "module.0.weight" if wrap is nn.DataParallel else "_orig_mod.0.weight"
            ],
        )
    else:  # keyed: the same weights as the bare model's
        assert torch.equal(inner[0].weight, bare[0].weight)


@pytest.mark.parametrize("rng", ["torch", "keyed"])
def test_build_native_loads_the_checkpoint(
    rng: str, tmp_path: Any, preserve_global_rng: None
) -> None:
    """With ``native`` and rng='torch' the replay is the init; a checkpoint still has to be
    copied over it (the plan said 'pretrained', the weights stayed the replay's)."""
    from safetensors.torch import save_file

    path = tmp_path / "part.safetensors"
    save_file({"0.weight": torch.full((16, 8), 0.25)}, str(path))
    model, plan = initlab.build(mlp, rng=rng, seed=0, pretrained=str(path))
    assert plan["0.weight"].source == "pretrained"
    assert torch.equal(model[0].weight, torch.full((16, 8), 0.25))
    if rng == "torch":  # everything else is still the bit-exact own init
        torch.manual_seed(0)
        reference = mlp()
        assert torch.equal(model[2].weight, reference[2].weight)
        assert torch.equal(model[0].bias, reference[0].bias)


def test_hf_rules_say_where_their_std_came_from() -> None:
    """The rule text read 'config.initializer_range' for a std option or a model with no
    config (where 0.02 is a default, not the model's)."""
    from initlab.rules import preset

    plain = initlab.init_model(mlp(), "hf", seed=0, dry_run=True)
    assert plain["0.weight"].rule == "N(0, 0.02^2): no config.initializer_range: 0.02"
    option = initlab.init_model(mlp(), preset("hf", std=0.01), seed=0, dry_run=True)
    assert option["0.weight"].rule == "N(0, 0.01^2): the std option"
    model = mlp()
    model.config = type("Config", (), {"initializer_range": 0.05})()  # type: ignore[assignment]
    configured = initlab.init_model(model, "hf", seed=0, dry_run=True)
    assert configured["0.weight"].rule == "N(0, 0.05^2): config.initializer_range"
