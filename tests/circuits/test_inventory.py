"""Device inventories of subcircuits (for layout areas): the PWM row driver and the
charge-to-pulse converter as their characterizations simulate them, nested subcircuits expanded,
and errors naming the instance. Pure text parsing: no ngspice."""

from __future__ import annotations

import numpy as np
import pytest

from circuits.c2p import C2P_SHARED_DEVICES, C2PConfig, c2p_inventory, c2p_subckt, transfer_netlist
from circuits.drivers import PwmDriverConfig, WriteDacConfig, drivers_netlist, pwm_driver_inventory
from circuits.inventory import spice_number, subckt_inventory
from gaincell.errors import ConfigError


def fets(record) -> dict[tuple[str, float, float], int]:
    return {(k, w, l): n for k, w, l, n in record["fets"]}


def test_pwm_row_driver_inventory_follows_its_config():
    cfg = PwmDriverConfig()  # 3 stages, taper 4, wn 1 um, p/n 2, lvt: nfet L 0.15, pfet L 0.35
    inv = pwm_driver_inventory(drivers_netlist(cfg, WriteDacConfig()))
    assert fets(inv) == {
        ("nmos", 1.0, 0.15): 1, ("pmos", 2.0, 0.35): 1,    # stage 0
        ("nmos", 4.0, 0.15): 2, ("pmos", 8.0, 0.35): 2,    # stage 1 and the rlb inverter
        ("nmos", 16.0, 0.15): 3, ("pmos", 32.0, 0.35): 1,  # rl final stage, rlb pull-up / pull-down
    }
    assert inv["capacitors_f"] == []  # the read-line loads are outside the subcircuit
    assert "not devices" in inv["note"]

    single = pwm_driver_inventory(drivers_netlist(PwmDriverConfig(complementary=False, n_stages=4, taper=3.0),
                                                  WriteDacConfig()))
    widths = sorted(w for k, w, _, n in single["fets"] for _ in range(n) if k == "nmos")
    assert widths == pytest.approx([1.0, 3.0, 9.0, 27.0])
    assert sum(n for *_, n in single["fets"]) == 8


def test_converter_inventory_expands_nested_gates_and_leaves_out_shared_and_load_parts():
    cfg = C2PConfig()
    inv = c2p_inventory(transfer_netlist(cfg, np.zeros((2, 1))))
    f = fets(inv)
    assert sum(f.values()) == 23
    # the two comparator stages are nested inverter subcircuits at w_cmp_n_um / L l_cmp_um
    assert f[("nmos", cfg.w_cmp_n_um, cfg.l_cmp_um)] == 2
    assert f[("pmos", 2 * cfg.w_cmp_n_um, cfg.l_cmp_um)] == 2
    # 3 buffers + output inverter + 2 NAND nfets of 0.84 um
    assert f[("nmos", 0.84, 0.15)] == 5
    assert f[("nmos", cfg.w_reset_um, 0.15)] == 1
    # mirror output and its switch are per column; the bias diode pair (w / mirror_ratio) is shared
    assert f[("pmos", cfg.w_mirror_out_um, cfg.l_mirror_um)] == 1
    assert f[("pmos", cfg.w_mirror_out_um, 0.35)] == 1
    assert not any(w == pytest.approx(cfg.w_mirror_out_um / cfg.mirror_ratio) for _, w, _ in f)
    assert inv["capacitors_f"] == pytest.approx([cfg.c_int_f, cfg.c_couple_f, cfg.c_couple_f / 40])
    assert all(name.lstrip("X") in inv["note"] for name in C2P_SHARED_DEVICES) and "cout" in inv["note"]

    wider = c2p_inventory(c2p_subckt(C2PConfig(w_cmp_n_um=3.0, c_int_f=1e-12)))
    assert fets(wider)[("nmos", 3.0, 0.35)] == 2 and wider["capacitors_f"][0] == pytest.approx(1e-12)


NESTED = """* nested test
.subckt inv in out vdd vss
Xp out in vdd vdd sky130_fd_pr__pfet_01v8 w=2 l=0.15
Xn out in vss vss sky130_fd_pr__nfet_01v8_lvt W = 1 L=0.15
.ends inv
.subckt chain a y vdd
Xi1 a b vdd 0 inv
Xi2 b y vdd 0 inv m=3 ; three in parallel
Xbig y a 0 0 sky130_fd_pr__nfet_01v8
+ w=4 l=0.15
c1 y 0 2.5f
c2 a 0 1p m=2
vb vdd 0 0.9
e1 y 0 a 0 1e4
.ends chain
"""


def test_nested_subcircuits_multiplicity_units_and_ideal_sources():
    inv = subckt_inventory(NESTED, "chain")
    assert {(g.kind, g.w_um, g.l_um): g.count for g in inv.fets} == {
        ("pmos", 2.0, 0.15): 4, ("nmos", 1.0, 0.15): 4, ("nmos", 4.0, 0.15): 1}
    assert inv.n_fets == 9
    assert inv.capacitors_f == pytest.approx((2.5e-15, 1e-12, 1e-12))
    assert inv.ideal == ("vb", "e1")  # ideal sources and the VCVS op-amp are not devices
    assert subckt_inventory(NESTED, "CHAIN", exclude=("Xi2", "c2")).n_fets == 3


@pytest.mark.parametrize("netlist, name, exclude, field", [
    (NESTED, "nope", (), "subckt"),
    (NESTED, "chain", ("Xmissing",), "exclude"),
    (NESTED.replace("c1 y 0 2.5f", "r1 y 0 1k"), "chain", (), "r1"),
    (NESTED.replace("Xi1 a b vdd 0 inv", "Xi1 a b vdd 0 nand"), "chain", (), "xi1"),
    (NESTED.replace("W = 1 L=0.15", "W = 1"), "chain", (), "xi1.xn.l"),
    (NESTED.replace("W = 1 L=0.15", "W = 1 L=0.15 nf=2"), "chain", (), "xi1.xn.nf"),
    (NESTED.replace("w=4 l=0.15", "w=4u l=0.15"), "chain", (), "xbig.w"),
    (NESTED.replace(".ends chain", ""), "chain", (), "netlist"),
])
def test_what_cannot_be_sized_is_an_error_naming_it(netlist, name, exclude, field):
    with pytest.raises(ConfigError) as info:
        subckt_inventory(netlist, name, exclude=exclude)
    assert info.value.field == field


def test_spice_numbers():
    assert spice_number("3.000000e-12") == pytest.approx(3e-12)
    assert spice_number("1.5p") == pytest.approx(1.5e-12)
    assert spice_number("2meg") == pytest.approx(2e6) and spice_number("2m") == pytest.approx(2e-3)
    assert spice_number("10fF") == pytest.approx(1e-14)
    with pytest.raises(ConfigError):
        spice_number("{c_int}")
