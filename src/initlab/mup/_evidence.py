"""Evidence for learning-rate transfer: sweep the LR at several widths under SP and μP.

Tensor Programs V (Yang et al. 2022, Figure 1 and Figure 3) shows that under the
standard parametrization the training loss's best learning rate moves with width,
while under μP it stays put. These functions rerun that experiment at a small size on
generated data (no download): a random two-layer teacher labels Gaussian inputs (MLP),
or a fixed random first-order Markov chain generates token sequences (transformer).

The data (tidy records, one per model, parametrization, width, seed and LR) come
first; :func:`optimal_lrs` and :func:`transfer_summary` reduce them. Each run trains
from its own seeded init and sees the same batches at every width and LR.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from initlab._validation import check_choice
from initlab.mup._coord import PARAMETRIZATIONS, make_optimizer, parametrized_model
from initlab.mup._plan import OPTIMIZERS

__all__ = [
    "EVIDENCE_MODELS",
    "LRTransferConfig",
    "TinyTransformer",
    "lr_transfer",
    "optimal_lrs",
    "transfer_summary",
]

EVIDENCE_MODELS = ("mlp", "transformer")
Progress = Callable[[str], None]

_MLP_IN, _MLP_CLASSES = 32, 10
_VOCAB, _SEQ = 32, 16


@dataclass(kw_only=True, frozen=True)
class LRTransferConfig:
    """The sweep: ``lrs`` at each of ``widths``, both parametrizations, for the ``seeds``
    seeds ``seed, seed + 1, …`` (as :class:`CoordConfig` and the experiments count them).

    Seed k draws the init and the data (teacher or Markov chain, and the batches) from k.
    ``steps`` Adam (or SGD) steps on batches of ``batch_size``; the loss reported is the
    mean training loss of the last ``tail`` steps (diverged runs report ``inf``).
    """

    model: str = "mlp"
    widths: tuple[int, ...] = (32, 64, 128, 256)
    lrs: tuple[float, ...] = tuple(2.0**k for k in range(-12, -2))
    seeds: int = 3
    seed: int = 0
    steps: int = 120
    batch_size: int = 128
    optimizer: str = "adam"
    parametrizations: tuple[str, ...] = PARAMETRIZATIONS
    tail: int = 10

    def __post_init__(self) -> None:
        check_choice("model", self.model, EVIDENCE_MODELS)
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        for p in self.parametrizations:
            check_choice("parametrizations", p, PARAMETRIZATIONS)
        if len(self.widths) < 2 or min(self.widths) < 1:
            raise ValueError(f"widths={self.widths!r} must be at least two positive widths")
        if not self.lrs or min(self.lrs) <= 0:
            raise ValueError(f"lrs={self.lrs!r} must be positive learning rates")
        for name in ("seeds", "steps", "batch_size", "tail"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed={self.seed!r} must be a non-negative integer (the first seed)")
        if self.tail > self.steps:
            raise ValueError(f"tail={self.tail} must be <= steps={self.steps}")


def _mlp(width: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(_MLP_IN, width),
        nn.ReLU(),
        nn.Linear(width, width),
        nn.ReLU(),
        nn.Linear(width, _MLP_CLASSES),
    )


class TinyTransformer(nn.Module):
    """One pre-norm decoder block with μP-ready attention: logits scaled by
    ``attention_scale / head_dim`` (μP's 1/d), which its ``scaling``/``head_dim``
    attributes expose to the plan's check."""

    def __init__(self, width: int, heads: int = 2, vocab: int = _VOCAB) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(_SEQ, width)
        self.attn = CausalSelfAttention(width, heads)
        self.ln1, self.ln2, self.ln_f = (nn.LayerNorm(width) for _ in range(3))
        self.up = nn.Linear(width, 4 * width)
        self.down = nn.Linear(4 * width, width)
        self.head = nn.Linear(width, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.embed(tokens) + self.pos(positions)
        x = x + self.attn(self.ln1(x))
        x = x + self.down(F.gelu(self.up(self.ln2(x))))
        return self.head(self.ln_f(x))


class CausalSelfAttention(nn.Module):
    """Causal attention with an explicit ``scaling`` (1/head_dim: μP; 1/√head_dim: SP)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, width // heads
        self.scaling = 1.0 / self.head_dim
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=self.scaling)
        return self.out(y.transpose(1, 2).reshape(b, t, w))


def _factory(model: str, parametrization: str) -> Callable[[int], nn.Module]:
    if model == "mlp":
        return _mlp

    def build(width: int) -> nn.Module:
        net = TinyTransformer(width)
        if parametrization == "sp":  # standard attention: 1/sqrt(d)
            net.attn.scaling = net.attn.head_dim**-0.5
        return net

    return build


def _batches(config: LRTransferConfig, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The same ``steps`` batches for every width and LR of one seed."""
    gen = torch.Generator().manual_seed(10_000 + seed)
    if config.model == "mlp":
        teacher_in = torch.randn(_MLP_IN, 64, generator=gen) / math.sqrt(_MLP_IN)
        teacher_out = torch.randn(64, _MLP_CLASSES, generator=gen) / math.sqrt(64)
        out = []
        for _ in range(config.steps):
            x = torch.randn(config.batch_size, _MLP_IN, generator=gen)
            y = (torch.relu(x @ teacher_in) @ teacher_out).argmax(dim=1)
            out.append((x, y))
        return out
    # A random sparse Markov chain: each token has 3 likely successors.
    logits = torch.randn(_VOCAB, _VOCAB, generator=gen) * 3.0
    probs = torch.softmax(logits, dim=1)
    out = []
    for _ in range(config.steps):
        tokens = torch.empty(config.batch_size, _SEQ + 1, dtype=torch.long)
        tokens[:, 0] = torch.randint(0, _VOCAB, (config.batch_size,), generator=gen)
        for t in range(_SEQ):
            tokens[:, t + 1] = torch.multinomial(probs[tokens[:, t]], 1, generator=gen)[:, 0]
        out.append((tokens[:, :-1], tokens[:, 1:]))
    return out


def _initialized(
    config: LRTransferConfig, parametrization: str, width: int, seed: int
) -> tuple[nn.Module, Any, dict[str, torch.Tensor]]:
    """The model, its plan and a copy of its initial values (reused for every LR)."""
    model, plan = parametrized_model(
        _factory(config.model, parametrization),
        width,
        parametrization=parametrization,
        widths=config.widths,
        seed=seed,
    )
    return model, plan, {k: v.detach().clone() for k, v in model.state_dict().items()}


def _train(
    config: LRTransferConfig,
    built: tuple[nn.Module, Any, dict[str, torch.Tensor]],
    lr: float,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor]],
) -> float:
    model, plan, initial = built
    model.load_state_dict(initial)
    optimizer = make_optimizer(model, plan, config.optimizer, lr)
    losses = []
    for x, y in batches:
        logits = model(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        if not torch.isfinite(loss):
            return math.inf
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    tail = losses[-config.tail :]
    return sum(tail) / len(tail)


def lr_transfer(
    config: LRTransferConfig | None = None, *, progress: Progress | None = None
) -> list[dict[str, Any]]:
    """Tidy records ``{model, parametrization, width, seed, lr, loss}`` of the sweep.

    >>> rows = lr_transfer(LRTransferConfig(widths=(8, 16), lrs=(1e-2,), seeds=1, steps=2,
    ...                                     tail=1, batch_size=8))
    >>> sorted({(r["parametrization"], r["width"]) for r in rows})
    [('mup', 8), ('mup', 16), ('sp', 8), ('sp', 16)]
    """
    config = config or LRTransferConfig()
    records = []
    for seed in range(config.seed, config.seed + config.seeds):
        batches = _batches(config, seed)
        for parametrization in config.parametrizations:
            for width in config.widths:
                if progress is not None:
                    progress(f"{config.model} {parametrization} width {width} seed {seed}")
                built = _initialized(config, parametrization, width, seed)
                for lr in config.lrs:
                    loss = _train(config, built, lr, batches)
                    records.append(
                        {
                            "model": config.model,
                            "parametrization": parametrization,
                            "width": width,
                            "seed": seed,
                            "lr": lr,
                            "loss": loss,
                        }
                    )
    return records


def optimal_lrs(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best LR (lowest loss) per (model, parametrization, width, seed); a seed whose
    runs all diverged has no best LR and is left out."""
    best: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in records:
        key = (r["model"], r["parametrization"], r["width"], r["seed"])
        if key not in best or r["loss"] < best[key]["loss"]:
            best[key] = r
    return [
        {
            "model": k[0],
            "parametrization": k[1],
            "width": k[2],
            "seed": k[3],
            "lr": v["lr"],
            "loss": v["loss"],
        }
        for k, v in best.items()
        if math.isfinite(v["loss"])
    ]


def _mean_losses(records: Sequence[dict[str, Any]]) -> dict[tuple[Any, ...], dict[float, float]]:
    """Mean loss over seeds per (model, parametrization, width), by LR."""
    sums: dict[tuple[Any, ...], dict[float, list[float]]] = {}
    for r in records:
        key = (r["model"], r["parametrization"], r["width"])
        sums.setdefault(key, {}).setdefault(r["lr"], []).append(r["loss"])
    return {k: {lr: sum(v) / len(v) for lr, v in by.items()} for k, by in sums.items()}


def transfer_summary(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (model, parametrization, width): mean and std over seeds of log2(best LR), the
    best loss; ``shift``: mean log2(best LR) here minus at the narrowest width (0 =
    transfers); ``regret``: the seed-mean loss at the narrowest width's best LR minus the
    best seed-mean loss here (0 = the LR tuned narrow is still the best wide)."""
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for row in optimal_lrs(records):
        groups.setdefault((row["model"], row["parametrization"], row["width"]), []).append(row)
    means = _mean_losses(records)
    out = []
    for (model, parametrization, width), rows in sorted(groups.items()):
        logs = [math.log2(r["lr"]) for r in rows]
        mean = sum(logs) / len(logs)
        std = math.sqrt(sum((v - mean) ** 2 for v in logs) / len(logs))
        out.append(
            {
                "model": model,
                "parametrization": parametrization,
                "width": width,
                "seeds": len(rows),
                "log2_lr_mean": mean,
                "log2_lr_std": std,
                "best_loss_mean": sum(r["loss"] for r in rows) / len(rows),
            }
        )
    narrowest: dict[tuple[str, str], tuple[float, float]] = {}
    for row in out:  # sorted by width within each (model, parametrization)
        key = (row["model"], row["parametrization"])
        curve = means[(row["model"], row["parametrization"], row["width"])]
        if key not in narrowest:
            narrowest[key] = (row["log2_lr_mean"], min(curve, key=curve.__getitem__))
        base_log2, base_lr = narrowest[key]
        row["shift"] = row["log2_lr_mean"] - base_log2
        row["regret"] = curve.get(base_lr, math.inf) - min(curve.values())
    return out
