"""Settings of the cost model: model shape, analog attention settings, gain-cell layout.

One dataclass per concern, validated on construction. Physical numbers are not defaulted here:
they come from the device card (energy, latency, levels, storage capacitance) or the cited table
(`reports/data/published_figures.json`). Bit widths and the storage capacitance default to None,
meaning "what the card was characterized with".
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaincell.errors import ConfigError

COST_MODES = ("gaincell", "linear_hw", "acam")
"""Analog attention modes with a hardware cost (`linear_hw` costs what `gaincell` costs)."""


def _pos_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(name, value, "integer >= 1")


@dataclass(frozen=True)
class ModelShape:
    """Transformer shape the costs are rolled up for.

    Attributes:
        name: label used in reports.
        n_layers: transformer blocks.
        n_heads: attention heads per layer.
        d_model: embedding width (the head dimension is d_model / n_heads).
        context_tokens: maximum context (n_positions), tokens.
    """

    name: str
    n_layers: int
    n_heads: int
    d_model: int
    context_tokens: int

    def __post_init__(self) -> None:
        for n in ("n_layers", "n_heads", "d_model", "context_tokens"):
            _pos_int(n, getattr(self, n))
        if self.d_model % self.n_heads:
            raise ConfigError("d_model", self.d_model, f"a multiple of n_heads={self.n_heads}")

    @property
    def d_head(self) -> int:
        """Head dimension (elements)."""
        return self.d_model // self.n_heads

    @classmethod
    def from_model_dir(cls, model_dir: str | Path) -> "ModelShape":
        """Shape of a saved transformers GPT-2 (its `config.json`)."""
        path = Path(model_dir) / "config.json"
        if not path.is_file():
            raise ConfigError("model", str(model_dir), "a save_pretrained folder with config.json")
        cfg = json.loads(path.read_text())
        try:
            return cls(Path(model_dir).name, int(cfg["n_layer"]), int(cfg["n_head"]),
                       int(cfg["n_embd"]), int(cfg["n_positions"]))
        except KeyError as exc:
            raise ConfigError(str(exc.args[0]), None, "a GPT-2 config key", source=str(path)) from None


GPT2_124M = ModelShape("gpt2-124M", n_layers=12, n_heads=12, d_model=768, context_tokens=1024)
"""GPT-2 small (124M parameters): the authors' model."""

def small_model_shape() -> ModelShape:
    """Shape of the small tinyshakespeare model: the co-design layer's `BaseModelConfig` defaults
    (its `train-base` command), so the two never disagree."""
    from co_design.train_base import BaseModelConfig

    b = BaseModelConfig()
    return ModelShape("tiny-shakespeare", n_layers=b.n_layer, n_heads=b.n_head, d_model=b.n_embd,
                      context_tokens=b.context)


def shape_named(name: str) -> ModelShape:
    """A preset shape: 'gpt2-124M' or 'tiny-shakespeare'."""
    if name == GPT2_124M.name:
        return GPT2_124M
    if name == "tiny-shakespeare":
        return small_model_shape()
    raise ConfigError("shape", name, "gpt2-124M | tiny-shakespeare")


@dataclass(frozen=True)
class TransistorSpec:
    """One transistor of the gain cell: sky130 kind ('nmos' | 'pmos'), W and L in micrometres."""

    role: str
    kind: str
    w_um: float
    l_um: float

    def __post_init__(self) -> None:
        if self.kind not in ("nmos", "pmos"):
            raise ConfigError(f"cell.{self.role}.kind", self.kind, "nmos | pmos")
        if not (self.w_um > 0 and self.l_um > 0):
            raise ConfigError(f"cell.{self.role}.size", (self.w_um, self.l_um), "W, L > 0 um")


def cell_from_circuit_config(config: dict[str, Any]) -> tuple[TransistorSpec, ...]:
    """Transistors of the gain cell as the circuits layer builds it (`GainCellConfig` fields:
    a pmos/nmos push-pull read pair and one write transistor; an IGZO write device is a
    back-end thin-film transistor, counted here at the silicon write size as a bound)."""
    try:
        return (
            TransistorSpec("read_p", "pmos", float(config["w_read_p_um"]), float(config["l_read_p_um"])),
            TransistorSpec("read_n", "nmos", float(config["w_read_n_um"]), float(config["l_read_n_um"])),
            TransistorSpec("write", "nmos", float(config["w_write_um"]), float(config["l_write_um"])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError("cell config", config, f"GainCellConfig fields ({exc})") from None


def circuit_default_config() -> dict[str, Any]:
    """The circuits layer's default gain-cell config (`circuits.gaincell_cell.GainCellConfig`)."""
    from circuits.gaincell_cell import GainCellConfig

    return dataclasses.asdict(GainCellConfig())


@dataclass(frozen=True)
class CostConfig:
    """Analog attention hardware settings the costs depend on.

    Attributes:
        mode: `gaincell` | `linear_hw` (two gain-cell arrays per head) | `acam` (the K array is
            an analog CAM; V stays a gain-cell array).
        window_tokens: sliding window W (tokens kept per head).
        array_rows: tokens per array (tile); tiles per head = ceil(W / array_rows).
        q_bits: query PWM bits (None: card `quant.q_levels`). The PWM time step is kept, so the
            full pulse t_max (and the read energy, current x time) scales with the level count.
        kv_bits: K/V DAC bits (None: card). Affects accuracy only in this model: the write energy
            is the storage charge C*V^2, independent of DAC resolution to first order.
        out_bits: per-tile converter output bits (None: card). The counter step is kept, so the
            converter latency and energy scale with the level count.
        c_store_f: storage capacitance, farads (None: the card's characterized value). Scales the
            write energy (C*V^2) and the MIM capacitor footprint.
        read_activity: fraction of the full-scale read energy spent per cell read (1.0 = every
            cell at full scale, the conservative bound).
        cell: transistors of one gain cell (areas from drawn sky130 pcells); None: those of the
            characterized circuit (its result.json config), else the circuits layer's defaults.
    """

    mode: str = "gaincell"
    window_tokens: int = 1024
    array_rows: int = 64
    q_bits: int | None = None
    kv_bits: int | None = None
    out_bits: int | None = None
    c_store_f: float | None = None
    read_activity: float = 1.0
    cell: tuple[TransistorSpec, ...] | None = None

    def __post_init__(self) -> None:
        if self.mode not in COST_MODES:
            raise ConfigError("mode", self.mode, " | ".join(COST_MODES))
        _pos_int("window_tokens", self.window_tokens)
        _pos_int("array_rows", self.array_rows)
        for n in ("q_bits", "kv_bits", "out_bits"):
            v = getattr(self, n)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 16):
                raise ConfigError(n, v, "None (card value) or integer bits 1..16")
        if self.c_store_f is not None and not (isinstance(self.c_store_f, (int, float)) and 0 < self.c_store_f < 1e-9):
            raise ConfigError("c_store_f", self.c_store_f, "None or a capacitance in (0, 1e-9) F")
        if not (isinstance(self.read_activity, (int, float)) and 0 < self.read_activity <= 1):
            raise ConfigError("read_activity", self.read_activity, "0 < activity <= 1")
        if self.cell is not None and not self.cell:
            raise ConfigError("cell", self.cell, "None or at least one transistor")

    @property
    def n_tiles(self) -> int:
        """Arrays per head per matrix (K or V)."""
        return -(-self.window_tokens // self.array_rows)

    def replace(self, **changes: Any) -> "CostConfig":
        """A validated copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (for JSON records and hashing)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_attention_config(cls, att: Any, **extra: Any) -> "CostConfig":
        """From a co_design AttentionConfig (or its dict): mode, window, array rows, bits and the
        storage capacitance (`c_store_f`, None: the card's) unless `extra` sets it."""
        d = att.to_dict() if hasattr(att, "to_dict") else dict(att)
        mode = d.get("mode", "gaincell")
        if mode not in COST_MODES:
            raise ConfigError("mode", mode, " | ".join(COST_MODES) + " (digital modes have no analog cost)")
        extra.setdefault("c_store_f", d.get("c_store_f"))
        return cls(mode=mode, window_tokens=int(d["window"]), array_rows=int(d["array_rows"]),
                   q_bits=d.get("q_bits"), kv_bits=d.get("kv_bits"), out_bits=d.get("out_bits"), **extra)
