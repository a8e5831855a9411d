"""Atomic writes: a result file is either complete or absent, never half written."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import numpy as np


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def write_json(path: str | Path, data: Any) -> Path:
    """Write `data` as indented JSON to `path` atomically (numpy values become Python numbers)."""
    text = json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n"
    return _atomic(Path(path), lambda p: p.write_text(text))


def write_text(path: str | Path, text: str) -> Path:
    """Write `text` to `path` atomically."""
    return _atomic(Path(path), lambda p: p.write_text(text))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write `data` to `path` atomically."""
    return _atomic(Path(path), lambda p: p.write_bytes(data))


def write_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    """Write arrays to a compressed .npz atomically."""

    def _w(p: Path) -> None:
        with open(p, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    return _atomic(Path(path), _w)


def append_jsonl(path: str | Path, record: dict) -> None:
    """Append one JSON line and fsync, so a killed run loses at most the line being written.

    A torn last line left by an interrupted writer is ended first, so the new record stays
    a line of its own (`read_jsonl` skips the torn one).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=_jsonable) + "\n"
    if path.exists() and path.stat().st_size > 0:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                line = "\n" + line
    with open(path, "a") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: str | Path) -> list[dict]:
    """Read a JSONL file, ignoring a trailing partial line left by an interrupted writer."""
    out: list[dict] = []
    path = Path(path)
    if not path.exists():
        return out
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out
