"""Read-only variant of the gain cell, for read-path transients (tens of ns to a few us).

The full cell (`circuits.gaincell_cell.cell_subckt`) has a write device between the write bitline
and the storage node. During a read path's transient nothing is written and hold leakage is
irrelevant (the silicon write device's retention is milliseconds, the IGZO one's far longer,
against ~40 ns per conversion cycle), so the read path can drop the write transistor (one BSIM4
device in three per cell). What the write device does to a read is keep two things:

- its small-signal capacitance at the storage node (junction and gate overlap to the held write
  lines, about 0.3-0.4 fF for the default si device), which sets how much of the read-line swing
  couples onto the floating storage node through the read pair. It is measured here by an AC
  analysis of the full cell at every stored level (`write_device_capacitance`) and added to the
  storage capacitor as a linear capacitor (its mean over the levels): without it phi moves by
  up to 0.015 on the 64-row read path;
- a DC path to the storage node. The read-only cell has a 1 TOhm resistor from the storage node
  to its `wbl` port, which the array holds at the cell's stored level
  (`circuits.array.array_body(..., storage="level")`). The operating point then starts with the
  stored voltages without `.ic` (with `.ic` on thousands of floating nodes ngspice needs dynamic
  gmin stepping, ~175 iterations, about 20 s on a 64 x 8 tile), and the resistor's time constant
  (C_store x 1 TOhm, about 12 ms) leaves the node floating over the transient: the drift it
  allows is 1e-4 of the read-line coupling step per microsecond.

Ports are those of the full cell, `bl rl rlb wbl wwl sn vdd vss` (wwl unused), so the array
builders take either subcircuit.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from circuits.gaincell_cell import GainCellConfig, _geom, cell_instance, cell_subckt, supplies
from circuits.sky130_models import lib_line
from circuits.sky130_pruned import inline_models

#: Storage-node bias resistor of the read-only cell, ohms.
R_HOLD_OHM = 1e10
#: Frequency of the AC analysis that measures the write device's capacitance, Hz (the DC bias
#: path's 1e8 Ohm conductance is then 1e-3 of the susceptance of ~12 fF).
_AC_FREQ_HZ = 1e8
_AC_BIAS_OHM = 1e8


def readonly_cell_subckt(cfg: GainCellConfig, c_write_f: float, name: str = "gc_read") -> str:
    """`.subckt name bl rl rlb wbl wwl sn vdd vss`: read pair, storage capacitor
    c_store_f + c_write_f (farads), and R_HOLD_OHM from sn to wbl (the stored level)."""
    return "\n".join([
        f"* read-only gain cell '{name}': C_store={cfg.c_store_f:g} F + write-device {c_write_f:.4g} F",
        f".subckt {name} bl rl rlb wbl wwl sn vdd vss v_store=0",
        f"xp bl sn rl vdd sky130_fd_pr__{cfg.read_pfet} {_geom(cfg.w_read_p_um, cfg.l_read_p_um)}",
        f"xn bl sn rlb vss sky130_fd_pr__{cfg.read_nfet} {_geom(cfg.w_read_n_um, cfg.l_read_n_um)}",
        f"cs sn vss {cfg.c_store_f + c_write_f:.6g}",
        f"rhold sn vss {R_HOLD_OHM:g}",
        f"ihold vss sn {{v_store / {R_HOLD_OHM:g}}}",
        f".ends {name}",
    ]) + "\n"


def write_device_capacitance_netlist(cfg: GainCellConfig, levels_v: np.ndarray) -> str:
    """AC bench: the full cell and the read-only cell without extra capacitance, each biased at
    every level of `levels_v` (read lines idle, bitline at VDD/2, write lines held)."""
    lines = [f"* write-device capacitance at the storage node ({len(levels_v)} levels)",
             lib_line(cfg.corner), f".temp {cfg.temperature_c:g}",
             cell_subckt(cfg).rstrip(), readonly_cell_subckt(cfg, 0.0, "gc_bare").rstrip(),
             supplies(cfg).rstrip()]
    for i, v in enumerate(levels_v):
        for kind in ("gc_cell", "gc_bare"):
            tag = f"{kind}{i}"
            lines += [f"vb{tag} b{tag} 0 {v:.6g}", f"rb{tag} sn{tag} b{tag} {_AC_BIAS_OHM:g}",
                      f"i{tag} 0 sn{tag} dc 0 ac 1",
                      cell_instance(tag, bl="vmid", rl="vmid", rlb="vmid",
                                    wbl="whold" if kind == "gc_cell" else f"b{tag}", wwl="wwloff",
                                    sn=f"sn{tag}", subckt=kind).rstrip()]
    lines += [f".ac lin 1 {_AC_FREQ_HZ:g} {_AC_FREQ_HZ:g}", ".end"]
    return inline_models("\n".join(lines) + "\n")


@lru_cache(maxsize=8)
def write_device_capacitance(cfg: GainCellConfig, levels: int = 8) -> float:
    """Mean extra capacitance (F) the write device adds at the storage node, over `levels`
    stored voltages evenly spaced in [0, VDD] (AC analysis of the full and the bare cell)."""
    from circuits.ngspice import SpiceJob, run_job

    levels_v = np.linspace(0.0, cfg.vdd_v, levels)
    res = run_job(SpiceJob("write_device_capacitance", write_device_capacitance_netlist(cfg, levels_v)))
    w = 2 * np.pi * _AC_FREQ_HZ
    diff = []
    for i in range(levels):
        c_full, c_bare = (1.0 / (w * np.abs(res.plot()[f"v(sn{k}{i})"][0]) ) for k in ("gc_cell", "gc_bare"))
        diff.append(c_full - c_bare)
    return float(np.mean(diff))
