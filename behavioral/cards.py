"""Versioned JSON device cards: one file per attention head's worth of analog hardware.

A card (schema `gaincell.card/1`) holds, with SI units in every key, the fitted behaviour of
the gain cell and its periphery, the fit errors and the provenance of the data they came from.
Sections (see docs/INTERFACES.md): `mac`, `decay`, `c2p`, `quant`, `noise`, `acam`, `energy`,
`latency`, `area`, and the optional `array` (the characterized circuit: storage capacitance,
array rows and the gain-cell config, so the cost model needs no characterization folder).
Fields added after the first release of schema 1 (`latency.acam_sense_time_s`,
`energy.dac_write_j`, `energy.pwm_load_cells`, `noise.write_noise_v`, `noise.fit`,
`noise.acam_edge_sigma_v`,
`area.pwm_driver_devices`, `area.c2p_devices`, the `array` section) may be absent
in older cards; absent there means "not characterized" (None), exactly
like JSON null, never a default number.

Loading is strict: a missing or out-of-range field, a key with the wrong unit suffix or a newer
schema raises `gaincell.errors.CardError` naming the file and the field. No physical number is
ever defaulted. In the noise and cost sections (`noise`, `energy`, `latency`, `area`) a value
may be JSON `null`, meaning "not characterized"; the cost sections carry a `sources` map saying
where every value (or its absence) comes from.

Packaged cards: `data/default_card.json` (fitted by `gaincell fit` from our sky130 SPICE
characterization) and `data/reference_cell_card.json` (fitted from the authors' published I-V
table, `reference_cell_iv.csv`: an example of importing a user's own device data).

Public API: `load_card(path) -> HeadCard`, `default_card() -> HeadCard`, `reference_card()`,
`card_from_dict(data, path) -> HeadCard`, `save_card(card, path)`.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from behavioral.mac_model import PolyMacModel
from gaincell.errors import CardError
from gaincell.fileio import write_json

SCHEMA_NAME = "gaincell.card"
SCHEMA_MAJOR = 1
SCHEMA = f"{SCHEMA_NAME}/{SCHEMA_MAJOR}"
DEFAULT_CARD_PATH = Path(__file__).resolve().parent / "data" / "default_card.json"
REFERENCE_CARD_PATH = Path(__file__).resolve().parent / "data" / "reference_cell_card.json"

# Unit suffixes a key may end with (longest first, so '_a_per_v' wins over '_v').
UNIT_SUFFIXES = (
    "_s_per_c", "_a_per_v", "_per_v", "_m2", "_ohm", "_rel", "_fs", "_v", "_a", "_c", "_s",
    "_j", "_f", "_ms", "_us", "_ns", "_ps", "_mv", "_ua", "_na", "_fc", "_pc", "_pj", "_fj",
    "_nj", "_um2", "_mm2", "_ff", "_pf",
)


# --- field specifications -------------------------------------------------------------------
# kind: "num" (finite float in [lo, hi]), "pos" (> 0 and <= hi), "int" (integer in [lo, hi]),
# "range" ([low, high] numbers, low < high), "str", "dict", "matrix" (list of lists of numbers),
# "num?" / "int?" / "str?" (like num / int / str, or null = "not characterized": noise and cost
# sections only), "devices?" (a device inventory, see `check_devices`, or null).

@dataclass(frozen=True)
class _F:
    kind: str
    lo: float | None = None
    hi: float | None = None
    optional: bool = False
    """Added after the first schema-1 release: an older card may lack it (read as None)."""


FieldSpec = _F
"""Public name of a field specification (kind, range, optional), shared with the circuit cards."""

_SPEC: dict[str, dict[str, _F]] = {
    "mac": {
        "model": _F("str"),
        "t_max_s": _F("pos", hi=1e-3),
        "v_ref_v": _F("num", 0.0, 5.0),
        "v_range_v": _F("range", -5.0, 5.0),
        "coeffs_a": _F("matrix", -1.0, 1.0),
        "linear_slope_a_per_v": _F("num", -1.0, 1.0),
        "full_scale_a": _F("pos", hi=1.0),
        "fit": _F("dict"),
        "source": _F("str"),
    },
    "decay": {
        "tau_s": _F("pos", hi=1e9),
        "token_period_s": _F("pos", hi=1.0),
        "per_token_factor": _F("num", 0.0, 1.0),
        "temperature_c": _F("num", -60.0, 200.0),
        "fit": _F("dict"),
        "source": _F("str"),
    },
    "c2p": {
        "t_max_s": _F("pos", hi=1e-3),
        "s_sat_qk_a": _F("pos", hi=1.0),
        "s_sat_sv_a": _F("pos", hi=1.0),
        "slope_s_per_c": _F("pos", hi=1e20),
        "offset_c": _F("num", -1e-9, 1e-9),
        "q_sat_c": _F("pos", hi=1e-6),
        "fit": _F("dict"),
        "source": _F("str"),
    },
    "quant": {
        "q_levels": _F("int", 2, 65536),
        "q_range": _F("range", -1e3, 1e3),
        "kv_levels": _F("int", 2, 65536),
        "kv_range_v": _F("range", -5.0, 5.0),
        "out_levels": _F("int", 2, 65536),
        "out_range": _F("range", -1e3, 1e3),
        "source": _F("str"),
    },
    "noise": {
        "read_noise_rel": _F("num?", 0.0, 1.0),
        "mismatch_sigma_rel": _F("num?", 0.0, 1.0),
        "c2p_gain_sigma_rel": _F("num?", 0.0, 1.0),
        "c2p_offset_sigma_c": _F("num?", 0.0, 1e-9),
        "write_noise_v": _F("num?", 0.0, 1.0, optional=True),
        "acam_edge_sigma_v": _F("num?", 0.0, 1.0, optional=True),
        "fit": _F("dict", optional=True),
        "source": _F("str"),
    },
    "acam": {
        "model": _F("str"),
        "width_v": _F("pos", hi=5.0),
        "steepness_per_v": _F("pos", hi=1e6),
        "combine": _F("str"),
        "fit": _F("dict"),
        "source": _F("str"),
    },
    "energy": {
        "mac_read_j": _F("num?", 0.0, 1e-6),
        "cell_write_j": _F("num?", 0.0, 1e-6),
        "pwm_pulse_j": _F("num?", 0.0, 1e-6),
        "c2p_conversion_j": _F("num?", 0.0, 1e-6),
        "acam_search_j": _F("num?", 0.0, 1e-6),
        "dac_write_j": _F("num?", 0.0, 1e-6, optional=True),
        "pwm_load_cells": _F("int?", 1, 65536, optional=True),
        "sources": _F("dict"),
    },
    "latency": {
        "t_max_s": _F("num?", 0.0, 1e-3),
        "c2p_latency_s": _F("num?", 0.0, 1e-3),
        "write_time_s": _F("num?", 0.0, 1e-3),
        "settling_time_s": _F("num?", 0.0, 1e-3),
        "acam_sense_time_s": _F("num?", 0.0, 1e-3, optional=True),
        "sources": _F("dict"),
    },
    "area": {
        "cell_area_m2": _F("num?", 0.0, 1e-6),
        "c2p_area_m2": _F("num?", 0.0, 1e-6),
        "pwm_driver_area_m2": _F("num?", 0.0, 1e-6),
        "acam_cell_area_m2": _F("num?", 0.0, 1e-6),
        "pwm_driver_devices": _F("devices?", optional=True),
        "c2p_devices": _F("devices?", optional=True),
        "sources": _F("dict"),
    },
    "array": {
        "c_store_f": _F("num?", 0.0, 1e-9),
        "array_rows": _F("int?", 1, 65536),
        "cell_config": _F("dict"),
        "source": _F("str"),
    },
}

SECTION_SPECS: Mapping[str, Mapping[str, _F]] = _SPEC
"""Field specifications of the head card's sections (read-only; reused by the circuit cards)."""
OPTIONAL_SECTIONS = ("array",)
"""Sections an older schema-1 card may lack (the HeadCard attribute is then None)."""
SECTIONS = tuple(_SPEC)
MAC_MODELS = ("poly_xv",)
ACAM_MODELS = ("sigmoid_window",)
ACAM_COMBINE = ("product", "sum")


# --- typed sections -------------------------------------------------------------------------

@dataclass(frozen=True)
class MacSection:
    """Fitted read-charge model; `model()` gives the evaluable `PolyMacModel`."""

    model_name: str
    t_max_s: float
    v_ref_v: float
    v_range_v: tuple[float, float]
    coeffs_a: tuple[tuple[float, ...], ...]
    linear_slope_a_per_v: float
    full_scale_a: float
    fit: Mapping[str, Any]
    source: str

    def model(self) -> PolyMacModel:
        """The nonlinear fitted model."""
        return PolyMacModel(self.coeffs_a, self.v_ref_v, self.t_max_s, self.v_range_v)

    def linear_model(self) -> PolyMacModel:
        """The straight-line model I = x * linear_slope_a_per_v * (V - v_ref_v)."""
        return PolyMacModel.linear(self.linear_slope_a_per_v, self.v_ref_v, self.t_max_s, self.v_range_v)


@dataclass(frozen=True)
class DecaySection:
    """Storage-node leak: read current scales by per_token_factor**age (age in tokens)."""

    tau_s: float
    token_period_s: float
    per_token_factor: float
    temperature_c: float
    fit: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class C2PSection:
    """Charge-to-pulse converter: phi = t_max * clip(S / s_sat, 0, 1) (S a mean current, A)."""

    t_max_s: float
    s_sat_qk_a: float
    s_sat_sv_a: float
    slope_s_per_c: float
    offset_c: float
    q_sat_c: float
    fit: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class QuantSection:
    """Uniform quantizer levels and ranges (q: PWM fraction, kv: stored volts, out: per tile)."""

    q_levels: int
    q_range: tuple[float, float]
    kv_levels: int
    kv_range_v: tuple[float, float]
    out_levels: int
    out_range: tuple[float, float]
    source: str


@dataclass(frozen=True)
class NoiseSection:
    """Noise: read noise (one cell's charge-noise sigma per read over its full-scale charge, i.e.
    a fraction of `mac.full_scale_a` in mean-current units), cell mismatch (relative sigma of the
    read current), c2p gain (relative) and offset (coulombs) sigmas, the storage node's write
    (kT/C) noise in volts, the aCAM window-edge mismatch in volts, and the fit records. None: not
    characterized (or, for the fields added later, absent from an older card)."""

    read_noise_rel: float | None
    mismatch_sigma_rel: float | None
    c2p_gain_sigma_rel: float | None
    c2p_offset_sigma_c: float | None
    source: str
    write_noise_v: float | None = None
    fit: Mapping[str, Any] | None = None
    acam_edge_sigma_v: float | None = None
    """RMS over the lower and upper edge of the Monte Carlo sigma of an aCAM cell's window edges
    (volts): the fixed-pattern window mismatch `behavioral.attention_acam` emulates."""


@dataclass(frozen=True)
class AcamSection:
    """aCAM cell window: match = sigmoid(s(x-lo)) * (1 - sigmoid(s(x-hi))), hi - lo = width_v;
    `combine` says how a row's cells combine on the match line: 'product' or 'sum' (mean)."""

    model_name: str
    width_v: float
    steepness_per_v: float
    combine: str
    fit: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class EnergySection:
    """Energies in joules (None: not characterized; see `sources`)."""

    mac_read_j: float | None
    cell_write_j: float | None
    pwm_pulse_j: float | None
    c2p_conversion_j: float | None
    acam_search_j: float | None
    dac_write_j: float | None
    sources: Mapping[str, str]
    pwm_load_cells: int | None = None
    """Cells on the read line `pwm_pulse_j` was measured on (the driver's characterized load)."""


@dataclass(frozen=True)
class LatencySection:
    """Times in seconds (None: not characterized; see `sources`)."""

    t_max_s: float | None
    c2p_latency_s: float | None
    write_time_s: float | None
    settling_time_s: float | None
    acam_sense_time_s: float | None
    sources: Mapping[str, str]


@dataclass(frozen=True)
class AreaSection:
    """Areas in square metres (None: not characterized; see `sources`), and the device
    inventories of one PWM row driver and one charge-to-pulse converter as characterized
    (`{"fets": [[kind, w_um, l_um, count], ...], "capacitors_f": [...], "note": ...}`; None when
    absent), from which the cost model draws their area when the area itself is null."""

    cell_area_m2: float | None
    c2p_area_m2: float | None
    pwm_driver_area_m2: float | None
    acam_cell_area_m2: float | None
    sources: Mapping[str, str]
    pwm_driver_devices: Mapping[str, Any] | None = None
    c2p_devices: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class ArraySection:
    """The characterized circuit the card's numbers belong to: storage capacitance (farads),
    rows of the characterized column (cells per bitline = tokens per tile) and the gain-cell
    circuit config (`circuits.gaincell_cell.GainCellConfig` fields). None: not characterized."""

    c_store_f: float | None
    array_rows: int | None
    cell_config: Mapping[str, Any]
    source: str


@dataclass(frozen=True)
class HeadCard:
    """A validated device card for one attention head. `raw` is the JSON dict it came from."""

    name: str
    path: str
    mac: MacSection
    decay: DecaySection
    c2p: C2PSection
    quant: QuantSection
    noise: NoiseSection
    acam: AcamSection
    energy: EnergySection
    latency: LatencySection
    area: AreaSection
    provenance: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    array: ArraySection | None = None

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (a deep copy of what was loaded)."""
        return copy.deepcopy(dict(self.raw))


# --- validation -----------------------------------------------------------------------------

def _unit_base(key: str) -> str:
    for suf in UNIT_SUFFIXES:
        if key.endswith(suf) and len(key) > len(suf):
            return key[: -len(suf)]
    return key


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(float(x))


FET_KINDS = ("nmos", "pmos")


def check_devices(path: str, where: str, value: Any) -> dict[str, Any]:
    """Validate a device inventory: {"fets": [[kind, w_um, l_um, count], ...] (kind nmos/pmos,
    width and length in um > 0, count an integer >= 1), "capacitors_f": [farads > 0, ...],
    optional "note": str}; returns a plain copy. CardError names the entry at fault."""
    if not isinstance(value, Mapping):
        raise CardError(path, where, f"expected a device inventory object, got {value!r}")
    unknown = sorted(set(value) - {"fets", "capacitors_f", "note"})
    if unknown:
        raise CardError(path, f"{where}.{unknown[0]}", "unknown field (expected fets, capacitors_f, note)")
    fets, caps = value.get("fets"), value.get("capacitors_f")
    if not isinstance(fets, list):
        raise CardError(path, f"{where}.fets", f"expected a list of [kind, w_um, l_um, count], got {fets!r}")
    if not isinstance(caps, list):
        raise CardError(path, f"{where}.capacitors_f", f"expected a list of capacitances (F), got {caps!r}")
    out_fets = []
    for i, f in enumerate(fets):
        ok = (isinstance(f, (list, tuple)) and len(f) == 4 and f[0] in FET_KINDS
              and all(_is_num(x) and float(x) > 0 for x in f[1:3])
              and isinstance(f[3], int) and not isinstance(f[3], bool) and f[3] >= 1)
        if not ok:
            raise CardError(path, f"{where}.fets[{i}]",
                            f"expected [nmos|pmos, w_um > 0, l_um > 0, count >= 1], got {f!r}")
        if float(f[1]) > 1e4 or float(f[2]) > 1e3:
            raise CardError(path, f"{where}.fets[{i}]", f"width/length out of range (um): {f!r}")
        out_fets.append([f[0], float(f[1]), float(f[2]), int(f[3])])
    for i, c in enumerate(caps):
        if not (_is_num(c) and 0 < float(c) <= 1e-9):
            raise CardError(path, f"{where}.capacitors_f[{i}]", f"expected a capacitance in (0, 1e-9] F, got {c!r}")
    note = value.get("note")
    if note is not None and not isinstance(note, str):
        raise CardError(path, f"{where}.note", f"expected a string, got {note!r}")
    out: dict[str, Any] = {"fets": out_fets, "capacitors_f": [float(c) for c in caps]}
    if note is not None:
        out["note"] = note
    return out


def _check_field(path: str, where: str, value: Any, spec: _F) -> Any:
    def bad(problem: str) -> CardError:
        return CardError(path, where, problem)

    k = spec.kind
    if k.endswith("?") and value is None:
        return None
    if k == "devices?":
        return check_devices(path, where, value)
    if k in ("int?", "str?"):
        k = k[:-1]
    if k in ("num", "num?", "pos"):
        if not _is_num(value):
            raise bad(f"expected a finite number, got {value!r}")
        v = float(value)
        if k == "pos" and not v > 0:
            raise bad(f"must be > 0, got {v!r}")
        if spec.lo is not None and v < spec.lo:
            raise bad(f"out of range: {v!r} < {spec.lo!r}")
        if spec.hi is not None and v > spec.hi:
            raise bad(f"out of range: {v!r} > {spec.hi!r}")
        return v
    if k == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad(f"expected an integer, got {value!r}")
        if not spec.lo <= value <= spec.hi:
            raise bad(f"out of range: {value!r} not in [{spec.lo}, {spec.hi}]")
        return int(value)
    if k == "range":
        if not (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_num, value))):
            raise bad(f"expected [low, high] numbers, got {value!r}")
        lo, hi = float(value[0]), float(value[1])
        if not lo < hi:
            raise bad(f"low must be < high, got {value!r}")
        if lo < spec.lo or hi > spec.hi:
            raise bad(f"out of range: {value!r} not within [{spec.lo}, {spec.hi}]")
        return (lo, hi)
    if k == "str":
        if not isinstance(value, str) or not value:
            raise bad(f"expected a non-empty string, got {value!r}")
        return value
    if k == "dict":
        if not isinstance(value, Mapping):
            raise bad(f"expected an object, got {value!r}")
        return dict(value)
    if k == "matrix":
        if not (isinstance(value, list) and value and all(isinstance(r, list) and r for r in value)):
            raise bad(f"expected a non-empty list of non-empty lists, got {value!r}")
        rows = []
        for r in value:
            if not all(map(_is_num, r)):
                raise bad(f"expected numbers, got row {r!r}")
            if any(not spec.lo <= float(c) <= spec.hi for c in r):
                raise bad(f"coefficient out of range [{spec.lo}, {spec.hi}] in row {r!r}")
            rows.append(tuple(float(c) for c in r))
        return tuple(rows)
    raise AssertionError(k)


def check_section(path: str, data: Mapping[str, Any], name: str,
                  spec: Mapping[str, FieldSpec] | None = None) -> dict[str, Any]:
    """Validate section `name` of a card dict against `spec` (default: the head card's);
    returns the checked values (None for an absent optional field). CardError names the field."""
    if name not in data:
        raise CardError(path, name, "missing section")
    sec = data[name]
    if not isinstance(sec, Mapping):
        raise CardError(path, name, f"expected an object, got {type(sec).__name__}")
    spec = _SPEC[name] if spec is None else spec
    out: dict[str, Any] = {}
    for key, fspec in spec.items():
        where = f"{name}.{key}"
        if key not in sec:
            base = _unit_base(key)
            alt = [k for k in sec if k != key and k not in spec and _unit_base(k) == base]
            if alt:
                raise CardError(path, f"{name}.{alt[0]}", f"wrong unit: expected key '{key}'")
            if fspec.optional:
                out[key] = None
                continue
            raise CardError(path, where, "missing (cards never default a physical number)")
        out[key] = _check_field(path, where, sec[key], fspec)
    unknown = sorted(set(sec) - set(spec))
    if unknown:
        raise CardError(path, f"{name}.{unknown[0]}", "unknown field (wrong unit or typo?)")
    return out


def check_schema(data: Mapping[str, Any], path: str, name: str, major: int, what: str) -> None:
    """Raise CardError (naming `path`) unless `data` is a JSON object whose `schema` is
    '`name`/`major`': a malformed, foreign, newer or older schema each gets its own message."""
    if not isinstance(data, Mapping):
        raise CardError(path, "<root>", "expected a JSON object")
    expected = f"{name}/{major}"
    schema = data.get("schema")
    if not isinstance(schema, str) or "/" not in schema:
        raise CardError(path, "schema", f"missing or malformed (expected '{expected}'), got {schema!r}")
    sname, _, got = schema.rpartition("/")
    if sname != name or not got.isdigit():
        raise CardError(path, "schema", f"not a {what} schema: {schema!r} (expected '{expected}')")
    if int(got) > major:
        raise CardError(path, "schema", f"{schema!r} is newer than this gaincell reads ({expected}); upgrade gaincell")
    if int(got) < major:
        raise CardError(path, "schema", f"{schema!r} is older than {expected}; re-run `gaincell fit`")


def card_from_dict(data: Mapping[str, Any], path: str = "<dict>") -> HeadCard:
    """Validate a card dict and build a `HeadCard`; raise CardError naming `path` and the field."""
    check_schema(data, path, SCHEMA_NAME, SCHEMA_MAJOR, "device card")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise CardError(path, "name", "missing or empty")
    prov = data.get("provenance")
    if not isinstance(prov, Mapping):
        raise CardError(path, "provenance", "missing (every card says where its numbers came from)")
    s = {sec: check_section(path, data, sec) for sec in SECTIONS if not (sec in OPTIONAL_SECTIONS and sec not in data)}
    unknown = sorted(set(data) - set(SECTIONS) - {"schema", "name", "provenance"})
    if unknown:
        raise CardError(path, unknown[0], "unknown top-level field")

    m = s["mac"]
    if m["model"] not in MAC_MODELS:
        raise CardError(path, "mac.model", f"unknown model {m['model']!r} (known: {', '.join(MAC_MODELS)})")
    if not m["v_range_v"][0] <= m["v_ref_v"] <= m["v_range_v"][1]:
        raise CardError(path, "mac.v_ref_v", f"{m['v_ref_v']} outside mac.v_range_v {m['v_range_v']}")
    if "heldout_rms_error_fs" not in m["fit"]:
        raise CardError(path, "mac.fit.heldout_rms_error_fs", "missing (every fit reports its held-out error)")
    d = s["decay"]
    expect = math.exp(-d["token_period_s"] / d["tau_s"])
    if abs(d["per_token_factor"] - expect) > 1e-9 + 1e-6 * expect:
        raise CardError(path, "decay.per_token_factor",
                        f"{d['per_token_factor']!r} inconsistent with exp(-token_period_s/tau_s) = {expect!r}")
    a = s["acam"]
    if a["model"] not in ACAM_MODELS:
        raise CardError(path, "acam.model", f"unknown model {a['model']!r} (known: {', '.join(ACAM_MODELS)})")
    if a["combine"] not in ACAM_COMBINE:
        raise CardError(path, "acam.combine", f"unknown {a['combine']!r} (known: {', '.join(ACAM_COMBINE)})")
    for sec in ("energy", "latency", "area"):
        missing = [k for k in _SPEC[sec] if k != "sources" and k not in s[sec]["sources"]
                   and not (_SPEC[sec][k].optional and k not in data[sec])]
        if missing:
            raise CardError(path, f"{sec}.sources.{missing[0]}", "missing: say where the value comes from")

    return HeadCard(
        name=name,
        path=path,
        mac=MacSection(m["model"], m["t_max_s"], m["v_ref_v"], m["v_range_v"], m["coeffs_a"],
                       m["linear_slope_a_per_v"], m["full_scale_a"], m["fit"], m["source"]),
        decay=DecaySection(**d),
        c2p=C2PSection(**s["c2p"]),
        quant=QuantSection(**s["quant"]),
        noise=NoiseSection(**s["noise"]),
        acam=AcamSection(a["model"], a["width_v"], a["steepness_per_v"], a["combine"], a["fit"], a["source"]),
        energy=EnergySection(**s["energy"]),
        latency=LatencySection(**s["latency"]),
        area=AreaSection(**s["area"]),
        provenance=dict(prov),
        raw=copy.deepcopy(dict(data)),
        array=ArraySection(**s["array"]) if "array" in s else None,
    )


def load_card(path: str | Path) -> HeadCard:
    """Read and validate a card file; CardError (naming file and field) on any problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise CardError(str(p), "<file>", f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(str(p), "<file>", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return card_from_dict(data, str(p))


@lru_cache(maxsize=1)
def default_card() -> HeadCard:
    """The committed card shipped with the package (`behavioral/data/default_card.json`)."""
    return load_card(DEFAULT_CARD_PATH)


@lru_cache(maxsize=1)
def reference_card() -> HeadCard:
    """The packaged card fitted from the authors' I-V table (`data/reference_cell_card.json`)."""
    return load_card(REFERENCE_CARD_PATH)


def save_card(card: HeadCard | Mapping[str, Any], path: str | Path) -> Path:
    """Validate then write a card atomically; returns the path."""
    data = card.to_dict() if isinstance(card, HeadCard) else dict(card)
    card_from_dict(data, str(path))
    return write_json(path, data)
