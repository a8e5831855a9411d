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


#: The combine rules the aCAM attention emulates (behavioral/attention_acam.py: currents add on
#: one match line, so log levels add: `product`). The card's `combine` is chosen among these.
EMULATED_COMBINES: tuple[str, ...] = ("product",)


def fit_match_line(n_outside: np.ndarray, ml_v: np.ndarray,
                   emulated: tuple[str, ...] = EMULATED_COMBINES) -> dict[str, Any]:
    """Choose how per-cell matches combine along a row from the sensed match-line voltage
    versus the number of cells outside their window.

    Candidates (3 parameters each, scipy.optimize.least_squares on all points, RMS error as a
    fraction of the swing): `product`: V = V_low + (V_high - V_low) * r**n (each mismatching
    cell multiplies the surviving level by r, as a precharged line discharging through parallel
    paths does); `sum`: V = V_high - s * n, floored at V_low (each cell removes a fixed share).
    The physics favours `product`; `sum` is preferred only when its error is under half the
    product's (a row sweep has few points, so held-out splits cannot identify the level). That
    preference is `best_fit`; `combine` is the best among the `emulated` rules (what the
    attention can run), and its error is the one reported (`rms_error_fs`).
    """
    n = np.asarray(n_outside, float).ravel()
    v = np.asarray(ml_v, float).ravel()
    if n.size < 3 or n.shape != v.shape:
        raise ConfigError("acam_row_ml_v", n.size, ">= 3 points, one per count of cells outside")
    swing = float(np.ptp(v)) or 1.0
    v_hi0, v_lo0 = float(v[np.argmin(n)]), float(v.min())

    def product(p, x):
        return p[1] + (p[0] - p[1]) * np.exp(-np.exp(p[2]) * x)

    def linear(p, x):
        return np.maximum(p[0] - np.exp(p[2]) * x, p[1])

    starts = {"product": [[v_hi0, v_lo0, np.log(r)] for r in (0.1, 0.7, 3.0)],
              "sum": [[v_hi0, v_lo0, np.log(swing / max(float(np.ptp(n)), 1.0) * f)] for f in (0.3, 1.0, 3.0)]}
    fns = {"product": product, "sum": linear}
    out: dict[str, Any] = {"method": "scipy.optimize.least_squares (best of 3 starts); sum only if its "
                                     "RMS error < 0.5 x the product's", "candidates": {}}
    for name, fn in fns.items():
        best = min((least_squares(lambda p: (fn(p, n) - v) / swing, p0) for p0 in starts[name]),
                   key=lambda r: r.cost)
        out["candidates"][name] = float(np.sqrt(np.mean(((fn(best.x, n) - v) / swing) ** 2)))
    c = out["candidates"]
    out["best_fit"] = "sum" if c["sum"] < 0.5 * c["product"] else "product"
    if out["best_fit"] in emulated:
        out["combine"] = out["best_fit"]
    else:
        out["combine"] = min((k for k in emulated if k in c), key=lambda k: c[k], default=None)
        if out["combine"] is None:
            raise ConfigError("emulated", emulated, f"a subset of {sorted(c)}")
    out["rms_error_fs"] = c[out["combine"]]
    return out


# --- per-dimension match-line penalty and its separable (even polynomial) fit ------------------

def cell_penalty(delta_v: np.ndarray, width_v: float, steepness_per_v: float) -> np.ndarray:
    """Per-cell log-domain penalty r(delta) = -ln window(delta) >= 0 (dimensionless, nats).

    delta_v = x - centre (volts). The card's window w = sigmoid(s(delta + w/2)) *
    sigmoid(-s(delta - w/2)) is the cell's match-line factor at the sense time, exp(-I t / C): its
    -ln is the normalized discharge I(delta) t_sense / C of that cell, ~0 inside the window and
    growing ~ s (|delta| - w/2) outside it (the mismatch current grows with the distance).
    """
    d = np.asarray(delta_v, float)
    return np.logaddexp(0.0, -steepness_per_v * (d + width_v / 2)) + np.logaddexp(
        0.0, steepness_per_v * (d - width_v / 2))


def fit_penalty_poly(width_v: float, steepness_per_v: float, delta_max_v: float, *,
                     degrees: tuple[int, ...] = (2, 4, 6, 8, 10, 12), tol_rel: float = 0.02,
                     n_points: int = 4001) -> dict[str, Any]:
    """Even polynomial r(delta) ~ sum_n c_n delta**(2n) over |delta| <= delta_max_v (volts).

    Least squares (numpy.linalg.lstsq, in u = delta / delta_max) on the even grid points, held-out
    error on the odd ones, for every candidate degree; picks the lowest degree whose held-out RMS
    error is below `tol_rel` of the penalty's RMS over the range, else the best one. Even
    powers make sum_d r(q_d - k_d) a sum of matmuls of stacked features (binomial expansion).
    Returns coefficients `coef_per_v2n` (c_n in 1 / V**(2n)), `degree`, and for every candidate
    its held-out RMS and max error (nats) and the RMS relative to the penalty's RMS.
    """
    if not delta_max_v > 0:
        raise ConfigError("delta_max_v", delta_max_v, "> 0")
    d = np.linspace(-delta_max_v, delta_max_v, n_points)
    r = cell_penalty(d, width_v, steepness_per_v)
    u = d / delta_max_v
    train, test = np.arange(0, n_points, 2), np.arange(1, n_points, 2)
    scale = float(np.sqrt(np.mean(r**2))) or 1.0
    cands: dict[int, dict[str, Any]] = {}
    for deg in degrees:
        A = np.stack([u ** (2 * n) for n in range(deg // 2 + 1)], axis=1)
        c_u, *_ = np.linalg.lstsq(A[train], r[train], rcond=None)
        e = A[test] @ c_u - r[test]
        cands[deg] = {"coef_u": c_u, "heldout_rms_nats": float(np.sqrt(np.mean(e**2))),
                      "heldout_max_nats": float(np.abs(e).max()),
                      "heldout_rms_rel": float(np.sqrt(np.mean(e**2)) / scale)}
    ok = [g for g in degrees if cands[g]["heldout_rms_rel"] <= tol_rel]
    deg = ok[0] if ok else min(degrees, key=lambda g: cands[g]["heldout_rms_rel"])
    c_u = cands[deg]["coef_u"]
    coef = [float(c_u[n] / delta_max_v ** (2 * n)) for n in range(len(c_u))]
    return {"method": "numpy.linalg.lstsq, even powers, held-out = alternate grid points",
            "degree": deg, "coef_per_v2n": coef, "delta_max_v": float(delta_max_v),
            "tol_rel": tol_rel, "penalty_rms_nats": scale,
            "heldout_rms_nats": cands[deg]["heldout_rms_nats"],
            "heldout_max_nats": cands[deg]["heldout_max_nats"],
            "candidates": {g: {k: v for k, v in c.items() if k != "coef_u"} for g, c in cands.items()}}
