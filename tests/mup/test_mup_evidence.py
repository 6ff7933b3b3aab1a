"""The LR-transfer evidence machinery (the real sweep runs outside the test suite)."""

from __future__ import annotations

import math

import pytest

from initlab.mup._evidence import LRTransferConfig, lr_transfer, optimal_lrs, transfer_summary

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model", ["mlp", "transformer"])
def test_tiny_sweep_gives_tidy_records(model: str) -> None:
    config = LRTransferConfig(
        model=model, widths=(8, 16), lrs=(1e-3, 1e-2), seeds=1, steps=2, tail=1, batch_size=4
    )
    rows = lr_transfer(config)
    assert len(rows) == 2 * 2 * 2  # parametrizations x widths x lrs
    assert set(rows[0]) == {"model", "parametrization", "width", "seed", "lr", "loss"}
    assert all(math.isfinite(r["loss"]) for r in rows)


def test_seeds_start_at_seed() -> None:
    tiny = {"widths": (8, 16), "lrs": (1e-2,), "steps": 2, "tail": 1, "batch_size": 4}
    pair = lr_transfer(LRTransferConfig(**tiny, seeds=2, seed=3))
    assert sorted({r["seed"] for r in pair}) == [3, 4]
    alone = lr_transfer(LRTransferConfig(**tiny, seeds=1, seed=4))
    assert [r["loss"] for r in alone] == [r["loss"] for r in pair if r["seed"] == 4]
    assert [r["loss"] for r in alone] != [r["loss"] for r in pair if r["seed"] == 3]


def test_bad_first_seed_is_refused() -> None:
    with pytest.raises(ValueError, match=r"seed=-1 must be a non-negative integer"):
        LRTransferConfig(seed=-1)


def test_summary_reports_the_shift_of_the_best_lr() -> None:
    def row(p: str, width: int, seed: int, lr: float, loss: float) -> dict:
        return {
            "model": "m",
            "parametrization": p,
            "width": width,
            "seed": seed,
            "lr": lr,
            "loss": loss,
        }

    rows = []
    for seed in (0, 1):
        for width, best in ((32, 2.0**-4), (128, 2.0**-6)):  # SP-like: best LR moves
            rows += [
                row("sp", width, seed, lr, abs(math.log2(lr / best)))
                for lr in (2.0**-7, 2.0**-6, 2.0**-5, 2.0**-4)
            ]
            rows += [
                row("mup", width, seed, lr, abs(math.log2(lr / 2.0**-5)))
                for lr in (2.0**-7, 2.0**-6, 2.0**-5, 2.0**-4)
            ]
    rows.append(row("sp", 32, 2, 2.0**-4, math.inf))  # seed 2 only diverged: no best LR
    assert len(optimal_lrs(rows)) == 8
    summary = {(s["parametrization"], s["width"]): s for s in transfer_summary(rows)}
    assert summary[("sp", 128)]["shift"] == -2.0
    assert summary[("mup", 128)]["shift"] == 0.0
    # seed 2's divergence makes 2^-4's seed-mean loss inf at width 32, so the narrow best
    # (by mean) is 2^-5: one octave from the wide best 2^-6
    assert summary[("sp", 128)]["regret"] == 1.0
    assert summary[("mup", 128)]["regret"] == 0.0
    assert summary[("sp", 32)]["seeds"] == 2


def test_config_errors() -> None:
    with pytest.raises(ValueError, match=r"model='cnn' is not one of 'mlp', 'transformer'"):
        LRTransferConfig(model="cnn")
    with pytest.raises(ValueError, match=r"tail=5 must be <= steps=2"):
        LRTransferConfig(steps=2, tail=5)
