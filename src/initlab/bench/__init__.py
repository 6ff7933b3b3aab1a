"""Side-by-side speed of keyed initialization versus PyTorch's own functions.

Every figure is measured in the same run as its baseline and reported as a ratio:
``vs_torch`` = PyTorch's time / ours (above 1 means faster), ``vs_floor`` = time of
``zero_`` on the same bytes / ours (the write-bandwidth floor; 1 would be perfect).
The library returns records; :func:`render` and the CLI present them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch

from initlab.rng import KeyedSampler, numba_available

__all__ = ["BenchConfig", "Record", "render", "run"]


@dataclass(frozen=True, kw_only=True)
class BenchConfig:
    """What to measure. ``sizes`` are element counts of the single-tensor benchmarks."""

    device: str = "cpu"
    sizes: tuple[int, ...] = (1 << 24,)
    dtypes: tuple[str, ...] = ("float32", "bfloat16")
    repeats: int = 3
    matrix_sizes: tuple[int, ...] = (512, 1024)
    model_dim: int = 512
    model_layers: int = 4
    threads: tuple[int, ...] = field(default_factory=lambda: _thread_counts())
    seed: int = 0

    @classmethod
    def quick(cls, device: str = "cpu") -> BenchConfig:
        """Small sizes that finish in well under a minute on 2 CPU cores."""
        return cls(device=device, sizes=(1 << 20,), dtypes=("float32",), repeats=2,
                   matrix_sizes=(256,), model_dim=256, model_layers=2, threads=(1,))  # fmt: skip

    @classmethod
    def full(cls, device: str = "cpu") -> BenchConfig:
        if device == "cuda":
            return cls(device=device, sizes=(1 << 28, 1 << 30), matrix_sizes=(1024, 4096),
                       model_dim=4096, model_layers=32)  # fmt: skip
        return cls(device=device)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One measurement: ours against a baseline, both timed in this run."""

    section: str
    name: str
    shape: str
    dtype: str
    device: str
    ms: float
    baseline: str
    baseline_ms: float
    floor_ms: float | None = None

    @property
    def vs_torch(self) -> float:
        return self.baseline_ms / self.ms

    @property
    def vs_floor(self) -> float | None:
        return None if self.floor_ms is None else self.floor_ms / self.ms

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "vs_torch": self.vs_torch, "vs_floor": self.vs_floor}


def _thread_counts() -> tuple[int, ...]:
    cores = torch.get_num_threads()
    return tuple(sorted({1, max(1, cores // 2), cores}))


def _time_ms(fn: Callable[[], object], repeats: int, device: str) -> float:
    """Best wall time of ``repeats`` runs after one warm-up (which also JIT-compiles)."""
    fn()
    best = math.inf
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best * 1e3


Case = tuple[str, Callable[[], object], str, Callable[[], object]]


def _single_cases(x: torch.Tensor, gen: torch.Generator, seed: int) -> list[Case]:
    """(our name, ours, baseline name, baseline) for one tensor; fresh samplers each call."""
    bounds = (0.0, 0.02, -0.04, 0.04)
    return [
        (
            "keyed uniform",
            lambda: KeyedSampler(seed, "w").uniform_(x, -1, 1),
            "Tensor.uniform_",
            lambda: x.uniform_(-1, 1, generator=gen),
        ),
        (
            "keyed normal",
            lambda: KeyedSampler(seed, "w").normal_(x, 0, 0.02),
            "Tensor.normal_",
            lambda: x.normal_(0, 0.02, generator=gen),
        ),
        (
            "keyed trunc_normal",
            lambda: KeyedSampler(seed, "w").trunc_normal_(x, *bounds),
            "nn.init.trunc_normal_",
            lambda: torch.nn.init.trunc_normal_(x, *bounds, generator=gen),
        ),
    ]


def _single_tensors(cfg: BenchConfig) -> list[Record]:
    records = []
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    for size in cfg.sizes:
        for dtype_name in cfg.dtypes:
            x = torch.empty(size, dtype=getattr(torch, dtype_name), device=cfg.device)
            floor = _time_ms(x.zero_, cfg.repeats, cfg.device)
            for name, ours, base_name, base in _single_cases(x, gen, cfg.seed):
                records.append(
                    Record(
                        section="single tensor",
                        name=name,
                        shape=f"2^{size.bit_length() - 1}",
                        dtype=dtype_name,
                        device=cfg.device,
                        ms=_time_ms(ours, cfg.repeats, cfg.device),
                        baseline=base_name,
                        baseline_ms=_time_ms(base, cfg.repeats, cfg.device),
                        floor_ms=floor,
                    )
                )
    return records


def _matrix_cases(w: torch.Tensor, gen: torch.Generator, seed: int) -> list[Case]:
    from initlab import orthogonal_, sparse_

    return [
        (
            "initlab.orthogonal_ (keyed)",
            lambda: orthogonal_(w, generator=KeyedSampler(seed, "w")),
            "nn.init.orthogonal_",
            lambda: torch.nn.init.orthogonal_(w, generator=gen),
        ),
        (
            "initlab.sparse_ 0.9 (keyed)",
            lambda: sparse_(w, 0.9, generator=KeyedSampler(seed, "w")),
            "nn.init.sparse_ 0.9",
            lambda: torch.nn.init.sparse_(w, 0.9, generator=gen),
        ),
    ]


def _matrices(cfg: BenchConfig) -> list[Record]:
    records = []
    gen = torch.Generator(device=cfg.device).manual_seed(cfg.seed)
    for n in cfg.matrix_sizes:
        w = torch.empty(n, n, device=cfg.device)
        for name, ours, base_name, base in _matrix_cases(w, gen, cfg.seed):
            records.append(
                Record(
                    section="matrix",
                    name=name,
                    shape=f"{n}x{n}",
                    dtype="float32",
                    device=cfg.device,
                    ms=_time_ms(ours, cfg.repeats, cfg.device),
                    baseline=base_name,
                    baseline_ms=_time_ms(base, cfg.repeats, cfg.device),
                )
            )
    return records


def _thread_scaling(cfg: BenchConfig) -> list[Record]:
    """Keyed normal_ at each thread count, against torch's (single-threaded) normal_."""
    records = []
    x = torch.empty(cfg.sizes[0])
    before = torch.get_num_threads()
    for threads in cfg.threads:
        _set_threads(threads)
        try:
            ours = _time_ms(
                lambda: KeyedSampler(cfg.seed, "w").normal_(x, 0, 1), cfg.repeats, "cpu"
            )
            base = _time_ms(lambda: x.normal_(0, 1), cfg.repeats, "cpu")
        finally:
            _set_threads(before)
        records.append(Record(
            section="cpu threads", name=f"keyed normal, {threads} thread(s)",
            shape=f"2^{x.numel().bit_length() - 1}", dtype="float32", device="cpu", ms=ours,
            baseline="Tensor.normal_", baseline_ms=base,
        ))  # fmt: skip
    return records


def _set_threads(threads: int) -> None:
    torch.set_num_threads(threads)
    if numba_available():
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]


def llama_like(dim: int, layers: int, vocab: int = 8192) -> torch.nn.Module:
    """A Llama-shaped stack of plain modules (attention and SwiGLU projections, RMSNorm)."""
    ffn = int(8 * dim / 3) // 64 * 64 or 64

    def linear(fan_in: int, fan_out: int) -> torch.nn.Linear:
        return torch.nn.Linear(fan_in, fan_out, bias=False)

    def block() -> torch.nn.Module:
        return torch.nn.ModuleDict(
            {
                "attention_norm": torch.nn.RMSNorm(dim),
                **{name: linear(dim, dim) for name in ("wq", "wk", "wv", "wo")},
                "ffn_norm": torch.nn.RMSNorm(dim),
                "w1": linear(dim, ffn),
                "w2": linear(ffn, dim),
                "w3": linear(dim, ffn),
            }
        )

    return torch.nn.ModuleDict({
        "tok_embeddings": torch.nn.Embedding(vocab, dim),
        "layers": torch.nn.ModuleList(block() for _ in range(layers)),
        "norm": torch.nn.RMSNorm(dim), "output": torch.nn.Linear(dim, vocab, bias=False),
    })  # fmt: skip


def keyed_init_(model: torch.nn.Module, seed: int, std: float = 0.02) -> torch.nn.Module:
    """Keyed N(0, std²) for matrices and ones for norm weights, one sampler per name."""
    with torch.no_grad():
        for name, param in model.named_parameters():
            if param.dim() >= 2:
                KeyedSampler(seed, name).normal_(param, 0.0, std)
            else:
                param.fill_(1.0)
    return model


def _reset_all(model: torch.nn.Module) -> torch.nn.Module:
    for module in model.modules():
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
    return model


def _whole_model(cfg: BenchConfig) -> list[Record]:
    def build() -> torch.nn.Module:
        with torch.device("meta"):
            model = llama_like(cfg.model_dim, cfg.model_layers)
        return model.to_empty(device=cfg.device)

    with torch.device("meta"):
        n_params = sum(p.numel() for p in llama_like(cfg.model_dim, cfg.model_layers).parameters())
    ours = _time_ms(lambda: keyed_init_(build(), cfg.seed), cfg.repeats, cfg.device)
    base = _time_ms(lambda: _reset_all(build()), cfg.repeats, cfg.device)
    return [Record(
        section="whole model", name="meta -> to_empty -> keyed init",
        shape=f"llama d={cfg.model_dim} L={cfg.model_layers} ({n_params / 1e6:.1f} M params)",
        dtype="float32", device=cfg.device, ms=ours,
        baseline="meta -> to_empty -> reset_parameters", baseline_ms=base,
    )]  # fmt: skip


def run(cfg: BenchConfig) -> list[Record]:
    """Measure every section; returns the records (nothing printed)."""
    records = _single_tensors(cfg) + _matrices(cfg)
    if cfg.device == "cpu":
        records += _thread_scaling(cfg)
    return records + _whole_model(cfg)


COLUMNS = (
    ("section", 14), ("ours", 30), ("shape", 34), ("dtype", 9), ("ms", 9),
    ("baseline", 36), ("base ms", 9), ("vs torch", 9), ("vs floor", 9),
)  # fmt: skip


def render(records: Sequence[Record]) -> str:
    """A plain-text table of records; ratios above 1 mean initlab is faster."""
    header = " ".join(f"{title:<{width}}" for title, width in COLUMNS)
    lines = [header, "-" * len(header)]
    for r in records:
        floor = "" if r.vs_floor is None else f"{r.vs_floor:.2f}x"
        cells = (r.section, r.name, r.shape, r.dtype, f"{r.ms:.2f}", r.baseline,
                 f"{r.baseline_ms:.2f}", f"{r.vs_torch:.2f}x", floor)  # fmt: skip
        lines.append(" ".join(f"{c:<{w}}" for c, (_, w) in zip(cells, COLUMNS)))
    return "\n".join(lines)
