"""initlab: neural-network weight initialization made correct, visible and fast.

The root holds what a user reaches for first: the ``torch.nn.init``-compatible
functions (same names, signatures and, where the algorithm is PyTorch's,
bit-identical values) and what they lack (LeCun, variance scaling, truncated
variants, delta-orthogonal, identity), weight layouts and fans, gains, and
whole-model initialization (``init_model``, ``build``, ``param_groups``).
Each capability has its own namespace:

- ``initlab.initializers``: initializer classes and their registry (``get``, ``register``,
  ``serialize``), Keras's home for them;
- ``initlab.rules``: rules, presets, plans, pretrained init and weight-decay groups;
- ``initlab.rng``: samplers and keyed counter-based randomness;
- ``initlab.doctor``, ``initlab.experiments``: diagnosis and evidence;
- ``initlab.residual``, ``initlab.datadep``, ``initlab.mup``: Fixup and residual scaling,
  LSUV and output-bias priors, width transfer.

``__all__`` is built from the submodules' own lists, so the two cannot drift.
"""

# ruff: noqa: F401  (the names are re-exported through __all__, built from submodule lists)

# First, so a torch below the supported floor fails with a clear ImportError.
from initlab import _versions

# isort: split
# Residual presets register themselves with the preset table on import.
from initlab import (
    _fans,
    _functional,
    _gains,
    datadep,
    doctor,
    experiments,
    initializers,
    mup,
    residual,
    rng,
    rules,
)
from initlab._fans import (
    FAN_MODES,
    LAYOUTS,
    Chunk,
    Fans,
    Layout,
    LayoutLike,
    chunk_bounds,
    compute_fans,
    get_layout,
    walk_chunks,
)
from initlab._functional import (
    DISTRIBUTIONS,
    TRUNC2_STD,
    constant_,
    delta_orthogonal_,
    dirac_,
    eye_,
    glorot_truncated_normal_,
    he_truncated_normal_,
    identity_,
    kaiming_normal_,
    kaiming_uniform_,
    lecun_normal_,
    lecun_truncated_normal_,
    lecun_uniform_,
    normal_,
    ones_,
    orthogonal_,
    positive_bias_,
    scaled_std,
    sparse_,
    torch_default_bias_,
    trunc_normal_,
    uniform_,
    variance_scaling_,
    xavier_normal_,
    xavier_uniform_,
    zeros_,
)
from initlab._gains import (
    ACTIVATIONS,
    activation_function,
    calculate_gain,
    gain,
    recommendation,
    recommended_scheme,
    second_moment,
)
from initlab.rules import (
    PRESETS,
    DecayConfig,
    PartialWriteError,
    Plan,
    PlanEntry,
    Rule,
    RuleSet,
    TieConflictWarning,
    UnusedRuleWarning,
    build,
    decay_report,
    detect_activations,
    init_model,
    load_rules,
    materialize,
    native_rules,
    param_groups,
    preset,
    save_rules,
)

__version__ = "0.1.0"

#: The whole-model entry points re-exported from ``initlab.rules``.
_RULES_AT_ROOT = (
    "PRESETS",
    "DecayConfig",
    "PartialWriteError",
    "Plan",
    "PlanEntry",
    "Rule",
    "RuleSet",
    "TieConflictWarning",
    "UnusedRuleWarning",
    "build",
    "decay_report",
    "detect_activations",
    "init_model",
    "load_rules",
    "materialize",
    "native_rules",
    "param_groups",
    "preset",
    "save_rules",
)
_NAMESPACES = (
    "datadep",
    "doctor",
    "experiments",
    "initializers",
    "mup",
    "residual",
    "rng",
    "rules",
)

__all__ = sorted(
    {
        *_fans.__all__,
        *_functional.__all__,
        *_gains.__all__,
        *_RULES_AT_ROOT,
        *_NAMESPACES,
        "__version__",
    }
)
