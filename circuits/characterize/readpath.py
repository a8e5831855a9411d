"""Characterization of the attention read path (`gaincell characterize --cell readpath`).

Both stages run as one transistor-level transient per job (circuits/readpath2.py):
stage 1, PWM row drivers -> 64-row gain-cell key array -> charge-to-pulse converters, gives
phi(Q.K) for one key per column; stage 2, the converters' pulses -> level shifters -> row
drivers -> value array -> integrators, gives phi(S).V per output column. Random 3-bit keys and
values and 4-bit queries (seeded); each job holds `n_keys` keys and reads several queries back
to back; jobs run in parallel.

Stage 1: phi out of the circuit against the HardSigmoid of the digital dot product, at the
design scale and at the best-fit scale, and against a per-key-level calibrated HardSigmoid (one
weight per 3-bit level: the cell's nonlinear I(V), as the behavioral model has it).
Stage 2: the output charge against sum_j phi_j * v_j with the circuit's own stage-1 phi_j
(fitted gain; errors as a fraction of full scale = the charge of all rows at phi = 1, v = +1),
against a per-value-level calibration, and end to end against the ideal HardSigmoid phi.

Keys are drawn around a random per-key mean level so that the dot products cover the
HardSigmoid's zero, linear and saturated regions rather than piling up near zero.

Default size: 4 jobs x 8 keys x 7 queries = 224 stage-1 cases; the first 2 jobs carry the
value stage with 16 columns (2 x 7 x 16 = 224 stage-2 outputs), the other 2 are stage 1 alone.
The value stage makes a job slower (its level shifters and row drivers switch on the
converters' edges, where ngspice's Newton iterations fail and retry), so it rides in half the
jobs with twice the columns; the two chained jobs start first so the two workers stay balanced.
The whole default run took 84-113 s cold on the 2-core machine (benchmarks/characterize.py).

Limits: a value tile has as many rows as the job has keys (8), not 64 (a 64-row value tile
needs 64 stage-1 columns in the same transient); the integrators of both stages are ideal
op-amps (a VCVS at the virtual ground, circuits/array.py), not transistor amplifiers.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.ngspice import SpiceJob, run_jobs
from circuits.readpath import (
    ReadPathConfig,
    energy_per_read,
    fit_level_weights,
    fit_scale,
    ideal_phi,
    measure_phi,
    readpath_netlist,
)
from circuits.readpath2 import (
    ValueStageConfig,
    attention_netlist,
    fit_gain,
    fit_value_level_weights,
    measure_value_charge,
    value_energy,
)
from circuits.validation import in_range

#: Default job partition: jobs x keys per job x queries per job (>= 200 stage-1 cases), and how
#: many of the jobs (the first ones) carry the value stage.
DEFAULT_JOBS, DEFAULT_KEYS, DEFAULT_QUERIES, DEFAULT_STAGE2_JOBS = 4, 8, 7, 2


def default_config(quick: bool = False) -> ValueStageConfig:
    """The characterized tile: 64 rows, 8 keys (2 when quick), 16 value columns (2 when quick)."""
    if quick:
        return ValueStageConfig(readpath=ReadPathConfig(n_keys=2), n_out=2)
    return ValueStageConfig(readpath=ReadPathConfig(n_keys=DEFAULT_KEYS), n_out=16)


def random_case_set(cfg: ReadPathConfig, n_keys: int, n_queries: int, rng: np.random.Generator):
    """(k_code [n_rows, n_keys], q_code [n_queries, n_rows]) integer codes."""
    k_max, q_max = 2**cfg.kv_bits - 1, 2**cfg.q_bits - 1
    mean = rng.uniform(0.45 * k_max, 0.8 * k_max, n_keys)
    k = np.clip(np.rint(rng.normal(mean, 0.25 * k_max, (cfg.n_rows, n_keys))), 0, k_max).astype(int)
    q = rng.integers(0, q_max + 1, (n_queries, cfg.n_rows))
    return k, q


def random_values(cfg: ValueStageConfig, n_keys: int, rng: np.random.Generator) -> np.ndarray:
    """v_code [n_keys, n_out], uniform over the 2**v_bits codes."""
    return rng.integers(0, 2**cfg.v_bits, (n_keys, cfg.n_out))


def _stats(err: np.ndarray) -> dict:
    return {"rms": float(np.sqrt(np.mean(err**2))), "mean": float(np.mean(err)),
            "max_abs": float(np.max(np.abs(err))), "p95_abs": float(np.percentile(np.abs(err), 95))}


def characterize(
    out_dir: Path, *, seed: int = 0, workers: int | None = None, quick: bool = False,
    cfg: ValueStageConfig | ReadPathConfig | None = None, n_jobs: int | None = None,
    queries_per_job: int | None = None, stage2_jobs: int | None = None,
) -> dict:
    """Run the read-path characterization (default 4 jobs x 8 keys x 7 queries = 224 cases,
    the value stage chained in the first `stage2_jobs` = 2 of them).

    `cfg` may be a ValueStageConfig or a ReadPathConfig (then with the default value stage).
    """
    if isinstance(cfg, ReadPathConfig):
        cfg = dataclasses.replace(default_config(quick), readpath=cfg)
    cfg = cfg or default_config(quick)
    rp = cfg.readpath
    n_jobs = DEFAULT_JOBS if n_jobs is None and not quick else (n_jobs or 1)
    n_q = queries_per_job or (2 if quick else DEFAULT_QUERIES)
    in_range("n_jobs", n_jobs, 1, 1000, integer=True)
    in_range("queries_per_job", n_q, 1, 1000, integer=True)
    n_s2 = stage2_jobs if stage2_jobs is not None else (1 if quick else min(DEFAULT_STAGE2_JOBS, n_jobs))
    in_range("stage2_jobs", n_s2, 1, n_jobs, integer=True)
    n_keys = rp.n_keys
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n_jobs):
        k, q = random_case_set(rp, n_keys, n_q, rng)
        sets.append((k, q, random_values(cfg, n_keys, rng)))
    nets = [attention_netlist(cfg, k, q, v, f"(job {j}, seed {seed})") if j < n_s2
            else readpath_netlist(rp, k, q, f"(job {j}, seed {seed})") for j, (k, q, v) in enumerate(sets)]
    results = run_jobs([SpiceJob(f"readpath{j}", n) for j, n in enumerate(nets)], workers=workers, desc="readpath")

    # ---- stage 1: phi(Q.K)
    phi_jobs, phi, dot, energy, case_k, case_q = [], [], [], [], [], []
    for (k, q, _), res in zip(sets, results):
        p = measure_phi(res, rp, n_keys, n_q)  # [n_q, n_keys]
        phi_jobs.append(p)
        phi.append(p.ravel())
        dot.append((rp.q_value(q) @ rp.k_value(k)).ravel())
        energy.append(energy_per_read(res, rp, n_keys, n_q))
        for n in range(n_q):  # case order of p.ravel(): query-major
            for c in range(n_keys):
                case_k.append(k[:, c])
                case_q.append(rp.q_value(q[n]))
    phi, dot = np.concatenate(phi), np.concatenate(dot)
    levels = 2**rp.kv_bits
    w_lv = fit_level_weights(np.array(case_k), np.array(case_q), phi, levels)
    ideal_lv = np.clip(np.einsum("nd,nd->n", np.array(case_q), w_lv[np.array(case_k)]), 0, 1)
    a_design = rp.design_scale
    a_fit = fit_scale(dot, phi)
    ideal_d, ideal_f = ideal_phi(dot, a_design), ideal_phi(dot, a_fit)
    regions = {"zero": ideal_f <= 0.0, "linear": (ideal_f > 0) & (ideal_f < 1), "saturated": ideal_f >= 1}
    stage1 = {
        "n_cases": int(len(phi)),
        "n_rows": rp.n_rows,
        "n_jobs": n_jobs,
        "keys_per_job": n_keys,
        "queries_per_job": n_q,
        "cell_model": rp.cell_model,
        "scale_design": a_design,
        "scale_fit": a_fit,
        "error_vs_design": _stats(phi - ideal_d),
        "error_vs_fit": _stats(phi - ideal_f),
        "error_vs_fit_by_region": {name: (_stats((phi - ideal_f)[m]) | {"n": int(m.sum())}) if m.any() else {"n": 0}
                                   for name, m in regions.items()},
        "level_weights": w_lv.tolist(),
        "error_vs_level_calibrated": _stats(phi - ideal_lv),
        "correlation": float(np.corrcoef(phi, ideal_f)[0, 1]) if np.std(phi) > 0 and np.std(ideal_f) > 0 else 0.0,
        "energy_per_key_read_j": float(np.mean(energy)),
    }

    # ---- stage 2: phi(S).V, with the circuit's own phi and with the ideal HardSigmoid phi
    charge, x_meas, x_ideal, case_phi, case_v, e2 = [], [], [], [], [], []
    for j, ((k, q, v), res) in enumerate(zip(sets[:n_s2], results[:n_s2])):
        qv = measure_value_charge(res, cfg, n_q)  # [n_q, n_out]
        vv = cfg.v_value(v)  # [n_keys, n_out]
        phi_i = ideal_phi(rp.q_value(q) @ rp.k_value(k), a_fit)  # [n_q, n_keys]
        charge.append(qv.ravel())
        x_meas.append((phi_jobs[j] @ vv).ravel())
        x_ideal.append((phi_i @ vv).ravel())
        e2.append(value_energy(res, cfg, n_q))
        for n in range(n_q):  # case order of qv.ravel(): query-major, then output column
            for d in range(cfg.n_out):
                case_phi.append(phi_jobs[j][n])
                case_v.append(v[:, d])
    charge, x_meas, x_ideal = np.concatenate(charge), np.concatenate(x_meas), np.concatenate(x_ideal)
    gain = fit_gain(x_meas, charge)
    full_scale = abs(gain) * n_keys
    aff = np.polyfit(x_meas, charge, 1)
    w_v = fit_value_level_weights(np.array(case_phi), np.array(case_v), charge, 2**cfg.v_bits)
    calib_v = np.einsum("nk,nk->n", np.array(case_phi), w_v[np.array(case_v)])
    gain_e2e = fit_gain(x_ideal, charge)
    big = np.abs(x_meas) > 0.05 * n_keys
    stage2 = {
        "n_outputs": int(len(charge)),
        "n_rows": n_keys,
        "n_jobs": n_s2,
        "n_out_per_job": cfg.n_out,
        "gain_c_per_unit": gain,
        "full_scale_c": full_scale,
        "affine_gain_c_per_unit": float(aff[0]),
        "affine_offset_c": float(aff[1]),
        "error_rel_full_scale": _stats((charge - gain * x_meas) / full_scale),
        "rms_error_rel_signal": float(np.sqrt(np.mean((charge - gain * x_meas) ** 2)) / max(np.sqrt(np.mean((gain * x_meas) ** 2)), 1e-30)),
        "level_weights_c": w_v.tolist(),
        "error_vs_level_calibrated_rel_full_scale": _stats((charge - calib_v) / full_scale),
        "end_to_end_gain_c_per_unit": gain_e2e,
        "end_to_end_error_rel_full_scale": _stats((charge - gain_e2e * x_ideal) / (abs(gain_e2e) * n_keys)),
        "sign_agreement": float(np.mean(np.sign(charge[big]) == np.sign(x_meas[big]))) if big.any() else 1.0,
        "correlation": float(np.corrcoef(charge, x_meas)[0, 1]) if np.std(charge) > 0 and np.std(x_meas) > 0 else 0.0,
        "energy_per_output_j": float(np.mean(e2)),
    }
    res_dict = {"readpath": stage1, "readpath2": stage2}
    arrays = {"rp_phi_spice": phi, "rp_phi_ideal": ideal_f, "rp_phi_ideal_design": ideal_d, "rp_dot": dot,
              "rp_phi_level_calibrated": ideal_lv, "rp_level_weights": w_lv,
              "rp2_charge_c": charge, "rp2_phi_dot_v": x_meas, "rp2_ideal_phi_dot_v": x_ideal,
              "rp2_level_calibrated_c": calib_v, "rp2_level_weights_c": w_v}
    for j, (k, q, v) in enumerate(sets):
        arrays[f"rp_k_code_{j}"] = k
        arrays[f"rp_q_code_{j}"] = q
        if j < n_s2:
            arrays[f"rp2_v_code_{j}"] = v
    prov = circuit_provenance(corner=rp.cell.corner, temperature_c=rp.cell.temperature_c, seed=seed,
                              netlists={f"readpath{j}": n for j, n in enumerate(nets)})
    summary = {
        "cases": len(phi),
        "phi rms error vs fitted HardSigmoid": f"{stage1['error_vs_fit']['rms']:.4f} (scale {a_fit:.4f})",
        "phi rms error vs design HardSigmoid": f"{stage1['error_vs_design']['rms']:.4f} (scale {a_design:.4f})",
        "phi rms error vs per-level calibrated HardSigmoid": f"{stage1['error_vs_level_calibrated']['rms']:.4f}",
        "energy per key read (pJ)": f"{stage1['energy_per_key_read_j'] * 1e12:.2f}",
        "phi.V outputs": len(charge),
        "phi.V rms error / full scale (fitted gain)": f"{stage2['error_rel_full_scale']['rms']:.4f} (gain {gain * 1e15:.1f} fC per unit, FS {full_scale * 1e12:.3f} pC)",
        "phi.V rms error / full scale (per-level calibrated)": f"{stage2['error_vs_level_calibrated_rel_full_scale']['rms']:.4f}",
        "phi.V rms error / full scale (end to end, ideal phi)": f"{stage2['end_to_end_error_rel_full_scale']['rms']:.4f}",
        "energy per phi.V output (pJ)": f"{stage2['energy_per_output_j'] * 1e12:.3f}",
    }
    out_dir = Path(out_dir)

    def scatter(fig):
        ax = fig.add_subplot(111)
        order = np.argsort(dot)
        ax.plot(dot, phi, "o", ms=3, label="sky130 read path")
        ax.plot(dot[order], ideal_f[order], "k-", label=f"HardSigmoid, fitted scale {a_fit:.3f}")
        ax.plot(dot[order], ideal_d[order], "k:", label=f"HardSigmoid, design scale {a_design:.3f}")
        ax.set_xlabel("digital dot product q . k")
        ax.set_ylabel("phi = output pulse width / t_max")
        ax.legend(fontsize=7)

    def scatter2(fig):
        ax = fig.add_subplot(111)
        xs = np.linspace(x_meas.min(), x_meas.max(), 2)
        ax.plot(x_meas, charge * 1e15, "o", ms=3, label="sky130 value stage")
        ax.plot(xs, gain * xs * 1e15, "k-", label=f"fitted gain {gain * 1e15:.1f} fC")
        ax.set_xlabel("sum_j phi_j v_j (circuit phi, signed values)")
        ax.set_ylabel("output charge (fC)")
        ax.legend(fontsize=7)

    save_figure(out_dir / "readpath_phi.png", scatter)
    save_figure(out_dir / "readpath2_phi_v.png", scatter2)
    return write_result(out_dir, cell="readpath", config=dataclasses.asdict(cfg), results=res_dict,
                        arrays=arrays, provenance_record=prov, summary=summary)
