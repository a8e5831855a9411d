"""aCAM-similarity attention (capacitor gain-cell analog CAM, Manea et al., arXiv 2410.09755).

Circuit model (circuits/acam.py): a row of D cells shares one match line (ML) of capacitance
C_ML = D * c_cell, precharged to V_pre. At search time every cell whose input q_d lies outside its
stored window [k_d - w/2, k_d + w/2] opens a pull-down whose current I(delta_d) grows with the
distance delta_d = q_d - k_d outside the window. The currents ADD on the wired line, so at the
sense time t_s

    V_ML,ij / V_pre = exp(-sum_d I(delta_ijd) t_s / (D c_cell)) = exp(-(1/D) sum_d r(delta_ijd))

with r(delta) = I(delta) t_s / c_cell >= 0 the per-cell penalty of one cell on its own share of
the line, which is what the single-cell characterization measures: the card's match function
w(delta) = sigmoid(s (delta + w/2)) sigmoid(-s (delta - w/2)) is that cell's exp(-r), so
r = -ln w (~0 inside the window, ~ s (|delta| - w/2) outside; `behavioral.fit.acam.cell_penalty`).
So the log match degree of key j is a SUM (mean over the row's D cells) of per-cell penalties:

    log m_ij = -(1/D) sum_d r(q_id - k_jd)                       (dimensionless, nats)

Why not the old product of per-dimension sigmoid matches normalised by sum + eps: that is the
same physics in the linear domain, but over 64 cells with 3-bit levels 0.13 V apart (one level
= 15.7 nats per cell against a 0.1 V window) it underflows float32, and the eps then returns
almost constant weights. The 1/D comes from the ML capacitance growing with the row length.

Attention weights: the digital periphery normalises the sensed ML levels of the window's keys,
a_ij = m_ij**(1/tau) / sum_j' m_ij'**(1/tau) = softmax_j(log m_ij / tau), computed in the log
domain (nothing underflows). tau (dimensionless, > 0, scalar or per head, differentiable) is the
inverse of the sense-time scale: sensing at t_s / tau multiplies every exponent by 1 / tau;
tau = 1 is the characterized sense time.

Fast path (`fused`): r is fitted by an even polynomial r(delta) ~ sum_n c_n delta**(2n) over the
device range (`behavioral.fit.acam.fit_penalty_poly`, degree chosen by held-out error); with
q, k centred and scaled, u = (x - mid) / span, (u_q - u_k)**(2n) expands binomially, so
sum_d r = [u_q**m]_(d,m) . [h_m(u_k)]_(d,m), h_m(u) = sum_{2n >= m} c_n C(2n, m) (-u)**(2n-m):
one matmul over D * (2N + 1) features. Queries go in chunks against only their window's keys
(key j visible iff i - W < j <= i, absolute positions), so memory is O(T * W) and a KV-cache
step (Tq = 1) equals the full forward. `naive` is the oracle: it evaluates the per-dimension
penalty on every (query, key, dim) triple, either the exact card function (`penalty="exact"`)
or the same polynomial unexpanded (`penalty="poly"`, equal to `fused` within 1e-5).

Search and stored voltages are clipped to the card's kv_range_v (the DAC and search-line
range): the polynomial holds on |delta| <= span only. Gradients: autograd (zero outside the
range, where the clip saturates).

Window mismatch (`mismatch_seed`, needs the card's `noise.acam_edge_sigma_v` = sigma_e, the
RMS of the Monte Carlo sigmas of a cell's lower and upper window edge): every physical cell
(head, key slot c = j mod W of the circular buffer, dim d) has a fixed-pattern offset of its
stored window centre, delta_hcd = sigma_c * N(0, 1) with sigma_c = sigma_e / sqrt(2) (the
centre (lo + hi) / 2 of two independent edges; the SPICE edges correlate by ~0.1, ignored), so
the stored key becomes k_jd + delta (volts, before the clip to kv_range_v). Drawn with the
stateless counter hash (`behavioral.rng.counter_normal`, stream `ACAM_MISMATCH_STREAM`, no
batch index): fused == naive, a padded batch == each prompt alone, a KV-cache step == the full
forward. Shifting k before the key features is exact for the expanded polynomial. Left out:
the width change of independent edges (sigma_e * sqrt(2) per cell: a per-cell width would need
a per-cell penalty polynomial), the edges' correlation, and any mismatch of the search (query)
DAC or of the match-line sense amplifier. `perfect=True` removes the mismatch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import torch

from behavioral.attention_config import ACAM_MISMATCH_STREAM, compute_dtype
from behavioral.rng import counter_normal
from behavioral.cards import HeadCard
from behavioral.fit.acam import fit_penalty_poly
from gaincell.errors import ConfigError

PENALTIES = ("poly", "exact")


@dataclass(frozen=True)
class PenaltyModel:
    """Per-cell penalty r(delta) (nats) of the card's window over the device range.

    Attributes:
        width_v, steepness_per_v: the card's window (V, 1/V).
        lo_v, hi_v: device voltage range (V); mid_v = centre, span_v = hi - lo (V).
        coef_u: even-polynomial coefficients c_n of r in u = delta / span (nats).
        fit: `fit_penalty_poly` record (degree, held-out errors of every candidate).
    """

    width_v: float
    steepness_per_v: float
    lo_v: float
    hi_v: float
    coef_u: tuple[float, ...]
    fit: dict[str, Any]

    @property
    def mid_v(self) -> float:
        return 0.5 * (self.lo_v + self.hi_v)

    @property
    def span_v(self) -> float:
        return self.hi_v - self.lo_v

    @property
    def degree(self) -> int:
        return 2 * (len(self.coef_u) - 1)

    def to_u(self, x: torch.Tensor) -> torch.Tensor:
        """Clip volts to [lo, hi] and map to u = (x - mid) / span in [-1/2, 1/2]."""
        return (x.clamp(self.lo_v, self.hi_v) - self.mid_v) / self.span_v

    def exact(self, delta_v: torch.Tensor) -> torch.Tensor:
        """r(delta) = -ln w(delta) of the card's two-sigmoid window (nats)."""
        s, h = self.steepness_per_v, self.width_v / 2
        return -torch.nn.functional.logsigmoid(s * (delta_v + h)) - torch.nn.functional.logsigmoid(-s * (delta_v - h))

    def poly_u(self, du: torch.Tensor) -> torch.Tensor:
        """Fitted r at du = delta / span (nats), Horner in du**2."""
        z = du * du
        out = torch.full_like(du, self.coef_u[-1])
        for c in reversed(self.coef_u[:-1]):
            out = out * z + c
        return out

    def _powers(self, u: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D, 2N + 1): [u**0, u**1, ..., u**2N] (one cumulative product)."""
        P = self.degree + 1
        pw = u.unsqueeze(-1).expand(*u.shape, P - 1).cumprod(-1)
        return torch.cat([torch.ones_like(pw[..., :1]), pw], dim=-1)

    def mix_matrix(self, dtype, device) -> torch.Tensor:
        """(2N + 1, 2N + 1) M with h_m(u) = sum_p u**p M[p, m]: M[2n - m, m] = c_n C(2n, m) (-1)**(2n - m)."""
        return _mix_cached(self.coef_u, dtype, str(device)).clone()

    def query_features(self, u: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D * (2N + 1)): [u_d**m] for m = 0..2N, dimension-major."""
        return self._powers(u).flatten(-2)

    def key_features(self, u: torch.Tensor) -> torch.Tensor:
        """(..., D) -> (..., D * (2N + 1)): h_m(u) = sum_{2n >= m} c_n C(2n, m) (-u)**(2n - m)."""
        pw = self._powers(u)
        M = _mix_cached(self.coef_u, u.dtype, str(u.device))
        return (pw.reshape(-1, pw.shape[-1]) @ M).reshape(*u.shape[:-1], -1)


@functools.lru_cache(maxsize=32)
def _mix_cached(coef_u: tuple[float, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    P = 2 * len(coef_u) - 1
    M = torch.zeros(P, P, dtype=torch.float64)
    for n, c in enumerate(coef_u):
        for m in range(2 * n + 1):
            M[2 * n - m, m] = c * math.comb(2 * n, m) * (-1.0) ** (2 * n - m)
    return M.to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=16)
def _penalty_model(width_v: float, steepness_per_v: float, lo_v: float, hi_v: float) -> PenaltyModel:
    fit = fit_penalty_poly(width_v, steepness_per_v, hi_v - lo_v)
    span = hi_v - lo_v
    coef_u = tuple(c * span ** (2 * n) for n, c in enumerate(fit["coef_per_v2n"]))
    return PenaltyModel(width_v, steepness_per_v, lo_v, hi_v, coef_u, fit)


def penalty_model(card: HeadCard) -> PenaltyModel:
    """The card's per-cell penalty and its polynomial fit over kv_range_v (cached per card values)."""
    a = card.acam
    lo, hi = card.quant.kv_range_v
    return _penalty_model(float(a.width_v), float(a.steepness_per_v), float(lo), float(hi))


AcamMismatch = tuple[float, int, int]
"""Resolved window mismatch: (centre sigma in volts, seed, window W in key slots)."""


def acam_mismatch(card: HeadCard, mismatch_seed: int | None, window: int,
                  perfect: bool = False) -> AcamMismatch | None:
    """(sigma_c = noise.acam_edge_sigma_v / sqrt(2) volts, seed, W) or None (no seed, perfect).

    ConfigError naming `mismatch_seed` and the card field when the card lacks the field (null or
    absent: not characterized; never a silent default)."""
    if mismatch_seed is None or perfect:
        return None
    if isinstance(mismatch_seed, bool) or not isinstance(mismatch_seed, int):
        raise ConfigError("mismatch_seed", mismatch_seed, "None or an integer")
    sigma_e = card.noise.acam_edge_sigma_v
    if sigma_e is None:
        raise ConfigError("mismatch_seed", mismatch_seed,
                          f"None: card '{card.path}' has no characterized noise.acam_edge_sigma_v")
    return float(sigma_e) / math.sqrt(2.0), int(mismatch_seed), int(window)


def centre_offsets(mm: AcamMismatch, heads: int, k0: int, tk: int, dim: int, device,
                   dtype) -> torch.Tensor:
    """(1, H, Tk, D) window-centre offsets (volts) of the cells holding keys k0 .. k0 + Tk - 1:
    one fixed draw per (head, slot = position mod W, dim)."""
    sigma, seed, window = mm
    idx = (torch.arange(heads, device=device).view(heads, 1, 1),
           (torch.arange(k0, k0 + tk, device=device) % window).view(1, tk, 1),
           torch.arange(dim, device=device).view(1, 1, dim))
    return (counter_normal(seed, ACAM_MISMATCH_STREAM, idx, dtype) * sigma).unsqueeze(0)


def stored_keys(k: torch.Tensor, mm: AcamMismatch | None, k0: int) -> torch.Tensor:
    """Stored window centres (volts, compute dtype): k plus each cell's offset (None: k itself)."""
    if mm is None:
        return k
    _, H, Tk, D = k.shape
    return k + centre_offsets(mm, H, k0, Tk, D, k.device, k.dtype)


def acam_log_match(q: torch.Tensor, k: torch.Tensor, card: HeadCard, mismatch: AcamMismatch | None = None,
                   k0: int = 0) -> torch.Tensor:
    """log m_ij = -(1/D) sum_d r(q_id - k_jd) (nats) of every query against every key.

    q (B, H, Tq, D) search voltages and k (B, H, Tk, D) stored centres (V), clipped to
    kv_range_v; returns (B, H, Tq, Tk) with the fitted polynomial penalty (the numbers `acam_fused`
    normalizes, before the division by the temperature and without the window mask). Memory
    O(Tq * Tk): for statistics on long runs, call it on query chunks. `mismatch`
    (`acam_mismatch`) shifts the stored centres of the keys at positions k0, k0 + 1, ...
    """
    cd = compute_dtype(q)
    pm = penalty_model(card)
    qf = pm.query_features(pm.to_u(q.to(cd)))
    kf = pm.key_features(pm.to_u(stored_keys(k.to(cd), mismatch, k0)))
    return (qf @ kf.transpose(-1, -2)) * (-1.0 / q.shape[-1])


def _temperature(temperature, H: int, cd, device) -> torch.Tensor | float:
    """Scalar or (H,) temperature -> float or (1, H, 1, 1) tensor (> 0)."""
    if isinstance(temperature, torch.Tensor):
        t = temperature.to(device=device, dtype=cd)
        if t.numel() == 1:
            return t.reshape(1, 1, 1, 1)
        if t.numel() != H:
            raise ConfigError("temperature", tuple(t.shape), f"a scalar or ({H},) per-head tensor")
        return t.reshape(1, H, 1, 1)
    if not float(temperature) > 0:
        raise ConfigError("temperature", temperature, "> 0")
    return float(temperature)


def _combine(logm: torch.Tensor, vis: torch.Tensor, v: torch.Tensor, normalize: bool) -> torch.Tensor:
    """Masked log-domain normalization (softmax over visible keys) and the weighted value sum.

    logm (B, H, c, nk) log match degrees, vis (c, nk) bool, v (B, H, nk, Dv). Rows without a
    visible key give 0. normalize=False: the raw ML levels exp(logm) weight the values.
    """
    logm = logm.masked_fill(~vis, float("-inf"))
    if not normalize:
        return torch.exp(logm) @ v
    mx = logm.amax(-1, keepdim=True).detach()
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    p = torch.exp(logm - mx)
    s = p.sum(-1, keepdim=True)
    return (p @ v) / torch.where(s > 0, s, torch.ones_like(s))


def acam_fused(q, k, v, card: HeadCard, window: int, q0: int, k0: int, temperature=1.0,
               normalize: bool = True, chunk: int = 64, mismatch: AcamMismatch | None = None) -> torch.Tensor:
    """Fast path: polynomial penalty as feature-map matmuls, query chunks x window keys.
    `mismatch` (`acam_mismatch`): fixed-pattern window-centre offsets of the key cells."""
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    cd = compute_dtype(q)
    pm = penalty_model(card)
    tau = _temperature(temperature, H, cd, q.device)
    qf = pm.query_features(pm.to_u(q.to(cd)))
    kf = pm.key_features(pm.to_u(stored_keys(k.to(cd), mismatch, k0)))
    vv = v.to(cd)
    scale = -1.0 / D
    outs = []
    for i0 in range(0, Tq, chunk):
        i1 = min(Tq, i0 + chunk)
        a0, a1 = q0 + i0, q0 + i1  # absolute query positions [a0, a1)
        j0 = max(k0, a0 - window + 1) - k0
        j1 = min(k0 + Tk, a1) - k0
        if j1 <= j0:
            outs.append(torch.zeros(B, H, i1 - i0, v.shape[-1], dtype=cd, device=q.device))
            continue
        qpos = torch.arange(a0, a1, device=q.device)
        kpos = torch.arange(k0 + j0, k0 + j1, device=q.device)
        age = qpos[:, None] - kpos[None, :]
        vis = (age >= 0) & (age < window)
        logm = (qf[:, :, i0:i1] @ kf[:, :, j0:j1].transpose(-1, -2)) * scale
        outs.append(_combine(logm / tau, vis, vv[:, :, j0:j1], normalize))
    return torch.cat(outs, dim=2)


def acam_naive(q, k, v, card: HeadCard, window: int, q0: int, k0: int, temperature=1.0,
               normalize: bool = True, penalty: str = "poly", mismatch: AcamMismatch | None = None) -> torch.Tensor:
    """Oracle: per-dimension penalty on every (query, key, dim) triple; O(Tq * Tk * D) memory.
    `mismatch` (`acam_mismatch`): fixed-pattern window-centre offsets of the key cells."""
    if penalty not in PENALTIES:
        raise ConfigError("penalty", penalty, " | ".join(PENALTIES))
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    cd = compute_dtype(q)
    pm = penalty_model(card)
    tau = _temperature(temperature, H, cd, q.device)
    qu, ku = pm.to_u(q.to(cd)), pm.to_u(stored_keys(k.to(cd), mismatch, k0))
    kpos = torch.arange(k0, k0 + Tk, device=q.device)
    c = max(1, min(Tq, (1 << 24) // max(1, B * H * Tk * D)))
    outs = []
    for i0 in range(0, Tq, c):
        i1 = min(Tq, i0 + c)
        qpos = torch.arange(q0 + i0, q0 + i1, device=q.device)
        age = qpos[:, None] - kpos[None, :]
        vis = (age >= 0) & (age < window)
        du = qu[:, :, i0:i1, None, :] - ku[:, :, None, :, :]
        r = pm.poly_u(du) if penalty == "poly" else pm.exact(du * pm.span_v)
        logm = -r.mean(-1)
        outs.append(_combine(logm / tau, vis, v.to(cd), normalize))
    return torch.cat(outs, dim=2)
