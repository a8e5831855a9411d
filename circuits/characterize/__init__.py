"""Characterization of each circuit: sweeps, transients and Monte Carlo turned into a result folder
(`result.json` + `data.npz` + PNG plots, schema in docs/INTERFACES.md).

Each cell has its own module exposing
`characterize(out_dir: Path, *, seed: int, workers: int | None, quick: bool) -> dict`
(the result record it wrote). `CELL_MODULES` maps the names accepted by
`gaincell characterize --cell` to those modules.
"""

from __future__ import annotations

CELL_MODULES: dict[str, str] = {
    "gaincell": "circuits.characterize.gaincell_cell",
    "column": "circuits.characterize.column",
    "drivers": "circuits.characterize.drivers",
    "c2p": "circuits.characterize.c2p",
    "readpath": "circuits.characterize.readpath",
    "acam": "circuits.characterize.acam",
}
