"""Characterization of the capacitor gain-cell aCAM (`gaincell characterize --cell acam`).

Jobs (one sky130 load each, run in parallel):
1. `edges`: DC sweep of the search input against a grid of stored voltages: the window-edge map
   (edge_lo, edge_hi versus stored bound voltage), then bound retention (long transient).
2. `mc`: the same DC sweep on many mismatched instances (corner tt_mm, seeded) at the stored
   voltages of one window: the spread of the window edges.
3. `search`: transient searches, single cells for several stored windows across the input range
   (match-line voltage at the sense time), and rows of cells with 0..D dimensions outside
   their windows (row similarity), with energy per search.
The windows of job 3 are programmed with the nominal edge map of job 1 (computed first).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from circuits.acam import (
    AcamConfig,
    bounds_for_window,
    edge_command,
    edge_netlist,
    edges_from_dc,
    measure_search,
    retention_netlist,
    SearchMeasurement,
    search_netlist,
    search_timing,
)
from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.ngspice import SpiceJob, run_jobs


def characterize(
    out_dir: Path, *, seed: int = 0, workers: int | None = None, quick: bool = False,
    cfg: AcamConfig | None = None,
) -> dict:
    """Run the aCAM characterization and write its result folder; returns the record."""
    cfg = cfg or AcamConfig()
    rng = np.random.default_rng(seed)
    n_map = 10 if quick else 19
    v_map = np.linspace(0.0, cfg.vdd_v, n_map)
    n_mc = 20 if quick else 100
    t_ret = 1e-3
    ret_v = (0.3, 0.6)
    windows = [(0.15, 0.55), (0.35, 0.75)] if quick else [(0.15, 0.35), (0.3, 0.6), (0.45, 0.75), (0.2, 0.8)]
    n_in = 16 if quick else 31
    v_in = np.linspace(0.0, cfg.vdd_v, n_in)
    d_row = 4 if quick else 8

    # --- 1: nominal edge map + retention (one load), 2: Monte Carlo (one load) -------------
    net_edges = edge_netlist(cfg, v_map, "aCAM edge map and retention")
    ret_net = retention_netlist(cfg, ret_v, t_ret)
    mc_cfg = dataclasses.replace(cfg, corner="tt_mm")
    # the MC instances store the bounds of the reference window (0.3, 0.6) from the nominal map
    jobs = [SpiceJob("acam_edges", net_edges, commands=(edge_command(cfg),)),
            SpiceJob("acam_retention", ret_net, commands=("run",))]
    res_edges, res_ret = run_jobs(jobs, workers=workers, desc="acam map")
    lo_map, hi_map = edges_from_dc(res_edges, cfg, n_map)
    ref_window = (0.3, 0.6)
    slo_ref, shi_ref = bounds_for_window(v_map, lo_map, hi_map, *ref_window)

    # --- 2 and 3 in parallel ----------------------------------------------------------------
    mc_net = _mc_netlist(mc_cfg, slo_ref, shi_ref, n_mc)
    bounds = [bounds_for_window(v_map, lo_map, hi_map, lo, hi) for lo, hi in windows]
    rows = [[(slo, shi, float(x))] for (slo, shi) in bounds for x in v_in]
    # row similarity: D cells with the reference window; k of them get an input outside
    row_sets = []
    for k in range(d_row + 1):
        inside = rng.uniform(ref_window[0] + 0.05, ref_window[1] - 0.05, d_row)
        outside = rng.choice([-1, 1], d_row) * rng.uniform(0.1, 0.25, d_row)
        x = inside.copy()
        x[:k] = np.where(outside[:k] < 0, ref_window[0] + outside[:k], ref_window[1] + outside[:k])
        row_sets.append([(slo_ref, shi_ref, float(np.clip(xx, 0, cfg.vdd_v))) for xx in x])
    all_rows = rows + row_sets
    # one search transient per stored window and one for the rows: smaller matrices run in
    # parallel, and ngspice failed to start the single 133-row deck (timestep too small at
    # t = 0.1 ps) although each part converges on its own
    groups = [rows[w * n_in:(w + 1) * n_in] for w in range(len(windows))] + [row_sets]
    search_nets = [search_netlist(cfg, g, f"aCAM searches: part {i}") for i, g in enumerate(groups)]
    res_mc, *res_search = run_jobs(
        [SpiceJob("acam_mc", mc_net, commands=(edge_command(cfg),), seed=seed)]
        + [SpiceJob(f"acam_search{i}", n, commands=("run",)) for i, n in enumerate(search_nets)],
        workers=workers, desc="acam",
    )
    mc_lo, mc_hi = edges_from_dc(res_mc, cfg, n_mc)
    parts = [measure_search(r, cfg, len(g), [len(x) for x in g], keep_waves=0) for r, g in zip(res_search, groups)]
    meas = SearchMeasurement(*(np.concatenate([getattr(m, f) for m in parts]) for f in ("ml_sense_v", "t_discharge_s", "energy_j")),
                             parts[0].time_s, np.zeros((0, 0)))
    n_single = len(rows)
    match_v = meas.ml_sense_v[:n_single].reshape(len(windows), n_in)
    row_ml_v = meas.ml_sense_v[n_single:]
    e_single = meas.energy_j[:n_single].reshape(len(windows), n_in)

    # window edges seen by the transient (ML at sense time crossing vdd/2) per window
    tr_edges = np.array([_transient_edges(v_in, match_v[w], cfg.vdd_v / 2) for w in range(len(windows))])

    t_ret_s = res_ret.vec("time")
    ret_wave = np.array([res_ret.vec(f"v(sr{k})") for k in range(len(ret_v))])
    droop = np.abs(ret_wave[:, -1] - ret_wave[:, 0])
    tm = search_timing(cfg)
    matched = match_v > cfg.vdd_v / 2
    results = {
        "acam": {
            "energy_per_search_j": float(np.mean(e_single)),
            "energy_per_search_match_j": float(np.mean(e_single[matched])) if matched.any() else None,
            "energy_per_search_mismatch_j": float(np.mean(e_single[~matched])) if (~matched).any() else None,
            "sense_time_s": cfg.t_sense_s,
            "search_time_s": tm.sense_s,
            "edge_current_a": cfg.i_edge_a,
            "stored_range_v": [float(np.nanmin(v_map[np.isfinite(lo_map)])), float(np.nanmax(v_map[np.isfinite(lo_map)]))],
        },
        "windows": {
            "target_v": windows,
            "stored_bounds_v": [list(b) for b in bounds],
            "transient_edges_v": tr_edges.tolist(),
            "edge_error_rms_v": float(np.sqrt(np.nanmean((tr_edges - np.array(windows)) ** 2))),
        },
        "mc": {
            "n_samples": n_mc,
            "window_v": list(ref_window),
            "stored_bounds_v": [slo_ref, shi_ref],
            "edge_lo_mean_v": float(np.nanmean(mc_lo)),
            "edge_lo_sigma_v": float(np.nanstd(mc_lo)),
            "edge_hi_mean_v": float(np.nanmean(mc_hi)),
            "edge_hi_sigma_v": float(np.nanstd(mc_hi)),
        },
        "retention": {
            "t_hold_s": t_ret,
            "v_store_v": list(ret_v),
            "droop_v": droop.tolist(),
            "write_device": cfg.write_device,
        },
        "row": {
            "dims": d_row,
            "n_outside": list(range(d_row + 1)),
            "ml_sense_v": row_ml_v.tolist(),
        },
    }
    arrays = {
        "acam_v_in_v": v_in,
        "acam_bounds_v": np.array(bounds),
        "acam_window_target_v": np.array(windows),
        "acam_match_v": match_v,
        "acam_energy_j": e_single,
        "acam_map_v_store_v": v_map,
        "acam_map_edge_lo_v": lo_map,
        "acam_map_edge_hi_v": hi_map,
        "acam_mc_edge_lo_v": mc_lo,
        "acam_mc_edge_hi_v": mc_hi,
        "acam_ret_time_s": t_ret_s,
        "acam_ret_v_store_v": ret_wave,
        "acam_row_n_outside": np.arange(d_row + 1),
        "acam_row_ml_v": row_ml_v,
    }
    prov = circuit_provenance(
        corner=cfg.corner, temperature_c=cfg.temperature_c, seed=seed,
        netlists={"edges": net_edges, "retention": ret_net, "mc": mc_net,
                  **{f"search{i}": n for i, n in enumerate(search_nets)}},
    )
    prov["mc_corner"] = mc_cfg.corner
    summary = {
        "energy per search (J)": f"{results['acam']['energy_per_search_j']:.3g}",
        "window edge rms error (V)": f"{results['windows']['edge_error_rms_v']:.3g}",
        "MC sigma edge lo/hi (mV)": f"{1e3 * results['mc']['edge_lo_sigma_v']:.1f} / {1e3 * results['mc']['edge_hi_sigma_v']:.1f}",
        "bound droop after 1 ms (mV)": ", ".join(f"{1e3 * d:.1f}" for d in droop),
    }
    out_dir = Path(out_dir)
    _plots(out_dir, cfg, arrays, windows)
    return write_result(out_dir, cell="acam", config=cfg, results=results, arrays=arrays,
                        provenance_record=prov, summary=summary)


def _mc_netlist(cfg: AcamConfig, slo: float, shi: float, n: int) -> str:
    """`n` mismatched detector pairs storing (slo, shi), swept over the search input."""
    from circuits.acam import detector_lines, header

    lines = header(cfg, f"aCAM Monte Carlo: {n} cells at slo={slo:.4f} V, shi={shi:.4f} V")
    lines += ["vsl sl 0 dc 0.45", "esl slb 0 vdd sl 1", f"vvs vs 0 {cfg.vdd_v:.6g}",
              f"vslo slo 0 {slo:.6g}", f"vshi shi 0 {shi:.6g}"]
    for k in range(n):
        lines += [f"vmll{k} mll{k} 0 {cfg.vdd_v:.6g}", f"vmlh{k} mlh{k} 0 {cfg.vdd_v:.6g}"]
        det = detector_lines(cfg, f"{k}", "sl", "slb", "slo", "shi", "ml", "vs")
        det[2] = det[2].replace(" ml ", f" mll{k} ", 1)
        det[5] = det[5].replace(" ml ", f" mlh{k} ", 1)
        lines += det
    lines.append(".end")
    return "\n".join(lines) + "\n"


def _transient_edges(v_in: np.ndarray, ml_v: np.ndarray, level: float) -> tuple[float, float]:
    """First and last input where the sensed ML crosses `level` (the matched window)."""
    above = ml_v > level
    if not above.any():
        return (float("nan"), float("nan"))
    i0, i1 = np.nonzero(above)[0][[0, -1]]

    def cross(a: int, b: int) -> float:
        return float(np.interp(level, sorted([ml_v[a], ml_v[b]]), [v_in[a], v_in[b]] if ml_v[a] < ml_v[b] else [v_in[b], v_in[a]]))

    lo = cross(i0 - 1, i0) if i0 > 0 else float(v_in[0])
    hi = cross(i1, i1 + 1) if i1 < len(v_in) - 1 else float(v_in[-1])
    return (lo, hi)


def _plots(out_dir: Path, cfg: AcamConfig, a: dict, windows) -> None:
    def match(fig):
        ax = fig.add_subplot(111)
        for w, (lo, hi) in enumerate(windows):
            line, = ax.plot(a["acam_v_in_v"], a["acam_match_v"][w], "o-", ms=3, label=f"window [{lo}, {hi}] V")
            ax.axvspan(lo, hi, color=line.get_color(), alpha=0.08)
        ax.axhline(cfg.vdd_v / 2, color="k", lw=0.5, ls="--")
        ax.set_xlabel("search input V_in (V)")
        ax.set_ylabel(f"match line at sense time {cfg.t_sense_s * 1e9:g} ns (V)")
        ax.legend(fontsize=7)

    def edges(fig):
        ax = fig.add_subplot(121)
        ax.plot(a["acam_map_v_store_v"], a["acam_map_edge_lo_v"], "o-", label="lower edge (slo)")
        ax.plot(a["acam_map_v_store_v"], a["acam_map_edge_hi_v"], "s-", label="upper edge (shi)")
        ax.set_xlabel("stored bound voltage (V)")
        ax.set_ylabel("window edge (V)")
        ax.legend(fontsize=7)
        ax2 = fig.add_subplot(122)
        ax2.hist(a["acam_mc_edge_lo_v"][np.isfinite(a["acam_mc_edge_lo_v"])], bins=20, alpha=0.7, label="lower")
        ax2.hist(a["acam_mc_edge_hi_v"][np.isfinite(a["acam_mc_edge_hi_v"])], bins=20, alpha=0.7, label="upper")
        ax2.set_xlabel("window edge, Monte Carlo (V)")
        ax2.legend(fontsize=7)

    def retention(fig):
        ax = fig.add_subplot(121)
        for k, w in enumerate(a["acam_ret_v_store_v"]):
            ax.plot(a["acam_ret_time_s"] * 1e3, w, label=f"bound {k}")
        ax.set_xlabel("hold time (ms)")
        ax.set_ylabel("stored bound (V)")
        ax.legend(fontsize=7)
        ax2 = fig.add_subplot(122)
        ax2.plot(a["acam_row_n_outside"], a["acam_row_ml_v"], "o-")
        ax2.set_xlabel("dimensions outside their window")
        ax2.set_ylabel("row match line at sense (V)")

    save_figure(out_dir / "acam_match.png", match)
    save_figure(out_dir / "acam_edges.png", edges, figsize=(9, 3.6))
    save_figure(out_dir / "acam_retention_row.png", retention, figsize=(9, 3.6))
