"""The doctor on real models with their authors' own init: HF transformers from small configs.

Built from config classes with random weights (nothing is downloaded). Each stock
model's own initialization is deliberate (zero or 0.02-scale branch ends, layer
scale 1e-6, constant norm gains, depthwise convs, RWKV's 1e-4 embedding): the
doctor must give no warning and no error on any of them, and must not crash on
models that manipulate ``requires_grad`` (Wav2Vec2).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import pytest
import torch
from torch import nn

from initlab.doctor import DoctorConfig, diagnose

# Part of the whole suite (make test); left out of make test-fast.
pytestmark = pytest.mark.slow

T = pytest.importorskip("transformers")

Built = tuple[nn.Module, dict[str, torch.Tensor]]


def _tokens(vocab: int) -> dict[str, torch.Tensor]:
    return {
        "input_ids": torch.randint(0, vocab, (4, 16), generator=torch.Generator().manual_seed(0))
    }


def _pixels() -> dict[str, torch.Tensor]:
    return {"pixel_values": torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))}


def gpt2() -> Built:
    config = T.GPT2Config(
        n_layer=2,
        n_embd=64,
        n_head=4,
        vocab_size=128,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return T.GPT2Model(config), _tokens(128)


def bert() -> Built:
    config = T.BertConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        intermediate_size=128,
        vocab_size=128,
        max_position_embeddings=64,
    )
    return T.BertModel(config), _tokens(128)


def llama() -> Built:
    config = T.LlamaConfig(
        num_hidden_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        num_key_value_heads=2,
        intermediate_size=128,
        vocab_size=128,
        max_position_embeddings=64,
    )
    return T.LlamaModel(config), _tokens(128)


def convnext() -> Built:
    config = T.ConvNextConfig(
        num_channels=3, hidden_sizes=[16, 32], depths=[2, 2], num_stages=2, image_size=32
    )
    return T.ConvNextModel(config), _pixels()


def resnet() -> Built:
    config = T.ResNetConfig(
        num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic"
    )
    return T.ResNetModel(config), _pixels()


def vit() -> Built:
    config = T.ViTConfig(
        image_size=32,
        patch_size=8,
        num_channels=3,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=128,
    )
    return T.ViTModel(config), _pixels()


def wav2vec2() -> Built:
    config = T.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4,
    )
    audio = torch.randn(2, 800, generator=torch.Generator().manual_seed(0))
    return T.Wav2Vec2Model(config), {"input_values": audio}


def rwkv() -> Built:
    config = T.RwkvConfig(
        vocab_size=128,
        context_length=64,
        hidden_size=32,
        num_hidden_layers=2,
        attention_hidden_size=32,
        intermediate_size=64,
    )
    return T.RwkvModel(config), _tokens(128)


ZOO: dict[str, Callable[[], Built]] = {
    f.__name__: f for f in (gpt2, bert, llama, convnext, resnet, vit, wav2vec2, rwkv)
}


def _build(name: str) -> Built:
    torch.manual_seed(0)  # the model's own init draws from the global generator (test only)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ZOO[name]()


@pytest.mark.parametrize("name", sorted(ZOO))
def test_stock_init_gets_no_warning_or_error(name: str) -> None:
    model, inputs = _build(name)
    d = diagnose(model, inputs, config=DoctorConfig(seed=0))
    problems = [
        f"{f.severity} {f.statistic}: {f.message}"
        for f in d.findings
        if f.severity in ("warning", "error")
    ]
    assert not problems, problems
    assert d.layers()


def test_a_broken_real_model_is_still_flagged() -> None:
    """Negative control: BERT with its Linear layers at std 30 explodes and saturates."""
    model, inputs = _build("bert")
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Linear):
                module.weight.normal_(0.0, 30.0, generator=torch.Generator().manual_seed(1))
    d = diagnose(model, inputs, config=DoctorConfig(seed=0))
    assert not d.healthy
