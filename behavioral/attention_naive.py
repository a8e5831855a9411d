"""Naive gain-cell attention: the test oracle for the fused implementation.

Evaluates the fitted nonlinear read-current surface on every (query, key, dimension) triple,
masks with explicit position comparisons and sums each tile's contributions with an explicit
loop over tiles: slow and memory hungry (O(Tq * Tk * D), chunked over queries), but written
straight from the equations in `behavioral.attention`. The Q.K converters' nominal transfer and
mismatch, the read noise and the write noise are applied exactly as stated there (same patterns
and per-read / per-write draws as the fused path).
"""

from __future__ import annotations

import torch

from behavioral.attention_config import (
    READ_NOISE_STREAM_QK,
    READ_NOISE_STREAM_SV,
    AnalogSettings,
    cell_gains,
    compute_dtype,
    converter_patterns,
    quant_in,
    read_noise_sigmas,
    resolve_physics,
    stored_volts,
    tile_out,
)
from behavioral.cards import HeadCard
from behavioral.primitives import cell_current, read_noise_at


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, card: HeadCard,
                    s: AnalogSettings, q0: int, k0: int) -> torch.Tensor:
    """Oracle forward (autograd gives its gradients); q0, k0: absolute first positions."""
    ph = resolve_physics(card, s)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    cd = compute_dtype(q)
    x = quant_in(q.to(cd), ph.q_quant)
    kq = stored_volts(k.to(cd), ph, 0, k0)  # DAC level + write noise of each cell
    vq = stored_volts(v.to(cd), ph, 1, k0)
    W, R = s.window, s.array_rows
    qpos = torch.arange(q0, q0 + Tq, device=q.device)
    kpos = torch.arange(k0, k0 + Tk, device=q.device)
    slot = torch.remainder(kpos, W)
    tile = slot // R
    gk = cell_gains(ph, H, W, D, 0, q.device, cd)
    gv = cell_gains(ph, H, W, Dv, 1, q.device, cd)
    conv = converter_patterns(ph, H, W, q.device, cd)  # (H, W) gain and offset per key column
    if conv is not None:
        c_gain = conv[0].index_select(1, slot)[None, :, None, :]  # (1, H, 1, Tk)
        c_off = conv[1].index_select(1, slot)[None, :, None, :]
    sig = read_noise_sigmas(ph, D, R)
    hd = torch.arange(H, device=q.device).view(1, H, 1, 1)  # noise address: head, not batch row
    cols = torch.arange(Dv, device=q.device)
    out_chunks = []
    # bound the (B, H, c, Tk, D) broadcast to ~2**25 elements
    c = max(1, min(Tq, (1 << 25) // max(1, B * H * Tk * max(D, Dv))))
    for i0 in range(0, Tq, c):
        i1 = min(Tq, i0 + c)
        age = (qpos[i0:i1, None] - kpos[None, :]).to(cd)  # (c, Tk)
        vis = (age >= 0) & (age < W)
        dec = torch.exp(age.clamp_min(0) * ph.log_d) * vis  # (c, Tk), 0 where invisible
        # nonlinear surface on every (query, key, dim): I(x_id, K_jd)
        xi = x[:, :, i0:i1, None, :]  # (B,H,c,1,D)
        kk = kq[:, :, None, :, :]  # (B,H,1,Tk,D)
        cur = 0.0
        for p in ph.model.x_powers:
            g = cell_current(kk, ph.model, p, ph.surrogate)
            if gk is not None:
                g = g * gk[None, :, None].index_select(3, slot)
            cur = cur + (xi**p) * g
        S = cur.sum(-1) * dec / ph.s_qk  # (B,H,c,Tk)
        qi = qpos[i0:i1]
        if sig is not None:  # read noise of every (query, key) column read, in units of s_sat_qk
            S = S + read_noise_at(ph.read_noise[1], READ_NOISE_STREAM_QK,
                                  (hd, kpos[None, None, None, :], qi[None, None, :, None]), sig[0], cd)
        if conv is not None:  # the key column's converter (nominal transfer and mismatch):
            # phi = clip(gain * (S - offset), 0, 1)
            S = (S - c_off) * c_gain
        phi = S.clamp(0.0, 1.0) * vis
        vv = vq[:, :, None, :, :]  # (B,H,1,Tk,Dv)
        charge = 0.0
        for p in ph.model.x_powers:
            g = cell_current(vv, ph.model, p, ph.surrogate)
            if gv is not None:
                g = g * gv[None, :, None].index_select(3, slot)
            charge = charge + ((phi * vis if p == 0 else phi**p)[..., None]) * g
        contrib = charge * dec[..., None] / ph.s_sv  # (B,H,c,Tk,Dv)
        out = 0.0
        for t in range(W // R):
            sel = (tile == t).nonzero().reshape(-1)
            y = contrib.index_select(3, sel).sum(3)  # (B,H,c,Dv)
            if sig is not None:  # read noise of the tile's bitlines, in units of s_sat_sv
                y = y + read_noise_at(ph.read_noise[1], READ_NOISE_STREAM_SV,
                                      (hd, torch.tensor(t, device=q.device), qi[None, None, :, None],
                                       cols[None, None, None, :]), sig[1], cd)
            out = out + tile_out(y, ph)
        out_chunks.append(out)
    return torch.cat(out_chunks, dim=2)


