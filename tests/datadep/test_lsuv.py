"""LSUV: every layer's output std on target, bounded evaluations per layer (counted by
hooks), the O(L²) reference as the contrast, ties, modules called twice, CNNs and
transformers, and the full-forward fallback."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initlab
from initlab.datadep import LSUVConfig, lsuv_

TOL = 0.1


def plain(depth: int, width: int = 32, act: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    torch.manual_seed(0)  # test code only: the model's own default init
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), act()]
    return nn.Sequential(*layers)


def batch(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def output_stds(model: nn.Module, x: torch.Tensor) -> dict[str, float]:
    """Each Linear/Conv layer's output std in one forward, measured independently."""
    stds: dict[str, float] = {}

    def hook(mod, a, out, n):  # type: ignore[no-untyped-def]
        stds.setdefault(n, float(out.detach().std()))

    handles = [
        m.register_forward_hook(lambda mod, a, out, n=n: hook(mod, a, out, n))
        for n, m in model.named_modules()
        if isinstance(m, (nn.Linear, nn.Conv2d))
    ]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return stds


def counting(model: nn.Module) -> tuple[dict[str, int], list]:
    counts: dict[str, int] = {}
    handles = []
    for name, m in model.named_modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            counts[name] = 0

            def hook(mod, a, out, n=name):  # type: ignore[no-untyped-def]
                counts[n] += 1

            handles.append(m.register_forward_hook(hook))
    return counts, handles


def test_every_layer_on_target_with_bounded_evaluations() -> None:
    model, x = plain(20), batch(256, 32)
    before = output_stds(model, x)
    assert sum(abs(s - 1) > TOL for s in before.values()) >= 15  # negative control
    counts, handles = counting(model)
    report = lsuv_(model, x, max_attempts=10)
    for h in handles:
        h.remove()
    after = output_stds(model, x)
    assert all(abs(s - 1) <= TOL for s in after.values()), after
    assert report.converged and report.mode == "hooks" and report.full_forwards == 2
    # Per layer: 1 measurement + attempts re-runs + 1 call in each of the 2 forwards.
    for result in report.layers:
        assert counts[result.name] == result.evaluations == result.attempts + 3
        assert counts[result.name] <= 10 + 3
        assert result.std_after == pytest.approx(after[result.name], rel=1e-5)
    assert report.layer_evaluations == sum(counts.values())


def test_cost_is_linear_in_depth_and_the_reference_is_quadratic() -> None:
    totals = {}
    for depth in (5, 20):
        fast = lsuv_(plain(depth), batch(128, 32))
        slow = lsuv_(plain(depth), batch(128, 32), mode="full")
        assert slow.mode == "full" and slow.converged
        totals[depth] = (fast.layer_evaluations, slow.layer_evaluations)
        assert max(r.evaluations for r in fast.layers) <= 4
    # Depth x4: the hooked pass grows ~x4, the reference ~x16.
    assert totals[20][0] / totals[5][0] < 5
    assert totals[20][1] / totals[5][1] > 12


def test_cnn_with_centering() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 64, 10),
    )
    x = batch(64, 3, 8, 8)
    report = lsuv_(model, x, center=True, tol=0.02)
    assert report.converged
    with torch.no_grad():
        out = model[0](x)
    assert out.mean(dim=(0, 2, 3)).abs().max() < 1e-4
    assert all(abs(s - 1) <= 0.02 for s in output_stds(model, x).values())


def test_ties_are_scaled_once_and_modules_called_twice_at_their_first_call() -> None:
    torch.manual_seed(0)
    shared, other = nn.Linear(16, 16), nn.Linear(16, 16)
    other.weight = shared.weight
    model = nn.Sequential(shared, nn.Tanh(), shared, nn.Tanh(), other, nn.Tanh(), nn.Linear(16, 4))
    x = batch(64, 16)
    report = lsuv_(model, x, orthonormal=False, tol=0.01)
    start = report["0"]
    assert "called 2 times" in start.note and start.converged
    assert report["4"].note.startswith("tied to 0") and report["4"].attempts == 0
    assert report["6"].converged


def test_orthonormal_preinit_is_planned_and_reproducible_with_keyed_rng() -> None:
    a, b = plain(4), plain(4)
    ra = lsuv_(a, batch(64, 32), seed=5, rng="keyed")
    lsuv_(b, batch(64, 32), seed=5, rng="keyed")
    assert ra.plan is not None and ra.plan["0.weight"].scheme == "orthogonal"
    assert ra.plan["0.bias"].scheme == "keep"
    for p, q in zip(a.parameters(), b.parameters()):
        assert torch.equal(p, q)


def test_transformer_with_a_dict_batch() -> None:
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(
        num_hidden_layers=2,
        hidden_size=16,
        intermediate_size=32,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=50,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.LlamaForCausalLM(config)
    ids = torch.randint(0, 50, (4, 8), generator=torch.Generator().manual_seed(0))
    report = lsuv_(model, {"input_ids": ids})
    assert report.converged and len(report.layers) == 2 * 7 + 1
    assert model.training  # the mode is restored


class Entangled(nn.Module):
    """``b`` reads ``a``'s weight before ``a`` runs: b's input changes when a is rescaled."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.b(x * self.a.weight.abs().mean() * 10)
        return self.a(torch.tanh(y))


def test_a_model_that_cannot_be_split_falls_back_to_full_forwards_and_says_so() -> None:
    model = Entangled()
    report = lsuv_(model, batch(64, 8), orthonormal=False)
    assert set(report.fallback) == {"a", "b"} and "full forwards" in report.fallback_reason
    assert report.full_forwards > 2 and report.converged
    assert "full-forward fallback for" in report.summary()
    stds = output_stds(model, batch(64, 8))
    assert all(abs(s - 1) <= TOL for s in stds.values())


def test_bad_options_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="max_attempts=0 must be an integer >= 1"):
        LSUVConfig(max_attempts=0)
    with pytest.raises(ValueError, match="mode='fast' is not one of"):
        LSUVConfig(mode="fast")
    with pytest.raises(ValueError, match="has no Linear/Conv layer matching"):
        lsuv_(plain(2), batch(4, 32), layers=("nothing*",))
    with pytest.raises(TypeError, match="either config= or keyword options"):
        lsuv_(plain(2), batch(4, 32), LSUVConfig(), tol=0.2)


def test_records_are_tidy() -> None:
    report = lsuv_(plain(3), batch(64, 32))
    records = report.to_records()
    assert [r["name"] for r in records] == ["0", "2", "4"]
    assert {"std_before", "std_after", "attempts", "scale", "mode"} <= set(records[0])
    assert "std before" in str(report)
    assert isinstance(initlab.datadep.LSUVReport, type)


class Skips(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.used, self.unused = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.used(x)


@pytest.mark.parametrize("mode", ["auto", "full"])
def test_a_layer_the_forward_never_reaches_is_reported(mode: str) -> None:
    report = lsuv_(Skips(), batch(32, 8), mode=mode)
    assert report["unused"].note == "not reached by the forward pass"
    assert report["used"].converged
