"""Real HF transformers models (tiny configs, random weights): every preset path end to end.

For each family in ``tests/zoo/hf_models.py``: ``auto`` plans and applies; ``torch-default``
applies where the modules have PyTorch defaults and names the custom parameters where they
do not; ``native`` with ``rng="torch"`` equals a normal build bit for bit and with
``rng="keyed"`` draws the author's distributions; a model built on meta gets the normally
built model's buffers and runs its forward.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

pytest.importorskip("transformers")

from tests.zoo.hf_models import ZOO

from initlab.rules import build, init_model, record


@pytest.fixture(autouse=True, scope="module")
def _quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()


#: Tied LM heads under a preset: the preset's order decides, quietly (a row note).
pytestmark = pytest.mark.filterwarnings("error::initlab.rules.TieConflictWarning")

FAMILIES = sorted(ZOO)
#: Families with parameters PyTorch has no default for (the plan names them).
NO_TORCH_DEFAULT = {
    "mixtral": "experts.gate_up_proj",
    "wav2vec2": "masked_spec_embed",
    "clip": "logit_scale",
    "vit": "cls_token",
    "swin": "relative_position_bias_table",
    "convnext": "layer_scale_parameter",
    "levit": "attention_biases",
    "poolformer": "layer_scale_1",
    "mamba": "A_log",
    "rwkv": "time_decay",
}
#: Families whose constructor sets a tensor no init method recomputes (plain meta path).
META_UNRECOVERABLE = {"clip": "logit_scale", "wav2vec2": "parametrizations.weight.original0"}


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    state = dict(model.named_parameters())
    state.update(model.named_buffers())
    return state


def _forward(model: nn.Module, inputs: dict) -> None:
    model.eval()
    with torch.no_grad():
        model(**inputs)


@pytest.mark.parametrize("family", FAMILIES)
def test_auto_plans_and_applies(family: str) -> None:
    factory, inputs = ZOO[family]
    model = factory()
    plan = init_model(model, "auto", seed=0)  # HF models do not trace: no probe forward here
    assert plan.applied and not plan.errors
    for entry in plan:
        assert entry.scheme is not None or entry.source in ("tied", "kept"), entry.name
    kept = [e for e in plan if e.source == "kept" or e.scheme == "keep"]
    assert all(e.note or e.rule for e in kept)  # listed with a reason, never silent
    _forward(model, inputs)


@pytest.mark.parametrize("family", FAMILIES)
def test_torch_default(family: str) -> None:
    factory, _ = ZOO[family]
    model = factory()
    plan = init_model(model, "torch-default", seed=0, dry_run=True)
    if family in NO_TORCH_DEFAULT:
        assert plan.errors and NO_TORCH_DEFAULT[family] in plan.errors[0]
    else:
        assert not plan.errors, plan.errors


@pytest.mark.parametrize("family", FAMILIES)
def test_native_torch_equals_a_normal_build(family: str, preserve_global_rng: None) -> None:
    factory, inputs = ZOO[family]
    model, plan = build(factory, seed=1234)
    torch.manual_seed(1234)
    reference = _state(factory())
    built = _state(model)
    assert built.keys() == reference.keys()
    different = [n for n in reference if not torch.equal(reference[n], built[n])]
    assert not different
    assert all(e.rule and e.rule.endswith("[native]") for e in plan if e.source != "tied")
    _forward(model, inputs)


def _checked(plan, model: nn.Module, min_numel: int = 128):  # type: ignore[no-untyped-def]
    """(name, tensor, expected std) for random native tensors large enough to measure."""
    state = _state(model)
    for entry in plan:
        if entry.tied_to is None and entry.scheme in ("normal", "uniform", "truncated_normal"):
            tensor = state[entry.name].detach().float()
            if tensor.numel() >= min_numel and "padding" not in (entry.rule or ""):
                yield entry.name, tensor, entry.std


@pytest.mark.parametrize("family", FAMILIES)
def test_native_keyed_draws_the_authors_distributions(family: str) -> None:
    factory, inputs = ZOO[family]
    model, plan = build(factory, rng="keyed", seed=5)
    torch_model, _ = build(factory, seed=5)
    checked = list(_checked(plan, model))
    assert checked or family in ("rwkv",)
    for name, tensor, std in checked:
        # A sample std of n normal values has relative error ~1/sqrt(2n): 5 of those.
        tolerance = 5 / math.sqrt(2 * tensor.numel())
        assert abs(tensor.std().item() / std - 1) < tolerance, name
        assert not abs(tensor.std().item() / (2 * std) - 1) < tolerance  # negative control
        assert not torch.equal(tensor, _state(torch_model)[name].float())
    _forward(model, inputs)


@pytest.mark.parametrize("family", ["llama", "mamba"])
def test_native_keyed_is_reproducible(family: str) -> None:
    first, _ = build(ZOO[family][0], rng="keyed", seed=5)
    second, _ = build(ZOO[family][0], rng="keyed", seed=5)
    assert all(torch.equal(a, b) for a, b in zip(_state(first).values(), _state(second).values()))


@pytest.mark.parametrize("family", FAMILIES)
def test_meta_build_has_the_models_buffers_and_runs(family: str) -> None:
    factory, inputs = ZOO[family]
    model, plan = build(factory, "auto", seed=0)
    assert plan.applied and not plan.errors
    reference = dict(factory().named_buffers())
    buffers = dict(model.named_buffers())
    assert buffers.keys() == reference.keys()
    for name, value in reference.items():
        assert torch.equal(value, buffers[name]), name
    _forward(model, inputs)


@pytest.mark.parametrize("family", FAMILIES)
def test_plain_meta_model_gets_real_buffers_or_a_named_error(family: str) -> None:
    factory, inputs = ZOO[family]
    with torch.device("meta"):
        model = factory()
    if family in META_UNRECOVERABLE:
        before = _state(model)
        with pytest.raises(ValueError, match=META_UNRECOVERABLE[family]):
            init_model(model, "auto", seed=0, device="cpu")
        assert all(before[n] is t for n, t in _state(model).items())  # nothing written
        return
    init_model(model, "auto", seed=0, device="cpu")
    reference = dict(factory().named_buffers())
    for name, value in model.named_buffers():
        assert torch.equal(value, reference[name]), name
    _forward(model, inputs)


def test_recording_names_the_authors_schemes() -> None:
    recording = record(ZOO["llama"][0])
    schemes = recording.schemes
    assert schemes["model.layers.0.self_attn.q_proj.weight"].label() == "normal(0, 0.02) [native]"
    assert schemes["model.norm.weight"].label() == "constant(1) [native]"
    assert schemes["model.rotary_emb.inv_freq"].kind == "computed"
    vit = record(ZOO["vit"][0]).schemes["vit.embeddings.cls_token"]
    assert vit.kind == "trunc_normal" and vit.args["std"] == pytest.approx(0.02)


def test_gemma_norms_are_initialized_to_zero() -> None:
    factory, _ = ZOO["gemma"]
    for preset in ("auto", "torch-default", "gpt2", "bert", "llama"):
        model = factory()
        plan = init_model(model, preset, seed=0)
        assert plan["model.norm.weight"].scheme in ("zeros", "torch_default:Zeros"), preset
        assert torch.count_nonzero(model.model.norm.weight) == 0
    model = factory()
    assert init_model(ZOO["llama"][0](), "auto", seed=0)["model.norm.weight"].scheme == "ones"


def test_activation_detection_on_hf_models() -> None:
    from initlab.rules import detect_activations

    factory, inputs = ZOO["llama"]
    found = detect_activations(factory(), inputs)
    assert found["model.layers.0.mlp.gate_proj"].name == "silu"
    assert found["lm_head"].name == "linear"
    rwkv = detect_activations(ZOO["rwkv"][0]())  # its own argument check raises under fx
    assert all(a.name is None and a.reason for a in rwkv.values())


def test_wrapped_models_plan_with_bare_names_and_weights() -> None:
    factory, _ = ZOO["bert"]
    bare, wrapped = factory(), nn.DataParallel(factory())
    plan = init_model(wrapped, "auto", seed=3)
    init_model(bare, "auto", seed=3)
    assert not any(e.name.startswith("module.") for e in plan)
    for (name, a), (_, b) in zip(bare.named_parameters(), wrapped.module.named_parameters()):
        assert torch.equal(a, b), name


def test_native_preset_on_a_built_model() -> None:
    factory, _ = ZOO["llama"]
    model = factory()
    plan = init_model(model, "native", rng="keyed", seed=0)
    entry = plan["model.layers.0.mlp.down_proj.weight"]
    assert entry.scheme == "normal" and entry.std == pytest.approx(0.02)
    assert plan["model.norm.weight"].rule == "constant(1) [native]"


@pytest.mark.parametrize("family", ["llama", "bert", "mixtral", "vit"])
def test_hf_preset_matches_the_models_own_init(family: str) -> None:
    factory, _ = ZOO[family]
    native = {e.name: e.std for e in build(factory, seed=0)[1]}
    plan = init_model(factory(), "hf", seed=0, dry_run=True)
    assert not plan.errors
    weights = [e for e in plan if e.role in ("weight", "embedding", "expert_weight") and e.std]
    assert weights
    for entry in weights:
        assert entry.std == pytest.approx(native[entry.name]), entry.name
    gpt2 = {e.name: e.std for e in build(ZOO["gpt2"][0], seed=0)[1]}  # negative control
    plan = init_model(ZOO["gpt2"][0](), "hf", seed=0, dry_run=True)
    assert any(e.std != pytest.approx(gpt2[e.name]) for e in plan if e.role == "weight")


def test_vit_jax_on_hf_naming() -> None:
    factory, _ = ZOO["vit"]
    plan = init_model(factory(), "vit-jax", seed=0)
    assert plan["classifier.weight"].scheme == "zeros"
    assert plan["vit.embeddings.cls_token"].std == pytest.approx(1e-6)
    assert plan["vit.embeddings.position_embeddings"].scheme == "truncated_normal"


def test_weight_decay_skips_tokens_position_tables_and_layer_scales() -> None:
    from initlab.rules import decay_report

    rows = {r.name: r for r in decay_report(ZOO["vit"][0]())}
    assert not rows["vit.embeddings.cls_token"].decay
    assert not rows["vit.embeddings.position_embeddings"].decay
    assert rows["vit.layers.0.attention.q_proj.weight"].decay
    rows = {r.name: r for r in decay_report(ZOO["convnext"][0]())}
    assert not rows["convnext.encoder.stages.0.layers.0.layer_scale_parameter"].decay


def test_weight_decay_follows_no_weight_decay() -> None:
    from initlab.rules import decay_report

    class Declares(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = nn.Linear(4, 4)
            self.table = nn.Parameter(torch.zeros(3, 4))

        def no_weight_decay(self) -> set[str]:
            return {"table"}

    rows = {r.name: r for r in decay_report(Declares())}
    assert not rows["table"].decay and "no_weight_decay" in rows["table"].reason
    assert rows["inner.weight"].decay


# Part of the whole suite (make test); left out of make test-fast.
pytestmark = [pytestmark, pytest.mark.slow]
