"""`characterize(quick=True)` of the gain cell and the column writes schema-valid results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from circuits.characterize import column, gaincell_cell
from circuits.characterize.common import SCHEMA


def _check_common(out: Path, cell: str) -> tuple[dict, dict]:
    record = json.loads((out / "result.json").read_text())
    assert record["schema"] == SCHEMA and record["cell"] == cell
    prov = record["provenance"]
    for key in ("corner", "temperature_c", "seed", "netlist_sha256"):
        assert key in prov, key
    assert prov["netlist_sha256"] and all(len(h) == 64 for h in prov["netlist_sha256"].values())
    with np.load(out / record["data_file"]) as data:
        arrays = {k: data[k] for k in data.files}
    assert list(out.glob("*.png"))
    return record, arrays


@pytest.fixture(scope="module")
def gaincell_result(tmp_path_factory) -> tuple[dict, dict]:
    out = tmp_path_factory.mktemp("gaincell")
    gaincell_cell.characterize(out, seed=3, workers=2, quick=True)
    return _check_common(out, "gaincell")


# The quick gain-cell characterization (10 ngspice jobs, two of them 1e7 s IGZO holds) runs in
# about 1.5 min on a loaded 2-core machine since the retention transients are step-bounded.
def test_gaincell_result_schema(gaincell_result) -> None:
    record, a = gaincell_result
    r = record["results"]
    nv, ni = a["iv_v_store_v"].size, a["iv_v_in_v"].size
    assert a["iv_current_a"].shape == (ni, nv)
    assert a["mac_charge_c"].shape == (a["mac_x"].size, a["mac_v_store_v"].size)
    assert a["ret_v_store_v"].shape == (2, len(r["retention"]["temperatures_c"]), a["ret_time_s"].size)
    assert a["mc_charge_c"].shape == (r["mc"]["n_samples"], a["mc_x"].size, a["mc_v_store_v"].size)
    assert r["mac"]["t_max_s"] == pytest.approx(15e-9) and r["mac"]["full_scale_c"] > 0
    for dev in ("si", "igzo"):
        for temp in ("27", "85"):
            assert r["retention"]["tau_s"][dev][temp] > 0
    assert r["write"]["write_time_s"] > 0 and r["write"]["write_energy_j"] > 0
    assert r["read"]["energy_per_mac_j"] > 0
    assert r["mc"]["sigma_charge_rel"] > 0 and r["mc"]["distinct_samples"] == r["mc"]["n_samples"]
    assert 0 < r["iv"]["reference"]["rms_error_rel_full_scale"] < 0.1
    # read noise from ngspice .noise: on-state cell noisier than an idle one, a small fraction of FS
    n = r["noise"]
    assert 0 < n["sigma_charge_idle_c_max"] < n["sigma_charge_c_max"]
    assert 1e-5 < n["sigma_charge_rel_max"] < 0.05


def test_gaincell_physics_in_result(gaincell_result) -> None:
    record, a = gaincell_result
    r = record["results"]
    assert np.all(np.diff(a["mac_charge_c"][-1]) > 0)  # charge grows with V_store at x = 1
    assert np.all(np.abs(a["mac_charge_c"][0]) < 0.02 * r["mac"]["full_scale_c"])  # x = 0: nothing
    # retention: IGZO (1e-19 A/um) holds orders of magnitude longer than silicon; 85 C leaks more
    tau = r["retention"]["tau_s"]
    assert tau["igzo"]["27"] > 1e4 * tau["si"]["27"]
    assert tau["si"]["85"] < tau["si"]["27"] and tau["igzo"]["85"] < tau["igzo"]["27"]


def test_column_sum_matches_single_cells(tmp_path: Path) -> None:
    column.characterize(tmp_path, seed=5, workers=2, quick=True)
    record, a = _check_common(tmp_path, "column")
    c = record["results"]["column"]
    assert a["col_charge_c"].shape == a["col_expected_c"].shape == (c["n_cases"],)
    # measured rms 1e-4 of full scale (N=8, virtual ground, default wire parasitics)
    assert c["rms_error_rel"] < 0.01
    assert c["gain_vs_single_cells"] == pytest.approx(1.0, abs=0.01)
    assert c["settling_time_s"] < 2e-9
