"""Config validation of the gain cell, IGZO card, array and sweeps: bad values name their field."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from circuits.array import ArrayConfig, array_body, pwm_pulse_spec
from circuits.characterize.column import ColumnSweeps
from circuits.characterize.gaincell_cell import GainCellSweeps
from circuits.gaincell_cell import GainCellConfig, cell_subckt
from circuits.igzo import IgzoConfig, igzo_subckt
from gaincell.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [
        (GainCellConfig, "vdd_v", 5.0),
        (GainCellConfig, "c_store_f", -1e-15),
        (GainCellConfig, "c_store_f", float("nan")),
        (GainCellConfig, "read_pfet", "pfet_99"),
        (GainCellConfig, "l_read_p_um", 0.15),  # pfet_01v8_lvt needs L >= 0.35 um
        (GainCellConfig, "w_read_n_um", 0.1),
        (GainCellConfig, "write_device", "sram"),
        (GainCellConfig, "temperature_c", 300.0),
        (GainCellConfig, "corner", "xx"),
        (IgzoConfig, "igzo.i_off_a_per_um", 1.0),
        (IgzoConfig, "igzo.vth_v", 9.0),
        (ArrayConfig, "n_rows", 0),
        (ArrayConfig, "n_rows", 2.5),
        (ArrayConfig, "r_bl_ohm_per_cell", -1.0),
        (ArrayConfig, "integrator", "opamp"),
        (ArrayConfig, "t_edge_s", 1.0),
        (GainCellSweeps, "n_x", 1),
        (ColumnSweeps, "n_random", -1),
    ],
)
def test_bad_value_names_field_and_range(factory, field, value) -> None:
    name = field.split(".")[-1]
    with pytest.raises(ConfigError) as err:
        factory(**{name: value})
    assert err.value.field == field
    assert f"'{field}'" in str(err.value) and "allowed" in str(err.value)


def test_nested_configs_are_type_checked() -> None:
    with pytest.raises(ConfigError, match="'igzo'"):
        GainCellConfig(igzo={"vth_v": 0.5})
    with pytest.raises(ConfigError, match="'cell'"):
        ArrayConfig(cell=None)


def test_stored_voltage_shape_is_checked() -> None:
    cfg = ArrayConfig(n_rows=4, n_cols=2)
    with pytest.raises(ConfigError, match="'v_store_v'"):
        array_body(cfg, np.zeros((2, 4)))


def test_subckt_uses_the_chosen_devices() -> None:
    si = cell_subckt(GainCellConfig(write_device="si"))
    igzo = cell_subckt(GainCellConfig(write_device="igzo", temperature_c=85.0))
    assert "sky130_fd_pr__nfet_01v8 " in si and "igzo_tft" not in si
    assert ".subckt igzo_tft" in igzo and "temp_c=85" in igzo
    assert "sky130_fd_pr__pfet_01v8_lvt" in si and "sky130_fd_pr__nfet_01v8_lvt" in si


def test_pwm_pulse_half_swing_width() -> None:
    spec = pwm_pulse_spec(0.5, t_max_s=10e-9, t_edge_s=1e-9, t_delay_s=0.0, v_idle=0.45, v_on=0.9)
    parts = spec[len("pulse(") : -1].split()
    rise, fall, flat = float(parts[3]), float(parts[4]), float(parts[5])
    assert flat + (rise + fall) / 2 == pytest.approx(5e-9)
    assert pwm_pulse_spec(0.0, t_max_s=1e-8, t_edge_s=1e-9, t_delay_s=0, v_idle=0.45, v_on=0.9) == "dc 0.45"


def test_shipped_igzo_card_matches_builder() -> None:
    """netlists/igzo_tft.lib is the builder's card with its documented defaults."""
    shipped = (REPO / "netlists" / "igzo_tft.lib").read_text()
    assert igzo_subckt(IgzoConfig()) in shipped
