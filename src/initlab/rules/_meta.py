"""Materializing a meta-device model without breaking ties.

``Module.to_empty`` replaces each module's tensors one module at a time, so a
Parameter registered in two modules (an embedding tied to the LM head) comes
back as two unrelated tensors (Modalities#357, accelerate#3668; OLMo-core re-ties
after ``to_empty`` for this reason). :func:`materialize` records every alias
before and restores it after.
"""

from __future__ import annotations

import torch
from torch import nn

from initlab.rules._roles import buffer_sites, parameter_sites

__all__ = ["has_meta", "materialize"]


def has_meta(model: nn.Module) -> bool:
    """True when any parameter or buffer of ``model`` lives on the meta device."""
    tensors = [*model.parameters(), *model.buffers()]
    return any(t.device.type == "meta" for t in tensors)


def materialize(model: nn.Module, device: torch.device | str) -> None:
    """Allocate every tensor on ``device`` (values uninitialized) and re-tie aliases."""
    sites = parameter_sites(model) + buffer_sites(model)
    model.to_empty(device=device)
    modules = dict(model.named_modules(remove_duplicate=False))
    for site in sites:
        canonical = getattr(modules[site.module_name], site.local_name)
        for name, owner, _ in site.aliases:
            local = name.rpartition(".")[2]
            module = modules[owner]
            if local in module._parameters:
                module._parameters[local] = canonical
            else:
                module._buffers[local] = canonical
