"""`gaincell sweep`: design space over window, array rows, bit widths and storage capacitance.

Each design point gets energy/token, latency/token and area from the cost model and, when a model
and a text are given, a perplexity from the co-design layer's evaluation (cached by the settings
that change accuracy, so points that differ only in cost reuse it). Results are appended to
`results.jsonl` one line per point (fsync'd); a rerun skips points already there, so an
interrupted sweep resumes where it stopped.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from gaincell.errors import ConfigError
from gaincell.fileio import append_jsonl, read_jsonl
from gaincell.provenance import sha256_text
from reports.card_view import CardView
from reports.config import CostConfig, ModelShape
from reports.cost_model import CostModel

RESULTS_NAME = "results.jsonl"
PERPLEXITY_CACHE_NAME = "perplexity_cache.jsonl"

PerplexityFn = Callable[[dict[str, Any]], dict[str, Any]]
"""Given the accuracy settings of a point (mode, window, array_rows, q/kv/out bits, c_store_f),
return {"perplexity_mean": x, "perplexity_std": y, "eval_file": path}."""


@dataclass(frozen=True)
class SweepGrid:
    """Values swept (None in a bit-width or capacitance list: the card's value).

    Attributes:
        windows: sliding windows W (tokens).
        array_rows: tokens per array; combinations where W is not a multiple are skipped.
        q_bits, kv_bits, out_bits: bit widths.
        c_store_f: storage capacitances (F).
        mode: analog mode costed ('gaincell' | 'linear_hw' | 'acam').
    """

    windows: tuple[int, ...] = (128, 256, 512, 1024)
    array_rows: tuple[int, ...] = (32, 64, 128)
    q_bits: tuple[int | None, ...] = (3, 4, 5)
    kv_bits: tuple[int | None, ...] = (None,)
    out_bits: tuple[int | None, ...] = (4, 5, 6)
    c_store_f: tuple[float | None, ...] = (None,)
    mode: str = "gaincell"

    def points(self) -> Iterable[CostConfig]:
        """Valid cost configurations of the grid, in a fixed order."""
        for w, r, q, kv, o, c in itertools.product(self.windows, self.array_rows, self.q_bits,
                                                    self.kv_bits, self.out_bits, self.c_store_f):
            if r > w or w % r:
                continue
            yield CostConfig(mode=self.mode, window_tokens=w, array_rows=r, q_bits=q, kv_bits=kv,
                             out_bits=o, c_store_f=c)


def accuracy_settings(cfg: CostConfig) -> dict[str, Any]:
    """The settings of a point that change the network's accuracy (co_design AttentionConfig keys).

    The storage capacitance is one: the card re-derived for it (`behavioral.c_store`) has
    another retention time constant and kT/C write noise (None: the card's capacitance)."""
    return {"mode": cfg.mode, "window": cfg.window_tokens, "array_rows": cfg.array_rows,
            "q_bits": cfg.q_bits, "kv_bits": cfg.kv_bits, "out_bits": cfg.out_bits,
            "c_store_f": cfg.c_store_f}


def end_torn_line(path: Path) -> None:
    """If a killed writer left `path` without a final newline, end that torn line, so the next
    appended record starts on a line of its own (read_jsonl then skips only the torn one)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as fh:
        fh.seek(-1, 2)
        if fh.read(1) != b"\n":
            fh.write(b"\n")
            fh.flush()
            os.fsync(fh.fileno())


def point_key(cfg: CostConfig, shape: ModelShape, card_sha256: str, with_perplexity: bool) -> str:
    """Identity of a result line: settings, model shape, card, and whether perplexity was asked."""
    ident = {"cfg": cfg.to_dict(), "shape": asdict(shape), "card": card_sha256, "ppl": with_perplexity}
    return sha256_text(json.dumps(ident, sort_keys=True, default=str))[:16]


def evaluate_point(model: CostModel) -> dict[str, float]:
    """Cost figures of one point: steady-state (full window) energy and latency per token of the
    attention core of all layers, and the area of all layers."""
    steady = model.cfg.window_tokens - 1
    e = model.energy_per_token(steady)
    return {
        "energy_per_token_j": e["attention_core_model_j"].value,
        "energy_per_token_per_head_j": e["attention_core_per_head_j"].value,
        "latency_per_token_s": model.latency_per_token()["attention_model_s"].value,
        "area_m2": model.area_total()["model_m2"].value,
    }


def pareto_front(rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[int]:
    """Indices of rows not dominated on `keys` (all minimized); rows missing a key are skipped."""
    ok = [i for i, r in enumerate(rows) if all(r.get(k) is not None for k in keys)]
    front = []
    for i in ok:
        a = [rows[i][k] for k in keys]
        dominated = False
        for j in ok:
            if j == i:
                continue
            b = [rows[j][k] for k in keys]
            if all(y <= x for x, y in zip(a, b)) and any(y < x for x, y in zip(a, b)):
                dominated = True
                break
        if not dominated:
            front.append(i)
    return front


@dataclass
class PerplexityCache:
    """Perplexities by accuracy settings, persisted as JSONL next to the sweep results."""

    path: Path
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> "PerplexityCache":
        entries = {r["key"]: r for r in read_jsonl(path) if "key" in r}
        return cls(path, entries)

    def get(self, settings: dict[str, Any], fn: PerplexityFn) -> dict[str, Any]:
        key = sha256_text(json.dumps(settings, sort_keys=True))[:16]
        if key not in self.entries:
            result = fn(settings)
            for name in ("perplexity_mean", "eval_file"):
                if name not in result:
                    raise ConfigError("perplexity result", result, f"a dict with '{name}'")
            rec = {"key": key, "settings": settings, **result}
            append_jsonl(self.path, rec)
            self.entries[key] = rec
        return self.entries[key]


def run_sweep(card: Any, shape: ModelShape, grid: SweepGrid, out: Path,
              perplexity_fn: PerplexityFn | None = None,
              on_point: Callable[[int, dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run (or resume) the sweep; return every result line for this shape, card and grid.

    `on_point(i, record)` is called after each new line is appended (progress, tests).
    """
    out = Path(out)
    view = card if isinstance(card, CardView) else CardView.from_any(card)
    results_path = out / RESULTS_NAME
    end_torn_line(results_path)
    end_torn_line(out / PERPLEXITY_CACHE_NAME)
    done = {r["key"]: r for r in read_jsonl(results_path) if "key" in r}
    cache = PerplexityCache.open(out / PERPLEXITY_CACHE_NAME) if perplexity_fn else None
    rows: list[dict[str, Any]] = []
    new = 0
    for cfg in grid.points():
        key = point_key(cfg, shape, view.sha256, perplexity_fn is not None)
        if key in done:
            rows.append(done[key])
            continue
        rec: dict[str, Any] = {"key": key, "shape": shape.name, "card": view.name,
                               "card_sha256": view.sha256, "config": cfg.to_dict()}
        rec.update(evaluate_point(CostModel.build(view, shape, cfg)))
        if cache is not None and perplexity_fn is not None:
            p = cache.get(accuracy_settings(cfg), perplexity_fn)
            rec["perplexity"] = p["perplexity_mean"]
            rec["perplexity_std"] = p.get("perplexity_std")
            rec["eval_file"] = p["eval_file"]
        else:
            rec["perplexity"] = None
        rec = json.loads(json.dumps(rec))  # the same plain form a resumed run reads back
        append_jsonl(results_path, rec)
        done[key] = rec
        rows.append(rec)
        if on_point is not None:
            on_point(new, rec)
        new += 1
    return rows
