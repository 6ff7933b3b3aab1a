"""Residual branches: which layers form each branch, found from the module tree or named.

A *residual block* computes ``y = shortcut(x) + branch(x)`` (possibly followed by an
activation). A :class:`ResidualBranch` records one branch: its weight layers grouped
into *stages* (layers that run one after another; layers in one stage read the same
input, like the Q, K and V projections), the module whose output is the branch's output
(where a residual multiplier belongs) and how it was found.

Discovery (:func:`find_branches`) reads only the module tree, never runs the model:

* **convolutional blocks** (torchvision ``BasicBlock`` / ``Bottleneck``, timm's, Hugging
  Face ``ResNetBasicLayer`` / ``ResNetBottleNeckLayer``): a module whose class name
  matches ``block_types`` or that has a shortcut child (``downsample``, ``shortcut``,
  ``skip``). Its layers outside the shortcut, in registration order, are the stages
  (one layer each); the branch output is the single child holding them all (HF's
  ``layer``) or else the last layer or normalization child (torchvision's ``bn2``).
* **transformer blocks** (pre-norm GPT-2, Llama, ViT ...): a block with attention
  children (``attn``, ``self_attn``, ``attention``, ``crossattention``) and MLP children
  (``mlp``, ``feed_forward``, ``ffn``): each is one branch of two stages, the input
  projections and the output projection (the last layer registered in it).

Post-norm transformers whose feed-forward is split over several children (BERT's
``intermediate`` + ``output``) are not recognized; name their branches explicitly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from torch import nn

from initlab.rules._activations import is_layer
from initlab.rules._roles import is_norm_module

__all__ = [
    "BLOCK_TYPES",
    "ResidualBranch",
    "branch_depth",
    "find_branches",
    "find_classifier",
    "layer_layout",
]

#: Class-name globs of residual blocks (torchvision, timm, Hugging Face).
BLOCK_TYPES = (
    "BasicBlock",
    "*BasicBlock",
    "Bottleneck",
    "*Bottleneck",
    "*BasicLayer",
    "*BottleNeckLayer",
    "*Block",
    "*DecoderLayer",
    "*EncoderLayer",
)
#: Child names that hold a block's shortcut (identity or projection).
SHORTCUT_NAMES = ("downsample", "shortcut", "skip", "short_cut", "identity")
#: Child-name globs of a transformer block's attention and MLP branches.
ATTENTION_NAMES = ("attn", "self_attn", "attention", "self_attention", "crossattention", "*attn")
MLP_NAMES = ("mlp", "feed_forward", "ffn", "feedforward", "*mlp")


@dataclass(kw_only=True, frozen=True)
class ResidualBranch:
    """One residual branch.

    ``block``: the qualified name of the block; ``name``: a label (``block`` or
    ``block.attn``); ``stages``: qualified names of the weight layers, grouped by the
    order they run in (``m = len(stages)``); ``output``: the module whose output is
    the branch's output; ``kind``: ``"conv"``, ``"attention"``, ``"mlp"`` or ``"named"``.
    """

    name: str
    block: str
    stages: tuple[tuple[str, ...], ...]
    output: str
    kind: str = "conv"

    @property
    def m(self) -> int:
        """Layers per branch in the Fixup sense: the number of stages."""
        return len(self.stages)

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer of the branch, stage by stage."""
        return tuple(name for stage in self.stages for name in stage)

    @property
    def last(self) -> tuple[str, ...]:
        """The layers of the last stage (the ones Fixup zeroes)."""
        return self.stages[-1] if self.stages else ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "block": self.block,
            "stages": [list(s) for s in self.stages],
            "output": self.output,
            "kind": self.kind,
        }


@dataclass(kw_only=True)
class _Walk:
    block_types: tuple[str, ...]
    found: list[ResidualBranch] = field(default_factory=list)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


def _join(prefix: str, name: str) -> str:
    if not name:
        return prefix
    return f"{prefix}.{name}" if prefix else name


def _layers_in(module: nn.Module, prefix: str) -> list[str]:
    return [_join(prefix, n) for n, m in module.named_modules() if is_layer(m)]


def _transformer_branches(block: nn.Module, prefix: str) -> list[ResidualBranch]:
    branches = []
    for child_name, child in block.named_children():
        if _matches(child_name, ATTENTION_NAMES):
            kind = "attention"
        elif _matches(child_name, MLP_NAMES):
            kind = "mlp"
        else:
            continue
        layers = _layers_in(child, _join(prefix, child_name))
        if not layers:
            continue
        stages = (tuple(layers[:-1]), (layers[-1],)) if len(layers) > 1 else ((layers[0],),)
        qualified = _join(prefix, child_name)
        branches.append(
            ResidualBranch(name=qualified, block=prefix, stages=stages, output=qualified, kind=kind)
        )
    return branches


def _conv_branch(block: nn.Module, prefix: str) -> ResidualBranch | None:
    children = [(n, c) for n, c in block.named_children() if n not in SHORTCUT_NAMES]
    layers = [layer for n, c in children for layer in _layers_in(c, _join(prefix, n))]
    if len(layers) < 2:
        return None
    holders = [n for n, c in children if any(is_layer(m) for m in c.modules())]
    if len(holders) == 1 and not is_layer(dict(children)[holders[0]]):
        output = _join(prefix, holders[0])
    else:
        # The last direct layer or norm; else the last child holding a layer (a block
        # whose layers all sit in containers, e.g. EfficientNet's).
        tail = [n for n, c in children if is_layer(c) or is_norm_module(c)] or holders
        output = _join(prefix, tail[-1])
    return ResidualBranch(
        name=prefix, block=prefix, stages=tuple((name,) for name in layers), output=output
    )


def _is_block(module: nn.Module, walk: _Walk) -> bool:
    if _matches(type(module).__name__, walk.block_types):
        return True
    return any(n in SHORTCUT_NAMES for n, _ in module.named_children())


def _visit(module: nn.Module, prefix: str, walk: _Walk) -> None:
    if prefix and _is_block(module, walk):
        branches = _transformer_branches(module, prefix)
        if not branches:
            conv = _conv_branch(module, prefix)
            branches = [conv] if conv is not None else []
        if branches:
            walk.found.extend(branches)
            return
    for name, child in module.named_children():
        _visit(child, _join(prefix, name), walk)


def _named(model: nn.Module, spec: Mapping[str, Sequence[Any]]) -> list[ResidualBranch]:
    modules = dict(model.named_modules())
    branches = []
    for name, stages in spec.items():
        if not isinstance(stages, Sequence) or isinstance(stages, str) or not stages:
            raise TypeError(
                f"branches[{name!r}]={stages!r} must be a non-empty list of layer names "
                "(or of lists of names that run in parallel), in execution order"
            )
        grouped = tuple((s,) if isinstance(s, str) else tuple(s) for s in stages)
        for layer in (n for stage in grouped for n in stage):
            if layer not in modules or not is_layer(modules[layer]):
                raise ValueError(
                    f"branches[{name!r}] names {layer!r}, which is not a Linear/Conv layer "
                    "of the model"
                )
        branches.append(
            ResidualBranch(
                name=name, block=name, stages=grouped, output=grouped[-1][-1], kind="named"
            )
        )
    return branches


def find_branches(
    model: nn.Module,
    *,
    branches: Mapping[str, Sequence[Any]] | None = None,
    block_types: Sequence[str] = BLOCK_TYPES,
) -> list[ResidualBranch]:
    """The residual branches of ``model`` (see the module docstring for discovery).

    ``branches`` names them instead: ``{"label": ["layer1", "layer2"], ...}`` with layer
    names in execution order (a nested list for layers that run in parallel); then
    nothing is discovered. Raises ``ValueError`` when none is found.

    >>> from torch import nn
    >>> class Block(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.conv1, self.conv2 = nn.Conv2d(4, 4, 3), nn.Conv2d(4, 4, 3)
    >>> net = nn.Sequential(Block(), Block())
    >>> [(b.name, b.m, b.last) for b in find_branches(net)]
    [('0', 2, ('0.conv2',)), ('1', 2, ('1.conv2',))]
    """
    if branches is not None:
        found = _named(model, branches)
    else:
        walk = _Walk(block_types=tuple(block_types))
        _visit(model, "", walk)
        found = walk.found
    if not found:
        raise ValueError(
            f"found no residual branch in {type(model).__name__} (block class names "
            f"{list(block_types)}, or a child named one of {list(SHORTCUT_NAMES)}); "
            "name them with branches={'label': ['layer1', 'layer2'], ...}"
        )
    return found


def branch_depth(branches: Sequence[ResidualBranch]) -> tuple[int, int]:
    """``(L, m)``: the number of branches and the largest number of stages per branch."""
    return len(branches), max(b.m for b in branches)


def find_classifier(model: nn.Module, branches: Sequence[ResidualBranch]) -> str | None:
    """The last ``nn.Linear`` outside every branch whose weight is not shared with an
    embedding (a tied LM head is an embedding too, so it is never the classifier)."""
    inside = {layer for b in branches for layer in b.layers}
    inside_blocks = tuple(f"{b.block}." for b in branches)
    embeddings = {
        id(m.weight) for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))
    }
    candidates = [
        name
        for name, m in model.named_modules()
        if isinstance(m, nn.Linear)
        and name not in inside
        and not name.startswith(inside_blocks)
        and id(m.weight) not in embeddings
    ]
    return candidates[-1] if candidates else None


def layer_layout(module: nn.Module) -> str:
    """The weight layout of a layer: HF ``Conv1D`` is ``x @ W`` (matmul), transposed
    convolutions store ``(in, out/groups, *k)``, everything else is ``torch``."""
    if type(module).__name__ == "Conv1D":
        return "matmul"
    if isinstance(module, nn.modules.conv._ConvTransposeNd):
        return "torch_transposed"
    return "torch"
