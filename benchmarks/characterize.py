"""Wall time of the full characterization of every registered cell, cold and cached.

Cold: a fresh, empty SPICE cache folder, so every ngspice job runs. Cached: the same
characterization again, every job served from that cache. Cells whose module does not exist yet
are listed as missing. Goal on a 2-core machine: cold <= 300 s, cached <= 5 s.

    python benchmarks/characterize.py [--quick] [--workers N] [--cells gaincell,column] [--out DIR]

Prints a table; the last line is one JSON object (cold_s, cached_s, per-cell times).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _run_all(cells: list[str], out: Path, workers: int | None, quick: bool, seed: int) -> dict[str, float]:
    from circuits.characterize import CELL_MODULES

    times = {}
    for cell in cells:
        module = importlib.import_module(CELL_MODULES[cell])
        t0 = time.perf_counter()
        module.characterize(out / cell, seed=seed, workers=workers, quick=quick)
        times[cell] = time.perf_counter() - t0
    return times


def main(argv: list[str] | None = None) -> int:
    from circuits.characterize import CELL_MODULES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small grids (smoke run)")
    ap.add_argument("--workers", type=int, default=None, help="ngspice worker processes")
    ap.add_argument("--cells", default=None, help="comma-separated subset of the registered cells")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="result folders (default: a temp dir)")
    args = ap.parse_args(argv)

    wanted = args.cells.split(",") if args.cells else list(CELL_MODULES)
    present, missing = [], []
    for cell in wanted:
        try:
            importlib.import_module(CELL_MODULES[cell])
            present.append(cell)
        except ModuleNotFoundError:
            missing.append(cell)
    with tempfile.TemporaryDirectory(prefix="gaincell-bench-") as tmp:
        out = args.out or Path(tmp) / "out"
        os.environ["GAINCELL_CACHE_DIR"] = str(Path(tmp) / "cache")  # cold: empty cache
        t0 = time.perf_counter()
        cold = _run_all(present, out, args.workers, args.quick, args.seed)
        cold_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = _run_all(present, out, args.workers, args.quick, args.seed)
        cached_s = time.perf_counter() - t0

    print(f"{'cell':<12}{'cold (s)':>12}{'cached (s)':>12}")
    for cell in present:
        print(f"{cell:<12}{cold[cell]:>12.1f}{cached[cell]:>12.2f}")
    print(f"{'total':<12}{cold_s:>12.1f}{cached_s:>12.2f}   (goal: cold <= 300 s, cached <= 5 s)")
    if missing:
        print(f"not built yet: {', '.join(missing)}")
    print(json.dumps({
        "benchmark": "characterize", "quick": args.quick, "workers": args.workers,
        "cpu_count": os.cpu_count(), "cells": present, "missing": missing,
        "cold_s": round(cold_s, 2), "cached_s": round(cached_s, 3),
        "cold_per_cell_s": {k: round(v, 2) for k, v in cold.items()},
        "cached_per_cell_s": {k: round(v, 3) for k, v in cached.items()},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
