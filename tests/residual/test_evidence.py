"""The evidence runs at tiny size: tidy records, >= 3 seeds vectorized, the expected columns."""

from __future__ import annotations

import math

import pytest

from initlab.residual._evidence import (
    fixup_evidence,
    imbalanced_blobs,
    lsuv_evidence,
    output_bias_evidence,
)

SEEDS = (0, 1, 2)
pytestmark = pytest.mark.slow


def test_fixup_evidence_tiny() -> None:
    records = fixup_evidence(depths=(3,), seeds=SEEDS, width=8, steps=2, log_every=1, n_train=64)
    assert len(records) == 2 * 3 * 3  # schemes x seeds x logged steps
    assert {r["scheme"] for r in records} == {"he", "fixup"}
    assert {r["seed"] for r in records} == set(SEEDS)
    fixup_start = [r for r in records if r["scheme"] == "fixup" and r["step"] == 0]
    # Zero classifier: the first loss is exactly log(10), the logits all zero.
    assert all(r["initial_logit_std"] == 0 for r in fixup_start)
    assert all(math.isclose(r["train_loss"], math.log(10), rel_tol=1e-6) for r in fixup_start)
    assert all({"train_loss", "test_acc", "depth", "claim"} <= set(r) for r in records)


def test_lsuv_evidence_tiny() -> None:
    records = lsuv_evidence(depth=4, seeds=SEEDS, width=16, steps=1, log_every=1, n_train=64)
    layers = [r for r in records if r["kind"] == "layers"]
    assert len(layers) == 3
    assert all(r["max_std_error"] <= 0.1 for r in layers)
    assert all(r["layer_evaluations"] < r["reference_layer_evaluations"] for r in layers)
    curves = [r for r in records if r["kind"] == "curve"]
    assert len(curves) == 2 * 3 * 2


def test_output_bias_evidence_tiny() -> None:
    records = output_bias_evidence(seeds=SEEDS, steps=2, hidden=8)
    first = {(r["scheme"], r["seed"]): r["train_loss"] for r in records if r["step"] == 0}
    entropy = records[0]["prior_entropy"]
    for seed in SEEDS:
        # The prior starts nearer its entropy than the plain init does.
        assert abs(first[("auto+prior", seed)] - entropy) < abs(first[("auto", seed)] - entropy)
        assert math.isclose(first[("zero-head+prior", seed)], entropy, rel_tol=1e-5)
        assert math.isclose(first[("zero-head", seed)], math.log(5), rel_tol=1e-5)


def test_imbalanced_blobs_follow_the_prior() -> None:
    _, y, prior = imbalanced_blobs(n=4000)
    freq = y.bincount(minlength=prior.numel()).double() / 4000
    assert (freq - prior).abs().max() < 0.03


@pytest.mark.parametrize(
    "run",
    [
        lambda seeds: fixup_evidence(
            depths=(3,), seeds=seeds, width=8, steps=1, log_every=1, n_train=64
        ),
        lambda seeds: lsuv_evidence(depth=3, seeds=seeds, width=8, steps=1, n_train=64),
        lambda seeds: output_bias_evidence(seeds=seeds, steps=1, hidden=8),
    ],
    ids=["fixup", "lsuv", "output_bias"],
)
def test_each_record_carries_the_seed_its_run_was_drawn_from(run) -> None:  # type: ignore[no-untyped-def]
    """One seed loop for every evidence run: seeds in any order label their own runs."""

    def curves(records: list[dict]) -> dict[tuple, float]:
        return {
            (r.get("scheme"), r["seed"], r["step"]): r["train_loss"]
            for r in records
            if r.get("kind", "curve") == "curve"
        }

    together, alone = curves(run((7, 3))), curves(run((3,)))
    mine = {k: v for k, v in together.items() if k[1] == 3}
    assert mine.keys() == alone.keys() and mine == pytest.approx(alone, rel=1e-5)
    others = {(k[0], 3, k[2]): v for k, v in together.items() if k[1] == 7}
    assert others != pytest.approx(alone, rel=1e-5)  # negative control: seed 7 is not seed 3
