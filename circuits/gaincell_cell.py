"""The gain cell: configuration and SPICE netlist builder.

Cell (after Leroux et al. 2025, Fig. 1d): a storage capacitor on node `sn`, a write access
transistor from the write bitline `wbl` to `sn` gated by the write wordline `wwl`, and a
push-pull read pair whose gates sit on `sn`:

    PMOS: source on the read line `rl` (input voltage V_in), drain on the bitline `bl`
    NMOS: source on the complementary read line `rlb` (VDD - V_in), drain on `bl`

The bitline is held at VDD/2 by the column's integrator. When the read lines idle at VDD/2 no
current flows; during a read pulse (V_in > VDD/2) a low stored voltage lets the PMOS source
current into the bitline and a high one lets the NMOS sink it, so the output current is signed
and about zero at V_store = VDD/2. Sign convention (docs/INTERFACES.md): positive = sunk from the
bitline, growing with V_store.

Subcircuit ports, in order: `bl rl rlb wbl wwl sn vdd vss`. The storage node is a port so that a
test bench can set it (`.ic`) or probe it; leave it unconnected elsewhere.

Write device: `si` (sky130 nfet_01v8, retention of milliseconds) or `igzo` (the oxide-semiconductor
card of circuits/igzo.py, off-current ~1e-19 A/um).

Default read pair (nfet_01v8_lvt 0.5/0.8 um, pfet_01v8_lvt 0.75/0.5 um): chosen by a grid search
over the sky130 flavours (regular/lvt/hvt) and W, L in 0.42-2.1 um / 0.15-2 um against the
authors' table (../shared/data/reference_cell_iv.csv), keeping the two gate areas within 15 % of
each other so that the opposite read-line swings couple (almost) equally into the storage node.
Measured DC error: 5.7-6.1 % of full scale RMS over V_store in [0, 0.9] V, V_in in [0.45, 0.9] V
(the characterization reports it as `results.iv.reference`); the best unbalanced pair reached
5.1 %. The sky130 pair has a flatter zone around VDD/2 than the authors' cell.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from circuits.igzo import IGZO_SUBCKT, IgzoConfig, igzo_subckt
from circuits.sky130_models import SKY130_CORNERS, lib_line
from circuits.validation import in_range, one_of
from gaincell.errors import ConfigError

#: Read-pair flavours offered and their minimum channel length in the sky130 models, micrometres.
READ_NFETS: dict[str, float] = {"nfet_01v8": 0.15, "nfet_01v8_lvt": 0.15}
READ_PFETS: dict[str, float] = {"pfet_01v8": 0.15, "pfet_01v8_lvt": 0.35, "pfet_01v8_hvt": 0.15}
WRITE_DEVICES: tuple[str, ...] = ("si", "igzo")
#: Minimum drawn width of the sky130 1.8 V transistors, micrometres.
MIN_W_UM = 0.42
#: Length of the source/drain diffusion beside the gate (for junction area/perimeter), micrometres.
DIFF_LENGTH_UM = 0.29


@dataclass(frozen=True)
class GainCellConfig:
    """Every parameter of one gain cell (validated on construction; bad values raise ConfigError).

    Attributes:
        vdd_v: supply voltage, volts; the bitline and idle read lines sit at vdd_v / 2.
        c_store_f: storage capacitance, farads (ideal capacitor, e.g. a MIM cap).
        read_nfet / read_pfet: sky130 flavours of the read pair (see READ_NFETS / READ_PFETS).
        w_read_n_um, l_read_n_um, w_read_p_um, l_read_p_um: read-pair width/length, micrometres.
        write_device: "si" (sky130 nfet_01v8) or "igzo" (circuits/igzo.py card).
        w_write_um, l_write_um: silicon write-transistor width/length, micrometres.
        igzo: IGZO write-transistor parameters (used when write_device == "igzo").
        v_wwl_on_v: write wordline high level, volts; None picks 1.8 V for si (the 1.8 V device
            limit) and 2.5 V for igzo (above max V_store + its threshold).
        v_wwl_off_v: write wordline hold level, volts.
        v_wbl_hold_v: write bitline level while the cell holds, volts; None = vdd_v / 2, so the
            stored weight (V_store - vdd_v/2) decays towards zero.
        temperature_c: simulation temperature, degrees Celsius.
        corner: sky130 process corner (tt default; *_mm variants enable mismatch).
    """

    vdd_v: float = 0.9
    c_store_f: float = 10e-15
    read_nfet: str = "nfet_01v8_lvt"
    read_pfet: str = "pfet_01v8_lvt"
    w_read_n_um: float = 0.5
    l_read_n_um: float = 0.8
    w_read_p_um: float = 0.75
    l_read_p_um: float = 0.5
    write_device: str = "si"
    w_write_um: float = 0.42
    l_write_um: float = 0.15
    igzo: IgzoConfig = field(default_factory=IgzoConfig)
    v_wwl_on_v: float | None = None
    v_wwl_off_v: float = 0.0
    v_wbl_hold_v: float | None = None
    temperature_c: float = 27.0
    corner: str = "tt"

    def __post_init__(self) -> None:
        in_range("vdd_v", self.vdd_v, 0.5, 1.8)
        in_range("c_store_f", self.c_store_f, 1e-17, 1e-11)
        one_of("read_nfet", self.read_nfet, tuple(READ_NFETS))
        one_of("read_pfet", self.read_pfet, tuple(READ_PFETS))
        in_range("w_read_n_um", self.w_read_n_um, MIN_W_UM, 100.0)
        in_range("l_read_n_um", self.l_read_n_um, READ_NFETS[self.read_nfet], 20.0)
        in_range("w_read_p_um", self.w_read_p_um, MIN_W_UM, 100.0)
        in_range("l_read_p_um", self.l_read_p_um, READ_PFETS[self.read_pfet], 20.0)
        one_of("write_device", self.write_device, WRITE_DEVICES)
        in_range("w_write_um", self.w_write_um, MIN_W_UM, 100.0)
        in_range("l_write_um", self.l_write_um, 0.15, 20.0)
        if not isinstance(self.igzo, IgzoConfig):
            raise ConfigError("igzo", self.igzo, "an IgzoConfig")
        if self.v_wwl_on_v is not None:
            in_range("v_wwl_on_v", self.v_wwl_on_v, 0.0, 5.0)
        in_range("v_wwl_off_v", self.v_wwl_off_v, -2.0, 1.0)
        if self.v_wbl_hold_v is not None:
            in_range("v_wbl_hold_v", self.v_wbl_hold_v, 0.0, self.vdd_v)
        in_range("temperature_c", self.temperature_c, -55.0, 150.0)
        one_of("corner", self.corner, SKY130_CORNERS)

    # -- derived levels ------------------------------------------------------------------
    @property
    def v_mid_v(self) -> float:
        """Bitline / idle read-line level, VDD/2, volts."""
        return self.vdd_v / 2.0

    @property
    def wwl_on_v(self) -> float:
        """Write wordline high level actually used, volts."""
        if self.v_wwl_on_v is not None:
            return self.v_wwl_on_v
        return 1.8 if self.write_device == "si" else 2.5

    @property
    def wbl_hold_v(self) -> float:
        """Write bitline level while holding, volts."""
        return self.v_mid_v if self.v_wbl_hold_v is None else self.v_wbl_hold_v


# ------------------------------------------------------------------------------------------
# Netlist text
# ------------------------------------------------------------------------------------------


def _geom(w_um: float, l_um: float) -> str:
    """Instance geometry (sky130 scale is 1 um) with source/drain junction area and perimeter."""
    a = w_um * DIFF_LENGTH_UM
    p = 2 * (w_um + DIFF_LENGTH_UM)
    return f"w={w_um:g} l={l_um:g} ad={a:g} as={a:g} pd={p:g} ps={p:g}"


def cell_subckt(cfg: GainCellConfig, name: str = "gc_cell") -> str:
    """`.subckt name bl rl rlb wbl wwl sn vdd vss` for `cfg` (plus the IGZO card when used).

    Temperature-dependent IGZO parameters follow `cfg.temperature_c`.
    """
    lines = [f"* gain cell '{name}': write={cfg.write_device}, C_store={cfg.c_store_f:g} F"]
    if cfg.write_device == "igzo":
        lines.append(igzo_subckt(cfg.igzo).rstrip())
    lines.append(f".subckt {name} bl rl rlb wbl wwl sn vdd vss")
    lines.append(
        f"xp bl sn rl vdd sky130_fd_pr__{cfg.read_pfet} {_geom(cfg.w_read_p_um, cfg.l_read_p_um)}"
    )
    lines.append(
        f"xn bl sn rlb vss sky130_fd_pr__{cfg.read_nfet} {_geom(cfg.w_read_n_um, cfg.l_read_n_um)}"
    )
    if cfg.write_device == "si":
        lines.append(
            f"xw wbl wwl sn vss sky130_fd_pr__nfet_01v8 {_geom(cfg.w_write_um, cfg.l_write_um)}"
        )
    else:
        lines.append(f"xw wbl wwl sn {IGZO_SUBCKT} temp_c={cfg.temperature_c:g}")
    lines.append(f"cs sn vss {cfg.c_store_f:g}")
    lines.append(f".ends {name}")
    return "\n".join(lines) + "\n"


def header(cfg: GainCellConfig, title: str, leakage: bool = False) -> str:
    """Title, sky130 library (corner), temperature and solver options shared by every bench.

    `leakage=True` sets options for hold/retention transients spanning seconds to months of a
    nearly static circuit: Gear integration with the truncation-error control relaxed (trtol,
    chgtol), so the step is bounded by the `tran` max step (span / 1000) rather than by ngspice's
    charge tolerance (with chgtol = 1e-10 C it holds a fixed ~32 s step: 316k steps, minutes, for
    a 1e7 s IGZO hold). Checked: IGZO retention at 27 C and 85 C over 1e6 s equal within 1e-6 V
    at 7 log-spaced times with chgtol = 1e-10 C (31.6k steps) and chgtol = 1 C (1010 steps);
    silicon retention over 0.2 s identical (1010 steps either way).
    """
    opts = ".options method=gear trtol=1000 chgtol=1\n" if leakage else ""
    return f"* {title}\n{lib_line(cfg.corner)}\n.temp {cfg.temperature_c:g}\n{opts}"


def cell_instance(
    name: str,
    *,
    bl: str,
    rl: str,
    rlb: str,
    wbl: str,
    wwl: str,
    sn: str,
    vdd: str = "vdd",
    vss: str = "0",
    subckt: str = "gc_cell",
) -> str:
    """One instance line of the cell subcircuit (`name` without the leading x)."""
    return f"x{name} {bl} {rl} {rlb} {wbl} {wwl} {sn} {vdd} {vss} {subckt}\n"


def supplies(cfg: GainCellConfig) -> str:
    """VDD, the VDD/2 reference, and the hold levels of the write lines (nodes vdd, vmid, whold, wwloff)."""
    return (
        f"vvdd vdd 0 {cfg.vdd_v:g}\n"
        f"vvmid vmid 0 {cfg.v_mid_v:g}\n"
        f"vwhold whold 0 {cfg.wbl_hold_v:g}\n"
        f"vwwloff wwloff 0 {cfg.v_wwl_off_v:g}\n"
    )
