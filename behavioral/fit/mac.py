"""Fit the MAC transfer surface (read charge versus input and stored voltage).

Model family: the separable polynomial `PolyMacModel`, mean current
I(x, V) = sum_{p in P} sum_{q<=deg_v} c_pq x**p (V - v_ref)**q. Candidates differ in the input
powers P ({1}: ideal PWM; {1, 2}; {0, 1}; ...) and the voltage degree; each is fitted with
`scipy.optimize.lsq_linear` on a random training split and the one with the lowest held-out
RMS error (fraction of full-scale current) wins; among candidates within `PARSIMONY` of the
best held-out error the one with the fewest parameters is taken. The winner keeps its
training-split coefficients, so its reported held-out error is honest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from scipy.optimize import lsq_linear

from behavioral.mac_model import PolyMacModel
from gaincell.errors import ConfigError

X_POWER_SETS: tuple[tuple[int, ...], ...] = ((1,), (0, 1), (1, 2), (0, 1, 2), (1, 2, 3))
V_DEGREES: tuple[int, ...] = tuple(range(1, 10))
PARSIMONY = 1.10
"""A candidate within this factor of the best held-out error counts as equally good."""


@dataclass(frozen=True)
class MacFit:
    """Result of a MAC fit: the model and a JSON-ready record of the selection."""

    model: PolyMacModel
    info: dict[str, Any]


def _design(x: np.ndarray, w: np.ndarray, powers: Sequence[int], deg: int) -> np.ndarray:
    cols = [(x**p) * (w**q) for p in powers for q in range(deg + 1)]
    return np.stack(cols, axis=1)


def split_indices(n: int, holdout: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) index split with `holdout` fraction held out (seeded)."""
    if not 0.0 < holdout < 1.0:
        raise ConfigError("holdout", holdout, "a fraction in (0, 1)")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)
    n_test = max(1, int(round(holdout * n)))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


def fit_mac(
    x: np.ndarray,
    v_store_v: np.ndarray,
    current_a: np.ndarray,
    *,
    t_max_s: float,
    v_ref_v: float,
    x_power_sets: Sequence[tuple[int, ...]] = X_POWER_SETS,
    v_degrees: Sequence[int] = V_DEGREES,
    holdout: float = 0.25,
    seed: int = 0,
) -> MacFit:
    """Fit the mean read current (amperes) on points (x, V_store); choose by held-out error.

    Args:
        x: input pulse fractions in [0, 1], shape [N] (all ones for a PWM 'on' slice).
        v_store_v: stored voltages (volts), shape [N].
        current_a: mean read current = charge / t_max (amperes), shape [N].
        t_max_s: full pulse width (seconds), kept in the model.
        v_ref_v: reference voltage (volts) the polynomial is centred on.
    """
    x = np.asarray(x, float).ravel()
    v = np.asarray(v_store_v, float).ravel()
    i = np.asarray(current_a, float).ravel()
    if not (x.shape == v.shape == i.shape) or x.size < 8:
        raise ConfigError("mac data", x.size, "equal-length x, v_store_v, current arrays, >= 8 points")
    full_scale = float(np.max(np.abs(i)))
    if full_scale <= 0:
        raise ConfigError("mac data", "current", "not all zero")
    x_varies = np.ptp(x) > 0
    train, test = split_indices(x.size, holdout, seed)
    w = v - v_ref_v
    y = i / full_scale
    candidates = []
    fitted = []
    for powers in x_power_sets:
        if not x_varies and powers != (1,):
            continue  # the input power is not identifiable from a single-x slice
        for deg in v_degrees:
            n_par = len(powers) * (deg + 1)
            if n_par >= train.size:
                continue
            A = _design(x, w, powers, deg)
            sol = lsq_linear(A[train], y[train], method="bvls" if n_par < 40 else "trf")
            pred = A @ sol.x
            rms_train = float(np.sqrt(np.mean((pred[train] - y[train]) ** 2)))
            rms_test = float(np.sqrt(np.mean((pred[test] - y[test]) ** 2)))
            rec = {"x_powers": list(powers), "v_degree": deg, "n_params": n_par,
                   "train_rms_error_fs": rms_train, "heldout_rms_error_fs": rms_test}
            candidates.append(rec)
            fitted.append((rec, powers, deg, sol.x))
    if not fitted:
        raise ConfigError("mac data", x.size, "enough points for at least one candidate model")
    best_err = min(f[0]["heldout_rms_error_fs"] for f in fitted)
    good = [f for f in fitted if f[0]["heldout_rms_error_fs"] <= PARSIMONY * best_err]
    rec, powers, deg, coef = min(good, key=lambda f: (f[0]["n_params"], f[0]["heldout_rms_error_fs"]))
    rows = [[0.0] * (deg + 1) for _ in range(max(powers) + 1)]
    for k, p in enumerate(powers):
        for q in range(deg + 1):
            rows[p][q] = float(coef[k * (deg + 1) + q] * full_scale)
    model = PolyMacModel(tuple(tuple(r) for r in rows), float(v_ref_v), float(t_max_s),
                         (float(v.min()), float(v.max())))
    pred_all = np.asarray(model.current_a(x, v))
    info = {
        "method": "scipy.optimize.lsq_linear; fewest parameters within "
                  f"{PARSIMONY:g} x the best held-out RMS error",
        "family": f"poly_xv x_powers={list(powers)} v_degree={deg}",
        "heldout_rms_error_fs": rec["heldout_rms_error_fs"],
        "train_rms_error_fs": rec["train_rms_error_fs"],
        "max_abs_error_fs": float(np.max(np.abs(pred_all - i)) / full_scale),
        "full_scale_a": full_scale,
        "n_train": int(train.size),
        "n_test": int(test.size),
        "holdout_fraction": holdout,
        "split_seed": seed,
        "candidates": candidates,
    }
    return MacFit(model, info)
