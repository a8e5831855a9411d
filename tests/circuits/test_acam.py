"""Capacitor gain-cell aCAM with real ngspice and sky130: window matching, edge map, row."""

from __future__ import annotations

import numpy as np
import pytest

from circuits.acam import AcamConfig, bounds_for_window
from gaincell.errors import ConfigError


def test_bad_acam_parameters_name_the_field():
    with pytest.raises(ConfigError) as info:
        AcamConfig(write_device="flash")
    assert info.value.field == "write_device"
    with pytest.raises(ConfigError) as info:
        AcamConfig(t_sense_s=0.0)
    assert info.value.field == "t_sense_s"


def test_bounds_for_window_inverts_a_map():
    v = np.linspace(0.3, 0.7, 5)
    lo = 0.9 - v  # decreasing in the stored voltage
    hi = v + 0.0  # increasing
    slo, shi = bounds_for_window(v, lo, hi, 0.35, 0.6)
    assert slo == pytest.approx(0.55) and shi == pytest.approx(0.6)


@pytest.fixture(scope="module")
def acam_record(tmp_path_factory):
    from circuits.characterize import acam

    out = tmp_path_factory.mktemp("acam")
    return out, acam.characterize(out, seed=1, workers=2, quick=True)


def test_acam_matches_inside_window_only(acam_record):
    out, rec = acam_record
    data = np.load(out / "data.npz")
    vdd = AcamConfig().vdd_v
    v_in, match = data["acam_v_in_v"], data["acam_match_v"]
    for w, (lo, hi) in enumerate(data["acam_window_target_v"]):
        # margin: the measured transient edges sit within ~0.1 V of the targets (quick grid)
        inside = (v_in > lo + 0.1) & (v_in < hi - 0.1)
        outside = (v_in < lo - 0.15) | (v_in > hi + 0.15)
        assert inside.any() and outside.any()
        assert np.all(match[w, inside] > vdd / 2), f"window {w}: inside input must keep ML high"
        assert np.all(match[w, outside] < vdd / 2), f"window {w}: outside input must discharge ML"


def test_acam_edge_map_monotonic_and_mc(acam_record):
    out, rec = acam_record
    data = np.load(out / "data.npz")
    lo, hi = data["acam_map_edge_lo_v"], data["acam_map_edge_hi_v"]
    assert np.all(np.diff(lo[np.isfinite(lo)]) < 0), "lower edge falls as its stored voltage rises"
    assert np.all(np.diff(hi[np.isfinite(hi)]) > 0), "upper edge rises with its stored voltage"
    mc = rec["results"]["mc"]
    assert 0 < mc["edge_lo_sigma_v"] < 0.15 and 0 < mc["edge_hi_sigma_v"] < 0.15


def test_acam_row_similarity_and_retention(acam_record):
    out, rec = acam_record
    row = np.asarray(rec["results"]["row"]["ml_sense_v"])
    vdd = AcamConfig().vdd_v
    assert row[0] > vdd / 2, "all dimensions inside: the row matches"
    assert np.all(row[1:] < row[0]), "any dimension outside lowers the match line"
    droop = rec["results"]["retention"]["droop_v"]
    assert all(0 <= d < 0.2 for d in droop)
    assert rec["results"]["acam"]["energy_per_search_j"] > 0
