"""Gain-cell attention core: phi(Q.K) with the card's MAC model, decay by age, per-tile quantized
phi(S).V, causal sliding window; and the aCAM-similarity core.

Device-domain inputs (docs/INTERFACES.md): q as PWM fractions in [0, 1], k and v as stored
volts, all (B, H, T, D), plus absolute token positions. For query i and key j (visible iff
i - W < j <= i, age a = i - j, decay factor d**a with d the card's per-token factor):

    S_ij   = d**a * sum_d I(x_id, K_jd) / s_sat_qk + n_ij      (I: fitted mean read current, A)
    phi_ij = clip(g_c * (S_ij - o_c), 0, 1)                    (HardSigmoid charge-to-pulse)
    y_it   = sum_{j in tile t} d**a * sum_p phi_ij**p g_p(V_j) / s_sat_sv + m_it   (pulses drive V)
    out_i  = sum_t Qout(y_it)                                  (per-tile converter, digital sum)

Non-idealities switched by `AnalogSettings` (all off in `perfect` mode): c = j mod W is key j's
column; its converter has the card's characterized transfer, gain g0 = slope_s_per_c * q_sat_c /
t_max_s and offset o0 = offset_c / q_sat_c (`c2p_nominal_transfer`), times / plus a fixed-pattern
gain and offset drawn from `mismatch_seed` with the card's c2p sigmas: g_c = g0 * g_mm,
o_c = o0 + o_mm (perfect: g = 1, o = 0); n_ij and m_it (each output column of tile t) are
per-read Gaussian read noise drawn from `read_noise_seed`, of sigma read_noise_rel *
full_scale_a * sqrt(D) / s_sat_qk and ... * sqrt(array_rows) / s_sat_sv (the bitline sums D or
array_rows cells, each counted at its on-state noise); else 0. The noise draws are addressed by
head and positions, not by batch row.

Keys live in a circular buffer of W columns: token j sits in column j mod W, tile
(j mod W) // array_rows. x, K, V are first quantized by the PWM / DAC quantizers of the card;
with `write_noise_seed`, every stored K and V voltage then carries its cell's kT/C write noise
(sigma `noise.write_noise_v`, one draw per head, token position and row, fixed from the write on).
Gradients: straight-through through every quantizer, the clip's own gradient through phi and
the tile clip, and the cell current's `exact` or `linear` surrogate derivative.

Two implementations give the same numbers (within 1e-5 relative in float32):
- `naive`: the oracle. Evaluates the nonlinear surface on every (query, key, dim) triple and
  masks with explicit position comparisons (memory O(Tq * Tk * D), chunked over queries).
- `fused`: feature-map matmuls (the MAC is separable: I(x, V) = sum_p x**p g_p(V)), query
  chunks of `chunk` tokens against only their window's key blocks, decay as separable row and
  column factors, the tile structure as a batched matmul over 64-key blocks. Keys and their
  features are processed per segment, so memory is O(T * W) at most and time ~ SDPA's.

Public API (stable): `AnalogSettings`, `gaincell_attention(q, k, v, card, settings, q_pos=None,
k_pos=None, impl="fused")`, `acam_attention(q, k, v, card, window, q_pos=None, k_pos=None, ...)` (aCAM: see
`behavioral.attention_acam`).
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch

from behavioral.attention_config import AnalogSettings, check_shapes, positions_start
from behavioral.attention_acam import acam_fused, acam_mismatch, acam_naive
from behavioral.attention_fused import fused_attention
from behavioral.attention_naive import naive_attention
from behavioral.cards import HeadCard
from gaincell.errors import ConfigError

__all__ = ["AnalogSettings", "IMPLS", "gaincell_attention", "acam_attention"]

IMPLS = ("fused", "naive")


# --- public entry points ---------------------------------------------------------------------

def gaincell_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    card: HeadCard,
    settings: AnalogSettings,
    q_pos: int | torch.Tensor | Sequence[int] | None = None,
    k_pos: int | torch.Tensor | Sequence[int] | None = None,
    impl: Literal["fused", "naive"] = "fused",
) -> torch.Tensor:
    """Gain-cell attention in the device domain; returns the tile-summed output (B, H, Tq, Dv).

    Args:
        q: (B, H, Tq, D) query pulse fractions in [0, 1].
        k: (B, H, Tk, D) stored key voltages (volts).
        v: (B, H, Tk, Dv) stored value voltages (volts).
        card: device card (`behavioral.cards.load_card` / `default_card`).
        settings: `AnalogSettings` (window, tiles, switches).
        q_pos, k_pos: absolute positions of the first query / key (int) or of every token
            (consecutive 1-D tensor). Defaults: keys start at 0 and the queries are the last Tq
            keys' positions (full forward: Tq == Tk; KV-cache step: Tq == 1).
        impl: 'fused' (fast) or 'naive' (test oracle).
    Returns:
        Output in converter units (each tile in out_range, summed over W / array_rows tiles),
        dtype of q (computed in float32, or float64 for float64 inputs).
    """
    check_shapes(q, k, v)
    if impl not in IMPLS:
        raise ConfigError("impl", impl, " | ".join(IMPLS))
    Tq, Tk = q.shape[2], k.shape[2]
    k0 = positions_start(k_pos, Tk, 0, "k_pos")
    q0 = positions_start(q_pos, Tq, k0 + Tk - Tq, "q_pos")
    fn = fused_attention if impl == "fused" else naive_attention
    return fn(q, k, v, card, settings, q0, k0).to(q.dtype)


def acam_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    card: HeadCard,
    window: int,
    q_pos: int | torch.Tensor | Sequence[int] | None = None,
    k_pos: int | torch.Tensor | Sequence[int] | None = None,
    normalize: bool = True,
    temperature: float | torch.Tensor = 1.0,
    impl: Literal["fused", "naive"] = "fused",
    penalty: Literal["poly", "exact"] = "poly",
    mismatch_seed: int | None = None,
    perfect: bool = False,
) -> torch.Tensor:
    """aCAM-similarity attention: the match-line level replaces dot product + softmax.

    Physics and numerics: `behavioral.attention_acam` (log match degree = minus the mean over
    the row's cells of the per-cell penalty r = -ln window, since the cells' discharge currents
    add on one match line of capacitance D * c_cell; weights = softmax of log m / temperature
    over the causal sliding window, computed in the log domain).

    Args:
        q: (B, H, Tq, D) search voltages (V). k: (B, H, Tk, D) stored window centres (V; each
            cell holds bounds k -/+ card.acam.width_v / 2). v: (B, H, Tk, Dv) values (V).
            q and k are clipped to card.quant.kv_range_v.
        window: W; key j visible from query i iff i - W < j <= i (absolute positions).
        q_pos, k_pos: as in `gaincell_attention`.
        normalize: True: weights normalised over the visible keys (softmax of log m); False:
            the raw match-line levels m_ij = V_ML / V_pre weight the values.
        temperature: tau > 0 (dimensionless; scalar or per-head (H,) tensor, differentiable):
            the sense time is t_s / tau. 1 = the characterized sense time.
        impl: 'fused' (polynomial penalty as matmuls, O(T * W) memory) or 'naive' (oracle).
        penalty: for impl='naive', 'poly' (the fitted polynomial, equal to fused within 1e-5)
            or 'exact' (the card's window function itself).
        mismatch_seed: None for no mismatch; else the seed of a fixed-pattern offset of every
            aCAM cell's window centre (head, key slot = position mod W, dim), sigma
            card.noise.acam_edge_sigma_v / sqrt(2) volts (`behavioral.attention_acam`;
            ConfigError when the card has not characterized it), as
            `AnalogSettings.mismatch_seed` for the gain-cell core.
        perfect: remove the mismatch (as `AnalogSettings.perfect`).
    Returns:
        (B, H, Tq, Dv) in volts, dtype of q (computed in float32, float64 for float64 inputs).
    """
    check_shapes(q, k, v)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError("window", window, "integer >= 1")
    if impl not in IMPLS:
        raise ConfigError("impl", impl, " | ".join(IMPLS))
    Tq, Tk = q.shape[2], k.shape[2]
    k0 = positions_start(k_pos, Tk, 0, "k_pos")
    q0 = positions_start(q_pos, Tq, k0 + Tk - Tq, "q_pos")
    if card.acam.combine != "product":
        raise ConfigError("acam.combine", card.acam.combine,
                          "product (currents add on one match line: log levels add); see behavioral.attention_acam")
    mm = acam_mismatch(card, mismatch_seed, window, perfect)
    if impl == "fused":
        if penalty != "poly":
            raise ConfigError("penalty", penalty, "poly (impl='fused'); 'exact' needs impl='naive'")
        out = acam_fused(q, k, v, card, window, q0, k0, temperature, normalize, mismatch=mm)
    else:
        out = acam_naive(q, k, v, card, window, q0, k0, temperature, normalize, penalty, mismatch=mm)
    return out.to(q.dtype)
