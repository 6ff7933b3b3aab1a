"""Orchestration: one probe forward, one backward, the spectra, then the verdicts.

The probe runs the model as it will train, minus the noise
(``DoctorConfig(train_mode=True)``, the default): every module in training mode
(BatchNorm normalizes with the batch's statistics; models take their training code
paths) except random regularizers (dropout, drop-path / stochastic depth), which are
put in eval mode. In eval mode a fresh BatchNorm is the identity (running mean 0,
variance 1), which is not what the first training step sees.

The model is left as found: every module's ``training`` flag and every buffer
(BatchNorm running statistics) are restored, ``.grad`` is never written
(``torch.autograd.grad``), and the global RNG state is restored by
``torch.random.fork_rng`` (random ops inside the probe are seeded there from
``config.seed`` so that every pass sees the same draws).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from initlab.doctor._config import DoctorConfig, ProbeSpec
from initlab.doctor._hooks import Call, Recorder, first_float_tensor
from initlab.doctor._probe import Probe, build_probe
from initlab.doctor._records import MODEL_LAYER, Diagnosis, Finding, StatRecord
from initlab.doctor._spectra import lanczos_singular_values
from initlab.doctor._stats import (
    Deferred,
    Slot,
    scaled_norm,
    spectrum_stats,
    symmetric_fraction,
    unit_groups,
    weight_group_stats,
    weight_rows,
)
from initlab.doctor._verdicts import judge
from initlab.residual import branch_depth, find_branches
from initlab.rng import seeded_generator

__all__ = ["check_device", "diagnose"]

LossFn = Callable[[Any], torch.Tensor]

#: Default work for weight spectra, in plain forward+backward passes of the probe (3 × its
#: forward flops). A flop estimate, not a clock: the same model and probe always get the
#: same spectra, on a loaded machine too.
SPECTRA_BUDGET = 0.25
#: ``eigvalsh`` of an n×n matrix costs about this many n³ GEMM-flop equivalents (measured on
#: a 2-core CPU: 8–12 for n = 256–1024).
EIGH_FLOP_FACTOR = 12.0
#: Spectra this cheap in total (flop equivalents, a few milliseconds) are always computed.
SPECTRA_FREE_FLOPS = 5e8


def diagnose(
    model: nn.Module,
    inputs: Any = None,
    *,
    probe: ProbeSpec | tuple[ProbeSpec, ...] | None = None,
    loss_fn: LossFn | None = None,
    config: DoctorConfig | None = None,
    run: str = "model",
) -> Diagnosis:
    """Diagnose ``model`` at initialization; return tidy records and findings.

    ``inputs`` is your batch (a tensor, a tuple of positional inputs or a dict
    of keyword inputs); otherwise ``probe`` describes a synthetic one, or it is
    inferred from the first layer. ``loss_fn(output)`` defaults to a fixed
    random projection of the output: ``sum(out * r) / batch``, r ~ N(0, 1).

    >>> d = diagnose(nn.Sequential(nn.Linear(8, 8), nn.ReLU()), config=DoctorConfig(seed=1))
    >>> [row["name"] for row in d.layers()]
    ['0', '1']
    """
    config = config or DoctorConfig()
    check_device(model)
    resolved = build_probe(model, inputs, probe, seed=config.seed, batch_size=config.batch_size)
    deferred = Deferred()
    with _preserved(model, config.seed, config.train_mode):
        recorder, grads = _probe_pass(model, resolved, loss_fn, config, deferred)
        entries, spectra_skipped = _queue_params(model, grads, config, deferred, recorder.flops)
        deferred.fetch()  # the one device-to-host transfer of every statistic
        calls = recorder.resolve()
        jacobian, rank, skipped = _jacobian(model, resolved, config)
    records = _call_records(run, calls) + _param_records(run, calls, entries, deferred)
    records += [
        StatRecord(
            run=run,
            index=-1,
            layer=MODEL_LAYER,
            type=type(model).__name__,
            kind="model",
            statistic="jacobian_sv",
            value=value,
            item=k,
        )
        for k, value in enumerate(jacobian)
    ]
    if rank is not None:
        records += [
            StatRecord(
                run=run,
                index=-1,
                layer=MODEL_LAYER,
                type=type(model).__name__,
                kind="model",
                statistic=statistic,
                value=float(value),
            )
            for statistic, value in (("jacobian_rank", rank[0]), ("jacobian_rank_exact", rank[1]))
        ]
    findings = judge(records, config.thresholds, run)
    findings += _branch_findings(model, records, run)
    if spectra_skipped:
        findings.append(
            Finding(
                run=run,
                severity="info",
                layers=(MODEL_LAYER,),
                statistic="weight_spectra",
                message=f"singular values of {spectra_skipped} weight(s) not computed: they "
                f"would cost more than {SPECTRA_BUDGET:g} forward+backward passes "
                "(DoctorConfig(weight_spectra=True) computes them all)",
            )
        )
    if skipped:
        findings.append(
            Finding(
                run=run,
                severity="info",
                layers=(MODEL_LAYER,),
                statistic="jacobian_sv",
                message=f"Jacobian spectrum not estimated: {skipped}",
            )
        )
    return Diagnosis(
        run=run, probe=resolved.description, records=tuple(records), findings=tuple(findings)
    )


#: Normalization layers whose training mode normalizes with the batch's statistics
#: (BatchNorm*, SyncBatchNorm, InstanceNorm*, and subclasses such as timm's BatchNormAct2d).
RUNNING_STAT_NORMS = (nn.modules.batchnorm._NormBase,)
#: Class-name parts of random regularizers kept in eval mode during the probe (timm's
#: DropPath, torchvision's StochasticDepth, HF's ``*DropPath``), besides torch's dropouts.
REGULARIZER_NAMES = ("dropout", "droppath", "stochasticdepth")


def is_random_regularizer(module: nn.Module) -> bool:
    """Dropout or drop-path / stochastic depth: off (eval mode) during the probe."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return True
    name = type(module).__name__.lower()
    return any(part in name for part in REGULARIZER_NAMES)


@contextmanager
def _preserved(model: nn.Module, seed: int, train_mode: bool) -> Iterator[None]:
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    devices = [d for d in {p.device for p in model.parameters()} if d.type == "cuda"]
    modes = [(m, m.training) for m in model.modules()]
    try:
        if train_mode:
            # The flag itself, not .train()/.eval(): those recurse and some models override
            # them (frozen BatchNorm); every flag is put back below.
            for module, _ in modes:
                module.training = not is_random_regularizer(module)
        with torch.random.fork_rng(devices=devices):
            # The model's own random ops (dropout) draw from the global generator: seed it for
            # a reproducible probe pass; fork_rng restores the caller's state on exit.
            torch.manual_seed(seed)
            yield
    finally:
        for module, training in modes:
            module.training = training
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])


def _with_grad(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().clone().requires_grad_(True)
    return value


def check_device(model: nn.Module) -> None:
    meta = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if meta:
        raise ValueError(
            f"model has {len(meta)} tensor(s) on the meta device (e.g. {meta[0]!r}): they hold "
            "no values to diagnose; materialize them first, e.g. "
            "initlab.rules.init_model(model, 'auto', device='cpu')"
        )


def _probe_pass(
    model: nn.Module,
    probe: Probe,
    loss_fn: LossFn | None,
    config: DoctorConfig,
    deferred: Deferred,
) -> tuple[Recorder, dict[str, torch.Tensor | None]]:
    # The inputs are passed as given: making them require grad breaks models that set
    # requires_grad on views of their inputs (HF Wav2Vec2's feature encoder).
    args, kwargs = probe.args, probe.kwargs
    if not any(p.requires_grad for p in model.parameters()):
        # Nothing to differentiate but the input: only then is it made to require grad.
        args = tuple(_with_grad(a) for a in args)
        kwargs = {k: _with_grad(v) for k, v in kwargs.items()}
    recorder = Recorder(model, hist_bins=config.hist_bins, deferred=deferred)
    with torch.enable_grad(), recorder:
        first = first_float_tensor((args, kwargs))
        if first is not None:
            recorder.record_input(first)
        try:
            output = model(*args, **kwargs)
        except Exception as exc:
            where = recorder.failing_module() or "(model)"
            hint = "check the input shape (--input-shape) and dtype"
            if config.train_mode and isinstance(recorder.failing(), RUNNING_STAT_NORMS):
                hint = (
                    "BatchNorm normalizes with the batch's statistics here, as in training, "
                    "and needs more than one value per channel: use a batch of at least 2 "
                    "(or DoctorConfig(train_mode=False), CLI --model-mode, for the model's "
                    "current mode)"
                )
            elif config.train_mode:
                hint += (
                    "; the probe runs the model in training mode (DoctorConfig("
                    "train_mode=False), CLI --model-mode, keeps the model's own mode)"
                )
            raise ValueError(
                f"the model failed on the probe batch ({probe.description}) in module "
                f"{where}: {exc}; {hint}"
            ) from exc
    loss = _loss(output, loss_fn, config.seed)
    named = _unique_parameters(model)
    targets = [p for _, p in named]
    grads = torch.autograd.grad(loss, targets, allow_unused=True) if targets else ()
    return recorder, {name: g for (name, _), g in zip(named, grads)}


def _loss(output: Any, loss_fn: LossFn | None, seed: int) -> torch.Tensor:
    if loss_fn is not None:
        loss = loss_fn(output)
    else:
        out = first_float_tensor(output)
        if out is None:
            raise ValueError("the model output has no floating-point tensor; pass loss_fn")
        generator = seeded_generator(seed, "doctor-loss")
        r = torch.randn(out.shape, generator=generator).to(out)
        loss = (out * r).sum() / (out.shape[0] if out.dim() else 1)
    if not isinstance(loss, torch.Tensor) or loss.dim() != 0 or not loss.requires_grad:
        raise ValueError("loss_fn(output) must return a scalar tensor that requires grad")
    return loss


def _unique_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def _call_records(run: str, calls: list[Call]) -> list[StatRecord]:
    records: list[StatRecord] = []
    previous: float | None = None
    for call in calls:
        base = partial(
            StatRecord, run=run, index=call.index, layer=call.name, type=call.type, kind=call.kind
        )
        stats = dict(call.stats)
        if call.kind in ("layer", "functional"):
            m2 = stats["act_second_moment"]
            if previous is not None and previous > 0 and m2 > 0:
                stats["act_log_growth"] = math.log(m2 / previous)
            previous = m2
        if call.activation is not None:
            stats[f"act_is_{call.activation}"] = 1.0
        stats.update({f"act_param_{k}": float(v) for k, v in call.params.items()})
        if call.normalizes:
            stats["normalizes"] = 1.0
        if call.grad_norm is not None:
            stats["grad_norm"] = call.grad_norm
            # Per element: output tensors shrink and grow along a network, norms with them.
            stats["grad_rms"] = call.grad_norm / math.sqrt(max(call.numel, 1))
        records += [base(statistic=k, value=v) for k, v in stats.items()]
        for statistic, hist in (("act_hist", call.act_hist), ("grad_hist", call.grad_hist)):
            if hist is None:
                continue
            low, high, counts = hist
            records.append(base(statistic=f"{statistic}_low", value=low))
            records.append(base(statistic=f"{statistic}_high", value=high))
            records += [base(statistic=statistic, value=c, item=i) for i, c in enumerate(counts)]
    return records


@dataclass
class _ParamEntry:
    """One (untied) parameter: where it lives and the slots of its queued statistics."""

    label: str
    type: str
    local: str
    numel: int
    norms: Slot
    has_grad: bool
    fans: tuple[float, float] | None = None
    weight: tuple[tuple[str, ...], Slot] | None = None
    spectrum: tuple[tuple[str, ...], Slot] | None = None
    symmetric: Slot | None = None


def _svd_cost(shape: tuple[int, ...]) -> float:
    """Flop-equivalents of the singular values of a (units, fan) matrix via its Gram matrix."""
    small, large = min(shape), max(shape)
    return 2.0 * small * small * large + EIGH_FLOP_FACTOR * small**3


Group = list[tuple["_ParamEntry", torch.Tensor]]


def _queue_spectra(
    groups: dict[tuple[Any, ...], Group],
    config: DoctorConfig,
    deferred: Deferred,
    pass_flops: float,
) -> int:
    """Queue the spectra of same-shape weight groups; return how many weights were skipped.

    ``weight_spectra=None`` (the default) spends at most ``SPECTRA_BUDGET`` plain
    forward+backward passes (3 × the probe's forward flops) by :func:`_svd_cost`, cheapest
    groups first, and never less than ``SPECTRA_FREE_FLOPS``; ``True`` computes every one up
    to ``max_svd_numel`` elements, ``False`` none. The choice is a flop estimate, so it is
    reproducible; what is computed is exact.
    """
    if config.weight_spectra is False:
        return 0
    allowed = {
        key: members
        for key, members in groups.items()
        if 0 < math.prod(key[0]) <= config.max_svd_numel and min(key[0]) >= 1
    }
    cost = {key: _svd_cost(key[0]) * len(members) for key, members in allowed.items()}
    budget = max(SPECTRA_BUDGET * 3.0 * pass_flops, SPECTRA_FREE_FLOPS)
    spent = 0.0
    done = set()
    for key in sorted(allowed, key=lambda k: (cost[k], k[0])):
        if config.weight_spectra is None and spent + cost[key] > budget:
            break
        spent += cost[key]
        members = allowed[key]
        names, values = spectrum_stats([rows for _, rows in members])
        for (entry, _), row in zip(members, values):
            entry.spectrum = (names, deferred.add(row))
        done.add(key)
    return sum(len(members) for key, members in allowed.items() if key not in done)


def _queue_params(
    model: nn.Module,
    grads: dict[str, torch.Tensor | None],
    config: DoctorConfig,
    deferred: Deferred,
    pass_flops: float,
) -> tuple[list[_ParamEntry], int]:
    """Queue every parameter's norms, symmetric units, and weight statistics per shape group.

    Returns the entries and how many weights' spectra were skipped for their cost.
    """
    entries: list[_ParamEntry] = []
    matrices: list[tuple[_ParamEntry, torch.Tensor]] = []
    seen: set[int] = set()
    for prefix, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue  # tied: reported once, under its first owner
            seen.add(id(p))
            full = f"{prefix}.{local}" if prefix else local
            grad = grads.get(full)
            norms = [scaled_norm(p.detach())]
            if grad is not None:
                norms.append(scaled_norm(grad.detach()))
            entry = _ParamEntry(
                label=prefix or MODEL_LAYER,
                type=type(module).__name__,
                local=local,
                numel=p.numel(),
                norms=deferred.add(torch.stack(norms)),
                has_grad=grad is not None,
            )
            entries.append(entry)
            units = unit_groups(module, local, p)
            if units is not None:
                entry.symmetric = deferred.add(symmetric_fraction(units, config.max_duplicate_rows))
            if p.dim() >= 2:
                rows = weight_rows(module, local, p)
                entry.fans = (float(rows.shape[1]), float(rows.shape[0] * p[0, 0].numel()))
                matrices.append((entry, rows))
    groups: dict[tuple[Any, ...], Group] = {}
    for entry, rows in matrices:
        key = (tuple(rows.shape), rows.device, rows.dtype)
        groups.setdefault(key, []).append((entry, rows))
    for members in groups.values():
        names, values = weight_group_stats([rows for _, rows in members], svd=False)
        for (entry, _), row in zip(members, values):
            entry.weight = (names, deferred.add(row))
    return entries, _queue_spectra(groups, config, deferred, pass_flops)


def _param_records(
    run: str, calls: list[Call], entries: list[_ParamEntry], deferred: Deferred
) -> list[StatRecord]:
    first_call: dict[str, int] = {}
    for call in calls:
        first_call.setdefault(call.module, call.index)
    records: list[StatRecord] = []
    for entry in entries:
        stats = _param_stats(entry, deferred)
        base = partial(
            StatRecord,
            run=run,
            index=first_call.get(entry.label, -1),
            layer=entry.label,
            type=entry.type,
            kind="param",
            param=entry.local,
        )
        records += [base(statistic=k, value=v) for k, v in stats.items()]
    return records


def _param_stats(entry: _ParamEntry, deferred: Deferred) -> dict[str, float]:
    norms = deferred.get(entry.norms)
    norm = norms[0]
    stats = {
        "param_norm": norm,
        "param_rms": norm / math.sqrt(max(entry.numel, 1)),
        "param_zero": float(norm == 0),
    }
    if entry.has_grad:
        stats["grad_norm"] = norms[1]
        stats["grad_rms"] = norms[1] / math.sqrt(max(entry.numel, 1))
        stats["grad_ratio"] = norms[1] / norm if norm > 0 else math.inf
    if entry.symmetric is not None:
        stats["dup_unit_frac"] = deferred.get(entry.symmetric)[0]
    if entry.fans is not None and entry.weight is not None:
        stats["weight_zero"] = stats["param_zero"]
        stats["fan_in"], stats["fan_out"] = entry.fans
        names, slot = entry.weight
        stats.update(zip(names, deferred.get(slot)))
        if entry.spectrum is not None:
            names, slot = entry.spectrum
            stats.update(zip(names, deferred.get(slot)))
    return stats


def _jacobian(
    model: nn.Module, probe: Probe, config: DoctorConfig
) -> tuple[list[float], tuple[int, bool] | None, str]:
    """Singular values, (numerical rank, exact?) and why it was skipped ('' if not)."""
    if config.jacobian_steps == 0:
        return [], None, ""
    x = next((a for a in probe.args if isinstance(a, torch.Tensor)), None)
    if x is None or not x.is_floating_point():
        return [], None, "it needs a floating-point first positional input (token ids are not)"
    batch = x.shape[0]
    take = min(batch, config.jacobian_batch)

    def cut(v: Any) -> Any:
        return v[:take].detach() if isinstance(v, torch.Tensor) and v.shape[:1] == (batch,) else v

    args = [cut(a) for a in probe.args]
    kwargs = {k: cut(v) for k, v in probe.kwargs.items()}
    rest = args[0][1:]

    def fn(z: torch.Tensor) -> torch.Tensor:
        out = first_float_tensor(model(torch.cat([z, rest]), *args[1:], **kwargs))
        if out is None:
            raise ValueError("the model output has no floating-point tensor")
        return (out[0] if out.dim() and out.shape[0] == take else out).flatten()

    generator = seeded_generator(config.seed, "doctor-jacobian")
    try:
        values, rank, exact = lanczos_singular_values(
            fn, args[0][:1], steps=config.jacobian_steps, generator=generator
        )
    except (RuntimeError, NotImplementedError) as exc:
        return [], None, f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return values, (rank, exact), ""


def _branch_findings(model: nn.Module, records: list[StatRecord], run: str) -> list[Finding]:
    """The residual branches ``initlab.residual`` finds, with their scale: each branch
    output's std over its block's output std (the share of the stream the branch adds)."""
    try:
        branches = find_branches(model)
    except ValueError:  # no residual block the discovery knows: nothing to report
        return []
    stds = {
        r.layer: r.value
        for r in records
        if r.run == run and r.statistic == "act_std" and not r.param
    }
    ratios = []
    for branch in branches:
        out, block = stds.get(branch.output), stds.get(branch.block)
        if out is not None and block:
            ratios.append(out / block)
    depth, stages = branch_depth(branches)
    message = f"{depth} residual branches (L = {depth}, m = {stages} layers per branch)"
    if ratios:
        ratios.sort()
        median = ratios[len(ratios) // 2]
        message += (
            f"; branch output std / block output std: median {median:.3g} "
            f"(range {ratios[0]:.3g}–{ratios[-1]:.3g})"
        )
    return [
        Finding(
            run=run,
            severity="info",
            layers=(branches[0].name, branches[-1].name),
            statistic="residual_branches",
            message=message,
            recommendation="depth-aware schemes for these branches: the 'fixup', "
            "'depth-scaled' and 'rezero' presets (see docs/residual.md)",
            value=ratios[len(ratios) // 2] if ratios else None,
        )
    ]
