"""Real timm and torchvision models (stock architectures, random weights): every preset path.

The same checks as ``tests/zoo/test_hf_zoo.py`` on the models of ``tests/zoo/timm_tv/models.py``:
``auto`` plans and applies (activations detected on a one-image input, in eval mode);
``torch-default`` applies where the modules have PyTorch defaults and names exactly the
tensors that have none; ``native`` with ``rng="torch"`` equals a normal build bit for bit and
with ``rng="keyed"`` draws the author's distributions; a model built on meta gets the normally
built model's buffers and runs its forward. Runs where timm and torchvision import
(``make test-zoo``); skipped with the reason elsewhere.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from tests.zoo.timm_tv.libs import timm_and_torchvision
from torch import nn

timm_and_torchvision()

from tests.zoo.timm_tv.models import ZOO  # noqa: E402

from initlab.rules import build, init_model  # noqa: E402

#: Models with tensors PyTorch has no default for: exactly those the ``torch-default`` plan
#: names (by local name; every tensor of the model with that local name).
NO_TORCH_DEFAULT: dict[str, set[str]] = {
    "timm/convnext_atto": {"gamma"},
    "timm/vit_tiny_patch16_224": {"cls_token", "pos_embed"},
    "timm/deit_tiny_patch16_224": {"cls_token", "pos_embed"},
    "timm/swin_tiny_patch4_window7_224": {"relative_position_bias_table"},
    "timm/maxvit_tiny_tf_224": {"relative_position_bias_table"},
    "timm/coatnet_0_rw_224": {"relative_position_bias_table"},
    "timm/fastvit_t8": {"gamma"},
    "timm/poolformer_s12": {"scale"},
    "timm/levit_128s": {"attention_biases"},
    "timm/cait_xxs24_224": {"cls_token", "pos_embed", "gamma_1", "gamma_2"},
    "torchvision/convnext_tiny": {"layer_scale"},
    "torchvision/vit_b_16": {"class_token", "pos_embedding"},
    "torchvision/swin_t": {"relative_position_bias_table"},
    "torchvision/maxvit_t": {"relative_position_bias_table"},
}
#: Models whose constructor sets a tensor no init method recomputes: on the plain meta path
#: (``torch.device("meta")`` then ``init_model``) the plan fails naming it; ``initlab.build``
#: records the constructor and has them all.
META_UNRECOVERABLE: dict[str, str] = {
    "timm/convnext_atto": r"stages\.0\.blocks\.0\.gamma: meta parameter with no values",
    "timm/fastvit_t8": r"layer_scale\.gamma: meta parameter with no values",
    "timm/poolformer_s12": r"layer_scale1\.scale: meta parameter with no values",
    "timm/cait_xxs24_224": r"blocks\.0\.gamma_1: meta parameter with no values",
    "torchvision/convnext_tiny": r"features\.1\.0\.layer_scale: meta parameter with no values",
    "torchvision/swin_t": r"attn\.relative_position_index: meta buffer with no values",
    "torchvision/maxvit_t": r"relative_position_index: meta buffer with no values",
}
#: Models whose own constructor reads tensor values (``.tolist()``), so it cannot run under
#: ``torch.device("meta")`` at all; ``initlab.build`` records such a factory on the CPU.
META_UNBUILDABLE = {"torchvision/regnet_y_400mf"}


SEED = 1234


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    return state


def _forward(model: nn.Module, key: str) -> None:
    model.eval()
    with torch.no_grad():
        out = model(ZOO[key].example_input())
    assert torch.isfinite(out).all()


@dataclass(frozen=True)
class Reference:
    """A model built normally (``torch.manual_seed(SEED); factory()``) and a copy of its
    tensors, shared by the tests of one model: building is most of their cost."""

    key: str
    model: nn.Module
    state: dict[str, torch.Tensor]


@pytest.fixture(scope="module")
def reference(key: str) -> Iterator[Reference]:
    # Module scope: pytest runs one model's tests together, then drops its reference; the
    # xdist group keeps them on one worker (make test-zoo runs with --dist loadgroup).
    rng = torch.random.get_rng_state()
    try:
        torch.manual_seed(SEED)
        model = ZOO[key].factory()
    finally:
        torch.random.set_rng_state(rng)
    yield Reference(key, model, {n: t.detach().clone() for n, t in _state(model).items()})


def _params() -> list[Any]:
    return [pytest.param(k, marks=pytest.mark.xdist_group(k)) for k in ZOO]


pytestmark = [pytest.mark.slow, pytest.mark.parametrize("key", _params(), scope="module")]


def test_auto_plans_and_applies(reference: Reference) -> None:
    model = copy.deepcopy(reference.model)
    plan = init_model(model, "auto", seed=0, example_input=ZOO[reference.key].example_input())
    assert plan.applied and not plan.errors
    for entry in plan:
        assert entry.scheme is not None or entry.source in ("tied", "kept"), entry.name
    kept = [e for e in plan if e.source == "kept" or e.scheme == "keep"]
    assert all(e.note or e.rule for e in kept)  # listed with a reason, never silent
    layers = [e for e in plan if e.role == "weight" and e.activation is not None]
    assert layers, "no activation detected on any layer"
    _forward(model, reference.key)


def test_torch_default(reference: Reference) -> None:
    plan = init_model(reference.model, "torch-default", seed=0, dry_run=True)
    expected = NO_TORCH_DEFAULT.get(reference.key)
    if expected is None:
        assert not plan.errors, plan.errors
        return
    assert plan.errors and not plan.applied
    assert {name.rsplit(".", 1)[-1] for name in plan.uncovered} == expected


def test_native_torch_equals_a_normal_build(reference: Reference) -> None:
    model, plan = build(ZOO[reference.key].factory, seed=SEED)
    built = _state(model)
    assert built.keys() == reference.state.keys()
    different = [n for n, t in reference.state.items() if not torch.equal(t, built[n])]
    assert not different
    assert all(e.rule and e.rule.endswith("[native]") for e in plan if e.source != "tied")
    _forward(model, reference.key)


def _keyed_std_ok(tensor: torch.Tensor, std: float) -> bool:
    """A sample std of n values has relative error ~1/sqrt(2n) (normal; less for uniform
    and truncated normal): within 5 of those."""
    return abs(tensor.std().item() / std - 1) < 5 / math.sqrt(2 * tensor.numel())


def test_native_keyed_draws_the_authors_distributions(reference: Reference) -> None:
    model, plan = build(ZOO[reference.key].factory, rng="keyed", seed=SEED)
    state = _state(model)
    checked = 0
    for entry in plan:
        if entry.tied_to is not None or entry.scheme not in _RANDOM or not entry.std:
            continue
        tensor = state[entry.name].detach().float()
        if tensor.numel() < 128:
            continue
        assert _keyed_std_ok(tensor, entry.std), entry.name
        assert not _keyed_std_ok(tensor, 2 * entry.std)  # negative control
        if tensor.numel() >= 10_000:  # and the check's power: a 10 % scale error fails
            assert not _keyed_std_ok(tensor, 1.1 * entry.std)
        assert not torch.equal(tensor, reference.state[entry.name].float())  # not torch's draw
        checked += 1
    assert checked
    _forward(model, reference.key)


_RANDOM = ("normal", "uniform", "truncated_normal")


def test_meta_build_has_the_models_buffers_and_runs(reference: Reference) -> None:
    zoo = ZOO[reference.key]
    model, plan = build(zoo.factory, "auto", seed=0, example_input=zoo.example_input())
    assert plan.applied and not plan.errors
    buffers = dict(model.named_buffers())
    expected = dict(reference.model.named_buffers())
    assert buffers.keys() == expected.keys()
    for name in expected:
        assert torch.equal(reference.state[name], buffers[name]), name
    _forward(model, reference.key)


def test_plain_meta_model_gets_real_buffers_or_a_named_error(reference: Reference) -> None:
    key = reference.key
    if key in META_UNBUILDABLE:
        with torch.device("meta"), pytest.raises(NotImplementedError, match="meta tensor"):
            ZOO[key].factory()
        return
    with torch.device("meta"):
        model = ZOO[key].factory()
    if key in META_UNRECOVERABLE:
        before = _state(model)
        with pytest.raises(ValueError, match=META_UNRECOVERABLE[key]):
            init_model(model, "auto", seed=0, device="cpu")
        assert all(before[n] is t for n, t in _state(model).items())  # nothing written
        return
    init_model(model, "auto", seed=0, device="cpu")
    for name, value in model.named_buffers():
        assert torch.equal(value, reference.state[name]), name
    _forward(model, key)
