"""Fit the charge-to-pulse converter: pulse width versus input charge.

Model (scipy.optimize.least_squares): width = clip(slope * (Q - offset), 0, t_max), a
HardSigmoid in charge. Gives slope_s_per_c, offset_c, t_max_s and the saturation charge
q_sat_c = offset + t_max / slope. Error: held-out RMS as a fraction of t_max.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares

from behavioral.fit.mac import split_indices
from gaincell.errors import ConfigError


def c2p_model(q_c: np.ndarray, slope_s_per_c: float, offset_c: float, t_max_s: float) -> np.ndarray:
    """Pulse width (seconds) for charge q_c (coulombs)."""
    return np.clip(slope_s_per_c * (np.asarray(q_c, float) - offset_c), 0.0, t_max_s)


def fit_c2p(charge_c: np.ndarray, pulse_width_s: np.ndarray, *, holdout: float = 0.25,
            seed: int = 0) -> dict[str, Any]:
    """Fit the transfer; returns slope/offset/t_max/q_sat and the held-out error."""
    q = np.asarray(charge_c, float).ravel()
    w = np.asarray(pulse_width_s, float).ravel()
    if q.shape != w.shape or q.size < 6:
        raise ConfigError("c2p data", q.size, "equal-length charge and pulse arrays, >= 6 points")
    t_max0 = float(w.max())
    if t_max0 <= 0:
        raise ConfigError("c2p data", "pulse_width_s", "some positive pulse widths")
    lin = (w > 0.05 * t_max0) & (w < 0.95 * t_max0)
    if lin.sum() >= 2:
        slope0, icpt = np.polyfit(q[lin], w[lin], 1)
        offset0 = -icpt / slope0
    else:
        slope0, offset0 = t_max0 / max(float(np.ptp(q)), 1e-18), float(q.min())
    train, test = split_indices(q.size, holdout, seed)
    qs = max(float(np.max(np.abs(q))), 1e-30)
    # fit in scaled units: slope*qs/t_max0, offset/qs, t_max/t_max0
    def resid(p, idx):
        return (c2p_model(q[idx], p[0] * t_max0 / qs, p[1] * qs, p[2] * t_max0) - w[idx]) / t_max0
    res = least_squares(resid, [slope0 * qs / t_max0, offset0 / qs, 1.0], args=(train,))
    slope, offset, t_max = res.x[0] * t_max0 / qs, res.x[1] * qs, res.x[2] * t_max0
    err = float(np.sqrt(np.mean(resid(res.x, test) ** 2)))
    return {"method": "scipy.optimize.least_squares on clip(slope*(Q-offset), 0, t_max)",
            "slope_s_per_c": float(slope), "offset_c": float(offset), "t_max_s": float(t_max),
            "q_sat_c": float(offset + t_max / slope), "heldout_rms_error_fs": err,
            "n_points": int(q.size)}
