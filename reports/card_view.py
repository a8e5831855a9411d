"""The device-card numbers the cost model needs, each with the card field it came from.

Accepts a `behavioral.cards.HeadCard` (or any dataclass), a card dict, or a card JSON path, so the
reports layer depends only on the field names of docs/INTERFACES.md. A missing field raises
`CardError(path, field, ...)`: the cost model never defaults a physical number.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from gaincell.errors import CardError
from gaincell.provenance import sha256_text
from reports.figures import Sourced

# Fields read from every card (section.field -> unit).
REQUIRED_FIELDS: dict[str, str] = {
    "energy.mac_read_j": "J",
    "energy.cell_write_j": "J",
    "energy.pwm_pulse_j": "J",
    "energy.c2p_conversion_j": "J",
    "latency.t_max_s": "s",
    "latency.c2p_latency_s": "s",
    "latency.write_time_s": "s",
    "latency.settling_time_s": "s",
    "area.c2p_area_m2": "m^2",
    "area.pwm_driver_area_m2": "m^2",
    "area.cell_area_m2": "m^2",
    "quant.q_levels": "levels",
    "quant.kv_levels": "levels",
    "quant.out_levels": "levels",
}
# Added to the card after its first release: an older card without the key reads as not
# characterized (the components that need it are listed as missing, not estimated).
LATER_FIELDS: dict[str, str] = {
    "energy.pwm_load_cells": "cells",
}
# Device inventories (added after the first release; absent or null = none): the area field a
# periphery component's area is drawn from when the card leaves that area null.
DEVICE_FIELDS: dict[str, str] = {
    "area.pwm_driver_area_m2": "area.pwm_driver_devices",
    "area.c2p_area_m2": "area.c2p_devices",
}
FET_KINDS = ("nmos", "pmos")
# Read only for the aCAM mode.
ACAM_FIELDS: dict[str, str] = {
    "energy.acam_search_j": "J",
    "area.acam_cell_area_m2": "m^2",
}


def _to_plain(obj: Any) -> Any:
    for name in ("to_dict", "as_dict"):
        if hasattr(obj, name) and callable(getattr(obj, name)) and not isinstance(obj, dict):
            return _to_plain(getattr(obj, name)())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    return obj


def _positive(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and 0 < x < float("inf")


def _walk(d: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(d, dict):
        for k, v in d.items():
            path = f"{prefix}.{k}" if prefix else k
            yield path, v
            yield from _walk(v, path)


@dataclass(frozen=True)
class CardView:
    """A device card as a plain dict, with its name (file path or 'default') and hash."""

    data: dict[str, Any]
    name: str
    sha256: str

    @classmethod
    def from_any(cls, card: Any, name: str | None = None) -> "CardView":
        """From a HeadCard, a dict, or a path to a card JSON file."""
        if isinstance(card, (str, Path)):
            path = Path(card)
            if not path.is_file():
                raise CardError(str(path), "<file>", "no such card file")
            try:
                data = json.loads(path.read_text())
            except json.JSONDecodeError as exc:
                raise CardError(str(path), "<file>", f"not valid JSON ({exc})") from None
            return cls(data, name or str(path), sha256_text(path.read_text()))
        plain = _to_plain(card)
        if not isinstance(plain, dict):
            raise CardError(name or "<card>", "<root>", f"expected a card object, got {type(card).__name__}")
        for attr in ("path", "source_path"):
            p = getattr(card, attr, None)
            if name is None and isinstance(p, (str, Path)):
                name = str(p)
        if name is not None and Path(name).is_file():  # hash the file the card was loaded from
            return cls(plain, name, sha256_text(Path(name).read_text()))
        text = json.dumps(plain, sort_keys=True, default=str)
        return cls(plain, name or "<in-memory card>", sha256_text(text))

    def get(self, field: str, unit: str) -> Sourced | None:
        """The number at `section.field` as a Sourced value naming this card and field, or None
        when the card says it is not characterized (JSON null). An absent key is a CardError."""
        node: Any = self.data
        for part in field.split("."):
            if not isinstance(node, dict) or part not in node:
                raise CardError(self.name, field, "missing (the reports layer needs it)")
            node = node[part]
        if node is None:
            return None
        if isinstance(node, bool) or not isinstance(node, (int, float)):
            raise CardError(self.name, field, f"expected a number, got {node!r}")
        value = float(node)
        if value != value or value < 0:
            raise CardError(self.name, field, f"expected a finite non-negative number, got {value}")
        return Sourced(value, unit, f"card {self.name}#{field}")

    def find(self, key: str, unit: str) -> Sourced | None:
        """The first number stored under a key named `key` anywhere in the card (e.g. the
        characterized circuit's `c_store_f` inside its provenance), or None."""
        for path, value in _walk(self.data):
            if path.split(".")[-1] == key and isinstance(value, (int, float)) and not isinstance(value, bool):
                return Sourced(float(value), unit, f"card {self.name}#{path}")
        return None

    def circuit_config(self) -> tuple[dict[str, Any], str] | None:
        """The gain-cell circuit config the card was characterized with, as the card carries it
        (`array.cell_config`, written by `gaincell fit`), with its source; None when absent."""
        arr = self.data.get("array")
        cfg = arr.get("cell_config") if isinstance(arr, dict) else None
        if isinstance(cfg, dict) and "c_store_f" in cfg and "w_read_n_um" in cfg:
            return dict(cfg), f"card {self.name}#array.cell_config"
        return None

    def acam_sense_time(self) -> Sourced | None:
        """The aCAM sense time: the card's `latency.acam_sense_time_s` when set, else the first
        `sense_time_s` stored anywhere in the card (older cards), else None."""
        lat = self.data.get("latency")
        if isinstance(lat, dict) and lat.get("acam_sense_time_s") is not None:
            return self.get("latency.acam_sense_time_s", "s")
        return self.find("sense_time_s", "s")

    def devices(self, field: str) -> dict[str, Any] | None:
        """The device inventory at `section.field` (e.g. `area.c2p_devices`) as
        {"fets": [(kind, w_um, l_um, count), ...], "capacitors_f": [farads, ...], "note": str};
        None when the card lacks it (older cards) or holds null. CardError for a malformed one."""
        section, _, key = field.partition(".")
        sec = self.data.get(section)
        inv = sec.get(key) if isinstance(sec, dict) else None
        if inv is None:
            return None
        if not isinstance(inv, dict) or not isinstance(inv.get("fets"), list) \
                or not isinstance(inv.get("capacitors_f"), list):
            raise CardError(self.name, field, f"expected {{fets: [...], capacitors_f: [...]}}, got {inv!r}")
        fets = []
        for i, f in enumerate(inv["fets"]):
            if not (isinstance(f, (list, tuple)) and len(f) == 4 and f[0] in FET_KINDS
                    and all(_positive(x) for x in f[1:]) and float(f[3]).is_integer()):
                raise CardError(self.name, f"{field}.fets[{i}]",
                                f"expected [nmos|pmos, w_um > 0, l_um > 0, integer count >= 1], got {f!r}")
            fets.append((str(f[0]), float(f[1]), float(f[2]), int(f[3])))
        caps = []
        for i, c in enumerate(inv["capacitors_f"]):
            if not _positive(c):
                raise CardError(self.name, f"{field}.capacitors_f[{i}]", f"expected a capacitance > 0 (F), got {c!r}")
            caps.append(float(c))
        if not fets and not caps:
            raise CardError(self.name, field, "an empty device inventory (nothing to draw): use null instead")
        return {"fets": fets, "capacitors_f": caps, "note": str(inv.get("note") or "")}

    def why_missing(self, field: str) -> str:
        """The card's own note on a null field (its section's `sources` map), or a default text."""
        section, _, key = field.partition(".")
        sec = self.data.get(section)
        if isinstance(sec, dict) and key not in sec and field in LATER_FIELDS:
            return "absent (a card built before this field existed: re-run `gaincell fit`)"
        note = sec.get("sources", {}).get(key) if isinstance(sec, dict) else None
        return note or "null in the card (not characterized)"

    def required(self, acam: bool = False) -> dict[str, Sourced | None]:
        """Every number the cost model reads (all checked now, so errors come early); None where
        the card marks a value as not characterized."""
        fields = dict(REQUIRED_FIELDS)
        if acam:
            fields.update(ACAM_FIELDS)
        out = {f: self.get(f, u) for f, u in fields.items()}
        for f, u in LATER_FIELDS.items():
            section, _, key = f.partition(".")
            present = isinstance(self.data.get(section), dict) and key in self.data[section]
            out[f] = self.get(f, u) if present else None
        return out
