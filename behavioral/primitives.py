"""Differentiable torch primitives of the analog attention hardware, built from a device card.

Each works on CPU and CUDA tensors in float32, float64 (for gradcheck) and bfloat16; none holds
a physical constant of its own: every number comes from the card passed in.

- `quantize_uniform`: `levels` evenly spaced values over [lo, hi], straight-through gradient.
- `quantize_signed`: sign-magnitude converter output (levels // 2 magnitudes incl. zero).
- `cell_current`: mean read current g_p(V) of a cell (amperes) with a surrogate gradient:
  `exact` (the fitted model's derivative) or `linear` (the least-squares straight line's slope).
- `analog_mac`: column sums S = sum_d I(x_d, V_d) through the fitted surface (amperes).
- `charge_to_pulse`: HardSigmoid phi = clip(gain * (S / s_sat - offset), 0, 1) (fraction of
  t_max); gain 1 and offset 0 for an ideal converter.
- `c2p_nominal_transfer`: the card's characterized (gain, offset) of the Q.K converter.
- `decay_factor`: per_token_factor ** age.
- `cell_mismatch_gains`: seeded fixed-pattern gain of every cell (Monte Carlo mismatch).
- `converter_mismatch`: seeded fixed-pattern gain and offset of every charge-to-pulse converter.
- `read_noise`: seeded additive Gaussian noise of a given shape (a fresh pattern per seed).
- `read_noise_at`: per-read Gaussian noise indexed by the read (head, query, key, ...):
  stateless, so any chunking and any device draw the same value for the same read.
- `write_noise_at`: kT/C noise frozen on a storage node at its write, indexed by the written
  cell (head, token position, row): stateless like `read_noise_at`.
- `column_read_sigma`: the read-noise sigma of a bitline summing n cells (card units -> A).
- `acam_match`: aCAM match degree of queries against windows around stored keys (linear domain).
- `acam_log_match`: its log-domain form for long rows (what `acam_attention` uses).
- `Primitives(card, perfect=False)`: all of the above bound to one card; `perfect=True` removes
  every non-ideality (no quantization, linear cell, no decay, no noise, no mismatch, ideal
  converter, no output clipping).

Every function creates its tensors on the device and in the dtype of its inputs (or of the
`device` / `dtype` arguments); seeded fixed patterns are drawn on the CPU in float64 and moved,
so a seed gives the same pattern on every device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from behavioral.cards import HeadCard
from behavioral.mac_model import PolyMacModel
from behavioral.rng import counter_normal
from gaincell.errors import ConfigError

Surrogate = Literal["exact", "linear"]
SURROGATES = ("exact", "linear")


# --- quantizers ------------------------------------------------------------------------------

def quantize_uniform(x: torch.Tensor, levels: int, lo: float, hi: float) -> torch.Tensor:
    """Round to `levels` evenly spaced values in [lo, hi] (saturating).

    Gradient: straight-through (1) inside [lo, hi], 0 outside (where the clip saturates).
    """
    if levels < 2 or not hi > lo:
        raise ConfigError("quantizer", (levels, lo, hi), "levels >= 2 and lo < hi")
    step = (hi - lo) / (levels - 1)
    y = x.clamp(lo, hi)
    q = torch.round((y - lo) / step) * step + lo
    return y + (q - y).detach()


def quantize_signed(x: torch.Tensor, levels: int, limit: float) -> torch.Tensor:
    """Sign-magnitude quantizer of a signed converter: levels // 2 magnitudes (0 .. limit).

    `levels` = 32 gives a sign bit and 16 magnitudes {0, 1/15, ..., 1} * limit: zero is exact, so
    an empty tile reads 0. Gradient: straight-through inside [-limit, limit].
    """
    mags = levels // 2
    if mags < 2 or not limit > 0:
        raise ConfigError("quantizer", (levels, limit), "levels >= 4 and limit > 0")
    step = limit / (mags - 1)
    y = x.clamp(-limit, limit)
    q = torch.round(y / step) * step
    return y + (q - y).detach()


def quantize_output(x: torch.Tensor, levels: int, out_range: tuple[float, float]) -> torch.Tensor:
    """Per-tile converter output: signed sign-magnitude when the range is symmetric, else uniform."""
    lo, hi = out_range
    if lo == -hi:
        return quantize_signed(x, levels, hi)
    return quantize_uniform(x, levels, lo, hi)


# --- cell current with surrogate gradient -----------------------------------------------------

class _CellCurrent(torch.autograd.Function):
    @staticmethod
    def forward(ctx, v, model: PolyMacModel, p: int, slope: float | None):
        ctx.save_for_backward(v)
        ctx.model, ctx.p, ctx.slope = model, p, slope
        return model.g(p, v)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        if ctx.slope is None:
            d = ctx.model.dg_dv(ctx.p, v)
        else:
            d = ctx.slope
        return grad * d, None, None, None


def cell_current(v: torch.Tensor, model: PolyMacModel, p: int = 1, surrogate: Surrogate = "exact") -> torch.Tensor:
    """g_p(V): the mean read-current term of input power p (amperes) at stored voltage v (volts).

    surrogate='exact' back-propagates the fitted derivative; 'linear' the least-squares slope of
    g_p over the fitted voltage range (training as if the cell were linear, as the authors did).
    """
    if surrogate not in SURROGATES:
        raise ConfigError("surrogate", surrogate, " | ".join(SURROGATES))
    slope = None if surrogate == "exact" else model.linear_slopes_a_per_v()[p]
    return _CellCurrent.apply(v, model, p, slope)


def analog_mac(x: torch.Tensor, v: torch.Tensor, model: PolyMacModel, surrogate: Surrogate = "exact") -> torch.Tensor:
    """Column sums S[..., i, j] = sum_d I(x[..., i, d], v[..., j, d]) in amperes.

    x: (..., N, D) input fractions in [0, 1]; v: (..., M, D) stored volts. Uses the separable
    form (one matmul per input power).
    """
    out = None
    for p in model.x_powers:
        xp = x**p if p != 1 else x
        term = xp @ cell_current(v, model, p, surrogate).transpose(-1, -2)
        out = term if out is None else out + term
    return out


# --- converter, decay, noise ------------------------------------------------------------------

def charge_to_pulse(s_a: torch.Tensor, s_sat_a: float, saturate: bool = True,
                    gain: torch.Tensor | float | None = None,
                    offset: torch.Tensor | float | None = None) -> torch.Tensor:
    """HardSigmoid charge-to-pulse: phi = clip(gain * (S / s_sat - offset), 0, 1) (fraction of t_max).

    s_a is a mean current (amperes; charge / t_max). gain (relative, around 1) and offset (in
    units of the saturation input, i.e. offset charge / q_sat) broadcast against s_a: a
    converter's nominal transfer (`c2p_nominal_transfer`) and/or its mismatch
    (`converter_mismatch`); None = ideal. A positive offset moves the knee
    (the input where phi leaves 0) up to S = offset * s_sat; the gain scales the slope.
    saturate=False keeps only the lower clip.
    """
    phi = s_a / s_sat_a
    if offset is not None:
        phi = phi - offset
    if gain is not None:
        phi = phi * gain
    return phi.clamp(0.0, 1.0) if saturate else phi.clamp_min(0.0)


def c2p_nominal_transfer(card: HeadCard) -> tuple[float, float]:
    """The card's characterized Q.K converter as (gain, offset) of `charge_to_pulse`.

    The card fits the pulse width as clip(slope_s_per_c * (Q - offset_c), 0, t_max_s) and
    normalizes the input by its saturation charge q_sat_c (S / s_sat = Q / q_sat). In those units
    phi = clip(gain * (Q / q_sat - offset), 0, 1) with offset = offset_c / q_sat_c (the knee, where
    phi leaves 0) and gain = slope_s_per_c * q_sat_c / t_max_s (1 / (1 - offset) when q_sat_c is
    the charge where the fitted line reaches t_max, as `gaincell fit` defines it): dimensionless.
    """
    c = card.c2p
    return float(c.slope_s_per_c * c.q_sat_c / c.t_max_s), float(c.offset_c / c.q_sat_c)


def decay_factor(age_tokens: torch.Tensor, per_token_factor: float,
                 dtype: torch.dtype | None = None) -> torch.Tensor:
    """Read-current factor per_token_factor ** age (age in tokens, >= 0), on age's device."""
    if not 0.0 < per_token_factor <= 1.0:
        raise ConfigError("per_token_factor", per_token_factor, "in (0, 1]")
    dtype = dtype or (age_tokens.dtype if age_tokens.is_floating_point() else torch.get_default_dtype())
    return torch.exp(age_tokens.to(dtype) * math.log(per_token_factor))


def cell_mismatch_gains(shape: tuple[int, ...], sigma_rel: float, seed: int,
                        device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Fixed-pattern gains 1 + sigma_rel * N(0, 1) of every cell, reproducible from `seed`.

    Drawn on the CPU with a `torch.Generator` so the pattern is the same on every device.
    """
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    eps = torch.randn(shape, generator=g, dtype=torch.float64)
    return (1.0 + sigma_rel * eps).to(device=device, dtype=dtype)


CONVERTER_SEED_OFFSET = 1 << 40
"""Converter patterns use generator seed CONVERTER_SEED_OFFSET + seed (the cell arrays use
2 * seed and 2 * seed + 1), so one mismatch seed gives independent cell and converter draws."""


def converter_mismatch(shape: tuple[int, ...], gain_sigma_rel: float, offset_sigma_rel: float, seed: int,
                       device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-pattern (gain, offset) of every charge-to-pulse converter, reproducible from `seed`.

    gain = 1 + gain_sigma_rel * N(0, 1) (relative slope); offset = offset_sigma_rel * N(0, 1)
    in units of the converter's saturation input (offset charge / q_sat). `shape` is e.g.
    (heads, columns): one converter per key column of each head's array. Drawn on the CPU.
    """
    g = torch.Generator(device="cpu").manual_seed(CONVERTER_SEED_OFFSET + int(seed))
    eps = torch.randn((2, *shape), generator=g, dtype=torch.float64)
    gain = (1.0 + gain_sigma_rel * eps[0]).to(device=device, dtype=dtype)
    offset = (offset_sigma_rel * eps[1]).to(device=device, dtype=dtype)
    return gain, offset


def read_noise(shape: tuple[int, ...], sigma: float, seed: int, device: torch.device | str = "cpu",
               dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive Gaussian read noise of standard deviation `sigma`, reproducible from `seed`."""
    g = torch.Generator(device="cpu").manual_seed(int(seed))
    return (sigma * torch.randn(shape, generator=g, dtype=torch.float64)).to(device=device, dtype=dtype)


def read_noise_at(seed: int, stream: int, indices: tuple[torch.Tensor, ...], sigma: float,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Per-read Gaussian noise sigma * N(0, 1), one independent value per read.

    `indices` (integer tensors that broadcast, >= 0) name the read, e.g. (batch * heads + head,
    key position, query position): the value is a pure function of (seed, stream, indices)
    (`behavioral.rng.counter_normal`), so the same read gets the same noise whatever the
    chunking, the implementation or the device. Returned on the indices' device in `dtype`.
    """
    return counter_normal(seed, stream, indices, dtype) * sigma


def write_noise_at(seed: int, stream: int, indices: tuple[torch.Tensor, ...], sigma_v: float,
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """kT/C write noise (volts) sigma_v * N(0, 1) of the written storage nodes.

    `indices` (integer tensors that broadcast, >= 0) name the written cell, e.g. (head, token
    position, row): a write happens once per token, so the value depends only on what was
    written where, never on when it is read (the same number in a full forward and in every
    KV-cache step). `sigma_v` is the card's `noise.write_noise_v` = sqrt(k_B T / C_store).
    """
    return counter_normal(seed, stream, indices, dtype) * sigma_v


def column_read_sigma(read_noise_rel: float, full_scale_a: float, n_cells: int) -> float:
    """Read-noise sigma (amperes of mean current over the read window) of a bitline summing
    `n_cells` cells: independent cell noises add in power, sigma = rel * full_scale * sqrt(n).

    `read_noise_rel` is one cell's charge-noise sigma per read over its full-scale charge (the
    card's `noise.read_noise_rel`); every cell is counted at its on-state noise for the whole
    window (an upper bound: an idle cell is quieter, see the characterization).
    """
    if read_noise_rel < 0 or full_scale_a <= 0 or n_cells < 1:
        raise ConfigError("read noise", (read_noise_rel, full_scale_a, n_cells),
                          "read_noise_rel >= 0, full_scale_a > 0, n_cells >= 1")
    return float(read_noise_rel) * float(full_scale_a) * math.sqrt(n_cells)


# --- aCAM ------------------------------------------------------------------------------------

def acam_cell_match(x: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, steepness_per_v: float) -> torch.Tensor:
    """Match degree in [0, 1] of one aCAM cell: sigmoid(s(x - lo)) * (1 - sigmoid(s(x - hi)))."""
    return torch.sigmoid(steepness_per_v * (x - lo)) * torch.sigmoid(-steepness_per_v * (x - hi))


def acam_match(q_v: torch.Tensor, k_v: torch.Tensor, width_v: float, steepness_per_v: float,
               combine: str = "product") -> torch.Tensor:
    """Match-line degree of every query against every stored key window (product combine).

    q_v: (..., N, D) search voltages; k_v: (..., M, D) stored window centres (volts), each cell
    storing bounds k -/+ width_v / 2. Returns (..., N, M) in [0, 1]:
        m_ij = prod_d w(q_id; k_jd - width/2, k_jd + width/2)
    Why a product: the match line is precharged and every cell whose input leaves its window
    opens a pull-down path; the line decays as exp(-t * sum_d G_d / C_ML), so the surviving
    voltage is a product of per-cell factors (a sum of conductances in the exponent). A sum of
    per-cell matches would describe a current-summing line, which this cell does not have.
    Computed as exp(sum_d log w) for range; O(N * M * D) memory, chunk the queries for long inputs.
    For long rows (D = 64 cells, inputs several window widths apart) the product underflows:
    use `acam_log_match` (log domain, with the row's 1/D capacitance scaling).
    """
    lo = k_v.unsqueeze(-3) - width_v / 2
    hi = k_v.unsqueeze(-3) + width_v / 2
    x = q_v.unsqueeze(-2)
    logm = torch.nn.functional.logsigmoid(steepness_per_v * (x - lo)) + torch.nn.functional.logsigmoid(
        -steepness_per_v * (x - hi))
    if combine == "product":
        return torch.exp(logm.sum(-1))
    if combine == "sum":
        return torch.exp(logm).mean(-1)
    raise ConfigError("combine", combine, "product | sum")


def acam_log_match(q_v: torch.Tensor, k_v: torch.Tensor, width_v: float,
                   steepness_per_v: float) -> torch.Tensor:
    """Log match-line level ln(V_ML / V_pre) of every query against every stored key (nats).

    q_v: (..., N, D) search voltages, k_v: (..., M, D) stored window centres (volts). Returns
    (..., N, M) <= 0:  -(1/D) sum_d r(q_id - k_jd),  r = -ln w  (w: the single-cell window).
    The mismatch currents of a row's D cells add on one precharged match line whose capacitance
    grows as D * c_cell, so ln V_ML = -sum_d I_d t_sense / (D c_cell): the MEAN of the per-cell
    penalties characterized on a one-cell line. Never underflows; O(N * M * D) memory (the
    attention core uses a fitted polynomial of r as matmuls instead, `behavioral.attention_acam`).
    """
    x = q_v.unsqueeze(-2)
    k = k_v.unsqueeze(-3)
    r = -torch.nn.functional.logsigmoid(steepness_per_v * (x - k + width_v / 2)) - torch.nn.functional.logsigmoid(
        -steepness_per_v * (x - k - width_v / 2))
    return -r.mean(-1)


# --- everything bound to one card ------------------------------------------------------------

@dataclass(frozen=True)
class Primitives:
    """The card's primitives with its numbers bound; `perfect=True` removes every non-ideality."""

    card: HeadCard
    perfect: bool = False
    surrogate: Surrogate = "exact"

    @property
    def mac_model(self) -> PolyMacModel:
        """Nonlinear fitted model, or the linear one in perfect mode."""
        return self.card.mac.linear_model() if self.perfect else self.card.mac.model()

    def quantize_q(self, x: torch.Tensor) -> torch.Tensor:
        """Query PWM quantizer (identity in perfect mode)."""
        if self.perfect:
            return x
        q = self.card.quant
        return quantize_uniform(x, q.q_levels, *q.q_range)

    def quantize_kv(self, v: torch.Tensor) -> torch.Tensor:
        """Key/value DAC quantizer in volts (identity in perfect mode)."""
        if self.perfect:
            return v
        q = self.card.quant
        return quantize_uniform(v, q.kv_levels, *q.kv_range_v)

    def quantize_out(self, y: torch.Tensor) -> torch.Tensor:
        """Per-tile output converter (identity in perfect mode)."""
        if self.perfect:
            return y
        q = self.card.quant
        return quantize_output(y, q.out_levels, q.out_range)

    def mac(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """Column sums (amperes) of x (..., N, D) against stored v (..., M, D)."""
        return analog_mac(x, v, self.mac_model, self.surrogate)

    def phi_qk(self, s_a: torch.Tensor, gain: torch.Tensor | None = None,
               offset: torch.Tensor | None = None) -> torch.Tensor:
        """Q.K charge-to-pulse (fraction of t_max) with the card's nominal transfer
        (`c2p_nominal_transfer`); gain/offset: a converter mismatch pattern (`converter_patterns`)
        on top of it (gains multiply, offsets add). Ideal (gain 1, offset 0) in perfect mode."""
        if self.perfect:
            return charge_to_pulse(s_a, self.card.c2p.s_sat_qk_a)
        g0, o0 = c2p_nominal_transfer(self.card)
        gain = g0 if gain is None else g0 * gain
        offset = o0 if offset is None else o0 + offset
        return charge_to_pulse(s_a, self.card.c2p.s_sat_qk_a, gain=gain, offset=offset)

    def converter_patterns(self, shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu",
                           dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The card's converter (gain, offset) pattern for `shape` converters, or None in perfect
        mode or when the card has not characterized the c2p mismatch (null sigmas)."""
        n, c = self.card.noise, self.card.c2p
        if self.perfect or n.c2p_gain_sigma_rel is None or n.c2p_offset_sigma_c is None:
            return None
        return converter_mismatch(shape, n.c2p_gain_sigma_rel, n.c2p_offset_sigma_c / c.q_sat_c, seed,
                                  device, dtype)

    def read_noise(self, seed: int, stream: int, indices: tuple[torch.Tensor, ...], n_cells: int,
                   s_sat_a: float, dtype: torch.dtype = torch.float32) -> torch.Tensor | None:
        """Per-read noise of a bitline of `n_cells` cells in units of `s_sat_a` (the converter's
        saturation current), or None in perfect mode. ConfigError when the card has no
        characterized `noise.read_noise_rel` (never a guessed sigma)."""
        if self.perfect:
            return None
        rel = self.card.noise.read_noise_rel
        if rel is None:
            raise ConfigError("read noise", None, f"a card with noise.read_noise_rel (card '{self.card.path}')")
        sigma = column_read_sigma(rel, self.card.mac.full_scale_a, n_cells) / s_sat_a
        return read_noise_at(seed, stream, indices, sigma, dtype)

    def decay(self, age_tokens: torch.Tensor) -> torch.Tensor:
        """Decay factor by age (ones in perfect mode), on age's device."""
        if self.perfect:
            return torch.ones_like(age_tokens, dtype=torch.get_default_dtype())
        return decay_factor(age_tokens, self.card.decay.per_token_factor)

    def acam(self, q_v: torch.Tensor, k_v: torch.Tensor) -> torch.Tensor:
        """aCAM match degrees with the card's window (the same in perfect mode: it is the algorithm)."""
        a = self.card.acam
        return acam_match(q_v, k_v, a.width_v, a.steepness_per_v, a.combine)

    def acam_log(self, q_v: torch.Tensor, k_v: torch.Tensor) -> torch.Tensor:
        """Log match-line levels (nats) with the card's window (`acam_log_match`)."""
        a = self.card.acam
        return acam_log_match(q_v, k_v, a.width_v, a.steepness_per_v)
