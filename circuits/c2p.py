"""Charge-to-pulse converter (the HardSigmoid of analog attention), sky130 at vdd 0.9 V.

One conversion cycle, per instance (input node `inp` = the column bitline end):

1. Reset (`t_reset_s`): a boosted nfet switch ties `inp` and its integration capacitor
   `c_int_f` to the reference `v_ref_v` (VDD/2, the bitline level of the gain-cell column).
   The comparator is two cascaded inverter stages, each coupled through a capacitor and
   auto-zeroed (input shorted to output, so it rests at its own trip point). The first stage
   is released 0.2 ns after the reset switch opens (it samples the switch's charge injection),
   the second `t_az2_delay_s` later (it samples the first stage's settled output). The
   comparator thus trips when `inp` returns to the level it had after the reset: inverter
   threshold mismatch and the reset error cancel.
2. Integration (`t_max_s`): the column sinks its charge Q from `inp` (positive Q pulls it down).
3. Conversion: a pmos current mirror (bias `i_ramp_a / mirror_ratio * i_bias_trim`, its source
   switched, the diode with a replica of that switch) recharges `inp` at about i_ramp_a. The
   comparator output is high while `inp` is below its post-reset level; gated by a `t_max_s`
   window (NAND + inverter) it becomes the output pulse, of width about Q / i_ramp_a, 0 for
   Q <= 0 and t_max_s once Q >= q_sat_c = i_ramp_a * t_max_s: the HardSigmoid
   phi(S) = t_max * clip(S / S_sat, 0, 1). The ramp starts `t_ramp_lead_s` before the window
   opens: on the slow ramp (about 27 mV/ns at the default 80 uA / 3 pF) the comparator needs
   that long to slew back, and the lead cancels its delay (the timing controller's trim).
   `i_bias_trim` compensates the mirror's systematic loss (channel-length modulation).

Control signals (reset, auto-zero, ramp enable, window) come from the array's timing
controller; they are ideal sources here and their drivers' energy is not counted. Energy per
conversion counts the converter supply (comparator, gates, ramp mirror and its bias, which an
array would share between columns) and the reference source.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuits.drivers import (
    NFET_LVT,
    PFET,
    PFET_LVT,
    energy_from_supply,
    fet,
    inverter_subckt,
    nand2_subckt,
    pulse_width,
    pwl,
)
from circuits.inventory import subckt_inventory
from circuits.sky130_models import SKY130_CORNERS, lib_line
from circuits.validation import in_range, one_of


@dataclass(frozen=True)
class C2PConfig:
    """Charge-to-pulse converter parameters (SI units in the names; widths/lengths in um).

    The saturation charge is q_sat_c; the ramp current is q_sat_c / t_max_s.
    """

    vdd_v: float = 0.9
    v_ref_v: float = 0.45
    t_max_s: float = 15e-9
    q_sat_c: float = 1.2e-12
    c_int_f: float = 3e-12
    c_couple_f: float = 200e-15
    c_out_f: float = 20e-15
    mirror_ratio: float = 8.0
    w_mirror_out_um: float = 24.0
    l_mirror_um: float = 0.5
    w_reset_um: float = 20.0
    w_cmp_n_um: float = 2.0
    l_cmp_um: float = 0.35
    t_ramp_lead_s: float = 3.0e-9
    i_bias_trim: float = 1.2
    t_az2_delay_s: float = 1.0e-9
    v_reset_gate_v: float = 1.8
    t_reset_s: float = 2e-9
    t_edge_s: float = 50e-12
    t_gap_s: float = 0.5e-9
    corner: str = "tt"
    temperature_c: float = 27.0

    def __post_init__(self) -> None:
        in_range("vdd_v", self.vdd_v, 0.6, 1.95)
        in_range("v_ref_v", self.v_ref_v, 0.1, self.vdd_v - 0.1)
        in_range("t_max_s", self.t_max_s, 1e-9, 1e-6)
        in_range("q_sat_c", self.q_sat_c, 1e-15, 1e-10)
        in_range("c_int_f", self.c_int_f, 10e-15, 1e-9)
        in_range("c_couple_f", self.c_couple_f, 1e-15, 1e-12)
        in_range("c_out_f", self.c_out_f, 0.0, 1e-12)
        in_range("mirror_ratio", self.mirror_ratio, 1.0, 20.0)
        in_range("w_mirror_out_um", self.w_mirror_out_um, 0.42, 500.0)
        in_range("l_mirror_um", self.l_mirror_um, 0.15, 10.0)
        in_range("w_reset_um", self.w_reset_um, 0.42, 500.0)
        in_range("w_cmp_n_um", self.w_cmp_n_um, 0.42, 50.0)
        in_range("l_cmp_um", self.l_cmp_um, 0.35, 5.0)
        in_range("t_az2_delay_s", self.t_az2_delay_s, 0.0, 5e-9)
        in_range("i_bias_trim", self.i_bias_trim, 0.5, 2.0)
        in_range("t_ramp_lead_s", self.t_ramp_lead_s, 0.0, 0.5 * self.t_gap_s + 3e-9)
        in_range("v_reset_gate_v", self.v_reset_gate_v, 0.5, 1.95)
        in_range("t_reset_s", self.t_reset_s, 0.2e-9, 1e-6)
        in_range("t_edge_s", self.t_edge_s, 1e-12, 1e-9)
        in_range("t_gap_s", self.t_gap_s, 0.0, 10e-9)
        one_of("corner", self.corner, SKY130_CORNERS)
        in_range("temperature_c", self.temperature_c, -55.0, 150.0)

    @property
    def i_ramp_a(self) -> float:
        """Ramp (recharge) current, amperes."""
        return self.q_sat_c / self.t_max_s

    @property
    def slope_s_per_c(self) -> float:
        """Ideal transfer slope t_max / q_sat, seconds per coulomb."""
        return self.t_max_s / self.q_sat_c

    @property
    def swing_at_sat_v(self) -> float:
        """Input-node excursion at the saturation charge, volts."""
        return self.q_sat_c / self.c_int_f


@dataclass(frozen=True)
class C2PTiming:
    """Phase boundaries (s) of one conversion cycle starting at 0."""

    reset_end_s: float
    int_start_s: float
    int_end_s: float
    conv_start_s: float
    conv_end_s: float
    cycle_s: float


def timing(cfg: C2PConfig) -> C2PTiming:
    """Phase boundaries of one conversion cycle."""
    reset_end = cfg.t_reset_s
    int_start = reset_end + 0.2e-9 + cfg.t_az2_delay_s + cfg.t_gap_s
    int_end = int_start + cfg.t_max_s
    conv_start = int_end + cfg.t_gap_s + cfg.t_ramp_lead_s
    conv_end = conv_start + cfg.t_max_s
    return C2PTiming(reset_end, int_start, int_end, conv_start, conv_end, conv_end + cfg.t_gap_s + 0.5e-9)


def c2p_subckt(cfg: C2PConfig, name: str = "c2p", external_integrator: bool = False) -> str:
    """`.subckt name inp out vdd vref rst az azb az2 azb2 rampb win ibias rampto` plus its gates.

    `ibias` is the diode node of the ramp mirror: the bias current is drawn from it.
    Capacitor mode (default): `inp` carries the integration capacitor; connect `rampto` to
    `inp` and `vref` to the reference. With `external_integrator` (a virtual-ground
    integrator whose output is `inp`): no internal capacitor, the reset switch shorts `inp` to
    `vref` (connect it to the integrator's summing node, which shorts its feedback capacitor),
    the ramp goes into `rampto` (the summing node) and the pulse lasts while `inp` is above
    its post-reset level (positive charge raises the integrator output).
    """
    w_ref = cfg.w_mirror_out_um / cfg.mirror_ratio
    gated = "nbelow" if external_integrator else "below"
    lines = [
        inverter_subckt(f"{name}_cmp", cfg.w_cmp_n_um, 2 * cfg.w_cmp_n_um, l_um=cfg.l_cmp_um),
        inverter_subckt(f"{name}_buf", 0.84, 1.68),
        nand2_subckt(f"{name}_nand", 0.84, 1.26),
        inverter_subckt(f"{name}_out", 1.68, 3.36),
        f".subckt {name} inp out vdd vref rst az azb az2 azb2 rampb win ibias rampto",
    ]
    if not external_integrator:
        lines.append(f"cint inp 0 {cfg.c_int_f:.6e}")
    lines += [
        # reset switch (boosted gate)
        fet("mrst", "inp", "rst", "vref", "0", NFET_LVT, cfg.w_reset_um, 0.15),
        # two cascaded auto-zeroed inverter stages (coupling capacitors, shorted in/out during
        # reset): the gain of two stages keeps the comparator delay short on the slow ramp
        f"ccpl inp a {cfg.c_couple_f:.6e}",
        f"Xc1 a b vdd 0 {name}_cmp",
        fet("maz_n", "a", "az", "b", "0", NFET_LVT, 0.42, 0.15),
        fet("maz_p", "a", "azb", "b", "vdd", PFET_LVT, 0.42, 0.35),
        f"ccpl2 b a2 {cfg.c_couple_f / 40:.6e}",
        f"Xc2 a2 b2 vdd 0 {name}_cmp",
        fet("maz2_n", "a2", "az2", "b2", "0", NFET_LVT, 0.42, 0.15),
        fet("maz2_p", "a2", "azb2", "b2", "vdd", PFET_LVT, 0.42, 0.35),
        f"Xc3 b2 c vdd 0 {name}_buf",
        f"Xc4 c nbelow vdd 0 {name}_buf",
        f"Xc5 nbelow below vdd 0 {name}_buf",
        # output gating by the conversion window
        f"Xg {gated} win nb vdd 0 {name}_nand",
        f"Xo nb out vdd 0 {name}_out",
        f"cout out 0 {cfg.c_out_f:.6e}",
        # ramp current: pmos mirror (diode at ibias), enabled by a switch in its source; the
        # diode has an always-on replica of that switch so both see the same drop
        fet("mswr", "rref", "0", "vdd", "vdd", PFET_LVT, w_ref, 0.35),
        fet("mref", "ibias", "ibias", "rref", "vdd", PFET, w_ref, cfg.l_mirror_um),
        fet("msw", "rsrc", "rampb", "vdd", "vdd", PFET_LVT, cfg.w_mirror_out_um, 0.35),
        fet("mout", "rampto", "ibias", "rsrc", "vdd", PFET, cfg.w_mirror_out_um, cfg.l_mirror_um),
        f".ends {name}",
    ]
    return "\n".join(lines)


C2P_SHARED_DEVICES = ("Xmswr", "Xmref")
"""The ramp mirror's bias diode and its replica switch: one pair serves every column's mirror in
an array (see `control_sources`), so they are not part of one per-column converter."""
C2P_LOAD_CAPACITORS = ("cout",)
"""`cout` (c_out_f) models the load on the converter's output (wire and next stage's input), not a
capacitor the converter draws."""
C2P_INVENTORY_NOTE = (
    "one per-column converter = the `c2p` subcircuit of the characterized netlist: reset switch, "
    "integration capacitor c_int, the two auto-zeroed comparator stages (coupling capacitors, "
    "inverters, auto-zero switches), buffers, output NAND gate and inverter, ramp mirror output "
    "transistor and its enable switch; not counted: the mirror's bias diode and its replica switch "
    "(Xmref, Xmswr: one pair shared by all columns of an array), the output load cout (a model of "
    "the wire and next stage, not a drawn capacitor), and the ideal sources (timing controller, bias "
    "current sink, supplies, reference; an ideal op-amp would be a VCVS), which are not devices"
)


def c2p_inventory(netlist: str, name: str = "c2p") -> dict:
    """Devices of one per-column charge-to-pulse converter: the `name` subcircuit of `netlist`
    (e.g. `transfer_netlist`), without the shared bias diode pair and the output load model.

    Returns the `circuits.inventory.Inventory.record` dict: fets as [kind, w_um, l_um, count]
    (nested gate subcircuits expanded), capacitors in farads, and a note on what is counted.
    """
    exclude = C2P_SHARED_DEVICES + C2P_LOAD_CAPACITORS
    return subckt_inventory(netlist, name, exclude=exclude).record(C2P_INVENTORY_NOTE)


def control_sources(cfg: C2PConfig, n_cycles: int, bias_nodes: list[str]) -> list[str]:
    """Ideal timing-controller sources for `n_cycles` consecutive conversions, and the ramp
    bias current sinks (one per `bias_nodes`; always on, so the mirror gate never has to slew:
    in an array one bias diode serves every column's mirror)."""
    tm = timing(cfg)
    e = cfg.t_edge_s
    hv, vdd = cfg.v_reset_gate_v, cfg.vdd_v
    rst, az, azb, az2, azb2, rampb, win = [], [], [], [], [], [], []
    for n in range(n_cycles):
        t0 = n * tm.cycle_s
        # reset high from the cycle start to reset_end; the auto-zero opens 0.2 ns later, so the
        # comparator samples the input after the reset switch's charge injection
        pre = max(t0 - e, 0.0)
        rst += [(pre, 0.0), (t0, hv), (t0 + tm.reset_end_s, hv), (t0 + tm.reset_end_s + e, 0.0)]
        az_off = t0 + tm.reset_end_s + 0.2e-9
        az += [(pre, 0.0), (t0, vdd), (az_off, vdd), (az_off + e, 0.0)]
        azb += [(pre, vdd), (t0, 0.0), (az_off, 0.0), (az_off + e, vdd)]
        az2_off = az_off + cfg.t_az2_delay_s  # stage 2 samples stage 1's settled output
        az2 += [(pre, 0.0), (t0, vdd), (az2_off, vdd), (az2_off + e, 0.0)]
        azb2 += [(pre, vdd), (t0, 0.0), (az2_off, 0.0), (az2_off + e, vdd)]
        ramp_on = t0 + tm.conv_start_s - cfg.t_ramp_lead_s
        rampb += [(ramp_on, vdd), (ramp_on + e, 0.0),
                  (t0 + tm.conv_end_s, 0.0), (t0 + tm.conv_end_s + e, vdd)]
        win += [(t0 + tm.conv_start_s, 0.0), (t0 + tm.conv_start_s + e, vdd),
                (t0 + tm.conv_end_s, vdd), (t0 + tm.conv_end_s + e, 0.0)]

    def closed(points: list[tuple[float, float]], v0: float) -> str:
        return pwl(_strictly_increasing([(0.0, v0)] + points))

    i_bias = cfg.i_ramp_a / cfg.mirror_ratio * cfg.i_bias_trim
    lines = [
        f"vrst rst 0 {closed(rst, hv)}",
        f"vaz az 0 {closed(az, vdd)}",
        f"vazb azb 0 {closed(azb, 0.0)}",
        f"vaz2 az2 0 {closed(az2, vdd)}",
        f"vazb2 azb2 0 {closed(azb2, 0.0)}",
        f"vrampb rampb 0 {closed(rampb, vdd)}",
        f"vwin win 0 {closed(win, 0.0)}",
    ]
    for node in bias_nodes:
        lines.append(f"i{node} {node} 0 dc {i_bias:.6e}")
    return lines


def _strictly_increasing(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop PWL points whose time does not increase (keeps the later value)."""
    out: list[tuple[float, float]] = []
    for t, v in points:
        if out and t <= out[-1][0] + 1e-15:
            out[-1] = (out[-1][0], v)
        else:
            out.append((t, v))
    return out


def input_current_pwl(cfg: C2PConfig, charges_c: list[float]) -> str:
    """Current source waveform sinking charge charges_c[n] from the input during cycle n's
    integration window (a constant current over t_max_s, the column's worst-case timing)."""
    tm = timing(cfg)
    e = cfg.t_edge_s
    pts = [(0.0, 0.0)]
    for n, q in enumerate(charges_c):
        t0 = n * tm.cycle_s
        i = q / (cfg.t_max_s)  # trapezoid with edge e at both ends has area i * t_max
        pts += [(t0 + tm.int_start_s - e / 2, 0.0), (t0 + tm.int_start_s + e / 2, i),
                (t0 + tm.int_end_s - e / 2, i), (t0 + tm.int_end_s + e / 2, 0.0)]
    return pwl(_strictly_increasing(pts))


def transfer_netlist(
    cfg: C2PConfig, charges_c: np.ndarray, seed_note: str = "", max_step_s: float = 0.2e-9,
    save_inputs: bool = False,
) -> str:
    """Instances driven by ideal charge sources: `charges_c` [n_inst, n_cycles] coulombs.

    Instance k has its own supply `vddc{k}` and reference `vref{k}` (for its energy). The
    transient's largest step is `max_step_s` (edges are resolved by the error control);
    `save_inputs` keeps the input-node waveforms too (for the ramp slope).
    """
    q = np.atleast_2d(np.asarray(charges_c, dtype=float))
    n_inst, n_cycles = q.shape
    tm = timing(cfg)
    lines = [f"* gaincell charge-to-pulse converter: {n_inst} instances x {n_cycles} cycles {seed_note}",
             lib_line(cfg.corner), f".temp {cfg.temperature_c:g}", c2p_subckt(cfg)]
    bias_nodes, saves = [], ["time"]
    for k in range(n_inst):
        lines += [
            f"vddc{k} vdd{k} 0 {cfg.vdd_v:.6g}",
            f"vref{k} vr{k} 0 {cfg.v_ref_v:.6g}",
            f"Xc{k} in{k} out{k} vdd{k} vr{k} rst az azb az2 azb2 rampb win ib{k} in{k} c2p",
            f"iin{k} in{k} 0 {input_current_pwl(cfg, list(q[k]))}",
        ]
        bias_nodes.append(f"ib{k}")
        saves += [f"v(out{k})", f"vddc{k}#branch", f"vref{k}#branch"]
        if save_inputs:
            saves.append(f"v(in{k})")
    lines += control_sources(cfg, n_cycles, bias_nodes)
    lines.append(f".tran 50p {n_cycles * tm.cycle_s:.6e} 0 {max_step_s:.3g}")
    lines.append(".save " + " ".join(saves))
    lines.append(".end")
    return "\n".join(lines) + "\n"


@dataclass
class C2PMeasurement:
    """Per instance and cycle: output pulse width (s) and energy (J) of the cycle."""

    width_s: np.ndarray
    energy_j: np.ndarray
    time_s: np.ndarray
    out_v: np.ndarray


def measure_transfer(result, cfg: C2PConfig, n_inst: int, n_cycles: int, keep_waves: int = 0) -> C2PMeasurement:
    """Output pulse widths (within each conversion window) and energy per cycle."""
    t = result.vec("time")
    tm = timing(cfg)
    width = np.zeros((n_inst, n_cycles))
    energy = np.zeros((n_inst, n_cycles))
    waves = []
    for k in range(n_inst):
        v = result.vec(f"v(out{k})")
        i_dd = result.vec(f"vddc{k}#branch")
        i_ref = result.vec(f"vref{k}#branch")
        if k < keep_waves:
            waves.append(v)
        for n in range(n_cycles):
            t0 = n * tm.cycle_s
            width[k, n] = pulse_width(t, v, cfg.vdd_v / 2, t0 + tm.int_end_s, t0 + tm.cycle_s)
            t1 = t0 + tm.cycle_s
            energy[k, n] = energy_from_supply(t, i_dd, cfg.vdd_v, t0, t1) + energy_from_supply(
                t, i_ref, cfg.v_ref_v, t0, t1
            )
    return C2PMeasurement(width, energy, t, np.array(waves))


def fit_transfer(charge_c: np.ndarray, width_s: np.ndarray, t_max_s: float) -> dict[str, float]:
    """Fit width = clip(slope * (Q - offset), 0, t_sat) on the linear part (5 % .. 95 % of t_max).

    Returns slope (s/C), offset (C), saturated width t_sat (s, median of the points above 98 %
    of the largest width), and the charge where the fitted line reaches t_sat.
    """
    q, w = np.asarray(charge_c), np.asarray(width_s)
    lin = (w > 0.05 * t_max_s) & (w < 0.95 * t_max_s)
    slope, icept = np.polyfit(q[lin], w[lin], 1)
    offset = -icept / slope
    t_sat = float(np.median(w[w >= 0.98 * w.max()]))
    rms = float(np.sqrt(np.mean((w[lin] - (slope * q[lin] + icept)) ** 2)))
    return {"slope_s_per_c": float(slope), "offset_c": float(offset), "t_max_s": t_sat,
            "q_sat_c": float(offset + t_sat / slope), "linear_fit_rms_s": rms}


def ramp_current(result, cfg: C2PConfig, k: int, width_s: float, cycle: int = 0) -> float:
    """Ramp current (A) of instance k, from the slope of its input node during the first 60 %
    of its conversion (needs `save_inputs`): C_int * dV/dt."""
    tm = timing(cfg)
    t = result.vec("time")
    v = result.vec(f"v(in{k})")
    t0 = cycle * tm.cycle_s + tm.conv_start_s - cfg.t_ramp_lead_s + 0.3e-9
    t1 = t0 + max(0.6 * (width_s + cfg.t_ramp_lead_s) - 0.3e-9, 0.5e-9)
    sel = (t >= t0) & (t <= t1)
    slope = np.polyfit(t[sel], v[sel], 1)[0]
    return float(cfg.c_int_f * slope)


def output_fall_time(result, cfg: C2PConfig, k: int, cycle: int = 0) -> float:
    """Time (s, from the cycle start) of the last falling edge of instance k's output."""
    from circuits.drivers import crossings

    tm = timing(cfg)
    t = result.vec("time")
    v = result.vec(f"v(out{k})")
    _, down = crossings(t, v, cfg.vdd_v / 2)
    t0 = cycle * tm.cycle_s
    down = down[(down > t0) & (down <= t0 + tm.cycle_s)]
    return float(down[-1] - t0) if len(down) else float("nan")
