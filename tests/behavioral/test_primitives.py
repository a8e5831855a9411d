"""Torch primitives: quantizers, surrogate gradients, perfect mode, seeded noise and mismatch,
aCAM match; every primitive on every available device (cpu, cuda when present) in float32 and
bfloat16."""

from __future__ import annotations

import pytest
import torch

from behavioral.cards import card_from_dict, default_card
from behavioral.primitives import (
    Primitives,
    acam_cell_match,
    acam_log_match,
    acam_match,
    analog_mac,
    c2p_nominal_transfer,
    cell_current,
    cell_mismatch_gains,
    charge_to_pulse,
    column_read_sigma,
    converter_mismatch,
    decay_factor,
    quantize_output,
    quantize_signed,
    quantize_uniform,
    read_noise,
    read_noise_at,
    write_noise_at,
)
from gaincell.errors import ConfigError

CARD = default_card()
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


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


def _card(**noise):
    raw = CARD.to_dict()
    raw["noise"].update(noise)
    return card_from_dict(raw)


QSTEP = 1 / 15 + 0.01
"""bfloat16 tolerance of a quantizer: one level (a rounded input may cross a level boundary)
plus the bfloat16 rounding of the level itself."""


def _primitive_cases(card):
    """name -> (function of (x, v, age) tensors, tolerance in bfloat16 relative to float64)."""
    model = card.mac.model()
    p = Primitives(card)
    s_sat = card.c2p.s_sat_qk_a

    def idx(x):
        return (torch.arange(x.shape[0], device=x.device)[:, None], torch.arange(x.shape[1], device=x.device)[None, :])

    return {
        "quantize_uniform": (lambda x, v, a: quantize_uniform(x, 16, 0.0, 1.0), QSTEP),
        "quantize_signed": (lambda x, v, a: quantize_signed(2 * x - 1, 32, 1.0), QSTEP),
        "quantize_output": (lambda x, v, a: quantize_output(2 * x - 1, 32, (-1.0, 1.0)), QSTEP),
        "cell_current": (lambda x, v, a: cell_current(v, model), 0.05),
        "cell_current_linear": (lambda x, v, a: cell_current(v, model, 1, "linear"), 0.05),
        "analog_mac": (lambda x, v, a: analog_mac(x, v, model), 0.05),
        "charge_to_pulse": (lambda x, v, a: charge_to_pulse(analog_mac(x, v, model), s_sat / 4), 0.05),
        "charge_to_pulse_mismatch": (lambda x, v, a: charge_to_pulse(
            analog_mac(x, v, model), s_sat / 4, gain=1 + 0.1 * x[:, :1], offset=0.05 * x[:, 1:2]), 0.05),
        "decay_factor": (lambda x, v, a: decay_factor(a, 0.99, dtype=x.dtype), 0.02),
        "cell_mismatch_gains": (lambda x, v, a: cell_mismatch_gains((3, 4), 0.05, 1, x.device, x.dtype), 0.01),
        "converter_mismatch": (lambda x, v, a: torch.stack(converter_mismatch((3, 4), 0.05, 0.02, 1, x.device,
                                                                              x.dtype)), 0.01),
        "read_noise": (lambda x, v, a: read_noise((5,), 0.1, 2, x.device, x.dtype), 0.01),
        "read_noise_at": (lambda x, v, a: read_noise_at(3, 0, idx(x), 0.1, x.dtype), 0.01),
        "acam_match": (lambda x, v, a: acam_match(v, v[:3] + 0.02, 0.3, 20.0), 0.05),
        "acam_log_match": (lambda x, v, a: acam_log_match(v, v[:3] + 0.02, 0.3, 20.0), 0.05),
        "P.quantize_q": (lambda x, v, a: p.quantize_q(x), QSTEP),
        "P.quantize_kv": (lambda x, v, a: p.quantize_kv(v), QSTEP),
        "P.quantize_out": (lambda x, v, a: p.quantize_out(2 * x - 1), QSTEP),
        "P.mac": (lambda x, v, a: p.mac(x, v), 0.05),
        "P.phi_qk": (lambda x, v, a: p.phi_qk(p.mac(x, v) * 4), 0.05),
        "P.decay": (lambda x, v, a: p.decay(a).to(x.dtype), 0.02),
        "P.acam": (lambda x, v, a: p.acam(v, v[:2]), 0.05),
        "P.acam_log": (lambda x, v, a: p.acam_log(v, v[:2]), 0.05),
        "P.read_noise": (lambda x, v, a: p.read_noise(1, 0, idx(x), 64, s_sat, x.dtype), 0.01),
        "P.converter_patterns": (lambda x, v, a: torch.stack(p.converter_patterns((2, 8), 4, x.device, x.dtype)),
                                 0.01),
    }


CASES = sorted(_primitive_cases(CARD))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("name", CASES)
def test_every_primitive_runs_on_device_and_dtype(name, dtype, device):
    """Output on the input's device and in its dtype, close to the float64 CPU result; gradients
    reach float inputs in their own dtype."""
    fn, tol = _primitive_cases(_card(read_noise_rel=1e-3))[name]
    g = torch.Generator().manual_seed(0)
    x64 = torch.rand(6, 8, generator=g, dtype=torch.float64)
    v64 = 0.05 + 0.8 * torch.rand(6, 8, generator=g, dtype=torch.float64)
    age = torch.arange(6)
    ref = fn(x64, v64, age)
    x = x64.to(device=device, dtype=dtype).requires_grad_()
    v = v64.to(device=device, dtype=dtype).requires_grad_()
    out = fn(x, v, age.to(device))
    assert out.device.type == device and out.dtype == dtype, (out.device, out.dtype)
    assert torch.isfinite(out.float()).all()
    err = (out.detach().cpu().double() - ref).abs().max() / ref.abs().max().clamp_min(1e-30)
    assert float(err) <= (tol if dtype == torch.bfloat16 else 1e-5), float(err)
    if out.requires_grad:
        out.float().sum().backward()
        for t in (x, v):
            assert t.grad is None or (t.grad.dtype == dtype and t.grad.device.type == device)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_dtypes(dtype):
    x = torch.rand(3, 8).to(dtype).requires_grad_()
    y = quantize_uniform(x, 16, 0.0, 1.0)
    assert y.dtype == dtype
    y.float().sum().backward()
    assert x.grad is not None and x.grad.dtype == dtype


def test_converter_offset_shifts_the_knee_and_gain_the_slope():
    s_sat = 8e-5
    s = torch.linspace(-0.5, 1.5, 2001, dtype=torch.float64) * s_sat
    ideal = charge_to_pulse(s, s_sat)
    off = charge_to_pulse(s, s_sat, offset=torch.tensor(0.1, dtype=torch.float64))
    knee = lambda phi: float(s[(phi > 0).nonzero()[0, 0]] / s_sat)  # noqa: E731  first input with phi > 0
    assert knee(ideal) == pytest.approx(0.0, abs=2e-3) and knee(off) == pytest.approx(0.1, abs=2e-3)
    # saturation moves by the same offset; in between, phi is the ideal one shifted
    assert torch.allclose(off[s / s_sat > 1.1], torch.ones(1, dtype=torch.float64))
    assert not torch.all(off[(s / s_sat > 0.95) & (s / s_sat < 1.05)] == 1)
    gain = charge_to_pulse(s, s_sat, gain=torch.tensor(1.2, dtype=torch.float64))
    mid = (s / s_sat > 0.1) & (s / s_sat < 0.7)
    assert torch.allclose(gain[mid], 1.2 * ideal[mid])


def test_converter_mismatch_statistics_match_the_card():
    card = CARD
    sg, so = card.noise.c2p_gain_sigma_rel, card.noise.c2p_offset_sigma_c
    if sg is None or so is None:
        card = _card(c2p_gain_sigma_rel=0.02, c2p_offset_sigma_c=9e-15)
        sg, so = 0.02, 9e-15
    p = Primitives(card)
    gain, off = p.converter_patterns((64, 1024), seed=5)
    n = gain.numel()
    # sigma estimates of 65536 draws: relative standard error 1/sqrt(2n) ~ 0.3 %
    assert float((gain - 1).std()) == pytest.approx(sg, rel=0.02)
    assert float(off.std()) == pytest.approx(so / card.c2p.q_sat_c, rel=0.02)
    assert abs(float(gain.mean()) - 1) < 5 * sg / n**0.5 and abs(float(off.mean())) < 5 * float(off.std()) / n**0.5
    g2, o2 = p.converter_patterns((64, 1024), seed=5)
    assert torch.equal(gain, g2) and torch.equal(off, o2)
    g3, _ = p.converter_patterns((64, 1024), seed=6)
    assert not torch.equal(gain, g3)
    # independent of the cell mismatch pattern drawn from the same seed
    cells = cell_mismatch_gains((64, 1024), 0.05, 5 * 2)
    r = torch.corrcoef(torch.stack([gain.flatten(), cells.flatten()]))[0, 1]
    assert abs(float(r)) < 0.02
    assert Primitives(card, perfect=True).converter_patterns((2, 3), 1) is None
    assert Primitives(_card(c2p_gain_sigma_rel=None, c2p_offset_sigma_c=None)).converter_patterns((2, 3), 1) is None


def test_read_noise_at_is_per_read_and_gaussian():
    i = torch.arange(512)[:, None]
    j = torch.arange(400)[None, :]
    z = read_noise_at(7, 0, (i, j), 1.0)
    assert torch.equal(read_noise_at(7, 0, (i[100:200], j[:, 50:90]), 1.0), z[100:200, 50:90])  # any chunking
    assert not torch.equal(read_noise_at(8, 0, (i, j), 1.0), z)  # another seed
    assert not torch.equal(read_noise_at(7, 1, (i, j), 1.0), z)  # another stream
    from scipy import stats

    assert stats.kstest(z.flatten().numpy(), "norm").pvalue > 1e-3
    assert abs(float(z.mean())) < 0.01 and float(z.std()) == pytest.approx(1.0, abs=0.01)
    lag = torch.corrcoef(torch.stack([z[:, :-1].flatten(), z[:, 1:].flatten()]))[0, 1]
    assert abs(float(lag)) < 0.01  # neighbouring reads are independent
    assert float(read_noise_at(7, 0, (i, j), 0.25).std()) == pytest.approx(0.25, rel=0.01)


def test_primitives_read_noise_sigma_and_switches():
    card = _card(read_noise_rel=2e-3)
    p = Primitives(card)
    idx = (torch.arange(300)[:, None], torch.arange(300)[None, :])
    n = p.read_noise(0, 0, idx, 64, card.c2p.s_sat_qk_a, torch.float64)
    expect = 2e-3 * card.mac.full_scale_a * 8 / card.c2p.s_sat_qk_a
    assert column_read_sigma(2e-3, card.mac.full_scale_a, 64) == pytest.approx(2e-3 * card.mac.full_scale_a * 8)
    assert float(n.std()) == pytest.approx(expect, rel=0.02)
    assert Primitives(card, perfect=True).read_noise(0, 0, idx, 64, 1.0) is None
    with pytest.raises(ConfigError, match="read_noise_rel"):
        Primitives(_card(read_noise_rel=None)).read_noise(0, 0, idx, 64, 1.0)


def test_acam_sum_combine_is_mean_of_cell_matches():
    q = torch.rand(1, 3, 4)
    k = torch.rand(1, 5, 4)
    m = acam_match(q, k, 0.3, 30.0, combine="sum")
    per = acam_cell_match(q[:, :, None, :], k[:, None] - 0.15, k[:, None] + 0.15, 30.0).mean(-1)
    assert torch.allclose(m, per, rtol=1e-5)


def test_phi_qk_follows_the_card_converter_transfer():
    """Pulse width clip(slope * (Q - offset_c), 0, t_max) / t_max, with Q = S * t_max at s_sat."""
    c = CARD.c2p
    gain, offset = c2p_nominal_transfer(CARD)
    assert offset == pytest.approx(c.offset_c / c.q_sat_c) and offset < -0.01
    q = torch.linspace(-0.2, 1.2, 141, dtype=torch.float64) * c.q_sat_c  # coulombs
    s_a = q / c.q_sat_c * c.s_sat_qk_a
    width = (c.slope_s_per_c * (q - c.offset_c)).clamp(0, c.t_max_s)
    assert torch.allclose(Primitives(CARD).phi_qk(s_a), width / c.t_max_s, atol=1e-12)
    assert torch.allclose(Primitives(CARD, perfect=True).phi_qk(s_a), (q / c.q_sat_c).clamp(0, 1), atol=1e-12)
    # a mismatch pattern multiplies the gain and adds to the offset
    mm = Primitives(CARD).phi_qk(s_a, gain=torch.tensor(1.1, dtype=torch.float64),
                                 offset=torch.tensor(0.02, dtype=torch.float64))
    assert torch.allclose(mm, (1.1 * gain * (s_a / c.s_sat_qk_a - offset - 0.02)).clamp(0, 1), atol=1e-12)


def test_write_noise_at_is_per_cell_and_gaussian():
    h, j, d = torch.arange(4)[:, None, None], torch.arange(300)[None, :, None], torch.arange(64)[None, None, :]
    a = write_noise_at(3, 2, (h, j, d), 1e-3, torch.float64)
    assert a.shape == (4, 300, 64)
    assert float(a.std()) == pytest.approx(1e-3, rel=0.02) and abs(float(a.mean())) < 5e-3 / a.numel() ** 0.5
    assert torch.equal(a[:, 100:110], write_noise_at(3, 2, (h, j[:, 100:110], d), 1e-3, torch.float64))
    assert not torch.equal(a, write_noise_at(4, 2, (h, j, d), 1e-3, torch.float64))
