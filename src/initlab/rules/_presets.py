"""Presets: rule sets that reproduce well-known models' initialization.

A preset is a function of the model (it may count layers or find residual
blocks) that returns a plain :class:`RuleSet`; the rules are data and can be
saved. Every preset takes the bias option (``"zero"``, ``"positive"`` with
``bias_value`` — the small positive constant sometimes advised for ReLU — or
``"torch"``, PyTorch's U(±1/√fan_in)); tensors a preset does not expect stay
uncovered and the plan lists them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from torch import nn

from initlab._gains import recommended_scheme
from initlab._validation import check_choice, unknown_name_error
from initlab.rules._activations import DetectedActivation, is_layer
from initlab.rules._roles import is_norm_module
from initlab.rules._rules import Rule, RuleSet, rules_from
from initlab.rules._torchdefault import is_offset_norm

__all__ = ["PRESETS", "Preset", "PresetSpec", "preset", "register_preset", "resolve_rules"]

BIAS_CHOICES = ("zero", "positive", "torch")


@dataclass(kw_only=True)
class Preset:
    """A named preset with its options; :meth:`rules` builds the rule set for a model."""

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.name not in PRESETS:
            raise unknown_name_error("preset", self.name, PRESETS)
        allowed = PRESETS[self.name].options
        unknown = sorted(set(self.options) - set(allowed) - {"bias", "bias_value"})
        if unknown:
            raise TypeError(
                f"preset {self.name!r} has no option(s) {unknown}; it takes "
                f"{sorted({*allowed, 'bias', 'bias_value'})}"
            )
        check_choice("bias", self.options.get("bias", "zero"), BIAS_CHOICES)

    def rules(
        self, model: nn.Module, activations: Mapping[str, DetectedActivation] | None = None
    ) -> RuleSet:
        """The rules this preset gives ``model``."""
        spec = PRESETS[self.name]
        # Passed as given: a lazy mapping traces the model only if the builder reads it.
        acts = activations if activations is not None else {}
        rules = spec.builder(model, acts, **self.options)
        return RuleSet(rules=rules, name=self.name, source=spec.source)


def preset(name: str, **options: Any) -> Preset:
    """A preset with options, e.g. ``preset("gpt2", bias="positive", bias_value=0.01)``."""
    return Preset(name=name, options=options)


def _bias_rules(bias: str, bias_value: float, default: str = "zero") -> list[Rule]:
    choice = bias or default
    if choice == "zero":
        return [Rule(scheme="zeros", role="bias", description="bias: zero")]
    if choice == "positive":
        return [
            Rule(
                scheme="constant",
                args={"value": bias_value},
                role="bias",
                description=f"bias: constant {bias_value}",
            )
        ]
    return [Rule(scheme="torch_default", role="bias", description="bias: PyTorch default")]


def _norm_rules(model: nn.Module) -> list[Rule]:
    offset = sorted({type(m).__name__ for m in model.modules() if is_offset_norm(m)})
    rules = []
    if offset:
        rules.append(
            Rule(
                scheme="zeros",
                module=tuple(offset),
                role="norm_scale",
                description="norm computing x*(1+w): gain 0 (effective gain 1)",
            )
        )
    return [
        *rules,
        Rule(scheme="ones", role="norm_scale", description="norm scale: ones"),
        Rule(scheme="zeros", role="norm_shift", description="norm shift: zeros"),
    ]


# --- torch-default ---------------------------------------------------------------------


def _torch_default(
    model: nn.Module, acts: dict, *, bias: str = "torch", bias_value: float = 0.01
) -> list[Rule]:
    rules = [] if bias == "torch" else _bias_rules(bias, bias_value)
    return [*rules, Rule(scheme="torch_default", description="PyTorch module default")]


# --- tensors that are not a layer's weight ----------------------------------------------

#: Roles whose values are hyperparameters or computed by the model (layer-scale init
#: value, CLIP's log(1/0.07), Mamba's log(1..N), weight-norm's g and v): kept, and listed.
KEPT_ROLES = ("layer_scale", "logit_scale", "state_space", "parametrization")


def _special_rules(std: float = 0.02) -> list[Rule]:
    """Documented defaults for tokens, position tables and the kept roles.

    Tokens, learned absolute position embeddings and relative-position bias tables get
    trunc_normal(0, std) cut at ±2σ, the HF ViT / timm ViT and Swin convention; the roles
    in :data:`KEPT_ROLES` keep the values the model's constructor gave them.
    """
    trunc = {"std": std, "trunc_std_multiple": 2.0}
    return [
        Rule(
            scheme="truncated_normal",
            args=trunc,
            role=("token", "position_embedding", "relative_position"),
            description=f"token / position table: trunc_normal(0, {std}), timm/HF ViT",
        ),
        Rule(
            scheme="keep",
            role=KEPT_ROLES,
            description="layer scale, logit scale, state-space or parametrization: kept",
        ),
    ]


def _catch_all() -> list[Rule]:
    return [
        Rule(
            scheme="keep",
            role=("other", "scalar"),
            description="no documented default: values kept",
        )
    ]


# --- auto ------------------------------------------------------------------------------


def _scheme_for(act: DetectedActivation) -> tuple[str, dict[str, Any]]:
    if act.name is None:
        return recommended_scheme(None)
    return recommended_scheme(act.name, act.params)


def _recurrent_rules(orthogonal: bool, forget_bias: float | None) -> list[Rule]:
    rules = []
    if forget_bias is not None:
        rules.append(
            Rule(
                scheme="lstm_forget_bias",
                args={"value": forget_bias},
                module=("LSTM", "LSTMCell"),
                role="recurrent_bias",
                description=f"LSTM forget-gate bias {forget_bias}",
            )
        )
    if orthogonal:
        for module, gates in (("LSTM", 4), ("GRU", 3), ("LSTMCell", 4), ("GRUCell", 3), ("RNN", 1)):
            rules.append(
                Rule(
                    scheme="orthogonal",
                    module=module,
                    role="recurrent_hidden",
                    layout={"name": "torch", "chunks": gates},
                    description=f"{module} recurrent: orthogonal per gate",
                )
            )
    return rules


def _auto(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    recurrent_orthogonal: bool = True,
    forget_bias: float | None = 1.0,
) -> list[Rule]:
    rules = [
        Rule(
            scheme="xavier_uniform",
            module="MultiheadAttention",
            role="attention_in_proj",
            layout={"name": "torch", "chunks": 3},
            description="MHA in_proj: Glorot per Q/K/V chunk",
        ),
        Rule(
            scheme="xavier_uniform",
            name="*out_proj.weight",
            module="NonDynamicallyQuantizableLinear",
            description="MHA out_proj: Glorot",
        ),
    ]
    for layer, act in acts.items():
        scheme, args = _scheme_for(act)
        label = act.label() or "undetermined: variance_scaling(1) fallback"
        rules.append(
            Rule(scheme=scheme, args=args, name=f"{layer}.weight", description=f"auto: {label}")
        )
    rules += [
        Rule(
            scheme="variance_scaling",
            args={"scale": 1.0, "distribution": "normal"},
            role="weight",
            description="auto: layer not reached by tracing",
        ),
        Rule(
            scheme="variance_scaling",
            args={"scale": 1.0, "distribution": "normal"},
            role="expert_weight",
            layout="experts",
            description="expert stack: variance_scaling(1) per expert (experts layout)",
        ),
        *_recurrent_rules(recurrent_orthogonal, forget_bias),
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
        *_special_rules(),
        Rule(scheme="torch_default", description="everything else: PyTorch default"),
        *_catch_all(),
    ]
    return rules


# --- transformer presets -----------------------------------------------------------------


def _count_layers(model: nn.Module, n_layer: int | None) -> int | None:
    """Transformer blocks: ``n_layer``, the model's config, or its longest ModuleList."""
    if n_layer is not None:
        return int(n_layer)
    config = getattr(model, "config", None)
    for key in ("n_layer", "num_hidden_layers", "n_layers", "num_layers"):
        if config is not None and isinstance(getattr(config, key, None), int):
            return int(getattr(config, key))
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList)]
    return max(len(m) for m in lists) if lists else None


def _require_layers(layers: int | None, preset: str, names: Sequence[str]) -> int:
    if layers is None:
        raise ValueError(
            f"the {preset} preset must scale {', '.join(names[:3])}... by depth but cannot "
            "count the transformer blocks (no config and no nn.ModuleList): pass n_layer="
        )
    return layers


def _matching(model: nn.Module, patterns: Sequence[str]) -> list[str]:
    return [n for n, _ in model.named_parameters() if any(fnmatchcase(n, p) for p in patterns)]


def _gpt2(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    std: float = 0.02,
    n_layer: int | None = None,
    residual: Sequence[str] = ("*attn.c_proj.weight", "*mlp.c_proj.weight"),
) -> list[Rule]:
    # A model without residual projections (the plan then shows plain N(0, std²)) needs no count.
    projections = _matching(model, residual)
    residual_rules = []
    if projections:
        layers = _require_layers(_count_layers(model, n_layer), "gpt2", projections)
        residual_rules.append(
            Rule(
                scheme="normal",
                args={"std": std / math.sqrt(2 * layers)},
                name=tuple(residual),
                description=f"residual projection: N(0, ({std}/sqrt(2*{layers}))^2)",
            )
        )
    return [
        *residual_rules,
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
        Rule(
            scheme="normal",
            args={"std": std},
            role=("weight", "embedding"),
            description=f"N(0, {std}^2)",
        ),
    ]


def _bert(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    std: float = 0.02,
    truncated: bool = False,
) -> list[Rule]:
    if truncated:
        scheme, args = "truncated_normal", {"std": std, "trunc_std_multiple": 2.0}
    else:
        scheme, args = "normal", {"std": std}
    return [
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
        Rule(
            scheme=scheme,
            args=args,
            role=("weight", "embedding"),
            description=f"{scheme} std {std}",
        ),
    ]


_LAYER_ID = re.compile(r"(?:^|\.)(?:layers|h|blocks|layer)\.(\d+)\.")


def _llama(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    std: float = 0.02,
    depth_init: bool = True,
    n_layer: int | None = None,
    scaled: Sequence[str] = ("o_proj", "wo", "down_proj", "w2", "up_proj", "w3"),
    output: Sequence[str] = ("lm_head", "output"),
) -> list[Rule]:
    layers = _count_layers(model, n_layer)
    rules = []
    for name, module in model.named_modules():
        found = _LAYER_ID.search(name + ".")
        if not found or not is_layer(module) or name.rpartition(".")[2] not in scaled:
            continue
        depth = (
            int(found.group(1)) + 1
            if depth_init
            else _require_layers(layers, "llama", [f"{name}.weight"])
        )
        scaled_std = std / math.sqrt(2 * depth)
        rules.append(
            Rule(
                scheme="truncated_normal",
                args={"std": scaled_std},
                name=f"{name}.weight",
                description=f"depth-scaled: {std}/sqrt(2*{depth})",
            )
        )
    return [
        *rules,
        *_output_rules(model, output),
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
        Rule(scheme="normal", args={"std": 1.0}, role="embedding", description="embedding N(0, 1)"),
        Rule(
            scheme="truncated_normal",
            args={"std": std},
            role="weight",
            description=f"trunc_normal std {std}",
        ),
    ]


def _output_rules(model: nn.Module, output: Sequence[str]) -> list[Rule]:
    rules = []
    for name, module in model.named_modules():
        if isinstance(module, nn.Linear) and name.rpartition(".")[2] in output:
            s = module.in_features**-0.5
            rules.append(
                Rule(
                    scheme="truncated_normal",
                    args={"std": s, "trunc_std_multiple": 3.0},
                    name=f"{name}.weight",
                    description="output: trunc_normal std dim^-0.5, ±3σ",
                )
            )
    return rules


#: Classifier heads of ViTs: timm, torchvision, HF transformers.
_VIT_HEADS = ("head", "heads.head", "classifier")


def _vit_head(model: nn.Module, head: str | None) -> str:
    if head is not None:
        return head
    names = dict(model.named_modules())
    return next((h for h in _VIT_HEADS if isinstance(names.get(h), nn.Linear)), "head")


def _vit_jax(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    head: str | None = None,
    head_bias: float = 0.0,
) -> list[Rule]:
    head = _vit_head(model, head)
    return [
        Rule(scheme="zeros", name=f"{head}.weight", description="head: zeros"),
        Rule(
            scheme="constant",
            args={"value": head_bias},
            name=f"{head}.bias",
            description="head bias",
        ),
        Rule(
            scheme="normal",
            args={"std": 1e-6},
            name="*mlp*",
            role="bias",
            description="MLP bias: N(0, 1e-6^2)",
        ),
        Rule(
            scheme="truncated_normal",
            args={"std": 0.02},
            role="position_embedding",
            description="pos_embed / pos_embedding / position_embeddings: trunc_normal .02",
        ),
        Rule(
            scheme="normal",
            args={"std": 1e-6},
            role="token",
            description="cls_token / class_token / reg_token: N(0, 1e-6^2)",
        ),
        Rule(
            scheme="lecun_truncated_normal",
            module="Conv2d",
            role="weight",
            description="patch embedding: LeCun normal (truncated)",
        ),
        Rule(scheme="xavier_uniform", module="Linear", role="weight", description="Glorot uniform"),
        Rule(
            scheme="xavier_uniform",
            module="MultiheadAttention",
            role="attention_in_proj",
            layout={"name": "torch", "chunks": 3},
            description="packed qkv: Glorot per chunk",
        ),
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
    ]


def _last_norms(model: nn.Module, block_types: Sequence[str]) -> list[str]:
    found = []
    for name, module in model.named_modules():
        if not any(fnmatchcase(type(module).__name__, p) for p in block_types):
            continue
        norms = [
            f"{name}.{child}"
            for child, m in module.named_children()
            if is_norm_module(m) and getattr(m, "weight", None) is not None
        ]
        if norms:
            found.append(norms[-1])
    return found


def _resnet(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    zero_init_residual: bool = True,
    block_types: Sequence[str] = ("*Block", "Bottleneck"),
) -> list[Rule]:
    rules = []
    if zero_init_residual:
        names = tuple(f"{n}.weight" for n in _last_norms(model, block_types))
        if names:
            rules.append(
                Rule(
                    scheme="zeros",
                    name=names,
                    description="last norm scale of each residual block: zero",
                )
            )
    return [
        *rules,
        Rule(
            scheme="kaiming_normal",
            args={"mode": "fan_out", "nonlinearity": "relu"},
            module="_ConvNd",
            role="weight",
            description="conv: Kaiming normal fan_out",
        ),
        *_norm_rules(model),
        *_bias_rules(bias, bias_value),
        Rule(scheme="torch_default", module="Linear", description="classifier: PyTorch default"),
    ]


# --- hf ----------------------------------------------------------------------------------


def _hf(
    model: nn.Module,
    acts: dict,
    *,
    bias: str = "zero",
    bias_value: float = 0.01,
    std: float | None = None,
) -> list[Rule]:
    """HF transformers' ``PreTrainedModel._init_weights``: N(0, initializer_range²) for
    Linear, Conv and Embedding weights (padding row zeroed) and expert stacks, zero
    biases, norms 1/0 (0 for x·(1+w) norms). No depth scaling, no truncation."""
    config = getattr(model, "config", None)
    source = "the std option"
    if std is None:
        found = getattr(config, "initializer_range", None)
        if isinstance(found, (int, float)) and not isinstance(found, bool):
            std, source = float(found), "config.initializer_range"
        else:
            std, source = 0.02, "no config.initializer_range: 0.02"
    normal = {"std": std}
    return [
        *_bias_rules(bias, bias_value),
        *_norm_rules(model),
        Rule(
            scheme="normal",
            args=normal,
            role=("weight", "embedding", "expert_weight"),
            description=f"N(0, {std}^2): {source}",
        ),
        Rule(
            scheme="normal",
            args=normal,
            role="token",
            description=f"tokens: N(0, {std}^2)",
        ),
        *_special_rules(std),
        Rule(scheme="torch_default", description="everything else: PyTorch default"),
        *_catch_all(),
    ]


# --- native ------------------------------------------------------------------------------


def _native(
    model: nn.Module, acts: dict, *, bias: str | None = None, bias_value: float = 0.01
) -> list[Rule]:
    from initlab.rules._native import record_model

    rules = [] if bias is None else _bias_rules(bias, bias_value)
    return [*rules, *record_model(model).rules().rules]


Builder = Callable[..., list[Rule]]


#: name -> (builder, option names, documented source).
@dataclass(frozen=True)
class PresetSpec:
    """A registered preset: the rule builder, the options it takes, and what it reproduces
    (a source a reader can look up)."""

    name: str
    builder: Builder
    options: tuple[str, ...]
    source: str


#: Every preset by name; other packages add theirs with :func:`register_preset`.
PRESETS: dict[str, PresetSpec] = {}


def register_preset(
    name: str, builder: Builder, *, options: Sequence[str] = (), source: str
) -> PresetSpec:
    """Add a preset (refused if the name is taken: a refused call changes nothing)."""
    if name in PRESETS:
        raise ValueError(f"preset name {name!r} is already registered")
    if not source:
        raise ValueError(f"preset {name!r} needs a source a reader can look up")
    spec = PresetSpec(name=name, builder=builder, options=tuple(options), source=source)
    PRESETS[name] = spec
    return spec


for _name, (_builder, _options, _source) in {
    "torch-default": (_torch_default, (), "torch.nn module reset_parameters (torch 2.x)"),
    "auto": (
        _auto,
        ("recurrent_orthogonal", "forget_bias"),
        "He et al. 2015 / Glorot & Bengio 2010 / Klambauer et al. 2017, by detected activation",
    ),
    "gpt2": (
        _gpt2,
        ("std", "n_layer", "residual"),
        "Radford et al. 2019; HF transformers GPT2PreTrainedModel._init_weights",
    ),
    "bert": (
        _bert,
        ("std", "truncated"),
        "Devlin et al. 2019; HF transformers BertPreTrainedModel._init_weights",
    ),
    "hf": (
        _hf,
        ("std",),
        "HF transformers PreTrainedModel._init_weights (transformers 5), std from the config",
    ),
    "llama": (
        _llama,
        ("std", "depth_init", "n_layer", "scaled", "output"),
        "torchtitan models/llama3 init_weights (depth_init)",
    ),
    "vit-jax": (
        _vit_jax,
        ("head", "head_bias"),
        "timm vision_transformer init_weights_vit_jax (big_vision)",
    ),
    "native": (
        _native,
        (),
        "the model's own init methods (reset_parameters, HF initialize_weights), recorded",
    ),
    "resnet": (
        _resnet,
        ("zero_init_residual", "block_types"),
        "torchvision models/resnet.py; Goyal et al. 2017 zero-gamma",
    ),
}.items():
    register_preset(_name, _builder, options=_options, source=_source)


def resolve_rules(
    rules_or_preset: Any, model: nn.Module, activations: Mapping[str, DetectedActivation]
) -> RuleSet:
    """Turn a preset name, :class:`Preset`, :class:`RuleSet` or list of rules into rules."""
    if isinstance(rules_or_preset, str):
        return Preset(name=rules_or_preset).rules(model, activations)
    if isinstance(rules_or_preset, Preset):
        return rules_or_preset.rules(model, activations)
    if isinstance(rules_or_preset, RuleSet):
        return rules_or_preset
    if isinstance(rules_or_preset, Mapping):
        return RuleSet.from_dict(rules_or_preset)
    if isinstance(rules_or_preset, Sequence):
        return RuleSet(rules=rules_from(rules_or_preset))
    raise TypeError(
        f"rules_or_preset={rules_or_preset!r} must be a preset name ({', '.join(PRESETS)}), "
        "a Preset, a RuleSet, or a list of rules"
    )
