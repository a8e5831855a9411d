"""Noise and mismatch statistics from the characterization (Monte Carlo, `.noise` spectra).

- Cell mismatch: each Monte Carlo sample s of the read-charge surface Q_s(x, V) is matched to
  the mean surface by a gain g_s (least squares); mismatch_sigma_rel = std(g_s) and the
  residual RMS (fraction of full scale) is what a gain model leaves unexplained.
- Charge-to-pulse mismatch: std of the per-sample gain (relative) and offset (coulombs).
- aCAM window mismatch: std of each Monte Carlo sample's lower and upper window edge (volts);
  `acam_edge_sigma_v` = the RMS of the two (`fit_acam_edge_mismatch`).
- Read noise: the characterized per-read charge sigma (`noise_sigma_charge_c`) relative to the
  card's full-scale charge (`fit_read_noise`).
- Write noise: sqrt(k_B T / C_store) on the storage node (`ktc_noise_v`, a closed form).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gaincell.errors import ConfigError


def fit_cell_mismatch(mc_charge_c: np.ndarray) -> dict[str, Any]:
    """Gain-mismatch sigma from samples shaped [Nsamples, ...] (coulombs)."""
    q = np.asarray(mc_charge_c, float)
    if q.ndim < 2 or q.shape[0] < 3:
        raise ConfigError("mc_charge_c", q.shape, "[Nsamples >= 3, ...]")
    q = q.reshape(q.shape[0], -1)
    mean = q.mean(axis=0)
    denom = float(mean @ mean)
    if denom <= 0:
        raise ConfigError("mc_charge_c", "all zero", "a non-zero mean surface")
    gains = q @ mean / denom
    resid = q - gains[:, None] * mean[None, :]
    fs = float(np.max(np.abs(mean)))
    return {"method": "least-squares gain of each Monte Carlo sample against the mean surface",
            "mismatch_sigma_rel": float(np.std(gains, ddof=1)),
            "residual_rms_fs": float(np.sqrt(np.mean(resid**2)) / fs),
            "n_samples": int(q.shape[0])}


def fit_c2p_mismatch(mc_gain_rel: np.ndarray, mc_offset_c: np.ndarray) -> dict[str, Any]:
    """Sigmas of the converter's relative gain and offset (coulombs) over Monte Carlo samples."""
    g = np.asarray(mc_gain_rel, float).ravel()
    o = np.asarray(mc_offset_c, float).ravel()
    if g.size < 3 or o.size < 3:
        raise ConfigError("c2p Monte Carlo", (g.size, o.size), ">= 3 samples each")
    # mc_gain_rel may be given as gains around 1 or as deviations around 0: the sigma is the same
    return {"c2p_gain_sigma_rel": float(np.std(g, ddof=1)), "c2p_offset_sigma_c": float(np.std(o, ddof=1)),
            "n_samples": int(min(g.size, o.size))}


def fit_acam_edge_mismatch(mc_edge_lo_v: np.ndarray, mc_edge_hi_v: np.ndarray) -> dict[str, Any]:
    """aCAM window-edge mismatch from Monte Carlo edges (volts, one per sample; NaN = no edge).

    Returns the record with `acam_edge_sigma_v` = sqrt((sigma_lo**2 + sigma_hi**2) / 2) (volts,
    sample standard deviations), each edge's sigma, their correlation and the implied sigmas of
    the window centre (lo + hi) / 2 and width hi - lo (volts). Only samples where both edges
    were found count. ConfigError naming the arrays for fewer than 3 such samples.
    """
    lo = np.asarray(mc_edge_lo_v, float).ravel()
    hi = np.asarray(mc_edge_hi_v, float).ravel()
    if lo.size != hi.size:
        raise ConfigError("acam_mc_edge_lo_v/acam_mc_edge_hi_v", (lo.size, hi.size), "one edge pair per sample")
    ok = np.isfinite(lo) & np.isfinite(hi)
    lo, hi = lo[ok], hi[ok]
    if lo.size < 3:
        raise ConfigError("acam_mc_edge_lo_v/acam_mc_edge_hi_v", f"{lo.size} finite samples", ">= 3")
    s_lo, s_hi = float(np.std(lo, ddof=1)), float(np.std(hi, ddof=1))
    return {"method": "sample std of each Monte Carlo window edge; acam_edge_sigma_v = RMS of the two",
            "acam_edge_sigma_v": float(np.sqrt(0.5 * (s_lo**2 + s_hi**2))),
            "edge_lo_sigma_v": s_lo, "edge_hi_sigma_v": s_hi,
            "edge_correlation": float(np.corrcoef(lo, hi)[0, 1]),
            "centre_sigma_v": float(np.std(0.5 * (lo + hi), ddof=1)),
            "width_sigma_v": float(np.std(hi - lo, ddof=1)),
            "n_samples": int(lo.size)}


BOLTZMANN_J_PER_K = 1.380649e-23
"""Boltzmann constant (J/K, exact in the 2019 SI)."""


def ktc_noise_v(c_store_f: float, temperature_c: float) -> float:
    """RMS voltage (volts) a write leaves on a storage capacitor: sqrt(k_B T / C_store).

    The switch's thermal noise, band-limited by its own on-resistance and C_store, freezes on
    the capacitor when the write device turns off; the result is independent of the resistance.
    """
    if not c_store_f > 0:
        raise ConfigError("c_store_f", c_store_f, "> 0 farads")
    t_k = float(temperature_c) + 273.15
    if not t_k > 0:
        raise ConfigError("temperature_c", temperature_c, "> -273.15 C")
    return float(np.sqrt(BOLTZMANN_J_PER_K * t_k / c_store_f))


def fit_read_noise(sigma_charge_c: np.ndarray, v_store_v: np.ndarray, current_a: np.ndarray, *,
                   full_scale_a: float, t_max_s: float, f_lo_hz: float, f_hi_hz: float) -> dict[str, Any]:
    """Card read noise from the characterized charge-noise sigma per read of one cell.

    Args:
        sigma_charge_c: [Nv] charge-noise sigma (coulombs) of one cell read for a window t_max,
            integrated by the characterization over [f_lo_hz, f_hi_hz].
        v_store_v, current_a: [Nv] stored voltages (V) and on-state DC read currents (A).
        full_scale_a: the card's MAC full-scale mean current (A); full-scale charge = it * t_max_s.
        t_max_s: the card's read window (s); f_hi_hz must be 1 / (2 t_max_s).
    Returns:
        read_noise_rel = RMS over the stored voltages (the DAC's levels are uniform in volts) of
        sigma_Q / (full_scale_a * t_max_s), plus the per-voltage values and the maximum.
    """
    s = np.asarray(sigma_charge_c, float).ravel()
    v = np.asarray(v_store_v, float).ravel()
    i = np.asarray(current_a, float).ravel()
    if s.size < 2 or s.shape != v.shape or s.shape != i.shape:
        raise ConfigError("noise arrays", (s.shape, v.shape, i.shape), "equal [Nv] arrays, Nv >= 2")
    if not np.all(np.isfinite(s)) or not np.all(s > 0):
        raise ConfigError("noise_sigma_charge_c", s.tolist(), "positive finite sigmas")
    if not np.isclose(f_hi_hz, 1.0 / (2.0 * t_max_s), rtol=1e-6):
        raise ConfigError("noise band", f_hi_hz, f"1/(2 t_max) = {1.0 / (2.0 * t_max_s):.6g} Hz for the card's t_max")
    q_fs = full_scale_a * t_max_s
    rel = s / q_fs
    return {
        "method": "ngspice .noise spectra integrated over [f_lo, 1/(2 t_max)] per stored voltage; "
                  "card value = RMS over the stored voltages of sigma_Q / (mac.full_scale_a * t_max)",
        "read_noise_rel": float(np.sqrt(np.mean(rel**2))),
        "read_noise_rel_max": float(np.max(rel)),
        "f_lo_hz": float(f_lo_hz), "f_hi_hz": float(f_hi_hz), "t_max_s": float(t_max_s),
        "full_scale_c": float(q_fs),
        "per_v_store": [{"v_store_v": float(a), "current_a": float(b), "sigma_charge_c": float(c),
                         "sigma_rel": float(d)} for a, b, c, d in zip(v, i, s, rel)],
        "heldout_rms_error_fs": None,
    }
