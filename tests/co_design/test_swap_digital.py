"""Attention swap in a real transformers GPT-2: restore, window masking, generation, save/load."""

from __future__ import annotations

import torch

from co_design.config import AttentionConfig
from co_design.swap import (install_attention, load_model, new_gpt2, restore_attention, save_model,
                            scalers_of)


def _model(n_layer=2, ctx=32):
    torch.manual_seed(0)
    return new_gpt2(n_layer, 2, 16, ctx, 50, eos_token_id=0).eval()


def test_swap_and_restore_round_trip():
    model = _model()
    ids = torch.randint(0, 50, (2, 24))
    ref = model(ids).logits
    install_attention(model, AttentionConfig(mode="digital_swa", window=32))  # window = context: exact
    assert model.config._attn_implementation == "digital_swa"
    assert torch.allclose(model(ids).logits, ref, atol=1e-5)
    install_attention(model, AttentionConfig(mode="digital_swa", window=4))
    assert not torch.allclose(model(ids).logits, ref, atol=1e-3)
    restore_attention(model)
    assert model.config._attn_implementation == "sdpa"
    assert not hasattr(model.config, "gaincell_attention") and not scalers_of(model)
    assert torch.equal(model(ids).logits, ref)


def test_window_masks_tokens_older_than_w():
    model = _model(n_layer=1)  # one layer: position i sees tokens (i - W, i] only
    install_attention(model, AttentionConfig(mode="digital_swa", window=8))
    ids = torch.randint(1, 50, (1, 20))
    changed = ids.clone()
    changed[0, 3] = (ids[0, 3] + 1) % 50
    a, b = model(ids).logits, model(changed).logits
    diff = (a - b).abs().amax(-1)[0]
    assert torch.all(diff[3:11] > 0)      # positions 3 .. 3+W-1 see token 3
    assert torch.all(diff[11:] == 0)      # later positions no longer do
    assert torch.all(diff[:3] == 0)       # causal


def test_generate_equals_full_forward_beyond_window():
    model = _model()
    install_attention(model, AttentionConfig(mode="digital_swa", window=6))
    prompt = torch.randint(1, 50, (2, 5))
    out = model.generate(prompt, max_new_tokens=14, do_sample=False, output_logits=True,
                         return_dict_in_generate=True, pad_token_id=0)
    inc = torch.stack(out.logits, dim=1)             # (B, new, V), from the KV cache
    full = model(out.sequences).logits[:, 4:-1]      # same positions, one full forward
    assert torch.allclose(inc, full, atol=1e-4)
    cache_len = max(layer.keys.shape[-2] for layer in model(out.sequences, use_cache=True).cache.layers)
    assert cache_len == 6 - 1                         # keys older than W are evicted


def test_save_load_keeps_config_and_scalers(tmp_path):
    model = _model()
    install_attention(model, AttentionConfig(mode="digital_swa", window=8))
    with torch.no_grad():
        scalers_of(model)[1].q_a.fill_(0.25)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    assert loaded.config.gaincell_attention["window"] == 8
    assert float(scalers_of(loaded)[1].q_a.detach()[0]) == 0.25
    ids = torch.randint(0, 50, (1, 20))
    assert torch.equal(loaded(ids).logits, model(ids).logits)


def test_full_size_gpt2_shape_loads_swaps_and_generates(tmp_path):
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    big = GPT2LMHeadModel(GPT2Config())            # the 124M shape, random weights
    assert sum(p.numel() for p in big.parameters()) > 120e6
    big.save_pretrained(tmp_path / "gpt2")
    del big
    model = load_model(tmp_path / "gpt2", window=128)
    assert model.config._attn_implementation == "digital_swa" and len(scalers_of(model)) == 12
    out = model.generate(torch.tensor([[464, 3290, 318]]), max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert out.shape == (1, 6)
