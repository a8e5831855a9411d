"""Provenance records: tool versions, corner, temperature, seed and hashes of inputs."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

import gaincell


def sha256_text(text: str) -> str:
    """Hex SHA-256 of a string (UTF-8)."""
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def package_version(name: str) -> str | None:
    """Installed version of a distribution, or None when it is not installed."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def ngspice_version() -> str | None:
    """Version string of the ngspice program on PATH (e.g. 'ngspice-39'), or None."""
    try:
        out = subprocess.run(["ngspice", "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    for line in out.stdout.splitlines():
        if "ngspice-" in line:
            for tok in line.replace("*", " ").split():
                if tok.startswith("ngspice-"):
                    return tok
    return None


def tool_versions() -> dict[str, str | None]:
    """Versions of the tools whose behaviour a result depends on."""
    return {
        "gaincell": gaincell.__version__,
        "python": platform.python_version(),
        "ngspice": ngspice_version(),
        "PySpice": package_version("PySpice"),
        "sky130": package_version("sky130"),
        "numpy": package_version("numpy"),
        "scipy": package_version("scipy"),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
    }


def provenance(**extra: Any) -> dict[str, Any]:
    """A provenance record: UTC date, tool versions, plus the caller's fields.

    Callers add e.g. corner, temperature_c, seed, netlist_sha256, input hashes.
    """
    rec: dict[str, Any] = {
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tools": tool_versions(),
    }
    rec.update(extra)
    return rec
