"""Assemble a head card from characterization folders and/or user CSV tables.

Each number of the card comes, in this order, from: our SPICE characterization (folders under
`runs/characterize/<cell>/`), the user's CSV data, or the published figures in
`behavioral/data/paper_reference.json`. Every section's `source` (and the cost sections'
`sources` map) says which, so a card never passes off a paper figure as our own simulation.
Quantities nobody has characterized are written as null, never guessed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from behavioral.cards import SCHEMA, card_from_dict
from behavioral.fit.acam import fit_acam, fit_match_line
from behavioral.fit.c2p import fit_c2p
from behavioral.fit.data import Characterization, CsvTable, iv_pwm_slice
from behavioral.fit.decay import fit_retention, per_token_factor
from behavioral.fit.mac import fit_mac
from behavioral.fit.noise import fit_c2p_mismatch, fit_cell_mismatch
from gaincell.errors import ConfigError
from gaincell.provenance import provenance, sha256_file

PAPER_PATH = Path(__file__).resolve().parent.parent / "data" / "paper_reference.json"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent
NOMINAL_TEMPERATURE_C = 27.0
"""Temperature (deg C) whose retention time constant the card keeps when several were simulated."""


@lru_cache(maxsize=1)
def paper() -> dict[str, Any]:
    """Published figures (value and note per name) used where no data of our own exists."""
    return json.loads(PAPER_PATH.read_text())["figures"]


def _pv(name: str) -> Any:
    return paper()[name]["value"]


def _paper_src(*names: str) -> str:
    return "paper (Leroux et al. 2025): " + "; ".join(f"{n} = {_pv(n)}" for n in names)


def portable_path(path: str | os.PathLike) -> str:
    """A path fit to record in a shipped card: relative to the repository when inside it,
    else the file's name alone (its sha256 identifies it); never a machine's absolute path."""
    p = Path(path)
    try:
        full = p.resolve()
    except OSError:
        return p.name
    try:
        return full.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return p.as_posix() if not p.is_absolute() and ".." not in p.parts else p.name


def _scrub_paths(obj: Any) -> Any:
    """Replace absolute file paths in a provenance record by `portable_path`."""
    if isinstance(obj, dict):
        return {k: _scrub_paths(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_scrub_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and " " not in obj:
        return portable_path(obj)
    return obj


def _cell(chars: Mapping[str, Characterization], name: str) -> Characterization | None:
    return chars.get(name)


def _powers(x_power_sets) -> dict[str, Any]:
    return {} if x_power_sets is None else {"x_power_sets": x_power_sets}


def _mac_section(chars, tables, seed, x_power_sets=None) -> tuple[dict[str, Any], dict[str, Any]]:
    gc = _cell(chars, "gaincell")
    csv_mac = next((t for t in tables if t.kind == "mac"), None)
    csv_iv = next((t for t in tables if t.kind == "iv"), None)
    t_max = gc.scalar("mac", "t_max_s") if gc else None
    t_src = f"characterization {gc.folder}: results.mac.t_max_s" if t_max else _paper_src("t_max_s")
    t_max = t_max or float(_pv("t_max_s"))
    cfg = (gc.result.get("config") or {}) if gc else {}
    vdd = cfg.get("vdd_v", (cfg.get("cell") or {}).get("vdd_v") if isinstance(cfg.get("cell"), dict) else None)
    v_ref = float(vdd) / 2 if isinstance(vdd, (int, float)) else float(_pv("v_ref_v"))
    v_src = "VDD/2 from the characterization config" if isinstance(vdd, (int, float)) else _paper_src("v_ref_v")
    if gc is not None and "mac_charge_c" in gc.arrays:
        xg, vg = gc.array("mac_x"), gc.array("mac_v_store_v")
        q = gc.array("mac_charge_c")
        X, V = np.meshgrid(xg, vg, indexing="ij")
        fit = fit_mac(X, V, q / t_max, t_max_s=t_max, v_ref_v=v_ref, seed=seed, **_powers(x_power_sets))
        src = f"SPICE characterization {gc.folder} (mac_charge_c)"
    elif csv_mac is not None:
        c = csv_mac.columns
        fit = fit_mac(c["x"], c["v_store_v"], c["charge_c"] / t_max, t_max_s=t_max, v_ref_v=v_ref, seed=seed,
                      **_powers(x_power_sets))
        src = f"user CSV {csv_mac.path} (charge vs x and v_store)"
    elif csv_iv is not None:
        v, i, on = iv_pwm_slice(csv_iv)
        fit = fit_mac(np.ones_like(v), v, i, t_max_s=t_max, v_ref_v=v_ref, x_power_sets=((1,),), seed=seed)
        fit.info["pwm_on_input_v"] = on
        src = (f"user CSV {csv_iv.path} (I-V table; PWM 'on' slice v_in = {on} V; charge = t_max * x * I, "
               "linear in the pulse width by construction)")
    else:
        raise ConfigError("fit inputs", "none", "a gaincell characterization folder or a CSV (iv or mac)")
    model = fit.model
    slope = model.linear_slopes_a_per_v().get(1)
    if slope is None:
        raise ConfigError("mac fit", model.x_powers, "a model with an x**1 term")
    sec = {
        "model": "poly_xv",
        "t_max_s": t_max,
        "v_ref_v": v_ref,
        "v_range_v": list(model.v_range_v),
        "coeffs_a": [list(r) for r in model.coeffs_a],
        "linear_slope_a_per_v": slope,
        "full_scale_a": model.full_scale_a(),
        "fit": fit.info,
        "source": f"{src}; t_max: {t_src}; v_ref: {v_src}",
    }
    return sec, {"mac_data_sha256": (gc.sha256 if gc is not None and "mac_charge_c" in gc.arrays
                                     else (csv_mac or csv_iv).sha256)}


def _decay_section(chars, tables, token_period_s, seed, retention_device) -> dict[str, Any]:
    gc = _cell(chars, "gaincell")
    csv_ret = next((t for t in tables if t.kind == "retention"), None)
    tau, fit, src, temp = None, {}, "", NOMINAL_TEMPERATURE_C
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
        tau, temp = best["tau_s"], temps[ti]
        fit = {"method": "scipy.optimize.least_squares per device and temperature", "per_curve": per,
               "heldout_rms_error_fs": best["heldout_rms_error_fs"], "device": devices[di],
               "devices": devices}
        src = f"SPICE characterization {gc.folder} (ret_v_store_v), device {devices[di]} at {temp} C"
    elif csv_ret is not None:
        c = csv_ret.columns
        if "temperature_c" in c and np.ptp(c["temperature_c"]) > 0:
            temps = np.unique(c["temperature_c"])
            temp = float(temps[np.argmin(np.abs(temps - NOMINAL_TEMPERATURE_C))])
            sel = c["temperature_c"] == temp
        else:
            sel = np.ones(c["time_s"].size, bool)
            temp = float(c["temperature_c"][0]) if "temperature_c" in c else NOMINAL_TEMPERATURE_C
        fit = fit_retention(c["time_s"][sel], c["v_store_v"][sel], seed=seed)
        tau = fit["tau_s"]
        src = f"user CSV {csv_ret.path} (retention) at {temp} C"
    if tau is None:
        tau = float(_pv("tau_s"))
        fit = {"method": "none: published figures", "heldout_rms_error_fs": None}
        src = _paper_src("tau_s", "per_token_decay_exponent")
    if token_period_s is None:
        # the paper's per-token exponent and tau imply the token period: 1.6e-4 * 5 ms = 0.8 us
        token_period_s = float(_pv("per_token_decay_exponent")) * float(_pv("tau_s"))
        src += ("; token_period_s = per_token_decay_exponent * tau from the paper "
                f"({token_period_s:.3g} s)")
    else:
        src += f"; token_period_s = {token_period_s} s given by the user"
    return {"tau_s": tau, "token_period_s": token_period_s,
            "per_token_factor": per_token_factor(tau, token_period_s), "temperature_c": temp,
            "fit": fit, "source": src}


def _c2p_section(chars, t_max_mac, seed) -> dict[str, Any]:
    c2p = _cell(chars, "c2p")
    s_qk, s_sv = float(_pv("s_sat_qk_a")), float(_pv("s_sat_sv_a"))
    if c2p is not None and "c2p_charge_c" in c2p.arrays:
        f = fit_c2p(c2p.array("c2p_charge_c"), c2p.array("c2p_pulse_width_s"), seed=seed)
        # our converter saturates at q_sat: the column's saturation mean current is q_sat divided
        # by the read (integration) window t_max of the MAC; the S.V converter keeps the paper's
        # ratio s_sv / s_qk
        s_qk_ours = f["q_sat_c"] / t_max_mac
        return {"t_max_s": f["t_max_s"], "s_sat_qk_a": s_qk_ours, "s_sat_sv_a": s_qk_ours * s_sv / s_qk,
                "slope_s_per_c": f["slope_s_per_c"], "offset_c": f["offset_c"], "q_sat_c": f["q_sat_c"],
                "fit": f, "source": f"SPICE characterization {c2p.folder}; s_sat_sv_a keeps the "
                                    f"paper's ratio {s_sv / s_qk:g} to s_sat_qk_a"}
    t_max = float(_pv("t_max_s"))
    q_sat = s_qk * t_max
    return {"t_max_s": t_max, "s_sat_qk_a": s_qk, "s_sat_sv_a": s_sv, "slope_s_per_c": t_max / q_sat,
            "offset_c": 0.0, "q_sat_c": q_sat,
            "fit": {"method": "none: published figures", "heldout_rms_error_fs": None},
            "source": _paper_src("t_max_s", "s_sat_qk_a", "s_sat_sv_a") + "; ideal converter (offset 0, "
                      "slope = t_max / q_sat)"}


def _quant_section() -> dict[str, Any]:
    names = ("q_levels", "q_range", "kv_levels", "kv_range_v", "out_levels", "out_range")
    sec = {n: _pv(n) for n in names}
    sec["source"] = _paper_src(*names)
    return sec


def _noise_section(chars) -> dict[str, Any]:
    gc, c2p = _cell(chars, "gaincell"), _cell(chars, "c2p")
    sec: dict[str, Any] = {"read_noise_rel": None, "mismatch_sigma_rel": None,
                           "c2p_gain_sigma_rel": None, "c2p_offset_sigma_c": None}
    src = []
    if gc is not None and "mc_charge_c" in gc.arrays:
        f = fit_cell_mismatch(gc.array("mc_charge_c"))
        sec["mismatch_sigma_rel"] = f["mismatch_sigma_rel"]
        src.append(f"cell mismatch: SPICE Monte Carlo {gc.folder} ({f['n_samples']} samples, "
                   f"gain-model residual {f['residual_rms_fs']:.3g} FS)")
    if c2p is not None and "mc_gain_rel" in c2p.arrays and "mc_offset_c" in c2p.arrays:
        f = fit_c2p_mismatch(c2p.array("mc_gain_rel"), c2p.array("mc_offset_c"))
        sec["c2p_gain_sigma_rel"] = f["c2p_gain_sigma_rel"]
        sec["c2p_offset_sigma_c"] = f["c2p_offset_sigma_c"]
        src.append(f"c2p mismatch: SPICE Monte Carlo {c2p.folder} ({f['n_samples']} samples)")
    nulls = [k for k, v in sec.items() if v is None]
    if nulls:
        src.append(f"null = not characterized ({', '.join(nulls)}: no Monte Carlo or transient-noise data)")
    sec["source"] = "; ".join(s for s in src if s)
    return sec


def _acam_section(chars, seed) -> dict[str, Any]:
    ac = _cell(chars, "acam")
    if ac is not None and "acam_match_v" in ac.arrays:
        # the window the input sees: the target edges when given, else the stored bounds
        bounds = ac.arrays.get("acam_window_target_v", ac.array("acam_bounds_v"))
        f = fit_acam(ac.array("acam_v_in_v"), bounds, ac.array("acam_match_v"), seed=seed)
        combine, src_c = "product", "product (physics of a discharging match line; no row data)"
        if "acam_row_ml_v" in ac.arrays and "acam_row_n_outside" in ac.arrays:
            ml = fit_match_line(ac.array("acam_row_n_outside"), ac.array("acam_row_ml_v"))
            f["match_line"] = ml
            combine = ml["combine"]
            src_c = f"{combine} (chosen by a fit to the simulated match line vs number of cells outside)"
        return {"model": "sigmoid_window", "combine": combine, "width_v": f["width_v"],
                "steepness_per_v": f["steepness_per_v"], "fit": f,
                "source": f"SPICE characterization {ac.folder}; combine: {src_c}"}
    return {"model": "sigmoid_window", "combine": "product", "width_v": float(_pv("acam_width_v")),
            "steepness_per_v": float(_pv("acam_steepness_per_v")),
            "fit": {"method": "none: published prototype", "heldout_rms_error_fs": None},
            "source": "aCAM prototype of Manea et al. (arXiv:2410.09755): width 0.1 V, steepness 200 /V; "
                      "combine: product (a precharged match line discharges through every mismatching "
                      "cell, so per-cell factors multiply)"}


def _from_results(chars, picks: Sequence[tuple[str, str, str, str]]) -> tuple[dict, dict]:
    """(card key, 'cell|alternative cell', analysis, scalar) -> value and source from results."""
    vals, srcs = {}, {}
    for key, cells, analysis, name in picks:
        c = next((chars[x] for x in cells.split("|") if x in chars), None)
        v = c.scalar(analysis, name) if c else None
        if v is not None and math.isfinite(v):
            vals[key], srcs[key] = v, f"SPICE characterization {c.folder}: results.{analysis}.{name}"
    return vals, srcs


def _cost_sections(chars) -> dict[str, dict[str, Any]]:
    dims, window = int(_pv("head_dim")), int(_pv("window_tokens"))
    e_vals, e_src = _from_results(chars, [
        ("mac_read_j", "gaincell", "read", "energy_per_mac_j"),
        ("cell_write_j", "gaincell", "write", "write_energy_j"),
        ("pwm_pulse_j", "drivers|pwm", "pwm", "energy_per_pulse_j"),
        ("c2p_conversion_j", "c2p", "c2p", "energy_per_conversion_j"),
        ("acam_search_j", "acam", "acam", "energy_per_search_j"),
        ("dac_write_j", "drivers", "dac", "energy_per_write_j"),
    ])
    paper_e = {
        "mac_read_j": (float(_pv("qk_array_energy_per_token_per_head_j")) / (dims * window),
                       "paper: Q.K array energy per token per head / (64 dims x 1024 tokens); "
                       "includes the array's share of periphery, so an upper bound"),
        "cell_write_j": (float(_pv("dac_write_energy_per_token_per_head_j")) / (2 * dims),
                         "paper: DAC write energy per token per head / (2 x 64 cells), DAC included"),
    }
    if "cell_write_j" in e_src:
        e_src["cell_write_j"] += ("; the cell's write bitline and word line driven by ideal sources (the write "
                                  "DAC's own energy is energy.dac_write_j)")
    l_vals, l_src = _from_results(chars, [
        ("t_max_s", "gaincell", "mac", "t_max_s"),
        ("c2p_latency_s", "c2p", "c2p", "latency_s"),
        ("write_time_s", "gaincell", "write", "write_time_s"),
        ("settling_time_s", "column", "column", "settling_time_s"),
        ("acam_sense_time_s", "acam", "acam", "sense_time_s"),
    ])
    paper_l = {"t_max_s": (float(_pv("t_max_s")), "paper: t_max = 15 ns")}
    a_vals, a_src = _from_results(chars, [
        ("cell_area_m2", "gaincell", "area", "cell_area_m2"),
        ("c2p_area_m2", "c2p", "area", "c2p_area_m2"),
        ("pwm_driver_area_m2", "drivers|pwm", "area", "pwm_driver_area_m2"),
        ("acam_cell_area_m2", "acam", "area", "acam_cell_area_m2"),
    ])
    paper_a = {"cell_area_m2": (float(_pv("cell_area_m2")), "paper (second-hand): 6T cell of about 1 um^2")}
    out = {}
    for sec, keys, vals, srcs, fallback in (
        ("energy", ("mac_read_j", "cell_write_j", "pwm_pulse_j", "c2p_conversion_j", "acam_search_j",
                    "dac_write_j"),
         e_vals, e_src, paper_e),
        ("latency", ("t_max_s", "c2p_latency_s", "write_time_s", "settling_time_s", "acam_sense_time_s"),
         l_vals, l_src, paper_l),
        ("area", ("cell_area_m2", "c2p_area_m2", "pwm_driver_area_m2", "acam_cell_area_m2"),
         a_vals, a_src, paper_a),
    ):
        d: dict[str, Any] = {}
        s: dict[str, str] = {}
        for k in keys:
            if k in vals:
                d[k], s[k] = vals[k], srcs[k]
            elif k in fallback:
                d[k], s[k] = fallback[k]
            else:
                d[k], s[k] = None, "not characterized (no SPICE result and no published figure)"
        d["sources"] = s
        out[sec] = d
    return out


def _array_section(chars) -> dict[str, Any] | None:
    """The characterized circuit: storage capacitance, column rows, gain-cell config."""
    gc, col = _cell(chars, "gaincell"), _cell(chars, "column")
    if gc is None and col is None:
        return None
    cfg, src = {}, []
    for c, keys in ((gc, ("cell",)), (col, ("array", "cell"))):
        node = (c.result.get("config") or {}) if c is not None else {}
        for k in keys:
            node = node.get(k) if isinstance(node, dict) else None
        if isinstance(node, dict) and "c_store_f" in node:
            cfg = dict(node)
            src.append(f"cell_config, c_store_f: characterization {c.folder}: config.{'.'.join(keys)}")
            break
    rows = None
    if col is not None:
        n = (col.result.get("results", {}).get("column") or {}).get("n_rows")
        if isinstance(n, (int, float)) and float(n).is_integer():
            rows = int(n)
            src.append(f"array_rows: characterization {col.folder}: results.column.n_rows "
                       "(cells on the simulated bitline = tokens per tile)")
    if rows is None:
        src.append("array_rows: null (no column characterization)")
    c_store = cfg.get("c_store_f")
    return {"c_store_f": float(c_store) if isinstance(c_store, (int, float)) else None,
            "array_rows": rows, "cell_config": cfg,
            "source": "; ".join(src) or "not characterized"}


def build_card(
    *,
    characterizations: Mapping[str, Characterization] | None = None,
    tables: Sequence[CsvTable] = (),
    token_period_s: float | None = None,
    retention_device: str | None = None,
    name: str = "gaincell-head",
    seed: int = 0,
    mac_x_powers: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Fit every section and return a validated card dict (schema `gaincell.card/1`).

    Args:
        characterizations: cell name ('gaincell', 'c2p', 'acam', 'pwm', 'column', ...) -> folder.
        tables: user CSV tables (kinds iv, mac, retention).
        token_period_s: time between two tokens (seconds) for the per-token decay factor
            (None: the period implied by the paper's per-token factor and tau).
        retention_device: which simulated write device's retention the card keeps (e.g. 'si',
            'igzo'; None: the first one).
        seed: seed of the train/held-out splits.
        mac_x_powers: restrict the MAC family to these powers of the input (e.g. (1,): charge
            linear in the pulse width, which the fused attention evaluates with one matmul);
            None: every family, chosen by held-out error.
    """
    # recorded paths must not be a machine's absolute paths: relative to the repo, else the name
    chars = {k: dataclasses.replace(c, folder=portable_path(c.folder))
             for k, c in dict(characterizations or {}).items()}
    tables = [dataclasses.replace(t, path=portable_path(t.path)) for t in tables]
    mac, mac_hash = _mac_section(chars, tables, seed, None if mac_x_powers is None else (tuple(mac_x_powers),))
    card = {
        "schema": SCHEMA,
        "name": name,
        "provenance": provenance(
            fit_seed=seed,
            paper_reference_sha256=sha256_file(PAPER_PATH),
            characterizations={k: {"folder": c.folder, "provenance": _scrub_paths(c.result.get("provenance")),
                                   "sha256": dict(c.sha256)} for k, c in chars.items()},
            csv_inputs={t.path: t.sha256 for t in tables},
            **mac_hash,
        ),
        "mac": mac,
        "decay": _decay_section(chars, tables, token_period_s, seed, retention_device),
        "c2p": _c2p_section(chars, mac["t_max_s"], seed),
        "quant": _quant_section(),
        "noise": _noise_section(chars),
        "acam": _acam_section(chars, seed),
        **_cost_sections(chars),
    }
    array = _array_section(chars)
    if array is not None:
        card["array"] = array
    card_from_dict(card, f"<card {name}>")
    return json.loads(json.dumps(card, default=float))
