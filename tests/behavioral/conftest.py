"""Characterization folders with known physics for every circuit (schema of docs/INTERFACES.md)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from behavioral.fit.acam import window
from behavioral.fit.c2p import c2p_model
from behavioral.mac_model import PolyMacModel
from gaincell.fileio import write_json, write_npz

T_MAX = 15e-9
# I = x * (2e-5 w + 1e-5 w^2 + 3e-5 w^3) amperes, w = V - 0.45 V
TRUE = PolyMacModel(((0.0,), (0.0, 2e-5, 1e-5, 3e-5)), 0.45, T_MAX, (0.0, 0.9))
CELL_CONFIG = {"vdd_v": 0.9, "c_store_f": 10e-15, "temperature_c": 27.0}
NOISE_V = np.linspace(0.0, 0.9, 5)
NOISE_SIGMA_C = np.array([7e-17, 5e-17, 3e-17, 6e-17, 1.3e-16])


def _result(folder: Path, cell: str, results: dict, config: dict | None = None, **arrays) -> Path:
    write_npz(folder / "data.npz", **arrays)
    write_json(folder / "result.json", {
        "schema": "gaincell.characterization/1", "cell": cell, "config": config or {},
        "provenance": {"ngspice": "ngspice-39", "corner": "tt", "temperature_c": 27, "seed": 0},
        "results": results, "data_file": "data.npz"})
    return folder


def noise_arrays() -> dict[str, np.ndarray]:
    return {"noise_v_store_v": NOISE_V, "noise_sigma_charge_c": NOISE_SIGMA_C,
            "noise_current_on_a": np.array([-9e-6, -4e-6, -4e-7, 4e-6, 1.1e-5])}


NOISE_RESULTS = {"f_lo_hz": 1e3, "f_hi_hz": 1 / (2 * T_MAX)}
# device inventories as the drivers / c2p characterizations record them (results.inventory)
PWM_DRIVER_DEVICES = {"fets": [["nmos", 1.0, 0.15, 2], ["pmos", 2.0, 0.35, 2]], "capacitors_f": [],
                      "note": "test driver"}
C2P_DEVICES = {"fets": [["nmos", 0.42, 0.15, 3]], "capacitors_f": [3e-12, 5e-15], "note": "test converter"}


@pytest.fixture()
def fake_truth() -> dict:
    """The numbers the fake folders were made from."""
    return {"t_max_s": T_MAX, "mac": TRUE, "cell_config": dict(CELL_CONFIG), "noise_v_store_v": NOISE_V,
            "noise_sigma_charge_c": NOISE_SIGMA_C}


@pytest.fixture()
def fake_folders(tmp_path) -> dict[str, Path]:
    """One folder per circuit: gaincell (MAC, retention, MC, noise), c2p, drivers, column, acam."""
    x, v = np.linspace(0, 1, 11), np.linspace(0, 0.9, 19)
    X, V = np.meshgrid(x, v, indexing="ij")
    q = np.asarray(TRUE.charge_c(X, V))
    t = np.logspace(-7, -1, 60)
    ret = np.stack([np.stack([0.45 + 0.4 * np.exp(-t / tau) for tau in (2e-3, 1e-3)]) for _ in range(2)])
    mc = (1 + 0.02 * np.random.default_rng(1).standard_normal(30))[:, None, None] * q
    out = {}
    out["gaincell"] = _result(
        tmp_path / "gaincell", "gaincell",
        {"mac": {"t_max_s": T_MAX, "full_scale_c": float(np.abs(q).max())},
         "retention": {"devices": ["si", "igzo"], "temperatures_c": [27, 85]},
         "read": {"energy_per_mac_j": 2e-15}, "write": {"write_time_s": 3e-9, "write_energy_j": 5e-15},
         "noise": NOISE_RESULTS},
        {"cell": CELL_CONFIG},
        mac_x=x, mac_v_store_v=v, mac_charge_c=q, ret_time_s=t, ret_v_store_v=ret, mc_x=x, mc_v_store_v=v,
        mc_charge_c=mc, **noise_arrays())
    qc = np.linspace(-0.1e-12, 1.6e-12, 40)
    out["c2p"] = _result(
        tmp_path / "c2p", "c2p", {"c2p": {"energy_per_conversion_j": 1e-13, "latency_s": 2e-9},
                                  "inventory": {"c2p": C2P_DEVICES}}, None,
        c2p_charge_c=qc, c2p_pulse_width_s=c2p_model(qc, 12500.0, 0.0, 15e-9),
        mc_offset_c=np.array([1e-15, -2e-15, 0.5e-15, 0.0]), mc_gain_rel=np.array([1.01, 0.99, 1.0, 1.02]))
    out["drivers"] = _result(
        tmp_path / "drivers", "drivers",
        {"pwm": {"energy_per_pulse_j": 6e-13, "inl_max_lsb": 0.1, "width_error_max_s": 1e-11},
         "dac": {"energy_per_write_j": 3e-13, "inl_max_lsb": 0.2, "settling_time_s": 4e-9},
         "inventory": {"pwm_driver": PWM_DRIVER_DEVICES}}, None,
        pwm_code=np.arange(4), pwm_width_s=np.arange(4) * 1e-9)
    out["column"] = _result(
        tmp_path / "column", "column",
        {"column": {"n_rows": 64, "rms_error_rel": 1e-4, "gain_vs_single_cells": 1.0, "settling_time_s": 1.5e-10}},
        {"array": {"cell": CELL_CONFIG}},
        col_charge_c=np.ones(3), col_expected_c=np.ones(3))
    xa = np.linspace(0, 0.9, 91)
    b = np.array([[0.2, 0.35], [0.4, 0.6]])
    out["acam"] = _result(
        tmp_path / "acam", "acam", {"acam": {"energy_per_search_j": 3e-15, "sense_time_s": 1e-9}}, None,
        acam_v_in_v=xa, acam_bounds_v=b + 0.05, acam_window_target_v=b,
        acam_match_v=0.9 * window(xa[None, :], b[:, :1], b[:, 1:], 150.0),
        acam_row_n_outside=np.arange(7), acam_row_ml_v=0.05 + 0.85 * 0.5 ** np.arange(7))
    return out
