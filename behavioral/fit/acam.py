"""Fit the aCAM cell match function: match-line level versus input for stored windows.

Model (scipy.optimize.least_squares): m(x) = sigmoid(s (x - lo - d_lo)) * (1 - sigmoid(s (x - hi - d_hi)))
with m the match-line voltage normalized to [0, 1] over the data, (lo, hi) the stored bounds,
s the edge steepness (1/V) and d_lo, d_hi systematic edge shifts (volts). The card keeps the
steepness and the effective window width mean(hi - lo) + d_hi - d_lo.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit

from behavioral.fit.mac import split_indices
from gaincell.errors import ConfigError


def window(x: np.ndarray, lo: np.ndarray, hi: np.ndarray, steepness_per_v: float) -> np.ndarray:
    """Match degree in [0, 1] of input x (volts) against the window [lo, hi] (volts)."""
    return expit(steepness_per_v * (x - lo)) * (1.0 - expit(steepness_per_v * (x - hi)))


def fit_acam(v_in_v: np.ndarray, bounds_v: np.ndarray, match_v: np.ndarray, *,
             holdout: float = 0.25, seed: int = 0) -> dict[str, Any]:
    """Fit steepness and edge shifts; arrays as in the `acam` characterization (see INTERFACES)."""
    x = np.asarray(v_in_v, float).ravel()
    b = np.asarray(bounds_v, float).reshape(-1, 2)
    m = np.asarray(match_v, float).reshape(b.shape[0], x.size)
    lo_m, hi_m = float(m.min()), float(m.max())
    if hi_m <= lo_m:
        raise ConfigError("acam data", "acam_match_v", "a match line that changes with the input")
    y = ((m - lo_m) / (hi_m - lo_m)).ravel()
    X = np.broadcast_to(x[None, :], m.shape).ravel()
    LO = np.broadcast_to(b[:, :1], m.shape).ravel()
    HI = np.broadcast_to(b[:, 1:], m.shape).ravel()
    train, test = split_indices(y.size, holdout, seed)
    width0 = float(np.mean(b[:, 1] - b[:, 0]))

    def resid(p, idx):
        return window(X[idx], LO[idx] + p[1], HI[idx] + p[2], np.exp(p[0])) - y[idx]
    res = least_squares(resid, [np.log(4.0 / max(width0, 1e-3) * 10), 0.0, 0.0], args=(train,))
    err = float(np.sqrt(np.mean(resid(res.x, test) ** 2)))
    return {"method": "scipy.optimize.least_squares on a two-sigmoid window",
            "steepness_per_v": float(np.exp(res.x[0])), "edge_shift_lo_v": float(res.x[1]),
            "edge_shift_hi_v": float(res.x[2]),
            "width_v": float(width0 + res.x[2] - res.x[1]), "heldout_rms_error_fs": err,
            "match_low_v": lo_m, "match_high_v": hi_m, "n_points": int(y.size)}
