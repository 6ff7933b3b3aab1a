"""Whole models by rule: declarative rules, a dry-run plan, presets, ties, meta devices,
pretrained init and weight-decay groups.

>>> from torch import nn
>>> from initlab.rules import init_model
>>> net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
>>> plan = init_model(net, "auto", seed=0, dry_run=True)
>>> plan["0.weight"].scheme
'xavier_uniform'
"""

from initlab.rules._activations import DetectedActivation, detect_activations
from initlab.rules._apply import (
    InitOptions,
    PartialWriteError,
    TieConflictWarning,
    UnusedRuleWarning,
    init_model,
    unwrap_model,
)
from initlab.rules._build import build
from initlab.rules._meta import materialize
from initlab.rules._native import NativeScheme, Recording, native_rules, record, record_model
from initlab.rules._plan import CheckpointReport, Plan, PlanEntry
from initlab.rules._presets import PRESETS, Preset, preset
from initlab.rules._roles import ROLES, is_norm_module, parameter_role
from initlab.rules._rules import BUILTIN_SCHEMES, Rule, RuleSet, load_rules, save_rules
from initlab.rules._weight_decay import DecayAssignment, DecayConfig, decay_report, param_groups

__all__ = [
    "BUILTIN_SCHEMES",
    "PRESETS",
    "ROLES",
    "CheckpointReport",
    "DecayAssignment",
    "DecayConfig",
    "DetectedActivation",
    "InitOptions",
    "NativeScheme",
    "PartialWriteError",
    "Plan",
    "PlanEntry",
    "Preset",
    "Recording",
    "Rule",
    "RuleSet",
    "TieConflictWarning",
    "UnusedRuleWarning",
    "build",
    "decay_report",
    "detect_activations",
    "init_model",
    "is_norm_module",
    "load_rules",
    "materialize",
    "native_rules",
    "param_groups",
    "parameter_role",
    "preset",
    "record",
    "record_model",
    "save_rules",
    "unwrap_model",
]
