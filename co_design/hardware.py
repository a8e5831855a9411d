"""Bridge from the model to the behavioral layer: device mapping and the attention cores.

`HardwareRuntime` is the emulator state shared by every attention layer of a model in an analog
mode. It owns no physics: the quantizers, the gain-cell core and the aCAM core come from
`behavioral`, every number from the device card. Its two jobs:
  * `to_device`: per-head scalers, then the card's converters: q -> PWM fractions (gain-cell
    modes) or search voltages (aCAM), k and v -> DAC-quantized stored volts. Straight-through
    gradients. This runs before GPT-2 writes k and v into its KV cache.
  * `attend`: the device-domain core on (B, H, T, D) tensors whose tokens are all real, with
    the absolute positions of the first query and key (padding: `co_design.padding`). In aCAM
    mode it passes the per-head temperature of the layer's scalers to the core.

Noise (config `noise` on), each source only where the card characterizes it (a null field
emulates nothing of that source; `noise_sources` lists what is emulated):
  * cell and converter mismatch: fixed-pattern gains (and converter offsets) per array cell
    and key column. Every layer has its own arrays, so every layer draws its own pattern, from
    `layer_seed(noise_seed, layer_idx)` = (noise_seed + layer_idx * 0x9E3779B9) mod 2**32 (the
    32-bit golden-ratio stride: layer 0 keeps `noise_seed` itself, and no two (seed, layer)
    pairs collide for up to 128 layers and seeds less than 2e7 apart). The pattern follows the
    circular-buffer column, so incremental and full-sequence runs see the same cells.
  * aCAM window mismatch (mode `acam`, `noise.acam_edge_sigma_v`): a fixed-pattern offset of
    every aCAM cell's window centre (head, key slot = position mod W, dim), drawn from the same
    `layer_seed(noise_seed, layer_idx)` by the counter hash (`behavioral.attention_acam`), so
    padded batches, generate and a full forward meet the same cells. The gain-cell sources are
    not emulated in `acam` mode, nor the aCAM mismatch in the gain-cell modes.
  * per-read noise (`noise.read_noise_rel`) and kT/C write noise (`noise.write_noise_v`): drawn
    from `temporal_seed(noise_seed, layer_idx)` = layer_seed(noise_seed, layer_idx) XOR
    0x5851F42D, a different derivation (and a different generator: the behavioral layer's
    counter hash, where the mismatch uses torch.Generator), so they are independent of the
    mismatch. The draws are addressed by head and token positions, not by batch row, so a
    sequence meets the same noise alone, padded or in any batch row, and in generate and a full
    forward alike.
The card is `load_attention_card(config)`: the config's card, re-derived for `c_store_f` when
the config sets one (`behavioral.c_store.card_with_c_store`).
"""

from __future__ import annotations

import logging

import torch

from behavioral.attention import AnalogSettings, acam_attention, gaincell_attention
from behavioral.attention_acam import AcamMismatch, acam_log_match, acam_mismatch
from behavioral.c_store import card_with_c_store
from behavioral.cards import HeadCard, default_card, load_card
from behavioral.primitives import quantize_uniform
from co_design.config import AttentionConfig
from co_design.logit_stats import LogitSpread, window_visibility
from co_design.scalers import HeadScalers
from gaincell.errors import ConfigError

log = logging.getLogger(__name__)

LAYER_SEED_STRIDE = 0x9E3779B9
"""Seed distance between consecutive layers (2**32 / golden ratio, odd)."""


def layer_seed(noise_seed: int, layer_idx: int) -> int:
    """The mismatch seed of layer `layer_idx`: (noise_seed + layer_idx * 0x9E3779B9) mod 2**32."""
    if isinstance(layer_idx, bool) or not isinstance(layer_idx, int) or layer_idx < 0:
        raise ConfigError("layer_idx", layer_idx, "integer >= 0")
    return (int(noise_seed) + layer_idx * LAYER_SEED_STRIDE) % (1 << 32)


TEMPORAL_SEED_SALT = 0x5851F42D
"""XOR salt of the read/write-noise seeds (distinct from the mismatch seeds' derivation)."""


def temporal_seed(noise_seed: int, layer_idx: int) -> int:
    """The read- and write-noise seed of layer `layer_idx`: layer_seed(noise_seed, layer_idx) XOR
    0x5851F42D (one-to-one in the mismatch seed, never equal to it)."""
    return layer_seed(noise_seed, layer_idx) ^ TEMPORAL_SEED_SALT


def load_attention_card(config: AttentionConfig) -> HeadCard:
    """The device card named by the config (the shipped default when `card_path` is None),
    re-derived for the config's storage capacitance when it sets `c_store_f`."""
    card = default_card() if config.card_path is None else load_card(config.card_path)
    return card if config.c_store_f is None else card_with_c_store(card, config.c_store_f)


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
    def characterized_noise(self) -> tuple[str, ...]:
        """The noise sources of this mode's core that the card characterizes: 'mismatch' (cell
        gains, with the converters' when their sigmas are set), 'read_noise', 'write_noise' in
        the gain-cell modes; 'acam_mismatch' (`noise.acam_edge_sigma_v`) in mode `acam`."""
        n = self.card.noise
        if self.config.mode == "acam":
            found = (("acam_mismatch", n.acam_edge_sigma_v),)
        else:
            found = (("mismatch", n.mismatch_sigma_rel), ("read_noise", n.read_noise_rel),
                     ("write_noise", n.write_noise_v))
        return tuple(name for name, value in found if value is not None)

    @property
    def noise_characterized(self) -> bool:
        """True when the card characterizes any noise source, so `noise` can have an effect."""
        return bool(self.characterized_noise)

    @property
    def noise_sources(self) -> tuple[str, ...]:
        """The noise sources emulated now: the characterized ones when the config's `noise` is on."""
        if not self.config.noise:
            return ()
        return self.characterized_noise

    @property
    def records_logits(self) -> bool:
        """True when the mode has softmax logits whose spread the adaptation matches (aCAM)."""
        return self.config.mode == "acam"

    def settings(self, layer_idx: int) -> AnalogSettings:
        """The behavioral core settings of layer `layer_idx` (its own mismatch and read/write
        noise seeds; a source the card does not characterize stays off)."""
        c = self.config
        if c.noise and not self.noise_characterized:
            log.debug("card %s characterizes no noise: emulating without noise", self.card.path)
        on = self.noise_sources
        temporal = temporal_seed(self.noise_seed, layer_idx)
        chunk = c.array_rows * max(1, 128 // c.array_rows)
        return AnalogSettings(
            window=c.window, array_rows=c.array_rows,
            mac="linear" if c.mode == "linear_hw" else "nonlinear",
            decay=c.decay,
            q_levels=_levels(c.q_bits), kv_levels=_levels(c.kv_bits), out_levels=_levels(c.out_bits),
            mismatch_seed=layer_seed(self.noise_seed, layer_idx) if "mismatch" in on else None,
            read_noise_seed=temporal if "read_noise" in on else None,
            write_noise_seed=temporal if "write_noise" in on else None,
            chunk=chunk, segment=chunk * max(1, 1024 // chunk),
        )

    def acam_mismatch_seed(self, layer_idx: int) -> int | None:
        """The aCAM window-mismatch seed of layer `layer_idx` (`layer_seed`), None when not emulated."""
        return layer_seed(self.noise_seed, layer_idx) if "acam_mismatch" in self.noise_sources else None

    def kv_offset_v(self) -> float:
        """Mid-range stored voltage (V): the initial b of the k and v scalers."""
        lo, hi = self.card.quant.kv_range_v
        return 0.5 * (lo + hi)

    # --- the two jobs -------------------------------------------------------------------------

    def to_device(self, layer_idx: int, scalers: HeadScalers, q: torch.Tensor, k: torch.Tensor,
                  v: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor | None = None):
        """Digital (B, H, T, D) q, k, v -> device domain (PWM fraction or volts, quantized).

        `valid`: (B, T) bool of the real tokens, whose statistics the scalers record (None: all).
        """
        qt, c = self.card.quant, self.config
        kv_levels = _levels(c.kv_bits) or qt.kv_levels
        kv_lo, kv_hi = qt.kv_range_v
        if c.mode == "acam":  # the query is a search voltage from the same kind of DAC
            q_dev = quantize_uniform(scalers.scale("q", q, valid), kv_levels, kv_lo, kv_hi)
        else:
            q_dev = quantize_uniform(scalers.scale("q", q, valid), _levels(c.q_bits) or qt.q_levels,
                                     *qt.q_range)
        k_dev = quantize_uniform(scalers.scale("k", k, valid), kv_levels, kv_lo, kv_hi)
        v_dev = quantize_uniform(scalers.scale("v", v, valid), kv_levels, kv_lo, kv_hi)
        return q_dev, k_dev, v_dev

    def attend(self, layer_idx: int, scalers: HeadScalers, q: torch.Tensor, k: torch.Tensor,
               v: torch.Tensor, q0: int, k0: int, spread: LogitSpread | None = None) -> torch.Tensor:
        """Device-domain core: (B, H, Tq, Dv) output (converter units; volts for aCAM).

        q (B, H, Tq, D), k and v (B, H, Tk, D): real tokens only, at consecutive absolute
        positions starting at q0 (queries) and k0 (keys). `spread`: in aCAM mode, accumulate
        the softmax logits' spread (log m / tau over the window) for the adaptation.
        """
        if self.config.mode == "acam":
            tau = scalers.temperature()
            seed = self.acam_mismatch_seed(layer_idx)
            if spread is not None:
                mm = acam_mismatch(self.card, seed, self.config.window)
                self._add_acam_spread(spread, q, k, tau, q0, k0, mm)
            return acam_attention(q, k, v, self.card, self.config.window, q_pos=q0, k_pos=k0,
                                  temperature=tau, mismatch_seed=seed)
        return gaincell_attention(q, k, v, self.card, self.settings(layer_idx), q_pos=q0, k_pos=k0,
                                  impl="fused")

    def _add_acam_spread(self, spread: LogitSpread, q: torch.Tensor, k: torch.Tensor,
                         tau: torch.Tensor, q0: int, k0: int, mm: AcamMismatch | None = None) -> None:
        tau4 = tau.detach().float()[None, :, None, None]
        tk, window = k.shape[2], self.config.window
        with torch.no_grad():
            spread.add_chunked(lambda i0, i1: acam_log_match(q[:, :, i0:i1], k, self.card, mm, k0) / tau4,
                               lambda i0, i1: window_visibility(q0, k0, i0, i1, tk, window, q.device),
                               q.shape[2])
