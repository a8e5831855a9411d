"""Gain-cell attention: fused == naive (values, gradients, KV-cache steps), gradcheck, perfect
mode against the ideal formula, window semantics, dtypes; aCAM attention."""

from __future__ import annotations

import pytest
import torch

from behavioral.attention import AnalogSettings, acam_attention, gaincell_attention
from behavioral.cards import card_from_dict, default_card
from gaincell.errors import ConfigError

CARD = default_card()


def _inputs(B=2, H=2, T=200, D=16, dtype=torch.float32, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(B, H, T, D, generator=g, dtype=dtype)
    k = 0.9 * torch.rand(B, H, T, D, generator=g, dtype=dtype)
    v = 0.9 * torch.rand(B, H, T, D, generator=g, dtype=dtype)
    return q, k, v


def _rel(a, b):
    return float((a - b).abs().max() / a.abs().max().clamp_min(1e-30))


SETTINGS = [
    dict(window=128, chunk=64),
    dict(window=128, chunk=128, decay=False),
    dict(window=64, chunk=64, mac="linear", surrogate="linear"),
    dict(window=256, chunk=128),
]


@pytest.mark.parametrize("kw", SETTINGS)
def test_fused_equals_naive_unquantized(kw):
    q, k, v = _inputs(T=300)
    s = AnalogSettings(quantize=False, **kw)
    a = gaincell_attention(q, k, v, CARD, s, impl="naive")
    b = gaincell_attention(q, k, v, CARD, s, impl="fused")
    assert _rel(a, b) < 1e-5


@pytest.mark.parametrize("kw", SETTINGS)
def test_fused_equals_naive_quantized(kw):
    """With the tile converter on, a value within float rounding of a level boundary may round
    differently in the two summation orders: allow rare one-level flips, nothing else."""
    q, k, v = _inputs(T=300)
    s = AnalogSettings(**kw)
    a = gaincell_attention(q, k, v, CARD, s, impl="naive")
    b = gaincell_attention(q, k, v, CARD, s, impl="fused")
    diff = (a - b).abs()
    step = CARD.quant.out_range[1] / (CARD.quant.out_levels // 2 - 1)
    flips = diff > 1e-5 * a.abs().max()
    assert flips.float().mean() < 1e-3
    assert float(diff.max()) <= step * 1.0001


@pytest.mark.parametrize("kw", [SETTINGS[0], SETTINGS[3]])
def test_kv_cache_steps_equal_full_forward(kw):
    q, k, v = _inputs(T=260)
    s = AnalogSettings(**kw)
    full = gaincell_attention(q, k, v, CARD, s, impl="fused")
    W = s.window
    for i in (0, 1, 63, 64, 127, 200, 259):
        step = gaincell_attention(q[:, :, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1], CARD, s, q_pos=i)
        assert torch.allclose(step[:, :, 0], full[:, :, i], atol=1e-6), i
        lo = max(0, i - W + 1)  # a cache trimmed to the window gives the same
        trimmed = gaincell_attention(q[:, :, i:i + 1], k[:, :, lo:i + 1], v[:, :, lo:i + 1], CARD, s,
                                     q_pos=torch.tensor([i]), k_pos=torch.arange(lo, i + 1))
        assert torch.allclose(trimmed[:, :, 0], full[:, :, i], atol=1e-6), i


def test_fused_gradients_equal_naive():
    q, k, v = _inputs(T=150, dtype=torch.float64)
    w = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    for kw in (dict(), dict(quantize=False), dict(surrogate="linear")):
        s = AnalogSettings(window=128, chunk=64, **kw)
        grads = []
        for impl in ("naive", "fused"):
            leaves = [t.clone().requires_grad_() for t in (q, k, v)]
            (gaincell_attention(*leaves, CARD, s, impl=impl) * w).sum().backward()
            grads.append([t.grad for t in leaves])
        for a, b in zip(*grads):
            assert _rel(a, b) < 1e-10


def test_gradcheck_fused_small():
    """Smooth settings (no quantizers, whose straight-through gradient is not the derivative)."""
    q, k, v = _inputs(B=1, H=1, T=70, D=3, dtype=torch.float64)
    k = 0.3 + 0.3 * k  # keep phi inside (0, 1) for most pairs
    s = AnalogSettings(window=64, chunk=64, quantize=False, saturate_output=False)
    fn = lambda a, b, c: gaincell_attention(a, b, c, CARD, s, impl="fused")  # noqa: E731
    args = tuple(t.clone().requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(fn, args, atol=1e-6, fast_mode=True)


def test_perfect_mode_equals_ideal_formula():
    q, k, v = _inputs(T=150, dtype=torch.float64)
    s = AnalogSettings(window=64, chunk=64, perfect=True)
    out = gaincell_attention(q, k, v, CARD, s)
    m, c = CARD.mac, CARD.c2p
    S = q @ (m.linear_slope_a_per_v * (k - m.v_ref_v)).transpose(-1, -2) / c.s_sat_qk_a
    i = torch.arange(150)[:, None]
    j = torch.arange(150)[None, :]
    vis = (j <= i) & (j > i - 64)
    phi = S.clamp(0, 1) * vis
    ideal = phi @ (m.linear_slope_a_per_v * (v - m.v_ref_v)) / c.s_sat_sv_a
    assert _rel(ideal, out) < 1e-10


def test_window_keys_outside_have_no_effect():
    q, k, v = _inputs(T=200)
    s = AnalogSettings(window=64, chunk=64)
    a = gaincell_attention(q, k, v, CARD, s)
    k2, v2 = k.clone(), v.clone()
    k2[:, :, :100] = 0.9 - k2[:, :, :100]
    v2[:, :, :100] = 0.9 - v2[:, :, :100]
    b = gaincell_attention(q, k2, v2, CARD, s)
    assert torch.equal(a[:, :, 163:], b[:, :, 163:])  # queries >= 100 + 63 never see keys < 100
    assert not torch.equal(a[:, :, 100:163], b[:, :, 100:163])


def test_decay_changes_old_contributions():
    q, k, v = _inputs(T=128)
    raw = CARD.to_dict()
    raw["decay"]["token_period_s"] = raw["decay"]["tau_s"] / 50  # strong leak: d = exp(-1/50)
    import math
    raw["decay"]["per_token_factor"] = math.exp(-1 / 50)
    leaky = card_from_dict(raw)
    s = AnalogSettings(window=128, chunk=64, quantize=False)
    a = gaincell_attention(q, k, v, CARD, s)
    b = gaincell_attention(q, k, v, leaky, s)
    n = gaincell_attention(q, k, v, leaky, s, impl="naive")
    assert _rel(n, b) < 1e-5 and _rel(a, b) > 1e-3


def test_bfloat16_runs_close_to_float32():
    q, k, v = _inputs(T=130)
    s = AnalogSettings(window=64, chunk=64)
    a = gaincell_attention(q, k, v, CARD, s)
    leaves = [t.to(torch.bfloat16).requires_grad_() for t in (q, k, v)]
    b = gaincell_attention(*leaves, CARD, s)
    assert b.dtype == torch.bfloat16
    assert float((a - b.detach().float()).abs().mean()) < 0.05 * float(a.abs().mean()) + 0.02
    b.float().sum().backward()
    assert all(t.grad is not None and t.grad.dtype == torch.bfloat16 for t in leaves)


def test_mismatch_needs_characterized_sigma():
    q, k, v = _inputs(T=64)
    if CARD.noise.mismatch_sigma_rel is None:
        with pytest.raises(ConfigError, match="mismatch"):
            gaincell_attention(q, k, v, CARD, AnalogSettings(window=64, mismatch_seed=0))
    raw = CARD.to_dict()
    raw["noise"]["mismatch_sigma_rel"] = 0.05
    card = card_from_dict(raw)
    s = AnalogSettings(window=64, chunk=64, mismatch_seed=3, quantize=False)
    a = gaincell_attention(q, k, v, card, s)
    assert torch.equal(a, gaincell_attention(q, k, v, card, s))
    assert _rel(a, gaincell_attention(q, k, v, card, s, impl="naive")) < 1e-5
    assert not torch.equal(a, gaincell_attention(q, k, v, card, s.replace(mismatch_seed=4)))


def test_settings_validation():
    with pytest.raises(ConfigError, match="window"):
        AnalogSettings(window=100)
    with pytest.raises(ConfigError, match="surrogate"):
        AnalogSettings(window=64, surrogate="magic")
    q, k, v = _inputs(T=10)
    with pytest.raises(ConfigError, match="q_pos"):
        gaincell_attention(q, k, v, CARD, AnalogSettings(window=64), q_pos=torch.tensor([0, 2] * 5))


def test_acam_attention_causal_and_differentiable():
    q, k, v = _inputs(B=1, H=2, T=40, D=4, dtype=torch.float64)
    q = 0.4 + 0.1 * q
    k = 0.4 + 0.1 * k
    out = acam_attention(q, k, v, CARD, window=16)
    k2 = k.clone()
    k2[:, :, 30:] += 0.2
    out2 = acam_attention(q, k2, v, CARD, window=16)
    assert torch.equal(out[:, :, :30], out2[:, :, :30])  # future keys never matter
    step = acam_attention(q[:, :, 25:26], k[:, :, :26], v[:, :, :26], CARD, window=16, q_pos=25)
    assert torch.allclose(step[:, :, 0], out[:, :, 25])
    args = tuple(t[:, :, :12].clone().requires_grad_() for t in (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: acam_attention(a, b, c, CARD, window=8), args, fast_mode=True)


def test_fused_accepts_non_contiguous_inputs() -> None:
    """GPT-2 hands the core (B, H, T, D) views of (B, T, H, D) tensors."""
    from behavioral.attention import AnalogSettings, gaincell_attention
    from behavioral.cards import default_card

    card = default_card()
    gen = torch.Generator().manual_seed(0)
    shape = (1, 128, 2, 16)
    q = torch.rand(shape, generator=gen).transpose(1, 2)
    k = (0.9 * torch.rand(shape, generator=gen)).transpose(1, 2).requires_grad_(True)
    v = (0.9 * torch.rand(shape, generator=gen)).transpose(1, 2)
    settings = AnalogSettings(window=64)
    out = gaincell_attention(q, k, v, card, settings)
    ref = gaincell_attention(q.contiguous(), k.detach().contiguous(), v.contiguous(), card, settings)
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert torch.isfinite(k.grad).all()
