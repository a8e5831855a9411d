"""Characterization of one gain cell: DC I-V against the authors' table, MAC transfer surface
(PWM transient), retention at two temperatures for both write devices, write time/energy, read
energy per MAC, Monte Carlo mismatch and the read current noise of the read pair.

Six ngspice jobs, each batching many cell instances (or analyses) behind one library load:
`iv_write` (DC I-V sweep + write transients), `mac` (pulse-width and read-voltage surfaces and
read energy), `retention_<T>C` (one per temperature, both write devices, two transients of
different time scales), `mc` (mismatch corner, one instance per sample and grid point) and
`noise` (small-signal `.noise` analyses of the read pair's output current, see `noise_job`).
`characterize_noise` runs the noise job alone (result folder of cell `gaincell_noise`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from circuits.array import ArrayConfig, pwm_pulse_spec
from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.gaincell_cell import GainCellConfig, cell_instance, cell_subckt, header, supplies
from circuits.ngspice import SimResult, SpiceJob, run_jobs
from circuits.validation import in_range

CELL = "gaincell"
#: The authors' simulated cell current (v_store_V, v_in_V, i_out_A), see the reference README.
REFERENCE_IV_CSV = Path(__file__).resolve().parents[3] / "shared" / "data" / "reference_cell_iv.csv"


@dataclass(frozen=True)
class GainCellSweeps:
    """Grid sizes and timings of the characterization (validated).

    Attributes:
        n_x: pulse-width points of the MAC surface (x = width / t_max in [0, 1]).
        n_v_store: stored-voltage points of the MAC surface, over [0, VDD].
        n_v_in: read-voltage points of the amplitude surface, over [VDD/2, VDD].
        iv_step_v: DC I-V step of V_store and V_in, volts.
        retention_temps_c: temperatures of the retention transients, C.
        v_write_v: level written before the retention transients, volts.
        t_ret_si_s / t_ret_igzo_s: span of the short (silicon) and long (IGZO) retention
            transients, seconds.
        n_write_levels: written levels of the write test (3-bit DAC = 8), over [0, VDD].
        t_write_s: write-wordline pulse width, seconds.
        write_tol_v: a write is done when the storage node is within this of the bitline, volts.
        mc_samples: Monte Carlo samples (one read-pair instance each).
        mc_x: pulse fractions of the Monte Carlo surface.
        mc_n_v_store: stored-voltage points of the Monte Carlo surface.
        noise_n_v_store: stored-voltage points of the read-noise analysis, over [0, VDD].
        noise_points_per_decade: frequency points per decade of the `.noise` spectra.
        noise_f_start_hz / noise_f_stop_hz: span of the simulated noise spectra, hertz.
        noise_f_lo_hz: lower edge of the read-noise integration band, hertz (the upper edge is
            1 / (2 t_max), the bandwidth of an integration window t_max). 1 kHz: a key lives
            W = 1024 tokens of ~0.8 us (~1 ms) in the array, so flicker noise slower than that is
            a quasi-static offset of the key (drift, like mismatch), not a per-read fluctuation.
    """

    n_x: int = 16
    n_v_store: int = 16
    n_v_in: int = 6
    iv_step_v: float = 0.025
    retention_temps_c: tuple[float, ...] = (27.0, 85.0)
    v_write_v: float = 0.9
    t_ret_si_s: float = 0.2
    t_ret_igzo_s: float = 1e7
    n_write_levels: int = 8
    t_write_s: float = 50e-9
    write_tol_v: float = 0.009
    mc_samples: int = 100
    mc_x: tuple[float, ...] = (1.0,)
    mc_n_v_store: int = 4
    noise_n_v_store: int = 9
    noise_points_per_decade: int = 20
    noise_f_start_hz: float = 1e2
    noise_f_stop_hz: float = 1e10
    noise_f_lo_hz: float = 1e3

    def __post_init__(self) -> None:
        in_range("n_x", self.n_x, 2, 256, integer=True)
        in_range("n_v_store", self.n_v_store, 2, 256, integer=True)
        in_range("n_v_in", self.n_v_in, 2, 256, integer=True)
        in_range("iv_step_v", self.iv_step_v, 0.001, 0.45)
        for t in self.retention_temps_c:
            in_range("retention_temps_c", t, -55.0, 150.0)
        in_range("v_write_v", self.v_write_v, 0.0, 1.8)
        in_range("t_ret_si_s", self.t_ret_si_s, 1e-6, 1e3)
        in_range("t_ret_igzo_s", self.t_ret_igzo_s, 1e-3, 1e10)
        in_range("n_write_levels", self.n_write_levels, 2, 64, integer=True)
        in_range("t_write_s", self.t_write_s, 1e-10, 1e-5)
        in_range("write_tol_v", self.write_tol_v, 1e-4, 0.2)
        in_range("mc_samples", self.mc_samples, 1, 10000, integer=True)
        for x in self.mc_x:
            in_range("mc_x", x, 0.0, 1.0, lo_open=True)
        in_range("mc_n_v_store", self.mc_n_v_store, 2, 64, integer=True)
        in_range("noise_n_v_store", self.noise_n_v_store, 2, 64, integer=True)
        in_range("noise_points_per_decade", self.noise_points_per_decade, 2, 200, integer=True)
        in_range("noise_f_start_hz", self.noise_f_start_hz, 1e-3, 1e9)
        in_range("noise_f_stop_hz", self.noise_f_stop_hz, self.noise_f_start_hz, 1e12, lo_open=True)
        in_range("noise_f_lo_hz", self.noise_f_lo_hz, self.noise_f_start_hz, self.noise_f_stop_hz)

    @classmethod
    def quick(cls) -> "GainCellSweeps":
        """Small grids for tests and smoke runs."""
        return cls(
            n_x=4, n_v_store=5, n_v_in=3, iv_step_v=0.15, n_write_levels=3, mc_samples=4,
            mc_x=(1.0,), mc_n_v_store=3, noise_n_v_store=5, noise_points_per_decade=8,
        )


# ------------------------------------------------------------------------------------------
# Benches
# ------------------------------------------------------------------------------------------


def _energy(vectors: dict[str, np.ndarray], t: np.ndarray, nodes_sources: list[tuple[str, str]]) -> float:
    """Energy delivered by voltage sources, joules: -integral of v(node) * i(source) dt."""
    total = 0.0
    for node, src in nodes_sources:
        v = np.real(vectors[f"v({node})"]) if node != "0" else np.zeros_like(t)
        i = np.real(vectors[f"{src}#branch"])
        total += -np.trapezoid(v * i, t)
    return float(total)


def iv_write_job(cell: GainCellConfig, sw: GainCellSweeps, name: str = "iv_write") -> tuple[SpiceJob, dict]:
    """DC I-V of one cell (storage node forced) + write transients of both write devices."""
    net = header(cell, "gain cell: DC I-V and write") + supplies(cell)
    net += cell_subckt(cell, "gc_iv")
    # I-V: storage node forced by vsn, read line at vin, complement at VDD - vin, bitline at VDD/2
    net += "vsn sn_iv 0 0.45\nvin rl_iv 0 0.9\nerlb rlb_iv 0 vdd rl_iv 1\nvbiv bl_iv vmid 0\n"
    net += cell_instance("iv", bl="bl_iv", rl="rl_iv", rlb="rlb_iv", wbl="whold", wwl="wwloff", sn="sn_iv", subckt="gc_iv")
    # write: per device, n levels, each cell with its own bitline source; a shared wordline pulse
    levels = np.linspace(0.0, cell.vdd_v, sw.n_write_levels)
    t_on, edge = 1e-9, 0.1e-9
    t_stop = t_on + sw.t_write_s + 2 * edge + 5e-9
    wcells = []
    for dev in ("si", "igzo"):
        c = dataclasses.replace(cell, write_device=dev)
        net += cell_subckt(c, f"gc_w{dev}")
        net += (
            f"vwwl{dev} wwl{dev} 0 pulse({c.v_wwl_off_v:g} {c.wwl_on_v:g} {t_on:g} {edge:g} {edge:g} "
            f"{sw.t_write_s:g} 1)\n"
        )
        for k, lv in enumerate(levels):
            start = 0.0 if lv >= cell.v_mid_v else cell.vdd_v  # worst case: from the opposite rail
            tag = f"{dev}{k}"
            net += f"vwbl{tag} wbl{tag} 0 {lv:.6g}\nvbw{tag} blw{tag} vmid 0\n"
            net += cell_instance(f"w{tag}", bl=f"blw{tag}", rl="vmid", rlb="vmid", wbl=f"wbl{tag}", wwl=f"wwl{dev}", sn=f"snw{tag}", subckt=f"gc_w{dev}")
            net += f".ic v(snw{tag})={start:g}\n"
            wcells.append((dev, k, float(lv), start))
    net += ".end\n"
    n_steps = int(round(0.45 / sw.iv_step_v))
    step = 0.45 / n_steps
    cmds = (
        f"dc vsn 0 {cell.vdd_v:g} {step:.6g} vin {cell.v_mid_v:g} {cell.vdd_v:g} {step:.6g}",
        f"tran 10p {t_stop:.6g} 0 0.1n",
    )
    meta = {"levels": levels, "wcells": wcells, "t_on_s": t_on, "edge_s": edge, "step_v": step}
    return SpiceJob(name, net, cmds), meta


def mac_job(
    cell: GainCellConfig, rd: ArrayConfig, sw: GainCellSweeps, name: str = "mac", part: str = "all"
) -> tuple[SpiceJob, dict]:
    """PWM read transients: pulse-width x stored-voltage surface, read-voltage x stored-voltage
    surface (full-width pulses) and per-cell read energy at x = 1. Every cell has its own ideal
    virtual-ground bitline source at VDD/2; storage nodes start from `.ic` (the write device off).
    `part` = "x" (pulse-width surface only), "vin" (read-voltage surface and energy) or "all"."""
    xs = np.linspace(0.0, 1.0, sw.n_x)
    vs = np.linspace(0.0, cell.vdd_v, sw.n_v_store)
    vins = np.linspace(cell.v_mid_v, cell.vdd_v, sw.n_v_in)
    kw = dict(t_max_s=rd.t_max_s, t_edge_s=rd.t_edge_s, t_delay_s=rd.t_delay_s, v_idle=cell.v_mid_v)
    net = header(cell, "gain cell: MAC transfer surfaces") + supplies(cell) + cell_subckt(cell)
    ics: list[str] = []

    def add_cell(tag: str, rl: str, rlb: str, v: float) -> str:
        ics.append(f"v(sn{tag})={v:.6g}")
        return f"vb{tag} bl{tag} vmid 0\n" + cell_instance(tag, bl=f"bl{tag}", rl=rl, rlb=rlb, wbl="whold", wwl="wwloff", sn=f"sn{tag}")

    for i, x in enumerate(xs if part in ("x", "all") else []):  # pulse width surface
        net += f"vrlx{i} rlx{i} 0 {pwm_pulse_spec(x, v_on=cell.vdd_v, **kw)}\n"
        net += f"vrlbx{i} rlbx{i} 0 {pwm_pulse_spec(x, v_on=0.0, **kw)}\n"
        for j, v in enumerate(vs):
            net += add_cell(f"x{i}_{j}", f"rlx{i}", f"rlbx{i}", v)
    for i, vin in enumerate(vins if part in ("vin", "all") else []):  # read-voltage surface, x=1
        net += f"vrla{i} rla{i} 0 {pwm_pulse_spec(1.0, v_on=vin, **kw)}\n"
        net += f"vrlba{i} rlba{i} 0 {pwm_pulse_spec(1.0, v_on=cell.vdd_v - vin, **kw)}\n"
        for j, v in enumerate(vs):
            net += add_cell(f"a{i}_{j}", f"rla{i}", f"rlba{i}", v)
    for j, v in enumerate(vs if part in ("vin", "all") else []):  # energy: own drivers, x=1
        net += f"vrle{j} rle{j} 0 {pwm_pulse_spec(1.0, v_on=cell.vdd_v, **kw)}\n"
        net += f"vrlbe{j} rlbe{j} 0 {pwm_pulse_spec(1.0, v_on=0.0, **kw)}\n"
        net += add_cell(f"e{j}", f"rle{j}", f"rlbe{j}", v)
    for k in range(0, len(ics), 8):
        net += ".ic " + " ".join(ics[k : k + 8]) + "\n"
    net += ".end\n"
    step = rd.t_max_s / 50  # the PULSE sources add breakpoints at every edge
    cmd = f"tran {step / 10:.4g} {rd.t_stop_s:.6g} 0 {step:.4g}"
    return SpiceJob(name, net, (cmd,)), {"x": xs, "v_store": vs, "v_in": vins}


def retention_job(cell: GainCellConfig, sw: GainCellSweeps, temp_c: float, device: str) -> tuple[SpiceJob, dict]:
    """Hold transient after a write of `sw.v_write_v` for one write device at `temp_c` (read
    lines idle). One job per device: a decayed silicon node next to an IGZO one would force the
    months-long IGZO transient down to tiny steps."""
    c = dataclasses.replace(cell, temperature_c=temp_c, write_device=device)
    net = header(c, f"gain cell: retention at {temp_c:g} C, {device} write device", leakage=True)
    net += supplies(c) + cell_subckt(c)
    net += cell_instance("r", bl="vmid", rl="vmid", rlb="vmid", wbl="whold", wwl="wwloff", sn="sn")
    net += f".ic v(sn)={sw.v_write_v:g}\n.end\n"
    span = sw.t_ret_si_s if device == "si" else sw.t_ret_igzo_s
    # The truncation-error control is relaxed (trtol, chgtol, see `header`): with the defaults
    # ngspice crawls at ~1 s steps through days of a nearly static circuit; the step is then
    # bounded by span/1000 (checked against the default tolerances: same silicon decay, IGZO
    # V_store within 1e-6 V at 1e6 s).
    cmd = f"tran {span / 5000:.4g} {span:.4g} 0 {span / 1000:.4g}"
    return SpiceJob(f"retention_{device}_{temp_c:g}C", net, (cmd,)), {}


def mc_job(
    cell: GainCellConfig, rd: ArrayConfig, sw: GainCellSweeps, seed: int, samples: range | None = None
) -> tuple[SpiceJob, dict]:
    """Mismatch Monte Carlo: one instance per sample and (x, V_store) point in one netlist under
    the `_mm` corner; every subcircuit instance draws its own AGAUSS mismatch (ngspice seed
    `seed`). `samples` selects a slice (several jobs fan out over workers with distinct seeds)."""
    samples = samples if samples is not None else range(sw.mc_samples)
    corner = cell.corner if cell.corner.endswith("_mm") else f"{cell.corner}_mm"
    c = dataclasses.replace(cell, corner=corner)
    xs = np.asarray(sw.mc_x, dtype=float)
    vs = np.linspace(0.0, cell.vdd_v, sw.mc_n_v_store)
    kw = dict(t_max_s=rd.t_max_s, t_edge_s=rd.t_edge_s, t_delay_s=rd.t_delay_s, v_idle=cell.v_mid_v)
    net = header(c, f"gain cell: mismatch Monte Carlo ({corner})") + supplies(c) + cell_subckt(c)
    ics = []
    for i, x in enumerate(xs):
        net += f"vrl{i} rl{i} 0 {pwm_pulse_spec(float(x), v_on=cell.vdd_v, **kw)}\n"
        net += f"vrlb{i} rlb{i} 0 {pwm_pulse_spec(float(x), v_on=0.0, **kw)}\n"
        for j in range(len(vs)):
            for s in samples:
                tag = f"m{s}_{i}_{j}"
                net += f"vb{tag} bl{tag} vmid 0\n"
                net += cell_instance(tag, bl=f"bl{tag}", rl=f"rl{i}", rlb=f"rlb{i}", wbl="whold", wwl="wwloff", sn=f"sn{tag}")
                ics.append(f"v(sn{tag})={vs[j]:.6g}")
    for k in range(0, len(ics), 8):
        net += ".ic " + " ".join(ics[k : k + 8]) + "\n"
    net += ".end\n"
    step = rd.t_max_s / 50
    cmd = f"tran {step / 10:.4g} {rd.t_stop_s:.6g} 0 {step:.4g}"
    name = "mc" if len(samples) == sw.mc_samples else f"mc_{samples.start}_{samples.stop - 1}"
    return SpiceJob(name, net, (cmd,), seed=seed), {"x": xs, "v_store": vs, "corner": corner, "samples": samples}


#: Read-line biases of the noise analysis: (state, V(rl), V(rlb)) as functions of the config.
NOISE_STATES: tuple[str, ...] = ("on", "idle")


def noise_job(cell: GainCellConfig, sw: GainCellSweeps, name: str = "noise") -> tuple[SpiceJob, dict]:
    """Small-signal `.noise` of the read pair's output current at each stored voltage.

    Bench: the storage node forced by `vsn` (an ideal source: the gate is noiseless here; the
    write's kT/C noise on the storage capacitor is a separate, closed-form term), the bitline
    held at VDD/2 by `vb` (the integrator's virtual ground) whose current is the output, sensed
    by a noiseless current-controlled voltage source `hsense` (1 V per A), so the output noise
    spectrum of v(iout) in V/sqrt(Hz) is the current noise in A/sqrt(Hz). Two read-line states:
    'on' (V(rl) = VDD, V(rlb) = 0: a PWM pulse is high) and 'idle' (both at VDD/2: no pulse).
    The sky130 BSIM4 models carry channel thermal and flicker (1/f) noise.

    One library load; per state and stored voltage the commands `alter` the sources, run `op`
    (the DC output current) and `noise` (two plots: spectrum, integrated total), so the result
    holds 3 plots per (state, voltage) in that order.
    """
    vs = np.linspace(0.0, cell.vdd_v, sw.noise_n_v_store)
    net = header(cell, "gain cell: read-pair output current noise") + supplies(cell) + cell_subckt(cell)
    net += f"vsn sn 0 {vs[0]:.6g}\nvrl rl 0 dc {cell.vdd_v:g} ac 1\nvrlb rlb 0 dc 0\nvb bl vmid 0\n"
    net += cell_instance("n", bl="bl", rl="rl", rlb="rlb", wbl="whold", wwl="wwloff", sn="sn")
    net += "hsense iout 0 vb 1\n.end\n"
    levels = {"on": (cell.vdd_v, 0.0), "idle": (cell.v_mid_v, cell.v_mid_v)}
    cmds: list[str] = []
    for state in NOISE_STATES:
        rl, rlb = levels[state]
        cmds += [f"alter vrl dc={rl:.6g}", f"alter vrlb dc={rlb:.6g}"]
        for v in vs:
            cmds += [
                f"alter vsn dc={v:.6g}",
                "op",
                f"noise v(iout) vrl dec {sw.noise_points_per_decade} {sw.noise_f_start_hz:.6g} "
                f"{sw.noise_f_stop_hz:.6g}",
            ]
    meta = {"v_store": vs, "states": NOISE_STATES, "levels": levels}
    return SpiceJob(name, net, tuple(cmds)), meta


def integrate_psd(freq_hz: np.ndarray, psd: np.ndarray, f_lo_hz: float, f_hi_hz: float) -> np.ndarray:
    """Integral of a one-sided PSD over [f_lo_hz, f_hi_hz] (units of psd * Hz), last axis.

    The spectrum is interpolated linearly in log(psd) versus log(f) (exact for power laws such
    as thermal f**0 and flicker f**-1 segments) on 100 points per decade, then integrated with
    the trapezoid rule in f.
    """
    f = np.asarray(freq_hz, float)
    if not f[0] <= f_lo_hz < f_hi_hz <= f[-1]:
        raise ValueError(f"band [{f_lo_hz:g}, {f_hi_hz:g}] Hz outside the spectrum [{f[0]:g}, {f[-1]:g}] Hz")
    n = max(2, int(np.ceil(100 * np.log10(f_hi_hz / f_lo_hz))) + 1)
    fg = np.logspace(np.log10(f_lo_hz), np.log10(f_hi_hz), n)
    logp = np.log(np.maximum(np.asarray(psd, float), 1e-300))
    flat = logp.reshape(-1, f.size)
    out = np.array([np.trapezoid(np.exp(np.interp(np.log(fg), np.log(f), row)), fg) for row in flat])
    return out.reshape(logp.shape[:-1])


def analyze_noise(r: SimResult, meta: dict, t_max_s: float, f_lo_hz: float) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Spectra, DC currents and the charge noise sigma per read of one cell.

    Band: [f_lo_hz, 1 / (2 t_max_s)] (the noise bandwidth of an integration window t_max_s:
    for white noise S, integrating over t_max gives a charge variance S t_max / 2 = S * t_max**2
    * 1 / (2 t_max)). sigma_I = sqrt(integral of S_I(f) df), sigma_Q = sigma_I * t_max_s
    (coulombs per read of one cell at the on-state bias for the whole window: a full-width pulse).
    Returns (results['noise'] without full-scale figures, arrays).
    """
    vs, states = meta["v_store"], meta["states"]
    f_hi = 1.0 / (2.0 * t_max_s)
    freq = None
    cur = np.zeros((len(states), len(vs)))
    rows = []
    k = 0
    for si, _ in enumerate(states):
        for vi, _ in enumerate(vs):
            op, spec = r.plot(k), r.plot(k + 1)
            k += 3
            cur[si, vi] = -float(np.real(op["vb#branch"])[0])  # + = sunk from the bitline
            f = np.real(spec["frequency"])
            freq = f if freq is None else freq
            rows.append(np.real(spec["onoise_spectrum"]) ** 2)  # (V/sqrt(Hz))**2 = A**2/Hz
    psd = np.array(rows).reshape(len(states), len(vs), -1)
    sigma_i = np.sqrt(integrate_psd(freq, psd, f_lo_hz, f_hi))
    sigma_q = sigma_i * t_max_s
    on, idle = states.index("on"), states.index("idle")
    # split of the on-state spectrum: white floor = median PSD over the top decade below f_hi
    top = (freq >= f_hi / 10) & (freq <= f_hi)
    white = np.median(psd[on][:, top], axis=1)
    arrays = {
        "noise_v_store_v": np.asarray(vs), "noise_freq_hz": freq,
        "noise_psd_on_a2_per_hz": psd[on], "noise_psd_idle_a2_per_hz": psd[idle],
        "noise_current_on_a": cur[on], "noise_current_idle_a": cur[idle],
        "noise_sigma_charge_c": sigma_q[on], "noise_sigma_charge_idle_c": sigma_q[idle],
    }
    res = {
        "analysis": "ngspice .noise (small signal, BSIM4 thermal + flicker) of the bitline current, "
                    "storage node forced, read lines on (VDD / 0) or idle (VDD/2)",
        "f_lo_hz": float(f_lo_hz), "f_hi_hz": f_hi, "t_max_s": float(t_max_s),
        "band": "[f_lo, 1/(2 t_max)]; sigma_Q = t_max * sqrt(integral of S_I df)",
        "sigma_charge_c_max": float(np.max(sigma_q[on])),
        "sigma_charge_c_rms": float(np.sqrt(np.mean(sigma_q[on] ** 2))),
        "sigma_current_a_max": float(np.max(sigma_i[on])),
        "sigma_charge_idle_c_max": float(np.max(sigma_q[idle])),
        "white_psd_on_a2_per_hz_max": float(np.max(white)),
        "flicker_fraction_of_variance_max": float(np.clip(np.max(1.0 - white * (f_hi - f_lo_hz) / sigma_i[on] ** 2), 0, 1)),
    }
    return res, arrays


# ------------------------------------------------------------------------------------------
# Analysis
# ------------------------------------------------------------------------------------------


def load_reference_iv(path: Path = REFERENCE_IV_CSV) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The authors' table as (v_store_v [Nv], v_in_v [Ni], current_a [Ni, Nv])."""
    rows = []
    for line in Path(path).read_text().splitlines():
        parts = line.split(",")
        if line.startswith("#") or len(parts) != 3:
            continue
        try:
            rows.append([float(x) for x in parts])
        except ValueError:  # the column-name line
            continue
    d = np.array(rows)
    vs, vi = np.unique(d[:, 0]), np.unique(d[:, 1])
    grid = np.full((len(vi), len(vs)), np.nan)
    grid[np.searchsorted(vi, d[:, 1]), np.searchsorted(vs, d[:, 0])] = d[:, 2]
    return vs, vi, grid


def compare_to_reference(v_store: np.ndarray, v_in: np.ndarray, current: np.ndarray) -> dict[str, float]:
    """RMS and max error of our DC I-V [Ni, Nv] against the authors' table, as fractions of the
    table's full scale (max |I|), on our grid points inside the table's domain."""
    from scipy.interpolate import RegularGridInterpolator

    rvs, rvi, rgrid = load_reference_iv()
    interp = RegularGridInterpolator((rvi, rvs), rgrid)
    VI, VS = np.meshgrid(v_in, v_store, indexing="ij")
    eps = 1e-9  # sweep values carry floating-point noise
    inside = (VS >= rvs[0] - eps) & (VS <= rvs[-1] + eps) & (VI >= rvi[0] - eps) & (VI <= rvi[-1] + eps)
    query = np.stack([np.clip(VI[inside], rvi[0], rvi[-1]), np.clip(VS[inside], rvs[0], rvs[-1])], axis=-1)
    ref = interp(query)
    err = current[inside] - ref
    fs = float(np.nanmax(np.abs(rgrid)))
    k = int(np.argmin(np.abs(v_in - rvi[-1])))
    ref_top = interp(np.stack([np.full_like(v_store, rvi[-1]), np.clip(v_store, rvs[0], rvs[-1])], axis=-1))
    return {
        "rms_error_rel_full_scale": float(np.sqrt(np.mean(err**2)) / fs),
        "max_error_rel_full_scale": float(np.max(np.abs(err)) / fs),
        "rms_error_rel_full_scale_at_vin_max": float(np.sqrt(np.mean((current[k] - ref_top) ** 2)) / fs),
        "reference_full_scale_a": fs,
        "n_points": int(inside.sum()),
    }


def _fit_tau(t: np.ndarray, v: np.ndarray, v_hold: float) -> dict[str, float]:
    """Exponential fit V = V_inf + (V0 - V_inf) exp(-t / tau) (scipy curve_fit) and the half-life
    of the stored weight |V - v_hold| read from the data."""
    from scipy.optimize import curve_fit

    w = np.abs(v - v_hold)
    half = np.nan
    below = np.nonzero(w <= 0.5 * w[0])[0]
    if below.size:
        k = below[0]
        half = float(np.interp(0.5 * w[0], [w[k], w[k - 1]], [t[k], t[k - 1]])) if k > 0 else float(t[0])
    guess_tau = half / np.log(2) if np.isfinite(half) and half > 0 else t[-1] * 10
    def model(tt, v_inf, log_tau):
        return v_inf + (v[0] - v_inf) * np.exp(-tt / np.exp(log_tau))
    try:
        popt, _ = curve_fit(model, t, v, p0=[v_hold, np.log(guess_tau)], maxfev=20000)
        tau = float(np.exp(popt[1]))
        rms = float(np.sqrt(np.mean((model(t, *popt) - v) ** 2)))
        v_inf = float(popt[0])
    except RuntimeError:
        tau, rms, v_inf = float("nan"), float("nan"), float("nan")
    return {"tau_s": tau, "v_inf_v": v_inf, "fit_rms_v": rms, "half_life_s": half}


def _settle_time(t: np.ndarray, v: np.ndarray, target: float, tol: float, t0: float) -> float:
    """First time after which |v - target| <= tol for good, minus t0 (nan if never)."""
    bad = np.nonzero(np.abs(v - target) > tol)[0]
    if bad.size == 0:
        return 0.0
    if bad[-1] == len(t) - 1:
        return float("nan")
    return float(t[bad[-1] + 1] - t0)


def characterize(
    out_dir: Path,
    *,
    seed: int = 0,
    workers: int | None = None,
    quick: bool = False,
    cell: GainCellConfig | None = None,
    read: ArrayConfig | None = None,
    sweeps: GainCellSweeps | None = None,
) -> dict[str, Any]:
    """Run every analysis of the gain cell and write `out_dir`/result.json + data.npz + PNGs."""
    cell = cell or GainCellConfig()
    read = read or ArrayConfig(cell=cell, n_rows=1, n_cols=1)
    sw = sweeps or (GainCellSweeps.quick() if quick else GainCellSweeps())

    specs = [iv_write_job(cell, sw), mac_job(cell, read, sw, "mac_x", "x"), mac_job(cell, read, sw, "mac_vin", "vin")]
    specs += [retention_job(cell, sw, t, d) for t in sw.retention_temps_c for d in ("si", "igzo")]
    half = (sw.mc_samples + 1) // 2  # two jobs, two workers; seeds differ so the halves differ
    mc_parts = [range(0, half), range(half, sw.mc_samples)] if sw.mc_samples > 1 else [range(1)]
    mc_specs = [mc_job(cell, read, sw, seed * 1000 + k, part) for k, part in enumerate(mc_parts)]
    specs += mc_specs
    specs.append(noise_job(cell, sw))
    results = run_jobs([j for j, _ in specs], workers=workers, desc="gaincell")
    by_name: dict[str, tuple[SimResult, dict, SpiceJob]] = {
        j.name: (r, m, j) for (j, m), r in zip(specs, results)
    }

    arrays: dict[str, np.ndarray] = {}
    res: dict[str, Any] = {}

    # -- DC I-V and the reference comparison ---------------------------------------------
    r, meta, _ = by_name["iv_write"]
    dc = r.plot(0)
    vin_all = np.real(dc["v(rl_iv)"])
    n_vs = int(np.sum(np.isclose(vin_all, vin_all[0])))  # inner sweep: V_store
    iv_vs = np.real(dc["v(sn_iv)"])[:n_vs]
    cur = -np.real(dc["vbiv#branch"])
    n_vi = cur.size // n_vs
    iv = cur[: n_vi * n_vs].reshape(n_vi, n_vs)
    iv_vi = vin_all[::n_vs][:n_vi]
    arrays.update(iv_v_store_v=iv_vs, iv_v_in_v=iv_vi, iv_current_a=iv)
    top = iv[-1]
    w = iv_vs - cell.v_mid_v
    cubic = np.polyfit(w, top * 1e6, 3)[::-1]
    res["iv"] = {
        "current_at_v_store_0_a": float(top[0]),
        "current_at_v_store_mid_a": float(np.interp(cell.v_mid_v, iv_vs, top)),
        "current_at_v_store_vdd_a": float(top[-1]),
        "cubic_ua_vs_w_v": [float(c) for c in cubic],
        "linear_slope_a_per_v": float(np.polyfit(w, top, 1)[0]),
        "reference": compare_to_reference(iv_vs, iv_vi, iv) if REFERENCE_IV_CSV.is_file()
        else {"available": False, "path": str(REFERENCE_IV_CSV)},
        "monotonic_in_v_store": bool(np.all(np.diff(top) > 0)),
    }

    # -- write -------------------------------------------------------------------------------
    tr = r.plot(1)
    t = np.real(tr["time"])
    t_on, edge = meta["t_on_s"], meta["edge_s"]
    t_end = t_on + sw.t_write_s + 2 * edge
    write_rows = []
    for dev, k, lv, start in meta["wcells"]:
        tag = f"{dev}{k}"
        sn = np.real(tr[f"v(snw{tag})"])
        during = t <= t_on + sw.t_write_s + edge
        t_w = _settle_time(t[during], sn[during], lv, sw.write_tol_v, t_on + edge / 2)
        e_bl = _energy(tr, t, [(f"wbl{tag}", f"vwbl{tag}")])
        write_rows.append((dev, lv, start, t_w, e_bl, float(sn[-1])))
    res["write"] = {}
    for dev in ("si", "igzo"):
        rows = [x for x in write_rows if x[0] == dev]
        e_wwl = _energy(tr, t, [(f"wwl{dev}", f"vwwl{dev}")]) / len(rows)
        times = np.array([x[3] for x in rows])
        energies = np.array([x[4] for x in rows]) + e_wwl
        errs = np.array([x[5] - x[1] for x in rows])
        res["write"][dev] = {
            "write_time_s": float(np.nanmax(times)) if np.any(np.isfinite(times)) else float("nan"),
            "write_time_mean_s": float(np.nanmean(times)) if np.any(np.isfinite(times)) else float("nan"),
            "all_levels_settled": bool(np.all(np.isfinite(times))),
            "write_energy_j": float(np.mean(energies)),
            "write_energy_max_j": float(np.max(energies)),
            "held_level_error_max_v": float(np.max(np.abs(errs))),
            "held_level_error_mean_v": float(np.mean(errs)),
            "wwl_high_v": dataclasses.replace(cell, write_device=dev).wwl_on_v,
        }
        arrays[f"write_{dev}_level_v"] = np.array([x[1] for x in rows])
        arrays[f"write_{dev}_time_s"] = times
        arrays[f"write_{dev}_energy_j"] = energies
        arrays[f"write_{dev}_held_v"] = np.array([x[5] for x in rows])
    wd = res["write"][cell.write_device]
    res["write"].update(
        write_time_s=wd["write_time_s"], write_energy_j=wd["write_energy_j"],
        write_device=cell.write_device, tolerance_v=sw.write_tol_v, t_wwl_s=sw.t_write_s,
        start="opposite rail (0 V for levels >= VDD/2, VDD below)",
    )
    sel = [x for x in write_rows if x[0] == cell.write_device]
    arrays["write_t_s"] = t
    arrays["write_v_sn_v"] = np.array([np.real(tr[f"v(snw{d}{k})"]) for d, k, _, _ in meta["wcells"] if d == cell.write_device])
    del sel

    # -- MAC surfaces and read energy --------------------------------------------------------
    r, meta, _ = by_name["mac_x"]
    p = r.plot()
    t = np.real(p["time"])
    xs, vs, vins = meta["x"], meta["v_store"], meta["v_in"]
    q = lambda tag: float(-np.trapezoid(np.real(p[f"vb{tag}#branch"]), t))  # noqa: E731
    mac = np.array([[q(f"x{i}_{j}") for j in range(len(vs))] for i in range(len(xs))])
    sn_dip = np.array([float(np.max(np.abs(np.real(p[f"v(snx{len(xs) - 1}_{j})"]) - vs[j]))) for j in range(len(vs))])
    p2 = by_name["mac_vin"][0].plot()
    t2 = np.real(p2["time"])
    q2 = lambda tag: float(-np.trapezoid(np.real(p2[f"vb{tag}#branch"]), t2))  # noqa: E731
    mac_vin = np.array([[q2(f"a{i}_{j}") for j in range(len(vs))] for i in range(len(vins))])
    e_read = np.array([
        _energy(p2, t2, [(f"rle{j}", f"vrle{j}"), (f"rlbe{j}", f"vrlbe{j}"), ("vmid", f"vbe{j}")])
        for j in range(len(vs))
    ])
    arrays.update(mac_x=xs, mac_v_store_v=vs, mac_charge_c=mac, mac_v_in_v=vins,
                  mac_vin_charge_c=mac_vin, read_energy_j=e_read, mac_sn_disturb_v=sn_dip)
    full = float(np.max(np.abs(mac[-1])))
    lin = []  # linearity of charge in x, per stored level, relative to full scale
    for j in range(len(vs)):
        coef = np.polyfit(xs, mac[:, j], 1)
        lin.append(np.max(np.abs(np.polyval(coef, xs) - mac[:, j])))
    res["mac"] = {
        "t_max_s": read.t_max_s, "t_edge_s": read.t_edge_s,
        "full_scale_c": full,
        "charge_at_x1_v0_c": float(mac[-1, 0]), "charge_at_x1_vdd_c": float(mac[-1, -1]),
        "charge_at_x1_mid_c": float(np.interp(cell.v_mid_v, vs, mac[-1])),
        "x_linearity_max_dev_rel": float(np.max(lin) / full),
        "effective_current_at_vdd_a": float(mac[-1, -1] / read.t_max_s),
        "storage_disturb_max_v": float(np.max(sn_dip)),
        "monotonic_in_v_store": bool(np.all(np.diff(mac[-1]) > 0)),
    }
    res["read"] = {
        "energy_per_mac_j": float(np.mean(e_read)),
        "energy_per_mac_max_j": float(np.max(e_read)),
        "definition": "net energy from the read-line drivers and the bitline holder per cell, x=1, V_in=VDD, mean over stored levels",
    }

    # -- retention ---------------------------------------------------------------------------
    ret_t = np.logspace(-7, np.log10(sw.t_ret_igzo_s), 141)
    ret = np.zeros((2, len(sw.retention_temps_c), ret_t.size))
    res["retention"] = {"v_write_v": sw.v_write_v, "v_hold_wbl_v": cell.wbl_hold_v, "devices": ["si", "igzo"],
                        "temperatures_c": list(sw.retention_temps_c), "tau_s": {}, "fits": {}}
    for ti, temp in enumerate(sw.retention_temps_c):
        for di, dev in enumerate(("si", "igzo")):
            r, _, _ = by_name[f"retention_{dev}_{temp:g}C"]
            tt, vv = np.real(r.vec("time")), np.real(r.vec("v(sn)"))
            ret[di, ti] = np.interp(ret_t, tt, vv)
            fit = _fit_tau(tt, vv, cell.wbl_hold_v)
            res["retention"]["tau_s"].setdefault(dev, {})[f"{temp:g}"] = fit["tau_s"]
            res["retention"]["fits"].setdefault(dev, {})[f"{temp:g}"] = fit
    arrays.update(ret_time_s=ret_t, ret_v_store_v=ret)

    # -- Monte Carlo ---------------------------------------------------------------------------
    blocks = []
    for job, meta in mc_specs:
        p = by_name[job.name][0].plot()
        t = np.real(p["time"])
        mx, mv = meta["x"], meta["v_store"]
        blocks.append(np.array([[[float(-np.trapezoid(np.real(p[f"vbm{s}_{i}_{j}#branch"]), t)) for j in range(len(mv))]
                                 for i in range(len(mx))] for s in meta["samples"]]))
    mc = np.concatenate(blocks, axis=0)
    arrays.update(mc_x=mx, mc_v_store_v=mv, mc_charge_c=mc)
    sigma = mc.std(axis=0, ddof=1) if sw.mc_samples > 1 else np.zeros(mc.shape[1:])
    full_mc = float(np.max(np.abs(mc.mean(axis=0))))
    res["mc"] = {
        "n_samples": sw.mc_samples, "corner": mc_specs[0][1]["corner"],
        "ngspice_seeds": [j.seed for j, _ in mc_specs],
        "sigma_charge_rel": float(np.max(sigma) / full_mc),
        "sigma_charge_rel_mean": float(np.mean(sigma) / full_mc),
        "sigma_charge_c_max": float(np.max(sigma)),
        "distinct_samples": int(len(np.unique(np.round(mc[:, -1, -1] / full_mc, 9)))),
    }

    # -- read noise ------------------------------------------------------------------------
    r, meta, _ = by_name["noise"]
    res["noise"], noise_arrays = analyze_noise(r, meta, read.t_max_s, sw.noise_f_lo_hz)
    arrays.update(noise_arrays)
    _noise_full_scale(res["noise"], full, "results.mac.full_scale_c (PWM transient, x = 1)")

    cfg_record = {"cell": dataclasses.asdict(cell), "read": {k: v for k, v in dataclasses.asdict(read).items() if k != "cell"},
                  "sweeps": dataclasses.asdict(sw)}
    prov = circuit_provenance(
        corner=cell.corner, temperature_c=[cell.temperature_c, *sw.retention_temps_c], seed=seed,
        netlists={j.name: j.netlist for j, _ in specs},
    )
    summary = {
        "I-V rms error vs authors (of full scale)": f"{res['iv']['reference']['rms_error_rel_full_scale']:.3f}",
        "I(V_store=0 / VDD/2 / VDD) at V_in=VDD (uA)": f"{top[0] * 1e6:.2f} / {res['iv']['current_at_v_store_mid_a'] * 1e6:.2f} / {top[-1] * 1e6:.2f}",
        "MAC full scale (fC)": f"{full * 1e15:.1f}",
        "retention tau si / igzo (s, first temp)": f"{res['retention']['tau_s']['si'][f'{sw.retention_temps_c[0]:g}']:.3g} / {res['retention']['tau_s']['igzo'][f'{sw.retention_temps_c[0]:g}']:.3g}",
        "write time / energy": f"{wd['write_time_s'] * 1e9:.2f} ns / {wd['write_energy_j'] * 1e15:.2f} fJ",
        "read energy per MAC (fJ)": f"{res['read']['energy_per_mac_j'] * 1e15:.2f}",
        "MC sigma (of full scale)": f"{res['mc']['sigma_charge_rel']:.4f} ({sw.mc_samples} samples)",
        "read noise sigma per read (of full scale, max over V_store)": _noise_summary(res["noise"]),
    }
    record = write_result(out_dir, cell=CELL, config=cfg_record, results=res, arrays=arrays,
                          provenance_record=prov, summary=summary)
    _plots(Path(out_dir), arrays, res, sw)
    return record


def _noise_full_scale(noise: dict[str, Any], full_scale_c: float, source: str) -> None:
    """Add the sigmas relative to one cell's full-scale read charge (in place)."""
    noise["full_scale_c"] = float(full_scale_c)
    noise["full_scale_source"] = source
    noise["sigma_charge_rel_max"] = noise["sigma_charge_c_max"] / full_scale_c
    noise["sigma_charge_rel_rms"] = noise["sigma_charge_c_rms"] / full_scale_c


def _noise_summary(noise: dict[str, Any]) -> str:
    return (f"{noise['sigma_charge_rel_max']:.2e} ({noise['sigma_charge_c_max'] * 1e18:.1f} aC; band "
            f"{noise['f_lo_hz']:.3g} Hz - {noise['f_hi_hz']:.3g} Hz)")


def characterize_noise(
    out_dir: Path,
    *,
    seed: int = 0,
    workers: int | None = None,
    quick: bool = False,
    cell: GainCellConfig | None = None,
    read: ArrayConfig | None = None,
    sweeps: GainCellSweeps | None = None,
) -> dict[str, Any]:
    """Run only the read-noise job and write a result folder of cell `gaincell_noise`.

    For adding the read noise to an existing gain-cell characterization of the same cell
    config without re-running its other jobs (`gaincell fit` checks that the configs agree).
    The relative sigmas use the DC on-state current extremes times t_max as full scale.
    """
    cell = cell or GainCellConfig()
    read = read or ArrayConfig(cell=cell, n_rows=1, n_cols=1)
    sw = sweeps or (GainCellSweeps.quick() if quick else GainCellSweeps())
    job, meta = noise_job(cell, sw)
    (r,) = run_jobs([job], workers=workers, desc="gaincell noise")
    res, arrays = analyze_noise(r, meta, read.t_max_s, sw.noise_f_lo_hz)
    full = float(np.max(np.abs(arrays["noise_current_on_a"]))) * read.t_max_s
    _noise_full_scale(res, full, "max |DC on-state current| * t_max (no MAC transient in this run)")
    cfg_record = {"cell": dataclasses.asdict(cell), "read": {k: v for k, v in dataclasses.asdict(read).items() if k != "cell"},
                  "sweeps": dataclasses.asdict(sw)}
    prov = circuit_provenance(corner=cell.corner, temperature_c=cell.temperature_c, seed=seed,
                              netlists={job.name: job.netlist})
    prov["noise_commands"] = list(job.commands)
    record = write_result(out_dir, cell=f"{CELL}_noise", config=cfg_record, results={"noise": res},
                          arrays=arrays, provenance_record=prov,
                          summary={"read noise sigma per read (of full scale, max over V_store)": _noise_summary(res)})
    save_figure(Path(out_dir) / "noise.png", lambda fig: _draw_noise(fig, arrays, res), figsize=(10, 4))
    return record


def _draw_noise(fig, a: dict[str, np.ndarray], noise: dict[str, Any]) -> None:
    ax = fig.add_subplot(121)
    for k in np.linspace(0, len(a["noise_v_store_v"]) - 1, 3).astype(int):
        ax.loglog(a["noise_freq_hz"], np.sqrt(a["noise_psd_on_a2_per_hz"][k]),
                  label=f"on, V_store={a['noise_v_store_v'][k]:.2f} V")
    ax.axvspan(noise["f_lo_hz"], noise["f_hi_hz"], color="0.9", label="read band")
    ax.set_xlabel("frequency (Hz)"); ax.set_ylabel("current noise (A/sqrt(Hz))"); ax.legend(fontsize=6)
    ax = fig.add_subplot(122)
    ax.plot(a["noise_v_store_v"], a["noise_sigma_charge_c"] * 1e18, "o-", label="on")
    ax.plot(a["noise_v_store_v"], a["noise_sigma_charge_idle_c"] * 1e18, "s--", label="idle")
    ax.set_xlabel("V_store (V)"); ax.set_ylabel("charge noise per read (aC)"); ax.legend(); ax.grid(alpha=0.3)


def _plots(out: Path, a: dict[str, np.ndarray], res: dict, sw: GainCellSweeps) -> None:
    def iv(fig):
        ax = fig.add_subplot(111)
        rvs, rvi, rgrid = load_reference_iv()
        for k in np.linspace(0, len(a["iv_v_in_v"]) - 1, 4).astype(int):
            vin = a["iv_v_in_v"][k]
            line, = ax.plot(a["iv_v_store_v"], a["iv_current_a"][k] * 1e6, label=f"sky130, V_in={vin:.2f} V")
            kr = int(np.argmin(np.abs(rvi - vin)))
            ax.plot(rvs, rgrid[kr] * 1e6, "--", color=line.get_color(), label=f"authors, {rvi[kr]:.2f} V")
        ax.set_xlabel("V_store (V)"); ax.set_ylabel("I_out (uA), + = sunk from bitline")
        ax.set_title(f"DC read current; rms error {res['iv']['reference']['rms_error_rel_full_scale']:.3f} of FS")
        ax.legend(fontsize=6); ax.grid(alpha=0.3)

    def mac(fig):
        ax = fig.add_subplot(121)
        im = ax.pcolormesh(a["mac_v_store_v"], a["mac_x"], a["mac_charge_c"] * 1e15, shading="nearest", cmap="RdBu_r")
        fig.colorbar(im, ax=ax, label="charge (fC)")
        ax.set_xlabel("V_store (V)"); ax.set_ylabel("x = pulse / t_max"); ax.set_title("MAC vs pulse width")
        ax = fig.add_subplot(122)
        im = ax.pcolormesh(a["mac_v_store_v"], a["mac_v_in_v"], a["mac_vin_charge_c"] * 1e15, shading="nearest", cmap="RdBu_r")
        fig.colorbar(im, ax=ax, label="charge (fC)")
        ax.set_xlabel("V_store (V)"); ax.set_ylabel("V_in (V)"); ax.set_title("MAC vs read voltage (x=1)")

    def ret(fig):
        ax = fig.add_subplot(111)
        for di, dev in enumerate(("si", "igzo")):
            for ti, temp in enumerate(sw.retention_temps_c):
                tau = res["retention"]["tau_s"][dev][f"{temp:g}"]
                ax.semilogx(a["ret_time_s"], a["ret_v_store_v"][di, ti], label=f"{dev} {temp:g} C, tau={tau:.3g} s")
        ax.set_xlabel("time after write (s)"); ax.set_ylabel("V_store (V)"); ax.legend(fontsize=7); ax.grid(alpha=0.3)

    def mc(fig):
        ax = fig.add_subplot(111)
        m = a["mc_charge_c"][:, -1, :] * 1e15
        ax.plot(a["mc_v_store_v"], m.T, color="0.6", lw=0.5)
        ax.plot(a["mc_v_store_v"], m.mean(axis=0), "k", lw=2, label="mean")
        ax.set_xlabel("V_store (V)"); ax.set_ylabel(f"charge at x={a['mc_x'][-1]:g} (fC)")
        ax.set_title(f"mismatch MC, {m.shape[0]} samples"); ax.legend(); ax.grid(alpha=0.3)

    save_figure(out / "iv.png", iv)
    save_figure(out / "mac.png", mac, figsize=(10, 4))
    save_figure(out / "retention.png", ret)
    save_figure(out / "mc.png", mc)
    save_figure(out / "noise.png", lambda fig: _draw_noise(fig, a, res["noise"]), figsize=(10, 4))
