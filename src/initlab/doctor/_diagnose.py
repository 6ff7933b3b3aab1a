"""Orchestration: one probe forward, one backward, the spectra, then the verdicts.

The model is left as found: buffers (BatchNorm running statistics) are restored,
``.grad`` is never written (``torch.autograd.grad``), and the global RNG state is
restored by ``torch.random.fork_rng`` (dropout inside the probe is seeded there
from ``config.seed`` so that every pass sees the same masks).
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
from initlab.doctor._stats import Deferred, Slot, weight_group_stats, weight_rows
from initlab.doctor._verdicts import judge
from initlab.rng import seeded_generator

__all__ = ["diagnose"]

LossFn = Callable[[Any], torch.Tensor]


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
    resolved = build_probe(model, inputs, probe, seed=config.seed, batch_size=config.batch_size)
    deferred = Deferred()
    with _preserved(model, config.seed):
        recorder, grads = _probe_pass(model, resolved, loss_fn, config, deferred)
        entries = _queue_params(model, grads, config, deferred)
        deferred.fetch()  # the one device-to-host transfer of every statistic
        calls = recorder.resolve()
        jacobian, skipped = _jacobian(model, resolved, config)
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
    findings = judge(records, config.thresholds, run)
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


@contextmanager
def _preserved(model: nn.Module, seed: int) -> Iterator[None]:
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    devices = [d for d in {p.device for p in model.parameters()} if d.type == "cuda"]
    try:
        with torch.random.fork_rng(devices=devices):
            # The model's own random ops (dropout) draw from the global generator: seed it for
            # a reproducible probe pass; fork_rng restores the caller's state on exit.
            torch.manual_seed(seed)
            yield
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                if name in buffers:
                    b.copy_(buffers[name])


def _with_grad(value: Any) -> Any:
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value.detach().clone().requires_grad_(True)
    return value


def _probe_pass(
    model: nn.Module,
    probe: Probe,
    loss_fn: LossFn | None,
    config: DoctorConfig,
    deferred: Deferred,
) -> tuple[Recorder, dict[str, torch.Tensor | None]]:
    args = tuple(_with_grad(a) for a in probe.args)
    kwargs = {k: _with_grad(v) for k, v in probe.kwargs.items()}
    recorder = Recorder(model, hist_bins=config.hist_bins, deferred=deferred)
    with torch.enable_grad(), recorder:
        first = first_float_tensor((args, kwargs))
        if first is not None:
            recorder.record_input(first)
        try:
            output = model(*args, **kwargs)
        except Exception as exc:
            where = recorder.failing_module() or "(model)"
            raise ValueError(
                f"the model failed on the probe batch ({probe.description}) in module "
                f"{where}: {exc}; check the input shape (--input-shape) and dtype"
            ) from exc
    loss = _loss(output, loss_fn, config.seed)
    named = _unique_parameters(model)
    leaves = (*args, *kwargs.values())
    inputs = [t for t in leaves if isinstance(t, torch.Tensor) and t.requires_grad]
    targets = [p for _, p in named] + inputs
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
        if call.grad_norm is not None:
            stats["grad_norm"] = call.grad_norm
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
    norms: Slot
    has_grad: bool
    fans: tuple[float, float] | None = None
    weight: tuple[tuple[str, ...], Slot] | None = None


def _queue_params(
    model: nn.Module,
    grads: dict[str, torch.Tensor | None],
    config: DoctorConfig,
    deferred: Deferred,
) -> list[_ParamEntry]:
    """Queue every parameter's norms, and its weight statistics batched per shape group."""
    entries: list[_ParamEntry] = []
    groups: dict[tuple[Any, ...], list[tuple[_ParamEntry, torch.Tensor]]] = {}
    seen: set[int] = set()
    for prefix, module in model.named_modules():
        for local, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue  # tied: reported once, under its first owner
            seen.add(id(p))
            full = f"{prefix}.{local}" if prefix else local
            grad = grads.get(full)
            norms = [torch.linalg.vector_norm(p.detach().float())]
            if grad is not None:
                norms.append(torch.linalg.vector_norm(grad.detach().float()))
            entry = _ParamEntry(
                label=prefix or MODEL_LAYER,
                type=type(module).__name__,
                local=local,
                norms=deferred.add(torch.stack(norms)),
                has_grad=grad is not None,
            )
            entries.append(entry)
            if p.dim() >= 2 and config.weight_spectra:
                rows = weight_rows(module, local, p)
                entry.fans = (float(rows.shape[1]), float(rows.shape[0] * p[0, 0].numel()))
                key = (tuple(rows.shape), rows.device, rows.dtype)
                groups.setdefault(key, []).append((entry, rows))
    for (shape, _, _), members in groups.items():
        names, values = weight_group_stats(
            [rows for _, rows in members],
            duplicate_tol=config.thresholds.duplicate_tol,
            max_duplicate_rows=config.max_duplicate_rows,
            svd=math.prod(shape) <= config.max_svd_numel and min(shape) >= 1,
        )
        for (entry, _), row in zip(members, values):
            entry.weight = (names, deferred.add(row))
    return entries


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
    stats = {"param_norm": norm}
    if entry.has_grad:
        stats["grad_norm"] = norms[1]
        stats["grad_ratio"] = norms[1] / norm if norm > 0 else math.inf
    if entry.fans is not None and entry.weight is not None:
        stats["fan_in"], stats["fan_out"] = entry.fans
        names, slot = entry.weight
        stats.update(zip(names, deferred.get(slot)))
    return stats


def _jacobian(model: nn.Module, probe: Probe, config: DoctorConfig) -> tuple[list[float], str]:
    if config.jacobian_steps == 0:
        return [], ""
    x = next((a for a in probe.args if isinstance(a, torch.Tensor)), None)
    if x is None or not x.is_floating_point():
        return [], "it needs a floating-point first positional input (token ids are not)"
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
        values = lanczos_singular_values(
            fn, args[0][:1], steps=config.jacobian_steps, generator=generator
        )
    except (RuntimeError, NotImplementedError) as exc:
        return [], f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
    return values, ""
