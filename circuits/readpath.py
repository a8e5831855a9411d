"""Full first-stage read path: PWM row drivers -> gain-cell array (N = 64 rows) -> one
charge-to-pulse converter per column, i.e. phi(Q.K) of the attention for one key per column.

Built from the other layers' builders:
- rows: `circuits.drivers.pwm_row_subckt` (transistor drivers of both read lines per row);
- array: `circuits.array.array_body` + `circuits.gaincell_cell.cell_subckt` (the gain cells with
  bitline and read-line RC ladders; keys stored as voltages by `.ic`);
- columns: the array builder's virtual-ground integrator (`circuits.array.integrator_block`:
  an IDEAL op-amp, a voltage-controlled source of gain 1e4, holding the bitline at VDD/2, with
  the converter's c_int_f as feedback capacitor) followed by `circuits.c2p.c2p_subckt` in its
  external-integrator mode (transistor-level comparator, ramp and gating; the ramp discharges
  the feedback capacitor through the summing node). A plain capacitor on the bitline (the
  converter's own mode) does not work with push-pull cells: the bitline droops hundreds of mV
  and the cells whose pulse has ended (read lines back at VDD/2) give the charge back.

Many queries run back to back in one transient (reset, integrate, convert per cycle), many keys
as columns of one array: one sky130 load serves n_queries x n_keys cases.

The ideal against which the circuit is compared is the HardSigmoid of the digital dot product
q . k, with q = code / 15 in [0, 1] and k = (V_store - VDD/2) / (VDD/2) in [-1, 1]:
phi = clip(a * q . k, 0, 1). The design scale a = g_ref * (VDD/2) / S_sat uses the reference
cell's linear gain (19.3 uA/V, ../shared/reference/README.md section 1); the calibrated scale is
fitted (the per-head scalers absorb it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from circuits.array import ArrayConfig, array_body, col_node, integrator_block, row_nodes
from circuits.c2p import C2PConfig, c2p_subckt, control_sources, timing
from circuits.drivers import PwmDriverConfig, pulse_width, pwl, pwm_input_pwl, pwm_row_subckt
from circuits.gaincell_cell import GainCellConfig, cell_subckt, supplies
from circuits.readcell import readonly_cell_subckt, write_device_capacitance
from circuits.sky130_models import lib_line
from circuits.sky130_pruned import inline_models
from circuits.transient import TransientOptions
from circuits.validation import in_range, one_of
from gaincell.errors import ConfigError

#: Cell models of the read path: the read-only cell of circuits/readcell.py, or the full cell.
CELL_MODELS: tuple[str, ...] = ("read_only", "full")

#: Linear gain of the reference cell (A/V), README section 1: the design ideal's scale.
G_REF_A_PER_V = 19.3e-6


@dataclass(frozen=True)
class ReadPathConfig:
    """One array tile of the Q.K stage: N rows, `n_keys` columns, drivers and converters."""

    cell: GainCellConfig = field(default_factory=GainCellConfig)
    n_rows: int = 64
    n_keys: int = 8
    q_bits: int = 4
    kv_bits: int = 3
    t_max_s: float = 15e-9
    c2p: C2PConfig = field(default_factory=C2PConfig)
    pwm: PwmDriverConfig = field(default_factory=PwmDriverConfig)
    r_bl_ohm_per_cell: float = 1.4
    c_bl_f_per_cell: float = 0.15e-15
    r_rl_ohm_per_cell: float = 1.4
    c_rl_f_per_cell: float = 0.15e-15
    max_step_s: float = 0.5e-9
    cell_model: str = "read_only"
    solver: TransientOptions = field(default_factory=TransientOptions)
    body_network: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.cell, GainCellConfig):
            raise ConfigError("cell", self.cell, "a GainCellConfig")
        if not isinstance(self.c2p, C2PConfig):
            raise ConfigError("c2p", self.c2p, "a C2PConfig")
        if not isinstance(self.pwm, PwmDriverConfig):
            raise ConfigError("pwm", self.pwm, "a PwmDriverConfig")
        in_range("n_rows", self.n_rows, 1, 1024, integer=True)
        in_range("n_keys", self.n_keys, 1, 256, integer=True)
        in_range("q_bits", self.q_bits, 1, 8, integer=True)
        in_range("kv_bits", self.kv_bits, 1, 8, integer=True)
        in_range("t_max_s", self.t_max_s, 1e-9, 1e-6)
        for name in ("c2p", "pwm"):
            sub = getattr(self, name)
            if abs(sub.t_max_s - self.t_max_s) > 1e-15:
                raise ConfigError(f"{name}.t_max_s", sub.t_max_s, f"equal to t_max_s = {self.t_max_s:g}")
            if abs(sub.vdd_v - self.cell.vdd_v) > 1e-12:
                raise ConfigError(f"{name}.vdd_v", sub.vdd_v, f"equal to cell.vdd_v = {self.cell.vdd_v:g}")
        if self.pwm.bits != self.q_bits:
            raise ConfigError("pwm.bits", self.pwm.bits, f"equal to q_bits = {self.q_bits}")
        in_range("r_bl_ohm_per_cell", self.r_bl_ohm_per_cell, 0.0, 1e5)
        in_range("c_bl_f_per_cell", self.c_bl_f_per_cell, 0.0, 1e-12)
        in_range("r_rl_ohm_per_cell", self.r_rl_ohm_per_cell, 0.0, 1e5)
        in_range("c_rl_f_per_cell", self.c_rl_f_per_cell, 0.0, 1e-12)
        in_range("max_step_s", self.max_step_s, 1e-12, 1e-9)
        one_of("cell_model", self.cell_model, CELL_MODELS)
        if not isinstance(self.solver, TransientOptions):
            raise ConfigError("solver", self.solver, "a TransientOptions")
        one_of("body_network", self.body_network, (True, False))

    def array(self, n_keys: int | None = None) -> ArrayConfig:
        """The array of this tile in the array builder's terms."""
        return ArrayConfig(
            cell=self.cell, n_rows=self.n_rows, n_cols=n_keys or self.n_keys,
            r_bl_ohm_per_cell=self.r_bl_ohm_per_cell, c_bl_f_per_cell=self.c_bl_f_per_cell,
            r_rl_ohm_per_cell=self.r_rl_ohm_per_cell, c_rl_f_per_cell=self.c_rl_f_per_cell,
            t_max_s=self.t_max_s, integrator="virtual_ground", c_int_f=self.c2p.c_int_f,
        )

    def v_store_v(self, k_code: np.ndarray) -> np.ndarray:
        """Stored voltage (V) of key codes: code / (2**kv_bits - 1) * vdd."""
        return np.asarray(k_code) / (2**self.kv_bits - 1) * self.cell.vdd_v

    def k_value(self, k_code: np.ndarray) -> np.ndarray:
        """Signed digital key value in [-1, 1] of key codes."""
        mid = self.cell.v_mid_v
        return (self.v_store_v(k_code) - mid) / mid

    def q_value(self, q_code: np.ndarray) -> np.ndarray:
        """Query value (pulse fraction) in [0, 1] of query codes."""
        return np.asarray(q_code) / (2**self.q_bits - 1)

    @property
    def design_scale(self) -> float:
        """a of the design ideal phi = clip(a * q.k, 0, 1)."""
        s_sat_a = self.c2p.q_sat_c / self.t_max_s
        return G_REF_A_PER_V * self.cell.v_mid_v / s_sat_a


@dataclass
class NetlistParts:
    """A transient's circuit text before its analysis cards: `lines` (title first, the sky130
    `.lib` card inside), the vectors to `.save`, the stop time (s) and the solver settings."""

    lines: list[str]
    saves: list[str]
    t_stop_s: float
    max_step_s: float
    solver: TransientOptions
    body_network: bool = True


def readpath_parts(cfg: ReadPathConfig, k_code: np.ndarray, q_code: np.ndarray, title: str = "") -> NetlistParts:
    """Stage 1 without analysis cards: keys `k_code` [n_rows, n_keys] stored in the array,
    queries `q_code` [n_queries, n_rows] applied one per conversion cycle. Outputs
    `v(out<c>)`; the converters' control nodes (`rst`, `win`, ...) are global."""
    k_code = np.asarray(k_code)
    q_code = np.asarray(q_code)
    if k_code.ndim != 2 or k_code.shape[0] != cfg.n_rows or q_code.ndim != 2 or q_code.shape[1] != cfg.n_rows:
        raise ConfigError("k_code/q_code", (k_code.shape, q_code.shape),
                          f"[{cfg.n_rows}, n_keys] and [n_queries, {cfg.n_rows}]")
    k_max, q_max = 2**cfg.kv_bits - 1, 2**cfg.q_bits - 1
    if k_code.min() < 0 or k_code.max() > k_max or q_code.min() < 0 or q_code.max() > q_max:
        raise ConfigError("k_code/q_code", (int(k_code.min()), int(k_code.max()), int(q_code.min()), int(q_code.max())),
                          f"key codes in [0, {k_max}] and query codes in [0, {q_max}]")
    n_keys = k_code.shape[1]
    arr = cfg.array(n_keys)
    cc = cfg.c2p
    tm = timing(cc)
    n_cyc = q_code.shape[0]
    lines = [f"* gaincell read path {title}: {cfg.n_rows} rows x {n_keys} keys, {n_cyc} queries",
             lib_line(cfg.cell.corner), f".temp {cfg.cell.temperature_c:g}",
             cell_lines(cfg), supplies(cfg.cell).rstrip(),
             pwm_row_subckt(cfg.pwm), c2p_subckt(cc, external_integrator=True),
             f"vlogic vlogic 0 {cfg.pwm.v_logic_v:.6g}"]
    lines.append(array_body(arr, cfg.v_store_v(k_code), name="a", subckt=CELL_SUBCKT[cfg.cell_model],
                            storage=STORAGE[cfg.cell_model]).rstrip())
    for r in range(cfg.n_rows):
        pts: list[tuple[float, float]] = []
        for n in range(n_cyc):
            p = pwm_input_pwl(cfg.pwm, float(q_code[n, r]), n * tm.cycle_s + tm.int_start_s, True)
            pts += p if n == 0 else p[1:]
        rl, rlb = row_nodes("a", r)
        lines += [f"vpin{r} pin{r} 0 {pwl(_dedupe(pts))}",
                  f"Xd{r} pin{r} {rl} {rlb} vlogic vdd vmid pwmrow"]
    # each column: the array builder's virtual-ground integrator (its op-amp is an ideal
    # voltage-controlled source holding the bitline at VDD/2; feedback capacitor c2p.c_int_f)
    # and the converter on its output; reset shorts the feedback capacitor, the ramp flows
    # into the summing node (the bitline)
    bias_nodes, saves = [], ["time"]
    for c in range(n_keys):
        bl = col_node("a", c)
        lines.append(integrator_block(arr, bl, str(c)).rstrip())
        lines.append(f"Xc{c} int{c} out{c} vdd {bl} rst az azb az2 azb2 rampb win ib{c} {bl} c2p")
        bias_nodes.append(f"ib{c}")
        saves.append(f"v(out{c})")
    lines += control_sources(cc, n_cyc, bias_nodes)
    saves += ["vvdd#branch", "vlogic#branch", "vvmid#branch"]
    return NetlistParts(lines, saves, n_cyc * tm.cycle_s, cfg.max_step_s, cfg.solver, cfg.body_network)


def finish_netlist(parts: NetlistParts) -> str:
    """Options, `.tran`, `.save`, `.end`, and the sky130 models inlined and pruned
    (circuits/sky130_pruned.py: same model text, loads in ~1 s instead of ~5-30 s)."""
    lines = parts.lines + [
        parts.solver.card(),
        f".tran 50p {parts.t_stop_s:.6e} 0 {parts.max_step_s:.3g}",
        ".save " + " ".join(parts.saves),
        ".end",
    ]
    return inline_models("\n".join(lines) + "\n", body_network=parts.body_network)


def readpath_netlist(cfg: ReadPathConfig, k_code: np.ndarray, q_code: np.ndarray, title: str = "") -> str:
    """Stage-1 netlist (see `readpath_parts`). Outputs `v(out<c>)`."""
    return finish_netlist(readpath_parts(cfg, k_code, q_code, title))


CELL_SUBCKT = {"read_only": "gc_read", "full": "gc_cell"}
STORAGE = {"read_only": "param", "full": "ic"}


def cell_lines(cfg: ReadPathConfig) -> str:
    """Subcircuit text of the read path's cell (`CELL_SUBCKT[cfg.cell_model]`)."""
    if cfg.cell_model == "full":
        return cell_subckt(cfg.cell).rstrip()
    return readonly_cell_subckt(cfg.cell, write_device_capacitance(cfg.cell), CELL_SUBCKT["read_only"]).rstrip()


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for t, v in points:
        if out and t <= out[-1][0] + 1e-15:
            out[-1] = (out[-1][0], v)
        else:
            out.append((t, v))
    return out


def measure_phi(result, cfg: ReadPathConfig, n_keys: int, n_queries: int) -> np.ndarray:
    """phi [n_queries, n_keys]: output pulse width of each conversion / t_max."""
    tm = timing(cfg.c2p)
    t = result.vec("time")
    phi = np.zeros((n_queries, n_keys))
    for c in range(n_keys):
        v = result.vec(f"v(out{c})")
        for n in range(n_queries):
            t0 = n * tm.cycle_s
            phi[n, c] = pulse_width(t, v, cfg.cell.vdd_v / 2, t0 + tm.int_end_s, t0 + tm.cycle_s) / cfg.t_max_s
    return phi


def energy_per_read(result, cfg: ReadPathConfig, n_keys: int, n_queries: int) -> float:
    """Energy (J) from all supplies of the tile per query and key (drivers, cells, converters)."""
    t = result.vec("time")
    e = 0.0
    for src, v in (("vvdd", cfg.cell.vdd_v), ("vlogic", cfg.pwm.v_logic_v), ("vvmid", cfg.cell.v_mid_v)):
        e += -v * np.trapezoid(result.vec(f"{src}#branch"), t)
    return float(e / (n_keys * n_queries))


def ideal_phi(dot: np.ndarray, scale: float) -> np.ndarray:
    """HardSigmoid clip(scale * dot, 0, 1)."""
    return np.clip(scale * np.asarray(dot), 0.0, 1.0)


def fit_scale(dot: np.ndarray, phi: np.ndarray) -> float:
    """Scale a minimising the squared error of clip(a * dot, 0, 1) to phi (golden search)."""
    dot, phi = np.asarray(dot), np.asarray(phi)
    pos = dot > 0
    if not pos.any():
        return 0.0
    hi = 5.0 / max(np.median(dot[pos]), 1e-12)
    lo = 0.0

    def err(a: float) -> float:
        return float(np.mean((ideal_phi(dot, a) - phi) ** 2))

    g = (np.sqrt(5) - 1) / 2
    a, b = lo, hi
    for _ in range(100):
        c, d = b - g * (b - a), a + g * (b - a)
        if err(c) < err(d):
            b = d
        else:
            a = c
    return 0.5 * (a + b)


def fit_level_weights(k_code: np.ndarray, q_value: np.ndarray, phi: np.ndarray, levels: int) -> np.ndarray:
    """Per-key-level weights w [levels] minimising |phi - clip(sum_d q_d * w[k_d], 0, 1)|^2.

    `k_code` [n_cases, n_rows] (key code per case and row), `q_value` [n_cases, n_rows].
    This is the calibration a behavioral model with a nonlinear cell I(V) performs; the
    residual it leaves is what the circuit adds beyond the cell's static nonlinearity.
    Levels absent from the data keep weight 0.
    """
    from scipy.optimize import least_squares

    onehot = np.stack([(k_code == lv).astype(float) for lv in range(levels)], axis=-1)
    design = np.einsum("nd,ndl->nl", q_value, onehot)  # [n_cases, levels]

    def resid(w: np.ndarray) -> np.ndarray:
        return np.clip(design @ w, 0.0, 1.0) - phi

    w0 = np.linspace(-1, 1, levels) * 0.05
    return least_squares(resid, w0).x
