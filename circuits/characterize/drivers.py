"""Characterization of the PWM read driver and the write DAC (`gaincell characterize --cell drivers`).

One transient (one sky130 load) runs every PWM code on its own read line and every DAC code on
its own write bitline and storage node: pulse width versus code (INL/DNL in LSB of t_max /
(2**bits - 1)), rise/fall times, energy per pulse; written voltage versus code (INL/DNL,
offset), settling time to within `settle_band_v`, energy per write. `results.inventory.pwm_driver`
lists the devices of one row driver in the simulated netlist (for its layout area).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from circuits.characterize.common import circuit_provenance, save_figure, write_result
from circuits.drivers import (
    PwmDriverConfig,
    WriteDacConfig,
    drivers_netlist,
    inl_dnl,
    measure_drivers,
    pwm_driver_inventory,
)
from circuits.ngspice import SpiceJob, run_jobs


def characterize(
    out_dir: Path, *, seed: int = 0, workers: int | None = None, quick: bool = False,
    pwm: PwmDriverConfig | None = None, dac: WriteDacConfig | None = None,
) -> dict:
    """Run the drivers characterization and write its result folder; returns the record.

    Every code is simulated even when `quick` (the sweep is one small netlist).
    """
    pwm = pwm or PwmDriverConfig()
    dac = dac or WriteDacConfig()
    net = drivers_netlist(pwm, dac)
    (res,) = run_jobs([SpiceJob("drivers", net)], workers=workers, desc="drivers")
    m = measure_drivers(res, pwm, dac)
    pwm_inl, pwm_dnl = inl_dnl(m.pwm_width_s[1:])  # code 0 has no pulse: linearity from code 1
    dac_inl, dac_dnl = inl_dnl(m.dac_v_v)
    ideal_w = pwm.ideal_width_s(m.pwm_code)
    nz = m.pwm_code > 0
    results = {
        "pwm": {
            "bits": pwm.bits,
            "t_max_s": pwm.t_max_s,
            "width_error_max_s": float(np.max(np.abs(m.pwm_width_s - ideal_w))),
            "width_error_max_complement_s": (float(np.max(np.abs(m.pwm_width_b_s - ideal_w)))
                                             if pwm.complementary else None),
            "inl_max_lsb": float(np.max(np.abs(pwm_inl))),
            "dnl_max_lsb": float(np.max(np.abs(pwm_dnl))),
            "rise_time_s": float(np.nanmean(m.pwm_rise_s[nz])),
            "fall_time_s": float(np.nanmean(m.pwm_fall_s[nz])),
            "energy_per_pulse_j": float(np.mean(m.pwm_energy_j[nz])),
            "c_line_f": pwm.c_line_f,
        },
        "dac": {
            "bits": dac.bits,
            "lsb_v": dac.lsb_v,
            "offset_v": float(m.dac_v_v[0] - dac.ideal_v(0)),
            "gain_error_rel": float((m.dac_v_v[-1] - m.dac_v_v[0]) / (dac.ideal_v(dac.levels - 1)) - 1.0),
            "error_max_v": float(np.max(np.abs(m.dac_v_v - dac.ideal_v(m.dac_code)))),
            "inl_max_lsb": float(np.max(np.abs(dac_inl))),
            "dnl_max_lsb": float(np.max(np.abs(dac_dnl))),
            "settling_time_s": float(np.max(m.dac_settling_s)),
            "settle_band_v": dac.settle_band_v,
            "energy_per_write_j": float(np.mean(m.dac_energy_j)),
            "write_time_s": dac.t_write_s,
        },
        "inventory": {"pwm_driver": pwm_driver_inventory(net)},
    }
    arrays = {
        "pwm_code": m.pwm_code, "pwm_width_s": m.pwm_width_s, "pwm_ideal_width_s": ideal_w,
        "pwm_width_b_s": m.pwm_width_b_s,
        "pwm_rise_s": m.pwm_rise_s, "pwm_fall_s": m.pwm_fall_s, "pwm_energy_j": m.pwm_energy_j,
        "dac_code": m.dac_code, "dac_v_v": m.dac_v_v, "dac_ideal_v_v": dac.ideal_v(m.dac_code),
        "dac_settling_s": m.dac_settling_s, "dac_energy_j": m.dac_energy_j,
        "dac_inl_lsb": dac_inl, "dac_dnl_lsb": dac_dnl, "pwm_inl_lsb": pwm_inl, "pwm_dnl_lsb": pwm_dnl,
        "time_s": m.time_s, "pwm_wave_v": m.pwm_wave_v, "dac_wave_v": m.dac_wave_v,
    }
    prov = circuit_provenance(corner=pwm.corner, temperature_c=pwm.temperature_c, seed=seed,
                              netlists={"drivers": net})
    summary = {
        "PWM width error max (ps)": f"{results['pwm']['width_error_max_s'] * 1e12:.1f}",
        "PWM rise/fall (ps)": f"{results['pwm']['rise_time_s'] * 1e12:.0f} / {results['pwm']['fall_time_s'] * 1e12:.0f}",
        "PWM energy per pulse (fJ)": f"{results['pwm']['energy_per_pulse_j'] * 1e15:.1f}",
        "DAC offset (mV) / INL max (LSB)": f"{results['dac']['offset_v'] * 1e3:.1f} / {results['dac']['inl_max_lsb']:.3f}",
        "DAC settling (ns) / energy per write (fJ)": f"{results['dac']['settling_time_s'] * 1e9:.2f} / {results['dac']['energy_per_write_j'] * 1e15:.1f}",
    }
    out_dir = Path(out_dir)
    _plots(out_dir, arrays)
    config = {"pwm": pwm, "dac": dac}
    import dataclasses

    return write_result(out_dir, cell="drivers", config={k: dataclasses.asdict(v) for k, v in config.items()},
                        results=results, arrays=arrays, provenance_record=prov, summary=summary)


def _plots(out_dir: Path, a: dict) -> None:
    def transfer(fig):
        ax = fig.add_subplot(121)
        ax.plot(a["pwm_code"], a["pwm_width_s"] * 1e9, "o-", label="sky130 driver")
        ax.plot(a["pwm_code"], a["pwm_ideal_width_s"] * 1e9, "k--", label="ideal")
        ax.set_xlabel("PWM code")
        ax.set_ylabel("read-line pulse width (ns)")
        ax.legend(fontsize=7)
        ax2 = fig.add_subplot(122)
        ax2.plot(a["dac_code"], a["dac_v_v"], "o-", label="written (after switch opens)")
        ax2.plot(a["dac_code"], a["dac_ideal_v_v"], "k--", label="ideal")
        ax2.set_xlabel("DAC code")
        ax2.set_ylabel("storage node voltage (V)")
        ax2.legend(fontsize=7)

    def waves(fig):
        ax = fig.add_subplot(121)
        for c in range(0, len(a["pwm_wave_v"]), 3):
            ax.plot(a["time_s"] * 1e9, a["pwm_wave_v"][c], lw=0.8, label=f"code {c}")
        ax.set_xlabel("time (ns)")
        ax.set_ylabel("read line (V)")
        ax.legend(fontsize=6)
        ax2 = fig.add_subplot(122)
        for c, w in enumerate(a["dac_wave_v"]):
            ax2.plot(a["time_s"] * 1e9, w, lw=0.8, label=f"code {c}")
        ax2.set_xlim(0, 8)
        ax2.set_xlabel("time (ns)")
        ax2.set_ylabel("storage node (V)")
        ax2.legend(fontsize=6)

    save_figure(out_dir / "drivers_transfer.png", transfer, figsize=(9, 3.6))
    save_figure(out_dir / "drivers_waveforms.png", waves, figsize=(9, 3.6))
