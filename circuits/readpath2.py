"""Second stage of the attention, phi(S).V, chained to the first in one transient.

Each stage-1 column's converter output (`circuits.readpath`: a pulse of width phi * t_max that
opens with the conversion window) drives one row of a value array:

    c2p out<j> (0.9 V pulse) -> level shifter (0.9 V -> the 1.8 V logic domain of the row
    drivers, circuits.drivers.level_shifter_subckt) -> PWM row driver (the same transistor
    chain as stage 1, circuits.drivers.pwm_row_subckt) -> read lines of value row j

The value array (rows = the stage-1 keys j of the job, `n_out` columns d) stores V codes as
voltages, 3-bit by default, signed around VDD/2 like the keys: v = (V_store - VDD/2) / (VDD/2)
in [-1, 1]. Its cells are the read path's cells (read-only by default, circuits/readcell.py).
Each column ends in the array builder's virtual-ground integrator (`c_int_f`, an ideal
op-amp as in stage 1), reset with stage 1's converters at the start of each cycle by an nfet
across its feedback capacitor. The column charge of cycle n is

    Q[n, d] = c_int_f * (V_c(end of cycle n) - V_c(end of stage-1 integration of cycle n)),
    V_c = V(int) - V(bitline): positive when the column sinks charge,

which the ideal sum_j phi_j * v_jd predicts up to the cell's gain (and its nonlinear I(V)).
The rows of this value tile are the keys of the stage-1 job (`ReadPathConfig.n_keys`), not 64:
a 64-row value tile needs 64 stage-1 columns in the same transient.

Stage 2 has its own supplies (`vdd2`, `vmid2`, `vlogic2`: level shifters, row drivers and the
value rows' read lines) so its energy is measured apart from stage 1's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.array import ArrayConfig, array_body, col_node, integrator_block, row_nodes
from circuits.c2p import timing
from circuits.drivers import NFET_LVT, fet, level_shifter_subckt
from circuits.readpath import CELL_SUBCKT, STORAGE, ReadPathConfig, finish_netlist, readpath_parts
from circuits.validation import in_range
from gaincell.errors import ConfigError


@dataclass(frozen=True)
class ValueStageConfig:
    """Stage 2 (phi(S).V) chained to the stage-1 tile `readpath` (SI units, widths in um).

    Attributes:
        readpath: the stage-1 tile; its `n_keys` is the number of value rows.
        n_out: value columns (output dimensions) d.
        v_bits: bits of the stored V codes (levels code / (2**v_bits - 1) * VDD).
        c_int_f: feedback capacitor of each value column's integrator, farads.
        w_ls_n_um / w_ls_p_um: level shifter pull-down nfet / cross-coupled pfet widths.
        w_reset_um: width of the integrator reset nfet.
    """

    readpath: ReadPathConfig = field(default_factory=ReadPathConfig)
    n_out: int = 8
    v_bits: int = 3
    c_int_f: float = 1e-12
    w_ls_n_um: float = 2.0
    w_ls_p_um: float = 0.42
    w_reset_um: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.readpath, ReadPathConfig):
            raise ConfigError("readpath", self.readpath, "a ReadPathConfig")
        in_range("n_out", self.n_out, 1, 256, integer=True)
        in_range("v_bits", self.v_bits, 1, 8, integer=True)
        in_range("c_int_f", self.c_int_f, 10e-15, 1e-9)
        in_range("w_ls_n_um", self.w_ls_n_um, 0.42, 50.0)
        in_range("w_ls_p_um", self.w_ls_p_um, 0.42, 50.0)
        in_range("w_reset_um", self.w_reset_um, 0.42, 100.0)

    def array(self, n_rows: int) -> ArrayConfig:
        """The value array: `n_rows` (= stage-1 keys) x n_out, stage 1's cell and wires."""
        rp = self.readpath
        return ArrayConfig(
            cell=rp.cell, n_rows=n_rows, n_cols=self.n_out,
            r_bl_ohm_per_cell=rp.r_bl_ohm_per_cell, c_bl_f_per_cell=rp.c_bl_f_per_cell,
            r_rl_ohm_per_cell=rp.r_rl_ohm_per_cell, c_rl_f_per_cell=rp.c_rl_f_per_cell,
            t_max_s=rp.t_max_s, integrator="virtual_ground", c_int_f=self.c_int_f,
        )

    def v_store_v(self, v_code: np.ndarray) -> np.ndarray:
        """Stored voltage (V) of value codes."""
        return np.asarray(v_code) / (2**self.v_bits - 1) * self.readpath.cell.vdd_v

    def v_value(self, v_code: np.ndarray) -> np.ndarray:
        """Signed value in [-1, 1] of value codes."""
        mid = self.readpath.cell.v_mid_v
        return (self.v_store_v(v_code) - mid) / mid


def attention_netlist(
    cfg: ValueStageConfig, k_code: np.ndarray, q_code: np.ndarray, v_code: np.ndarray, title: str = ""
) -> str:
    """Both stages in one transient: keys `k_code` [n_rows, n_keys], queries `q_code`
    [n_queries, n_rows], values `v_code` [n_keys, n_out]. Outputs: stage 1 `v(out<j>)`,
    stage 2 `v(intv<d>)` and `v(v_bl<d>)`."""
    rp = cfg.readpath
    v_code = np.asarray(v_code)
    n_keys = np.asarray(k_code).shape[1] if np.ndim(k_code) == 2 else -1
    v_max = 2**cfg.v_bits - 1
    if v_code.ndim != 2 or v_code.shape != (n_keys, cfg.n_out):
        raise ConfigError("v_code", v_code.shape, f"[n_keys = {n_keys}, n_out = {cfg.n_out}]")
    if v_code.min() < 0 or v_code.max() > v_max:
        raise ConfigError("v_code", (int(v_code.min()), int(v_code.max())), f"codes in [0, {v_max}]")
    parts = readpath_parts(rp, k_code, q_code, title)
    arr = cfg.array(n_keys)
    pwm = rp.pwm
    lines = [
        "* stage 2: converter pulses -> level shifters -> row drivers -> value array",
        level_shifter_subckt("lshift", cfg.w_ls_n_um, cfg.w_ls_p_um),
        f"vvdd2 vdd2 0 {rp.cell.vdd_v:.6g}",
        f"vvmid2 vmid2 0 {rp.cell.v_mid_v:.6g}",
        f"vlogic2 vlogic2 0 {pwm.v_logic_v:.6g}",
        array_body(arr, cfg.v_store_v(v_code), name="v", subckt=CELL_SUBCKT[rp.cell_model],
                   storage=STORAGE[rp.cell_model]).rstrip(),
    ]
    # the row chain inverts an odd number of times: it takes the shifter's complement, so a
    # converter pulse (high) becomes a read pulse (rl up, rlb down)
    invert = pwm.n_stages % 2 == 1
    for j in range(n_keys):
        rl, rlb = row_nodes("v", j)
        ls_out = f"lsb{j}" if invert else f"ls{j}"
        lines += [f"Xls{j} out{j} ls{j} lsb{j} vdd2 vlogic2 lshift",
                  f"Xd2_{j} {ls_out} {rl} {rlb} vlogic2 vdd2 vmid2 pwmrow"]
    saves = []
    for d in range(cfg.n_out):
        bl = col_node("v", d)
        lines.append(integrator_block(arr, bl, f"v{d}").rstrip())
        lines.append(fet(f"rst2_{d}", f"intv{d}", "rst", bl, "0", NFET_LVT, cfg.w_reset_um, 0.15))
        saves += [f"v(intv{d})", f"v({bl})"]
    saves += ["vvdd2#branch", "vvmid2#branch", "vlogic2#branch"]
    parts.lines += lines
    parts.saves += saves
    return finish_netlist(parts)


def measure_value_charge(result, cfg: ValueStageConfig, n_queries: int) -> np.ndarray:
    """Q [n_queries, n_out] (coulombs): each value column's charge over the conversion half of
    each cycle (from the end of stage-1 integration to the end of the cycle)."""
    tm = timing(cfg.readpath.c2p)
    t = result.vec("time")
    q = np.zeros((n_queries, cfg.n_out))
    for d in range(cfg.n_out):
        vc = result.vec(f"v(intv{d})") - result.vec(f"v(v_bl{d})")
        for n in range(n_queries):
            t0 = n * tm.cycle_s + tm.int_end_s
            t1 = (n + 1) * tm.cycle_s - 0.1e-9
            q[n, d] = cfg.c_int_f * (np.interp(t1, t, vc) - np.interp(t0, t, vc))
    return q


def value_energy(result, cfg: ValueStageConfig, n_queries: int) -> float:
    """Energy (J) from the stage-2 supplies per query and value column."""
    t = result.vec("time")
    rp = cfg.readpath
    e = 0.0
    for src, v in (("vvdd2", rp.cell.vdd_v), ("vvmid2", rp.cell.v_mid_v), ("vlogic2", rp.pwm.v_logic_v)):
        e += -v * np.trapezoid(result.vec(f"{src}#branch"), t)
    return float(e / (n_queries * cfg.n_out))


def fit_gain(x: np.ndarray, q: np.ndarray) -> float:
    """Least-squares gain g (C per unit of sum_j phi_j v_j) of q = g * x through the origin."""
    x, q = np.asarray(x, float).ravel(), np.asarray(q, float).ravel()
    den = float(np.dot(x, x))
    return float(np.dot(x, q) / den) if den > 0 else 0.0


def fit_value_level_weights(phi: np.ndarray, v_code: np.ndarray, q: np.ndarray, levels: int) -> np.ndarray:
    """Per-level charges w [levels] (C per unit phi) minimising |q - sum_j phi_j w[v_code_j]|^2.

    `phi` [n_cases, n_rows], `v_code` [n_cases, n_rows], `q` [n_cases]: the calibration a
    behavioral model with the cell's nonlinear I(V) performs (linear least squares).
    """
    design = np.stack([(np.asarray(phi) * (np.asarray(v_code) == lv)).sum(axis=1) for lv in range(levels)], axis=1)
    w, *_ = np.linalg.lstsq(design, np.asarray(q), rcond=None)
    return w
