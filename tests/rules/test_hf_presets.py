"""Presets against Hugging Face ``transformers`` models built from small configs (no downloads)."""

from __future__ import annotations

import math

import pytest
import torch

from initlab.rules import init_model

transformers = pytest.importorskip("transformers")

TOL = 0.12  # relative; the smallest compared tensor has 4096 values (std error ~1.1%)


def _gpt2() -> torch.nn.Module:
    config = transformers.GPT2Config(
        n_layer=4,
        n_embd=64,
        n_head=2,
        vocab_size=256,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    )
    return transformers.GPT2LMHeadModel(config)


def _bert() -> torch.nn.Module:
    config = transformers.BertConfig(
        vocab_size=256,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    return transformers.BertForMaskedLM(config)


def _llama() -> torch.nn.Module:
    config = transformers.LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return transformers.LlamaForCausalLM(config)


def _stats(model: torch.nn.Module) -> dict[str, float]:
    return {
        n: p.detach().float().std().item() for n, p in model.named_parameters() if p.numel() >= 4096
    }


@pytest.mark.parametrize(("factory", "preset"), [(_gpt2, "gpt2"), (_bert, "bert")])
def test_preset_gives_each_parameter_the_std_transformers_gives(factory, preset) -> None:  # type: ignore[no-untyped-def]
    torch.manual_seed(0)  # test code only: transformers' own init uses the global RNG
    reference = _stats(factory())
    model = factory()
    plan = init_model(model, preset, seed=1)
    ours = _stats(model)
    assert reference
    for name, std in reference.items():
        assert plan[name].std == pytest.approx(std, rel=TOL), name
        assert ours[name] == pytest.approx(std, rel=TOL), name


def test_gpt2_residual_projection_and_tie() -> None:
    model = _gpt2()
    plan = init_model(model, "gpt2", seed=0)
    assert plan["transformer.h.0.mlp.c_proj.weight"].std == pytest.approx(0.02 / math.sqrt(8))
    assert plan["transformer.h.0.mlp.c_fc.weight"].std == pytest.approx(0.02)
    assert plan["lm_head.weight"].tied_to == "transformer.wte.weight"
    assert model.lm_head.weight is model.transformer.wte.weight
    assert torch.all(model.transformer.h[0].attn.c_attn.bias == 0)


def test_bert_padding_row_zero() -> None:
    model = _bert()
    plan = init_model(model, "bert", seed=0)
    assert torch.all(model.bert.embeddings.word_embeddings.weight[0] == 0)
    assert "padding_idx" in plan["bert.embeddings.word_embeddings.weight"].note


def test_llama_torchtitan_depth_scaling() -> None:
    model = _llama()
    plan = init_model(model, "llama", seed=0)
    assert not plan.uncovered
    for i in range(3):
        expected = 0.02 / math.sqrt(2 * (i + 1))
        config = plan[f"model.layers.{i}.self_attn.o_proj.weight"].scheme_config
        assert config["std"] == pytest.approx(expected)
        assert plan[f"model.layers.{i}.mlp.down_proj.weight"].scheme_config["std"] == pytest.approx(
            expected
        )
    assert plan["model.layers.0.self_attn.q_proj.weight"].scheme_config["std"] == 0.02
    assert plan["model.embed_tokens.weight"].std == 1.0
    assert plan["model.norm.weight"].scheme == "ones"
    assert plan["lm_head.weight"].bound == pytest.approx(3 * 64**-0.5)
