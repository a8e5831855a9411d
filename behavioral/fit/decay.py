"""Fit storage-node retention: stored voltage versus time (and temperature).

Candidates (scipy.optimize.least_squares), chosen by held-out RMS error:
- `exp`:        V(t) = V_inf + A exp(-t / tau)
- `stretched`:  V(t) = V_inf + A exp(-(t / tau)**beta)   (a spread of leak paths)
tau (seconds) is the 1/e time in both. The attention model applies the per-token factor
exp(-token_period_s / tau_s) to the read current of a cell per token of age.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import least_squares

from behavioral.fit.mac import split_indices
from gaincell.errors import ConfigError


def _model(name: str, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    v_inf, a, log_tau = p[0], p[1], p[2]
    tau = np.exp(log_tau)
    if name == "exp":
        return v_inf + a * np.exp(-t / tau)
    beta = p[3]
    return v_inf + a * np.exp(-np.power(np.maximum(t, 0.0) / tau, beta))


def fit_retention(time_s: np.ndarray, v_store_v: np.ndarray, *, holdout: float = 0.25,
                  seed: int = 0) -> dict[str, Any]:
    """Fit one retention curve; returns {'tau_s', 'family', 'heldout_rms_error_fs', ...}.

    Args:
        time_s: times after the write (seconds), shape [N].
        v_store_v: storage-node voltage (volts), shape [N].
    """
    t = np.asarray(time_s, float).ravel()
    v = np.asarray(v_store_v, float).ravel()
    if t.shape != v.shape or t.size < 8:
        raise ConfigError("retention data", t.size, "equal-length time and voltage arrays, >= 8 points")
    swing = float(np.ptp(v))
    if swing <= 0:
        raise ConfigError("retention data", "v_store_v", "a decaying (non-constant) voltage")
    train, test = split_indices(t.size, holdout, seed)
    v0, v_end = float(v[np.argmin(t)]), float(v[np.argmax(t)])
    target = v_end + (v0 - v_end) / np.e
    tau0 = float(t[np.argmin(np.abs(v - target))]) or float(np.ptp(t)) / 3 or 1e-3
    cands = []
    for name, p0 in (("exp", [v_end, v0 - v_end, np.log(tau0)]),
                     ("stretched", [v_end, v0 - v_end, np.log(tau0), 1.0])):
        lb = [-np.inf, -np.inf, np.log(tau0) - 30] + ([0.2] if name == "stretched" else [])
        ub = [np.inf, np.inf, np.log(tau0) + 30] + ([3.0] if name == "stretched" else [])
        res = least_squares(lambda p: (_model(name, p, t[train]) - v[train]) / swing, p0,
                            bounds=(lb, ub))
        err = float(np.sqrt(np.mean(((_model(name, res.x, t[test]) - v[test]) / swing) ** 2)))
        cands.append({"family": name, "params": [float(x) for x in res.x], "heldout_rms_error_fs": err,
                      "tau_s": float(np.exp(res.x[2]))})
    best = min(cands, key=lambda c: c["heldout_rms_error_fs"] * (1.0 if c["family"] == "exp" else 1.1))
    return {"method": "scipy.optimize.least_squares, family chosen by held-out RMS error "
                      "(fraction of the voltage swing)",
            "tau_s": best["tau_s"], "family": best["family"],
            "heldout_rms_error_fs": best["heldout_rms_error_fs"], "n_points": int(t.size),
            "candidates": cands}


def per_token_factor(tau_s: float, token_period_s: float) -> float:
    """Read-current factor per token of age: exp(-token_period_s / tau_s)."""
    if not (tau_s > 0 and token_period_s > 0):
        raise ConfigError("tau_s/token_period_s", (tau_s, token_period_s), "both > 0 seconds")
    return float(np.exp(-token_period_s / tau_s))
