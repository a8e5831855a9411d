"""Periphery circuits with real ngspice and sky130: PWM driver, write DAC, charge-to-pulse
converter, and their configuration checks."""

from __future__ import annotations

import json

import numpy as np
import pytest

from circuits.c2p import C2PConfig
from circuits.drivers import PwmDriverConfig, WriteDacConfig, inl_dnl, pulse_width
from gaincell.errors import ConfigError


# ------------------------------------------------------------------------------ config checks


@pytest.mark.parametrize(
    "factory, field",
    [
        (lambda: PwmDriverConfig(bits=0), "bits"),
        (lambda: PwmDriverConfig(v_pulse_v=0.5), "v_pulse_v"),
        (lambda: PwmDriverConfig(corner="xx"), "corner"),
        (lambda: WriteDacConfig(v_full_scale_v=1.2), "v_full_scale_v"),
        (lambda: WriteDacConfig(r_unit_ohm=-1.0), "r_unit_ohm"),
        (lambda: C2PConfig(t_max_s=-1e-9), "t_max_s"),
        (lambda: C2PConfig(v_ref_v=0.95), "v_ref_v"),
        (lambda: C2PConfig(c_int_f=float("nan")), "c_int_f"),
    ],
)
def test_bad_parameters_name_the_field(factory, field):
    with pytest.raises(ConfigError) as info:
        factory()
    assert info.value.field == field
    assert field in str(info.value)


def test_readpath_config_checks_consistency():
    from circuits.readpath import ReadPathConfig

    with pytest.raises(ConfigError) as info:
        ReadPathConfig(pwm=PwmDriverConfig(t_max_s=10e-9))
    assert info.value.field == "pwm.t_max_s"
    with pytest.raises(ConfigError) as info:
        ReadPathConfig(n_keys=0)
    assert info.value.field == "n_keys"


# ------------------------------------------------------------------------------ pure helpers


def test_pulse_width_and_inl_helpers():
    t = np.linspace(0, 10e-9, 1001)
    v = np.where((t > 2e-9) & (t < 5e-9), 0.9, 0.0)
    assert pulse_width(t, v, 0.45, 0, 10e-9) == pytest.approx(3e-9, abs=2e-11)
    inl, dnl = inl_dnl(np.array([0.0, 1.0, 2.5, 3.0]))
    assert inl[0] == 0 and inl[-1] == 0
    assert dnl[1] == pytest.approx(0.5)


# ------------------------------------------------------------------------------ ngspice runs


@pytest.fixture(scope="module")
def drivers_record(tmp_path_factory):
    from circuits.characterize import drivers

    out = tmp_path_factory.mktemp("drivers")
    return out, drivers.characterize(out, seed=0, workers=1, quick=True)


def test_pwm_driver_monotonic_and_accurate(drivers_record):
    out, rec = drivers_record
    data = np.load(out / "data.npz")
    width = data["pwm_width_s"]
    assert width[0] == 0.0
    assert np.all(np.diff(width) > 0), "pulse width must grow with the code"
    # measured: within 55 ps of code/15 * 15 ns with the default 3-stage lvt chain
    assert np.max(np.abs(width - data["pwm_ideal_width_s"])) < 0.1e-9
    assert 0 < rec["results"]["pwm"]["rise_time_s"] < 0.5e-9
    assert rec["results"]["pwm"]["energy_per_pulse_j"] > 0
    assert (out / "drivers_transfer.png").is_file()


def test_write_dac_monotonic_and_settles(drivers_record):
    out, rec = drivers_record
    data = np.load(out / "data.npz")
    v = data["dac_v_v"]
    assert np.all(np.diff(v) > 0), "written voltage must grow with the code"
    dac = rec["results"]["dac"]
    assert dac["inl_max_lsb"] < 0.5 and dac["dnl_max_lsb"] < 0.5
    assert 0 < dac["settling_time_s"] < WriteDacConfig().t_write_s
    assert dac["energy_per_write_j"] > 0
    saved = json.loads((out / "result.json").read_text())
    assert saved["schema"] == "gaincell.characterization/1" and saved["cell"] == "drivers"


@pytest.fixture(scope="module")
def c2p_record(tmp_path_factory):
    from circuits.characterize import c2p

    out = tmp_path_factory.mktemp("c2p")
    return out, c2p.characterize(out, seed=3, workers=2, quick=True, n_mc=4)


def test_c2p_monotonic_and_saturates(c2p_record):
    out, rec = c2p_record
    data = np.load(out / "data.npz")
    q, w = data["c2p_charge_c"], data["c2p_pulse_width_s"]
    t_max = C2PConfig().t_max_s
    assert np.all(np.diff(w) >= -20e-12), "output width must not decrease with the charge"
    assert np.all(w[q < 0] == 0.0), "negative charge gives no pulse (HardSigmoid floor)"
    sat = w[q >= 1.2 * C2PConfig().q_sat_c]
    assert len(sat) and np.all(np.abs(sat - t_max) < 0.1 * t_max), "saturates at t_max within 10 %"
    r = rec["results"]["c2p"]
    assert abs(r["q_sat_c"] / C2PConfig().q_sat_c - 1) < 0.15
    assert r["energy_per_conversion_j"] > 0 and r["latency_s"] > t_max


def test_c2p_monte_carlo_arrays(c2p_record):
    out, rec = c2p_record
    data = np.load(out / "data.npz")
    assert data["mc_offset_c"].shape == (4,) and data["mc_gain_rel"].shape == (4,)
    assert np.std(data["mc_gain_rel"]) > 0, "mismatch must spread the gain"
    assert np.all(np.abs(data["mc_gain_rel"] - 1) < 0.3)
    assert rec["provenance"]["mc_corner"] == "tt_mm"


def test_characterizations_record_the_device_inventories(drivers_record, c2p_record):
    """results.inventory: the devices of one row driver / one converter of the simulated netlist."""
    for (out, rec), key, n_fets, n_caps in ((drivers_record, "pwm_driver", 10, 0), (c2p_record, "c2p", 23, 3)):
        inv = rec["results"]["inventory"][key]
        assert sum(n for *_, n in inv["fets"]) == n_fets and len(inv["capacitors_f"]) == n_caps
        assert all(k in ("nmos", "pmos") and w >= 0.42 and l >= 0.15 for k, w, l, _ in inv["fets"])
        assert json.loads((out / "result.json").read_text())["results"]["inventory"][key] == inv
