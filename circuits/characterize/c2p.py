"""Characterization of the charge-to-pulse converter (`gaincell characterize --cell c2p`).

- Transfer curve: instances driven by ideal charges from -10 % to 130 % of q_sat (corner tt),
  split over two jobs: output pulse width versus input charge, fitted slope / offset /
  saturation width / saturation charge, energy per conversion, latency.
- Monte Carlo (corner tt_mm, seeded, default 100 samples split over jobs): each mismatched
  instance converts the same charge (half of q_sat); its ramp current is read from the slope of
  its input node; gain = nominal ramp current / its ramp current (the transfer slope relative to
  the nominal one, both ramps estimated the same way), and its width at that gain gives its
  charge offset.
- Inventory (`results.inventory.c2p`): the devices of one per-column converter in the simulated
  netlist (for its layout area; the shared bias diode and the output load are not counted).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from circuits.c2p import (
    C2PConfig,
    c2p_inventory,
    fit_transfer,
    measure_transfer,
    output_fall_time,
    ramp_current,
    timing,
    transfer_netlist,
)
from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.ngspice import SpiceJob, run_jobs


def characterize(
    out_dir: Path, *, seed: int = 0, workers: int | None = None, quick: bool = False,
    cfg: C2PConfig | None = None, n_mc: int | None = None,
) -> dict:
    """Run the converter characterization and write its result folder; returns the record."""
    cfg = cfg or C2PConfig()
    n_q = 9 if quick else 25
    n_mc = n_mc if n_mc is not None else (10 if quick else 100)
    q = np.linspace(-0.1, 1.3, n_q) * cfg.q_sat_c
    q_mc = 0.5 * cfg.q_sat_c
    # part 0 also holds a nominal instance at the Monte Carlo charge (last one), whose ramp is
    # estimated exactly as the mismatched ones are (so the estimate's bias cancels in ratios)
    halves = [np.append(q[0::2], q_mc), q[1::2]]
    nets = [transfer_netlist(cfg, h[:, None], f"(transfer part {i})", save_inputs=(i == 0))
            for i, h in enumerate(halves)]
    jobs = [SpiceJob(f"c2p_transfer{i}", n) for i, n in enumerate(nets)]
    mc_cfg = dataclasses.replace(cfg, corner="tt_mm")
    n_mc_jobs = max(1, min(4, n_mc // 10))
    sizes = [len(c) for c in np.array_split(np.arange(n_mc), n_mc_jobs)]
    mc_nets = [
        transfer_netlist(mc_cfg, np.full((n, 1), q_mc), f"(Monte Carlo part {j}, seed {seed})", save_inputs=True)
        for j, n in enumerate(sizes)
    ]
    jobs += [SpiceJob(f"c2p_mc{j}", n, seed=seed * 1000 + j) for j, n in enumerate(mc_nets)]
    results = run_jobs(jobs, workers=workers, desc="c2p")

    # --- transfer curve -----------------------------------------------------------------------
    width = np.zeros(n_q)
    energy = np.zeros(n_q)
    fall = np.zeros(n_q)
    for i, (h, res) in enumerate(zip(halves, results[:2])):
        n_here = len(q[i::2])
        m = measure_transfer(res, cfg, len(h), 1)
        width[i::2] = m.width_s[:n_here, 0]
        energy[i::2] = m.energy_j[:n_here, 0]
        fall[i::2] = [output_fall_time(res, cfg, k) for k in range(n_here)]
        if i == 0:
            i_nominal = ramp_current(res, cfg, len(h) - 1, float(m.width_s[-1, 0]))
    fit = fit_transfer(q, width, cfg.t_max_s)
    tm = timing(cfg)
    sat = width >= 0.98 * width.max()
    latency = float(np.nanmax(fall[sat]) - tm.int_end_s)
    in_range_q = (q >= 0) & (q <= cfg.q_sat_c)
    ideal = np.clip(q / cfg.q_sat_c, 0, 1) * cfg.t_max_s

    # --- Monte Carlo ------------------------------------------------------------------------------
    offsets, gains, mc_width = [], [], []
    for n, res in zip(sizes, results[2:]):
        m = measure_transfer(res, mc_cfg, n, 1)
        for k in range(n):
            w = float(m.width_s[k, 0])
            gain = i_nominal / ramp_current(res, mc_cfg, k, w)
            slope_k = fit["slope_s_per_c"] * gain
            mc_width.append(w)
            offsets.append(q_mc - w / slope_k)
            gains.append(gain)
    offsets, gains, mc_width = np.array(offsets), np.array(gains), np.array(mc_width)

    res_dict = {
        "c2p": {
            **fit,
            "slope_design_s_per_c": cfg.slope_s_per_c,
            "energy_per_conversion_j": float(np.mean(energy[in_range_q])),
            "energy_at_zero_j": float(np.interp(0.0, q, energy)),
            "energy_at_q_sat_j": float(np.interp(cfg.q_sat_c, q, energy)),
            "latency_s": latency,
            "cycle_time_s": tm.cycle_s,
            "error_vs_hardsigmoid_rms_s": float(np.sqrt(np.mean((width - ideal)[in_range_q] ** 2))),
            "error_vs_hardsigmoid_max_s": float(np.max(np.abs(width - ideal)[in_range_q])),
            "swing_at_q_sat_v": cfg.swing_at_sat_v,
        },
        "mc": {
            "n_samples": int(len(offsets)),
            "corner": mc_cfg.corner,
            "q_in_c": q_mc,
            "offset_mean_c": float(np.mean(offsets)),
            "offset_sigma_c": float(np.std(offsets)),
            "gain_mean_rel": float(np.mean(gains)),
            "gain_sigma_rel": float(np.std(gains)),
            "width_sigma_s": float(np.std(mc_width)),
        },
        "inventory": {"c2p": c2p_inventory(nets[0])},
    }
    arrays = {
        "c2p_charge_c": q,
        "c2p_pulse_width_s": width,
        "c2p_ideal_width_s": ideal,
        "c2p_energy_j": energy,
        "mc_offset_c": offsets,
        "mc_gain_rel": gains,
        "mc_width_s": mc_width,
    }
    prov = circuit_provenance(
        corner=cfg.corner, temperature_c=cfg.temperature_c, seed=seed,
        netlists={**{f"transfer{i}": n for i, n in enumerate(nets)},
                  **{f"mc{j}": n for j, n in enumerate(mc_nets)}},
    )
    prov["mc_corner"] = mc_cfg.corner
    prov["mc_seeds"] = [seed * 1000 + j for j in range(len(mc_nets))]
    summary = {
        "slope (ns/pC)": f"{fit['slope_s_per_c'] * 1e-3:.3f} (design {cfg.slope_s_per_c * 1e-3:.3f})",
        "offset (fC)": f"{fit['offset_c'] * 1e15:.1f}",
        "saturation width (ns) / charge (pC)": f"{fit['t_max_s'] * 1e9:.3f} / {fit['q_sat_c'] * 1e12:.3f}",
        "energy per conversion (pJ)": f"{res_dict['c2p']['energy_per_conversion_j'] * 1e12:.3f}",
        "MC offset sigma (fC) / gain sigma (%)": f"{np.std(offsets) * 1e15:.1f} / {100 * np.std(gains):.2f}",
    }
    out_dir = Path(out_dir)
    _plots(out_dir, cfg, arrays)
    return write_result(out_dir, cell="c2p", config=cfg, results=res_dict, arrays=arrays,
                        provenance_record=prov, summary=summary)


def _plots(out_dir: Path, cfg: C2PConfig, a: dict) -> None:
    def transfer(fig):
        ax = fig.add_subplot(111)
        ax.plot(a["c2p_charge_c"] * 1e12, a["c2p_pulse_width_s"] * 1e9, "o-", label="sky130 converter")
        ax.plot(a["c2p_charge_c"] * 1e12, a["c2p_ideal_width_s"] * 1e9, "k--", label="ideal HardSigmoid")
        ax.set_xlabel("input charge (pC)")
        ax.set_ylabel("output pulse width (ns)")
        ax.legend()

    def mc(fig):
        ax = fig.add_subplot(121)
        ax.hist(a["mc_offset_c"] * 1e15, bins=20)
        ax.set_xlabel("offset (fC), tt_mm")
        ax2 = fig.add_subplot(122)
        ax2.hist(a["mc_gain_rel"], bins=20)
        ax2.set_xlabel("gain / nominal")

    save_figure(out_dir / "c2p_transfer.png", transfer)
    save_figure(out_dir / "c2p_mc.png", mc, figsize=(8, 3.4))
