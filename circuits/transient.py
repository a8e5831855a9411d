"""ngspice solver options of a transient, validated, as one `.options` card.

The defaults are those measured on the read path during its development (64-row tiles, sky130 tt):

- `threads` = 1: libngspice is built with OpenMP and evaluates devices with 2 threads by
  default; with two worker processes on a shared 2-core machine the threads spin against each
  other and device evaluation ran about 17x slower (a 16-row tile: 25 s -> 1.5 s).
- `pivrel` = 1e-6: the relative pivot threshold of the sparse LU. With ngspice's 1e-3 the
  read-only cells' storage nodes (DC path 1e-10 S) are rejected as pivots, the matrix is ordered
  badly and filled in 10x (factorization 26 s -> 0.9 s on a 64 x 4 tile, same results).
- `method` = "gear" (order 2): ngspice's trapezoidal rule rings on the converter's auto-zeroed
  comparator and leaves phi about +0.02 above the converged value at reltol 1e-3; Gear at the
  same tolerance is within 0.003 (converged reference: reltol 1e-4, 50 ps max step).
- `bypass` = True: BSIM4 skips re-evaluating a device whose terminal voltages moved less than
  the tolerances (reuses its linearization); most cells and driver stages are idle at any
  instant of a read.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits.validation import in_range, one_of

METHODS: tuple[str, ...] = ("trap", "gear")


@dataclass(frozen=True)
class TransientOptions:
    """Solver settings of one transient (see the module docstring for the defaults).

    Attributes:
        method: integration method, "trap" or "gear".
        reltol: relative tolerance (Newton convergence and truncation error).
        chgtol_c: charge tolerance of the truncation-error control, coulombs.
        vntol_v: absolute voltage tolerance (Newton convergence, device bypass), volts.
        trtol: truncation-error overestimation factor (ngspice default 7).
        bypass: skip device evaluation when its terminal voltages did not move.
        threads: OpenMP threads of device evaluation per ngspice process.
        pivrel: relative pivot threshold of the sparse LU.
    """

    method: str = "gear"
    reltol: float = 1e-3
    chgtol_c: float = 1e-13
    vntol_v: float = 1e-4
    trtol: float = 7.0
    bypass: bool = True
    threads: int = 1
    pivrel: float = 1e-6

    def __post_init__(self) -> None:
        one_of("method", self.method, METHODS)
        in_range("reltol", self.reltol, 1e-6, 0.1)
        in_range("chgtol_c", self.chgtol_c, 1e-20, 1e-9)
        in_range("vntol_v", self.vntol_v, 1e-9, 1e-2)
        in_range("trtol", self.trtol, 1.0, 100.0)
        one_of("bypass", self.bypass, (True, False))
        in_range("threads", self.threads, 1, 64, integer=True)
        in_range("pivrel", self.pivrel, 1e-12, 1.0)

    def card(self) -> str:
        """The `.options` line."""
        return (f".options num_threads={self.threads} method={self.method} reltol={self.reltol:g} "
                f"chgtol={self.chgtol_c:g} vntol={self.vntol_v:g} trtol={self.trtol:g} bypass={int(self.bypass)} "
                f"pivrel={self.pivrel:g}")
