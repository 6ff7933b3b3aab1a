"""Verdicts: findings computed from the tidy records and the thresholds only.

Each rule returns zero or more :class:`Finding` objects with the layers, the
statistic, the value, the threshold and a recommendation that names an initlab
scheme. A model with no warning or error gets one short ``ok`` summary.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from initlab.doctor._config import Thresholds
from initlab.doctor._records import Finding, StatRecord, block_table, jacobian_values, layer_table

__all__ = ["guess_scheme", "judge", "recommend"]

Row = dict[str, Any]

# Measured weight std × sqrt(fan) of the common schemes, and the tolerance to call a match.
SCHEME_TOLERANCE = 0.15
_SCHEMES_FAN_IN = (
    (1 / math.sqrt(3), "PyTorch's default (kaiming_uniform_ a=√5, std 1/√(3·fan_in))"),
    (1.0, "LeCun (std 1/√fan_in)"),
    (math.sqrt(2), "He (std √(2/fan_in))"),
)

_RECOMMEND = {
    "relu": "use He: initlab.kaiming_normal_(w, mode='fan_in', nonlinearity='relu') "
    "(the 'auto' preset picks it for ReLU layers)",
    "tanh": "use Xavier with the tanh gain: initlab.xavier_uniform_(w, gain=initlab.gain('tanh')) "
    "or initlab.orthogonal_(w, gain=initlab.gain('tanh'))",
    "sigmoid": "use Xavier with the sigmoid gain: "
    "initlab.xavier_uniform_(w, gain=initlab.gain('sigmoid'))",
    "selu": "use LeCun normal: initlab.lecun_normal_(w) (self-normalizing SELU)",
    None: "use a variance-preserving scheme: initlab.orthogonal_(w) or initlab.lecun_normal_(w)",
}
_RECOMMEND["relu6"] = _RECOMMEND["leaky_relu"] = _RECOMMEND["relu"]
_RECOMMEND["hardtanh"] = _RECOMMEND["tanh"]


def recommend(activation: str | None) -> str:
    """The scheme to use before ``activation`` (a name from initlab.ACTIVATIONS or None)."""
    if activation in _RECOMMEND:
        return _RECOMMEND[activation]
    return (
        f"use He-style scaling with the derived gain: initlab.variance_scaling_ / "
        f"kaiming_normal_ with gain initlab.gain({activation!r})"
    )


def guess_scheme(weight_std: float, fan_in: float, fan_out: float) -> str | None:
    """Name the common scheme a weight's std matches, or None."""
    for target, label in _SCHEMES_FAN_IN:
        if abs(weight_std * math.sqrt(fan_in) / target - 1) < SCHEME_TOLERANCE:
            if fan_in == fan_out and target == 1.0:
                return "Xavier/LeCun (std 1/√fan, square layers)"
            return label
    if abs(weight_std * math.sqrt((fan_in + fan_out) / 2) - 1) < SCHEME_TOLERANCE:
        return "Xavier (std √(2/(fan_in+fan_out)))"
    return None


def _span(rows: Sequence[Row], bad: Sequence[Row]) -> str:
    """The flagged rows as table names, consecutive table rows joined: ``layers 27, 29–39``.

    A range ``A–B`` means every row from A to B in the table; a gap is shown as
    a gap, so the count always equals what the ranges cover.
    """
    position = {id(r): i for i, r in enumerate(rows)}
    runs: list[list[Row]] = []
    for row in bad:
        if runs and position[id(row)] == position[id(runs[-1][-1])] + 1:
            runs[-1].append(row)
        else:
            runs.append([row])
    parts = [
        run[0]["name"] if len(run) == 1 else f"{run[0]['name']}–{run[-1]['name']}" for run in runs
    ]
    if len(bad) == 1:
        return f"layer {parts[0]}"
    shown = parts if len(parts) <= 4 else [*parts[:2], "…", parts[-1]]
    return f"layers {', '.join(shown)} ({len(bad)} of {len(rows)} layers)"


def _dominant_activation(rows: Sequence[Row]) -> str | None:
    acts = Counter(r["type"] for r in rows if r.get("kind") == "functional")
    acts.update(_module_activation(r["type"]) for r in rows if r.get("kind") == "layer")
    acts.pop(None, None)  # type: ignore[call-overload]
    return acts.most_common(1)[0][0].removeprefix("F.") if acts else None


def _module_activation(type_name: str) -> str | None:
    names = {
        "ReLU": "relu",
        "ReLU6": "relu6",
        "LeakyReLU": "leaky_relu",
        "Tanh": "tanh",
        "Sigmoid": "sigmoid",
        "Hardtanh": "hardtanh",
        "GELU": "gelu",
        "SiLU": "silu",
        "ELU": "elu",
        "SELU": "selu",
        "Softplus": "softplus",
        "Mish": "mish",
    }
    return names.get(type_name)


def _current_scheme(rows: Sequence[Row]) -> str | None:
    guesses: Counter[str | None] = Counter()
    for row in rows:
        weight = row["params"].get("weight", {})
        if {"weight_std", "fan_in", "fan_out"} <= weight.keys():
            guesses[guess_scheme(weight["weight_std"], weight["fan_in"], weight["fan_out"])] += 1
    guesses.pop(None, None)  # type: ignore[call-overload]
    return guesses.most_common(1)[0][0] if guesses else None


def _advice(rows: Sequence[Row]) -> str:
    act = _dominant_activation(rows)
    weighted = [r for r in rows if "weight" in r["params"]]
    scheme = _current_scheme(weighted)
    kinds = Counter(r["type"] for r in weighted)
    layer_kind = kinds.most_common(1)[0][0] if kinds else "weight"
    context = f"these {layer_kind} layers are followed by {act or 'no activation'}"
    context += f" and use {scheme}" if scheme else ""
    return f"{context}: {recommend(act)}"


def _reference(records: Sequence[StatRecord], rows: Sequence[Row], run: str) -> tuple[float, str]:
    """The std that ratios compare with, and what it is (for the messages)."""
    for r in records:
        if r.run == run and r.kind == "input" and r.statistic == "act_std" and r.value > 0:
            return r.value, "input's std"
    for row in rows:
        if row.get("act_std", 0) > 0:
            return row["act_std"], f"std at the first layer, {row['name']},"
    return 1.0, "unit reference"


def _beyond(ratio: float, limit: float, sign: int) -> bool:
    """ratio below limit (sign -1, vanishing) or above it (sign +1, exploding)."""
    return ratio > limit if sign > 0 else ratio < limit


def _signal(
    rows: Sequence[Row], ref: float, ref_label: str, t: Thresholds, run: str
) -> list[Finding]:
    findings = []
    for direction, warn, err in (
        ("vanishing", t.vanish_warning, t.vanish_error),
        ("exploding", t.explode_warning, t.explode_error),
    ):
        sign = 1 if direction == "exploding" else -1
        bad = [r for r in rows if _beyond(r["act_std"] / ref, warn, sign)]
        if not bad:
            continue
        extreme = max(bad, key=lambda r: sign * r["act_std"])
        ratio = extreme["act_std"] / ref
        severity = "error" if _beyond(ratio, err, sign) else "warning"
        names = [r["name"] for r in bad]
        first = bad[0]
        side = "below" if sign < 0 else "above"
        message = (
            f"{_span(rows, bad)}: activation std {side} {warn:g}× the {ref_label} "
            f"({ref:.3g}); it is {first['act_std']:.3g} at {first['name']}"
        )
        if extreme is not first:
            verb = "falls" if sign < 0 else "grows"
            message += f" and {verb} to {extreme['act_std']:.3g} at {extreme['name']}"
        message += f" (×{ratio:.3g} of the reference; {direction})"
        findings.append(
            Finding(
                run=run,
                severity=severity,
                layers=tuple(names),
                statistic="act_std",
                value=ratio,
                threshold=warn,
                message=message,
                recommendation=_advice(rows),
            )
        )
    return findings


def _gradients(rows: Sequence[Row], t: Thresholds, run: str) -> list[Finding]:
    graded = [r for r in rows if r.get("grad_norm")]
    if len(graded) < 2:
        return []
    first, last = graded[0], graded[-1]
    ratio = first["grad_norm"] / last["grad_norm"]
    spread = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    if spread <= t.grad_ratio_warning:
        return []
    direction = "vanish" if ratio < 1 else "explode"
    severity = "error" if spread > t.grad_ratio_error else "warning"
    message = (
        f"output-gradient norm goes from {last['grad_norm']:.3g} at {last['name']} to "
        f"{first['grad_norm']:.3g} at {first['name']}: gradients {direction} toward the input "
        f"(×{ratio:.2g})"
    )
    return [
        Finding(
            run=run,
            severity=severity,
            layers=(first["name"], last["name"]),
            statistic="grad_norm",
            value=ratio,
            threshold=t.grad_ratio_warning,
            message=message,
            recommendation=_advice(rows),
        )
    ]


def _fraction_rule(
    rows: Sequence[Row], statistic: str, warn: float, err: float, what: str, advice: str, run: str
) -> list[Finding]:
    bad = [r for r in rows if r.get(statistic, 0.0) > warn]
    if not bad:
        return []
    worst_row = max(bad, key=lambda r: r[statistic])
    worst = worst_row[statistic]
    names = tuple(r["name"] for r in bad)
    message = f"{_span(rows, bad)}: up to {worst:.0%} (at {worst_row['name']}) of {what}"
    severity = "error" if worst > err else "warning"
    return [
        Finding(
            run=run,
            severity=severity,
            layers=names,
            statistic=statistic,
            value=worst,
            threshold=warn,
            message=message,
            recommendation=advice,
        )
    ]


def _weight_finding(
    where: str, layer: str, s: dict[str, float], t: Thresholds, run: str
) -> Finding | None:
    if s.get("weight_zero"):
        return Finding(
            run=run,
            severity="info",
            layers=(layer,),
            statistic="weight_zero",
            value=1.0,
            threshold=0.0,
            message=f"{where} is all zeros",
            recommendation="fine for a zero-initialized residual branch or head; "
            "elsewhere no signal passes: use a random scheme",
        )
    if s.get("dup_unit_frac", 0.0) > 0:
        return Finding(
            run=run,
            severity="error",
            layers=(layer,),
            statistic="dup_unit_frac",
            value=s["dup_unit_frac"],
            threshold=t.duplicate_tol,
            message=f"{where}: {s['dup_unit_frac']:.0%} of units have an identical twin "
            "(symmetric init: identical units get identical gradients and never differ)",
            recommendation="break the symmetry with a random scheme, e.g. "
            "initlab.kaiming_normal_ or initlab.orthogonal_",
        )
    if s.get("rank_frac", 1.0) < t.rank_fraction_warning and s.get("fan_in", 1) > 1:
        return Finding(
            run=run,
            severity="warning",
            layers=(layer,),
            statistic="rank_frac",
            value=s["rank_frac"],
            threshold=t.rank_fraction_warning,
            message=f"{where}: effective rank {s['effective_rank']:.3g} is "
            f"{s['rank_frac']:.1%} of full rank",
            recommendation="use a full-rank scheme such as initlab.orthogonal_",
        )
    return None


def _weights(rows: Sequence[Row], t: Thresholds, run: str) -> list[Finding]:
    findings = []
    for row in rows:
        for param, stats in row["params"].items():
            found = _weight_finding(f"{row['name']}.{param}", row["name"], stats, t, run)
            if found is not None:
                findings.append(found)
    return findings


def _residual(records: Sequence[StatRecord], t: Thresholds, run: str) -> list[Finding]:
    blocks = [b for b in block_table(records, run) if b.get("act_second_moment")]
    if len(blocks) < 2:
        return []
    growth = blocks[-1]["act_second_moment"] / blocks[0]["act_second_moment"]
    if growth <= t.residual_growth_warning:
        return []
    message = (
        f"residual stream variance grows ×{growth:.3g} from {blocks[0]['name']} to "
        f"{blocks[-1]['name']} ({len(blocks)} blocks)"
    )
    advice = (
        "scale each residual branch's last layer down, e.g. std/√(2·n_blocks) as in the "
        "'gpt2' preset, or zero-initialize it (initlab.zeros_)"
    )
    return [
        Finding(
            run=run,
            severity="warning",
            layers=(blocks[0]["name"], blocks[-1]["name"]),
            statistic="act_second_moment",
            value=growth,
            threshold=t.residual_growth_warning,
            message=message,
            recommendation=advice,
        )
    ]


def _summary(rows: Sequence[Row], ref: float, records: Sequence[StatRecord], run: str) -> Finding:
    stds = [r["act_std"] / ref for r in rows]
    parts = [
        f"healthy: {len(rows)} layers; activation std stays within "
        f"×{min(stds):.2g}–×{max(stds):.2g} of the input"
    ]
    grads = [r["grad_norm"] for r in rows if r.get("grad_norm")]
    if len(grads) >= 2:
        parts.append(f"output-gradient norms span ×{max(grads) / min(grads):.3g}")
    sv = jacobian_values(records, run)
    if sv and sv[-1] > 0:
        parts.append(f"Jacobian singular values {sv[-1]:.3g}–{sv[0]:.3g}")
    parts.append("no saturated, dead or symmetric units")
    return Finding(
        run=run, severity="ok", layers=("all",), statistic="summary", message="; ".join(parts)
    )


def judge(records: Sequence[StatRecord], thresholds: Thresholds, run: str) -> list[Finding]:
    """All findings for ``run``: problems first by severity, or one ``ok`` summary."""
    rows = [r for r in layer_table(records, run) if "act_std" in r]
    if not rows:
        return [
            Finding(
                run=run,
                severity="info",
                layers=(),
                statistic="layers",
                message="no layer produced a floating-point output",
            )
        ]
    t = thresholds
    ref, ref_label = _reference(records, rows, run)
    findings = _signal(rows, ref, ref_label, t, run) + _gradients(rows, t, run)
    findings += _fraction_rule(
        rows,
        "act_sat_frac",
        t.saturation_warning,
        t.saturation_error,
        "bounded-activation units saturated (|tanh| > 0.99, sigmoid < 0.01 or > 0.99)",
        "shrink the pre-activation scale: " + recommend("tanh"),
        run,
    )
    findings += _fraction_rule(
        rows,
        "dead_unit_frac",
        t.dead_warning,
        t.dead_error,
        "ReLU units never positive on the probe batch (dead)",
        "check the biases (a large negative bias keeps ReLUs off; use initlab.zeros_ or a "
        "small positive bias) and the weight scale (" + recommend("relu") + ")",
        run,
    )
    findings += _weights(rows, t, run) + _residual(records, t, run)
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    findings.sort(key=lambda f: order[f.severity])
    if not any(f.severity in ("warning", "error") for f in findings):
        findings.insert(0, _summary(rows, ref, records, run))
    return findings
