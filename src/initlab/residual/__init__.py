"""Residual-aware initialization: Fixup, ReZero/SkipInit, depth-scaled projections, DeepNet.

Schemes are rules (``fixup_rules``, ``rezero_rules``, ``depth_scaled_rules``,
``deepnet_rules``) and presets (``fixup``, ``rezero``, ``depth-scaled``, ``deepnet``)
for :func:`initlab.init_model`; architectural changes are explicit transformations
(``fixup_transform``, ``add_residual_gains``) that report what they changed.

>>> from torch import nn
>>> import initlab
>>> class Block(nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.conv1, self.conv2 = nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)
>>> net = nn.Sequential(*[Block() for _ in range(4)])
>>> rules = fixup_rules(net, activations={})
>>> plan = initlab.init_model(net, rules, seed=0, dry_run=True, default="torch")
>>> plan["0.conv2.weight"].std, plan["0.conv2.weight"].rule
(0.0, 'fixup: branch 0 (L=4, m=2) last layer: zero')
"""

# Importing the package registers its presets (fixup, rezero, depth-scaled, deepnet).
from initlab.residual import _presets  # noqa: F401
from initlab.residual._branches import (
    BLOCK_TYPES,
    ResidualBranch,
    branch_depth,
    find_branches,
    find_classifier,
)
from initlab.residual._schemes import (
    DEEPNET_ARCHITECTURES,
    GAIN_NAMES,
    DeepNormConstants,
    deepnet_constants,
    deepnet_rules,
    depth_scaled_rules,
    fixup_rules,
    fixup_scale,
    rezero_rules,
)
from initlab.residual._transform import (
    Change,
    TransformReport,
    add_residual_gains,
    fixup_transform,
)

__all__ = [
    "BLOCK_TYPES",
    "DEEPNET_ARCHITECTURES",
    "GAIN_NAMES",
    "Change",
    "DeepNormConstants",
    "ResidualBranch",
    "TransformReport",
    "add_residual_gains",
    "branch_depth",
    "deepnet_constants",
    "deepnet_rules",
    "depth_scaled_rules",
    "find_branches",
    "find_classifier",
    "fixup_rules",
    "fixup_scale",
    "fixup_transform",
    "rezero_rules",
]
