"""Characterization of the full Q.K read path (`gaincell characterize --cell readpath`).

Random 3-bit keys and 4-bit queries (seeded) run through the transistor-level tile of
circuits/readpath.py: PWM row drivers -> 64-row gain-cell array -> charge-to-pulse converters.
Each job is one array of `n_keys` keys reading several queries back to back; jobs run in
parallel. phi out of the circuit is compared with the HardSigmoid of the digital dot product,
at the design scale and at the best-fit scale (linear in the stored value), and against a
per-key-level calibrated HardSigmoid (one weight per 3-bit level: the cell's nonlinear I(V),
as the behavioral model has it): the remaining error is the circuit's own.

Keys are drawn around a random per-key mean level so that the dot products cover the
HardSigmoid's zero, linear and saturated regions rather than piling up near zero.
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


def random_case_set(cfg: ReadPathConfig, n_keys: int, n_queries: int, rng: np.random.Generator):
    """(k_code [n_rows, n_keys], q_code [n_queries, n_rows]) integer codes."""
    k_max, q_max = 2**cfg.kv_bits - 1, 2**cfg.q_bits - 1
    mean = rng.uniform(0.45 * k_max, 0.8 * k_max, n_keys)
    k = np.clip(np.rint(rng.normal(mean, 0.25 * k_max, (cfg.n_rows, n_keys))), 0, k_max).astype(int)
    q = rng.integers(0, q_max + 1, (n_queries, cfg.n_rows))
    return k, q


def characterize(
    out_dir: Path, *, seed: int = 0, workers: int | None = None, quick: bool = False,
    cfg: ReadPathConfig | None = None, n_jobs: int | None = None, queries_per_job: int | None = None,
) -> dict:
    """Run the read-path characterization (default 5 jobs x 8 keys x 5 queries = 200 cases)."""
    cfg = cfg or (ReadPathConfig(n_keys=2) if quick else ReadPathConfig())
    n_jobs = n_jobs or (1 if quick else 5)
    n_q = queries_per_job or (2 if quick else 5)
    rng = np.random.default_rng(seed)
    sets = [random_case_set(cfg, cfg.n_keys, n_q, rng) for _ in range(n_jobs)]
    nets = [readpath_netlist(cfg, k, q, f"(job {j}, seed {seed})") for j, (k, q) in enumerate(sets)]
    results = run_jobs([SpiceJob(f"readpath{j}", n) for j, n in enumerate(nets)], workers=workers, desc="readpath")
    phi, dot, energy, case_k, case_q = [], [], [], [], []
    for (k, q), res in zip(sets, results):
        phi.append(measure_phi(res, cfg, cfg.n_keys, n_q).ravel())
        dot.append((cfg.q_value(q) @ cfg.k_value(k)).ravel())
        energy.append(energy_per_read(res, cfg, cfg.n_keys, n_q))
        for n in range(n_q):  # case order of measure_phi(...).ravel(): query-major
            for c in range(cfg.n_keys):
                case_k.append(k[:, c])
                case_q.append(cfg.q_value(q[n]))
    phi, dot = np.concatenate(phi), np.concatenate(dot)
    levels = 2**cfg.kv_bits
    w_lv = fit_level_weights(np.array(case_k), np.array(case_q), phi, levels)
    ideal_lv = np.clip(np.einsum("nd,nd->n", np.array(case_q), w_lv[np.array(case_k)]), 0, 1)
    a_design = cfg.design_scale
    a_fit = fit_scale(dot, phi)
    ideal_d, ideal_f = ideal_phi(dot, a_design), ideal_phi(dot, a_fit)

    def stats(err: np.ndarray) -> dict:
        return {"rms": float(np.sqrt(np.mean(err**2))), "mean": float(np.mean(err)),
                "max_abs": float(np.max(np.abs(err))), "p95_abs": float(np.percentile(np.abs(err), 95))}

    regions = {"zero": ideal_f <= 0.0, "linear": (ideal_f > 0) & (ideal_f < 1), "saturated": ideal_f >= 1}
    res_dict = {
        "readpath": {
            "n_cases": int(len(phi)),
            "n_rows": cfg.n_rows,
            "scale_design": a_design,
            "scale_fit": a_fit,
            "error_vs_design": stats(phi - ideal_d),
            "error_vs_fit": stats(phi - ideal_f),
            "error_vs_fit_by_region": {k: (stats((phi - ideal_f)[m]) | {"n": int(m.sum())}) if m.any() else {"n": 0}
                                       for k, m in regions.items()},
            "level_weights": w_lv.tolist(),
            "error_vs_level_calibrated": stats(phi - ideal_lv),
            "correlation": float(np.corrcoef(phi, ideal_f)[0, 1]) if np.std(phi) > 0 else 0.0,
            "energy_per_key_read_j": float(np.mean(energy)),
        }
    }
    arrays = {"rp_phi_spice": phi, "rp_phi_ideal": ideal_f, "rp_phi_ideal_design": ideal_d, "rp_dot": dot,
              "rp_phi_level_calibrated": ideal_lv, "rp_level_weights": w_lv}
    for j, (k, q) in enumerate(sets):
        arrays[f"rp_k_code_{j}"] = k
        arrays[f"rp_q_code_{j}"] = q
    prov = circuit_provenance(corner=cfg.cell.corner, temperature_c=cfg.cell.temperature_c, seed=seed,
                              netlists={f"readpath{j}": n for j, n in enumerate(nets)})
    summary = {
        "cases": len(phi),
        "phi rms error vs fitted HardSigmoid": f"{res_dict['readpath']['error_vs_fit']['rms']:.4f} (scale {a_fit:.4f})",
        "phi rms error vs design HardSigmoid": f"{res_dict['readpath']['error_vs_design']['rms']:.4f} (scale {a_design:.4f})",
        "phi rms error vs per-level calibrated HardSigmoid": f"{res_dict['readpath']['error_vs_level_calibrated']['rms']:.4f}",
        "energy per key read (pJ)": f"{res_dict['readpath']['energy_per_key_read_j'] * 1e12:.2f}",
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

    save_figure(out_dir / "readpath_phi.png", scatter)
    config = dataclasses.asdict(cfg)
    return write_result(out_dir, cell="readpath", config=config, results=res_dict, arrays=arrays,
                        provenance_record=prov, summary=summary)
