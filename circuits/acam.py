"""Capacitor gain-cell analog CAM (after Manea et al., arXiv 2410.09755), sky130 at vdd 0.9 V.

One cell (8T2C) compares an analog search input V_in with a window [edge_lo, edge_hi]:

- Two bounds are stored as voltages on capacitors `c_store_f` (nodes `slo`, `shi`), each behind
  a write transistor (gain-cell style: the stored node only touches gates, so reads never
  disturb it). Write devices: sky130 nfet ("si") or the IGZO card of circuits/igzo.py.
- Two identical mismatch detectors, each a ratioed pair between the search-enable rail `vs`
  and ground: a pmos pull-up gated by a search line and an nmos pull-down gated by a stored
  bound. Their middle node drives an nmos pull-down of the shared match line (ML):
  * lower detector: pull-up gated by SL = V_in, pull-down by `slo`. It fires when V_in is low
    enough to out-pull the stored bound: edge_lo = f(slo), decreasing in slo.
  * upper detector: pull-up gated by SLB = vdd - V_in (the complementary search line, as the
    gain-cell array's complementary read lines), pull-down by `shi`: it fires when
    V_in > edge_hi = vdd - f(shi), increasing in shi.
  The further V_in is outside the window, the harder the detector node rises and the faster
  the ML discharges: the discharge rate grows with the distance.
- A search: precharge ML to vdd, raise `vs` with the search lines set, sense ML after
  `t_sense_s`. Match = ML still above vdd/2.

A row of D cells shares one ML: the mismatch currents add on the wired line, so the ML voltage
at the sense time falls with the number of dimensions outside their windows and with how far
outside they are (a soft "count of mismatches" similarity; all-inside keeps ML high). Summing
currents is what a shared line does physically; a product/min combination would need per-cell
sensing, which the capacitor cell does not have.

`edge_lo`/`edge_hi` versus the stored voltages is measured by `edge_netlist` (DC sweep) and used
to program windows: `bounds_for_window` inverts the measured map.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from circuits.drivers import NFET, NFET_LVT, PFET_LVT, crossings, energy_from_supply, fet, pwl
from circuits.sky130_models import SKY130_CORNERS, lib_line
from circuits.validation import in_range, one_of

WRITE_DEVICES = ("si", "igzo")


@dataclass(frozen=True)
class AcamConfig:
    """aCAM cell and search timing (SI units; widths/lengths in micrometres)."""

    vdd_v: float = 0.9
    c_store_f: float = 10e-15
    write_device: str = "si"
    w_write_um: float = 0.42
    l_write_um: float = 0.5
    v_wwl_off_v: float = 0.0
    w_pu_um: float = 0.42
    l_pu_um: float = 0.35
    w_pd_um: float = 0.42
    l_pd_um: float = 0.5
    w_ml_um: float = 0.42
    l_ml_um: float = 0.15
    c_ml_per_cell_f: float = 1.0e-15
    t_precharge_s: float = 0.5e-9
    t_sense_s: float = 1.0e-9
    t_edge_s: float = 50e-12
    corner: str = "tt"
    temperature_c: float = 27.0

    def __post_init__(self) -> None:
        in_range("vdd_v", self.vdd_v, 0.6, 1.95)
        in_range("c_store_f", self.c_store_f, 0.1e-15, 1e-12)
        one_of("write_device", self.write_device, WRITE_DEVICES)
        in_range("w_write_um", self.w_write_um, 0.42, 100.0)
        in_range("l_write_um", self.l_write_um, 0.15, 20.0)
        in_range("v_wwl_off_v", self.v_wwl_off_v, -1.0, 0.5)
        in_range("w_pu_um", self.w_pu_um, 0.42, 100.0)
        in_range("l_pu_um", self.l_pu_um, 0.35, 20.0)
        in_range("w_pd_um", self.w_pd_um, 0.42, 100.0)
        in_range("l_pd_um", self.l_pd_um, 0.15, 20.0)
        in_range("w_ml_um", self.w_ml_um, 0.42, 100.0)
        in_range("l_ml_um", self.l_ml_um, 0.15, 20.0)
        in_range("c_ml_per_cell_f", self.c_ml_per_cell_f, 0.0, 1e-12)
        in_range("t_precharge_s", self.t_precharge_s, 50e-12, 1e-6)
        in_range("t_sense_s", self.t_sense_s, 50e-12, 1e-6)
        in_range("t_edge_s", self.t_edge_s, 1e-12, 1e-9)
        one_of("corner", self.corner, SKY130_CORNERS)
        in_range("temperature_c", self.temperature_c, -55.0, 150.0)

    @property
    def i_edge_a(self) -> float:
        """Pull-down current that discharges one cell's ML share by vdd/2 in t_sense (A):
        the DC criterion for a window edge."""
        return self.c_ml_per_cell_f * (self.vdd_v / 2) / self.t_sense_s


def detector_lines(cfg: AcamConfig, tag: str, sl: str, slb: str, slo: str, shi: str, ml: str, vs: str) -> list[str]:
    """The two mismatch detectors and ML pull-downs of one cell (no storage/write part)."""
    return [
        fet(f"pul{tag}", f"dl{tag}", sl, vs, "vdd", PFET_LVT, cfg.w_pu_um, cfg.l_pu_um),
        fet(f"pdl{tag}", f"dl{tag}", slo, "0", "0", NFET_LVT, cfg.w_pd_um, cfg.l_pd_um),
        fet(f"mll{tag}", ml, f"dl{tag}", "0", "0", NFET_LVT, cfg.w_ml_um, cfg.l_ml_um),
        fet(f"puh{tag}", f"dh{tag}", slb, vs, "vdd", PFET_LVT, cfg.w_pu_um, cfg.l_pu_um),
        fet(f"pdh{tag}", f"dh{tag}", shi, "0", "0", NFET_LVT, cfg.w_pd_um, cfg.l_pd_um),
        fet(f"mlh{tag}", ml, f"dh{tag}", "0", "0", NFET_LVT, cfg.w_ml_um, cfg.l_ml_um),
    ]


def storage_lines(cfg: AcamConfig, tag: str, node: str, wbl: str, wwl: str) -> list[str]:
    """Write device and storage capacitor of one bound."""
    if cfg.write_device == "si":
        dev = fet(f"w{tag}", wbl, wwl, node, "0", NFET, cfg.w_write_um, cfg.l_write_um)
    else:
        from circuits.igzo import IGZO_SUBCKT

        dev = f"xw{tag} {wbl} {wwl} {node} {IGZO_SUBCKT} temp_c={cfg.temperature_c:g}"
    return [dev, f"cs{tag} {node} 0 {cfg.c_store_f:.6e}"]


def header(cfg: AcamConfig, title: str) -> list[str]:
    """Title, library, temperature, solver tolerances and the write device card if needed."""
    lines = [f"* {title}", lib_line(cfg.corner), f".temp {cfg.temperature_c:g}",
             ".options abstol=1e-15 reltol=1e-4 method=gear", f"vvdd vdd 0 {cfg.vdd_v:.6g}"]
    if cfg.write_device == "igzo":
        from circuits.igzo import igzo_subckt

        lines.append(igzo_subckt().rstrip())
    return lines


# --------------------------------------------------------------------------------------------
# DC edge map (and Monte Carlo of it)
# --------------------------------------------------------------------------------------------


def edge_netlist(cfg: AcamConfig, v_store_v: np.ndarray, title: str = "aCAM edge map") -> str:
    """One detector pair per stored voltage (both bounds at that voltage), the search line swept
    by `dc vsl 0 vdd step`. ML is held at vdd by a source per instance (`vml<k>`): its current
    is the pull-down current of the lower (`ml<k>l`) or upper (`ml<k>h`) detector."""
    lines = header(cfg, title)
    lines += [f"vsl sl 0 dc {cfg.vdd_v / 2:.6g}", f"esl slb 0 vdd sl 1", f"vvs vs 0 {cfg.vdd_v:.6g}"]
    for k, v in enumerate(np.asarray(v_store_v, dtype=float)):
        lines += [f"vst{k} st{k} 0 {v:.6g}", f"vmll{k} mll{k} 0 {cfg.vdd_v:.6g}", f"vmlh{k} mlh{k} 0 {cfg.vdd_v:.6g}"]
        det = detector_lines(cfg, f"{k}", "sl", "slb", f"st{k}", f"st{k}", "ml", "vs")
        det[2] = det[2].replace(" ml ", f" mll{k} ", 1)
        det[5] = det[5].replace(" ml ", f" mlh{k} ", 1)
        lines += det
    lines.append(".end")
    return "\n".join(lines) + "\n"


def edge_command(cfg: AcamConfig, step_v: float = 0.005) -> str:
    """The DC sweep command of `edge_netlist`."""
    return f"dc vsl 0 {cfg.vdd_v:.6g} {step_v:g}"


def edges_from_dc(result, cfg: AcamConfig, n: int, plot: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(edge_lo_v [n], edge_hi_v [n]): input where each detector's pull-down current crosses
    cfg.i_edge_a (NaN when it never does inside [0, vdd])."""
    vec = result.plot(plot)
    v_in = np.real(vec["v(sl)"])
    lo, hi = np.full(n, np.nan), np.full(n, np.nan)
    for k in range(n):
        il = -np.real(vec[f"vmll{k}#branch"])
        ih = -np.real(vec[f"vmlh{k}#branch"])
        up, down = crossings(v_in, il, cfg.i_edge_a)
        if len(down):
            lo[k] = down[-1]
        up, down = crossings(v_in, ih, cfg.i_edge_a)
        if len(up):
            hi[k] = up[0]
    return lo, hi


def bounds_for_window(
    edge_map_v: np.ndarray, edge_lo_v: np.ndarray, edge_hi_v: np.ndarray, lo_v: float, hi_v: float
) -> tuple[float, float]:
    """Stored voltages (slo, shi) realising the window [lo_v, hi_v] from a measured edge map
    (stored voltage grid and the edges it gave), by linear interpolation."""
    ok_l, ok_h = np.isfinite(edge_lo_v), np.isfinite(edge_hi_v)
    # edge_lo decreases with the stored voltage, edge_hi increases
    order_l = np.argsort(edge_lo_v[ok_l])
    slo = float(np.interp(lo_v, edge_lo_v[ok_l][order_l], edge_map_v[ok_l][order_l]))
    order_h = np.argsort(edge_hi_v[ok_h])
    shi = float(np.interp(hi_v, edge_hi_v[ok_h][order_h], edge_map_v[ok_h][order_h]))
    return slo, shi


# --------------------------------------------------------------------------------------------
# Transient searches: single cells across inputs, and rows of cells
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchTiming:
    """Search phase boundaries (s)."""

    search_start_s: float
    sense_s: float
    stop_s: float


def search_timing(cfg: AcamConfig) -> SearchTiming:
    """Precharge then evaluate; ML is sensed t_sense_s after the search starts."""
    start = cfg.t_precharge_s + cfg.t_edge_s
    return SearchTiming(start, start + cfg.t_sense_s, start + cfg.t_sense_s + 0.2e-9)


def search_netlist(
    cfg: AcamConfig,
    rows: list[list[tuple[float, float, float]]],
    title: str = "aCAM search",
) -> str:
    """Rows of cells; row r's cells are (slo_v, shi_v, v_in_v) triples; each row has its own ML
    (precharged by a pmos from vdd), its own search-enable rail source `vsr<r>` (energy) and
    the storage nodes are set by `.ic` (write devices off, write bitlines at vdd/2)."""
    tm = search_timing(cfg)
    e = cfg.t_edge_s
    lines = header(cfg, title)
    pre_b = pwl([(0, 0.0), (cfg.t_precharge_s, 0.0), (cfg.t_precharge_s + e, cfg.vdd_v)])
    vs = pwl([(0, 0.0), (tm.search_start_s, 0.0), (tm.search_start_s + e, cfg.vdd_v)])
    lines += [f"vpre preb 0 {pre_b}", f"vwwl wwl 0 {cfg.v_wwl_off_v:.6g}",
              f"vwbl wbl 0 {cfg.vdd_v / 2:.6g}"]
    ics, saves = [], ["time"]
    for r, cells in enumerate(rows):
        ml = f"ml{r}"
        lines += [f"vsr{r} vs{r} 0 {vs}", f"vpc{r} vpc{r} 0 {cfg.vdd_v:.6g}",
                  fet(f"pre{r}", ml, "preb", f"vpc{r}", "vdd", PFET_LVT, 1.0, 0.35),
                  f"cml{r} {ml} 0 {cfg.c_ml_per_cell_f * len(cells):.6e}"]
        for c, (slo, shi, v_in) in enumerate(cells):
            tag = f"{r}_{c}"
            lines += [f"vsl{tag} sl{tag} 0 {v_in:.6g}", f"vslb{tag} slb{tag} 0 {cfg.vdd_v - v_in:.6g}"]
            lines += storage_lines(cfg, f"l{tag}", f"slo{tag}", "wbl", "wwl")
            lines += storage_lines(cfg, f"h{tag}", f"shi{tag}", "wbl", "wwl")
            lines += detector_lines(cfg, tag, f"sl{tag}", f"slb{tag}", f"slo{tag}", f"shi{tag}", ml, f"vs{r}")
            ics += [f"v(slo{tag})={slo:.6g}", f"v(shi{tag})={shi:.6g}"]
        ics.append(f"v({ml})={cfg.vdd_v:.6g}")
        saves += [f"v({ml})", f"vsr{r}#branch", f"vpc{r}#branch"]
    for k in range(0, len(ics), 8):
        lines.append(".ic " + " ".join(ics[k:k + 8]))
    lines.append(f".tran 5p {tm.stop_s:.6e}")
    lines.append(".save " + " ".join(saves))
    lines.append(".end")
    return "\n".join(lines) + "\n"


@dataclass
class SearchMeasurement:
    """Per row: ML voltage at the sense time (V), ML discharge time to vdd/2 (s, inf if never),
    search energy (J: search-enable rail plus the ML recharge after the search)."""

    ml_sense_v: np.ndarray
    t_discharge_s: np.ndarray
    energy_j: np.ndarray
    time_s: np.ndarray
    ml_waves_v: np.ndarray


def measure_search(result, cfg: AcamConfig, n_rows: int, n_cells: list[int], keep_waves: int = 0) -> SearchMeasurement:
    """ML voltages, discharge times and energies of `search_netlist` rows."""
    tm = search_timing(cfg)
    t = result.vec("time")
    ml_v, t_dis, energy, waves = [], [], [], []
    for r in range(n_rows):
        v = result.vec(f"v(ml{r})")
        if r < keep_waves:
            waves.append(v)
        ml_v.append(float(np.interp(tm.sense_s, t, v)))
        _, down = crossings(t, v, cfg.vdd_v / 2)
        down = down[down > tm.search_start_s]
        t_dis.append(float(down[0] - tm.search_start_s) if len(down) else np.inf)
        e_rail = energy_from_supply(t, result.vec(f"vsr{r}#branch"), cfg.vdd_v, tm.search_start_s, t[-1])
        # the next precharge restores the charge lost from ML: C_ml * vdd * (vdd - V_ml)
        c_ml = cfg.c_ml_per_cell_f * n_cells[r]
        energy.append(e_rail + c_ml * cfg.vdd_v * max(cfg.vdd_v - float(v[-1]), 0.0))
    return SearchMeasurement(np.array(ml_v), np.array(t_dis), np.array(energy), t, np.array(waves))


def retention_netlist(cfg: AcamConfig, v_store_v: tuple[float, ...], t_stop_s: float) -> str:
    """Bounds written to `v_store_v` then held (write word line off, write bitline at the
    opposite rail: the worst case) for t_stop_s, with the detectors attached (their gate
    leakage included)."""
    lines = header(cfg, "aCAM bound retention")
    lines += [f"vwwl wwl 0 {cfg.v_wwl_off_v:.6g}", "vvs vs 0 0", f"vsl sl 0 {cfg.vdd_v / 2:.6g}",
              f"vslb slb 0 {cfg.vdd_v / 2:.6g}", "vml ml 0 0"]
    ics, saves = [], ["time"]
    for k, v in enumerate(v_store_v):
        wbl_v = 0.0 if v > cfg.vdd_v / 2 else cfg.vdd_v
        lines.append(f"vwbl{k} wbl{k} 0 {wbl_v:.6g}")
        lines += storage_lines(cfg, f"r{k}", f"sr{k}", f"wbl{k}", "wwl")
        lines += detector_lines(cfg, f"r{k}", "sl", "slb", f"sr{k}", f"sr{k}", "ml", "vs")
        ics.append(f"v(sr{k})={v:.6g}")
        saves.append(f"v(sr{k})")
    lines.append(".ic " + " ".join(ics))
    lines.append(f".tran {t_stop_s / 400:.4e} {t_stop_s:.6e} 0 {t_stop_s / 200:.4e}")
    lines.append(".save " + " ".join(saves))
    lines.append(".end")
    return "\n".join(lines) + "\n"
