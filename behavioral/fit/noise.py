"""Noise and mismatch statistics from Monte Carlo characterization.

- Cell mismatch: each Monte Carlo sample s of the read-charge surface Q_s(x, V) is matched to
  the mean surface by a gain g_s (least squares); mismatch_sigma_rel = std(g_s) and the
  residual RMS (fraction of full scale) is what a gain model leaves unexplained.
- Charge-to-pulse mismatch: std of the per-sample gain (relative) and offset (coulombs).
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
