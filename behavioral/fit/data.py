"""Readers for the data the fits consume: characterization result folders and user CSV files.

- `load_characterization(folder)`: a `runs/characterize/<cell>/` folder (schema
  `gaincell.characterization/1`, see docs/INTERFACES.md): `result.json` + `data.npz`.
- `load_csv(path)`: a user table with units in the column names. Recognized kinds:
  * `iv`: columns `v_store_v`, `v_in_v`, `i_out_a` (DC read current of one cell, amperes), as
    in the authors' `reference_cell_iv.csv`;
  * `mac`: columns `x` (pulse width / t_max), `v_store_v`, `charge_c` (read charge, coulombs);
  * `retention`: columns `time_s`, `v_store_v`, optional `temperature_c`.
  Column names are matched case-insensitively; '#' lines are comments.
"""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from gaincell.errors import CardError, ConfigError
from gaincell.provenance import sha256_file

CHARACTERIZATION_SCHEMA = "gaincell.characterization/1"
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

CSV_KINDS: dict[str, tuple[str, ...]] = {
    "iv": ("v_store_v", "v_in_v", "i_out_a"),
    "mac": ("x", "v_store_v", "charge_c"),
    "retention": ("time_s", "v_store_v"),
}


@dataclass(frozen=True)
class Characterization:
    """One characterization folder: its result.json dict and its arrays."""

    folder: str
    cell: str
    result: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]
    sha256: Mapping[str, str]

    def scalar(self, analysis: str, name: str) -> float | None:
        """`results[analysis][name]` as a float, or None when absent."""
        value = self.result.get("results", {}).get(analysis, {}).get(name)
        return None if value is None else float(value)

    def array(self, name: str) -> np.ndarray:
        """A named array of data.npz; CardError naming the folder when it is missing."""
        if name not in self.arrays:
            raise CardError(str(Path(self.folder) / "data.npz"), name, "array missing")
        return self.arrays[name]


def load_characterization(folder: str | Path) -> Characterization:
    """Read `result.json` and its `data.npz`; errors name the file and field at fault."""
    folder = Path(folder)
    rpath = folder / "result.json"
    try:
        result = json.loads(rpath.read_text())
    except OSError as exc:
        raise CardError(str(rpath), "<file>", f"cannot read: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise CardError(str(rpath), "<file>", f"not valid JSON (line {exc.lineno}: {exc.msg})") from None
    if result.get("schema") != CHARACTERIZATION_SCHEMA:
        raise CardError(str(rpath), "schema", f"expected {CHARACTERIZATION_SCHEMA!r}, got {result.get('schema')!r}")
    for key in ("cell", "provenance", "results"):
        if key not in result:
            raise CardError(str(rpath), key, "missing")
    dpath = folder / result.get("data_file", "data.npz")
    try:
        with np.load(dpath) as npz:
            arrays = {k: np.asarray(npz[k]) for k in npz.files}
    except OSError as exc:
        raise CardError(str(dpath), "<file>", f"cannot read: {exc}") from None
    return Characterization(str(folder), str(result["cell"]), result, arrays,
                            {"result.json": sha256_file(rpath), dpath.name: sha256_file(dpath)})


@dataclass(frozen=True)
class CsvTable:
    """A user CSV: its kind, columns (lower-case name -> float array) and hash."""

    path: str
    kind: str
    columns: Mapping[str, np.ndarray]
    sha256: str


def load_csv(path: str | Path, kind: str | None = None) -> CsvTable:
    """Read a user CSV table; the kind is detected from its column names unless given."""
    path = Path(path)
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    except OSError as exc:
        raise ConfigError("csv", str(path), f"a readable file ({exc.strerror or exc})") from None
    if len(lines) < 2:
        raise ConfigError("csv", str(path), "a header line and at least one data row")
    rows = list(csv.reader(lines))
    header = [h.strip().lower() for h in rows[0]]
    try:
        data = np.array([[float(c) for c in r] for r in rows[1:]], dtype=float)
    except ValueError as exc:
        raise ConfigError("csv", str(path), f"numeric data rows ({exc})") from None
    if data.ndim != 2 or data.shape[1] != len(header):
        raise ConfigError("csv", str(path), f"{len(header)} columns in every row")
    if not np.all(np.isfinite(data)):
        raise ConfigError("csv", str(path), "finite numbers only")
    cols = {h: data[:, i] for i, h in enumerate(header)}
    if kind is None:
        found = [k for k, need in CSV_KINDS.items() if all(n in cols for n in need)]
        if not found:
            allowed = "; ".join(f"{k}: {', '.join(v)}" for k, v in CSV_KINDS.items())
            raise ConfigError("csv columns", header, f"one of the column sets ({allowed})", source=str(path))
        kind = found[0]
    elif kind not in CSV_KINDS:
        raise ConfigError("csv kind", kind, " | ".join(CSV_KINDS))
    missing = [n for n in CSV_KINDS[kind] if n not in cols]
    if missing:
        raise ConfigError("csv columns", header, f"must include {', '.join(CSV_KINDS[kind])}", source=str(path))
    return CsvTable(str(path), kind, cols, sha256_file(path))


def iv_pwm_slice(table: CsvTable) -> tuple[np.ndarray, np.ndarray, float]:
    """The read current versus stored voltage at the PWM 'on' input level (the highest v_in_v).

    Returns (v_store_v [N], current_a [N], v_in_on_v). With pulse-width modulation the input
    is either off or at this level, so charge = t_max * x * I(V_store).
    """
    if table.kind != "iv":
        raise ConfigError("csv kind", table.kind, "iv", source=table.path)
    v_in = table.columns["v_in_v"]
    on = float(v_in.max())
    sel = np.isclose(v_in, on)
    v = table.columns["v_store_v"][sel]
    i = table.columns["i_out_a"][sel]
    order = np.argsort(v)
    if order.size < 6:
        raise ConfigError("csv", table.path, "at least 6 points at the highest v_in_v")
    return v[order], i[order], on


def portable_path(path: str | os.PathLike) -> str:
    """A path fit to record in a shipped card: relative to the repository when inside it,
    else the file's name alone (its sha256 identifies it); never a machine's absolute path."""
    p = Path(path)
    try:
        full = p.resolve()
    except OSError:
        return p.name
    try:
        return full.relative_to(REPO_ROOT).as_posix()
    except ValueError:
        return p.as_posix() if not p.is_absolute() and ".." not in p.parts else p.name


def scrub_paths(obj: Any) -> Any:
    """Replace absolute file paths in a provenance record by `portable_path`."""
    if isinstance(obj, dict):
        return {k: scrub_paths(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [scrub_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and " " not in obj:
        return portable_path(obj)
    return obj
