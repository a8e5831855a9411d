"""The one attention configuration of the co-design layer.

`AttentionConfig` says which attention a GPT-2 runs (`digital_swa`, `linear_hw`, `gaincell`,
`acam`) and with which emulator settings. It is validated on construction, travels in the saved
model's `config.json` under the key `gaincell_attention`, and is the only place these settings
live: the device physics (levels, ranges, time constants) come from the device card it names.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping

from gaincell.errors import ConfigError

CONFIG_KEY = "gaincell_attention"
"""Key of the attention config inside a model's `config.json`."""

MODES = ("digital_swa", "linear_hw", "gaincell", "acam")
"""Attention modes: softmax in a sliding window (the digital baseline P0), the linear hardware
model, the full nonlinear card-driven gain-cell model, and aCAM-similarity attention."""

ANALOG_MODES = ("linear_hw", "gaincell", "acam")
"""Modes whose keys and values are written to (emulated) analog memory."""


@dataclass(frozen=True)
class AttentionConfig:
    """Emulator settings of the swapped attention (units in the field docs).

    Attributes:
        mode: one of `MODES`.
        window: sliding-window length W in tokens; key j is visible from query i iff
            i - W < j <= i. Must not exceed the model's context (`n_positions`).
        array_rows: tokens per gain-cell array (tile); W must be a multiple of it in analog modes.
        q_bits: query PWM resolution in bits (None: the card's `quant.q_levels`).
        kv_bits: key/value DAC resolution in bits (None: the card's `quant.kv_levels`).
        out_bits: per-tile charge-to-pulse output resolution in bits (None: the card's
            `quant.out_levels`).
        noise: emulate the card's characterized noise: cell and converter mismatch, per-read
            noise and kT/C write noise, each where the card's field is not null (False:
            noise-free, for debugging).
        noise_seed: seed of the emulated noise (same seed, same noise, token by token); each
            layer derives its own mismatch seed (`co_design.hardware.layer_seed`) and its own
            read/write-noise seed (`co_design.hardware.temporal_seed`) from it.
        decay: emulate the leak of stored voltages with token age.
        card_path: device card JSON (None: `behavioral.cards.default_card()`).
        c_store_f: storage capacitance in farads (None: the card's characterized one); another
            value uses the card re-derived for it (`behavioral.c_store.card_with_c_store`:
            retention and kT/C write noise follow C_store).
    """

    mode: str = "digital_swa"
    window: int = 128
    array_rows: int = 64
    q_bits: int | None = None
    kv_bits: int | None = None
    out_bits: int | None = None
    noise: bool = True
    noise_seed: int = 0
    decay: bool = True
    card_path: str | None = None
    c_store_f: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError("mode", self.mode, " | ".join(MODES))
        for name in ("window", "array_rows"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, value, "integer >= 1")
        for name in ("q_bits", "kv_bits", "out_bits"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 16):
                raise ConfigError(name, value, "None (card default) or integer bits in 1..16")
        for name in ("noise", "decay"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, getattr(self, name), "true | false")
        if isinstance(self.noise_seed, bool) or not isinstance(self.noise_seed, int) or self.noise_seed < 0:
            raise ConfigError("noise_seed", self.noise_seed, "integer >= 0")
        if self.card_path is not None and not isinstance(self.card_path, str):
            raise ConfigError("card_path", self.card_path, "None or a path string")
        c = self.c_store_f
        if c is not None and (isinstance(c, bool) or not isinstance(c, (int, float)) or not math.isfinite(c)
                              or not 0 < c <= 1e-9):
            raise ConfigError("c_store_f", c, "None (the card's) or a capacitance in farads, 0 < C <= 1e-9")
        if self.is_analog and self.window % self.array_rows:
            raise ConfigError(
                "window", self.window, f"a multiple of array_rows={self.array_rows} in analog modes"
            )

    @property
    def is_analog(self) -> bool:
        """True when keys/values live in emulated analog memory."""
        return self.mode in ANALOG_MODES

    def check_context(self, n_positions: int) -> None:
        """Raise ConfigError when the window is larger than the model's context (tokens)."""
        if self.window > n_positions:
            raise ConfigError("window", self.window, f"<= the model context n_positions={n_positions}")

    def replace(self, **changes: Any) -> "AttentionConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict, as stored in `config.json`."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], source: str | None = None) -> "AttentionConfig":
        """Build from a dict (e.g. `config.json`'s `gaincell_attention`); unknown keys are errors."""
        if not isinstance(data, Mapping):
            raise ConfigError(CONFIG_KEY, data, "a JSON object", source=source)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(unknown[0], data[unknown[0]], "one of " + ", ".join(sorted(known)), source=source)
        try:
            return cls(**dict(data))
        except ConfigError as exc:
            if source is None:
                raise
            raise ConfigError(exc.field, exc.value, exc.allowed, source=source) from None
