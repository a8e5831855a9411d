"""The aCAM temperature: a per-head scaler, trained, saved, and set by the adaptation."""

from __future__ import annotations

import pytest
import torch

from behavioral.attention import acam_attention
from behavioral.attention_acam import acam_log_match
from behavioral.cards import default_card
from co_design.adapt import AdaptConfig, adapt_model, record_statistics
from co_design.config import AttentionConfig
from co_design.data import TokenBatcher, encode, load_tokenizer, read_text
from co_design.finetune import FinetuneConfig, finetune
from co_design.scalers import SCORE
from co_design.swap import install_attention, load_model, new_gpt2, save_model, scalers_of
from co_design.trainer import TrainConfig
from gaincell.errors import ConfigError

ACAM = AttentionConfig(mode="acam", window=16, array_rows=8)


def _model():
    torch.manual_seed(0)
    model = new_gpt2(2, 2, 32, 48, 50, eos_token_id=0).eval()
    install_attention(model, ACAM)
    with torch.no_grad():  # queries and keys in one voltage band, so matches are not all zero
        for s in scalers_of(model):
            s.q_a.fill_(0.05), s.k_a.fill_(0.05), s.q_b.fill_(0.45), s.v_a.fill_(2.0)
    return model


def test_one_temperature_per_layer_and_head_initialized_to_one():
    model = _model()
    names = [n for n, _ in model.named_parameters() if n.endswith("acam_log_temperature")]
    assert names == [f"transformer.h.{i}.attn.gaincell_scalers.acam_log_temperature" for i in range(2)]
    for s in scalers_of(model):
        assert s.acam_log_temperature.shape == (2,)
        assert torch.equal(s.temperature(), torch.ones(2))  # the card's characterized sense time


def test_temperature_changes_the_output_per_head():
    model = _model()
    ids = torch.randint(1, 50, (2, 24))
    ref = model(ids).logits
    scalers_of(model)[0].set_temperature(torch.tensor([1.0, 4.0]))  # head 1 of layer 0 only
    assert not torch.allclose(model(ids).logits, ref, atol=1e-4)
    with pytest.raises(ConfigError, match="'acam_temperature'"):
        scalers_of(model)[0].set_temperature(torch.tensor([1.0, 0.0]))


def test_temperature_receives_a_gradient():
    model = _model().train()
    ids = torch.randint(1, 50, (2, 25))
    model(ids[:, :-1], labels=ids[:, 1:]).loss.backward()
    for s in scalers_of(model):
        grad = s.acam_log_temperature.grad
        assert grad is not None and torch.all(grad.abs() > 0), grad


def test_temperature_round_trips_through_save_and_load(tmp_path):
    model = _model()
    taus = [torch.tensor([0.5, 2.0]), torch.tensor([3.0, 0.25])]
    for s, tau in zip(scalers_of(model), taus):
        s.set_temperature(tau)
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    for s, tau in zip(scalers_of(loaded), taus):
        assert torch.allclose(s.temperature(), tau)
    ids = torch.randint(1, 50, (1, 20))
    assert torch.equal(loaded(ids).logits, model(ids).logits)


def _batches(model_dir, text, n):
    b = TokenBatcher(encode(load_tokenizer(model_dir), read_text(text)), 32, 8, seed=0)
    return [b.next() for _ in range(n)]


def test_adaptation_from_digital_sets_the_temperature(tiny_model_dir, small_text):
    model = load_model(tiny_model_dir)                     # digital_swa, window 16
    calib = _batches(tiny_model_dir, small_text, 3)
    target = record_statistics(model, calib, momentum=0.1)
    history = adapt_model(model, ACAM, calib, calib[0], AdaptConfig(max_iters=30, alpha_iters=15))
    assert history[-1]["max_std_gap"] < 0.01 * history[0]["max_std_gap"]
    measured = record_statistics(model, [calib[0]], momentum=None)
    for layer, s in enumerate(scalers_of(model)):
        tau = s.temperature()
        assert torch.all((tau - 1.0).abs() > 0.5), tau      # moved away from the initial 1
        spread, want = measured[(layer, SCORE)][1], target[(layer, SCORE)][1]
        assert torch.allclose(spread, want, rtol=1e-3), (spread, want)


def test_finetune_trains_the_temperature(tiny_model_dir, small_text, tmp_path):
    plan = FinetuneConfig(stages=("acam",), steps=(3,), eval_tokens=200)
    train = TrainConfig(steps=1, batch_size=4, lr=1e-2, warmup_steps=1, checkpoint_every=0, log_every=1)
    result = finetune(tiny_model_dir, small_text, tmp_path, plan, train,
                      AdaptConfig(max_iters=5, alpha_iters=3, calib_batches=2, batch_size=4),
                      progress=False, array_rows=8)
    assert result["finished"]
    adapted = scalers_of(load_model(tmp_path / "stages" / "0_acam_adapted"))
    trained = scalers_of(load_model(tmp_path))
    for a, t in zip(adapted, trained):
        assert not torch.allclose(a.temperature(), torch.ones(2))        # set by the adaptation
        assert not torch.equal(a.acam_log_temperature, t.acam_log_temperature)  # then trained


def test_log_match_is_what_the_core_normalizes():
    """The logits whose spread the adaptation measures are the core's: softmax(log m / tau) V."""
    g = torch.Generator().manual_seed(0)
    q = 0.3 + 0.3 * torch.rand(1, 2, 8, 4, generator=g)   # search voltages (V)
    k = 0.3 + 0.3 * torch.rand(1, 2, 8, 4, generator=g)   # stored centres (V)
    v = 0.9 * torch.rand(1, 2, 8, 3, generator=g)
    tau = torch.tensor([0.7, 2.0])
    card = default_card()
    logits = acam_log_match(q, k, card) / tau[None, :, None, None]
    causal = torch.ones(8, 8, dtype=torch.bool).tril()
    ref = torch.softmax(logits.masked_fill(~causal, float("-inf")), dim=-1) @ v
    assert torch.allclose(acam_attention(q, k, v, card, 8, temperature=tau), ref, atol=1e-5)
