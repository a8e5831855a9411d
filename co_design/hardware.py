"""Bridge from the model to the behavioral layer: device mapping and the attention cores.

`HardwareRuntime` is the emulator state shared by every attention layer of a model in an analog
mode. It owns no physics: the quantizers, the gain-cell core and the aCAM core come from
`behavioral`, every number from the device card. Its two jobs:
  * `to_device`: per-head scalers, then the card's converters: q -> PWM fractions (gain-cell
    modes) or search voltages (aCAM), k and v -> DAC-quantized stored volts. Straight-through
    gradients. This runs before GPT-2 writes k and v into its KV cache.
  * `attend`: the device-domain core on (B, H, T, D) tensors with absolute token positions.

Noise: the card's cell mismatch (fixed-pattern gain per array cell, drawn from `noise_seed`;
the pattern follows the circular buffer column, so incremental and full-sequence runs see the
same cells). A card whose mismatch is not characterized (`noise.mismatch_sigma_rel: null`)
emulates no noise; `noise_characterized` says so.
"""

from __future__ import annotations

import logging

import torch

from behavioral.attention import AnalogSettings, acam_attention, gaincell_attention
from behavioral.cards import HeadCard, default_card, load_card
from behavioral.primitives import quantize_uniform
from co_design.config import AttentionConfig
from co_design.scalers import HeadScalers
from gaincell.errors import ConfigError

log = logging.getLogger(__name__)


def load_attention_card(config: AttentionConfig) -> HeadCard:
    """The device card named by the config (the shipped default when `card_path` is None)."""
    return default_card() if config.card_path is None else load_card(config.card_path)


def _levels(bits: int | None) -> int | None:
    return None if bits is None else 2 ** bits


class HardwareRuntime:
    """Emulator state of one model in `linear_hw`, `gaincell` or `acam` mode."""

    def __init__(self, config: AttentionConfig):
        if not config.is_analog:
            raise ConfigError("mode", config.mode, "an analog mode (linear_hw | gaincell | acam)")
        self.card = load_attention_card(config)
        self.config = config
        self.noise_seed = config.noise_seed

    # --- settings derived from config + card --------------------------------------------------

    @property
    def noise_characterized(self) -> bool:
        """True when the card gives a mismatch sigma, so `noise` has an effect."""
        return self.card.noise.mismatch_sigma_rel is not None

    def settings(self) -> AnalogSettings:
        """The behavioral core settings for the current config and noise seed."""
        c = self.config
        if c.noise and not self.noise_characterized:
            log.debug("card %s has no mismatch sigma: emulating without noise", self.card.path)
        chunk = c.array_rows * max(1, 128 // c.array_rows)
        return AnalogSettings(
            window=c.window, array_rows=c.array_rows,
            mac="linear" if c.mode == "linear_hw" else "nonlinear",
            decay=c.decay,
            q_levels=_levels(c.q_bits), kv_levels=_levels(c.kv_bits), out_levels=_levels(c.out_bits),
            mismatch_seed=self.noise_seed if (c.noise and self.noise_characterized) else None,
            chunk=chunk, segment=chunk * max(1, 1024 // chunk),
        )

    def kv_offset_v(self) -> float:
        """Mid-range stored voltage (V): the initial b of the k and v scalers."""
        lo, hi = self.card.quant.kv_range_v
        return 0.5 * (lo + hi)

    # --- the two jobs -------------------------------------------------------------------------

    def to_device(self, layer_idx: int, scalers: HeadScalers, q: torch.Tensor, k: torch.Tensor,
                  v: torch.Tensor, positions: torch.Tensor):
        """Digital (B, H, T, D) q, k, v -> device domain (PWM fraction or volts, quantized)."""
        qt, c = self.card.quant, self.config
        kv_levels = _levels(c.kv_bits) or qt.kv_levels
        kv_lo, kv_hi = qt.kv_range_v
        if c.mode == "acam":  # the query is a search voltage from the same kind of DAC
            q_dev = quantize_uniform(scalers.scale("q", q), kv_levels, kv_lo, kv_hi)
        else:
            q_dev = quantize_uniform(scalers.scale("q", q), _levels(c.q_bits) or qt.q_levels, *qt.q_range)
        k_dev = quantize_uniform(scalers.scale("k", k), kv_levels, kv_lo, kv_hi)
        v_dev = quantize_uniform(scalers.scale("v", v), kv_levels, kv_lo, kv_hi)
        return q_dev, k_dev, v_dev

    def attend(self, layer_idx: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               q_pos: torch.Tensor, k_pos: torch.Tensor) -> torch.Tensor:
        """Device-domain core: (B, H, Tq, D) output (converter units; volts for aCAM)."""
        if q_pos.shape[0] > 1 and not bool((q_pos == q_pos[:1]).all()):
            raise ConfigError("position_ids", "different per sequence", "one position run for the whole batch")
        q0, k0 = int(q_pos[0, 0]), int(k_pos[0, 0])
        if self.config.mode == "acam":
            return acam_attention(q, k, v, self.card, self.config.window, q_pos=q0, k_pos=k0)
        return gaincell_attention(q, k, v, self.card, self.settings(), q_pos=q0, k_pos=k0, impl="fused")
