"""Residual-aware schemes as rules: Fixup, ReZero/SkipInit, depth-scaled projections, DeepNet.

Every function returns a list of :class:`initlab.Rule` that names the layers it found
(first match wins, so put them before a catch-all such as the ``auto`` preset's rules)
and writes into each rule's description which branch, which ``L`` and ``m`` and which
scale it used; the plan shows the description and the resulting std. Nothing here
edits the module tree: the architectural parts are in :mod:`initlab.residual._transform`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from torch import nn

from initlab._gains import recommended_scheme
from initlab._initializers import VarianceScaling
from initlab._registry import get
from initlab._validation import check_choice, check_positive
from initlab.residual._branches import (
    BLOCK_TYPES,
    ResidualBranch,
    find_branches,
    find_classifier,
    layer_layout,
)
from initlab.rules._activations import DetectedActivation, detect_activations
from initlab.rules._rules import Rule

__all__ = [
    "DEEPNET_ARCHITECTURES",
    "GAIN_NAMES",
    "DeepNormConstants",
    "deepnet_constants",
    "deepnet_rules",
    "depth_scaled_rules",
    "fixup_rules",
    "fixup_scale",
    "rezero_rules",
]

#: Name globs of scalar residual multipliers: ours (``residual_gain``, added by
#: :func:`initlab.residual.add_residual_gains`) and common spellings in model code.
GAIN_NAMES = ("*residual_gain", "*resweight", "*res_weight", "*rezero_alpha", "*skipinit_gain")
#: Name globs of the scalars :func:`initlab.residual.fixup_transform` adds.
FIXUP_BIAS_NAMES = ("*fixup_bias_in", "*fixup_bias_out")
FIXUP_SCALE_NAMES = ("*fixup_scale",)


def fixup_scale(n_branches: int, m: int) -> float:
    """Fixup's multiplier on the standard init's std: ``L^(-1/(2m-2))``.

    Zhang, Dauphin & Ma (2019), "Fixup Initialization: Residual Learning Without
    Normalization", ICLR: with ``L`` residual branches of ``m`` layers each, scale the
    standard init of every branch layer but the last by ``L^(-1/(2m-2))`` and zero the
    last, so an SGD step changes the output by Θ(η/L) whatever the depth.

    >>> round(fixup_scale(16, 2), 6)  # ResNet-34 style: 16 basic blocks, m = 2
    0.25
    >>> round(fixup_scale(16, 3), 6)  # ResNet-50 style: 16 bottlenecks, m = 3
    0.5
    """
    if n_branches < 1:
        raise ValueError(f"n_branches={n_branches!r} must be at least 1")
    if m < 2:
        raise ValueError(f"m={m!r}: a branch of one layer has nothing to scale (2m-2 = 0)")
    return float(n_branches) ** (-1.0 / (2 * m - 2))


def _base(activation: DetectedActivation | None) -> tuple[str, VarianceScaling]:
    """The standard (activation-aware) init of a layer, as a variance-scaling object."""
    name, args = recommended_scheme(
        None if activation is None else activation.name,
        None if activation is None else activation.params,
    )
    init = get(name, **args)
    if not isinstance(init, VarianceScaling):  # every recommended scheme is one today
        raise TypeError(f"recommended scheme {name!r} is not a variance-scaling scheme")
    return name, init


def _scaled_rule(
    layer: str, module: nn.Module, act: DetectedActivation | None, factor: float, why: str
) -> Rule:
    base_name, base = _base(act)
    scale = base._scale() * factor**2  # the std multiplies by factor, the variance by factor²
    return Rule(
        scheme="variance_scaling",
        args={"scale": scale, "mode": base.mode, "distribution": base.distribution},
        name=f"{layer}.weight",
        layout=layer_layout(module),
        description=f"{why}: {base_name} std × {factor:.4g}",
    )


def _activations(
    model: nn.Module, activations: Mapping[str, DetectedActivation] | None
) -> Mapping[str, DetectedActivation]:
    return activations if activations is not None else detect_activations(model)


def fixup_rules(
    model: nn.Module,
    *,
    branches: Mapping[str, Sequence[Any]] | None = None,
    classifier: str | None = "auto",
    activations: Mapping[str, DetectedActivation] | None = None,
    block_types: Sequence[str] = BLOCK_TYPES,
) -> list[Rule]:
    """Fixup's rules (Zhang, Dauphin & Ma, ICLR 2019; formula in :func:`fixup_scale`).

    For each of the ``L`` residual branches with ``m`` stages: the last stage's weights
    are zero; the others get their standard init (the activation-aware choice of the
    ``auto`` preset: He for ReLU) with the std multiplied by ``L^(-1/(2m-2))``, through
    ``variance_scaling`` with ``scale`` multiplied by ``L^(-2/(2m-2))``. Branch biases,
    the classifier (``"auto"``: :func:`find_classifier`; a module name; None to skip)
    and the scalar biases added by :func:`fixup_transform` are zero, its multipliers one.

    >>> from torch import nn
    >>> class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv1, self.conv2 = nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)
    >>> net = nn.Sequential(*[Block() for _ in range(4)])
    >>> rules = fixup_rules(net, activations={})
    >>> rules[0].description
    'fixup: branch 0 (L=4, m=2) layer 1/2: variance_scaling std × 0.5'
    """
    found = find_branches(model, branches=branches, block_types=block_types)
    acts = _activations(model, activations)
    modules = dict(model.named_modules())
    n = len(found)
    rules: list[Rule] = []
    for branch in found:
        where = f"fixup: branch {branch.name} (L={n}, m={branch.m})"
        factor = fixup_scale(n, branch.m) if branch.m > 1 else 1.0
        for index, stage in enumerate(branch.stages[:-1]):
            for layer in stage:
                why = f"{where} layer {index + 1}/{branch.m}"
                rules.append(_scaled_rule(layer, modules[layer], acts.get(layer), factor, why))
        rules.append(
            Rule(
                scheme="zeros",
                name=tuple(f"{layer}.weight" for layer in branch.last),
                description=f"{where} last layer: zero",
            )
        )
    branch_biases = tuple(f"{layer}.bias" for b in found for layer in b.layers)
    rules.append(Rule(scheme="zeros", name=branch_biases, description="fixup: branch bias zero"))
    head = find_classifier(model, found) if classifier == "auto" else classifier
    if head is not None:
        rules.append(
            Rule(
                scheme="zeros",
                name=(f"{head}.weight", f"{head}.bias"),
                description=f"fixup: classifier {head} zero",
            )
        )
    rules += [
        Rule(scheme="zeros", name=FIXUP_BIAS_NAMES, description="fixup: scalar bias zero"),
        Rule(scheme="ones", name=FIXUP_SCALE_NAMES, description="fixup: branch multiplier one"),
        Rule(scheme="ones", name=GAIN_NAMES, description="fixup: residual multiplier one"),
    ]
    return rules


def rezero_rules(
    model: nn.Module, *, alpha: float = 0.0, names: Sequence[str] = GAIN_NAMES
) -> list[Rule]:
    """ReZero / SkipInit: every scalar residual multiplier set to ``alpha`` (default 0).

    Bachlechner et al. (2021), "ReZero is All You Need: Fast Convergence at Large Depth"
    (``x_{l+1} = x_l + α_l·F(x_l)``, α_l = 0); De & Smith (2020), "Batch Normalization
    Biases Residual Blocks Towards the Identity Function in Deep Networks" (SkipInit:
    a multiplier α after the branch, initialized to 0 or a small constant). At α = 0 every
    block starts as the identity. The multipliers must exist: the model's own (names
    matching ``names``) or those :func:`add_residual_gains` adds; otherwise ``ValueError``.
    """
    found = [n for n, p in model.named_parameters() if any(fnmatchcase(n, g) for g in names)]
    if not found:
        raise ValueError(
            f"{type(model).__name__} has no residual multiplier (no parameter matches "
            f"{list(names)}); add them with initlab.residual.add_residual_gains(model) first"
        )
    return [
        Rule(
            scheme="constant",
            args={"value": float(alpha)},
            name=tuple(found),
            description=f"rezero/skipinit: residual multiplier α = {alpha:g} ({len(found)})",
        )
    ]


def _blocks(branches: Sequence[ResidualBranch]) -> int:
    return len({b.block for b in branches})


def depth_scaled_rules(
    model: nn.Module,
    *,
    std: float = 0.02,
    n_layer: int | None = None,
    branches: Mapping[str, Sequence[Any]] | None = None,
    block_types: Sequence[str] = BLOCK_TYPES,
) -> list[Rule]:
    """GPT-2's depth-scaled residual projections: ``N(0, (std/√(2L))²)``.

    Radford et al. (2019), "Language Models are Unsupervised Multitask Learners": the
    weights of each residual branch's output projection are scaled by ``1/√N`` with
    ``N = 2L`` residual branches (attention and MLP in each of ``L`` blocks), so the
    residual stream's variance does not grow with depth. ``L`` is ``n_layer`` or the
    number of blocks found.
    """
    check_positive("std", std)
    found = find_branches(model, branches=branches, block_types=block_types)
    layers = int(n_layer) if n_layer is not None else _blocks(found)
    scaled = std / math.sqrt(2 * layers)
    modules = dict(model.named_modules())
    rules = []
    for branch in found:
        for layer in branch.last:
            rules.append(
                Rule(
                    scheme="normal",
                    args={"std": scaled},
                    name=f"{layer}.weight",
                    layout=layer_layout(modules[layer]),
                    description=f"depth-scaled: branch {branch.name} output projection, "
                    f"std {std}/sqrt(2L), L={layers} = {scaled:.4g}",
                )
            )
    return rules


DEEPNET_ARCHITECTURES = ("encoder", "decoder", "encoder-decoder")


@dataclass(frozen=True, kw_only=True)
class DeepNormConstants:
    """DeepNorm's α (residual multiplier) and β (init gain) per stack (None: no stack)."""

    architecture: str
    n_encoder: int | None
    n_decoder: int | None
    alpha_encoder: float | None
    beta_encoder: float | None
    alpha_decoder: float | None
    beta_decoder: float | None

    def formulas(self) -> dict[str, str]:
        """The paper's formulas for this architecture, by stack."""
        if self.architecture == "encoder":
            return {"encoder": "α = (2N)^(1/4), β = (8N)^(-1/4)"}
        if self.architecture == "decoder":
            return {"decoder": "α = (2M)^(1/4), β = (8M)^(-1/4)"}
        return {
            "encoder": "α = 0.81·(N⁴M)^(1/16), β = 0.87·(N⁴M)^(-1/16)",
            "decoder": "α = (3M)^(1/4), β = (12M)^(-1/4)",
        }


def _positive_int(name: str, value: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}={value!r} must be a positive integer for this architecture")
    return value


def deepnet_constants(
    architecture: str, *, n_encoder: int | None = None, n_decoder: int | None = None
) -> DeepNormConstants:
    """DeepNorm's constants (Wang et al. 2022, "DeepNet: Scaling Transformers to 1,000
    Layers"). DeepNorm computes ``x_{l+1} = LN(α·x_l + G(x_l))`` and initializes the FFN,
    value and output projections with Xavier normal of gain β (Q, K: gain 1):

    * encoder-only, ``N`` layers: ``α = (2N)^(1/4)``, ``β = (8N)^(-1/4)``
    * decoder-only, ``M`` layers: ``α = (2M)^(1/4)``, ``β = (8M)^(-1/4)``
    * encoder–decoder: encoder ``α = 0.81·(N⁴M)^(1/16)``, ``β = 0.87·(N⁴M)^(-1/16)``;
      decoder ``α = (3M)^(1/4)``, ``β = (12M)^(-1/4)``

    >>> c = deepnet_constants("decoder", n_decoder=2)
    >>> round(c.alpha_decoder, 4), round(c.beta_decoder, 4)
    (1.4142, 0.5)
    """
    check_choice("architecture", architecture, DEEPNET_ARCHITECTURES)
    a_enc = b_enc = a_dec = b_dec = None
    if architecture == "encoder":
        n = _positive_int("n_encoder", n_encoder)
        a_enc, b_enc = (2 * n) ** 0.25, (8 * n) ** -0.25
    elif architecture == "decoder":
        m = _positive_int("n_decoder", n_decoder)
        a_dec, b_dec = (2 * m) ** 0.25, (8 * m) ** -0.25
    else:
        n, m = _positive_int("n_encoder", n_encoder), _positive_int("n_decoder", n_decoder)
        a_enc, b_enc = 0.81 * (n**4 * m) ** (1 / 16), 0.87 * (n**4 * m) ** (-1 / 16)
        a_dec, b_dec = (3 * m) ** 0.25, (12 * m) ** -0.25
    return DeepNormConstants(
        architecture=architecture,
        n_encoder=n_encoder,
        n_decoder=n_decoder,
        alpha_encoder=a_enc,
        beta_encoder=b_enc,
        alpha_decoder=a_dec,
        beta_decoder=b_dec,
    )


_QK = ("q", "k", "q_proj", "k_proj", "query", "key", "wq", "wk")


def _stack(branch: ResidualBranch, architecture: str, decoder_glob: str) -> str:
    if architecture != "encoder-decoder":
        return architecture
    return "decoder" if fnmatchcase(branch.block, decoder_glob) else "encoder"


def _deepnet_gain(branch: ResidualBranch, layer: str, beta: float) -> tuple[float, str]:
    if branch.kind != "attention" or layer in branch.last:
        return beta, "β"
    local = layer.rpartition(".")[2]
    if local in _QK:
        return 1.0, "1 (query/key)"
    if len(branch.stages[0]) == 1:  # packed Q, K, V in one tensor: β cannot reach V alone
        return 1.0, "1 (packed q,k,v: β on v alone not separable)"
    return beta, "β"


def deepnet_rules(
    model: nn.Module,
    *,
    architecture: str = "decoder",
    n_encoder: int | None = None,
    n_decoder: int | None = None,
    decoder: str = "*decoder*",
    branches: Mapping[str, Sequence[Any]] | None = None,
    block_types: Sequence[str] = BLOCK_TYPES,
) -> list[Rule]:
    """DeepNet's init (:func:`deepnet_constants`): Xavier normal with gain β on FFN,
    value and output projections, gain 1 on queries and keys. ``N``/``M`` default to the
    number of blocks found in each stack (blocks whose name matches ``decoder`` form the
    decoder of an encoder–decoder). α is architectural (``LN(α·x + G(x))`` in the
    model's forward): each rule's description states it; the rules do not apply it.
    """
    found = find_branches(model, branches=branches, block_types=block_types)
    check_choice("architecture", architecture, DEEPNET_ARCHITECTURES)
    stacks = {b.name: _stack(b, architecture, decoder) for b in found}
    counts = {
        s: len({b.block for b in found if stacks[b.name] == s}) for s in ("encoder", "decoder")
    }
    n_enc = n_encoder if n_encoder is not None else counts["encoder"] or None
    n_dec = n_decoder if n_decoder is not None else counts["decoder"] or None
    constants = deepnet_constants(architecture, n_encoder=n_enc, n_decoder=n_dec)
    formulas = constants.formulas()
    counts_label = ", ".join(f"{k}={v}" for k, v in (("N", n_enc), ("M", n_dec)) if v is not None)
    modules = dict(model.named_modules())
    rules = []
    for branch in found:
        stack = stacks[branch.name]
        alpha = getattr(constants, f"alpha_{stack}")
        beta = getattr(constants, f"beta_{stack}")
        for layer in branch.layers:
            gain, label = _deepnet_gain(branch, layer, beta)
            rules.append(
                Rule(
                    scheme="xavier_normal",
                    args={"gain": gain},
                    name=f"{layer}.weight",
                    layout=layer_layout(modules[layer]),
                    description=f"deepnet {stack} ({counts_label}; {formulas[stack]}): "
                    f"branch {branch.name} gain {label} = {gain:.4g}; α = {alpha:.4g} "
                    "belongs in the forward",
                )
            )
    return rules
