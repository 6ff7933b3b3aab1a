"""μP (maximal update parametrization): width multipliers, init rules, optimizer groups,
forward-side changes and the coordinate check, so hyperparameters tuned on a narrow
model carry to a wide one (Yang et al. 2022, "Tensor Programs V"; Yang & Hu 2021).

>>> from torch import nn
>>> from initlab import init_model
>>> from initlab.mup import apply_readout, mup_param_groups, mup_plan
>>> net = lambda w: nn.Sequential(nn.Linear(8, w), nn.ReLU(), nn.Linear(w, w),
...                               nn.ReLU(), nn.Linear(w, 3))
>>> model = net(256)
>>> plan = mup_plan(model, base=net(32))
>>> apply_readout(model, plan)
['4']
>>> plan = mup_plan(model, base=net(32))
>>> plan.is_mup
True
>>> _ = init_model(model, plan.rules(), seed=0)
>>> groups = mup_param_groups(model, plan, optimizer="adam", lr=1e-3)

The same init as a named preset (it refuses a model whose plan is not μP as built):

>>> from initlab import preset
>>> init_model(model, preset("mup", base=net(32)), seed=0).rules
'mup'
"""

# Importing the package registers the "mup" preset (initlab.rules.PRESETS).
from initlab.mup import _preset  # noqa: F401
from initlab.mup._coord import CoordCheck, CoordConfig, LayerVerdict, coord_check
from initlab.mup._evidence import LRTransferConfig, lr_transfer, optimal_lrs, transfer_summary
from initlab.mup._forward import (
    ChangeStatus,
    Readout,
    attention_changes,
    hf_mup_config,
    set_attention_scale,
)
from initlab.mup._optim import mup_param_groups
from initlab.mup._plan import (
    OPTIMIZERS,
    READOUTS,
    MupConfig,
    MupEntry,
    MupPlan,
    apply_readout,
    mup_plan,
)
from initlab.mup._plot import plot_coord_check, write_coord_records
from initlab.mup._shapes import KINDS, WidthEntry, classify, parameter_layout, shapes_of

__all__ = [
    "KINDS",
    "OPTIMIZERS",
    "READOUTS",
    "ChangeStatus",
    "CoordCheck",
    "CoordConfig",
    "LRTransferConfig",
    "LayerVerdict",
    "MupConfig",
    "MupEntry",
    "MupPlan",
    "Readout",
    "WidthEntry",
    "apply_readout",
    "attention_changes",
    "classify",
    "coord_check",
    "hf_mup_config",
    "lr_transfer",
    "mup_param_groups",
    "mup_plan",
    "optimal_lrs",
    "parameter_layout",
    "plot_coord_check",
    "set_attention_scale",
    "shapes_of",
    "transfer_summary",
    "write_coord_records",
]
