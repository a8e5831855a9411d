"""Energy, latency and area of gain-cell attention, from a device card and the cited table.

Per head and per generated token, at token position t (0-based), the window holds
n = min(t + 1, W) tokens in ceil(n / array_rows) active tiles. Components:

- `kv_write`: the new token's K and V columns, 2 * d_head cell writes (card `energy.cell_write_j`,
  scaled by C / C_card when the storage capacitance is swept).
- `qk_array_read` (or `acam_search`) and `sv_array_read`: d_head * n cell reads each (card
  `energy.mac_read_j` at full scale, times `read_activity`; the Q.K read scales with the PWM
  full-scale time when q_bits differs from the card).
- `pwm_q_drive`: d_head query rows per active tile; `phi_drive_v`: n phi(S) lines on the V array
  (card `energy.pwm_pulse_j` per driven line, scaled by the cells a line crosses relative to the
  `energy.pwm_load_cells` cells of the line the driver was characterized on).
- `c2p_qk`: n conversions (phi(S)); `c2p_sv`: d_head per active tile (card `energy.c2p_conversion_j`).
- `digital_scalers`: a*x+b on q, k, v and output (4 * d_head 8-bit multiplies and adds,
  Horowitz 2014); `tile_accumulation`: (tiles - 1) * d_head adds; `control_routing`: the authors'
  4 nJ per token per head (Leroux 2025).
Per layer, `digital_projections` (Q/K/V and output projections that stay digital) are kept apart
from the attention core, which is what the paper's figures cover.
Area: the gain-cell arrays (drawn sky130 geometry of the characterized cell), `pwm_drivers`
(d_head x tiles row drivers) and `c2p_converters` (W + d_head x tiles converters), each unit's
area the card's `area.pwm_driver_area_m2` / `area.c2p_area_m2` when set, else drawn from its
device inventory `area.pwm_driver_devices` / `area.c2p_devices` (`inventory_area`), and the
authors' digital control.
Every number is a `Sourced` whose source names the card field, table entry or formula.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from gaincell.errors import CardError
from reports.card_view import DEVICE_FIELDS, CardView
from reports.config import CostConfig, ModelShape, TransistorSpec, cell_from_circuit_config, circuit_default_config
from reports.figures import Sourced, published
from reports.geometry import mim_capacitor_area, transistor_area


def _derived(value: float, unit: str, formula: str, *inputs: Sourced) -> Sourced:
    srcs = "; ".join(dict.fromkeys(i.source for i in inputs))
    return Sourced(float(value), unit, f"derived: {formula} | from: {srcs}")


def _sum(items: dict[str, Sourced], unit: str, what: str) -> Sourced:
    return Sourced(sum(v.value for v in items.values()), unit, f"derived: sum of {what} ({', '.join(items)})")


PERIPHERY_UNITS: dict[str, tuple[str, str]] = {
    "pwm_driver": ("area.pwm_driver_area_m2", "PWM row driver"),
    "c2p": ("area.c2p_area_m2", "charge-to-pulse converter"),
}
"""Periphery unit -> (card area field, what one unit is)."""


def inventory_area(inv: Mapping[str, Any], what: str, source: str) -> dict[str, Sourced]:
    """Footprint (m^2) of one periphery unit from its device inventory (as `CardView.devices`
    returns it: fets as (kind, w_um, l_um, count), capacitors in farads), `source` naming the card
    field it came from.

    area = layout overhead x (sum of the drawn sky130 transistor boxes x their counts + sum of the
    sky130 MIM capacitor boxes). Unlike the gain cell's max(transistors, MIM), the capacitors are
    counted beside the transistors, not stacked over them (an upper bound for this layout).
    Returns {"transistors_m2", "mim_capacitors_m2", "area_m2", "transistor_count" (devices),
    "capacitor_count" (devices)}.
    """
    fets, caps = list(inv["fets"]), list(inv["capacitors_f"])
    n_fets = sum(n for *_, n in fets)
    boxes = [(transistor_area(k, w, l), n) for k, w, l, n in fets]
    trans = Sourced(sum(a.value * n for a, n in boxes), "m^2",
                    f"derived: sum of drawn transistor boxes x counts of {n_fets} devices ({source}) | from: "
                    + ("; ".join(f"{a.source} x{n}" for a, n in boxes) or "no transistors"))
    mims = [mim_capacitor_area(c) for c in caps]
    mim = Sourced(sum(m.value for m in mims), "m^2",
                  f"derived: sum of MIM capacitor boxes of {len(caps)} capacitors "
                  f"({', '.join(f'{c:.4g} F' for c in caps) or 'none'}; {source})"
                  + (f" | from: {mims[0].source}" if mims else ""))
    ovh = published("assumption.layout_overhead")
    area = _derived(ovh.value * (trans.value + mim.value), "m^2",
                    f"{source}: layout overhead x (transistors + MIM capacitors beside them) of one {what}",
                    ovh, trans, mim)
    return {"transistors_m2": trans, "mim_capacitors_m2": mim, "area_m2": area,
            "transistor_count": Sourced(float(n_fets), "devices", f"sum of the transistor counts in {source}"),
            "capacitor_count": Sourced(float(len(caps)), "devices", f"capacitors listed in {source}")}


def _periphery_areas(view: CardView, fields: dict[str, Sourced | None]) -> dict[str, dict[str, Sourced]]:
    """Per periphery unit whose card area is null but whose device inventory is present: its area
    drawn from the inventory (`inventory_area`). `fields` gets that area in place of the null."""
    out: dict[str, dict[str, Sourced]] = {}
    for unit, (area_field, what) in PERIPHERY_UNITS.items():
        if fields.get(area_field) is not None:
            continue
        dev_field = DEVICE_FIELDS[area_field]
        inv = view.devices(dev_field)
        if inv is None:
            continue
        out[unit] = inventory_area(inv, what, f"card {view.name}#{dev_field}")
        fields[area_field] = out[unit]["area_m2"]
    return out


def _characterized_circuit(view: CardView) -> tuple[dict[str, Any], str] | None:
    """The config of the gain-cell characterization the card was fitted from
    (`provenance.characterizations.gaincell.folder`/result.json), if readable."""
    chars = (view.data.get("provenance") or {}).get("characterizations") or {}
    folder = (chars.get("gaincell") or {}).get("folder") if isinstance(chars, dict) else None
    if not folder:
        return None
    path = Path(folder) / "result.json"
    try:
        config = json.loads(path.read_text()).get("config")
    except (OSError, ValueError):
        return None
    if not isinstance(config, dict):
        return None
    # the circuit's GainCellConfig sits at `config` or one level down (e.g. `config.cell`)
    for key, sub in [("", config), *[(k, v) for k, v in config.items() if isinstance(v, dict)]]:
        if "c_store_f" in sub and "w_read_n_um" in sub:
            return sub, f"characterization {path}#config" + (f".{key}" if key else "")
    return None


def _circuit(view: CardView) -> tuple[dict[str, Any], str]:
    """Gain-cell circuit config: the one the card carries, else the characterization folder the
    card names (older cards), else the circuits layer's defaults."""
    found = view.circuit_config() or _characterized_circuit(view)
    if found is not None:
        return found
    return circuit_default_config(), "circuits.gaincell_cell.GainCellConfig defaults"


@dataclass(frozen=True)
class DeviceFigures:
    """The card and table numbers the model uses, resolved once (with sources). A card field
    that is null ("not characterized") is None here; components that need it are left out of
    the totals and listed by `CostModel.missing()`."""

    card: CardView
    fields: dict[str, Sourced | None]
    c_store_card: Sourced
    acam_sense_time: Sourced | None
    cell: tuple[TransistorSpec, ...]
    cell_source: str
    periphery: Mapping[str, dict[str, Sourced]] = field(default_factory=dict)
    """Periphery units (`pwm_driver`, `c2p`) whose area was drawn from the card's device
    inventory (the card's area being null): the breakdown of `inventory_area`."""

    @classmethod
    def resolve(cls, card: Any, cfg: CostConfig) -> "DeviceFigures":
        view = card if isinstance(card, CardView) else CardView.from_any(card)
        acam = cfg.mode == "acam"
        fields = view.required(acam=acam)
        periphery = _periphery_areas(view, fields)
        circuit, circuit_src = _circuit(view)
        c_card = view.find("c_store_f", "F")
        if c_card is None:
            if not isinstance(circuit.get("c_store_f"), (int, float)):
                raise CardError(view.name, "c_store_f", f"missing here and in {circuit_src}")
            c_card = Sourced(float(circuit["c_store_f"]), "F", f"{circuit_src}.c_store_f")
        sense = view.acam_sense_time() if acam else None
        if cfg.cell is not None:
            cell, cell_src = cfg.cell, "config: CostConfig.cell"
        else:
            cell, cell_src = cell_from_circuit_config(circuit), circuit_src
        return cls(view, fields, c_card, sense, cell, cell_src, periphery)

    def __getitem__(self, key: str) -> Sourced | None:
        return self.fields[key]


@dataclass(frozen=True)
class Missing:
    """A component left out of a total: which card fields are not characterized, and why."""

    component: str
    fields: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class CostModel:
    """Costs of one analog attention configuration on one model shape."""

    shape: ModelShape
    cfg: CostConfig
    dev: DeviceFigures

    @classmethod
    def build(cls, card: Any, shape: ModelShape, cfg: CostConfig) -> "CostModel":
        """Resolve the card's numbers for `cfg` (raises CardError for an absent field)."""
        return cls(shape, cfg, DeviceFigures.resolve(card, cfg))

    # ---- helpers -------------------------------------------------------------------------
    def _lacking(self, fields: Sequence[str]) -> tuple[str, ...]:
        return tuple(f for f in fields if self.dev[f] is None)

    def _put(self, out: dict[str, Sourced], name: str, fields: Sequence[str],
             compute: Callable[[], Sourced]) -> None:
        if not self._lacking(fields):
            out[name] = compute()

    def _level_scale(self, bits: int | None, card_field: str) -> tuple[float, Sourced]:
        card_levels = self.dev[card_field]
        assert card_levels is not None  # quant levels are never null in a valid card
        if bits is None:
            return 1.0, card_levels
        return ((2 ** bits) - 1) / max(card_levels.value - 1, 1), card_levels

    @property
    def c_store(self) -> Sourced:
        """Storage capacitance used (F): the config's sweep value, else the card's / circuit's."""
        if self.cfg.c_store_f is not None:
            return Sourced(self.cfg.c_store_f, "F", "config: CostConfig.c_store_f")
        return self.dev.c_store_card

    def _c_scale(self) -> float:
        if self.cfg.c_store_f is None:
            return 1.0
        return self.cfg.c_store_f / self.dev.c_store_card.value

    def _energy_needs(self) -> dict[str, tuple[str, ...]]:
        k_side = ("energy.acam_search_j",) if self.cfg.mode == "acam" else ("energy.mac_read_j",)
        return {"kv_write": ("energy.cell_write_j",),
                ("acam_search" if self.cfg.mode == "acam" else "qk_array_read"): k_side,
                "sv_array_read": ("energy.mac_read_j",),
                "pwm_q_drive": ("energy.pwm_pulse_j", "energy.pwm_load_cells"),
                "phi_drive_v": ("energy.pwm_pulse_j", "energy.pwm_load_cells"),
                "c2p_qk": ("energy.c2p_conversion_j",), "c2p_sv": ("energy.c2p_conversion_j",)}

    def _latency_needs(self) -> dict[str, tuple[str, ...]]:
        return {"kv_write": ("latency.write_time_s",),
                "qk_pwm_read": ("latency.t_max_s",),
                "c2p_qk": ("latency.c2p_latency_s",),
                "sv_pwm_read": ("latency.t_max_s",),
                "bitline_settling": ("latency.settling_time_s",),
                "c2p_sv": ("latency.c2p_latency_s",)}

    def _area_needs(self) -> dict[str, tuple[str, ...]]:
        needs = {"pwm_drivers": ("area.pwm_driver_area_m2",), "c2p_converters": ("area.c2p_area_m2",)}
        if self.cfg.mode == "acam":
            needs["k_acam_array"] = ("area.acam_cell_area_m2",)
        return needs

    def missing(self) -> list[Missing]:
        """Components left out of the totals because the card does not characterize them."""
        out = []
        for kind, needs in (("energy", self._energy_needs()), ("latency", self._latency_needs()),
                            ("area", self._area_needs())):
            for comp, fields in needs.items():
                lack = self._lacking(fields)
                if lack:
                    out.append(Missing(f"{kind}.{comp}", lack, "; ".join(self.dev.card.why_missing(f) for f in lack)))
        if self.cfg.mode == "acam" and self.dev.acam_sense_time is None:
            out.append(Missing("latency.qk_search", ("acam.sense_time_s",), "not in the card"))
        return out

    # ---- energy --------------------------------------------------------------------------
    def energy_per_head(self, position: int) -> dict[str, Sourced]:
        """Energy (J) of one head for the token at `position` (0-based), by component
        (components whose card fields are null are absent: see `missing()`)."""
        if position < 0:
            raise ValueError("position must be >= 0")
        d = self.shape.d_head
        n = min(position + 1, self.cfg.window_tokens)
        tiles = -(-n // self.cfg.array_rows)
        e = self.dev
        sq, q_lv = self._level_scale(self.cfg.q_bits, "quant.q_levels")
        so, o_lv = self._level_scale(self.cfg.out_bits, "quant.out_levels")
        sc = self._c_scale()
        act = self.cfg.read_activity
        need = self._energy_needs()
        out: dict[str, Sourced] = {}
        self._put(out, "kv_write", need["kv_write"], lambda: _derived(
            2 * d * e["energy.cell_write_j"].value * sc, "J",
            f"2 x d_head({d}) x cell_write_j x C/C_card({sc:g})", e["energy.cell_write_j"]))
        if self.cfg.mode == "acam":
            self._put(out, "acam_search", need["acam_search"], lambda: _derived(
                d * n * e["energy.acam_search_j"].value, "J", f"d_head({d}) x tokens({n}) x acam_search_j",
                e["energy.acam_search_j"]))
        else:
            self._put(out, "qk_array_read", need["qk_array_read"], lambda: _derived(
                d * n * e["energy.mac_read_j"].value * act * sq, "J",
                f"d_head({d}) x tokens({n}) x mac_read_j x activity({act:g}) x PWM levels scale({sq:g})",
                e["energy.mac_read_j"], q_lv))
        self._put(out, "sv_array_read", need["sv_array_read"], lambda: _derived(
            d * n * e["energy.mac_read_j"].value * act, "J",
            f"d_head({d}) x tokens({n}) x mac_read_j x activity({act:g})", e["energy.mac_read_j"]))
        # pwm_pulse_j was measured on a read line loaded by pwm_load_cells cells; a query row
        # crosses array_rows cells of its tile, a phi(S) line crosses d_head value cells
        load = e["energy.pwm_load_cells"]
        self._put(out, "pwm_q_drive", need["pwm_q_drive"], lambda: _derived(
            d * tiles * e["energy.pwm_pulse_j"].value * self.cfg.array_rows / load.value, "J",
            f"d_head({d}) x tiles({tiles}) x pwm_pulse_j x row length {self.cfg.array_rows}/{load.value:g}",
            e["energy.pwm_pulse_j"], load))
        self._put(out, "phi_drive_v", need["phi_drive_v"], lambda: _derived(
            n * e["energy.pwm_pulse_j"].value * d / load.value, "J",
            f"tokens({n}) x pwm_pulse_j x line length {d}/{load.value:g}", e["energy.pwm_pulse_j"], load))
        self._put(out, "c2p_qk", need["c2p_qk"], lambda: _derived(
            n * e["energy.c2p_conversion_j"].value, "J", f"tokens({n}) x c2p_conversion_j",
            e["energy.c2p_conversion_j"]))
        self._put(out, "c2p_sv", need["c2p_sv"], lambda: _derived(
            d * tiles * e["energy.c2p_conversion_j"].value * so, "J",
            f"d_head({d}) x tiles({tiles}) x c2p_conversion_j x out levels scale({so:g})",
            e["energy.c2p_conversion_j"], o_lv))
        mul, add = published("horowitz2014.int8_mult_j"), published("horowitz2014.int32_add_j")
        add8 = published("horowitz2014.int8_add_j")
        out["digital_scalers"] = _derived(4 * d * (mul.value + add.value), "J",
                                          f"4 signals x d_head({d}) x (int8 mult + int32 add)", mul, add)
        out["tile_accumulation"] = _derived(d * (tiles - 1) * add8.value, "J",
                                            f"d_head({d}) x (tiles({tiles}) - 1) x int8 add", add8)
        out["control_routing"] = published("leroux2025.digital_control_energy_per_token_per_head_j")
        return out

    def projection_energy_per_layer(self) -> Sourced:
        """Energy (J) per token of the Q/K/V and output projections that stay digital (one layer):
        4 d_model^2 int8 MACs plus fetching the int8 weights from SRAM (64-bit words)."""
        dm = self.shape.d_model
        macs = 4 * dm * dm
        mul, add = published("horowitz2014.int8_mult_j"), published("horowitz2014.int32_add_j")
        sram = published("horowitz2014.sram_1mb_read_64b_j")
        value = macs * (mul.value + add.value) + (macs / 8) * sram.value
        return _derived(value, "J", f"4 d_model^2 ({macs}) x (int8 mult + int32 add) + {macs}/8 x "
                        "64-bit SRAM read", mul, add, sram)

    def energy_per_token(self, position: int) -> dict[str, Sourced]:
        """Energy (J) per generated token at `position`: per head, per layer and whole model."""
        head = _sum(self.energy_per_head(position), "J", "head components")
        h, layers = self.shape.n_heads, self.shape.n_layers
        core_layer = _derived(head.value * h, "J", f"n_heads({h}) x per-head energy", head)
        proj = self.projection_energy_per_layer()
        return {
            "attention_core_per_head_j": head,
            "attention_core_per_layer_j": core_layer,
            "attention_core_model_j": _derived(core_layer.value * layers, "J",
                                               f"n_layers({layers}) x per-layer core", core_layer),
            "digital_projections_per_layer_j": proj,
            "with_projections_model_j": _derived((core_layer.value + proj.value) * layers, "J",
                                                 f"n_layers({layers}) x (core + projections)", core_layer, proj),
        }

    def mean_energy_per_head(self, context_tokens: int) -> dict[str, Sourced]:
        """Per-component energy per head averaged over generating tokens 0..context_tokens-1 (J)."""
        if context_tokens < 1:
            raise ValueError("context_tokens must be >= 1")
        acc: dict[str, float] = {}
        sources: dict[str, Sourced] = {}
        for t in range(context_tokens):
            for k, v in self.energy_per_head(t).items():
                acc[k] = acc.get(k, 0.0) + v.value
                sources[k] = v
        return {k: Sourced(acc[k] / context_tokens, "J",
                           f"mean over token positions 0..{context_tokens - 1} of ({sources[k].source})")
                for k in acc}

    # ---- latency -------------------------------------------------------------------------
    def latency_per_layer(self) -> dict[str, Sourced]:
        """Latency (s) of one attention layer for one token, heads in parallel, by stage
        (stages whose card fields are null are absent: see `missing()`)."""
        e = self.dev
        sq, q_lv = self._level_scale(self.cfg.q_bits, "quant.q_levels")
        so, o_lv = self._level_scale(self.cfg.out_bits, "quant.out_levels")
        clk = published("assumption.digital_clock_period_s")
        stages = math.ceil(math.log2(self.cfg.n_tiles)) if self.cfg.n_tiles > 1 else 0
        need = self._latency_needs()
        out: dict[str, Sourced] = {}
        self._put(out, "kv_write", need["kv_write"], lambda: e["latency.write_time_s"])
        if self.cfg.mode == "acam":
            if e.acam_sense_time is not None:
                out["qk_search"] = e.acam_sense_time
        else:
            self._put(out, "qk_pwm_read", need["qk_pwm_read"], lambda: _derived(
                e["latency.t_max_s"].value * sq, "s", f"t_max x PWM levels scale({sq:g})",
                e["latency.t_max_s"], q_lv))
        self._put(out, "c2p_qk", need["c2p_qk"], lambda: e["latency.c2p_latency_s"])
        self._put(out, "sv_pwm_read", need["sv_pwm_read"], lambda: e["latency.t_max_s"])
        self._put(out, "bitline_settling", need["bitline_settling"], lambda: _derived(
            2 * e["latency.settling_time_s"].value, "s", "2 reads x settling_time",
            e["latency.settling_time_s"]))
        self._put(out, "c2p_sv", need["c2p_sv"], lambda: _derived(
            e["latency.c2p_latency_s"].value * so, "s", f"c2p_latency x out levels scale({so:g})",
            e["latency.c2p_latency_s"], o_lv))
        out["tile_accumulation"] = _derived(stages * clk.value, "s", f"adder-tree stages({stages}) x clock period", clk)
        return out

    def latency_per_token(self) -> dict[str, Sourced]:
        """Latency (s) per token: one layer, and the attention of all layers in sequence."""
        layer = _sum(self.latency_per_layer(), "s", "layer stages")
        n = self.shape.n_layers
        return {"attention_per_layer_s": layer,
                "attention_model_s": _derived(layer.value * n, "s", f"n_layers({n}) x per-layer", layer)}

    # ---- area ----------------------------------------------------------------------------
    def cell_area(self) -> dict[str, Sourced]:
        """Gain-cell footprint (m^2): layout overhead x max(drawn sky130 transistors, MIM capacitor
        above them), plus the card's own `area.cell_area_m2` (when set) as a cross-check."""
        parts = [transistor_area(t.kind, t.w_um, t.l_um) for t in self.dev.cell]
        trans = Sourced(sum(p.value for p in parts), "m^2", f"derived: sum of drawn transistor boxes of "
                        f"{len(parts)} devices ({self.dev.cell_source}) | from: "
                        + "; ".join(dict.fromkeys(p.source for p in parts)))
        c = self.c_store
        mim = mim_capacitor_area(c.value)
        mim = Sourced(mim.value, "m^2", f"{mim.source}; C from {c.source}")
        ovh = published("assumption.layout_overhead")
        cell = _derived(ovh.value * max(trans.value, mim.value), "m^2",
                        "layout overhead x max(transistors, MIM)", ovh, trans, mim)
        out = {"transistors_m2": trans, "mim_capacitor_m2": mim, "cell_m2": cell}
        card_cell = self.dev["area.cell_area_m2"]
        if card_cell is not None:
            out["card_cell_area_m2"] = card_cell
        return out

    def periphery_area(self) -> dict[str, Sourced]:
        """Area (m^2) of one PWM row driver and one converter as the cost model uses them (the
        card's own number when set, else drawn from its device inventory, with the transistor and
        MIM parts and the device counts); units with neither are absent (see `missing()`)."""
        out: dict[str, Sourced] = {}
        for unit, (area_field, _) in PERIPHERY_UNITS.items():
            parts = self.dev.periphery.get(unit)
            if parts is not None:
                out.update({f"{unit}_{k}": v for k, v in parts.items() if k != "area_m2"})
            if self.dev[area_field] is not None:
                out[f"{unit}_m2"] = self.dev[area_field]
        return out

    def area_per_head(self) -> dict[str, Sourced]:
        """Area (m^2) of one head's hardware, by component (absent: not characterized)."""
        d, w, tiles = self.shape.d_head, self.cfg.window_tokens, self.cfg.n_tiles
        cells = d * tiles * self.cfg.array_rows  # a partly used last tile still exists in silicon
        e = self.dev
        cell = self.cell_area()["cell_m2"]
        need = self._area_needs()
        out: dict[str, Sourced] = {}
        if self.cfg.mode == "acam":
            self._put(out, "k_acam_array", need["k_acam_array"], lambda: _derived(
                cells * e["area.acam_cell_area_m2"].value, "m^2", f"cells({cells}) x acam_cell_area",
                e["area.acam_cell_area_m2"]))
        else:
            out["k_array"] = _derived(cells * cell.value, "m^2", f"cells({cells}) x cell area", cell)
        out["v_array"] = _derived(cells * cell.value, "m^2", f"cells({cells}) x cell area", cell)
        self._put(out, "pwm_drivers", need["pwm_drivers"], lambda: _derived(
            d * tiles * e["area.pwm_driver_area_m2"].value, "m^2", f"d_head({d}) x tiles({tiles}) x pwm driver",
            e["area.pwm_driver_area_m2"]))
        n_c2p = w + d * tiles
        self._put(out, "c2p_converters", need["c2p_converters"], lambda: _derived(
            n_c2p * e["area.c2p_area_m2"].value, "m^2", f"(W({w}) + d_head x tiles) = {n_c2p} x c2p",
            e["area.c2p_area_m2"]))
        tot, kv = published("leroux2025.area_per_head_with_control_m2"), published("leroux2025.kv_array_area_per_head_m2")
        out["digital_control"] = _derived(tot.value - kv.value, "m^2",
                                          "authors' area per head with control - their KV arrays", tot, kv)
        return out

    def area_total(self) -> dict[str, Sourced]:
        """Area (m^2) per head, per layer and for all layers."""
        head = _sum(self.area_per_head(), "m^2", "head components")
        h, n = self.shape.n_heads, self.shape.n_layers
        layer = _derived(head.value * h, "m^2", f"n_heads({h}) x per head", head)
        return {"per_head_m2": head, "per_layer_m2": layer,
                "model_m2": _derived(layer.value * n, "m^2", f"n_layers({n}) x per layer", layer)}

    def summary(self, context_tokens: int | None = None) -> dict[str, Any]:
        """All figures as nested dicts of {value, unit, source} (JSON-ready), plus the list of
        components left out because the card does not characterize them."""
        ctx = context_tokens or self.shape.context_tokens
        steady = max(ctx, self.cfg.window_tokens) - 1  # a position with a full window

        def d(x: dict[str, Sourced]) -> dict[str, Any]:
            return {k: v.as_dict() for k, v in x.items()}

        return {
            "energy_per_head_steady_j": d(self.energy_per_head(steady)),
            "energy_per_head_mean_j": d(self.mean_energy_per_head(ctx)),
            "energy_per_token_steady": d(self.energy_per_token(steady)),
            "latency_per_layer_s": d(self.latency_per_layer()),
            "latency_per_token": d(self.latency_per_token()),
            "cell_area": d(self.cell_area()),
            "periphery_area": d(self.periphery_area()),
            "area_per_head_m2": d(self.area_per_head()),
            "area_total": d(self.area_total()),
            "not_characterized": [{"component": m.component, "fields": list(m.fields), "reason": m.reason}
                                  for m in self.missing()],
        }
