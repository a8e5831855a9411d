"""Characterization of a gain-cell column (default N = 64) with wire parasitics and its integrator:
linearity and settling of the summed charge, and its error against the sum of single-cell
results.

Inputs are quantized as in the paper: stored voltages on an 8-level (3-bit DAC) grid over
[0, VDD], pulse fractions on a 16-level (4-bit PWM) grid over [0, 1]. The single-cell reference is
then a table of every (x level, V level) pair, each simulated alone on an ideal virtual ground with
the same pulse sources and no wire parasitics, so the expected column charge is an exact sum of
simulated single-cell charges (no interpolation).

Cases: `n_linearity` columns with the first k of N rows active (k evenly spaced up to N) at one
positive and one negative stored level (charge must grow linearly in k), and `n_random` columns
with random levels (seeded).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuits.array import (
    ArrayConfig, array_body, cell_subckt, col_node, integrator_block, integrator_charge,
    pwm_pulse_spec, pwm_row_sources, row_nodes, tran_command,
)
from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.gaincell_cell import GainCellConfig, cell_instance, header, supplies
from circuits.ngspice import SpiceJob, run_jobs
from circuits.validation import in_range

CELL = "column"


@dataclass(frozen=True)
class ColumnSweeps:
    """Cases of the column characterization (validated).

    Attributes:
        n_x_levels: PWM levels of the inputs (16 = 4 bit), over [0, 1].
        n_v_levels: DAC levels of the stored voltages (8 = 3 bit), over [0, VDD].
        n_linearity: active-row counts of the linearity sweep (per sign).
        n_random: random columns.
        columns_per_job: columns simulated in one ngspice job (one library load).
        settle_tol_rel: settling band, fraction of the final charge.
    """

    n_x_levels: int = 16
    n_v_levels: int = 8
    n_linearity: int = 4
    n_random: int = 6
    columns_per_job: int = 4
    settle_tol_rel: float = 0.005

    def __post_init__(self) -> None:
        in_range("n_x_levels", self.n_x_levels, 2, 256, integer=True)
        in_range("n_v_levels", self.n_v_levels, 2, 256, integer=True)
        in_range("n_linearity", self.n_linearity, 1, 64, integer=True)
        in_range("n_random", self.n_random, 0, 256, integer=True)
        in_range("columns_per_job", self.columns_per_job, 1, 64, integer=True)
        in_range("settle_tol_rel", self.settle_tol_rel, 1e-5, 0.5)

    @classmethod
    def quick(cls) -> "ColumnSweeps":
        """Small cases for tests and smoke runs."""
        return cls(n_x_levels=4, n_v_levels=3, n_linearity=2, n_random=2, columns_per_job=6)


def make_cases(arr: ArrayConfig, sw: ColumnSweeps, seed: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Level indices (x_idx [Ncase, N], v_idx [Ncase, N]) and a label per case."""
    n = arr.n_rows
    xi, vi, labels = [], [], []
    counts = np.unique(np.linspace(n / sw.n_linearity, n, sw.n_linearity).round().astype(int))
    for v_level, sign in ((sw.n_v_levels - 1, "+"), (0, "-")):
        for k in counts:
            x = np.zeros(n, dtype=int)
            x[:k] = sw.n_x_levels - 1
            xi.append(x); vi.append(np.full(n, v_level)); labels.append(f"linearity {sign} k={k}")
    rng = np.random.default_rng(seed)
    for c in range(sw.n_random):
        xi.append(rng.integers(0, sw.n_x_levels, n)); vi.append(rng.integers(0, sw.n_v_levels, n))
        labels.append(f"random {c}")
    return np.array(xi), np.array(vi), labels


def column_job(arr: ArrayConfig, xs: np.ndarray, vs: np.ndarray, cases: list[int], name: str) -> SpiceJob:
    """Columns of `cases` (one array block and integrator each) in one netlist."""
    net = header(arr.cell, f"gain-cell columns {cases}") + supplies(arr.cell) + cell_subckt(arr.cell)
    for c in cases:
        a = f"k{c}"
        net += array_body(arr, vs[c][:, None], name=a)
        for r in range(arr.n_rows):
            rl, rlb = row_nodes(a, r)
            net += pwm_row_sources(arr, rl, rlb, float(xs[c][r]), tag=f"{a}_{r}")
        net += integrator_block(arr, col_node(a, 0), tag=a)
    return SpiceJob(name, net + ".end\n", (tran_command(arr),))


def single_cell_job(arr: ArrayConfig, x_levels: np.ndarray, v_levels: np.ndarray) -> SpiceJob:
    """Every (x, V) level pair as an isolated cell on an ideal virtual ground (no wires)."""
    cell = arr.cell
    kw = dict(t_max_s=arr.t_max_s, t_edge_s=arr.t_edge_s, t_delay_s=arr.t_delay_s, v_idle=cell.v_mid_v)
    net = header(cell, "single-cell table for the column sum") + supplies(cell) + cell_subckt(cell)
    ics = []
    for i, x in enumerate(x_levels):
        net += f"vrl{i} rl{i} 0 {pwm_pulse_spec(float(x), v_on=arr.read_v, **kw)}\n"
        net += f"vrlb{i} rlb{i} 0 {pwm_pulse_spec(float(x), v_on=cell.vdd_v - arr.read_v, **kw)}\n"
        for j, v in enumerate(v_levels):
            net += f"vb{i}_{j} bl{i}_{j} vmid 0\n"
            net += cell_instance(f"s{i}_{j}", bl=f"bl{i}_{j}", rl=f"rl{i}", rlb=f"rlb{i}", wbl="whold", wwl="wwloff", sn=f"sn{i}_{j}")
            ics.append(f"v(sn{i}_{j})={v:.6g}")
    for k in range(0, len(ics), 8):
        net += ".ic " + " ".join(ics[k : k + 8]) + "\n"
    return SpiceJob("column_single_cells", net + ".end\n", (tran_command(arr),))


def _settling(t: np.ndarray, q: np.ndarray, t_end: float, tol_rel: float) -> float:
    """Time after `t_end` (mid falling edge of the longest pulse) until q stays within tol_rel of
    its final value."""
    final = q[-1]
    band = max(abs(final) * tol_rel, 1e-18)
    bad = np.nonzero(np.abs(q - final) > band)[0]
    if bad.size == 0:
        return 0.0
    return float(max(t[min(bad[-1] + 1, len(t) - 1)] - t_end, 0.0))


def characterize(
    out_dir: Path,
    *,
    seed: int = 0,
    workers: int | None = None,
    quick: bool = False,
    array: ArrayConfig | None = None,
    sweeps: ColumnSweeps | None = None,
) -> dict[str, Any]:
    """Simulate the column cases and the single-cell table; write result.json + data.npz + PNGs."""
    sw = sweeps or (ColumnSweeps.quick() if quick else ColumnSweeps())
    arr = array or ArrayConfig(cell=GainCellConfig(), n_rows=8 if quick else 64, n_cols=1)
    x_levels = np.linspace(0.0, 1.0, sw.n_x_levels)
    v_levels = np.linspace(0.0, arr.cell.vdd_v, sw.n_v_levels)
    xi, vi, labels = make_cases(arr, sw, seed)
    xs, vs = x_levels[xi], v_levels[vi]
    n_case = len(labels)
    groups = [list(range(k, min(k + sw.columns_per_job, n_case))) for k in range(0, n_case, sw.columns_per_job)]
    jobs = [single_cell_job(arr, x_levels, v_levels)]
    jobs += [column_job(arr, xs, vs, g, f"column_cases_{g[0]}_{g[-1]}") for g in groups]
    results = run_jobs(jobs, workers=workers, desc="column")

    p = results[0].plot()
    t = np.real(p["time"])
    table = np.array([[float(-np.trapezoid(np.real(p[f"vb{i}_{j}#branch"]), t)) for j in range(len(v_levels))]
                      for i in range(len(x_levels))])
    expected = np.array([table[xi[c], vi[c]].sum() for c in range(n_case)])

    t_end = arr.t_delay_s + arr.t_max_s  # the longest pulse's falling edge is under way
    charge = np.zeros(n_case)
    settle = np.zeros(n_case)
    waves = []
    for g, res in zip(groups, results[1:]):
        p = res.plot()
        t = np.real(p["time"])
        for c in g:
            q = integrator_charge(arr, p, col_node(f"k{c}", 0), f"k{c}")
            charge[c] = q[-1]
            settle[c] = _settling(t, q, t_end, sw.settle_tol_rel)
            waves.append(np.interp(np.linspace(0, arr.t_stop_s, 400), t, q))
    full = float(np.max(np.abs(expected)))
    err = charge - expected
    lin_idx = [c for c, s in enumerate(labels) if s.startswith("linearity")]
    lin_dev = []
    for sign in ("+", "-"):
        idx = [c for c in lin_idx if f" {sign} " in labels[c]]
        k = np.array([int(labels[c].split("k=")[1]) for c in idx], dtype=float)
        if len(idx) >= 2:
            coef = np.polyfit(k, charge[idx], 1)
            lin_dev.append(float(np.max(np.abs(np.polyval(coef, k) - charge[idx])) / full))
    slope, intercept = np.polyfit(expected, charge, 1)
    resid = charge - (slope * expected + intercept)
    results_rec = {
        "column": {
            "n_rows": arr.n_rows, "n_cases": n_case,
            "rms_error_rel": float(np.sqrt(np.mean(err**2)) / full),
            "max_error_rel": float(np.max(np.abs(err)) / full),
            "gain_vs_single_cells": float(slope),
            "offset_c": float(intercept),
            "fit_residual_rms_rel": float(np.sqrt(np.mean(resid**2)) / full),
            "row_count_linearity_max_dev_rel": float(max(lin_dev)) if lin_dev else float("nan"),
            "settling_time_s": float(np.max(settle)),
            "settle_tol_rel": sw.settle_tol_rel,
            "full_scale_c": full,
            "integrator": arr.integrator,
            "definition": "error = integrator charge of the N-cell column with parasitics minus the sum "
                          "of the same cells simulated alone; relative to the largest |expected| charge",
        }
    }
    arrays = {
        "col_charge_c": charge, "col_expected_c": expected, "col_settling_s": settle,
        "col_x": xs, "col_v_store_v": vs, "col_x_levels": x_levels, "col_v_levels_v": v_levels,
        "col_single_cell_charge_c": table, "col_wave_t_s": np.linspace(0, arr.t_stop_s, 400),
        "col_wave_charge_c": np.array(waves),
    }
    cfg_record = {"array": {k: v for k, v in dataclasses.asdict(arr).items()}, "sweeps": dataclasses.asdict(sw),
                  "case_labels": labels}
    prov = circuit_provenance(corner=arr.cell.corner, temperature_c=arr.cell.temperature_c, seed=seed,
                              netlists={j.name: j.netlist for j in jobs})
    c = results_rec["column"]
    summary = {
        "column sum rms error (of full scale)": f"{c['rms_error_rel']:.4f} (max {c['max_error_rel']:.4f}), N={arr.n_rows}",
        "gain vs single cells": f"{c['gain_vs_single_cells']:.4f}",
        "row-count linearity max dev": f"{c['row_count_linearity_max_dev_rel']:.4f}",
        "settling time (ns)": f"{c['settling_time_s'] * 1e9:.3f}",
    }
    record = write_result(out_dir, cell=CELL, config=cfg_record, results=results_rec, arrays=arrays,
                          provenance_record=prov, summary=summary)

    def scatter(fig):
        ax = fig.add_subplot(111)
        ax.plot(expected * 1e12, charge * 1e12, "o")
        lim = [min(expected.min(), charge.min()) * 1e12, max(expected.max(), charge.max()) * 1e12]
        ax.plot(lim, lim, "k--", lw=0.8)
        ax.set_xlabel("sum of single cells (pC)"); ax.set_ylabel(f"column integrator, N={arr.n_rows} (pC)")
        ax.set_title(f"rms error {c['rms_error_rel']:.4f} of full scale"); ax.grid(alpha=0.3)

    def wave(fig):
        ax = fig.add_subplot(111)
        for w_ in arrays["col_wave_charge_c"]:
            ax.plot(arrays["col_wave_t_s"] * 1e9, w_ * 1e12, lw=0.8)
        ax.axvline(t_end * 1e9, color="k", ls=":")
        ax.set_xlabel("time (ns)"); ax.set_ylabel("integrated charge (pC)"); ax.grid(alpha=0.3)

    save_figure(Path(out_dir) / "column_sum.png", scatter)
    save_figure(Path(out_dir) / "column_waves.png", wave)
    return record
