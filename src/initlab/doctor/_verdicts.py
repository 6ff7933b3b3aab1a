"""Verdicts: findings computed from the tidy records and the thresholds only.

Each rule returns zero or more :class:`Finding` objects with the layers, the
statistic, the value, the threshold and a recommendation that names an initlab
scheme. A model with no warning or error gets one short ``ok`` summary.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from initlab import initializers
from initlab._activations import ACTIVATIONS
from initlab._gains import recommendation, recommended_scheme
from initlab.doctor._config import Thresholds
from initlab.doctor._records import (
    Finding,
    StatRecord,
    block_table,
    jacobian_rank,
    jacobian_values,
    layer_table,
)

__all__ = ["guess_scheme", "judge", "matches_recommended", "row_activation"]

Row = dict[str, Any]
Fans = tuple[float, float]

# Measured weight std × √fan of the common schemes (gain² per fan mode), and the tolerance
# to call a match. "He (fan_out)" is He: torchvision's ResNets use it.
SCHEME_TOLERANCE = 0.15
_GUESSES = (
    (1 / 3, "PyTorch's default (kaiming_uniform_ a=√5, std 1/√(3·fan_in))", ("fan_in",)),
    (1.0, "LeCun (std 1/√fan_in)", ("fan_in",)),
    (2.0, "He (std √(2/fan_in))", ("fan_in",)),
    (1.0, "Xavier (std √(2/(fan_in+fan_out)))", ("fan_avg",)),
    (2.0, "He fan_out (std √(2/fan_out))", ("fan_out",)),
    (1.0, "LeCun fan_out (std 1/√fan_out)", ("fan_out",)),
)
#: How far a weight's std may sit from the recommended scheme's (under any fan mode) and
#: still count as that scheme: advice is given only beyond it.
MATCH_TOLERANCE = 0.25
FAN_MODES = ("fan_in", "fan_out", "fan_avg")
#: Of a token (integer) input, the reference std is the median of the first layers' stds:
#: one odd embedding scale (RWKV's 1e-4) does not become the yardstick of the network.
TOKEN_REFERENCE_LAYERS = 5
#: Outputs that are distributions (softmax over one token is exactly 1, std 0): their
#: spread is not a signal scale.
PROBABILITY_TYPES = ("Softmax", "Softmin", "Softmax2d", "LogSoftmax")
#: Activations whose output is a gate in (0, 1) (squeeze-excitation, gated units): a gate
#: near constant (sigmoid(≈0) = 0.5) scales what it multiplies by its mean, so its spread
#: is not the signal's scale. Their gradients are still judged (deep sigmoid nets vanish).
GATE_ACTIVATIONS = ("sigmoid", "hardsigmoid")
#: A parameterless row at most this × its predecessor's std, whose gradient is scaled
#: alike, is a branch multiplied by a small parameter (layer scale 1e-5 … 1e-1, ReZero).
HANDOVER_SCALE = 0.1
#: How far the gradient's scaling and the parameter's RMS may sit from the forward's
#: (a factor): a layer scale applied to a summed or concatenated branch is still one.
HANDOVER_SLACK = 2.0
#: A normalization layer whose scale (weight RMS) is below this, and not zero, multiplies
#: its normalized output by about that much: named in the advice as a cause of vanishing.
SMALL_NORM_SCALE = 0.1


def _fan(fan_in: float, fan_out: float, mode: str) -> float:
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def guess_scheme(weight_std: float, fan_in: float, fan_out: float) -> str | None:
    """Name the common scheme a weight's std matches best, or None.

    >>> guess_scheme(math.sqrt(2 / 256), fan_in=64, fan_out=256)  # a 1×1 conv, He fan_out
    'He fan_out (std √(2/fan_out))'
    """
    best: tuple[float, str] | None = None
    for gain2, label, modes in _GUESSES:
        for mode in modes:
            target = math.sqrt(gain2 / _fan(fan_in, fan_out, mode))
            miss = abs(weight_std / target - 1)
            if miss < SCHEME_TOLERANCE and (best is None or miss < best[0]):
                square = fan_in == fan_out and gain2 == 1.0
                best = (miss, "Xavier/LeCun (std 1/√fan, square layers)" if square else label)
    return best[1] if best else None


def recommended_stds(activation: str | None, params: dict[str, float], fans: Fans) -> list[float]:
    """The std the recommended scheme (``auto``'s) gives a weight, under every fan mode."""
    scheme, args = recommended_scheme(activation, params)
    shape = (int(fans[1]), int(fans[0]))  # a 2-D stand-in with these fans
    stds = []
    fields = dataclasses.fields(initializers.get(scheme, **args))
    has_mode = any(f.name == "mode" and f.init for f in fields)  # Xavier has none: fan_avg
    for mode in FAN_MODES if has_mode else (None,):
        initializer = initializers.get(scheme, **({**args, "mode": mode} if mode else args))
        std = initializer.spec(shape).std
        if std is not None:
            stds.append(float(std))
    return stds


def matches_recommended(
    weight_std: float, activation: str | None, params: dict[str, float], fans: Fans
) -> bool:
    """The weight's std is the recommended scheme's within :data:`MATCH_TOLERANCE`."""
    return any(
        target > 0 and abs(weight_std / target - 1) < MATCH_TOLERANCE
        for target in recommended_stds(activation, params, fans)
    )


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


def row_activation(row: Row) -> tuple[str, dict[str, float]] | None:
    """(name, parameters) of the activation a layer-table row applies, or None.

    The recorder tags each activation call with ``act_is_<name>`` (a name from the
    one vocabulary, :data:`initlab.ACTIVATIONS`, as ``initlab.rules`` reads it off
    the module or function) and its parameters as ``act_param_<parameter>``.
    """
    name = next((k.removeprefix("act_is_") for k in row if k.startswith("act_is_")), None)
    if name not in ACTIVATIONS:
        return None
    params = {k.removeprefix("act_param_"): v for k, v in row.items() if k.startswith("act_param_")}
    return name, params


def _weighted(row: Row) -> dict[str, float] | None:
    weight = row["params"].get("weight", {})
    return weight if {"weight_std", "fan_in", "fan_out"} <= weight.keys() else None


def _followers(rows: Sequence[Row]) -> list[tuple[Row, tuple[str, dict[str, float]] | None]]:
    """Each weighted layer with the activation that comes next before another weighted layer."""
    pairs: list[tuple[Row, tuple[str, dict[str, float]] | None]] = []
    for i, row in enumerate(rows):
        if _weighted(row) is None or _zeroed(row):
            continue  # zero-initialized layers are deliberate, not a scheme to advise on
        found = None
        for later in rows[i + 1 :]:
            if _weighted(later) is not None:
                break
            found = row_activation(later)
            if found is not None:
                break
        pairs.append((row, found))
    return pairs


def _norm_scale_advice(rows: Sequence[Row]) -> str:
    """Advice when normalization layers have small, nonzero scales (HF EfficientNet and
    MobileViT draw BatchNorm weights from N(0, 0.02)), else ''."""
    scaled = [
        (r, r["params"]["weight"]["param_rms"])
        for r in rows
        if r.get("normalizes") and "param_rms" in r["params"].get("weight", {})
    ]
    small = [(r, rms) for r, rms in scaled if 0 < rms < SMALL_NORM_SCALE]
    if not small:
        return ""
    row, rms = min(small, key=lambda pair: pair[1])
    return (
        f"{len(small)} of {len(scaled)} normalization layers have small scales (weight RMS "
        f"{rms:.3g} at {row['name']}): each multiplies its normalized output by about that, "
        "and a BatchNorm cannot undo it once the variance falls below its eps; initialize "
        "norm weights to 1 (initlab.ones_, the 'auto' preset's choice; 0 only for the last "
        "norm of a residual branch)"
    )


def _advice(rows: Sequence[Row]) -> str:
    """The cause and the fix: small norm scales if any, then the recommended scheme for
    the dominant activation and whether the weights differ from it."""
    norms = _norm_scale_advice(rows)
    scheme = _scheme_advice(rows)
    return f"{norms}; {scheme}" if norms else scheme


def _scheme_advice(rows: Sequence[Row]) -> str:
    """The recommended scheme for the dominant activation, and whether the weights differ.

    Every weighted layer counts, recognized scheme or not: one default-initialized
    head cannot outvote twenty layers whose std matches no common scheme.
    """
    pairs = _followers(rows)
    if not pairs:
        return recommendation(None)
    votes = Counter(act[0] if act else None for _, act in pairs)
    name = votes.most_common(1)[0][0]
    group = [(r, a) for r, a in pairs if (a[0] if a else None) == name]
    params = next((a[1] for _, a in group if a), {})
    differ = []
    for row, _ in group:
        w = _weighted(row) or {}
        if not matches_recommended(w["weight_std"], name, params, (w["fan_in"], w["fan_out"])):
            differ.append(row)
    kinds = Counter(r["type"] for r, _ in group)
    layer_kind = kinds.most_common(1)[0][0]
    context = f"these {layer_kind} layers are followed by {name or 'no activation'}"
    scheme, _ = recommended_scheme(name, params)
    if not differ:
        return (
            f"{context} and already have the recommended scale ({scheme}); the cause is "
            "elsewhere (biases, normalization, residual scaling, the architecture)"
        )
    guesses = Counter(
        guess_scheme(w["weight_std"], w["fan_in"], w["fan_out"])
        for w in (_weighted(r) or {} for r in differ)
    )
    current = guesses.most_common(1)[0][0]
    if current is None:
        w = _weighted(differ[0]) or {}
        current = (
            f"a scale that matches no common scheme (std × √fan_in = "
            f"{w['weight_std'] * math.sqrt(w['fan_in']):.3g} at {differ[0]['name']})"
        )
    share = "" if len(differ) == len(group) else f" ({len(differ)} of {len(group)})"
    return f"{context}{share} and use {current}: {recommendation(name, params)}"


def _reference(records: Sequence[StatRecord], rows: Sequence[Row], run: str) -> tuple[float, str]:
    """The std that ratios compare with, and what it is (for the messages).

    A float input's std; for token inputs the median std of the first
    :data:`TOKEN_REFERENCE_LAYERS` layers, so one deliberately tiny embedding
    (RWKV's 1e-4) is not the yardstick for everything after its LayerNorm.
    """
    for r in records:
        if r.run == run and r.kind == "input" and r.statistic == "act_std" and r.value > 0:
            return r.value, "input's std"
    first = [row for row in rows if row.get("act_std", 0) > 0][:TOKEN_REFERENCE_LAYERS]
    if first:
        stds = sorted(row["act_std"] for row in first)
        names = f"{first[0]['name']}–{first[-1]['name']}" if len(first) > 1 else first[0]["name"]
        return stds[(len(stds) - 1) // 2], f"median std of the first layers ({names})"
    return 1.0, "unit reference"


def _beyond(ratio: float, limit: float, sign: int) -> bool:
    """ratio below limit (sign -1, vanishing) or above it (sign +1, exploding)."""
    return ratio > limit if sign > 0 else ratio < limit


def _zeroed(row: Row) -> bool:
    """The layer has an all-zero weight or scale: a deliberate zero init (head, branch end)."""
    return _zero_params(row["params"])


def _zero_params(params: dict[str, dict[str, float]]) -> bool:
    return any(
        stats.get("param_zero") or stats.get("weight_zero")
        for name, stats in params.items()
        if name != "bias"
    )


def _zeroed_layers(rows: Sequence[Row], params: dict[str, dict[str, dict[str, float]]]) -> set[str]:
    """Rows with a zero weight or scale, or inside a module whose own ``weight`` is zero
    (timm's ``BatchNormAct2d`` is a BatchNorm with children: its zero-initialized scale
    shows in the rows of its ``drop``/``act`` children). Only ``weight``: a zero class token
    or position table does not scale what the module's children compute."""
    zero = [name for name, p in params.items() if p.get("weight", {}).get("param_zero")]
    return {
        r["name"]
        for r in rows
        if _zeroed(r) or any(r["name"].startswith(f"{name}.") for name in zero if name)
    }


def _pass_through(rows: Sequence[Row]) -> dict[str, str]:
    """Rows that hand on their predecessor's output unchanged (Identity; Dropout and
    DropPath in eval mode): name → the first row of the run they copy. Equal mean, std and
    second moment, bit for bit, is the test: no module list to keep up to date. A layer
    with parameters is never one (a Linear fed zeros outputs its zero bias)."""
    keys = ("act_mean", "act_std", "act_second_moment")
    found: dict[str, str] = {}
    for before, row in zip(rows, rows[1:]):
        if not row["params"] and all(k in row and row[k] == before.get(k) for k in keys):
            source: str = before["name"]
            found[row["name"]] = found.get(source, source)
    return found


def _inherit(names: set[str], through: dict[str, str]) -> set[str]:
    """``names`` plus every pass-through row that copies one of them."""
    return names | {row for row, source in through.items() if source in names}


def _scale_free(rows: Sequence[Row], through: dict[str, str]) -> set[str]:
    """Layers whose output scale does not propagate: softmax outputs, and outputs read
    only by a normalization layer (RWKV's 1e-4 embedding into its LayerNorm; the
    gradient there is large by the same factor, and harmless). Pass-through rows
    (an Identity norm slot, eval-mode dropout) between a layer and its norm are skipped."""
    found = {r["name"] for r in rows if r["type"] in PROBABILITY_TYPES}
    real = [r for r in rows if r["name"] not in through]
    for row, following in zip(real, real[1:]):
        if following.get("normalizes") and not row.get("normalizes"):
            found.add(row["name"])
    return _inherit(found, through)


def _gates(rows: Sequence[Row], through: dict[str, str]) -> set[str]:
    """Gate outputs (:data:`GATE_ACTIVATIONS`) and the layer right before each gate (its
    scale only sets how far the gate moves from its midpoint), with their copies."""
    found: set[str] = set()
    real = [r for r in rows if r["name"] not in through]
    for i, row in enumerate(real):
        activation = row_activation(row)
        if activation is not None and activation[0] in GATE_ACTIVATIONS:
            found.add(row["name"])
            if i > 0 and row_activation(real[i - 1]) is None:
                found.add(real[i - 1]["name"])
    return _inherit(found, through)


def _enclosing_block(name: str, blocks: Sequence[Row]) -> Row | None:
    """The innermost residual block whose module contains the layer ``name``."""
    inside = [
        b
        for b in blocks
        if name.startswith(b["name"].split("#")[0] + ".")
        or name.startswith(b["name"].split("#")[0] + ":")
    ]
    return max(inside, key=lambda b: len(b["name"]), default=None)


def _branches(rows: Sequence[Row], blocks: Sequence[Row]) -> dict[str, float]:
    """Layers inside residual blocks that are smaller than the stream: name → std/stream.

    A residual branch that starts small (zero-initialized last layer or BN, layer
    scale 1e-6, 0.02-scale attention) leaves the block near the identity; what
    matters for propagation is the stream, the block's output. Such layers are
    judged against the stream, whatever the stream's own scale: the stream is
    judged where it leaves the blocks (the layers outside them, as any layer).
    """
    found = {}
    for row in rows:
        block = _enclosing_block(row["name"], blocks)
        stream = float(block.get("act_std", 0.0)) if block else 0.0
        if stream > 0 and row["act_std"] < stream:
            found[row["name"]] = row["act_std"] / stream
    return found


def _signal(
    rows: Sequence[Row],
    ref: float,
    ref_label: str,
    t: Thresholds,
    run: str,
    exempt: set[str],
    scale_free: set[str],
) -> list[Finding]:
    """Vanishing/exploding activations; ``exempt`` layers cannot vanish, ``scale_free``
    ones neither vanish nor explode."""
    findings = []
    for direction, warn, err in (
        ("vanishing", t.vanish_warning, t.vanish_error),
        ("exploding", t.explode_warning, t.explode_error),
    ):
        sign = 1 if direction == "exploding" else -1
        bad = [
            r
            for r in rows
            if _beyond(r["act_std"] / ref, warn, sign)
            and r["name"] not in (scale_free if sign > 0 else exempt)
        ]
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


def _small_branches(
    rows: Sequence[Row], branches: dict[str, float], ref: float, t: Thresholds, run: str
) -> list[Finding]:
    small = [r for r in rows if r["name"] in branches and r["act_std"] / ref < t.vanish_warning]
    if not small:
        return []
    least = min(small, key=lambda r: branches[r["name"]])
    return [
        Finding(
            run=run,
            severity="info",
            layers=tuple(r["name"] for r in small),
            statistic="act_std",
            value=branches[least["name"]],
            threshold=t.vanish_warning,
            message=f"{_span(rows, small)} inside residual blocks are small (down to "
            f"×{branches[least['name']]:.3g} of the residual stream at {least['name']}), but "
            "smaller than the stream they add to: the blocks start near the identity",
            recommendation="fine when deliberate (zero-initialized branch ends, layer scale, "
            "small output projections); the stream is what carries the signal, and it is "
            "judged where it leaves the blocks",
        )
    ]


def _multiplier(
    row: Row, before: Row, params: dict[str, dict[str, dict[str, float]]]
) -> tuple[float, str] | None:
    """(s, parameter) when ``row`` is ``before`` times a small parameter the author set, or None.

    The evidence, all three from the pass: ``row`` has no parameters and its std is
    s ≤ :data:`HANDOVER_SCALE` × ``before``'s; its output gradient is 1/s × ``before``'s
    (within :data:`HANDOVER_SLACK`: ``row`` = s · ``before``, element by element, so the
    backward scales by the same s); and a module enclosing ``row`` holds a parameter of
    RMS s (within the slack): layer scale (CaiT's ``gamma_1 = 1e-5``), ReZero/SkipInit α.
    """
    if row["params"] or not before.get("act_std") or not row.get("grad_rms"):
        return None
    s = row["act_std"] / before["act_std"]
    if not 0 < s <= HANDOVER_SCALE or not before.get("grad_rms"):
        return None
    if not 1 / HANDOVER_SLACK <= before["grad_rms"] / row["grad_rms"] / s <= HANDOVER_SLACK:
        return None
    parts = row["name"].split(".")
    for owner in (".".join(parts[:k]) for k in range(len(parts), 0, -1)):
        for name, stats in params.get(owner, {}).items():
            rms = stats.get("param_rms", 0.0)
            if rms > 0 and 1 / HANDOVER_SLACK <= rms / s <= HANDOVER_SLACK:
                return s, f"{owner}.{name}"
    return None


def _handovers(
    rows: Sequence[Row], path: Sequence[Row], params: dict[str, dict[str, dict[str, float]]]
) -> list[tuple[Row, float, str]]:
    """Rows on the gradient path where the forward hands a deliberately scaled branch to
    another stream (:func:`_multiplier`): (row, s, parameter), in path order."""
    before = {id(b): a for a, b in zip(rows, rows[1:])}
    found = []
    for row in path:
        previous = before.get(id(row))
        hit = _multiplier(row, previous, params) if previous is not None else None
        if hit is not None:
            found.append((row, *hit))
    return found


def _gradients(
    rows: Sequence[Row],
    blocks: Sequence[Row],
    t: Thresholds,
    run: str,
    exempt: set[str],
    params: dict[str, dict[str, dict[str, float]]] | None = None,
) -> list[Finding]:
    """Spread of the output gradients from the last layer to the first, along the stream.

    Inside residual blocks only the blocks' outputs count (a branch scaled by layer
    scale 1e-6 gets gradients 1e-6 smaller, by design); layers outside blocks count as
    they are. A healthy network keeps either the per-example norm of the gradient
    (fan_in schemes: ‖Wᵀg‖ = ‖g‖ on average) or its per-element RMS (fan_out schemes:
    He et al. 2015, torchvision's ResNets); the two differ by √(size ratio) between
    the layers (a 64×32×32 stem against 10 logits: ×81). Gradients vanish (explode)
    only when both shrink (grow) beyond the threshold; the milder of the two is the
    value judged, so neither convention is called unhealthy.

    Where the path hands a branch scaled by a deliberate small multiplier s to another
    stream (:func:`_handovers`: CaiT's patch tokens reach its class token only through
    class-attention branches × layer scale 1e-5), the gradient that reaches the input is
    s × smaller by construction: the smallest such s on the path is divided out before
    judging (one hand-over's worth, never their product), and what it explains is an info.
    """
    outside = [r for r in rows if _enclosing_block(r["name"], blocks) is None]
    path = sorted([*outside, *blocks], key=lambda r: r["index"])
    graded = [r for r in path if r.get("grad_rms") and r["name"] not in exempt]
    if len(graded) < 2:
        return []
    first, last = graded[0], graded[-1]
    per_element = first["grad_rms"] / last["grad_rms"]
    norm = first["grad_norm"] / last["grad_norm"] if last.get("grad_norm") else per_element
    if (per_element < 1) != (norm < 1):
        return []  # one convention shrinks, the other grows: sizes, not depth
    ratio = max(per_element, norm) if per_element < 1 else min(per_element, norm)
    spread = max(ratio, 1 / ratio) if ratio > 0 else math.inf
    if spread <= t.grad_ratio_warning:
        return []
    direction = "vanish" if ratio < 1 else "explode"
    message = (
        f"output gradients go from RMS {last['grad_rms']:.3g} (norm {last['grad_norm']:.3g}) "
        f"at {last['name']} to RMS {first['grad_rms']:.3g} (norm {first['grad_norm']:.3g}) "
        f"at {first['name']}: gradients {direction} toward the input (×{ratio:.2g}; per "
        f"element ×{per_element:.2g}, per-example norm ×{norm:.2g})"
    )
    between = [r for r in path if first["index"] < r["index"] < last["index"]]
    handovers = _handovers(rows, between, params or {}) if ratio < 1 else []
    explained = 1.0
    if handovers:
        row, explained, param = min(handovers, key=lambda h: h[1])
        ratio /= explained
        spread = max(ratio, 1 / ratio) if ratio > 0 else math.inf
        message += (
            f"; ×{explained:.2g} of it is the forward's: at {row['name']} a branch scaled by "
            f"{param} (RMS {explained:.2g}) is handed to another stream, so the gradient "
            f"flowing back through it is scaled alike; the rest is ×{ratio:.2g}"
        )
    if spread <= t.grad_ratio_warning:
        return [
            Finding(
                run=run,
                severity="info",
                layers=(first["name"], last["name"]),
                statistic="grad_norm",
                value=ratio,
                threshold=t.grad_ratio_warning,
                message=message,
                recommendation="fine when deliberate (layer scale, ReZero, SkipInit): the "
                "multiplier grows with training as the branch becomes useful",
            )
        ]
    severity = "error" if spread > t.grad_ratio_error else "warning"
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
    if s.get("weight_zero") or s.get("param_zero"):
        return Finding(
            run=run,
            severity="info",
            layers=(layer,),
            statistic="weight_zero",
            value=1.0,
            threshold=0.0,
            message=f"{where} is all zeros",
            recommendation="fine for a zero-initialized residual branch end (last layer or "
            "norm of the branch) or head; elsewhere no signal passes: use a random scheme",
        )
    if s.get("dup_unit_frac", 0.0) > 0:
        return Finding(
            run=run,
            severity="error",
            layers=(layer,),
            statistic="dup_unit_frac",
            value=s["dup_unit_frac"],
            threshold=0.0,
            message=f"{where}: {s['dup_unit_frac']:.0%} of units are exact copies of another "
            "unit (same weights and bias, same inputs): they compute the same output, get the "
            "same gradient, and will stay identical under gradient descent",
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
            if param == "bias":
                continue  # a zero or constant bias is the norm
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
    per_block = growth ** (1 / (len(blocks) - 1))
    message = (
        f"residual stream variance grows ×{growth:.3g} from {blocks[0]['name']} to "
        f"{blocks[-1]['name']} ({len(blocks)} blocks, ×{per_block:.3g} per block)"
    )
    advice = (
        "scale the residual branches with depth: the 'fixup' preset (Zhang et al. 2019: "
        "last branch layer zero, the others × L^(-1/(2m-2))), 'depth-scaled' (GPT-2's "
        "std/√(2L) on branch outputs) or 'rezero' (branch multipliers 0); "
        "initlab.residual.find_branches shows the branches, L and m"
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


def _summary(
    rows: Sequence[Row], ref: float, records: Sequence[StatRecord], run: str, exempt: set[str]
) -> Finding:
    stds = [r["act_std"] / ref for r in rows if r["name"] not in exempt] or [1.0]
    parts = [
        f"healthy: {len(rows)} layers; activation std stays within "
        f"×{min(stds):.2g}–×{max(stds):.2g} of the reference"
    ]
    grads = [r["grad_rms"] for r in rows if r.get("grad_rms")]
    if len(grads) >= 2:
        parts.append(f"output-gradient RMS spans ×{max(grads) / min(grads):.3g}")
    sv = jacobian_values(records, run)
    rank = jacobian_rank(records, run)
    if sv and rank is not None:
        bound = "" if rank[1] else "≥ "
        parts.append(f"Jacobian singular values {sv[-1]:.3g}–{sv[0]:.3g} (rank {bound}{rank[0]})")
    parts.append("no saturated, dead or symmetric units")
    return Finding(
        run=run, severity="ok", layers=("all",), statistic="summary", message="; ".join(parts)
    )


def _module_params(
    records: Sequence[StatRecord], run: str
) -> dict[str, dict[str, dict[str, float]]]:
    """Every module's parameter statistics, rows or not: layer → param → statistic → value."""
    found: dict[str, dict[str, dict[str, float]]] = {}
    for r in records:
        if r.run == run and r.param:
            found.setdefault(r.layer, {}).setdefault(r.param, {})[r.statistic] = r.value
    return found


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
    blocks = block_table(records, run)
    through = _pass_through(rows)
    branches = _branches(rows, blocks)
    scale_free = _scale_free(rows, through)
    zeroed = _inherit(_zeroed_layers(rows, _module_params(records, run)), through)
    exempt = set(branches) | zeroed | scale_free | _gates(rows, through)
    findings = _signal(rows, ref, ref_label, t, run, exempt, scale_free)
    findings += _gradients(rows, blocks, t, run, scale_free, _module_params(records, run))
    findings += _small_branches(rows, branches, ref, t, run)
    findings += _fraction_rule(
        rows,
        "act_sat_frac",
        t.saturation_warning,
        t.saturation_error,
        "bounded-activation units saturated (within 0.01 of the output range's ends: "
        "|tanh| > 0.99, sigmoid < 0.01 or > 0.99)",
        "shrink the pre-activation scale: " + recommendation("tanh"),
        run,
    )
    findings += _fraction_rule(
        rows,
        "dead_unit_frac",
        t.dead_warning,
        t.dead_error,
        "ReLU units never positive on the probe batch (dead)",
        "check the biases (a large negative bias keeps ReLUs off; use initlab.zeros_ or a "
        "small positive bias) and the weight scale (" + recommendation("relu") + ")",
        run,
    )
    findings += _weights(rows, t, run) + _residual(records, t, run)
    order = {"error": 0, "warning": 1, "info": 2, "ok": 3}
    findings.sort(key=lambda f: order[f.severity])
    if not any(f.severity in ("warning", "error") for f in findings):
        findings.insert(0, _summary(rows, ref, records, run, exempt))
    return findings
