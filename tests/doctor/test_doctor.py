"""Known-answer tests of ``initlab.doctor``: each verdict beside its negative control."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

import initlab
from initlab.doctor import Diagnosis, DoctorConfig, ProbeSpec, Thresholds, diagnose

Init = Callable[[torch.Tensor, torch.Generator], object]
NO_JACOBIAN = DoctorConfig(seed=0, jacobian_steps=0)


def mlp(depth: int, width: int, act: type[nn.Module], init: Init | None, *, seed: int = 0):
    """Linear+activation stack; ``init`` fills weights (biases zeroed); None keeps torch's."""
    generator = initlab.rng.seeded_generator(seed, "test-mlp")
    layers: list[nn.Module] = []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        with torch.no_grad():
            if init is None:  # PyTorch's default, reproducibly: U(±1/√fan_in) for both
                bound = 1 / math.sqrt(width)
                linear.weight.uniform_(-bound, bound, generator=generator)
                linear.bias.uniform_(-bound, bound, generator=generator)
            else:
                init(linear.weight, generator)
                linear.bias.zero_()
        layers += [linear, act()]
    return nn.Sequential(*layers)


def severities(d: Diagnosis, statistic: str) -> set[str]:
    return {f.severity for f in d.findings if f.statistic == statistic}


def xavier(w: torch.Tensor, g: torch.Generator) -> object:
    return initlab.xavier_uniform_(w, generator=g)


def he(w: torch.Tensor, g: torch.Generator) -> object:
    return initlab.kaiming_normal_(w, nonlinearity="relu", generator=g)


# -- the vanishing pattern (Glorot & Bengio 2010) ------------------------------------------
def test_tanh_50_layers_standard_init_vanishes_and_normalized_is_healthy() -> None:
    standard = diagnose(mlp(50, 64, nn.Tanh, None), config=NO_JACOBIAN)
    normalized = diagnose(mlp(50, 64, nn.Tanh, xavier), config=NO_JACOBIAN)
    assert "error" in severities(standard, "grad_norm")
    assert not standard.healthy
    grads = [r["grad_norm"] for r in standard.layers()]
    assert grads[0] < 1e-6 * grads[-1]  # vanishes toward the input
    assert normalized.healthy
    assert normalized.findings[0].severity == "ok"
    assert normalized.findings[0].message.startswith("healthy")


def test_deep_relu_xavier_is_flagged_and_he_is_healthy() -> None:
    xavier_d = diagnose(mlp(30, 64, nn.ReLU, xavier), config=NO_JACOBIAN)
    he_d = diagnose(mlp(30, 64, nn.ReLU, he), config=NO_JACOBIAN)
    vanishing = [f for f in xavier_d.findings if f.statistic == "act_std"]
    assert vanishing and vanishing[0].severity == "error"
    assert "vanishing" in vanishing[0].message
    assert "kaiming_normal_" in vanishing[0].recommendation
    assert "followed by relu" in vanishing[0].recommendation
    assert he_d.healthy, [f.message for f in he_d.findings]
    assert len(he_d.findings) == 1


def test_constant_layer_is_flagged_symmetric() -> None:
    model = mlp(3, 32, nn.ReLU, he)
    nn.init.constant_(model[2].weight, 0.05)
    d = diagnose(model, config=NO_JACOBIAN)
    found = [f for f in d.findings if f.statistic == "dup_unit_frac"]
    assert [f.layers for f in found] == [("2",)]
    assert found[0].severity == "error" and found[0].value == 1.0
    control = diagnose(mlp(3, 32, nn.ReLU, he), config=NO_JACOBIAN)
    assert not [f for f in control.findings if f.statistic == "dup_unit_frac"]


def test_dead_relus_after_large_negative_bias_are_counted() -> None:
    model = mlp(4, 64, nn.ReLU, he)
    with torch.no_grad():
        model[2].bias[:48] = -50.0  # 48 of 64 units can never fire
    d = diagnose(model, config=NO_JACOBIAN)
    rows = {r["name"]: r for r in d.layers()}
    assert rows["3"]["dead_unit_frac"] == pytest.approx(48 / 64)
    assert rows["1"]["dead_unit_frac"] < 0.2
    assert "warning" in severities(d, "dead_unit_frac")


def test_saturated_tanh_is_flagged() -> None:
    big = mlp(3, 64, nn.Tanh, lambda w, g: initlab.normal_(w, std=1.0, generator=g))
    d = diagnose(big, config=NO_JACOBIAN)
    rows = d.layers()
    assert rows[1]["act_sat_frac"] > 0.5
    assert severities(d, "act_sat_frac") == {"error"}


# -- Jacobian spectrum (Saxe 2013, Pennington 2017) ----------------------------------------
def deep_linear(init: Init, depth: int = 12, width: int = 48) -> nn.Sequential:
    generator = initlab.rng.seeded_generator(0, "deep-linear")
    layers = [nn.Linear(width, width, bias=False) for _ in range(depth)]
    for layer in layers:
        init(layer.weight, generator)
    return nn.Sequential(*layers)


def test_orthogonal_deep_linear_net_is_isometric_and_gaussian_spreads() -> None:
    config = DoctorConfig(seed=0, jacobian_steps=24)
    ortho = diagnose(deep_linear(lambda w, g: initlab.orthogonal_(w, generator=g)), config=config)
    gauss = diagnose(
        deep_linear(lambda w, g: initlab.normal_(w, std=1 / math.sqrt(48), generator=g)),
        config=config,
    )
    sv_ortho = ortho.to_dict()["jacobian_sv"]
    sv_gauss = gauss.to_dict()["jacobian_sv"]
    # Tolerance: float32 products of 12 orthogonal matrices stay within 1e-4 of isometry.
    assert sv_ortho and all(abs(v - 1) < 1e-4 for v in sv_ortho)
    assert len(sv_gauss) >= 10
    assert sv_gauss[0] > 3 and sv_gauss[-1] < 0.1


def test_jacobian_estimate_matches_dense_svd_on_a_small_net() -> None:
    torch.manual_seed(0)  # test-only model construction; the library never seeds
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 5))
    x = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))
    d = diagnose(model, x, config=DoctorConfig(seed=0, jacobian_steps=10))
    dense = torch.linalg.svdvals(torch.autograd.functional.jacobian(model, x[:1])[0, :, 0])
    estimate = torch.tensor(d.to_dict()["jacobian_sv"][:5])
    assert torch.allclose(estimate, dense, rtol=1e-4, atol=1e-5)


# -- records and the API contract ----------------------------------------------------------
def test_records_are_tidy_and_json_has_the_contract_fields() -> None:
    d = diagnose(mlp(2, 16, nn.ReLU, he), config=DoctorConfig(seed=3, jacobian_steps=4))
    data = json.loads(d.to_json())
    assert [r["name"] for r in data["layers"]] == ["0", "1", "2", "3"]
    for row in data["layers"]:
        assert {"name", "type", "act_mean", "act_std", "grad_norm"} <= row.keys()
    for finding in data["findings"]:
        assert finding["severity"] in ("ok", "info", "warning", "error")
        assert {"layers", "statistic", "message"} <= finding.keys()
    keys = {(r.run, r.index, r.layer, r.param, r.statistic, r.item) for r in d.records}
    assert len(keys) == len(d.records)  # one row per run × layer × statistic (× bin)
    header = d.records_csv().splitlines()[0]
    assert header == "run,index,layer,type,kind,statistic,value,param,item"
    weight = data["layers"][0]["params"]["weight"]
    assert weight["grad_ratio"] == pytest.approx(weight["grad_norm"] / weight["param_norm"])


def test_same_seed_same_records_and_global_rng_untouched() -> None:
    model = mlp(3, 16, nn.Tanh, xavier)
    state = torch.get_rng_state()
    first = diagnose(model, config=DoctorConfig(seed=5, jacobian_steps=3))
    assert torch.equal(state, torch.get_rng_state())
    second = diagnose(model, config=DoctorConfig(seed=5, jacobian_steps=3))
    assert first.records == second.records


def test_model_is_left_as_found() -> None:
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    diagnose(model, config=DoctorConfig(seed=0, jacobian_steps=2))
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    assert model.training


def test_thresholds_are_configurable_and_validated() -> None:
    model = mlp(6, 32, nn.ReLU, xavier)
    strict = DoctorConfig(seed=0, jacobian_steps=0, thresholds=Thresholds(vanish_warning=0.9))
    assert "warning" in severities(diagnose(model, config=strict), "act_std")
    assert diagnose(model, config=NO_JACOBIAN).healthy
    with pytest.raises(ValueError, match=r"vanish_error=0\.5 must not exceed vanish_warning=0\.01"):
        Thresholds(vanish_error=0.5)
    with pytest.raises(ValueError, match=r"unknown threshold\(s\) \['vanish'\]"):
        Thresholds.from_dict({"vanish": 1.0})
    config = DoctorConfig(seed=1, thresholds=Thresholds(dead_warning=0.3))
    assert DoctorConfig.from_dict(__import__("dataclasses").asdict(config)) == config


def test_probe_inference_and_spec_errors() -> None:
    conv = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
    d = diagnose(conv, config=NO_JACOBIAN)
    assert "in_channels=3" in d.probe and "(64, 3, 32, 32)" in d.probe
    embed = nn.Sequential(nn.Embedding(100, 8), nn.Linear(8, 8))
    d = diagnose(embed, config=DoctorConfig(seed=0, jacobian_steps=24))  # asked for
    assert "num_embeddings=100" in d.probe
    assert any("Jacobian spectrum not estimated" in f.message for f in d.findings)
    with pytest.raises(
        ValueError, match=r"cannot infer the probe input .*LayerNorm.*--input-shape"
    ):
        diagnose(nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8)))
    with pytest.raises(ValueError, match="distribution='randint'"):
        ProbeSpec(shape=(4, 8), dtype="float32", distribution="randint", high=3)
    with pytest.raises(ValueError, match=r"shape=\(0, 8\) must be a non-empty tuple"):
        ProbeSpec(shape=(0, 8))


def test_randint_probe_without_high_says_how_to_set_it() -> None:
    with pytest.raises(ValueError, match=r"high=0 must be > 0 .*set high to the vocabulary size"):
        ProbeSpec(shape=(4, 8), dtype="int64", distribution="randint")
