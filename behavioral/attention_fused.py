"""Fused gain-cell attention: the fast path, numerically equal to `attention_naive`.

How it is fast and lean:
- The MAC is separable, I(x, V) = sum_p x**p g_p(V), so Q.K is one matmul of stacked feature
  maps [x**p] and [g_p(V) / s_sat] (with a K/V DAC and no write noise, g_p is a table lookup
  over its levels; write noise moves each stored voltage off the DAC grid).
- Queries go in chunks of `chunk` tokens; each chunk meets only the key blocks (64 keys = one
  array tile) of its window, so work and memory are O(T * W), not O(T**2).
- Decay d**(i - j) = d**(i - s0) * d**(s0 - j) (s0: segment start) becomes a row factor on the
  queries and the tile outputs and a column factor on the key/value features: no (T, W) table.
- Scores are computed transposed, (key, query) per block, so phi(S).V of all blocks is one
  batched matmul with no copy; blocks b and b + W/64 share a tile column (the circular buffer)
  and are added before the tile converter.
- Key/value features are built per segment of `segment` tokens, so no full-length feature copy.
- Training: a custom autograd Function saves only q, k, v and recomputes each chunk in the
  backward pass (as flash attention does); the feature maps' own gradients (DAC straight-through,
  surrogate cell derivative, mismatch, decay factors) come from autograd on each segment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from behavioral.attention_config import (
    READ_NOISE_STREAM_QK,
    READ_NOISE_STREAM_SV,
    AnalogSettings,
    Physics,
    cell_gains,
    compute_dtype,
    converter_patterns,
    head_index,
    quant_in,
    read_noise_sigmas,
    resolve_physics,
    stored_volts,
    tile_out,
)
from behavioral.cards import HeadCard
from behavioral.primitives import cell_current, read_noise_at
from gaincell.errors import ConfigError

MAX_DECAY_EXPONENT = 60.0
"""Largest |ln d| * tokens a separable decay factor may span (float32 safe)."""


# --- plan: segments and chunks ----------------------------------------------------------------

@dataclass
class _Chunk:
    a: int  # absolute position of the chunk start (multiple of C)
    r0: int  # first real query row relative to a
    r1: int  # one past the last real query row relative to a
    kb_lo: int  # first key block (absolute block index)
    nb: int  # number of key blocks
    masks: dict[int, torch.Tensor] = field(default_factory=dict)  # block index -> (R, nr) visibility


@dataclass
class _Segment:
    s0: int  # absolute start (decay anchor)
    sb0: int  # first key block
    sb1: int  # one past the last key block
    j_lo: int  # first real key position in the block range
    j_hi: int  # one past the last real key
    chunks: list[_Chunk]


def _plan(Tq: int, Tk: int, q0: int, k0: int, W: int, R: int, C: int, G: int, device) -> list[_Segment]:
    q_end, k_end = q0 + Tq, k0 + Tk
    segs = []
    for s0 in range((q0 // C) * C, q_end, G):
        s1 = min(s0 + G, q_end)
        first_q, last_q = max(s0, q0), s1 - 1
        sb0 = max((first_q - W + 1) // R, k0 // R)
        sb1 = min((last_q + R) // R, (k_end + R - 1) // R)
        chunks = []
        for a in range(s0, s0 + G, C):
            r0, r1 = max(q0, a) - a, min(q_end, a + C) - a
            if r1 <= r0:
                continue
            kb_lo = max(sb0, (a + r0 - W + 1) // R)
            kb_hi = min(sb1, (a + r1 - 1 + R) // R)
            ch = _Chunk(a, r0, r1, kb_lo, max(0, kb_hi - kb_lo))
            i = torch.arange(a + r0, a + r1, device=device)[None, :]
            for b in range(kb_lo, kb_hi):
                if b * R + R - 1 > a + r0 or b * R <= a + r1 - 1 - W:
                    j = torch.arange(b * R, b * R + R, device=device)[:, None]
                    ch.masks[b - kb_lo] = (j <= i) & (j > i - W)  # (R, nr)
            chunks.append(ch)
        segs.append(_Segment(s0, sb0, sb1, max(sb0 * R, k0), min(sb1 * R, k_end), chunks))
    return segs


# --- feature maps -----------------------------------------------------------------------------

class _LutCurrent(torch.autograd.Function):
    """DAC quantizer + cell current by table lookup (a DAC leaves only `levels` voltages).

    Gradient: the surrogate derivative at the quantized voltage, straight through the DAC (zero
    outside its range): the same as `quantize_uniform` followed by `cell_current`.
    """

    @staticmethod
    def forward(ctx, v, lo, inv_step, n, table, dtable):
        hi = lo + (n - 1) / inv_step
        idx = v.clamp(lo, hi).sub_(lo).mul_(inv_step).round_().to(torch.int32)
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(idx.to(torch.int16) if n < 32768 else idx, (v >= lo) & (v <= hi))
            ctx.dtable = dtable
        return table.index_select(0, idx.reshape(-1)).view(v.shape)

    @staticmethod
    def backward(ctx, grad):
        idx, inr = ctx.saved_tensors
        d = ctx.dtable.index_select(0, idx.reshape(-1).to(torch.int32)).view(idx.shape)
        return grad * d * inr, None, None, None, None, None


def _current(kv: torch.Tensor, ph: Physics, p: int, cd: torch.dtype) -> torch.Tensor:
    """g_p(DAC(kv)) in amperes; with write noise, kv are already the stored volts (`_stored`)."""
    kv = kv.to(cd)
    if ph.kv_quant is None or ph.write_noise is not None:
        return cell_current(kv, ph.model, p, ph.surrogate)
    n, lo, hi = ph.kv_quant
    step = (hi - lo) / (n - 1)
    levels = lo + step * torch.arange(n, dtype=torch.float64)
    table = ph.model.g(p, levels).to(device=kv.device, dtype=cd)
    if ph.surrogate == "exact":
        dtable = ph.model.dg_dv(p, levels).to(device=kv.device, dtype=cd)
    else:
        dtable = torch.full((n,), ph.model.linear_slopes_a_per_v()[p], dtype=cd, device=kv.device)
    return _LutCurrent.apply(kv, lo, 1.0 / step, n, table, dtable)


@dataclass(frozen=True)
class _Static:
    ph: Physics
    B: int
    H: int
    W: int
    R: int
    C: int
    G: int
    q0: int
    k0: int
    cd: torch.dtype
    conv: tuple[torch.Tensor, torch.Tensor] | None = None  # converter (gain, offset), each (H, W)
    sig: tuple[float, float] | None = None  # read-noise sigmas (Q.K in s_sat_qk, S.V in s_sat_sv)


def _stored(src: torch.Tensor, seg: _Segment, st: _Static, which: int) -> torch.Tensor:
    """The segment's keys or values (BH, nkeys, D): raw (the DAC is `_current`'s table lookup),
    or, with write noise, the stored volts (DAC level + the cells' write noise)."""
    x = src[:, seg.j_lo - st.k0:seg.j_hi - st.k0]
    if st.ph.write_noise is None:
        return x
    d = x.shape[-1]
    y = stored_volts(x.to(st.cd).view(st.B, st.H, -1, d), st.ph, which, seg.j_lo)
    return y.view(st.B * st.H, -1, d)


def _segment_features(k, v, seg: _Segment, st: _Static, gk, gv):
    """Key features (BH, nkeys, F) and value features [(BH, nkeys, Dv) per power], padded to blocks."""
    ph, R = st.ph, st.R
    B, H = st.B, st.H
    dev = k.device
    jpos = torch.arange(seg.j_lo, seg.j_hi, device=dev)
    slot = torch.remainder(jpos, st.W)
    col = torch.exp((seg.s0 - jpos).to(st.cd) * ph.log_d)[None, :, None] if ph.log_d else None
    pad = (0, 0, seg.j_lo - seg.sb0 * R, seg.sb1 * R - seg.j_hi)

    def feat(src, p, gains, sat):
        f = _current(src, ph, p, st.cd)
        inplace = not (torch.is_grad_enabled() and f.requires_grad)
        if gains is not None:
            g = gains[:, slot][None]
            f4 = f.view(B, H, -1, f.shape[-1])
            f = (f4.mul_(g) if inplace else f4 * g).view(B * H, -1, f.shape[-1])
        scale = (1.0 / sat) if col is None else (col / sat)
        f = f.mul_(scale) if inplace else f * scale
        return torch.nn.functional.pad(f, pad) if (pad[2] or pad[3]) else f

    powers = ph.model.x_powers
    ks, vs = _stored(k, seg, st, 0), _stored(v, seg, st, 1)
    Ks = [feat(ks, p, gk, ph.s_qk) for p in powers]
    K = Ks[0] if len(Ks) == 1 else torch.cat(Ks, dim=-1)
    V = [feat(vs, p, gv, ph.s_sv) for p in powers]
    return K, V


def _query_features(q, ch: _Chunk, seg: _Segment, st: _Static):
    """Query features (BH, nr, F) with the row decay factor, and that factor (nr, 1) or None."""
    ph = st.ph
    x = quant_in(q[:, ch.a + ch.r0 - st.q0:ch.a + ch.r1 - st.q0].to(st.cd), ph.q_quant)
    powers = ph.model.x_powers
    Q = x if powers == (1,) else torch.cat([x**p for p in powers], dim=-1)
    if not ph.log_d:
        return Q, None
    rows = torch.arange(ch.a + ch.r0 - seg.s0, ch.a + ch.r1 - seg.s0, device=q.device, dtype=st.cd)
    dec = torch.exp(rows * ph.log_d)[:, None]
    return Q * dec, dec


# --- chunk core ---------------------------------------------------------------------------------

def _scores_t(Qc, K, ch: _Chunk, seg: _Segment, st: _Static):
    """Transposed scores S^T per block: (BH, nb, R, nr)."""
    off = (ch.kb_lo - seg.sb0) * st.R
    Kw = K[:, off:off + ch.nb * st.R]
    return torch.matmul(Kw, Qc.transpose(1, 2)).view(Kw.shape[0], ch.nb, st.R, -1), Kw, off


def _converter_in_(ST: torch.Tensor, ch: _Chunk, st: _Static) -> torch.Tensor | None:
    """Read noise and the Q.K converters (nominal transfer and mismatch) on the transposed scores
    (BH, nb, R, nr), in place: ST <- gain_j * (ST + noise_ij - offset_j). Returns the gain
    (BH, nb, R, 1) or None."""
    if st.sig is None and st.conv is None:
        return None
    dev, R = ST.device, st.R
    jpos = torch.arange(ch.kb_lo * R, (ch.kb_lo + ch.nb) * R, device=dev)
    if st.sig is not None:
        hd = head_index(st.B, st.H, dev).view(-1, 1, 1, 1)
        i = torch.arange(ch.a + ch.r0, ch.a + ch.r1, device=dev).view(1, 1, 1, -1)
        ST.add_(read_noise_at(st.ph.read_noise[1], READ_NOISE_STREAM_QK, (hd, jpos.view(1, ch.nb, R, 1), i),
                              st.sig[0], ST.dtype))
    if st.conv is None:
        return None
    slot = torch.remainder(jpos, st.W)

    def per_key(t: torch.Tensor) -> torch.Tensor:  # (H, W) -> (BH, nb, R, 1)
        return t.index_select(1, slot).view(1, st.H, ch.nb, R, 1).expand(st.B, -1, -1, -1, -1).reshape(
            st.B * st.H, ch.nb, R, 1)

    gain = per_key(st.conv[0])
    ST.sub_(per_key(st.conv[1])).mul_(gain)
    return gain


def _tiles_with_noise(Y: torch.Tensor, ch: _Chunk, st: _Static) -> tuple[torch.Tensor, torch.Tensor]:
    """All W / R tiles' converter inputs (BH, nW, nr, Dv) with the tile bitlines' read noise (a
    tile without visible keys reads noise alone), and the tile index of each of Y's slices."""
    BH, ns, nr, Dv = Y.shape
    nW, dev = st.W // st.R, Y.device
    tidx = torch.remainder(torch.arange(ch.kb_lo, ch.kb_lo + ns, device=dev), nW)
    hd = head_index(st.B, st.H, dev).view(-1, 1, 1, 1)
    t = torch.arange(nW, device=dev).view(1, -1, 1, 1)
    i = torch.arange(ch.a + ch.r0, ch.a + ch.r1, device=dev).view(1, 1, -1, 1)
    e = torch.arange(Dv, device=dev).view(1, 1, 1, -1)
    full = read_noise_at(st.ph.read_noise[1], READ_NOISE_STREAM_SV, (hd, t, i, e), st.sig[1], Y.dtype)
    if ns:
        full.index_add_(1, tidx, Y)
    return full, tidx


def _mask_(t: torch.Tensor, ch: _Chunk) -> torch.Tensor:
    for bi, m in ch.masks.items():
        t[:, bi].mul_(m)
    return t


def _pulses_t(phiT: torch.Tensor, p: int, ch: _Chunk) -> torch.Tensor:
    """(phi**p)^T masked (phiT already masked, so only p == 0 needs the mask again)."""
    if p == 1:
        return phiT
    if p == 0:
        return _mask_(torch.ones_like(phiT), ch)
    return phiT**p


def _merge_tiles(Y: torch.Tensor, nW: int) -> torch.Tensor:
    """Add blocks b and b + nW (same tile column of the circular buffer), in place."""
    npair = Y.shape[1] - nW
    if npair > 0:
        Y[:, :npair] += Y[:, nW:nW + npair]
        return Y[:, :nW]
    return Y


def _tile_y(Qc, K, V, ch, seg, st, qdec, for_backward: bool):
    """Per-tile converter inputs (BH, ns, nr, Dv), or (BH, W / R, nr, Dv) with read noise; for
    the backward pass also phi^T, the clip's gradient mask, the key window and its offset, the
    converter gains and the tile index of each merged block slice (None without noise)."""
    ST, Kw, off = _scores_t(Qc, K, ch, seg, st)
    gain = _converter_in_(ST, ch, st)
    if for_backward:
        inr = (ST >= 0) & (ST <= 1)
        phiT = _mask_(ST.clamp(0.0, 1.0), ch)
    else:
        inr = None
        phiT = _mask_(ST.clamp_(0.0, 1.0), ch)
    Y = None
    for pi, p in enumerate(st.ph.model.x_powers):
        Vw = V[pi][:, off:off + ch.nb * st.R].view(V[pi].shape[0], ch.nb, st.R, -1)
        term = torch.matmul(_pulses_t(phiT, p, ch).transpose(-1, -2), Vw)
        Y = term if Y is None else Y.add_(term)
    Y = _merge_tiles(Y, st.W // st.R)
    if qdec is not None:
        Y = Y.mul_(qdec)
    tidx = None
    if st.sig is not None:
        Y, tidx = _tiles_with_noise(Y, ch, st)
    return Y, phiT, inr, Kw, off, gain, tidx


def _noise_only_rows(ch: _Chunk, st: _Static, Dv: int, device) -> torch.Tensor:
    """Output rows of a chunk that sees no key block: every tile converter reads noise alone."""
    empty = torch.zeros(st.B * st.H, 0, ch.r1 - ch.r0, Dv, dtype=st.cd, device=device)
    return _converter_sum(_tiles_with_noise(empty, ch, st)[0], st)


def _converter_sum(Y: torch.Tensor, st: _Static) -> torch.Tensor:
    """Sum over tiles of the tile converter's output (in place on Y where possible)."""
    ph = st.ph
    oq = ph.out_quant
    nW = st.W // st.R
    if oq is not None and oq[1][0] == -oq[1][1]:
        lim, mags = oq[1][1], oq[0] // 2
        step = lim / (mags - 1)
        return Y.clamp_(-lim, lim).div_(step).round_().sum(1).mul_(step)
    out = tile_out(Y, ph).sum(1)
    if Y.shape[1] < nW and (oq is not None or ph.out_clip is not None):
        zero = tile_out(torch.zeros((), dtype=Y.dtype, device=Y.device), ph)
        if zero.item() != 0.0:
            out = out + (nW - Y.shape[1]) * zero
    return out


def _tile_grad_mask(Y: torch.Tensor, ph: Physics) -> torch.Tensor | None:
    """Straight-through gradient of the tile converter: 1 inside its clip range, else 0."""
    rng = ph.out_quant[1] if ph.out_quant is not None else ph.out_clip
    if rng is None:
        return None
    return (Y >= rng[0]) & (Y <= rng[1])


# --- forward / backward -------------------------------------------------------------------------

def _forward(q, k, v, st: _Static, plan, gk, gv) -> torch.Tensor:
    BH, Dv = st.B * st.H, v.shape[-1]
    out = torch.zeros(BH, q.shape[1], Dv, dtype=st.cd, device=q.device)
    for seg in plan:
        has_keys = seg.sb1 > seg.sb0
        if not has_keys and st.sig is None:
            continue
        K, V = _segment_features(k, v, seg, st, gk, gv) if has_keys else (None, None)
        for ch in seg.chunks:
            if ch.nb <= 0 or not has_keys:
                if st.sig is not None:
                    out[:, ch.a + ch.r0 - st.q0:ch.a + ch.r1 - st.q0] = _noise_only_rows(ch, st, Dv, q.device)
                continue
            Qc, qdec = _query_features(q, ch, seg, st)
            Y = _tile_y(Qc, K, V, ch, seg, st, qdec, False)[0]
            out[:, ch.a + ch.r0 - st.q0:ch.a + ch.r1 - st.q0] = _converter_sum(Y, st)
            del Y
        del K, V  # free this segment's features before the next one is built
    return out


def _backward(q, k, v, dout, st: _Static, plan, gk, gv):
    ph = st.ph
    nW = st.W // st.R
    qd = q.detach().requires_grad_(q.requires_grad)
    kd = k.detach().requires_grad_(k.requires_grad)
    vd = v.detach().requires_grad_(v.requires_grad)
    powers = ph.model.x_powers
    for seg in plan:
        if seg.sb1 <= seg.sb0:
            continue
        with torch.enable_grad():
            K, V = _segment_features(kd, vd, seg, st, gk, gv)
        Kd, Vd = K.detach(), [t.detach() for t in V]
        dK = torch.zeros_like(Kd)
        dV = [torch.zeros_like(t) for t in Vd]
        for ch in seg.chunks:
            if ch.nb <= 0:
                continue
            with torch.enable_grad():
                Qc, qdec = _query_features(qd, ch, seg, st)
            Qd = Qc.detach()
            with torch.no_grad():
                Y, phiT, inr, Kw, off, gain, tidx = _tile_y(Qd, Kd, Vd, ch, seg, st, qdec, True)
                g = dout[:, ch.a + ch.r0 - st.q0:ch.a + ch.r1 - st.q0].to(st.cd)[:, None]  # (BH,1,nr,Dv)
                gm = _tile_grad_mask(Y, ph)
                dYt = g * gm if gm is not None else g.expand_as(Y)
                if tidx is not None:  # back from all tiles to the merged block slices
                    dYt = dYt.index_select(1, tidx)
                if qdec is not None:
                    dYt = dYt * qdec
                BH, ns, nr, Dv = dYt.shape
                if ch.nb > ns:  # un-merge the circular-buffer pairs
                    dY = torch.cat([dYt, dYt[:, :ch.nb - ns]], dim=1)
                else:
                    dY = dYt.contiguous()
                dphiT = None
                for pi, p in enumerate(powers):
                    Pt = _pulses_t(phiT, p, ch)
                    Vw = Vd[pi][:, off:off + ch.nb * st.R].view(BH, ch.nb, st.R, Dv)
                    dV[pi][:, off:off + ch.nb * st.R] += torch.matmul(Pt, dY).view(BH, -1, Dv)
                    if p == 0:
                        continue
                    dP = torch.matmul(Vw, dY.transpose(-1, -2))  # (BH, nb, R, nr)
                    if p != 1:
                        dP = dP * (p * phiT ** (p - 1))
                    dphiT = dP if dphiT is None else dphiT.add_(dP)
                if dphiT is None:
                    dST = None
                else:
                    dST = _mask_(dphiT, ch).mul_(inr)
                    if gain is not None:
                        dST = dST.mul_(gain)
                    dST = dST.view(BH, ch.nb * st.R, nr)
                    dK[:, off:off + ch.nb * st.R] += torch.matmul(dST, Qd)
                    dQ = torch.matmul(dST.transpose(1, 2), Kw)
            if dST is not None and qd.requires_grad:
                torch.autograd.backward(Qc, dQ)
        with torch.no_grad():
            roots = [t for t, d in zip([K, *V], [dK, *dV]) if t.requires_grad]
            grads = [d for t, d in zip([K, *V], [dK, *dV]) if t.requires_grad]
        if roots:
            torch.autograd.backward(roots, grads)
    grad = lambda t, src: None if t.grad is None else t.grad.to(src.dtype)  # noqa: E731
    return grad(qd, q), grad(kd, k), grad(vd, v)


class _FusedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, st, plan, gk, gv):
        ctx.save_for_backward(q, k, v)
        ctx.st, ctx.plan, ctx.gk, ctx.gv = st, plan, gk, gv
        with torch.no_grad():
            return _forward(q, k, v, st, plan, gk, gv)

    @staticmethod
    def backward(ctx, dout):
        q, k, v = ctx.saved_tensors
        dq, dk, dv = _backward(q, k, v, dout, ctx.st, ctx.plan, ctx.gk, ctx.gv)
        return dq, dk, dv, None, None, None, None


def fused_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, card: HeadCard,
                    s: AnalogSettings, q0: int, k0: int) -> torch.Tensor:
    """Fused forward (custom backward); q0, k0: absolute first positions. Returns (B, H, Tq, Dv)."""
    ph = resolve_physics(card, s)
    B, H, Tq, D = q.shape
    Tk, Dv = k.shape[2], v.shape[3]
    cd = compute_dtype(q)
    W, R = s.window, s.array_rows
    C = min(s.chunk, W)
    C = C if C % R == 0 else R
    G = max(C, (s.segment // C) * C)
    if ph.log_d:
        if -ph.log_d * C > MAX_DECAY_EXPONENT:
            raise ConfigError("decay.per_token_factor", math.exp(ph.log_d),
                              f"> exp(-{MAX_DECAY_EXPONENT}/{C}) for impl='fused' (use impl='naive')")
        G = max(C, min(G, int(MAX_DECAY_EXPONENT / -ph.log_d) // C * C))
    st = _Static(ph, B, H, W, R, C, G, q0, k0, cd, converter_patterns(ph, H, W, q.device, cd),
                 read_noise_sigmas(ph, D, R))
    plan = _plan(Tq, Tk, q0, k0, W, R, C, G, q.device)
    for seg in plan:
        for ch in seg.chunks:
            ch.masks = {b: m.to(cd) for b, m in ch.masks.items()}
    gk = cell_gains(ph, H, W, D, 0, q.device, cd)
    gv = cell_gains(ph, H, W, Dv, 1, q.device, cd)
    qf, kf, vf = q.reshape(B * H, Tq, D), k.reshape(B * H, Tk, D), v.reshape(B * H, Tk, Dv)
    out = _FusedFn.apply(qf, kf, vf, st, plan, gk, gv)
    return out.reshape(B, H, Tq, Dv)
