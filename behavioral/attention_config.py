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
from behavioral.primitives import SURROGATES, cell_mismatch_gains, quantize_output, quantize_uniform
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
            arrays (requires the card to have characterized it).
        perfect: remove every non-ideality (linear cell, no decay, no quantization, no
            saturation of tile outputs, no mismatch); the HardSigmoid stays (it is the algorithm).
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
        if self.mismatch_seed is not None and (isinstance(self.mismatch_seed, bool)
                                               or not isinstance(self.mismatch_seed, int)):
            raise ConfigError("mismatch_seed", self.mismatch_seed, "None or an integer")

    def replace(self, **changes) -> "AnalogSettings":
        """A validated copy with some fields changed."""
        return replace(self, **changes)


# --- resolved physics ------------------------------------------------------------------------

@dataclass(frozen=True)
class Physics:
    """Resolved numbers: MAC model, saturation currents (A), ln of the per-token decay factor
    (0 without decay), quantizer specs (None: off), output clip range and mismatch (sigma, seed)."""

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


