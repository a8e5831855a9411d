"""Gain-cell column and N x M array: netlist builders with wire parasitics, PWM inputs, integrators.

Topology (one `ArrayConfig`):
- Row r has two read lines, `rl` (PWM pulse VDD/2 -> V_in) and `rlb` (VDD/2 -> VDD - V_in), each
  driven at column 0 and running across the M columns as an RC ladder (`r_rl_ohm_per_cell` in
  series and `c_rl_f_per_cell` to ground per cell pitch).
- Column c's bitline runs from row 0 to row N-1 as an RC ladder (`r_bl_ohm_per_cell`,
  `c_bl_f_per_cell`), then into the column integrator at its end (node `<name>_bl<c>`). The
  transistors' own junction and overlap capacitances come from the sky130 models on top.
- Integrator, `integrator` =
  * "virtual_ground" (default): an op-amp integrator modelled as a voltage-controlled voltage
    source of gain `integrator_gain` holding the bitline at VDD/2, with the feedback capacitor
    `c_int_f`; the column charge is C_int * (V_out - V_bl). A 1 GOhm resistor across C_int sets
    the DC operating point (its time constant, 1 ms at 1 pF, is far beyond a read). The amplifier
    is otherwise ideal (no rails, no bandwidth limit): its output swing is not clipped.
  * "capacitor": a plain capacitor `c_int_f` to ground precharged to VDD/2, no virtual ground;
    the charge is C_int * (VDD/2 - V_bl). The bitline droop changes the cells' currents, which is
    the point of offering it.
- Write lines are held (write bitlines at `cell.wbl_hold_v`, write wordlines at
  `cell.v_wwl_off_v`); stored voltages are set with `.ic` on each storage node.

Default parasitics (sky130 metal 1 at a ~1.5 um cell pitch, 0.14 um wide line: about 0.125
Ohm/square * 11 squares = 1.4 Ohm and about 0.15 fF of wire capacitance per cell) are estimates,
not extracted values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from circuits.gaincell_cell import GainCellConfig, cell_instance, cell_subckt, header, supplies
from circuits.validation import in_range, one_of
from gaincell.errors import ConfigError

INTEGRATORS: tuple[str, ...] = ("virtual_ground", "capacitor")
#: How `array_body` sets the stored voltages (see its docstring).
STORAGE_MODES: tuple[str, ...] = ("ic", "param")
#: DC-bias resistor across the virtual-ground integrator's feedback capacitor, ohms.
R_INT_BIAS_OHM = 1e9


@dataclass(frozen=True)
class ArrayConfig:
    """An N x M gain-cell array (M = 1: one column) and its read timing.

    Attributes:
        cell: the gain cell of every position.
        n_rows: N, cells per column (= input rows), integer >= 1.
        n_cols: M, columns (= outputs), integer >= 1.
        r_bl_ohm_per_cell / c_bl_f_per_cell: bitline resistance (ohms) and wire capacitance
            (farads) per cell pitch.
        r_rl_ohm_per_cell / c_rl_f_per_cell: read-line resistance (ohms) and wire capacitance
            (farads) per cell pitch, for each of the two read lines of a row.
        t_max_s: full-scale PWM pulse width (input x = 1), seconds.
        t_edge_s: rise and fall time of the PWM pulses (0-100 %), seconds.
        t_delay_s: time before the pulses start, seconds.
        t_settle_s: simulated time after the longest pulse ends, seconds.
        v_in_v: read-line level during a pulse, volts; None = VDD (full swing).
        integrator: "virtual_ground" or "capacitor" (see the module docstring).
        c_int_f: integration capacitor, farads.
        integrator_gain: DC gain of the virtual-ground amplifier (V/V).
    """

    cell: GainCellConfig = field(default_factory=GainCellConfig)
    n_rows: int = 64
    n_cols: int = 1
    r_bl_ohm_per_cell: float = 1.4
    c_bl_f_per_cell: float = 0.15e-15
    r_rl_ohm_per_cell: float = 1.4
    c_rl_f_per_cell: float = 0.15e-15
    t_max_s: float = 15e-9
    t_edge_s: float = 0.2e-9
    t_delay_s: float = 0.5e-9
    t_settle_s: float = 2e-9
    v_in_v: float | None = None
    integrator: str = "virtual_ground"
    c_int_f: float = 1e-12
    integrator_gain: float = 1e4

    def __post_init__(self) -> None:
        if not isinstance(self.cell, GainCellConfig):
            raise ConfigError("cell", self.cell, "a GainCellConfig")
        in_range("n_rows", self.n_rows, 1, 4096, integer=True)
        in_range("n_cols", self.n_cols, 1, 4096, integer=True)
        in_range("r_bl_ohm_per_cell", self.r_bl_ohm_per_cell, 0.0, 1e5)
        in_range("c_bl_f_per_cell", self.c_bl_f_per_cell, 0.0, 1e-12)
        in_range("r_rl_ohm_per_cell", self.r_rl_ohm_per_cell, 0.0, 1e5)
        in_range("c_rl_f_per_cell", self.c_rl_f_per_cell, 0.0, 1e-12)
        in_range("t_max_s", self.t_max_s, 1e-11, 1e-3)
        in_range("t_edge_s", self.t_edge_s, 1e-13, self.t_max_s)
        in_range("t_delay_s", self.t_delay_s, 0.0, 1e-3)
        in_range("t_settle_s", self.t_settle_s, 0.0, 1e-3)
        if self.v_in_v is not None:
            in_range("v_in_v", self.v_in_v, self.cell.v_mid_v, self.cell.vdd_v)
        one_of("integrator", self.integrator, INTEGRATORS)
        in_range("c_int_f", self.c_int_f, 1e-15, 1e-6)
        in_range("integrator_gain", self.integrator_gain, 1.0, 1e9)

    @property
    def read_v(self) -> float:
        """Read-line level during a pulse, volts."""
        return self.cell.vdd_v if self.v_in_v is None else self.v_in_v

    @property
    def t_stop_s(self) -> float:
        """End of the read transient, seconds."""
        return self.t_delay_s + self.t_max_s + self.t_edge_s + self.t_settle_s


# ------------------------------------------------------------------------------------------
# Pieces
# ------------------------------------------------------------------------------------------


def pwm_pulse_spec(
    x: float, *, t_max_s: float, t_edge_s: float, t_delay_s: float, v_idle: float, v_on: float
) -> str:
    """Source value of a PWM pulse of width x * t_max_s (measured at half swing), or a DC idle.

    Pulses shorter than the edge time become triangles whose half-swing width is still x*t_max_s.
    """
    if not 0.0 <= x <= 1.0:
        raise ConfigError("x", x, "a pulse fraction in [0, 1]")
    width = x * t_max_s
    if width <= 0.0:
        return f"dc {v_idle:.6g}"
    edge = min(t_edge_s, width)
    flat = max(width - edge, 0.0)
    period = 10 * (t_delay_s + 2 * edge + flat + 1e-9)
    return (
        f"pulse({v_idle:.6g} {v_on:.6g} {t_delay_s:.6g} {edge:.6g} {edge:.6g} {flat:.6g} {period:.6g})"
    )


def pwm_row_sources(cfg: ArrayConfig, rl: str, rlb: str, x: float, tag: str) -> str:
    """The two ideal PWM sources of one row (read line and its complement), input fraction x."""
    c = cfg.cell
    kw = dict(t_max_s=cfg.t_max_s, t_edge_s=cfg.t_edge_s, t_delay_s=cfg.t_delay_s, v_idle=c.v_mid_v)
    return (
        f"vrl{tag} {rl} 0 {pwm_pulse_spec(x, v_on=cfg.read_v, **kw)}\n"
        f"vrlb{tag} {rlb} 0 {pwm_pulse_spec(x, v_on=c.vdd_v - cfg.read_v, **kw)}\n"
    )


def integrator_block(cfg: ArrayConfig, bl: str, tag: str) -> str:
    """Integrator at bitline end `bl`; output node `int<tag>` (virtual ground) or `bl` itself."""
    if cfg.integrator == "virtual_ground":
        return (
            f"eint{tag} int{tag} 0 vmid {bl} {cfg.integrator_gain:g}\n"
            f"cint{tag} int{tag} {bl} {cfg.c_int_f:g}\n"
            f"rint{tag} int{tag} {bl} {R_INT_BIAS_OHM:g}\n"
        )
    return f"cint{tag} {bl} 0 {cfg.c_int_f:g}\n"


def integrator_charge(cfg: ArrayConfig, vectors: dict[str, np.ndarray], bl: str, tag: str) -> np.ndarray:
    """Charge sunk from the bitline since t = 0, coulombs, as a time series."""
    v_bl = np.real(vectors[f"v({bl})"])
    if cfg.integrator == "virtual_ground":
        v_c = np.real(vectors[f"v(int{tag})"]) - v_bl
        return cfg.c_int_f * (v_c - v_c[0])
    return cfg.c_int_f * (v_bl[0] - v_bl)


# ------------------------------------------------------------------------------------------
# Array
# ------------------------------------------------------------------------------------------


def row_nodes(name: str, row: int) -> tuple[str, str]:
    """Driver-side nodes (read line, complementary read line) of `row` of array `name`."""
    return f"{name}_rl{row}", f"{name}_rlb{row}"


def col_node(name: str, col: int) -> str:
    """Integrator-side end of the bitline of column `col` of array `name`."""
    return f"{name}_bl{col}"


def storage_node(name: str, row: int, col: int) -> str:
    """Storage node of cell (row, col) of array `name`."""
    return f"{name}_sn{row}_{col}"


def _ladder(prefix: str, nodes: Sequence[str], r_ohm: float, c_f: float) -> str:
    """Series R between consecutive nodes and C to ground at every node except the first."""
    out = []
    for k in range(1, len(nodes)):
        if r_ohm > 0:
            out.append(f"r{prefix}_{k} {nodes[k - 1]} {nodes[k]} {r_ohm:g}")
        if c_f > 0:
            out.append(f"c{prefix}_{k} {nodes[k]} 0 {c_f:g}")
    return "\n".join(out) + ("\n" if out else "")


def array_body(
    cfg: ArrayConfig, v_store_v: np.ndarray, name: str = "a", subckt: str = "gc_cell",
    storage: str = "ic",
) -> str:
    """Cells, read-line and bitline RC ladders and the stored voltages of one N x M array.

    `v_store_v` [n_rows, n_cols] (volts) are the stored voltages. External nodes: the row
    drivers connect to `row_nodes(name, r)`, the column periphery to `col_node(name, c)`; the
    supply nodes `vdd`, `whold`, `wwloff` come from `circuits.gaincell_cell.supplies`.
    The subcircuit definition (`cell_subckt(cfg.cell, subckt)`) must be in the netlist once.
    `storage`: "ic" sets each storage node with `.ic`; "param" passes the stored voltage as
    the subcircuit parameter `v_store` instead (the read-only cell of circuits/readcell.py
    biases its storage node from it).
    """
    one_of("storage", storage, STORAGE_MODES)
    v = np.asarray(v_store_v, dtype=float)
    if v.shape != (cfg.n_rows, cfg.n_cols):
        raise ConfigError("v_store_v", v.shape, f"an array of shape ({cfg.n_rows}, {cfg.n_cols})")
    if np.any(v < -0.2) or np.any(v > cfg.cell.vdd_v + 0.2):
        raise ConfigError("v_store_v", f"[{v.min():g}, {v.max():g}]", "volts within [-0.2, VDD+0.2]")
    # A zero resistance collapses a ladder segment onto one node.
    def rnode(kind: str, r: int, c: int) -> str:
        if cfg.r_rl_ohm_per_cell == 0:
            return row_nodes(name, r)[0 if kind == "rl" else 1]
        return f"{name}_{kind}{r}_{c}"

    def bnode(r: int, c: int) -> str:
        return col_node(name, c) if cfg.r_bl_ohm_per_cell == 0 else f"{name}_b{r}_{c}"

    out = [f"* array {name}: {cfg.n_rows} x {cfg.n_cols} gain cells"]
    for r in range(cfg.n_rows):
        for kind, drv in zip(("rl", "rlb"), row_nodes(name, r)):
            nodes = [drv] + [rnode(kind, r, c) for c in range(cfg.n_cols)]
            if cfg.r_rl_ohm_per_cell > 0:
                out.append(_ladder(f"{name}_{kind}{r}", nodes, cfg.r_rl_ohm_per_cell, cfg.c_rl_f_per_cell).rstrip())
            elif cfg.c_rl_f_per_cell > 0:
                out.append(f"c{name}_{kind}{r} {drv} 0 {cfg.c_rl_f_per_cell * cfg.n_cols:g}")
    for c in range(cfg.n_cols):
        nodes = [bnode(r, c) for r in range(cfg.n_rows)] + [col_node(name, c)]
        if cfg.r_bl_ohm_per_cell > 0:
            out.append(_ladder(f"{name}_bl{c}", nodes, cfg.r_bl_ohm_per_cell, 0.0).rstrip())
        if cfg.c_bl_f_per_cell > 0:
            for r in range(cfg.n_rows):
                out.append(f"c{name}_b{r}_{c} {bnode(r, c)} 0 {cfg.c_bl_f_per_cell:g}")
    ics = []
    for r in range(cfg.n_rows):
        for c in range(cfg.n_cols):
            sn = storage_node(name, r, c)
            line = cell_instance(
                f"{name}_{r}_{c}", bl=bnode(r, c), rl=rnode("rl", r, c), rlb=rnode("rlb", r, c),
                wbl="whold", wwl="wwloff", sn=sn, subckt=subckt,
            ).rstrip()
            out.append(line + (f" v_store={v[r, c]:.6g}" if storage == "param" else ""))
            if storage == "ic":
                ics.append(f"v({sn})={v[r, c]:.6g}")
    for k in range(0, len(ics), 8):
        out.append(".ic " + " ".join(ics[k : k + 8]))
    return "\n".join(x for x in out if x) + "\n"


def array_testbench(
    cfg: ArrayConfig, v_store_v: np.ndarray, x: Sequence[float], name: str = "a", title: str | None = None
) -> str:
    """A complete netlist: the array, ideal PWM row drivers with inputs `x` [n_rows], and one
    integrator per column (outputs `v(int<c>)` for the virtual ground). No analysis card: run it
    with `tran_command(cfg)`.
    """
    xs = np.asarray(x, dtype=float)
    if xs.shape != (cfg.n_rows,):
        raise ConfigError("x", xs.shape, f"{cfg.n_rows} pulse fractions in [0, 1]")
    net = header(cfg.cell, title or f"gain-cell array {cfg.n_rows}x{cfg.n_cols}")
    net += supplies(cfg.cell) + cell_subckt(cfg.cell)
    net += array_body(cfg, v_store_v, name)
    for r in range(cfg.n_rows):
        rl, rlb = row_nodes(name, r)
        net += pwm_row_sources(cfg, rl, rlb, float(xs[r]), tag=f"{name}{r}")
    for c in range(cfg.n_cols):
        net += integrator_block(cfg, col_node(name, c), tag=str(c))
    return net + ".end\n"


def tran_command(cfg: ArrayConfig, max_step_s: float | None = None) -> str:
    """The `tran` control command for a read of `cfg`'s timing."""
    step = max_step_s or min(cfg.t_edge_s / 2, cfg.t_max_s / 100)
    return f"tran {step / 10:.4g} {cfg.t_stop_s:.6g} 0 {step:.4g}"


# ------------------------------------------------------------------------------------------
# Example netlists shipped in netlists/ (runnable with `gaincell simulate`)
# ------------------------------------------------------------------------------------------

#: sky130 library path used by the shipped examples: relative to the repository root, where
#: `make setup` creates the .venv (`gaincell simulate` runs from there).
EXAMPLE_LIB = ".venv/lib/python3.11/site-packages/sky130/src/sky130_fd_pr/combined_models/sky130.lib.spice"


def example_netlists() -> dict[str, str]:
    """File name -> text of the example netlists of netlists/ (default configs)."""
    from circuits.gaincell_cell import GainCellConfig, cell_instance
    from circuits.igzo import IgzoConfig, igzo_subckt
    from circuits.sky130_models import combined_library

    def portable(text: str) -> str:
        return text.replace(str(combined_library()), EXAMPLE_LIB)

    cell = GainCellConfig()
    note = "* generated by circuits.array.example_netlists(); run from the repository root:\n"
    iv = header(cell, "gain cell DC read current I(V_store) at V_in = VDD (default GainCellConfig)")
    iv += note + supplies(cell) + cell_subckt(cell)
    iv += "vsn sn 0 0.45\nvin rl 0 0.9\nerlb rlb 0 vdd rl 1\nvbl bl vmid 0\n"
    iv += cell_instance("c", bl="bl", rl="rl", rlb="rlb", wbl="whold", wwl="wwloff", sn="sn")
    iv += "* sunk cell current = -i(vbl)\n.dc vsn 0 0.9 0.05\n.end\n"

    col = ArrayConfig(cell=cell, n_rows=8, n_cols=1)
    v = np.linspace(0.0, cell.vdd_v, 8)[:, None]
    x = np.linspace(1.0, 0.125, 8)
    body = array_testbench(col, v, x, title="gain-cell column, 8 rows, PWM inputs, virtual-ground integrator")
    body = body.replace(".end\n", "") + note + f".tran {tran_command(col).split(maxsplit=1)[1]}\n"
    body += "* column charge = 1e-12 * (v(int0) - v(a_bl0)); see circuits/array.py\n.end\n"
    lib = "* IGZO-like TFT model card (behavioral); include it with .include netlists/igzo_tft.lib\n"
    lib += igzo_subckt(IgzoConfig())
    return {
        "gaincell_iv.cir": portable(iv),
        "column_read.cir": portable(body),
        "igzo_tft.lib": lib,
    }
