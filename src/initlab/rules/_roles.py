"""Parameter roles, normalization detection and tie discovery.

A role says what a tensor *does* in its module, independent of its name:
rules and weight-decay grouping match on it. Roles are decided from the
owning module's type and the tensor's local name, never from tensor values.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "ROLES",
    "TensorSite",
    "buffer_sites",
    "is_norm_module",
    "is_of_type",
    "parameter_role",
    "parameter_sites",
]

ROLES = (
    "weight",
    "bias",
    "embedding",
    "norm_scale",
    "norm_shift",
    "recurrent_input",
    "recurrent_hidden",
    "recurrent_bias",
    "attention_in_proj",
    "attention_bias_kv",
    "scalar",
    "token",
    "position_embedding",
    "relative_position",
    "layer_scale",
    "logit_scale",
    "state_space",
    "expert_weight",
    "parametrization",
    "other",
    "buffer",
    "running_stats",
    "frozen",
)

_BUILTIN_NORMS: tuple[type[nn.Module], ...] = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    nn.LocalResponseNorm,
    nn.RMSNorm,
)

_RECURRENT = (nn.RNNBase, nn.RNNCellBase)
_EMBEDDING = (nn.Embedding, nn.EmbeddingBag)


def is_norm_module(module: nn.Module, extra: Iterable[str | type] = ()) -> bool:
    """True for PyTorch's norms, any class whose name contains 'Norm' (RMSNorm,
    LlamaRMSNorm, T5LayerNorm, ...) and the user's ``extra`` types or class-name globs."""
    if isinstance(module, _BUILTIN_NORMS) or any(is_of_type(module, item) for item in extra):
        return True
    return "norm" in type(module).__name__.lower() and not isinstance(module, nn.Sequential)


def is_of_type(module: nn.Module, item: str | type) -> bool:
    """``module`` is an instance of the class ``item``, or one of its classes (bases
    included) has a name matching the glob ``item``."""
    if isinstance(item, type):
        return isinstance(module, item)
    return any(fnmatch.fnmatchcase(cls.__name__, item) for cls in type(module).__mro__)


#: Tensors that are not a layer's weight, by local name (the names HF transformers, timm
#: and torchvision use). Each role has a documented default in the ``auto`` preset.
_NAMED_ROLES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "token",
        re.compile(
            r"(cls|class|dist|distill|reg|register|mask|sep)_?tokens?|class_embedding|"
            r"masked_spec_embed|mask_emb"
        ),
    ),
    (
        "position_embedding",
        re.compile(r"(absolute_)?pos(ition(al)?)?_?(embed(ding)?s?|emb|enc(oding)?)"),
    ),
    (
        "relative_position",
        re.compile(r"relative_position_bias_table|attention_biases|rel_pos(_\w+)?|rel_h|rel_w"),
    ),
    ("layer_scale", re.compile(r"gamma(_\d)?|layer_scale(_\w+)?|lambda_?\d|ls\d")),
    ("logit_scale", re.compile(r"logit_(scale|bias)|(logit_)?temperature")),
    ("state_space", re.compile(r"A_log|A|D|dt_bias|time_(decay|first|faaaa|mix_\w+|maa_\w+)")),
)
_EXPERT_NAMES = ("gate_up_proj", "down_proj", "up_proj", "gate_proj", "w1", "w2", "w3")


def _named_role(module: nn.Module, local: str, tensor: torch.Tensor) -> str | None:
    if type(module).__name__ == "ParametrizationList":  # torch.nn.utils.parametrize
        return "parametrization"
    if tensor.dim() == 3 and (local in _EXPERT_NAMES or "expert" in type(module).__name__.lower()):
        return "expert_weight"
    for role, pattern in _NAMED_ROLES:
        if pattern.fullmatch(local):
            return role
    return None


def parameter_role(
    module: nn.Module, local_name: str, tensor: torch.Tensor, norm_types: Iterable[str | type] = ()
) -> str:
    """The role of ``module.<local_name>``: one of :data:`ROLES` (buffers excluded)."""
    if isinstance(module, _RECURRENT):
        if local_name.startswith("weight_ih") or local_name.startswith("weight_hr"):
            return "recurrent_input"
        if local_name.startswith("weight_hh"):
            return "recurrent_hidden"
        return "recurrent_bias"
    if isinstance(module, nn.MultiheadAttention):
        if local_name in ("bias_k", "bias_v"):
            return "attention_bias_kv"
        if local_name.endswith("_weight"):
            return "attention_in_proj"
        return "bias"
    if isinstance(module, _EMBEDDING) and local_name == "weight":
        return "embedding"
    if is_norm_module(module, norm_types):
        return "norm_shift" if "bias" in local_name else "norm_scale"
    named = _named_role(module, local_name, tensor)
    if named is not None:
        return named
    if local_name == "bias" or local_name.endswith("_bias"):
        return "bias"
    if local_name == "weight" or local_name.endswith("_weight"):
        return "weight" if tensor.dim() >= 2 else "other"
    return "scalar" if tensor.numel() == 1 else "other"


@dataclass(kw_only=True)
class TensorSite:
    """One tensor reachable from the model: its canonical name and every alias."""

    name: str
    module_name: str
    local_name: str
    module: nn.Module
    tensor: torch.Tensor
    is_buffer: bool = False
    aliases: list[tuple[str, str, nn.Module]] = field(default_factory=list)

    @property
    def all_names(self) -> list[str]:
        """The canonical name first, then the names that share its storage."""
        return [self.name, *(a[0] for a in self.aliases)]


def _split(name: str) -> tuple[str, str]:
    owner, _, local = name.rpartition(".")
    return owner, local


def _storage_key(tensor: torch.Tensor) -> tuple[object, ...]:
    if tensor.device.type == "meta":
        return ("id", id(tensor))
    from initlab.rng._shards import is_dtensor

    if is_dtensor(tensor):  # a shard's identity is its local tensor's storage
        local = tensor.to_local()  # type: ignore[attr-defined]
        return ("dtensor", *_storage_key(local)[1:], tuple(tensor.shape))
    return (
        "storage",
        tensor.untyped_storage().data_ptr(),
        tensor.storage_offset(),
        tuple(tensor.shape),
        tuple(tensor.stride()),
        tensor.dtype,
    )


def _group(items: Iterator[tuple[str, torch.Tensor]], model: nn.Module, buffers: bool) -> list:
    modules = dict(model.named_modules(remove_duplicate=False))
    sites: dict[tuple[object, ...], TensorSite] = {}
    for name, tensor in items:
        owner, local = _split(name)
        module = modules[owner]
        key = _storage_key(tensor) if tensor.numel() else ("id", id(tensor))
        if key in sites:
            sites[key].aliases.append((name, owner, module))
            continue
        sites[key] = TensorSite(
            name=name,
            module_name=owner,
            local_name=local,
            module=module,
            tensor=tensor,
            is_buffer=buffers,
        )
    return list(sites.values())


def parameter_sites(model: nn.Module) -> list[TensorSite]:
    """Every distinct parameter storage in ``named_parameters`` order, with its aliases
    (the same Parameter registered under several names, or views of one storage)."""
    return _group(model.named_parameters(remove_duplicate=False), model, buffers=False)


def buffer_sites(model: nn.Module) -> list[TensorSite]:
    """Every distinct persistent buffer, with aliases."""
    modules = dict(model.named_modules(remove_duplicate=False))

    def persistent() -> Iterator[tuple[str, torch.Tensor]]:
        for name, tensor in model.named_buffers(remove_duplicate=False):
            owner, local = _split(name)
            if local not in modules[owner]._non_persistent_buffers_set:
                yield name, tensor

    return _group(persistent(), model, buffers=True)
