"""Gain-cell attention: fused == naive (values, gradients, KV-cache steps), gradcheck, perfect
mode against the ideal formula, window semantics, dtypes and devices, converter mismatch and
per-read noise; aCAM attention."""

from __future__ import annotations

import pytest
import torch

from behavioral.attention import AnalogSettings, acam_attention, gaincell_attention
from behavioral.cards import card_from_dict, default_card
from behavioral.primitives import converter_mismatch
from gaincell.errors import ConfigError

CARD = default_card()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


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


# --- devices -------------------------------------------------------------------------------------

def _noisy_card(**noise):
    raw = CARD.to_dict()
    raw["noise"].update({"read_noise_rel": 0.02, "mismatch_sigma_rel": 0.03, "c2p_gain_sigma_rel": 0.05,
                         "c2p_offset_sigma_c": 0.05 * raw["c2p"]["q_sat_c"], **noise})
    return card_from_dict(raw)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("extra", [dict(), dict(mismatch_seed=1, read_noise_seed=2, write_noise_seed=3)])
def test_fused_equals_naive_on_device(device, extra):
    q, k, v = (t.to(device) for t in _inputs(T=200))
    s = AnalogSettings(window=128, chunk=64, quantize=False, **extra)
    card = _noisy_card()
    a = gaincell_attention(q, k, v, card, s, impl="naive")
    b = gaincell_attention(q, k, v, card, s, impl="fused")
    assert a.device.type == b.device.type == device
    assert _rel(a, b) < 1e-5
    if device != "cpu":  # the same numbers as on the CPU (patterns and draws are device independent)
        c = gaincell_attention(*(t.cpu() for t in (q, k, v)), card, s)
        assert _rel(c, b.cpu()) < 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_bfloat16_on_device(device):
    q, k, v = _inputs(T=130)
    s = AnalogSettings(window=64, chunk=64, mismatch_seed=0, read_noise_seed=0)
    card = _noisy_card()
    a = gaincell_attention(q, k, v, card, s)
    leaves = [t.to(device=device, dtype=torch.bfloat16).clone().requires_grad_() for t in (q, k, v)]
    for impl in ("fused", "naive"):
        b = gaincell_attention(*leaves, card, s, impl=impl)
        assert b.dtype == torch.bfloat16 and b.device.type == device
        assert float((a - b.detach().float().cpu()).abs().mean()) < 0.05 * float(a.abs().mean()) + 0.02
        b.float().sum().backward()
        assert all(t.grad is not None and t.grad.dtype == torch.bfloat16 and t.grad.device.type == device
                   for t in leaves)
        for t in leaves:
            t.grad = None


@pytest.mark.parametrize("device", DEVICES)
def test_acam_attention_on_device_and_bfloat16(device):
    q, k, v = _inputs(B=1, H=2, T=70, D=8)
    ref = acam_attention(q, k, v, CARD, window=32)
    for dtype in (torch.float32, torch.bfloat16):
        leaves = [t.to(device=device, dtype=dtype).clone().requires_grad_() for t in (q, k, v)]
        for impl in ("fused", "naive"):
            out = acam_attention(*leaves, CARD, window=32, impl=impl)
            assert out.dtype == dtype and out.device.type == device
            tol = 1e-4 if dtype == torch.float32 else 0.05
            assert _rel(ref, out.detach().float().cpu()) < tol
            out.float().sum().backward()
            assert all(t.grad is not None and t.grad.dtype == dtype for t in leaves)


# --- converter mismatch ----------------------------------------------------------------------------

def _ideal_with_converters(q, k, v, card, W, seed):
    """The linear, undecayed, unquantized core written out with the card's converters: the
    characterized transfer clip(slope * (Q - offset_c), 0, t_max) / t_max with Q = S * q_sat, and
    the mismatch pattern on top (gains multiply, offsets add)."""
    m, c, n = card.mac, card.c2p, card.noise
    H, T = q.shape[1], q.shape[2]
    gain, off = converter_mismatch((H, W), n.c2p_gain_sigma_rel, n.c2p_offset_sigma_c / c.q_sat_c, seed,
                                   dtype=q.dtype)
    gain = gain * (c.slope_s_per_c * c.q_sat_c / c.t_max_s)
    off = off + c.offset_c / c.q_sat_c
    slot = torch.arange(T) % W
    S = q @ (m.linear_slope_a_per_v * (k - m.v_ref_v)).transpose(-1, -2) / c.s_sat_qk_a
    i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
    vis = (j <= i) & (j > i - W)
    phi = ((S - off[None, :, None, slot]) * gain[None, :, None, slot]).clamp(0, 1) * vis
    return phi @ (m.linear_slope_a_per_v * (v - m.v_ref_v)) / c.s_sat_sv_a


def test_converter_mismatch_is_the_stated_formula():
    q, k, v = _inputs(T=150, dtype=torch.float64)
    card = _noisy_card(mismatch_sigma_rel=0.0, c2p_gain_sigma_rel=0.2, c2p_offset_sigma_c=0.1 * CARD.c2p.q_sat_c)
    s = AnalogSettings(window=64, chunk=64, mac="linear", decay=False, quantize=False, saturate_output=False,
                       mismatch_seed=4)
    ideal = _ideal_with_converters(q, k, v, card, 64, 4)
    for impl in ("fused", "naive"):
        assert _rel(ideal, gaincell_attention(q, k, v, card, s, impl=impl)) < 1e-10
    plain = gaincell_attention(q, k, v, card, s.replace(mismatch_seed=None))
    assert _rel(plain, ideal) > 1e-2  # the pattern matters at these sigmas


def test_converter_mismatch_switches():
    q, k, v = _inputs(T=128)
    card = _noisy_card(mismatch_sigma_rel=0.0)
    s = AnalogSettings(window=64, chunk=64, mismatch_seed=4)
    base = gaincell_attention(q, k, v, card, s.replace(mismatch_seed=None))
    on = gaincell_attention(q, k, v, card, s)
    assert not torch.equal(on, base)
    assert torch.equal(gaincell_attention(q, k, v, card, s.replace(c2p_mismatch=False)), base)
    null = _noisy_card(mismatch_sigma_rel=0.0, c2p_gain_sigma_rel=None, c2p_offset_sigma_c=None)
    assert torch.equal(gaincell_attention(q, k, v, null, s), base)  # not characterized: off, no error
    perfect = AnalogSettings(window=64, chunk=64, perfect=True)
    assert torch.equal(gaincell_attention(q, k, v, card, perfect.replace(mismatch_seed=4)),
                       gaincell_attention(q, k, v, card, perfect))


def test_converter_mismatch_gradients_equal_naive():
    q, k, v = _inputs(T=140, dtype=torch.float64)
    w = torch.randn(q.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    s = AnalogSettings(window=128, chunk=64, mismatch_seed=2, read_noise_seed=5, write_noise_seed=6)
    card = _noisy_card(c2p_gain_sigma_rel=0.2, write_noise_v=0.01)
    grads = []
    for impl in ("naive", "fused"):
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        (gaincell_attention(*leaves, card, s, impl=impl) * w).sum().backward()
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads):
        assert _rel(a, b) < 1e-10


# --- read noise ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kw", SETTINGS)
def test_read_noise_same_draws_in_fused_and_naive(kw):
    q, k, v = _inputs(T=300)
    card = _noisy_card()
    s = AnalogSettings(quantize=False, read_noise_seed=3, **kw)
    a = gaincell_attention(q, k, v, card, s, impl="naive")
    b = gaincell_attention(q, k, v, card, s, impl="fused")
    assert _rel(a, b) < 1e-5
    assert _rel(a, gaincell_attention(q, k, v, card, s.replace(read_noise_seed=None))) > 1e-3


def test_read_noise_kv_cache_steps_and_seeds():
    q, k, v = _inputs(T=200)
    card = _noisy_card()
    s = AnalogSettings(window=128, chunk=64, read_noise_seed=9, mismatch_seed=1)
    full = gaincell_attention(q, k, v, card, s)
    for i in (0, 5, 64, 130, 199):
        step = gaincell_attention(q[:, :, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1], card, s, q_pos=i)
        assert torch.allclose(step[:, :, 0], full[:, :, i], atol=1e-6), i
    assert torch.equal(full, gaincell_attention(q, k, v, card, s))
    assert not torch.equal(full, gaincell_attention(q, k, v, card, s.replace(read_noise_seed=10)))
    # queries with no key in view read the tile converters' noise alone, the same in both paths
    far = dict(q_pos=500, k_pos=0)
    a = gaincell_attention(q[:, :, :4], k[:, :, :10], v[:, :, :10], card, s, impl="naive", **far)
    b = gaincell_attention(q[:, :, :4], k[:, :, :10], v[:, :, :10], card, s, impl="fused", **far)
    assert torch.allclose(a, b, atol=1e-6)


def test_read_noise_switches():
    q, k, v = _inputs(T=64)
    perfect = AnalogSettings(window=64, perfect=True)
    card = _noisy_card()
    assert torch.equal(gaincell_attention(q, k, v, card, perfect.replace(read_noise_seed=1)),
                       gaincell_attention(q, k, v, card, perfect))
    with pytest.raises(ConfigError, match="read_noise"):
        gaincell_attention(q, k, v, _noisy_card(read_noise_rel=None), AnalogSettings(window=64, read_noise_seed=1))


def test_read_noise_statistics_match_the_card():
    """Linear cell, no decay, no quantization or clipping, every value stored at one level: the
    output noise is sum_j n_ij g(V) / s_sv (Q.K noise through the linear part of the HardSigmoid)
    plus sum over tiles of the S.V bitline noise, with sigmas rel * full_scale * sqrt(cells); the
    Q.K noise passes the converter's characterized slope."""
    B, H, T, D, W, R = 2, 2, 256, 16, 128, 64
    g = torch.Generator().manual_seed(0)
    q = 0.5 + 0.1 * torch.rand(B, H, T, D, generator=g, dtype=torch.float64)
    k = torch.full((B, H, T, D), 0.6, dtype=torch.float64)  # S ~ 0.3 per key: inside (0, 1)
    v = torch.full((B, H, T, D), 0.8, dtype=torch.float64)
    card = _noisy_card(read_noise_rel=0.05)
    s = AnalogSettings(window=W, array_rows=R, chunk=64, mac="linear", decay=False, quantize=False,
                       saturate_output=False)
    clean = gaincell_attention(q, k, v, card, s)
    noisy = gaincell_attention(q, k, v, card, s.replace(read_noise_seed=11))
    m, c = card.mac, card.c2p
    sig_cell = 0.05 * m.full_scale_a
    g0 = c.slope_s_per_c * c.q_sat_c / c.t_max_s  # the converter's characterized slope
    sig_s = g0 * sig_cell * D**0.5 / c.s_sat_qk_a
    sig_y = sig_cell * R**0.5 / c.s_sat_sv_a
    g_v = m.linear_slope_a_per_v * (0.8 - m.v_ref_v) / c.s_sat_sv_a
    d = (noisy - clean)[:, :, W:]  # full window: W keys and W / R tiles per query
    expect = ((W * (sig_s * g_v) ** 2) + (W // R) * sig_y**2) ** 0.5
    assert float(d.std()) == pytest.approx(expect, rel=0.05)
    assert abs(float(d.mean())) < 0.05 * expect


def test_read_noise_does_not_depend_on_the_batch_row():
    """The draws are addressed by head and positions: a sequence reads the same noise alone or in
    any row of a batch (padded-vs-alone and generate-vs-forward stay exact in the networks)."""
    q, k, v = _inputs(B=3, T=100)
    card = _noisy_card()
    s = AnalogSettings(window=64, chunk=64, read_noise_seed=4, write_noise_seed=5)
    batch = gaincell_attention(q, k, v, card, s)
    for b in range(3):
        alone = gaincell_attention(q[b:b + 1], k[b:b + 1], v[b:b + 1], card, s)
        assert torch.allclose(batch[b:b + 1], alone, atol=1e-6)
    # the noise is there: another seed changes the output
    assert not torch.allclose(batch, gaincell_attention(q, k, v, card, s.replace(read_noise_seed=6)), atol=1e-6)


# --- the converters' characterized transfer -------------------------------------------------------

def _single_key_phi(card, s_rel, settings):
    """phi of one query against one key whose Q.K input S / s_sat_qk is each value of `s_rel`
    (linear cell, D = 1, x = 1): out = phi * g(V) / s_sat_sv with V = 0.9 V, solved for phi."""
    m, c = card.mac, card.c2p
    n = s_rel.numel()
    kv = (m.v_ref_v + s_rel * c.s_sat_qk_a / m.linear_slope_a_per_v).view(n, 1, 1, 1)
    q = torch.ones(n, 1, 1, 1, dtype=torch.float64)
    v = torch.full((n, 1, 1, 1), 0.9, dtype=torch.float64)
    out = gaincell_attention(q, kv, v, card, settings)
    g_v = m.linear_slope_a_per_v * (0.9 - m.v_ref_v) / c.s_sat_sv_a
    return out.view(n) / g_v


def test_converter_offset_shifts_the_knee_by_the_card_amount():
    c = CARD.c2p
    o0 = c.offset_c / c.q_sat_c  # about -4.4 % of the saturation charge
    assert -0.06 < o0 < -0.03
    s_rel = torch.linspace(-0.07, 0.07, 1401, dtype=torch.float64)  # step 1e-4
    s = AnalogSettings(window=64, mac="linear", decay=False, quantize=False, saturate_output=False)
    phi = _single_key_phi(CARD, s_rel, s)
    knee = float(s_rel[phi > 0].min())  # first input where the pulse leaves zero
    assert knee == pytest.approx(o0, abs=1.5e-4)
    g0 = c.slope_s_per_c * c.q_sat_c / c.t_max_s  # the fitted line reaches t_max at q_sat
    assert g0 == pytest.approx(1 / (1 - o0), rel=1e-6)
    assert torch.allclose(phi, (g0 * (s_rel - o0)).clamp(0, 1), atol=1e-12)
    # the same card with an ideal converter (no offset, slope t_max / q_sat): knee at zero
    raw = CARD.to_dict()
    raw["c2p"].update(offset_c=0.0, slope_s_per_c=c.t_max_s / c.q_sat_c)
    ideal = _single_key_phi(card_from_dict(raw), s_rel, s)
    assert float(s_rel[ideal > 0].min()) == pytest.approx(0.0, abs=1.5e-4)
    assert torch.allclose(ideal, s_rel.clamp(0, 1), atol=1e-12)
    # perfect mode: the ideal HardSigmoid whatever the card
    perfect = _single_key_phi(CARD, s_rel, AnalogSettings(window=64, perfect=True))
    assert torch.allclose(perfect, s_rel.clamp(0, 1), atol=1e-12)
    # both implementations apply it
    qkv = _inputs(B=1, H=1, T=70, D=4, dtype=torch.float64)
    assert _rel(gaincell_attention(*qkv, CARD, s, impl="naive"), gaincell_attention(*qkv, CARD, s, impl="fused")) < 1e-10


# --- write (kT/C) noise ---------------------------------------------------------------------------

def test_write_noise_std_is_kt_over_c_in_volts():
    from behavioral.attention_config import resolve_physics, stored_volts
    from behavioral.fit.noise import ktc_noise_v

    n, a = CARD.noise, CARD.array
    assert n.write_noise_v == pytest.approx(ktc_noise_v(a.c_store_f, CARD.decay.temperature_c), rel=1e-9)
    s = AnalogSettings(window=64, write_noise_seed=3)
    ph = resolve_physics(CARD, s)
    lo, hi = CARD.quant.kv_range_v
    k = torch.full((2, 4, 512, 32), 0.5 * (lo + hi), dtype=torch.float64)
    dac = resolve_physics(CARD, s.replace(write_noise_seed=None))
    dev = stored_volts(k, ph, 0, 100) - stored_volts(k, dac, 0, 100)  # volts
    one = dev[0]  # the batch rows share the draws (same head, position, row)
    assert torch.equal(dev[0], dev[1])
    assert float(one.std()) == pytest.approx(n.write_noise_v, rel=0.02)  # 65536 draws: 0.3 % error
    assert abs(float(one.mean())) < 5 * n.write_noise_v / one.numel() ** 0.5
    assert float((stored_volts(k, ph, 1, 100) - stored_volts(k, ph, 0, 100)).abs().max()) > 0  # K, V independent
    # written once: a token keeps its draw whatever slice of the sequence it arrives in
    assert torch.equal(stored_volts(k[:, :, 10:20], ph, 0, 110), stored_volts(k, ph, 0, 100)[:, :, 10:20])


def test_write_noise_is_added_to_the_stored_volts():
    """With the DAC off, the core with write noise equals the core without it fed K + n_K, V + n_V."""
    from behavioral.primitives import write_noise_at

    q, k, v = _inputs(T=150, dtype=torch.float64)
    card = _noisy_card(write_noise_v=0.02)
    s = AnalogSettings(window=64, chunk=64, quantize=False, write_noise_seed=8)
    H, T, D = k.shape[1], k.shape[2], k.shape[3]
    idx = (torch.arange(H).view(1, H, 1, 1), torch.arange(T).view(1, 1, T, 1), torch.arange(D).view(1, 1, 1, D))
    nk = write_noise_at(8, 2, idx, 0.02, torch.float64)
    nv = write_noise_at(8, 3, idx, 0.02, torch.float64)
    for impl in ("naive", "fused"):
        noisy = gaincell_attention(q, k, v, card, s, impl=impl)
        manual = gaincell_attention(q, k + nk, v + nv, card, s.replace(write_noise_seed=None), impl=impl)
        assert _rel(manual, noisy) < 1e-10
        assert _rel(noisy, gaincell_attention(q, k, v, card, s.replace(write_noise_seed=None), impl=impl)) > 1e-3


def test_write_noise_fused_equals_naive_and_kv_cache_steps():
    q, k, v = _inputs(T=200)
    card = _noisy_card(write_noise_v=0.03)
    s = AnalogSettings(window=128, chunk=64, write_noise_seed=2, read_noise_seed=1)
    a = gaincell_attention(q, k, v, card, s, impl="naive")
    b = gaincell_attention(q, k, v, card, s, impl="fused")
    step = CARD.quant.out_range[1] / (CARD.quant.out_levels // 2 - 1)
    diff = (a - b).abs()
    assert float((diff > 1e-5 * a.abs().max()).float().mean()) < 1e-3 and float(diff.max()) <= step * 1.0001
    for i in (0, 64, 199):
        one = gaincell_attention(q[:, :, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1], card, s, q_pos=i)
        assert torch.allclose(one[:, :, 0], b[:, :, i], atol=1e-6), i
    assert not torch.equal(b, gaincell_attention(q, k, v, card, s.replace(write_noise_seed=3)))


def test_write_noise_switches():
    q, k, v = _inputs(T=64)
    card = _noisy_card(write_noise_v=0.05)
    perfect = AnalogSettings(window=64, perfect=True)
    assert torch.equal(gaincell_attention(q, k, v, card, perfect.replace(write_noise_seed=1)),
                       gaincell_attention(q, k, v, card, perfect))
    with pytest.raises(ConfigError, match="write_noise"):
        gaincell_attention(q, k, v, _noisy_card(write_noise_v=None), AnalogSettings(window=64, write_noise_seed=1))
    with pytest.raises(ConfigError, match="write_noise_seed"):
        AnalogSettings(window=64, write_noise_seed=1.5)
