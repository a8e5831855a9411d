"""Gain-cell attention core: phi(Q.K) with the card's MAC model, decay by age, per-tile quantized
phi(S).V, causal sliding window; and the aCAM-similarity core.

Device-domain inputs (docs/INTERFACES.md): q as PWM fractions in [0, 1], k and v as stored
volts, all (B, H, T, D), plus absolute token positions. For query i and key j (visible iff
i - W < j <= i, age a = i - j, decay factor d**a with d the card's per-token factor):

    S_ij   = d**a * sum_d I(x_id, K_jd) / s_sat_qk             (I: fitted mean read current, A)
    phi_ij = clip(S_ij, 0, 1)                                  (HardSigmoid charge-to-pulse)
    y_it   = sum_{j in tile t} d**a * sum_p phi_ij**p g_p(V_j) / s_sat_sv   (phi pulses drive V)
    out_i  = sum_t Qout(y_it)                                  (per-tile converter, digital sum)

Keys live in a circular buffer of W columns: token j sits in column j mod W, tile
(j mod W) // array_rows. x, K, V are first quantized by the PWM / DAC quantizers of the card.
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
k_pos=None, impl="fused")`, `acam_attention(q, k, v, card, window, q_pos=None, k_pos=None, ...)`.
"""

from __future__ import annotations

from typing import Literal, Sequence

import torch

from behavioral.attention_config import AnalogSettings, check_shapes, compute_dtype, positions_start
from behavioral.attention_fused import fused_attention
from behavioral.attention_naive import naive_attention
from behavioral.cards import HeadCard
from behavioral.primitives import acam_match
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
    eps: float = 1e-6,
) -> torch.Tensor:
    """aCAM-similarity attention: the match degree replaces dot product + softmax.

    q: (B, H, Tq, D) search voltages, k: (B, H, Tk, D) stored window centres (volts; each cell
    holds bounds k -/+ card.acam.width_v / 2), v: (B, H, Tk, Dv) values. Weights
    m_ij = prod_d window_d(q_i; k_j) (the card's combine, product by default: see
    `primitives.acam_match`) over the causal
    sliding window; with `normalize` the weights are divided by their sum + eps (a digital
    normalization), else used as they are. Differentiable; memory O(Tq * Tk * D) per query chunk.
    """
    check_shapes(q, k, v)
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ConfigError("window", window, "integer >= 1")
    B, H, Tq, D = q.shape
    Tk = k.shape[2]
    k0 = positions_start(k_pos, Tk, 0, "k_pos")
    q0 = positions_start(q_pos, Tq, k0 + Tk - Tq, "q_pos")
    cd = compute_dtype(q)
    a = card.acam
    kpos = torch.arange(k0, k0 + Tk, device=q.device)
    c = max(1, min(Tq, (1 << 25) // max(1, B * H * Tk * D)))
    outs = []
    for i0 in range(0, Tq, c):
        i1 = min(Tq, i0 + c)
        qpos = torch.arange(q0 + i0, q0 + i1, device=q.device)
        age = qpos[:, None] - kpos[None, :]
        vis = ((age >= 0) & (age < window)).to(cd)
        m = acam_match(q[:, :, i0:i1].to(cd), k.to(cd), a.width_v, a.steepness_per_v, a.combine) * vis
        if normalize:
            m = m / (m.sum(-1, keepdim=True) + eps)
        outs.append(m @ v.to(cd))
    return torch.cat(outs, dim=2).to(q.dtype)
