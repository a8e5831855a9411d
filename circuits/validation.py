"""Validation of circuit config dataclasses: every bad value names its field and allowed range."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from gaincell.errors import ConfigError


def in_range(
    field: str,
    value: Any,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lo_open: bool = False,
    integer: bool = False,
    source: str | None = None,
) -> None:
    """Raise ConfigError unless lo <= value <= hi (lo < value when lo_open), finite, numeric."""
    allowed = _describe(lo, hi, lo_open, integer)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(field, value, allowed, source)
    if integer and int(value) != value:
        raise ConfigError(field, value, allowed, source)
    if not math.isfinite(float(value)):
        raise ConfigError(field, value, allowed, source)
    if lo is not None and (value <= lo if lo_open else value < lo):
        raise ConfigError(field, value, allowed, source)
    if hi is not None and value > hi:
        raise ConfigError(field, value, allowed, source)


def one_of(field: str, value: Any, choices: tuple, source: str | None = None) -> None:
    """Raise ConfigError unless value is one of `choices`."""
    if value not in choices:
        raise ConfigError(field, value, "one of " + ", ".join(map(str, choices)), source)


def _describe(lo, hi, lo_open, integer) -> str:
    kind = "integer" if integer else "number"
    left = f"{'>' if lo_open else '>='} {lo:g}" if lo is not None else ""
    right = f"<= {hi:g}" if hi is not None else ""
    return " and ".join(p for p in (f"{kind} {left}".strip(), right) if p)


def replace_validated(cfg: Any, **changes: Any) -> Any:
    """`dataclasses.replace` with a clear error for unknown field names (validation reruns)."""
    names = {f.name for f in dataclasses.fields(cfg)}
    for key in changes:
        if key not in names:
            raise ConfigError(key, changes[key], f"a field of {type(cfg).__name__}: {sorted(names)}")
    return dataclasses.replace(cfg, **changes)
