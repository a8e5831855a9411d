"""aCAM attention: log-domain match-line combination, fused (polynomial matmuls) vs naive oracle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from behavioral.attention import acam_attention
from behavioral.attention_acam import penalty_model
from behavioral.cards import default_card
from behavioral.fit.acam import cell_penalty, fit_penalty_poly
from gaincell.errors import ConfigError

CARD = default_card()


def _inputs(B=2, H=2, T=40, D=8, Dv=5, dtype=torch.float64, seed=0, levels=8):
    g = torch.Generator().manual_seed(seed)
    lo, hi = CARD.quant.kv_range_v
    step = (hi - lo) / (levels - 1)
    q = lo + step * torch.randint(0, levels, (B, H, T, D), generator=g).to(dtype)
    k = lo + step * torch.randint(0, levels, (B, H, T, D), generator=g).to(dtype)
    v = lo + (hi - lo) * torch.rand(B, H, T, Dv, generator=g, dtype=dtype)
    return q, k, v


def test_penalty_fit_records_heldout_error_and_is_nonnegative_physics():
    fit = fit_penalty_poly(0.1, 200.0, 0.9)
    assert fit["degree"] in fit["candidates"]
    errs = [fit["candidates"][d]["heldout_rms_rel"] for d in sorted(fit["candidates"])]
    assert all(b < a for a, b in zip(errs, errs[1:]))  # higher degree, lower held-out error
    assert fit["candidates"][fit["degree"]]["heldout_rms_rel"] <= fit["tol_rel"]
    d = np.linspace(-0.9, 0.9, 181)
    r = cell_penalty(d, 0.1, 200.0)
    assert r.min() >= 0 and r[np.abs(d) < 0.02].max() < 1e-3  # ~0 inside the window
    assert r[np.abs(d) > 0.2].min() > 25  # grows with the distance outside
    pm = penalty_model(CARD)
    assert pm.fit["heldout_rms_nats"] < 0.05 * pm.fit["penalty_rms_nats"]


@pytest.mark.parametrize("normalize", [True, False])
def test_fused_equals_naive_polynomial(normalize):
    q, k, v = _inputs(T=70, D=16)
    # a continuous (unquantized) input as well
    q = q + 0.03 * torch.randn_like(q)
    a = acam_attention(q, k, v, CARD, window=24, normalize=normalize)
    b = acam_attention(q, k, v, CARD, window=24, normalize=normalize, impl="naive", penalty="poly")
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-7)
    a32 = acam_attention(q.float(), k.float(), v.float(), CARD, window=24, normalize=normalize)
    assert torch.allclose(a32.double(), b, rtol=1e-4, atol=1e-4)


def test_polynomial_close_to_exact_penalty_and_no_underflow():
    q, k, v = _inputs(B=1, H=2, T=64, D=64, dtype=torch.float32)
    out = acam_attention(q, k, v, CARD, window=32)
    ex = acam_attention(q, k, v, CARD, window=32, impl="naive", penalty="exact")
    assert torch.isfinite(out).all()
    # weights are not constant: the output differs from the plain window mean of the values
    assert (out - ex).abs().max() < 0.1
    vis_mean = torch.stack([v[:, :, max(0, i - 31):i + 1].mean(2) for i in range(64)], dim=2)
    assert (out - vis_mean).abs().max() > 0.05


def test_causal_window_and_kv_cache_step():
    q, k, v = _inputs(B=1, H=2, T=50, D=8)
    out = acam_attention(q, k, v, CARD, window=16)
    k2 = k.clone()
    k2[:, :, 30:] += 0.3
    assert torch.equal(out[:, :, :30], acam_attention(q, k2, v, CARD, window=16)[:, :, :30])
    k3 = k.clone()
    k3[:, :, :10] = 0.0  # keys older than the window of query 30 never matter
    assert torch.equal(out[:, :, 30:], acam_attention(q, k3, v, CARD, window=16)[:, :, 30:])
    for i in (0, 7, 33, 49):
        step = acam_attention(q[:, :, i:i + 1], k[:, :, :i + 1], v[:, :, :i + 1], CARD, window=16, q_pos=i)
        assert torch.allclose(step[:, :, 0], out[:, :, i], rtol=1e-10, atol=1e-12)
    # sliding-window cache: only the last W keys held, positions absolute
    i = 40
    step = acam_attention(q[:, :, i:i + 1], k[:, :, i - 15:i + 1], v[:, :, i - 15:i + 1], CARD, window=16,
                          q_pos=i, k_pos=i - 15)
    assert torch.allclose(step[:, :, 0], out[:, :, i], rtol=1e-10, atol=1e-12)


def test_gradcheck_fused_and_temperature():
    q, k, v = _inputs(B=1, H=2, T=10, D=3, Dv=2)
    q = (q + 0.02 * torch.randn_like(q)).clamp(0.01, 0.89)
    k = (k + 0.02 * torch.randn_like(k)).clamp(0.01, 0.89)
    tau = torch.tensor([3.0, 10.0], dtype=torch.float64)
    args = tuple(t.clone().requires_grad_() for t in (q, k, v, tau))
    assert torch.autograd.gradcheck(
        lambda a, b, c, t: acam_attention(a, b, c, CARD, window=4, temperature=t, q_pos=0, k_pos=0), args)


def test_temperature_spreads_the_weights():
    q, k, v = _inputs(B=1, H=1, T=32, D=8)
    v = torch.eye(32, dtype=torch.float64)[None, None]  # output row = attention weights
    ent = []
    for tau in (0.3, 1.0, 10.0):
        w = acam_attention(q, k, v, CARD, window=32, temperature=tau)[0, 0, -1]
        assert torch.allclose(w.sum(), torch.tensor(1.0, dtype=torch.float64))
        ent.append(float(-(w * w.clamp_min(1e-30).log()).sum()))
    assert ent[0] < ent[1] < ent[2]


def test_bfloat16_and_errors():
    q, k, v = _inputs(T=20, D=8, dtype=torch.bfloat16)
    out = acam_attention(q, k, v, CARD, window=8)
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    ref = acam_attention(q.float(), k.float(), v.float(), CARD, window=8)
    assert (out.float() - ref).abs().max() < 0.02
    with pytest.raises(ConfigError, match="penalty"):
        acam_attention(q, k, v, CARD, window=8, penalty="exact")
    with pytest.raises(ConfigError, match="temperature"):
        acam_attention(q, k, v, CARD, window=8, temperature=0.0)


def test_naive_exact_equals_primitive_log_match():
    from behavioral.primitives import acam_log_match
    q, k, v = _inputs(B=1, H=1, T=12, D=6)
    v = torch.eye(12, dtype=torch.float64)[None, None]
    w = acam_attention(q, k, v, CARD, window=12, impl="naive", penalty="exact")[0, 0]
    logm = acam_log_match(q[0, 0], k[0, 0], CARD.acam.width_v, CARD.acam.steepness_per_v)
    ref = torch.softmax(logm.masked_fill(torch.ones(12, 12, dtype=torch.bool).triu(1), float("-inf")), -1)
    assert torch.allclose(w, ref, rtol=1e-10, atol=1e-12)


# --- fixed-pattern window mismatch ------------------------------------------------------------

def _card_without_acam_sigma(tmp_path, drop: bool):
    import copy
    import json

    from behavioral.cards import load_card

    raw = copy.deepcopy(CARD.to_dict())
    if drop:
        raw["noise"].pop("acam_edge_sigma_v")
    else:
        raw["noise"]["acam_edge_sigma_v"] = None
    path = tmp_path / "card.json"
    path.write_text(json.dumps(raw))
    return load_card(path)


def test_shipped_card_has_acam_edge_sigma():
    sigma = CARD.noise.acam_edge_sigma_v
    assert sigma is not None and 0.01 < sigma < 0.1  # tens of mV from the SPICE Monte Carlo
    assert "acam_mc_edge_lo_v" in CARD.noise.source and "acam_mismatch" in CARD.noise.fit


def test_mismatch_fused_equals_naive_float32():
    q, k, v = _inputs(B=2, H=3, T=70, D=16, dtype=torch.float32)
    q = q + 0.03 * torch.randn_like(q)
    a = acam_attention(q, k, v, CARD, window=24, mismatch_seed=7)
    b = acam_attention(q, k, v, CARD, window=24, mismatch_seed=7, impl="naive", penalty="poly")
    assert torch.allclose(a, b, rtol=1e-5, atol=1e-5), (a - b).abs().max()
    assert (a - acam_attention(q, k, v, CARD, window=24)).abs().max() > 1e-4  # the mismatch acts


def test_mismatch_same_seed_same_output_other_seed_differs_perfect_removes():
    q, k, v = _inputs(T=40, D=8, dtype=torch.float32)
    a = acam_attention(q, k, v, CARD, window=16, mismatch_seed=3)
    assert torch.equal(a, acam_attention(q, k, v, CARD, window=16, mismatch_seed=3))
    assert (a - acam_attention(q, k, v, CARD, window=16, mismatch_seed=4)).abs().max() > 1e-4
    assert torch.equal(acam_attention(q, k, v, CARD, window=16, mismatch_seed=3, perfect=True),
                       acam_attention(q, k, v, CARD, window=16))


def test_mismatch_kv_cache_step_equals_full_forward_last_row():
    q, k, v = _inputs(B=2, H=2, T=45, D=8, dtype=torch.float32)
    full = acam_attention(q, k, v, CARD, window=16, mismatch_seed=11)
    for t in (15, 30, 44):  # before and after the circular buffer wraps
        step = acam_attention(q[:, :, t:t + 1], k[:, :, :t + 1], v[:, :, :t + 1], CARD, window=16,
                              q_pos=t, mismatch_seed=11)
        assert torch.allclose(step[:, :, 0], full[:, :, t], rtol=1e-5, atol=1e-6)
    # only the window's keys held (positions t - W + 1 .. t), as a KV cache that evicts
    t, W = 40, 16
    step = acam_attention(q[:, :, t:t + 1], k[:, :, t - W + 1:t + 1], v[:, :, t - W + 1:t + 1], CARD,
                          window=W, q_pos=t, k_pos=t - W + 1, mismatch_seed=11)
    assert torch.allclose(step[:, :, 0], full[:, :, t], rtol=1e-5, atol=1e-6)


def test_mismatch_is_a_fixed_pattern_per_slot_and_shifts_the_stored_key():
    from behavioral.attention_acam import acam_mismatch, centre_offsets

    W, H, D = 16, 2, 8
    mm = acam_mismatch(CARD, 5, W)
    assert mm[0] == pytest.approx(CARD.noise.acam_edge_sigma_v / 2 ** 0.5)
    off = centre_offsets(mm, H, 0, 3 * W, D, "cpu", torch.float64)[0]
    assert torch.equal(off[:, :W], off[:, W:2 * W]) and torch.equal(off[:, :W], off[:, 2 * W:])  # slot = j mod W
    assert torch.equal(centre_offsets(mm, H, 7, 5, D, "cpu", torch.float64)[0], off[:, 7:12])
    assert not torch.equal(off[0], off[1])  # each head has its own cells
    big = centre_offsets(acam_mismatch(CARD, 5, 4096), 4, 0, 4096, 64, "cpu", torch.float64)
    assert float(big.std()) == pytest.approx(mm[0], rel=0.02) and abs(float(big.mean())) < 1e-3
    # the same as storing k + delta in an ideal array (before the clip to kv_range_v)
    q, k, v = _inputs(B=1, H=H, T=3 * W, D=D, dtype=torch.float64)
    manual = acam_attention(q, k + off[None], v, CARD, window=W)
    assert torch.allclose(acam_attention(q, k, v, CARD, window=W, mismatch_seed=5), manual, atol=1e-12)


def test_mismatch_has_no_batch_index():
    q, k, v = _inputs(B=3, H=2, T=30, D=8, dtype=torch.float32)
    batch = acam_attention(q, k, v, CARD, window=16, mismatch_seed=2)
    for b in range(3):
        alone = acam_attention(q[b:b + 1], k[b:b + 1], v[b:b + 1], CARD, window=16, mismatch_seed=2)
        assert torch.allclose(alone[0], batch[b], atol=1e-6)


@pytest.mark.parametrize("drop", [True, False])
def test_mismatch_without_characterized_sigma_names_the_field(tmp_path, drop):
    card = _card_without_acam_sigma(tmp_path, drop)
    assert card.noise.acam_edge_sigma_v is None
    q, k, v = _inputs(B=1, T=10, dtype=torch.float32)
    with pytest.raises(ConfigError, match="noise.acam_edge_sigma_v"):
        acam_attention(q, k, v, card, window=8, mismatch_seed=0)
    acam_attention(q, k, v, card, window=8)  # no mismatch requested: fine
