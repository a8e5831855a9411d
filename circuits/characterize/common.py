"""Writing a characterization result folder: result.json + data.npz + plots, with provenance."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from gaincell.fileio import write_bytes, write_json, write_npz
from gaincell.provenance import provenance, sha256_text

SCHEMA = "gaincell.characterization/1"


def circuit_provenance(
    *, corner: str, temperature_c: float | list[float], seed: int, netlists: Mapping[str, str]
) -> dict[str, Any]:
    """Provenance of a characterization: tools, corner, temperature(s), seed, netlist hashes."""
    return provenance(
        corner=corner,
        temperature_c=temperature_c,
        seed=seed,
        netlist_sha256={name: sha256_text(text) for name, text in netlists.items()},
    )


def save_figure(path: Path, draw: Callable[[Any], None], figsize=(6.0, 4.0)) -> Path:
    """Render a matplotlib figure (Agg) with `draw(fig)` and write it atomically as PNG."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=figsize)
    try:
        draw(fig)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    return write_bytes(path, buf.getvalue())


def write_result(
    out_dir: Path,
    *,
    cell: str,
    config: Any,
    results: dict[str, Any],
    arrays: Mapping[str, np.ndarray],
    provenance_record: dict[str, Any],
    summary: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write data.npz then result.json (the JSON last, so its presence means complete)."""
    out_dir = Path(out_dir)
    write_npz(out_dir / "data.npz", **{k: np.asarray(v) for k, v in arrays.items()})
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    record = {
        "schema": SCHEMA,
        "cell": cell,
        "config": cfg,
        "provenance": provenance_record,
        "results": results,
        "summary": summary or {},
        "data_file": "data.npz",
    }
    write_json(out_dir / "result.json", record)
    return record
