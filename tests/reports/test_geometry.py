"""sky130 geometry: the committed cache matches fresh drawings; MIM footprint follows the density."""

from __future__ import annotations

import pytest

from reports import geometry


def test_cache_matches_a_fresh_drawing():
    x, y, _ = geometry.transistor_bbox_um("nmos", 0.42, 0.15)
    fx, fy = geometry._draw_transistor("nmos", 0.42, 0.15)
    assert (x, y) == pytest.approx((fx, fy))


def test_mim_density_from_model_file():
    d = geometry.read_mim_density()
    assert d["area_f_per_um2"] == pytest.approx(2.0e-15)
    assert d == {**geometry.load_cache()["mim_density"]}


def test_mim_margins_constant_across_drawn_sizes():
    mims = geometry.load_cache()["mimcap_1"]
    margins = {(round(m["bbox_x_um"] - m["m4_side_um"], 6), round(m["bbox_y_um"] - m["m4_side_um"], 6)) for m in mims}
    assert len(margins) == 1


def test_mim_area_grows_with_capacitance_and_respects_min_width():
    small, big = geometry.mim_capacitor_area(0.1e-15), geometry.mim_capacitor_area(0.2e-15)
    assert small.value == big.value  # both clamped to the capm.1 minimum width
    a10, a40 = geometry.mim_capacitor_area(10e-15), geometry.mim_capacitor_area(40e-15)
    assert 2.0 < a40.value / a10.value < 4.0  # plate area x4, fixed margins
    with pytest.raises(Exception, match="c_store_f"):
        geometry.mim_capacitor_area(-1.0)
