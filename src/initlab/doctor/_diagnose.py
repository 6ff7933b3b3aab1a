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
from functools import partial
from typing import Any

import torch
from torch import nn

from initlab._sampling import seeded_generator
from initlab.doctor._config import DoctorConfig, ProbeSpec
from initlab.doctor._hooks import Call, Recorder, first_float_tensor
from initlab.doctor._probe import Probe, build_probe
from initlab.doctor._records import MODEL_LAYER, Diagnosis, Finding, StatRecord
from initlab.doctor._spectra import lanczos_singular_values
from initlab.doctor._stats import weight_rows, weight_stats
from initlab.doctor._verdicts import judge

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
    with _preserved(model, config.seed):
        calls, grads = _probe_pass(model, resolved, loss_fn, config)
        jacobian, skipped = _jacobian(model, resolved, config)
    records = _call_records(run, calls) + _param_records(run, model, calls, grads, config)
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
            torch.manual_seed(seed)  # restored by fork_rng on exit
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
    model: nn.Module, probe: Probe, loss_fn: LossFn | None, config: DoctorConfig
) -> tuple[list[Call], dict[str, torch.Tensor | None]]:
    args = tuple(_with_grad(a) for a in probe.args)
    kwargs = {k: _with_grad(v) for k, v in probe.kwargs.items()}
    recorder = Recorder(model, hist_bins=config.hist_bins)
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
    return recorder.calls, {name: g for (name, _), g in zip(named, grads)}


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


def _param_records(
    run: str,
    model: nn.Module,
    calls: list[Call],
    grads: dict[str, torch.Tensor | None],
    config: DoctorConfig,
) -> list[StatRecord]:
    first_call: dict[str, int] = {}
    for call in calls:
        first_call.setdefault(call.module, call.index)
    records: list[StatRecord] = []
    seen: set[int] = set()
    for prefix, module in model.named_modules():
        label = prefix or MODEL_LAYER
        for local, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue  # tied: reported once, under its first owner
            seen.add(id(p))
            full = f"{prefix}.{local}" if prefix else local
            stats = _param_stats(module, local, p, grads.get(full), config)
            base = partial(
                StatRecord,
                run=run,
                index=first_call.get(label, -1),
                layer=label,
                type=type(module).__name__,
                kind="param",
                param=local,
            )
            records += [base(statistic=k, value=v) for k, v in stats.items()]
    return records


def _param_stats(
    module: nn.Module,
    local: str,
    p: torch.Tensor,
    grad: torch.Tensor | None,
    config: DoctorConfig,
) -> dict[str, float]:
    norm = float(p.detach().float().norm())
    stats = {"param_norm": norm}
    if grad is not None:
        grad_norm = float(grad.detach().float().norm())
        stats["grad_norm"] = grad_norm
        stats["grad_ratio"] = grad_norm / norm if norm > 0 else math.inf
    if p.dim() >= 2 and config.weight_spectra:
        rows = weight_rows(module, local, p)
        stats["fan_in"] = float(rows.shape[1])
        stats["fan_out"] = float(rows.shape[0] * p[0, 0].numel())
        stats.update(
            weight_stats(
                rows,
                duplicate_tol=config.thresholds.duplicate_tol,
                max_duplicate_rows=config.max_duplicate_rows,
                max_svd_numel=config.max_svd_numel,
            )
        )
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
