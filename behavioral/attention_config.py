"""Settings of the gain-cell attention core and the device physics they resolve to.

`AnalogSettings` holds the emulator switches (window, tiles, quantization, decay, mismatch,
`perfect`); `resolve_physics(card, settings)` combines them with a device card into the numbers
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
    cell_mismatch_gains,
    column_read_sigma,
    converter_mismatch,
    quantize_output,
    quantize_uniform,
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
            the bitline) (requires the card to have characterized it). Each read (batch, head,
            query position, key position or tile and output column) draws its own value,
            identical in both implementations and in KV-cache steps.
        perfect: remove every non-ideality (linear cell, no decay, no quantization, no
            saturation of tile outputs, no mismatch, no noise); the HardSigmoid stays (it is the
            algorithm).
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
        for name in ("mismatch_seed", "read_noise_seed"):
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
    seed), converter mismatch (gain sigma, offset sigma in units of the saturation input, seed)
    and read noise (one cell's sigma in amperes of mean current, seed); None: off."""

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
    """(gain, offset) of the Q.K converter of each (head, key column), each (H, W); None: ideal."""
    if ph.c2p_mismatch is None:
        return None
    g_sigma, o_sigma, seed = ph.c2p_mismatch
    return converter_mismatch((heads, window), g_sigma, o_sigma, seed, device, dtype)


READ_NOISE_STREAM_QK = 0
"""Stream of the Q.K column reads: indices (batch * H + head, key position, query position)."""
READ_NOISE_STREAM_SV = 1
"""Stream of the S.V tile bitline reads: indices (batch * H + head, tile, query position, column)."""


def read_noise_sigmas(ph: Physics, dim: int, rows: int) -> tuple[float, float] | None:
    """Read-noise sigma of a Q.K column (`dim` cells) in units of s_sat_qk and of an S.V tile
    bitline (`rows` cells) in units of s_sat_sv; None without read noise."""
    if ph.read_noise is None:
        return None
    sigma_cell_a = ph.read_noise[0]
    return (column_read_sigma(1.0, sigma_cell_a, dim) / ph.s_qk,
            column_read_sigma(1.0, sigma_cell_a, rows) / ph.s_sv)


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


