"""Per-circuit device cards: one versioned JSON card per characterized circuit.

`gaincell fit` writes, next to the combined head card (`behavioral.cards`, schema
`gaincell.card/1`), one card per circuit it has data for (schema `gaincell.circuit_card/1`):

- `gaincell`: the read-charge model (`mac`), retention (`retention`: tau of the chosen write
  device and temperature), noise (`noise`: read noise, cell mismatch, write kT/C noise),
  `energy`, `latency`, `area` and the characterized circuit (`circuit`: C_store, cell config);
- `c2p`: the charge-to-pulse transfer (`transfer`) and its Monte Carlo mismatch (`mismatch`),
  `energy`, `latency`, `area` (with `c2p_devices`: the devices of one per-column converter);
- `drivers`: PWM driver and write DAC (`transfer`: linearity and settling; `energy`, `area`
  with `pwm_driver_devices`: the devices of one PWM row driver);
- `column`: the array column (`column`: rows, summation error, cell config; `latency`: settling);
- `acam`: the aCAM cell's match window (`match`), the Monte Carlo spread of its window edges
  (`mismatch.edge_sigma_v`, volts; a section added later, absent in older cards), `energy`,
  `latency`, `area`.

Every card has `schema`, `kind`, `name`, `provenance` (with `inputs`: each characterization
folder or CSV it came from, with hashes, and the fit's tool versions), SI units in every key,
and a `fit` record in every fitted section (with `heldout_rms_error_fs`, null when nothing was
fitted). As in the head card, a physical value may be null only where the spec says "not
characterized" is allowed; cost sections carry a `sources` map for every value.

Loading is strict: `load_circuit_card(path)` raises `CardError(path, field, problem)` for a
missing, out-of-range, unknown or wrong-unit field, an unknown kind or a newer schema.

Public API: `CIRCUIT_KINDS`, `CircuitCard`, `circuit_card_from_dict(data, path)`,
`load_circuit_card(path)`, `save_circuit_card(card, path)`, `default_circuit_cards()` (the
packaged circuit cards behind `behavioral.cards.default_card()`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from behavioral.cards import SECTION_SPECS as HEAD_SPEC
from behavioral.cards import FieldSpec as F
from behavioral.cards import check_schema, check_section
from gaincell.errors import CardError
from gaincell.fileio import write_json

CIRCUIT_SCHEMA_NAME = "gaincell.circuit_card"
CIRCUIT_SCHEMA_MAJOR = 1
CIRCUIT_SCHEMA = f"{CIRCUIT_SCHEMA_NAME}/{CIRCUIT_SCHEMA_MAJOR}"
DEFAULT_CIRCUITS_DIR = Path(__file__).resolve().parent / "data" / "circuits"
"""The circuit cards the packaged `default_card.json` was built from (`<kind>.json`)."""

_J = F("num?", 0.0, 1e-6)  # an energy (J) or an area (m^2), null = not characterized
_T = F("num?", 0.0, 1e-3)  # a time (s)
_DEVICES = F("devices?", optional=True)  # a device inventory (behavioral.cards.check_devices), null = none

_CIRCUIT_SPEC: dict[str, dict[str, dict[str, F]]] = {
    "gaincell": {
        "mac": HEAD_SPEC["mac"],
        "retention": {
            "tau_s": F("num?", 0.0, 1e9),
            "temperature_c": F("num?", -60.0, 200.0),
            "device": F("str?"),
            "fit": F("dict"),
            "source": F("str"),
        },
        "noise": {
            "read_noise_rel": F("num?", 0.0, 1.0),
            "mismatch_sigma_rel": F("num?", 0.0, 1.0),
            "write_noise_v": F("num?", 0.0, 1.0),
            "fit": F("dict"),
            "source": F("str"),
        },
        "energy": {"mac_read_j": _J, "cell_write_j": _J, "sources": F("dict")},
        "latency": {"t_max_s": _T, "write_time_s": _T, "sources": F("dict")},
        "area": {"cell_area_m2": _J, "sources": F("dict")},
        "circuit": {
            "c_store_f": F("num?", 0.0, 1e-9),
            "temperature_c": F("num?", -60.0, 200.0),
            "cell_config": F("dict"),
            "source": F("str"),
        },
    },
    "c2p": {
        "transfer": {
            "t_max_s": F("pos", hi=1e-3),
            "slope_s_per_c": F("pos", hi=1e20),
            "offset_c": F("num", -1e-9, 1e-9),
            "q_sat_c": F("pos", hi=1e-6),
            "fit": F("dict"),
            "source": F("str"),
        },
        "mismatch": {
            "gain_sigma_rel": F("num?", 0.0, 1.0),
            "offset_sigma_c": F("num?", 0.0, 1e-9),
            "fit": F("dict"),
            "source": F("str"),
        },
        "energy": {"c2p_conversion_j": _J, "sources": F("dict")},
        "latency": {"c2p_latency_s": _T, "sources": F("dict")},
        "area": {"c2p_area_m2": _J, "c2p_devices": _DEVICES, "sources": F("dict")},
    },
    "drivers": {
        "transfer": {
            "pwm_width_error_max_s": F("num?", 0.0, 1e-3),
            "pwm_inl_max_lsb": F("num?", 0.0, 1e3),
            "dac_inl_max_lsb": F("num?", 0.0, 1e3),
            "dac_settling_time_s": F("num?", 0.0, 1e-3),
            "fit": F("dict"),
            "source": F("str"),
        },
        "energy": {"pwm_pulse_j": _J, "dac_write_j": _J, "pwm_load_cells": F("int?", 1, 65536, optional=True),
                   "sources": F("dict")},
        "area": {"pwm_driver_area_m2": _J, "pwm_driver_devices": _DEVICES, "sources": F("dict")},
    },
    "column": {
        "column": {
            "array_rows": F("int?", 1, 65536),
            "rms_error_rel": F("num?", 0.0, 10.0),
            "gain_vs_single_cells": F("num?", 0.0, 10.0),
            "c_store_f": F("num?", 0.0, 1e-9),
            "cell_config": F("dict"),
            "fit": F("dict"),
            "source": F("str"),
        },
        "latency": {"settling_time_s": _T, "sources": F("dict")},
    },
    "acam": {
        "match": HEAD_SPEC["acam"],
        "mismatch": {"edge_sigma_v": F("num?", 0.0, 1.0), "fit": F("dict"), "source": F("str")},
        "energy": {"acam_search_j": _J, "sources": F("dict")},
        "latency": {"acam_sense_time_s": _T, "sources": F("dict")},
        "area": {"acam_cell_area_m2": _J, "sources": F("dict")},
    },
}

OPTIONAL_SECTIONS: dict[str, tuple[str, ...]] = {"acam": ("mismatch",)}
"""Sections added after the first schema-1 release: an older card may lack them (not characterized)."""

CIRCUIT_KINDS: tuple[str, ...] = tuple(_CIRCUIT_SPEC)
"""Circuits that have a card of their own."""

FITTED_SECTIONS: dict[str, tuple[str, ...]] = {
    "gaincell": ("mac", "retention"),
    "c2p": ("transfer",),
    "drivers": ("transfer",),
    "column": ("column",),
    "acam": ("match",),
}
"""Sections whose `fit` record must report `heldout_rms_error_fs` (a number, or null when no
model was fitted: then `fit.method` says so)."""


@dataclass(frozen=True)
class CircuitCard:
    """A validated per-circuit card: `sections[name][field]` holds the checked values (None where
    not characterized); `raw` is the JSON dict it came from."""

    kind: str
    name: str
    path: str
    sections: Mapping[str, Mapping[str, Any]]
    provenance: Mapping[str, Any]
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def value(self, section: str, name: str) -> Any:
        """One checked value, e.g. `card.value("transfer", "q_sat_c")`."""
        return self.sections[section][name]

    def to_dict(self) -> dict[str, Any]:
        """The card as a JSON-ready dict (a deep copy of what was loaded)."""
        return copy.deepcopy(dict(self.raw))


def circuit_card_from_dict(data: Mapping[str, Any], path: str = "<dict>") -> CircuitCard:
    """Validate a per-circuit card dict; CardError naming `path` and the field on any problem."""
    check_schema(data, path, CIRCUIT_SCHEMA_NAME, CIRCUIT_SCHEMA_MAJOR, "circuit card")
    kind = data.get("kind")
    if kind not in _CIRCUIT_SPEC:
        raise CardError(path, "kind", f"unknown circuit {kind!r} (known: {', '.join(CIRCUIT_KINDS)})")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise CardError(path, "name", "missing or empty")
    prov = data.get("provenance")
    if not isinstance(prov, Mapping):
        raise CardError(path, "provenance", "missing (every card says where its numbers came from)")
    inputs = prov.get("inputs")
    if not isinstance(inputs, Mapping) or not inputs:
        raise CardError(path, "provenance.inputs", "missing or empty: name the characterization or data file")
    spec = _CIRCUIT_SPEC[kind]
    optional = OPTIONAL_SECTIONS.get(kind, ())
    sections = {sec: check_section(path, data, sec, spec[sec]) for sec in spec
                if not (sec in optional and sec not in data)}
    unknown = sorted(set(data) - set(spec) - {"schema", "kind", "name", "provenance"})
    if unknown:
        raise CardError(path, unknown[0], f"unknown top-level field for a '{kind}' card")
    for sec in FITTED_SECTIONS[kind]:
        if "heldout_rms_error_fs" not in sections[sec]["fit"]:
            raise CardError(path, f"{sec}.fit.heldout_rms_error_fs", "missing (every fit reports its held-out error)")
    for sec, fields in spec.items():
        if "sources" not in fields or sec not in sections:
            continue
        missing = [k for k in fields if k != "sources" and k not in sections[sec]["sources"]
                   and not (fields[k].optional and k not in data[sec])]
        if missing:
            raise CardError(path, f"{sec}.sources.{missing[0]}", "missing: say where the value comes from")
    return CircuitCard(kind, name, path, sections, dict(prov), copy.deepcopy(dict(data)))


def load_circuit_card(path: str | Path) -> CircuitCard:
    """Read and validate a per-circuit card file; CardError (naming file and field) on any problem."""
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as exc:
        raise CardError(str(p), "<file>", f"cannot read: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(str(p), "<file>", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    return circuit_card_from_dict(data, str(p))


def default_circuit_cards() -> dict[str, CircuitCard]:
    """The packaged per-circuit cards (`data/circuits/<kind>.json`) behind the default head card."""
    return {p.stem: load_circuit_card(p) for p in sorted(DEFAULT_CIRCUITS_DIR.glob("*.json"))}


def save_circuit_card(card: CircuitCard | Mapping[str, Any], path: str | Path) -> Path:
    """Validate then write a per-circuit card atomically; returns the path."""
    data = card.to_dict() if isinstance(card, CircuitCard) else dict(card)
    circuit_card_from_dict(data, str(path))
    return write_json(path, data)
