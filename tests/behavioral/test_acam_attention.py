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
