"""Settings of the gain-cell attention core and the device physics they resolve to.

`AnalogSettings` holds the emulator switches (window, tiles, quantization, decay, mismatch, read
and write noise, `perfect`); `resolve_physics(card, settings)` combines them with a device card into the numbers
both attention implementations use, so the naive oracle and the fused path cannot disagree on
a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from behavioral.cards import HeadCard
from behavioral.mac_model import PolyMacModel
from behavioral.primitives import (
    SURROGATES,
    c2p_nominal_transfer,
    cell_mismatch_gains,
    column_read_sigma,
    converter_mismatch,
    quantize_output,
    quantize_uniform,
    write_noise_at,
)
from gaincell.errors import ConfigError

MAC_KINDS = ("nonlinear", "linear")


@dataclass(frozen=True)
class AnalogSettings:
    """Emulator settings of the gain-cell attention core (device physics come from the card).

    Attributes:
        window: sliding window W in tokens (multiple of array_rows).
        array_rows: tokens per gain-cell array (tile), 64 in the paper.
        mac: 'nonlinear' (the card's fitted surface) or 'linear' (its least-squares line).
        surrogate: gradient of the cell current, 'exact' or 'linear'.
        decay: apply the card's per-token leak factor by token age.
        quantize: apply the card's PWM (q), DAC (k, v) and per-tile output quantizers.
        saturate_output: clip each tile's output to the card's out_range.
        q_levels, kv_levels, out_levels: override the card's level counts (None: card).
        mismatch_seed: None for no mismatch; else the seed of a fixed-pattern cell gain mismatch
            of sigma `card.noise.mismatch_sigma_rel` for each (head, column, row) of the K and V
            arrays (requires the card to have characterized it), and of the Q.K charge-to-pulse
            converters (one per key column and head: gain sigma `card.noise.c2p_gain_sigma_rel`,
            offset sigma `card.noise.c2p_offset_sigma_c`; skipped when the card's c2p sigmas
            are null or `c2p_mismatch` is False).
        c2p_mismatch: apply the converters' mismatch when `mismatch_seed` is set.
        read_noise_seed: None for no read noise; else the seed of per-read Gaussian noise on
            every bitline read (Q.K columns before the HardSigmoid, S.V tile bitlines before the
            tile converter) of sigma `card.noise.read_noise_rel` * full scale * sqrt(cells on
            the bitline) (requires the card to have characterized it). Each read (head, query
            position, key position or tile and output column) draws its own value, identical in
            both implementations and in KV-cache steps. The batch index is not part of the read's
            address: every sequence of a batch meets the same draws at the same positions, so a
            sequence gives the same numbers alone, in any batch row, padded or not; seeds give
            independent realizations.
        write_noise_seed: None for no write noise; else the seed of the kT/C noise frozen on each
            storage node when its token is written: sigma `card.noise.write_noise_v` volts added
            to the DAC voltage of every K and V cell, one draw per (head, token position, row)
            (no batch index, as for the read noise), so a token keeps its draw in every read,
            in a full forward and in KV-cache steps (requires the card to have characterized it).
        perfect: remove every non-ideality (linear cell, no decay, no quantization, no
            saturation of tile outputs, ideal Q.K converters, no mismatch, no noise); the
            HardSigmoid stays (it is the algorithm). Otherwise the Q.K converters follow the
            card's characterized transfer (`c2p.slope_s_per_c`, `c2p.offset_c`:
            `behavioral.primitives.c2p_nominal_transfer`).
        chunk: fused implementation's query chunk in tokens (multiple of array_rows).
        segment: fused implementation's key-feature segment in tokens (multiple of chunk).
    """

    window: int
    array_rows: int = 64
    mac: str = "nonlinear"
    surrogate: str = "exact"
    decay: bool = True
    quantize: bool = True
    saturate_output: bool = True
    q_levels: int | None = None
    kv_levels: int | None = None
    out_levels: int | None = None
    mismatch_seed: int | None = None
    c2p_mismatch: bool = True
    read_noise_seed: int | None = None
    write_noise_seed: int | None = None
    perfect: bool = False
    chunk: int = 128
    segment: int = 1024

    def __post_init__(self) -> None:
        for name in ("window", "array_rows", "chunk", "segment"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(name, v, "integer >= 1")
        if self.window % self.array_rows:
            raise ConfigError("window", self.window, f"a multiple of array_rows={self.array_rows}")
        if self.chunk % self.array_rows:
            raise ConfigError("chunk", self.chunk, f"a multiple of array_rows={self.array_rows}")
        if self.segment % self.chunk:
            raise ConfigError("segment", self.segment, f"a multiple of chunk={self.chunk}")
        if self.mac not in MAC_KINDS:
            raise ConfigError("mac", self.mac, " | ".join(MAC_KINDS))
        if self.surrogate not in SURROGATES:
            raise ConfigError("surrogate", self.surrogate, " | ".join(SURROGATES))
        for name in ("q_levels", "kv_levels", "out_levels"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 2):
                raise ConfigError(name, v, "None (card) or integer >= 2")
        for name in ("mismatch_seed", "read_noise_seed", "write_noise_seed"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
                raise ConfigError(name, v, "None or an integer")

    def replace(self, **changes) -> "AnalogSettings":
        """A validated copy with some fields changed."""
        return replace(self, **changes)


# --- resolved physics ------------------------------------------------------------------------

@dataclass(frozen=True)
class Physics:
    """Resolved numbers: MAC model, saturation currents (A), ln of the per-token decay factor
    (0 without decay), quantizer specs (None: off), output clip range, cell mismatch (sigma,
    seed), converter mismatch (gain sigma, offset sigma in units of the saturation input, seed),
    read noise (one cell's sigma in amperes of mean current, seed), the Q.K converters' nominal
    transfer (gain, offset in units of the saturation input) and the write noise (sigma in
    volts, seed); None: off (an ideal converter for `c2p_nominal`)."""

    model: PolyMacModel
    surrogate: str
    s_qk: float
    s_sv: float
    log_d: float  # ln(per-token factor), 0 without decay
    q_quant: tuple[int, float, float] | None
    kv_quant: tuple[int, float, float] | None
    out_quant: tuple[int, tuple[float, float]] | None
    out_clip: tuple[float, float] | None
    mismatch: tuple[float, int] | None
    c2p_mismatch: tuple[float, float, int] | None = None
    read_noise: tuple[float, int] | None = None
    c2p_nominal: tuple[float, float] | None = None
    write_noise: tuple[float, int] | None = None


def resolve_physics(card: HeadCard, s: AnalogSettings) -> Physics:
    """Combine a card and the settings into the numbers both implementations use."""
    perfect = s.perfect
    model = card.mac.linear_model() if (perfect or s.mac == "linear") else card.mac.model()
    qt = card.quant
    mismatch = None
    if s.mismatch_seed is not None and not perfect:
        sigma = card.noise.mismatch_sigma_rel
        if sigma is None:
            raise ConfigError("mismatch_seed", s.mismatch_seed,
                              f"None: card '{card.path}' has no characterized noise.mismatch_sigma_rel")
        mismatch = (float(sigma), int(s.mismatch_seed))
    c2p_mm = None
    n = card.noise
    if (s.mismatch_seed is not None and s.c2p_mismatch and not perfect
            and n.c2p_gain_sigma_rel is not None and n.c2p_offset_sigma_c is not None):
        c2p_mm = (float(n.c2p_gain_sigma_rel), float(n.c2p_offset_sigma_c) / card.c2p.q_sat_c,
                  int(s.mismatch_seed))
    noise = None
    if s.read_noise_seed is not None and not perfect:
        if n.read_noise_rel is None:
            raise ConfigError("read_noise_seed", s.read_noise_seed,
                              f"None: card '{card.path}' has no characterized noise.read_noise_rel")
        noise = (float(n.read_noise_rel) * card.mac.full_scale_a, int(s.read_noise_seed))
    write = None
    if s.write_noise_seed is not None and not perfect:
        if n.write_noise_v is None:
            raise ConfigError("write_noise_seed", s.write_noise_seed,
                              f"None: card '{card.path}' has no characterized noise.write_noise_v")
        write = (float(n.write_noise_v), int(s.write_noise_seed))
    quant = s.quantize and not perfect
    return Physics(
        model=model,
        surrogate=s.surrogate,
        s_qk=card.c2p.s_sat_qk_a,
        s_sv=card.c2p.s_sat_sv_a,
        log_d=math.log(card.decay.per_token_factor) if (s.decay and not perfect) else 0.0,
        q_quant=(s.q_levels or qt.q_levels, *qt.q_range) if quant else None,
        kv_quant=(s.kv_levels or qt.kv_levels, *qt.kv_range_v) if quant else None,
        out_quant=(s.out_levels or qt.out_levels, qt.out_range) if quant else None,
        out_clip=qt.out_range if (s.saturate_output and not perfect) else None,
        mismatch=mismatch,
        c2p_mismatch=c2p_mm,
        read_noise=noise,
        c2p_nominal=None if perfect else c2p_nominal_transfer(card),
        write_noise=write,
    )


def positions_start(pos, n: int, default_start: int, name: str) -> int:
    """Start position of a contiguous run of n tokens (int, 1-D tensor/sequence, or None)."""
    if pos is None:
        return default_start
    if isinstance(pos, int) and not isinstance(pos, bool):
        return pos
    t = torch.as_tensor(pos).reshape(-1)
    if t.numel() != n:
        raise ConfigError(name, f"{t.numel()} positions", f"{n} positions (one per token)")
    if n == 0:
        return 0
    start = int(t[0])
    if n > 1:
        expect = torch.arange(start, start + n, device=t.device, dtype=t.dtype)
        if not torch.equal(t, expect):
            raise ConfigError(name, "non-contiguous positions", "consecutive absolute token positions")
    return start


def check_shapes(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """ConfigError unless q (B,H,Tq,D), k (B,H,Tk,D), v (B,H,Tk,Dv)."""
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        raise ConfigError("q/k/v", (tuple(q.shape), tuple(k.shape), tuple(v.shape)), "4-D (B, H, T, D) tensors")
    if q.shape[:2] != k.shape[:2] or k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1]:
        raise ConfigError("q/k/v", (tuple(q.shape), tuple(k.shape), tuple(v.shape)),
                          "q (B,H,Tq,D), k (B,H,Tk,D), v (B,H,Tk,Dv)")


def compute_dtype(t: torch.Tensor) -> torch.dtype:
    """float64 for float64 inputs (gradcheck), else float32 (bfloat16/float16 are upcast)."""
    return torch.float64 if t.dtype == torch.float64 else torch.float32


def cell_gains(ph: Physics, heads: int, window: int, dim: int, which: int, device, dtype) -> torch.Tensor | None:
    """Fixed-pattern gain of each cell (H, W columns, dim rows) of the K (which=0) or V (1) array."""
    if ph.mismatch is None:
        return None
    sigma, seed = ph.mismatch
    return cell_mismatch_gains((heads, window, dim), sigma, seed * 2 + which, device, dtype)


def converter_patterns(ph: Physics, heads: int, window: int, device,
                       dtype) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(gain, offset) of the Q.K converter of each (head, key column), each (H, W); None: ideal.

    The card's nominal transfer and the fixed-pattern mismatch combine as one converter:
    gain = g_nominal * g_mismatch, offset = o_nominal + o_mismatch (units of the saturation input).
    """
    if ph.c2p_mismatch is None and ph.c2p_nominal is None:
        return None
    if ph.c2p_mismatch is None:
        gain = torch.ones((heads, window), device=device, dtype=dtype)
        offset = torch.zeros((heads, window), device=device, dtype=dtype)
    else:
        g_sigma, o_sigma, seed = ph.c2p_mismatch
        gain, offset = converter_mismatch((heads, window), g_sigma, o_sigma, seed, device, dtype)
    if ph.c2p_nominal is not None:
        g0, o0 = ph.c2p_nominal
        gain, offset = gain * g0, offset + o0
    return gain, offset


READ_NOISE_STREAM_QK = 0
"""Stream of the Q.K column reads: indices (head, key position, query position)."""
READ_NOISE_STREAM_SV = 1
"""Stream of the S.V tile bitline reads: indices (head, tile, query position, column)."""
WRITE_NOISE_STREAM_K = 2
"""Stream of the K array's writes: indices (head, token position, row); the V array uses 3."""
ACAM_MISMATCH_STREAM = 4
"""Stream of the aCAM cells' window-centre offsets: indices (head, key slot = position mod W, dim)."""


def read_noise_sigmas(ph: Physics, dim: int, rows: int) -> tuple[float, float] | None:
    """Read-noise sigma of a Q.K column (`dim` cells) in units of s_sat_qk and of an S.V tile
    bitline (`rows` cells) in units of s_sat_sv; None without read noise."""
    if ph.read_noise is None:
        return None
    sigma_cell_a = ph.read_noise[0]
    return (column_read_sigma(1.0, sigma_cell_a, dim) / ph.s_qk,
            column_read_sigma(1.0, sigma_cell_a, rows) / ph.s_sv)


def head_index(batch: int, heads: int, device) -> torch.Tensor:
    """(batch * heads,) head of each row of a (B * H, ...) tensor: the noise draws' address
    (the batch index is not part of it, see `AnalogSettings.read_noise_seed`)."""
    return torch.arange(heads, device=device).repeat(batch)


def stored_volts(kv: torch.Tensor, ph: Physics, which: int, k0: int) -> torch.Tensor:
    """Stored voltages (B, H, T, D) of a K (which=0) or V (1) array: the DAC's levels (`kv_quant`,
    straight-through) plus the write noise of each cell (`write_noise`), tokens at absolute
    positions k0, k0 + 1, ... The input is already in the compute dtype."""
    x = quant_in(kv, ph.kv_quant)
    if ph.write_noise is None:
        return x
    sigma, seed = ph.write_noise
    _, H, T, D = kv.shape
    dev = kv.device
    idx = (torch.arange(H, device=dev).view(1, H, 1, 1), torch.arange(k0, k0 + T, device=dev).view(1, 1, T, 1),
           torch.arange(D, device=dev).view(1, 1, 1, D))
    return x + write_noise_at(seed, WRITE_NOISE_STREAM_K + which, idx, sigma, x.dtype)


def quant_in(x: torch.Tensor, spec: tuple[int, float, float] | None) -> torch.Tensor:
    """Input quantizer (levels, lo, hi) with straight-through gradient; identity for None."""
    return x if spec is None else quantize_uniform(x, *spec)


def tile_out(y: torch.Tensor, ph: Physics) -> torch.Tensor:
    """Per-tile converter: clip and/or quantize (STE), as configured."""
    if ph.out_quant is not None:
        return quantize_output(y, ph.out_quant[0], ph.out_quant[1])
    if ph.out_clip is not None:
        return y.clamp(*ph.out_clip)
    return y


