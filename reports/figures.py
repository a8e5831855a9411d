"""Sourced numbers: every figure the reports layer prints carries its unit and where it came from.

`Sourced` is the one value type of the cost model; `published(key)` reads the cited table
`reports/data/published_figures.json` (each number stored beside its reference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from gaincell.errors import ConfigError

PUBLISHED_FIGURES_PATH = Path(__file__).parent / "data" / "published_figures.json"


@dataclass(frozen=True)
class Sourced:
    """A number with its unit and its source (card field, cited table entry, measurement file,
    config field, or 'derived: <formula>' over other sourced numbers)."""

    value: float
    unit: str
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "unit": self.unit, "source": self.source}


@lru_cache(maxsize=1)
def _table() -> dict[str, Any]:
    data = json.loads(PUBLISHED_FIGURES_PATH.read_text())
    if data.get("schema") != "gaincell.published_figures/1":
        raise ConfigError("schema", data.get("schema"), "gaincell.published_figures/1",
                          source=str(PUBLISHED_FIGURES_PATH))
    return data


def references() -> dict[str, str]:
    """Reference key -> full citation."""
    return dict(_table()["references"])


def published(key: str) -> Sourced:
    """One cited figure, e.g. `published('horowitz2014.int8_add_j')`; its source names the
    reference key and the table entry."""
    figs = _table()["figures"]
    if key not in figs:
        raise ConfigError("figure", key, "a key of " + PUBLISHED_FIGURES_PATH.name,
                          source=str(PUBLISHED_FIGURES_PATH))
    entry = figs[key]
    ref = entry["source"]
    return Sourced(float(entry["value"]), entry["unit"], f"{ref} [published_figures.json:{key}]")


def assumptions() -> dict[str, dict[str, Any]]:
    """gaincell's own modelling assumptions from the table (key -> value, unit, note)."""
    return {k: dict(v) for k, v in _table()["figures"].items() if k.startswith("assumption.")}
