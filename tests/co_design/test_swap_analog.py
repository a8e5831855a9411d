"""Analog modes in a real GPT-2: device-domain KV cache, generate == full forward, restore, cards."""

from __future__ import annotations

import json

import pytest
import torch

from behavioral.cards import default_card
from co_design.config import AttentionConfig
from co_design.swap import install_attention, new_gpt2, restore_attention, scalers_of
from gaincell.errors import CardError


def _model():
    torch.manual_seed(0)
    return new_gpt2(2, 2, 32, 48, 50, eos_token_id=0).eval()


def _spread(model):
    """Scalers that put this random model's q, k, v across the device ranges (std ~0.1 digital)."""
    with torch.no_grad():
        for s in scalers_of(model):
            s.q_a.fill_(3.0), s.q_b.fill_(0.3), s.k_a.fill_(2.0), s.v_a.fill_(2.0)


@pytest.mark.parametrize("mode", ["linear_hw", "gaincell", "acam"])
def test_generate_equals_full_forward(mode):
    model = _model()
    install_attention(model, AttentionConfig(mode=mode, window=16, array_rows=8))
    _spread(model)
    if mode == "acam":  # keep queries and keys in one voltage band so the match is not all-zero
        with torch.no_grad():
            for s in scalers_of(model):
                s.q_a.fill_(0.05), s.k_a.fill_(0.05), s.q_b.fill_(0.45)
    prompt = torch.randint(1, 50, (2, 5))
    out = model.generate(prompt, max_new_tokens=25, do_sample=False, output_logits=True,
                         return_dict_in_generate=True, pad_token_id=0)
    inc = torch.stack(out.logits, dim=1)
    full = model(out.sequences).logits[:, 4:-1]
    assert torch.allclose(inc, full, atol=1e-4), (inc - full).abs().max()


def test_kv_cache_holds_quantized_device_values_within_window():
    model = _model()
    install_attention(model, AttentionConfig(mode="gaincell", window=16, array_rows=8))
    _spread(model)
    ids = torch.randint(1, 50, (1, 30))
    cache = model(ids, use_cache=True).cache
    card = default_card()
    lo, hi = card.quant.kv_range_v
    step = (hi - lo) / (card.quant.kv_levels - 1)
    for layer in cache.layers:
        assert layer.keys.shape[-2] == 16 - 1                     # older tokens left the window
        for stored in (layer.keys, layer.values):
            codes = (stored - lo) / step
            assert torch.allclose(codes, codes.round(), atol=1e-4)  # on the DAC grid (volts)
            assert stored.min() >= lo - 1e-6 and stored.max() <= hi + 1e-6


def test_analog_output_differs_and_restore_is_exact():
    model = _model()
    ids = torch.randint(0, 50, (2, 32))
    ref = model(ids).logits
    install_attention(model, AttentionConfig(mode="gaincell", window=16, array_rows=8))
    _spread(model)
    analog = model(ids).logits
    assert torch.isfinite(analog).all() and not torch.allclose(analog, ref, atol=1e-3)
    install_attention(model, AttentionConfig(mode="linear_hw", window=16, array_rows=8))
    assert not torch.allclose(model(ids).logits, analog, atol=1e-6)   # linear cell != fitted cell
    restore_attention(model)
    assert torch.equal(model(ids).logits, ref)


def test_gradients_reach_scalers_and_weights():
    model = _model().train()
    install_attention(model, AttentionConfig(mode="gaincell", window=16, array_rows=8))
    _spread(model)
    ids = torch.randint(0, 50, (2, 33))
    model(ids[:, :-1], labels=ids[:, :-1]).loss.backward()
    s = scalers_of(model)[0]
    for name in ("q_a", "k_a", "v_a", "out_a", "out_b"):
        assert getattr(s, name).grad.abs().sum() > 0, name
    assert model.transformer.h[0].attn.c_attn.weight.grad.abs().sum() > 0


def test_card_missing_a_field_is_named(tmp_path):
    data = default_card().to_dict()
    del data["decay"]["tau_s"]
    path = tmp_path / "card.json"
    path.write_text(json.dumps(data))
    with pytest.raises(CardError, match="card.json.*decay.tau_s"):
        install_attention(_model(), AttentionConfig(mode="gaincell", window=16, array_rows=8,
                                                    card_path=str(path)))
