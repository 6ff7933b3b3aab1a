"""Materializing a meta-device model: ties kept, computed tensors recomputed.

``Module.to_empty`` replaces each module's tensors one module at a time, so a
Parameter registered in two modules (an embedding tied to the LM head) comes
back as two unrelated tensors (Modalities#357, accelerate#3668; OLMo-core re-ties
after ``to_empty`` for this reason). :func:`materialize` records every alias
before and restores it after.

``to_empty`` also leaves every buffer uninitialized, and a model's buffers are often
computed, not learned: RoPE's ``inv_freq``, ``position_ids``, Gemma's ``embed_scale``
(mostly non-persistent, so no checkpoint restores them). :func:`materialize` recomputes
them by recording the model's own init methods on a meta copy (``reset_parameters``,
HF's ``initialize_weights``, which in transformers 5 rewrites these buffers) and
replaying only the ops they depend on, on the target device. The same goes for
parameters no layer rule can know (layer scales, logit scales, state-space tensors: see
:func:`needs_own_values`). A tensor no init method writes has no values to recover:
:func:`meta_problems` names it, and :func:`materialize` refuses before touching anything.
"""

from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from initlab.rules._roles import buffer_sites, parameter_role, parameter_sites

__all__ = ["has_meta", "materialize", "meta_problems", "needs_own_values"]

#: Parameter roles whose values a layer scheme cannot give (see ``_presets.KEPT_ROLES``).
_OWN_VALUE_ROLES = ("layer_scale", "logit_scale", "state_space", "parametrization", "other")


def has_meta(model: nn.Module) -> bool:
    """True when any parameter or buffer of ``model`` lives on the meta device."""
    tensors = [*model.parameters(), *model.buffers()]
    return any(t.device.type == "meta" for t in tensors)


def needs_own_values(model: nn.Module) -> list[str]:
    """Meta tensors whose values must come from the model's own init: every buffer
    (persistent or not) and the parameters of roles no layer scheme covers."""
    modules = dict(model.named_modules(remove_duplicate=False))
    names = []
    for name, buffer in model.named_buffers():
        if buffer.device.type == "meta":
            names.append(name)
    for name, param in model.named_parameters():
        owner, _, local = name.rpartition(".")
        if param.device.type != "meta":
            continue
        if parameter_role(modules[owner], local, param) in _OWN_VALUE_ROLES:
            names.append(name)
    return names


def _own_values(
    model: nn.Module, device: torch.device | str, written: Collection[str], seed: int
) -> tuple[dict, list[str]]:
    from initlab.rng import derive_seed
    from initlab.rules._native import REPLAY_STREAM, record_model

    names = [n for n in needs_own_values(model) if n not in written]
    if not names:
        return {}, []
    recording = record_model(model)
    missing = [n for n in names if recording.schemes[n].kind == "unset"]
    found = [n for n in names if n not in missing]
    # Random own values follow the run's seed, on the stream the native preset replays from.
    stream = derive_seed(seed, REPLAY_STREAM)
    values = recording.replay(device, stream, names=found) if found else {}
    return values, missing


def meta_problems(model: nn.Module, written: Collection[str] = ()) -> list[str]:
    """Plan errors for a meta model: the tensors whose values nothing can recompute
    (``materialize`` would refuse), except the ``written`` names a rule will fill.
    Empty when the model has no meta tensor."""
    if not has_meta(model):
        return []
    from initlab.rules._native import record_model

    names = [n for n in needs_own_values(model) if n not in written]
    if not names:
        return []
    recording = record_model(model)
    return [
        f"{name}: meta {'buffer' if name in recording.buffers else 'parameter'} with no "
        "values: no init method of the model (reset_parameters, _init_weights) computes "
        "it; build the model on a real device, use initlab.build(factory), or add a rule"
        for name in names
        if recording.schemes[name].kind == "unset"
    ]


def _to_empty_meta(model: nn.Module, device: torch.device) -> None:
    """``to_empty`` for the meta tensors only: a real tensor a constructor made outside the
    device context (``torch.LongTensor(indices)`` in LeViT) is moved with its values."""
    made: dict[int, torch.Tensor] = {}
    for module in model.modules():
        for slots in (module._parameters, module._buffers):
            for local, tensor in slots.items():
                if tensor is None:
                    continue
                if id(tensor) not in made:
                    with torch.no_grad():
                        if tensor.device.type == "meta":
                            new = torch.empty_like(tensor, device=device)
                        else:
                            new = tensor.detach().to(device)
                    if isinstance(tensor, nn.Parameter):
                        new = nn.Parameter(new, requires_grad=tensor.requires_grad)
                    made[id(tensor)] = new
                slots[local] = made[id(tensor)]  # type: ignore[index,assignment]


def materialize(
    model: nn.Module, device: torch.device | str, written: Collection[str] = (), seed: int = 0
) -> None:
    """Allocate every tensor on ``device``, re-tie aliases and recompute the tensors the
    model computes itself (buffers, layer scales, ...); see the module docstring. Random
    ones among them are drawn from a stream of ``seed``.

    Raises ``ValueError`` naming every meta tensor that cannot be recomputed (except the
    ``written`` names the caller fills next), before changing anything.
    """
    values, missing = _own_values(model, device, written, seed)
    if missing:
        raise ValueError(
            "cannot materialize: no init method of the model computes "
            + ", ".join(missing)
            + "; build the model on a real device or use initlab.build(factory)"
        )
    sites = parameter_sites(model) + buffer_sites(model)
    _to_empty_meta(model, torch.device(device))
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
    with torch.no_grad():
        for name, value in values.items():
            owner, _, local = name.rpartition(".")
            getattr(modules[owner], local).copy_(value)
