"""The fitted read-charge model of one gain cell (the MAC transfer surface).

A cell driven by a pulse of width x * t_max (x in [0, 1]) while its storage node holds
V_store delivers a charge

    Q(x, V_store) = t_max_s * sum_p x**p * g_p(V_store)        (coulombs)

with g_p(V) = sum_q coeffs_a[p][q] * (V - v_ref_v)**q a mean read current (amperes). With
ideal pulse-width modulation only p = 1 is non-zero and the charge is linear in the input and
nonlinear in the stored voltage. Because every term is separable in x and V, a column sum
S_j = sum_d x_d * g(V_jd) is a matmul of stacked feature maps [x**p] and [g_p(V)]: this is what
makes the fused attention fast.

Works on numpy arrays and torch tensors alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np


@dataclass(frozen=True)
class PolyMacModel:
    """Separable polynomial read-charge model.

    Attributes:
        coeffs_a: coeffs_a[p][q] in amperes: the term x**p * (V - v_ref_v)**q of the mean current.
        v_ref_v: reference storage voltage (volts), usually VDD/2 where the signed current is ~0.
        t_max_s: full pulse width (seconds): charge = t_max_s * mean current.
        v_range_v: (low, high) storage-voltage range the model was fitted on (volts).
    """

    coeffs_a: tuple[tuple[float, ...], ...]
    v_ref_v: float
    t_max_s: float
    v_range_v: tuple[float, float]

    @property
    def x_powers(self) -> tuple[int, ...]:
        """Powers p of the input with a non-zero current term."""
        return tuple(p for p, row in enumerate(self.coeffs_a) if any(c != 0.0 for c in row))

    @property
    def is_linear_in_x(self) -> bool:
        """True for ideal PWM (charge proportional to pulse width)."""
        return self.x_powers == (1,)

    def g(self, p: int, v: Any) -> Any:
        """Mean current term g_p(V) (amperes) for stored voltage `v` (volts), numpy or torch."""
        w = v - self.v_ref_v
        out = 0.0 * w
        for c in reversed(self.coeffs_a[p]):  # Horner
            out = out * w + c
        return out

    def dg_dv(self, p: int, v: Any) -> Any:
        """Derivative dg_p/dV (amperes per volt)."""
        w = v - self.v_ref_v
        row = self.coeffs_a[p]
        out = 0.0 * w
        for q in range(len(row) - 1, 0, -1):
            out = out * w + q * row[q]
        return out

    def current_a(self, x: Any, v: Any) -> Any:
        """Mean read current (amperes) for input fraction `x` and stored voltage `v` (volts)."""
        total = 0.0 * x * v
        for p in self.x_powers:
            total = total + (x**p) * self.g(p, v)
        return total

    def charge_c(self, x: Any, v: Any) -> Any:
        """Read charge (coulombs) = t_max_s * mean current."""
        return self.t_max_s * self.current_a(x, v)

    def linear_slopes_a_per_v(self, n: int = 201) -> dict[int, float]:
        """Least-squares straight-line slope of each g_p over v_range_v (amperes per volt).

        Used by the `linear` surrogate gradient (backward as if the cell were linear).
        """
        v = np.linspace(self.v_range_v[0], self.v_range_v[1], n)
        out = {}
        for p in self.x_powers:
            slope, _ = np.polyfit(v - self.v_ref_v, np.asarray(self.g(p, v), dtype=float), 1)
            out[p] = float(slope)
        return out

    def full_scale_a(self) -> float:
        """Largest |mean current| over x in [0, 1] and v_range_v (amperes)."""
        x = np.linspace(0.0, 1.0, 51)[:, None]
        v = np.linspace(self.v_range_v[0], self.v_range_v[1], 181)[None, :]
        return float(np.max(np.abs(self.current_a(x, v))))

    @classmethod
    def linear(cls, slope_a_per_v: float, v_ref_v: float, t_max_s: float,
               v_range_v: Sequence[float]) -> "PolyMacModel":
        """Ideal linear cell: I = x * slope * (V - v_ref) (the authors' 'linear model')."""
        return cls(((0.0,), (0.0, float(slope_a_per_v))), float(v_ref_v), float(t_max_s),
                   (float(v_range_v[0]), float(v_range_v[1])))
