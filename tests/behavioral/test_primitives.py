"""Torch primitives: quantizers, surrogate gradients, perfect mode, seeded noise, aCAM match."""

from __future__ import annotations

import pytest
import torch

from behavioral.cards import default_card
from behavioral.primitives import (
    Primitives,
    acam_cell_match,
    acam_match,
    analog_mac,
    cell_current,
    cell_mismatch_gains,
    charge_to_pulse,
    decay_factor,
    quantize_signed,
    quantize_uniform,
    read_noise,
)

CARD = default_card()


def test_quantize_uniform_levels_and_ste():
    x = torch.linspace(-0.2, 1.2, 301, requires_grad=True)
    y = quantize_uniform(x, 16, 0.0, 1.0)
    assert torch.unique(y.detach()).numel() == 16
    assert torch.allclose(y.detach() * 15, torch.round(y.detach() * 15), atol=1e-5)
    y.sum().backward()
    inside = (x.detach() >= 0) & (x.detach() <= 1)
    assert torch.equal(x.grad, inside.float())


def test_quantize_signed_has_exact_zero_and_31_values():
    x = torch.linspace(-1.5, 1.5, 2001)
    y = quantize_signed(x, 32, 1.0)
    vals = torch.unique(y)
    assert vals.numel() == 31 and (vals == 0).any()
    assert quantize_signed(torch.zeros(3), 32, 1.0).abs().max() == 0


def test_cell_current_surrogates():
    model = CARD.mac.model()
    v = torch.linspace(0.05, 0.85, 17, dtype=torch.float64, requires_grad=True)
    cell_current(v, model, 1, "exact").sum().backward()
    assert torch.allclose(v.grad, model.dg_dv(1, v.detach()))
    v.grad = None
    cell_current(v, model, 1, "linear").sum().backward()
    assert torch.allclose(v.grad, torch.full_like(v, CARD.mac.linear_slope_a_per_v), rtol=1e-6)


def test_gradcheck_mac_and_acam():
    model = CARD.mac.model()
    x = torch.rand(2, 3, 5, dtype=torch.float64, requires_grad=True)
    v = (0.1 + 0.7 * torch.rand(2, 4, 5, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: analog_mac(a, b, model), (x, v))
    q = (0.3 + 0.3 * torch.rand(1, 3, 4, dtype=torch.float64)).requires_grad_()
    k = (0.3 + 0.3 * torch.rand(1, 2, 4, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, b: acam_match(a, b, 0.2, 20.0), (q, k))


def test_mac_equals_surface_elementwise():
    model = CARD.mac.model()
    x, v = torch.rand(3, 6, dtype=torch.float64), 0.9 * torch.rand(4, 6, dtype=torch.float64)
    direct = model.current_a(x[:, None, :], v[None, :, :]).sum(-1)
    assert torch.allclose(analog_mac(x, v, model), direct, rtol=1e-12, atol=1e-18)


def test_perfect_mode_is_ideal_math():
    p = Primitives(CARD, perfect=True)
    x = torch.rand(4, 8, dtype=torch.float64)
    v = 0.9 * torch.rand(5, 8, dtype=torch.float64)
    assert torch.equal(p.quantize_q(x), x) and torch.equal(p.quantize_kv(v), v)
    ideal = x @ (CARD.mac.linear_slope_a_per_v * (v - CARD.mac.v_ref_v)).T
    assert torch.allclose(p.mac(x, v), ideal, rtol=1e-12, atol=1e-18)
    assert torch.equal(p.decay(torch.arange(5.0)), torch.ones(5))
    assert torch.equal(p.quantize_out(torch.tensor([1.7, -3.0])), torch.tensor([1.7, -3.0]))
    real = Primitives(CARD)
    assert not torch.equal(real.quantize_q(x), x)


def test_charge_to_pulse_and_decay():
    s = torch.tensor([-1e-5, 4e-5, 2e-4])
    assert torch.allclose(charge_to_pulse(s, 8e-5), torch.tensor([0.0, 0.5, 1.0]))
    d = CARD.decay.per_token_factor
    assert torch.allclose(decay_factor(torch.tensor([0, 1, 1024]), d),
                          torch.tensor([1.0, d, d**1024]), rtol=1e-6)


def test_noise_is_seeded_and_reproducible():
    a = cell_mismatch_gains((2, 8, 4), 0.05, seed=3)
    b = cell_mismatch_gains((2, 8, 4), 0.05, seed=3)
    c = cell_mismatch_gains((2, 8, 4), 0.05, seed=4)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert abs(float((a - 1).std()) - 0.05) < 0.02
    assert torch.equal(read_noise((10,), 0.1, 7), read_noise((10,), 0.1, 7))


def test_acam_product_of_cell_matches():
    q = torch.tensor([[[0.40, 0.50]]])
    k = torch.tensor([[[0.41, 0.50], [0.60, 0.50]]])
    m = acam_match(q, k, 0.1, 200.0)
    per = acam_cell_match(q[:, :, None, :], k[:, None] - 0.05, k[:, None] + 0.05, 200.0).prod(-1)
    assert torch.allclose(m, per, rtol=1e-5)
    assert m[0, 0, 0] > 0.5 > m[0, 0, 1]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dtypes(dtype):
    x = torch.rand(3, 8).to(dtype).requires_grad_()
    y = quantize_uniform(x, 16, 0.0, 1.0)
    assert y.dtype == dtype
    y.float().sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype


def test_acam_sum_combine_is_mean_of_cell_matches():
    q = torch.rand(1, 3, 4)
    k = torch.rand(1, 5, 4)
    m = acam_match(q, k, 0.3, 30.0, combine="sum")
    per = acam_cell_match(q[:, :, None, :], k[:, None] - 0.15, k[:, None] + 0.15, 30.0).mean(-1)
    assert torch.allclose(m, per, rtol=1e-5)
