"""Fit one per-circuit card (`behavioral.circuit_cards`) for each circuit that has data.

`fit_circuit_cards(characterizations, tables, ...)` returns {kind: card dict} for the kinds in
`behavioral.circuit_cards.CIRCUIT_KINDS` that have a characterization folder (or, for the gain
cell, a user CSV table). Each card records its inputs (folder or file, hashes, the
characterization's own provenance) and the fit's tool versions. Nothing here reads published
figures: a circuit card holds only what its data says (null where the data has no such value);
the head card (`behavioral.fit.build`) fills the remaining gaps from the paper, saying so.

Characterization cells: `gaincell` (with the read noise inside, or in a separate
`gaincell_noise` folder of the same cell config), `c2p`, `drivers` (alias `pwm`), `column`,
`acam`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from behavioral.cards import check_devices
from behavioral.circuit_cards import CIRCUIT_SCHEMA, circuit_card_from_dict
from behavioral.fit.acam import fit_acam, fit_match_line
from behavioral.fit.c2p import fit_c2p
from behavioral.fit.data import Characterization, CsvTable, iv_pwm_slice, scrub_paths
from behavioral.fit.decay import fit_retention
from behavioral.fit.mac import fit_mac
from behavioral.fit.noise import (fit_acam_edge_mismatch, fit_c2p_mismatch, fit_cell_mismatch, fit_read_noise,
                                  ktc_noise_v)
from gaincell.errors import CardError, ConfigError
from gaincell.provenance import provenance

NOMINAL_TEMPERATURE_C = 27.0
"""Temperature (deg C) whose retention time constant the card keeps when several were simulated."""

CELL_ALIASES: dict[str, str] = {"pwm": "drivers"}
"""Characterization cell names that feed another circuit's card."""

NOT_CHARACTERIZED = "not characterized (no such result in the data)"


def _char_input(c: Characterization) -> dict[str, Any]:
    return {"kind": "characterization", "cell": c.cell,
            "provenance": scrub_paths(c.result.get("provenance")), "sha256": dict(c.sha256)}


def _card(kind: str, name: str, inputs: Mapping[str, Any], seed: int, sections: Mapping[str, Any],
          **options: Any) -> dict[str, Any]:
    extra = {"fit_options": options} if options else {}
    card = {"schema": CIRCUIT_SCHEMA, "kind": kind, "name": name,
            "provenance": provenance(fit_seed=seed, inputs=dict(inputs), **extra), **sections}
    circuit_card_from_dict(card, f"<circuit card {kind}>")
    return card


def _scalars(c: Characterization | None, picks: Sequence[tuple[str, str, str]]) -> tuple[dict, dict]:
    """(key, analysis, scalar) -> values and sources from `c.results` (None: not characterized)."""
    vals, srcs = {}, {}
    for key, analysis, name in picks:
        v = c.scalar(analysis, name) if c is not None else None
        if v is not None and math.isfinite(v):
            vals[key], srcs[key] = v, f"SPICE characterization {c.folder}: results.{analysis}.{name}"
        else:
            vals[key], srcs[key] = None, NOT_CHARACTERIZED
    return vals, srcs


def _cost(c: Characterization | None, picks) -> dict[str, Any]:
    vals, srcs = _scalars(c, picks)
    return {**vals, "sources": srcs}


def _with_devices(c: Characterization, area: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    """`area` with `key`: the device inventory `results.inventory.<name>` of characterization `c`
    (the devices of one instance in the simulated netlist; None when the folder has none, e.g. one
    written before inventories existed). ConfigError naming the folder for a malformed one."""
    inv = ((c.result.get("results") or {}).get("inventory") or {}).get(name)
    if inv is None:
        area[key], area["sources"][key] = None, NOT_CHARACTERIZED
        return area
    try:
        area[key] = check_devices(f"{c.folder}/result.json", f"results.inventory.{name}", inv)
    except CardError as exc:
        raise ConfigError(exc.field, inv, "a device inventory {fets: [[kind, w_um, l_um, count], ...], "
                          "capacitors_f: [...], note}", source=f"{c.folder}/result.json") from None
    area["sources"][key] = (f"SPICE characterization {c.folder}: results.inventory.{name} (devices of the "
                            "simulated netlist)")
    return area


def _cell_config(c: Characterization | None, keys: Sequence[str]) -> tuple[dict[str, Any], str | None]:
    node: Any = (c.result.get("config") or {}) if c is not None else {}
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    if isinstance(node, dict) and "c_store_f" in node:
        return dict(node), f"characterization {c.folder}: config.{'.'.join(keys)}"
    return {}, None


# --- gain cell --------------------------------------------------------------------------------

def _powers(x_power_sets) -> dict[str, Any]:
    return {} if x_power_sets is None else {"x_power_sets": x_power_sets}


def _mac(gc, tables, seed, x_power_sets, v_ref_v: float, v_src: str, t_max_s: float, t_src: str):
    csv_mac = next((t for t in tables if t.kind == "mac"), None)
    csv_iv = next((t for t in tables if t.kind == "iv"), None)
    if gc is not None and "mac_charge_c" in gc.arrays:
        xg, vg = gc.array("mac_x"), gc.array("mac_v_store_v")
        q = gc.array("mac_charge_c")
        X, V = np.meshgrid(xg, vg, indexing="ij")
        fit = fit_mac(X, V, q / t_max_s, t_max_s=t_max_s, v_ref_v=v_ref_v, seed=seed, **_powers(x_power_sets))
        src, sha = f"SPICE characterization {gc.folder} (mac_charge_c)", gc.sha256
    elif csv_mac is not None:
        c = csv_mac.columns
        fit = fit_mac(c["x"], c["v_store_v"], c["charge_c"] / t_max_s, t_max_s=t_max_s, v_ref_v=v_ref_v,
                      seed=seed, **_powers(x_power_sets))
        src, sha = f"user CSV {csv_mac.path} (charge vs x and v_store)", csv_mac.sha256
    elif csv_iv is not None:
        v, i, on = iv_pwm_slice(csv_iv)
        fit = fit_mac(np.ones_like(v), v, i, t_max_s=t_max_s, v_ref_v=v_ref_v, x_power_sets=((1,),), seed=seed)
        fit.info["pwm_on_input_v"] = on
        src = (f"user CSV {csv_iv.path} (I-V table; PWM 'on' slice v_in = {on} V; charge = t_max * x * I, "
               "linear in the pulse width by construction)")
        sha = csv_iv.sha256
    else:
        raise ConfigError("fit inputs", "none", "a gaincell characterization folder or a CSV (iv or mac)")
    model = fit.model
    slope = model.linear_slopes_a_per_v().get(1)
    if slope is None:
        raise ConfigError("mac fit", model.x_powers, "a model with an x**1 term")
    sec = {
        "model": "poly_xv",
        "t_max_s": t_max_s,
        "v_ref_v": v_ref_v,
        "v_range_v": list(model.v_range_v),
        "coeffs_a": [list(r) for r in model.coeffs_a],
        "linear_slope_a_per_v": slope,
        "full_scale_a": model.full_scale_a(),
        "fit": fit.info,
        "source": f"{src}; t_max: {t_src}; v_ref: {v_src}",
    }
    return sec, sha


def _retention(gc, tables, seed, retention_device) -> dict[str, Any]:
    csv_ret = next((t for t in tables if t.kind == "retention"), None)
    if gc is not None and "ret_v_store_v" in gc.arrays:
        t = gc.array("ret_time_s")
        v = np.asarray(gc.array("ret_v_store_v"), float)
        v = v.reshape((-1,) * (3 - v.ndim) + v.shape) if v.ndim < 3 else v
        ret = gc.result.get("results", {}).get("retention", {})
        temps = ret.get("temperatures_c") or ret.get("temperature_c") or [NOMINAL_TEMPERATURE_C] * v.shape[1]
        temps = [float(x) for x in np.atleast_1d(temps)]
        per = []
        for di in range(v.shape[0]):
            for ti in range(v.shape[1]):
                f = fit_retention(t, v[di, ti], seed=seed)
                per.append({"device": di, "temperature_c": temps[ti] if ti < len(temps) else None,
                            "tau_s": f["tau_s"], "family": f["family"],
                            "heldout_rms_error_fs": f["heldout_rms_error_fs"]})
        devices = list(ret.get("devices") or range(v.shape[0]))
        if retention_device is None:
            di = 0
        elif retention_device in devices:
            di = devices.index(retention_device)
        else:
            raise ConfigError("retention_device", retention_device, " | ".join(map(str, devices)))
        for p in per:
            p["device"] = devices[p["device"]] if p["device"] < len(devices) else p["device"]
        ti = int(np.argmin([abs(x - NOMINAL_TEMPERATURE_C) for x in temps[: v.shape[1]]]))
        best = next(p for p in per if p["device"] == devices[di] and p["temperature_c"] == temps[ti])
        fit = {"method": "scipy.optimize.least_squares per device and temperature", "per_curve": per,
               "heldout_rms_error_fs": best["heldout_rms_error_fs"], "device": devices[di],
               "devices": devices}
        return {"tau_s": best["tau_s"], "temperature_c": temps[ti], "device": str(devices[di]), "fit": fit,
                "source": f"SPICE characterization {gc.folder} (ret_v_store_v), device {devices[di]} at {temps[ti]} C"}
    if csv_ret is not None:
        c = csv_ret.columns
        if "temperature_c" in c and np.ptp(c["temperature_c"]) > 0:
            temps = np.unique(c["temperature_c"])
            temp = float(temps[np.argmin(np.abs(temps - NOMINAL_TEMPERATURE_C))])
            sel = c["temperature_c"] == temp
        else:
            sel = np.ones(c["time_s"].size, bool)
            temp = float(c["temperature_c"][0]) if "temperature_c" in c else NOMINAL_TEMPERATURE_C
        fit = fit_retention(c["time_s"][sel], c["v_store_v"][sel], seed=seed)
        return {"tau_s": fit["tau_s"], "temperature_c": temp, "device": None, "fit": fit,
                "source": f"user CSV {csv_ret.path} (retention) at {temp} C"}
    return {"tau_s": None, "temperature_c": None, "device": None,
            "fit": {"method": "none: no retention data", "heldout_rms_error_fs": None},
            "source": "not characterized (no retention transient and no retention CSV)"}


def _noise_source(chars: Mapping[str, Characterization]) -> Characterization | None:
    """The folder holding the read-noise arrays: the gain cell's own, else `gaincell_noise` (whose
    cell config must equal the gain cell's when both exist)."""
    gc, gn = chars.get("gaincell"), chars.get("gaincell_noise")
    if gc is not None and "noise_sigma_charge_c" in gc.arrays:
        return gc
    if gn is None:
        return None
    if gc is not None:
        a = (gc.result.get("config") or {}).get("cell")
        b = (gn.result.get("config") or {}).get("cell")
        if a != b:
            diff = sorted(k for k in set(a or {}) | set(b or {}) if (a or {}).get(k) != (b or {}).get(k))
            raise ConfigError(f"{gn.folder}: config.cell", diff,
                              f"the cell config of {gc.folder} (the noise must be of the same cell)")
    return gn


def _noise(chars, mac: Mapping[str, Any], cell_cfg: Mapping[str, Any], cfg_src: str | None) -> dict[str, Any]:
    gc = chars.get("gaincell")
    sec: dict[str, Any] = {"read_noise_rel": None, "mismatch_sigma_rel": None, "write_noise_v": None}
    fit: dict[str, Any] = {}
    src = []
    if gc is not None and "mc_charge_c" in gc.arrays:
        f = fit_cell_mismatch(gc.array("mc_charge_c"))
        sec["mismatch_sigma_rel"] = f["mismatch_sigma_rel"]
        fit["mismatch"] = f
        src.append(f"cell mismatch: SPICE Monte Carlo {gc.folder} ({f['n_samples']} samples, "
                   f"gain-model residual {f['residual_rms_fs']:.3g} FS)")
    ns = _noise_source(chars)
    if ns is not None:
        band = ns.result.get("results", {}).get("noise", {})
        f = fit_read_noise(ns.array("noise_sigma_charge_c"), ns.array("noise_v_store_v"),
                           ns.array("noise_current_on_a"), full_scale_a=mac["full_scale_a"],
                           t_max_s=mac["t_max_s"], f_lo_hz=float(band["f_lo_hz"]), f_hi_hz=float(band["f_hi_hz"]))
        sec["read_noise_rel"] = f["read_noise_rel"]
        fit["read_noise"] = f
        src.append(f"read noise: SPICE .noise {ns.folder} (noise_sigma_charge_c, band {f['f_lo_hz']:.3g} Hz to "
                   f"1/(2 t_max) = {f['f_hi_hz']:.3g} Hz; RMS over {len(f['per_v_store'])} stored voltages, "
                   f"relative to mac.full_scale_a * t_max)")
    if cell_cfg.get("c_store_f"):
        temp = float(cell_cfg.get("temperature_c", NOMINAL_TEMPERATURE_C))
        sec["write_noise_v"] = ktc_noise_v(float(cell_cfg["c_store_f"]), temp)
        # the capacitance under its own key name: `c_store_f` is the circuit record's (array section)
        fit["write_noise"] = {"method": "formula sqrt(k_B T / C_store)",
                              "capacitance_f": float(cell_cfg["c_store_f"]), "temperature_c": temp}
        src.append(f"write noise: formula sqrt(k_B T / C_store) with C_store = {cell_cfg['c_store_f']:g} F "
                   f"and T = {temp:g} C from {cfg_src}")
    nulls = [k for k, v in sec.items() if v is None]
    if nulls:
        src.append(f"null = not characterized ({', '.join(nulls)}: no Monte Carlo, .noise or cell config data)")
    return {**sec, "fit": fit, "source": "; ".join(src)}


def gaincell_card(chars: Mapping[str, Characterization], tables: Sequence[CsvTable], *, seed: int,
                  x_power_sets=None, retention_device: str | None = None, paper_t_max_s: float,
                  paper_v_ref_v: float, paper_src) -> tuple[dict[str, Any], dict[str, Any]]:
    """The gain cell's card and the hash record of the MAC data. `paper_*`: the published t_max and
    v_ref used only when the data has none (the source then says 'paper')."""
    gc = chars.get("gaincell")
    t_max = gc.scalar("mac", "t_max_s") if gc else None
    t_src = f"characterization {gc.folder}: results.mac.t_max_s" if t_max else paper_src("t_max_s")
    t_max = t_max or float(paper_t_max_s)
    cfg = (gc.result.get("config") or {}) if gc else {}
    vdd = cfg.get("vdd_v", (cfg.get("cell") or {}).get("vdd_v") if isinstance(cfg.get("cell"), dict) else None)
    v_ref = float(vdd) / 2 if isinstance(vdd, (int, float)) else float(paper_v_ref_v)
    v_src = "VDD/2 from the characterization config" if isinstance(vdd, (int, float)) else paper_src("v_ref_v")
    mac, sha = _mac(gc, tables, seed, x_power_sets, v_ref, v_src, t_max, t_src)
    cell_cfg, cfg_src = _cell_config(gc, ("cell",))
    energy = _cost(gc, [("mac_read_j", "read", "energy_per_mac_j"), ("cell_write_j", "write", "write_energy_j")])
    if energy["cell_write_j"] is not None:
        energy["sources"]["cell_write_j"] += ("; the cell's write bitline and word line driven by ideal sources "
                                              "(the write DAC's own energy is energy.dac_write_j)")
    inputs: dict[str, Any] = {}
    for key in ("gaincell", "gaincell_noise"):
        if key in chars:
            inputs[chars[key].folder] = _char_input(chars[key])
    for t in tables:
        inputs[t.path] = {"kind": f"user CSV ({t.kind})", "sha256": t.sha256}
    sections = {
        "mac": mac,
        "retention": _retention(gc, tables, seed, retention_device),
        "noise": _noise(chars, mac, cell_cfg, cfg_src),
        "energy": energy,
        "latency": _cost(gc, [("t_max_s", "mac", "t_max_s"), ("write_time_s", "write", "write_time_s")]),
        "area": _cost(gc, [("cell_area_m2", "area", "cell_area_m2")]),
        "circuit": {"c_store_f": float(cell_cfg["c_store_f"]) if cell_cfg else None,
                    "temperature_c": float(cell_cfg["temperature_c"]) if "temperature_c" in cell_cfg else None,
                    "cell_config": cell_cfg,
                    "source": (f"cell_config, c_store_f: {cfg_src}" if cfg_src
                               else "not characterized (no cell config)")},
    }
    options = {"mac_x_power_sets": None if x_power_sets is None else [list(p) for p in x_power_sets],
               "retention_device": retention_device}
    return _card("gaincell", "gain cell", inputs, seed, sections, **options), {"mac_data_sha256": sha}


# --- periphery --------------------------------------------------------------------------------

def c2p_card(c: Characterization, *, seed: int) -> dict[str, Any] | None:
    """The charge-to-pulse converter's card (None without transfer data)."""
    if "c2p_charge_c" not in c.arrays:
        return None
    f = fit_c2p(c.array("c2p_charge_c"), c.array("c2p_pulse_width_s"), seed=seed)
    mm: dict[str, Any] = {"gain_sigma_rel": None, "offset_sigma_c": None,
                          "fit": {"method": "none: no Monte Carlo data"},
                          "source": "not characterized (no Monte Carlo data)"}
    if "mc_gain_rel" in c.arrays and "mc_offset_c" in c.arrays:
        m = fit_c2p_mismatch(c.array("mc_gain_rel"), c.array("mc_offset_c"))
        mm = {"gain_sigma_rel": m["c2p_gain_sigma_rel"], "offset_sigma_c": m["c2p_offset_sigma_c"], "fit": m,
              "source": f"c2p mismatch: SPICE Monte Carlo {c.folder} ({m['n_samples']} samples)"}
    sections = {
        "transfer": {"t_max_s": f["t_max_s"], "slope_s_per_c": f["slope_s_per_c"], "offset_c": f["offset_c"],
                     "q_sat_c": f["q_sat_c"], "fit": f, "source": f"SPICE characterization {c.folder}"},
        "mismatch": mm,
        "energy": _cost(c, [("c2p_conversion_j", "c2p", "energy_per_conversion_j")]),
        "latency": _cost(c, [("c2p_latency_s", "c2p", "latency_s")]),
        "area": _with_devices(c, _cost(c, [("c2p_area_m2", "area", "c2p_area_m2")]), "c2p_devices", "c2p"),
    }
    return _card("c2p", "charge-to-pulse converter", {c.folder: _char_input(c)}, seed, sections)


def drivers_card(c: Characterization, *, seed: int) -> dict[str, Any]:
    """The PWM driver and write DAC card (characterized scalars; no model is fitted)."""
    vals, srcs = _scalars(c, [("pwm_width_error_max_s", "pwm", "width_error_max_s"),
                              ("pwm_inl_max_lsb", "pwm", "inl_max_lsb"), ("dac_inl_max_lsb", "dac", "inl_max_lsb"),
                              ("dac_settling_time_s", "dac", "settling_time_s")])
    sections = {
        "transfer": {**vals, "fit": {"method": "none: characterized scalars, no model fitted",
                                     "heldout_rms_error_fs": None},
                     "source": "; ".join(f"{k}: {v}" for k, v in srcs.items())},
        "energy": _pwm_load(c, _cost(c, [("pwm_pulse_j", "pwm", "energy_per_pulse_j"),
                                         ("dac_write_j", "dac", "energy_per_write_j")])),
        "area": _with_devices(c, _cost(c, [("pwm_driver_area_m2", "area", "pwm_driver_area_m2")]),
                              "pwm_driver_devices", "pwm_driver"),
    }
    return _card("drivers", "PWM driver and write DAC", {c.folder: _char_input(c)}, seed, sections)


def _pwm_load(c: Characterization, energy: dict[str, Any]) -> dict[str, Any]:
    """`energy` with `pwm_load_cells`: the cells on the read line the pulse energy was measured
    on (the driver characterization's config.pwm.n_cols), so the cost model can scale it to
    other line lengths."""
    n = ((c.result.get("config") or {}).get("pwm") or {}).get("n_cols")
    ok = isinstance(n, int) and not isinstance(n, bool) and n >= 1
    energy["pwm_load_cells"] = n if ok else None
    energy["sources"]["pwm_load_cells"] = f"characterization {c.folder}: config.pwm.n_cols" if ok else NOT_CHARACTERIZED
    return energy


def column_card(c: Characterization, *, seed: int) -> dict[str, Any]:
    """The array column's card: rows on the bitline, summation error, settling, cell config."""
    col = c.result.get("results", {}).get("column") or {}
    n = col.get("n_rows")
    rows = int(n) if isinstance(n, (int, float)) and float(n).is_integer() else None
    vals, srcs = _scalars(c, [("rms_error_rel", "column", "rms_error_rel"),
                              ("gain_vs_single_cells", "column", "gain_vs_single_cells")])
    cfg, cfg_src = _cell_config(c, ("array", "cell"))
    src = [f"array_rows: characterization {c.folder}: results.column.n_rows (cells on the simulated bitline = "
           "tokens per tile)" if rows is not None else "array_rows: not characterized"]
    src += [f"{k}: {v}" for k, v in srcs.items()]
    src.append(f"cell_config, c_store_f: {cfg_src}" if cfg_src else "cell_config: not characterized")
    sections = {"column": {
        "array_rows": rows, **vals, "c_store_f": float(cfg["c_store_f"]) if cfg else None, "cell_config": cfg,
        "fit": {"method": "none: column sum compared with the single-cell charges (rms_error_rel)",
                "heldout_rms_error_fs": vals["rms_error_rel"]},
        "source": "; ".join(src)},
        "latency": _cost(c, [("settling_time_s", "column", "settling_time_s")])}
    return _card("column", "array column", {c.folder: _char_input(c)}, seed, sections)


ACAM_MC_ARRAYS = ("acam_mc_edge_lo_v", "acam_mc_edge_hi_v")
"""The acam characterization's Monte Carlo window edges (volts, one per sample)."""


def _acam_mismatch(c: Characterization) -> dict[str, Any]:
    """The aCAM circuit card's `mismatch` section: the RMS of the Monte Carlo sigmas of the
    window's lower and upper edge (volts), or null without the MC arrays."""
    if not all(a in c.arrays for a in ACAM_MC_ARRAYS):
        return {"edge_sigma_v": None, "fit": {"method": "none: no Monte Carlo window edges"},
                "source": NOT_CHARACTERIZED}
    f = fit_acam_edge_mismatch(*(c.array(a) for a in ACAM_MC_ARRAYS))
    src = (f"aCAM window mismatch: SPICE Monte Carlo {c.folder} (arrays {', '.join(ACAM_MC_ARRAYS)}, "
           f"{f['n_samples']} samples; edge sigmas {1e3 * f['edge_lo_sigma_v']:.1f} / "
           f"{1e3 * f['edge_hi_sigma_v']:.1f} mV, RMS)")
    return {"edge_sigma_v": f["acam_edge_sigma_v"], "fit": f, "source": src}


def acam_card(c: Characterization, *, seed: int) -> dict[str, Any] | None:
    """The aCAM cell's card (None without match data)."""
    if "acam_match_v" not in c.arrays:
        return None
    # the window the input sees: the target edges when given, else the stored bounds
    bounds = c.arrays.get("acam_window_target_v", c.array("acam_bounds_v"))
    f = fit_acam(c.array("acam_v_in_v"), bounds, c.array("acam_match_v"), seed=seed)
    combine, src_c = "product", "product (physics of a discharging match line; no row data)"
    if "acam_row_ml_v" in c.arrays and "acam_row_n_outside" in c.arrays:
        ml = fit_match_line(c.array("acam_row_n_outside"), c.array("acam_row_ml_v"))
        f["match_line"] = ml
        combine = ml["combine"]
        src_c = f"{combine} (chosen by a fit to the simulated match line vs number of cells outside"
        src_c += ")" if ml["best_fit"] == combine else (
            f"; the {ml['best_fit']} rule fits better, {ml['candidates'][ml['best_fit']]:.3f} vs "
            f"{ml['rms_error_fs']:.3f} of the swing, but the attention emulates only {combine})")
    sections = {
        "match": {"model": "sigmoid_window", "combine": combine, "width_v": f["width_v"],
                  "steepness_per_v": f["steepness_per_v"], "fit": f,
                  "source": f"SPICE characterization {c.folder}; combine: {src_c}"},
        "mismatch": _acam_mismatch(c),
        "energy": _cost(c, [("acam_search_j", "acam", "energy_per_search_j")]),
        "latency": _cost(c, [("acam_sense_time_s", "acam", "sense_time_s")]),
        "area": _cost(c, [("acam_cell_area_m2", "area", "acam_cell_area_m2")]),
    }
    return _card("acam", "aCAM cell", {c.folder: _char_input(c)}, seed, sections)


def fit_circuit_cards(chars: Mapping[str, Characterization], tables: Sequence[CsvTable] = (), *, seed: int = 0,
                      x_power_sets=None, retention_device: str | None = None, paper_t_max_s: float,
                      paper_v_ref_v: float, paper_src) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """{kind: circuit card dict} for every circuit with data, and the MAC data hash record."""
    chars = {CELL_ALIASES.get(k, k): c for k, c in chars.items()}
    cards: dict[str, dict[str, Any]] = {}
    cards["gaincell"], mac_hash = gaincell_card(
        chars, tables, seed=seed, x_power_sets=x_power_sets, retention_device=retention_device,
        paper_t_max_s=paper_t_max_s, paper_v_ref_v=paper_v_ref_v, paper_src=paper_src)
    for kind, fn in (("c2p", c2p_card), ("drivers", drivers_card), ("column", column_card), ("acam", acam_card)):
        if kind in chars:
            card = fn(chars[kind], seed=seed)
            if card is not None:
                cards[kind] = card
    return cards, mac_hash
