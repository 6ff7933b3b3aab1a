"""Real models from HF transformers' own code, tiny configs, random weights, no downloads.

``ZOO`` maps a family name to ``(factory, example_input)``: the factory takes no argument
and builds the model from its config class (``AutoModel.from_config``-style), the input is
what its forward takes (a dict of keyword arguments). Sizes are chosen so that building,
initializing and running every model stays within seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

Factory = Callable[[], nn.Module]

_TEXT = {"vocab_size": 64, "hidden_size": 16, "num_hidden_layers": 2, "num_attention_heads": 2}
_DECODER = {
    **_TEXT,
    "intermediate_size": 32,
    "num_key_value_heads": 1,
    "max_position_embeddings": 32,
}
_IMAGE = {"image_size": 32, "num_channels": 3}


def _tokens(batch: int = 2, length: int = 8) -> dict[str, Any]:
    ids = torch.arange(batch * length).reshape(batch, length) % 60 + 1
    return {"input_ids": ids}


def _pixels(size: int = 32) -> dict[str, Any]:
    values = torch.linspace(-1, 1, 2 * 3 * size * size).reshape(2, 3, size, size)
    return {"pixel_values": values}


def _hf(config_name: str, model_name: str, **config: Any) -> Factory:
    def build() -> nn.Module:
        import transformers

        cfg = getattr(transformers, config_name)(**config)
        return getattr(transformers, model_name)(cfg)

    build.__name__ = model_name
    return build


def _zoo() -> dict[str, tuple[Factory, dict[str, Any]]]:
    tok, pix = _tokens(), _pixels()
    audio = {"input_values": torch.linspace(-1, 1, 2 * 800).reshape(2, 800)}
    conv = {"hidden_sizes": [8, 16], "depths": [1, 1], "num_channels": 3, "num_stages": 2}
    return {
        "gpt2": (
            _hf(
                "GPT2Config",
                "GPT2LMHeadModel",
                vocab_size=64,
                n_embd=16,
                n_layer=2,
                n_head=2,
                n_positions=32,
                bos_token_id=1,
                eos_token_id=2,
            ),
            tok,
        ),
        "llama": (_hf("LlamaConfig", "LlamaForCausalLM", **_DECODER), tok),
        "mistral": (_hf("MistralConfig", "MistralForCausalLM", **_DECODER), tok),
        "qwen2": (_hf("Qwen2Config", "Qwen2ForCausalLM", **_DECODER), tok),
        "gemma": (_hf("GemmaConfig", "GemmaForCausalLM", **_DECODER, head_dim=8), tok),
        "mixtral": (
            _hf(
                "MixtralConfig",
                "MixtralForCausalLM",
                **_DECODER,
                num_local_experts=4,
                num_experts_per_tok=2,
            ),
            tok,
        ),
        "bert": (
            _hf(
                "BertConfig",
                "BertForMaskedLM",
                **_TEXT,
                intermediate_size=32,
                max_position_embeddings=32,
            ),
            tok,
        ),
        "roberta": (
            _hf(
                "RobertaConfig",
                "RobertaForMaskedLM",
                **_TEXT,
                intermediate_size=32,
                max_position_embeddings=40,
            ),
            tok,
        ),
        "distilbert": (
            _hf(
                "DistilBertConfig",
                "DistilBertForMaskedLM",
                vocab_size=64,
                dim=16,
                n_layers=2,
                n_heads=2,
                hidden_dim=32,
                max_position_embeddings=32,
            ),
            tok,
        ),
        "t5": (
            _hf(
                "T5Config",
                "T5ForConditionalGeneration",
                vocab_size=64,
                d_model=16,
                d_kv=8,
                d_ff=32,
                num_layers=2,
                num_heads=2,
                decoder_start_token_id=0,
            ),
            {**tok, "decoder_input_ids": tok["input_ids"]},
        ),
        "bart": (
            _hf(
                "BartConfig",
                "BartForConditionalGeneration",
                vocab_size=64,
                d_model=16,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                max_position_embeddings=32,
            ),
            tok,
        ),
        "whisper": (
            _hf(
                "WhisperConfig",
                "WhisperModel",
                vocab_size=64,
                d_model=16,
                encoder_layers=1,
                decoder_layers=1,
                encoder_attention_heads=2,
                decoder_attention_heads=2,
                encoder_ffn_dim=32,
                decoder_ffn_dim=32,
                num_mel_bins=8,
                max_source_positions=16,
                max_target_positions=16,
                pad_token_id=0,
                bos_token_id=1,
                eos_token_id=2,
                decoder_start_token_id=1,
            ),
            {
                "input_features": torch.linspace(-1, 1, 2 * 8 * 32).reshape(2, 8, 32),
                "decoder_input_ids": tok["input_ids"][:, :4],
            },
        ),
        "wav2vec2": (
            _hf(
                "Wav2Vec2Config",
                "Wav2Vec2Model",
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                conv_dim=(8, 8),
                conv_stride=(5, 2),
                conv_kernel=(10, 3),
                num_conv_pos_embeddings=8,
                num_conv_pos_embedding_groups=2,
            ),
            audio,
        ),
        "clip": (
            _hf(
                "CLIPConfig",
                "CLIPModel",
                text_config={
                    **_TEXT,
                    "intermediate_size": 32,
                    "bos_token_id": 1,
                    "eos_token_id": 2,
                    "pad_token_id": 0,
                    "max_position_embeddings": 16,
                },
                vision_config={
                    **_IMAGE,
                    "hidden_size": 16,
                    "num_hidden_layers": 1,
                    "num_attention_heads": 2,
                    "intermediate_size": 32,
                    "patch_size": 8,
                },
                projection_dim=8,
            ),
            {**tok, **pix},
        ),
        "vit": (
            _hf(
                "ViTConfig",
                "ViTForImageClassification",
                **_IMAGE,
                hidden_size=16,
                num_hidden_layers=1,
                num_attention_heads=2,
                intermediate_size=32,
                patch_size=8,
                num_labels=3,
            ),
            pix,
        ),
        "swin": (
            _hf(
                "SwinConfig",
                "SwinForImageClassification",
                **_IMAGE,
                patch_size=4,
                embed_dim=8,
                depths=[1, 1],
                num_heads=[1, 2],
                window_size=4,
                num_labels=3,
            ),
            pix,
        ),
        "convnext": (
            _hf("ConvNextConfig", "ConvNextForImageClassification", **conv, num_labels=3),
            pix,
        ),
        "levit": (
            _hf(
                "LevitConfig",
                "LevitForImageClassification",
                image_size=32,
                hidden_sizes=[16, 24, 32],
                num_attention_heads=[1, 2, 2],
                depths=[1, 1, 1],
                key_dim=[8, 8, 8],
                num_labels=3,
            ),
            pix,
        ),
        "poolformer": (
            _hf(
                "PoolFormerConfig",
                "PoolFormerForImageClassification",
                hidden_sizes=[8, 16, 16, 16],
                depths=[1, 1, 1, 1],
                num_labels=3,
            ),
            pix,
        ),
        "mobilevit": (
            _hf(
                "MobileViTConfig",
                "MobileViTForImageClassification",
                image_size=32,
                hidden_sizes=[16, 16, 16],
                neck_hidden_sizes=[8, 8, 8, 16, 16, 16, 32],
                num_labels=3,
            ),
            pix,
        ),
        "regnet": (
            _hf(
                "RegNetConfig",
                "RegNetForImageClassification",
                embedding_size=8,
                hidden_sizes=[8, 16],
                depths=[1, 1],
                groups_width=8,
                num_labels=3,
            ),
            pix,
        ),
        "resnet": (
            _hf(
                "ResNetConfig",
                "ResNetForImageClassification",
                embedding_size=8,
                hidden_sizes=[8, 16],
                depths=[1, 1],
                num_labels=3,
            ),
            pix,
        ),
        "efficientnet": (
            _hf(
                "EfficientNetConfig",
                "EfficientNetForImageClassification",
                image_size=32,
                width_coefficient=0.1,
                depth_coefficient=0.1,
                hidden_dim=128,
                num_labels=3,
            ),
            pix,
        ),
        "mamba": (
            _hf(
                "MambaConfig",
                "MambaForCausalLM",
                vocab_size=64,
                hidden_size=16,
                state_size=4,
                num_hidden_layers=2,
                expand=2,
                conv_kernel=4,
            ),
            tok,
        ),
        "rwkv": (
            _hf(
                "RwkvConfig",
                "RwkvForCausalLM",
                vocab_size=64,
                hidden_size=16,
                num_hidden_layers=2,
                attention_hidden_size=16,
                intermediate_size=32,
                context_length=16,
            ),
            tok,
        ),
    }


ZOO = _zoo()
