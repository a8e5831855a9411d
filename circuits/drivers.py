"""Input and write drivers of the gain-cell arrays, and the sky130 logic gates they are built from.

- PWM read driver: a digital code (default 4 bits) becomes a read-line pulse of width
  code / (2**bits - 1) * t_max_s. The ideal digital edge (from the timing counter) drives a
  tapered chain of sky130 inverters loaded by the read line (rows' gate capacitance plus wire),
  so the pulse the cells see has real rise/fall times and the chain's delay mismatch.
- Write DAC: a 3-bit code selects a tap of a resistor string between 0 and vdd_v through a
  transmission-gate multiplexer (boosted select gates) and drives the write bitline; a write
  switch (boosted word line) copies the bitline onto a storage capacitor. Settling time,
  energy per write and the voltage left on the storage node after the switch opens (charge
  injection included) come from the transient.

Device widths and lengths are in micrometres (the unit of the sky130 models' `w`, `l`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.inventory import subckt_inventory
from circuits.sky130_models import SKY130_CORNERS, lib_line
from circuits.validation import in_range, one_of

NFET = "sky130_fd_pr__nfet_01v8"
PFET = "sky130_fd_pr__pfet_01v8"
NFET_LVT = "sky130_fd_pr__nfet_01v8_lvt"
PFET_LVT = "sky130_fd_pr__pfet_01v8_lvt"


# --------------------------------------------------------------------------------------------
# Logic gate library (sky130 1.8 V devices, used at vdd 0.9 V)
# --------------------------------------------------------------------------------------------


def fet(name: str, d: str, g: str, s: str, b: str, model: str, w_um: float, l_um: float) -> str:
    """One sky130 transistor instance line (subcircuit call; w, l in micrometres)."""
    return f"X{name} {d} {g} {s} {b} {model} w={w_um:.4g} l={l_um:.4g}"


def _flavor(lvt: bool) -> tuple[str, str, float, float]:
    """(nfet model, pfet model, nfet L um, pfet L um): low-Vt devices for fast logic at 0.9 V."""
    return (NFET_LVT, PFET_LVT, 0.15, 0.35) if lvt else (NFET, PFET, 0.15, 0.15)


def inverter_subckt(
    name: str, wn_um: float, wp_um: float, lvt: bool = True, l_um: float | None = None
) -> str:
    """Static CMOS inverter `name in out vdd vss` (minimum lengths of the flavour unless l_um)."""
    n, p, ln, lp = _flavor(lvt)
    if l_um is not None:
        ln = lp = l_um
    return "\n".join(
        [
            f".subckt {name} in out vdd vss",
            fet("p", "out", "in", "vdd", "vdd", p, wp_um, lp),
            fet("n", "out", "in", "vss", "vss", n, wn_um, ln),
            f".ends {name}",
        ]
    )


def nand2_subckt(name: str, wn_um: float, wp_um: float, lvt: bool = True) -> str:
    """Static CMOS two-input NAND `name a b out vdd vss`."""
    n, p, ln, lp = _flavor(lvt)
    return "\n".join(
        [
            f".subckt {name} a b out vdd vss",
            fet("pa", "out", "a", "vdd", "vdd", p, wp_um, lp),
            fet("pb", "out", "b", "vdd", "vdd", p, wp_um, lp),
            fet("na", "out", "a", "mid", "vss", n, wn_um, ln),
            fet("nb", "mid", "b", "vss", "vss", n, wn_um, ln),
            f".ends {name}",
        ]
    )


def level_shifter_subckt(name: str, wn_um: float, wp_um: float, w_inv_n_um: float = 0.84) -> str:
    """Cross-coupled level shifter `name in out outb vlo vhi`: `in` swings 0..vlo, `out`
    follows it and `outb` is its complement, both 0..vhi.

    An inverter on vlo makes the input's complement; low-Vt nfets (wn_um, driven with vlo)
    pull one side down and the cross-coupled 1.8 V pfets (wp_um, kept weak so the nfets win)
    restore the other side to vhi.
    """
    return "\n".join(
        [
            inverter_subckt(f"{name}_inv", w_inv_n_um, 2 * w_inv_n_um),
            f".subckt {name} in out outb vlo vhi",
            f"Xi in inb vlo 0 {name}_inv",
            fet("n1", "outb", "in", "0", "0", NFET_LVT, wn_um, 0.15),
            fet("n2", "out", "inb", "0", "0", NFET_LVT, wn_um, 0.15),
            fet("p1", "outb", "out", "vhi", "vhi", PFET, wp_um, 0.15),
            fet("p2", "out", "outb", "vhi", "vhi", PFET, wp_um, 0.15),
            f".ends {name}",
        ]
    )


def pwl(points: list[tuple[float, float]]) -> str:
    """SPICE PWL source text from (time_s, value) points (times strictly increasing)."""
    return "pwl(" + " ".join(f"{t:.6e} {v:.6g}" for t, v in points) + ")"


def crossings(t: np.ndarray, v: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) where `v` crosses `level` upwards and downwards (linear interpolation)."""
    above = v >= level
    idx = np.nonzero(above[1:] != above[:-1])[0]
    tc = t[idx] + (level - v[idx]) * (t[idx + 1] - t[idx]) / (v[idx + 1] - v[idx])
    rising = above[idx + 1]
    return tc[rising], tc[~rising]


def pulse_width(t: np.ndarray, v: np.ndarray, level: float, t0: float, t1: float) -> float:
    """Total time (s) that `v` spends above `level` within [t0, t1] (trapezoid-resolved)."""
    sel = (t >= t0) & (t <= t1)
    ts, vs = t[sel], v[sel]
    if len(ts) < 2:
        return 0.0
    up, down = crossings(ts, vs, level)
    events = sorted([(x, 1) for x in up] + [(x, -1) for x in down])
    high = vs[0] >= level
    start = ts[0] if high else None
    total = 0.0
    for time, kind in events:
        if kind == 1 and not high:
            high, start = True, time
        elif kind == -1 and high:
            high = False
            total += time - start
    if high:
        total += ts[-1] - start
    return float(total)


def energy_from_supply(t: np.ndarray, i_branch: np.ndarray, v_supply: float, t0: float, t1: float) -> float:
    """Energy (J) delivered by a constant voltage source over [t0, t1].

    ngspice's branch current of a voltage source flows into its + node, so the delivered power
    is -v * i.
    """
    sel = (t >= t0) & (t <= t1)
    return float(-v_supply * np.trapezoid(i_branch[sel], t[sel]))


# --------------------------------------------------------------------------------------------
# PWM read driver
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PwmDriverConfig:
    """PWM row driver: code -> pulses on the two read lines of one gain-cell array row.

    The gain cell's read lines idle at `v_idle_v` (VDD/2); during the pulse the read line `rl`
    goes to `v_pulse_v` and, when `complementary`, its complement `rlb` to vdd - v_pulse_v
    (see circuits/gaincell_cell.py). Each line is a tapered inverter chain on vdd whose last
    stage sits between the pulse level and the idle rail; the stages before it run on the
    logic supply `v_logic_v` (1.8 V, the sky130 core-logic level of the timing counter). The
    pulse width is
    code / (2**bits - 1) * t_max_s. Standalone, each line is loaded by `n_cols` cells
    (`c_cell_f` each: the read pair's junction) plus wire (`c_wire_per_col_f`).
    """

    bits: int = 4
    t_max_s: float = 15e-9
    vdd_v: float = 0.9
    v_idle_v: float = 0.45
    v_pulse_v: float = 0.9
    complementary: bool = True
    n_cols: int = 64
    c_cell_f: float = 0.5e-15
    c_wire_per_col_f: float = 0.2e-15
    n_stages: int = 3
    taper: float = 4.0
    wn_first_um: float = 1.0
    p_to_n_ratio: float = 2.0
    lvt: bool = True
    v_logic_v: float = 1.8
    t_edge_s: float = 20e-12
    corner: str = "tt"
    temperature_c: float = 27.0

    def __post_init__(self) -> None:
        in_range("bits", self.bits, 1, 8, integer=True)
        in_range("t_max_s", self.t_max_s, 0.5e-9, 1e-6)
        in_range("vdd_v", self.vdd_v, 0.5, 1.95)
        in_range("v_idle_v", self.v_idle_v, 0.0, self.vdd_v - 0.2)
        in_range("v_pulse_v", self.v_pulse_v, self.v_idle_v + 0.2, self.vdd_v)
        one_of("complementary", self.complementary, (True, False))
        in_range("n_cols", self.n_cols, 1, 4096, integer=True)
        in_range("c_cell_f", self.c_cell_f, 0.0, 1e-12)
        in_range("c_wire_per_col_f", self.c_wire_per_col_f, 0.0, 1e-12)
        in_range("n_stages", self.n_stages, 1, 8, integer=True)
        in_range("taper", self.taper, 1.0, 10.0)
        in_range("wn_first_um", self.wn_first_um, 0.42, 100.0)
        in_range("p_to_n_ratio", self.p_to_n_ratio, 0.5, 5.0)
        one_of("lvt", self.lvt, (True, False))
        in_range("v_logic_v", self.v_logic_v, self.vdd_v, 1.95)
        in_range("t_edge_s", self.t_edge_s, 1e-12, 1e-9)
        one_of("corner", self.corner, SKY130_CORNERS)
        in_range("temperature_c", self.temperature_c, -55.0, 150.0)

    @property
    def levels(self) -> int:
        """Number of codes (2**bits)."""
        return 2**self.bits

    @property
    def c_line_f(self) -> float:
        """Standalone load capacitance of one read line (F)."""
        return self.n_cols * (self.c_cell_f + self.c_wire_per_col_f)

    @property
    def v_pulse_b_v(self) -> float:
        """Level of the complementary line during the pulse (V)."""
        return self.vdd_v - self.v_pulse_v

    def ideal_width_s(self, code: int | np.ndarray) -> np.ndarray:
        """Ideal pulse width (s) of a code."""
        return np.asarray(code) / (self.levels - 1) * self.t_max_s


def pwm_row_subckt(cfg: PwmDriverConfig, name: str = "pwmrow") -> str:
    """Row driver `name in rl rlb vlogic vpulse vmid`.

    A tapered chain of inverters on the logic supply `vlogic` (the 1.8 V domain of the timing
    counter: its full swing turns the analog-rail final stages fully on and off) ends in:
    - `rl`: an inverter between `vpulse` and `vmid` (idle at vmid, pulse at vpulse);
    - `rlb` (when complementary): an nfet pull-up to `vmid` gated by the same node and an nfet
      pull-down to ground gated by its inverse (idle at vmid, pulse at 0 V); nfets with a
      1.8 V gate drive conduct well at both levels, where a pfet to vmid would not.
    Stage k has nfet width wn_first_um * taper**k; the final stages use k = n_stages - 1.
    """
    n, p, ln, lp = _flavor(cfg.lvt)
    lines = [f".subckt {name} in rl rlb vlogic vpulse vmid"]
    nodes = ["in"] + [f"s{k}" for k in range(1, cfg.n_stages)]
    for k in range(cfg.n_stages - 1):
        wn = cfg.wn_first_um * cfg.taper**k
        lines += [fet(f"p{k}", nodes[k + 1], nodes[k], "vlogic", "vlogic", p, wn * cfg.p_to_n_ratio, lp),
                  fet(f"n{k}", nodes[k + 1], nodes[k], "0", "0", n, wn, ln)]
    last = nodes[-1]
    wn = cfg.wn_first_um * cfg.taper ** (cfg.n_stages - 1)
    lines += [fet("pf", "rl", last, "vpulse", "vpulse", p, wn * cfg.p_to_n_ratio, lp),
              fet("nf", "rl", last, "vmid", "0", n, wn, ln)]
    if cfg.complementary:
        wb = cfg.wn_first_um * cfg.taper ** (cfg.n_stages - 2)
        lines += [fet("pb", "lastb", last, "vlogic", "vlogic", p, wb * cfg.p_to_n_ratio, lp),
                  fet("nb", "lastb", last, "0", "0", n, wb, ln),
                  fet("nfu", "vmid", last, "rlb", "0", n, wn, ln),
                  fet("nfd", "rlb", "lastb", "0", "0", n, wn, ln)]
    lines.append(f".ends {name}")
    return "\n".join(lines)


PWM_DRIVER_INVENTORY_NOTE = (
    "one PWM row driver = the `pwmrow` subcircuit of the characterized netlist: the tapered "
    "inverter chain and the final stages of the read line rl and (when complementary) of rlb; "
    "not counted: the read-line loads (cline*, the rows' cells and wire, outside the subcircuit) "
    "and the ideal sources (digital input from the timing counter, supplies), which are not devices"
)


def pwm_driver_inventory(netlist: str, name: str = "pwmrow") -> dict:
    """Devices of one PWM row driver: the `name` subcircuit of `netlist` (e.g. `drivers_netlist`).

    Returns the `circuits.inventory.Inventory.record` dict: fets as [kind, w_um, l_um, count],
    capacitors in farads (none in the driver) and a note on what is counted.
    """
    return subckt_inventory(netlist, name).record(PWM_DRIVER_INVENTORY_NOTE)


def pwm_input_pwl(cfg: PwmDriverConfig, code: int, t_start_s: float, active_high: bool = True) -> list[tuple[float, float]]:
    """Digital (ideal, from the timing counter) input of a chain for one code.

    `active_high`: the chain output should go high during the pulse. An odd chain inverts,
    so its input then idles high and pulses low.
    """
    width = float(cfg.ideal_width_s(code))
    invert = (cfg.n_stages % 2 == 1) == active_high
    hi, lo = (0.0, cfg.v_logic_v) if invert else (cfg.v_logic_v, 0.0)
    pts = [(0.0, lo)]
    if width > 0:
        e = cfg.t_edge_s
        pts += [(t_start_s, lo), (t_start_s + e, hi), (t_start_s + e + width, hi),
                (t_start_s + 2 * e + width, lo)]
    return pts


def pwm_row_driver_lines(cfg: PwmDriverConfig, tag: str, code: float, t_start_s: float,
                         rl: str, rlb: str, vlogic: str = "vlogic", vpulse: str = "vdd",
                         vmid: str = "vmid") -> list[str]:
    """One row driver (subckt `pwmrow` must be defined) and its digital input for `code`
    (fractional codes give intermediate widths). Without `complementary`, rlb is unused."""
    return [f"vpin{tag} pin{tag} 0 {pwl(pwm_input_pwl(cfg, code, t_start_s, True))}",
            f"Xd{tag} pin{tag} {rl} {rlb} {vlogic} {vpulse} {vmid} pwmrow"]


# --------------------------------------------------------------------------------------------
# Write DAC
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WriteDacConfig:
    """Resistor-string DAC + write switch onto a gain cell's storage node.

    Codes 0 .. 2**bits - 1 map to v_full_scale_v * code / (2**bits - 1). The write bitline
    carries `n_rows` cells' write-device junctions (`c_bitline_per_row_f` each, wire included);
    the write switch is an nfet whose word line is boosted to `v_wordline_v` during the write
    and held at `v_wordline_hold_v` after it.
    """

    bits: int = 3
    vdd_v: float = 0.9
    v_full_scale_v: float = 0.9
    r_unit_ohm: float = 2000.0
    n_rows: int = 64
    c_bitline_per_row_f: float = 0.3e-15
    c_store_f: float = 5e-15
    w_mux_um: float = 2.0
    w_write_um: float = 0.42
    l_write_um: float = 0.15
    v_select_v: float = 1.8
    v_wordline_v: float = 1.8
    v_wordline_hold_v: float = 0.0
    t_write_s: float = 5e-9
    t_edge_s: float = 50e-12
    settle_band_v: float = 0.005
    corner: str = "tt"
    temperature_c: float = 27.0

    def __post_init__(self) -> None:
        in_range("bits", self.bits, 1, 6, integer=True)
        in_range("vdd_v", self.vdd_v, 0.5, 1.95)
        in_range("v_full_scale_v", self.v_full_scale_v, 0.1, self.vdd_v)
        in_range("r_unit_ohm", self.r_unit_ohm, 10.0, 1e6)
        in_range("n_rows", self.n_rows, 1, 4096, integer=True)
        in_range("c_bitline_per_row_f", self.c_bitline_per_row_f, 0.0, 1e-12)
        in_range("c_store_f", self.c_store_f, 0.1e-15, 1e-12)
        in_range("w_mux_um", self.w_mux_um, 0.42, 100.0)
        in_range("w_write_um", self.w_write_um, 0.42, 100.0)
        in_range("l_write_um", self.l_write_um, 0.15, 10.0)
        in_range("v_select_v", self.v_select_v, 0.5, 1.95)
        in_range("v_wordline_v", self.v_wordline_v, 0.5, 1.95)
        in_range("v_wordline_hold_v", self.v_wordline_hold_v, -0.5, 0.5)
        in_range("t_write_s", self.t_write_s, 0.2e-9, 1e-6)
        in_range("t_edge_s", self.t_edge_s, 1e-12, 1e-9)
        in_range("settle_band_v", self.settle_band_v, 1e-4, 0.1)
        one_of("corner", self.corner, SKY130_CORNERS)
        in_range("temperature_c", self.temperature_c, -55.0, 150.0)

    @property
    def levels(self) -> int:
        """Number of codes (2**bits)."""
        return 2**self.bits

    @property
    def lsb_v(self) -> float:
        """Ideal step between adjacent codes (V)."""
        return self.v_full_scale_v / (self.levels - 1)

    def ideal_v(self, code: int | np.ndarray) -> np.ndarray:
        """Ideal written voltage (V) of a code."""
        return np.asarray(code) * self.lsb_v


def dac_instance(cfg: WriteDacConfig, k: int, code: int) -> list[str]:
    """Netlist lines of DAC instance k writing `code`, its storage node starting at the opposite
    rail (worst-case step); its own supply `vdac{k}` so its energy can be measured.

    The string has levels - 1 equal resistors from vdd_v's tap `top{k}` down to 0 V plus one
    more at the top so that the taps hit 0 .. v_full_scale_v: with full scale = vdd the top
    resistor is omitted.
    """
    n = cfg.levels
    lines = [f"vdac{k} top{k} 0 {cfg.v_full_scale_v:.6g}"]
    # taps t{k}_0 = 0 V ... t{k}_{n-1} = full scale
    lines.append(f"rz{k} t{k}_0 0 0.001")
    for j in range(n - 1):
        lines.append(f"rs{k}_{j} t{k}_{j + 1} t{k}_{j} {cfg.r_unit_ohm:.6g}")
    lines.append(f"rt{k} top{k} t{k}_{n - 1} 0.001")
    # multiplexer: one nfet per tap; the selected one's gate is boosted to v_select_v when the
    # write starts (node `sel`), so it passes the whole 0 .. vdd range; the others stay at 0 V.
    for j in range(n):
        gate = "sel" if j == code else "0"
        lines.append(fet(f"mx{k}_{j}", f"wbl{k}", gate, f"t{k}_{j}", "0", NFET, cfg.w_mux_um, 0.15))
    lines.append(f"cbl{k} wbl{k} 0 {cfg.n_rows * cfg.c_bitline_per_row_f:.6e}")
    lines.append(fet(f"mw{k}", f"sn{k}", "wwl", f"wbl{k}", "0", NFET, cfg.w_write_um, cfg.l_write_um))
    lines.append(f"cs{k} sn{k} 0 {cfg.c_store_f:.6e}")
    return lines


def dac_write_start_values(cfg: WriteDacConfig) -> dict[int, float]:
    """Storage- and bitline-node voltage before the write, per code: the opposite rail."""
    return {c: (0.0 if c >= cfg.levels // 2 else cfg.v_full_scale_v) for c in range(cfg.levels)}


# --------------------------------------------------------------------------------------------
# Testbench: every PWM code and every DAC code in one netlist (one library load)
# --------------------------------------------------------------------------------------------

PWM_T_START_S = 1e-9
DAC_T_START_S = 0.5e-9


def drivers_netlist(pwm: PwmDriverConfig, dac: WriteDacConfig) -> str:
    """One transient exercising all 2**pwm.bits PWM codes and all 2**dac.bits DAC codes.

    Each instance has its own supply source so its energy can be read from the branch current.
    """
    if pwm.corner != dac.corner or pwm.temperature_c != dac.temperature_c:
        from gaincell.errors import ConfigError

        raise ConfigError("dac.corner", dac.corner, f"the PWM driver's corner/temperature ({pwm.corner})")
    lines = [f"* gaincell drivers: {pwm.levels}-code PWM read driver and {dac.levels}-code write DAC",
             lib_line(pwm.corner), f".temp {pwm.temperature_c:g}", pwm_row_subckt(pwm)]
    # the pulse level of rl is the chain's vdd (v_pulse_v), of rlb the ground rail; each code
    # has its own supply and idle-rail sources so its energy can be read
    saves = ["time"]
    for c in range(pwm.levels):
        lines += [f"vddp{c} vddp{c} 0 {pwm.v_pulse_v:.6g}", f"vmidp{c} vmidp{c} 0 {pwm.v_idle_v:.6g}",
                  f"vlogp{c} vlogp{c} 0 {pwm.v_logic_v:.6g}"]
        lines += pwm_row_driver_lines(pwm, str(c), c, PWM_T_START_S, f"rl{c}", f"rlb{c}",
                                      f"vlogp{c}", f"vddp{c}", f"vmidp{c}")
        saves += [f"vmidp{c}#branch", f"vlogp{c}#branch"]
        lines.append(f"cline{c} rl{c} 0 {pwm.c_line_f:.6e}")
        saves += [f"v(rl{c})", f"vddp{c}#branch"]
        if pwm.complementary:
            lines.append(f"clineb{c} rlb{c} 0 {pwm.c_line_f:.6e}")
            saves.append(f"v(rlb{c})")
    t_on, t_off = DAC_T_START_S, DAC_T_START_S + dac.t_write_s
    e = dac.t_edge_s
    sel = pwl([(0, 0), (t_on, 0), (t_on + e, dac.v_select_v), (t_off + 4 * e, dac.v_select_v),
               (t_off + 5 * e, 0)])
    wwl = pwl([(0, dac.v_wordline_hold_v), (t_on, dac.v_wordline_hold_v), (t_on + e, dac.v_wordline_v),
               (t_off, dac.v_wordline_v), (t_off + e, dac.v_wordline_hold_v)])
    lines += [f"vsel sel 0 {sel}", f"vwwl wwl 0 {wwl}"]
    start = dac_write_start_values(dac)
    ics = []
    for c in range(dac.levels):
        lines += dac_instance(dac, c, c)
        ics += [f"v(wbl{c})={start[c]:.6g}", f"v(sn{c})={start[c]:.6g}"]
        saves += [f"v(sn{c})", f"v(wbl{c})", f"i(vdac{c})"]
    lines.append(".ic " + " ".join(ics))
    t_stop = max(PWM_T_START_S + pwm.t_max_s + 3e-9, t_off + 1.5e-9)
    lines.append(f".tran 2p {t_stop:.6e} 0 50p")
    lines.append(".save " + " ".join(saves))
    lines.append(".end")
    return "\n".join(lines) + "\n"


@dataclass
class DriverMeasurement:
    """What the drivers testbench measured (SI units, arrays indexed by code)."""

    pwm_code: np.ndarray
    pwm_width_s: np.ndarray
    pwm_width_b_s: np.ndarray
    pwm_rise_s: np.ndarray
    pwm_fall_s: np.ndarray
    pwm_energy_j: np.ndarray
    dac_code: np.ndarray
    dac_v_v: np.ndarray
    dac_settling_s: np.ndarray
    dac_energy_j: np.ndarray
    time_s: np.ndarray = field(repr=False)
    pwm_wave_v: np.ndarray = field(repr=False)
    dac_wave_v: np.ndarray = field(repr=False)


def _edge_time(t: np.ndarray, v: np.ndarray, lo: float, hi: float, rising: bool) -> float:
    """10-90 % transition time (s) of the first rising (or falling) edge between lo and hi."""
    a, b = lo + 0.1 * (hi - lo), lo + 0.9 * (hi - lo)
    ua, da = crossings(t, v, a)
    ub, db = crossings(t, v, b)
    if rising:
        return float(ub[0] - ua[0]) if len(ua) and len(ub) else float("nan")
    return float(da[0] - db[0]) if len(da) and len(db) else float("nan")


def measure_drivers(result, pwm: PwmDriverConfig, dac: WriteDacConfig) -> DriverMeasurement:
    """Pulse widths, edges, energies, written voltages and settling times from the transient."""
    t = result.vec("time")
    mid = 0.5 * (pwm.v_idle_v + pwm.v_pulse_v)
    mid_b = 0.5 * (pwm.v_idle_v + pwm.v_pulse_b_v)
    codes = np.arange(pwm.levels)
    width, width_b, rise, fall, energy, waves = [], [], [], [], [], []
    for c in codes:
        v = result.vec(f"v(rl{c})")
        waves.append(v)
        width.append(pulse_width(t, v, mid, 0.0, t[-1]))
        if pwm.complementary:
            width_b.append(pulse_width(t, -result.vec(f"v(rlb{c})"), -mid_b, 0.0, t[-1]))
        rise.append(_edge_time(t, v, pwm.v_idle_v, pwm.v_pulse_v, True))
        fall.append(_edge_time(t, v, pwm.v_idle_v, pwm.v_pulse_v, False))
        # this row's supplies: pulse level, idle (mid) rail and logic supply
        energy.append(energy_from_supply(t, result.vec(f"vddp{c}#branch"), pwm.v_pulse_v, 0.0, t[-1])
                      + energy_from_supply(t, result.vec(f"vmidp{c}#branch"), pwm.v_idle_v, 0.0, t[-1])
                      + energy_from_supply(t, result.vec(f"vlogp{c}#branch"), pwm.v_logic_v, 0.0, t[-1]))
    # subtract the static (leakage) energy the chains draw at code 0 over the same window
    energy = np.array(energy) - energy[0]
    t_on, t_off = DAC_T_START_S, DAC_T_START_S + dac.t_write_s
    dcodes = np.arange(dac.levels)
    v_w, settle, e_w, dwaves = [], [], [], []
    for c in dcodes:
        v = result.vec(f"v(sn{c})")
        dwaves.append(v)
        v_w.append(float(np.mean(v[t >= t[-1] - 0.3e-9])))
        in_win = (t >= t_on) & (t <= t_off)
        v_end = v[in_win][-1]
        outside = np.nonzero(np.abs(v[in_win] - v_end) > dac.settle_band_v)[0]
        settle.append(float(t[in_win][outside[-1] + 1] - t_on) if len(outside) else 0.0)
        e_w.append(energy_from_supply(t, result.vec(f"vdac{c}#branch"), dac.v_full_scale_v, t_on, t_off))
    return DriverMeasurement(
        pwm_code=codes, pwm_width_s=np.array(width), pwm_width_b_s=np.array(width_b), pwm_rise_s=np.array(rise),
        pwm_fall_s=np.array(fall), pwm_energy_j=energy, dac_code=dcodes, dac_v_v=np.array(v_w),
        dac_settling_s=np.array(settle), dac_energy_j=np.array(e_w), time_s=t,
        pwm_wave_v=np.array(waves), dac_wave_v=np.array(dwaves),
    )


def inl_dnl(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """INL and DNL (in LSB) of a transfer curve, against its end-point line."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    lsb = (values[-1] - values[0]) / (n - 1)
    ideal = values[0] + lsb * np.arange(n)
    return (values - ideal) / lsb, np.diff(values) / lsb - 1.0
