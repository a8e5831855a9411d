"""`gaincell demo`: the whole chain on small defaults, resumable.

characterize (quick grids) -> fit (device card) -> train-base (small digital GPT-2 on
tinyshakespeare) -> adapt (to the gain-cell model) -> short fine-tune -> eval (gain-cell and
digital) -> bench-gpu (digital attention on this machine) -> sweep (cost only) -> report.
Each step calls the layer's own subcommand through `gaincell.cli.main` and is skipped when its
output already exists, so an interrupted demo continues where it stopped. Prints where the
report is.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Sequence

from gaincell.errors import ConfigError

DEFAULT_TEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "tinyshakespeare.txt"


@dataclass(frozen=True)
class DemoConfig:
    """Small settings that keep the demo within about 30 minutes on 2 CPU cores.

    Attributes:
        layers, heads, embd, context, window, vocab: the small GPT-2 (tokens for context/window).
        array_rows: tokens per gain-cell array in the analog model.
        train_steps, finetune_steps, batch_size: optimizer steps and sequences per step.
        adapt_iters: adaptation iterations (the authors' algorithm stops at 100).
        eval_tokens: validation tokens scored by each eval; eval_seeds: noise seeds.
        bench_tokens, bench_batch: GPU-protocol benchmark size (authors: 1024 tokens, batch 64).
    """

    layers: int = 4
    heads: int = 4
    embd: int = 128
    context: int = 128
    window: int = 64
    vocab: int = 1024
    array_rows: int = 32
    train_steps: int = 300
    finetune_steps: int = 50
    batch_size: int = 16
    adapt_iters: int = 30
    eval_tokens: int = 4096
    eval_seeds: str = "0,1"
    bench_tokens: int = 1024
    bench_batch: int = 64


@dataclass(frozen=True)
class Step:
    """One demo step: the subcommand's arguments and the file whose existence means 'done'."""

    name: str
    argv: list[str]
    done: Path


def _cells() -> list[str]:
    """Circuits `gaincell characterize` writes (one result folder each)."""
    from circuits.characterize import CELL_MODULES

    return list(CELL_MODULES)


def plan(out: Path, text: Path, cfg: DemoConfig, seed: int = 0, device: str = "cpu",
         eval_text: Path | None = None, cells: Sequence[str] | None = None,
         fit_csv: Sequence[Path] = ()) -> list[Step]:
    """The demo's steps, in order, with their output locations under `out`. Training uses
    `text`; the evaluations score `eval_text` (the held-out split; default `text`). `cells`:
    circuits to characterize (None: all); `fit_csv`: the user's own device tables for the fit."""
    cells = _cells() if cells is None else list(cells)
    common = ["--seed", str(seed)]
    dev = ["--device", device]
    char = out / "characterize"
    card = out / "fit" / "card.json"
    base, adapted, tuned = out / "train-base", out / "adapt", out / "finetune"
    ev_analog, ev_digital = out / "eval" / "gaincell", out / "eval" / "digital"
    bench, sweep, report = out / "bench-gpu", out / "sweep", out / "report"
    t, e = str(text), str(cfg.eval_tokens)
    v = str(eval_text or text)
    return [
        *[Step(f"characterize {cell}", ["characterize", "--cell", cell, "--quick", "--out", str(char), *common],
               char / cell / "result.json") for cell in cells],
        Step("fit", ["fit", *(["--characterization", *[str(char / cell) for cell in cells]] if cells else []),
                     *(["--csv", *map(str, fit_csv)] if fit_csv else []), "--out", str(card.parent), *common],
             card),
        Step("train-base", ["train-base", "--text", t, "--layers", str(cfg.layers), "--heads", str(cfg.heads),
                            "--embd", str(cfg.embd), "--context", str(cfg.context), "--window", str(cfg.window),
                            "--vocab", str(cfg.vocab), "--steps", str(cfg.train_steps), "--batch-size",
                            str(cfg.batch_size), "--eval-tokens", e, "--no-progress", "--out", str(base),
                            *common, *dev], base / "result.json"),
        Step("adapt", ["adapt", "--model", str(base), "--attention", "gaincell", "--reference", "linear_hw",
                       "--text", t, "--max-iters", str(cfg.adapt_iters), "--card", str(card), "--window",
                       str(cfg.window), "--array-rows", str(cfg.array_rows), "--out", str(adapted), *common, *dev],
             adapted / "result.json"),
        Step("finetune", ["finetune", "--model", str(adapted), "--text", t, "--stages", "gaincell", "--steps",
                          str(cfg.finetune_steps), "--batch-size", str(cfg.batch_size), "--eval-tokens", e,
                          "--no-progress", "--out", str(tuned), *common, *dev], tuned / "result.json"),
        Step("eval gaincell", ["eval", "--model", str(tuned), "--text", v, "--max-tokens", e, "--seeds",
                               cfg.eval_seeds, "--out", str(ev_analog), *common, *dev], ev_analog / "eval.json"),
        Step("eval digital", ["eval", "--model", str(base), "--attention", "digital_swa", "--text", v,
                              "--max-tokens", e, "--seeds", "0", "--out", str(ev_digital), *common, *dev],
             ev_digital / "eval.json"),
        Step("bench-gpu", ["bench-gpu", "--tokens", str(cfg.bench_tokens), "--batch", str(cfg.bench_batch),
                           "--out", str(bench), *common, *dev], bench / "bench.json"),
        Step("sweep", ["sweep", "--card", str(card), "--windows", "256,512,1024", "--array-rows", "32,64",
                       "--q-bits", "3,4", "--out-bits", "4,5", "--out", str(sweep), *common], sweep / "pareto.json"),
        Step("report", ["report", "--card", str(card), "--bench", str(bench / "bench.json"),
                        "--eval", str(ev_analog / "eval.json"), "--eval", str(ev_digital / "eval.json"),
                        "--sweep", str(sweep), "--small-model", str(tuned), "--out", str(report), *common],
             report / "report.html"),
    ]


def write_validation_split(text: Path, dest: Path) -> Path:
    """Write the held-out part of `text` (the co-design layer's own split) to `dest`."""
    from co_design.data import read_text, split_by_position
    from co_design.train_base import BaseModelConfig
    from gaincell.fileio import write_text

    _, held_out = split_by_position(read_text(text), BaseModelConfig().train_fraction)
    return write_text(dest, held_out)


def _check_settings(path: Path, settings: dict, force: bool) -> None:
    """Record the demo's settings; refuse to resume a run made with other settings (the skipped
    steps would not match), unless --force reruns everything."""
    import json

    from gaincell.fileio import write_json

    if path.exists() and not force:
        old = json.loads(path.read_text())
        if old != json.loads(json.dumps(settings)):
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != json.loads(json.dumps(settings)).get(k))
            raise ConfigError("demo settings", ", ".join(changed),
                              f"the settings of the run already in {path.parent} (rerun with --force or another --out)")
    write_json(path, settings)


def run_plan(steps: Sequence[Step], runner: Callable[[list[str]], int], force: bool = False) -> int:
    """Run the steps not done yet; stop at the first failure (returning its exit status)."""
    for i, step in enumerate(steps, 1):
        if step.done.exists() and not force:
            print(f"[demo {i}/{len(steps)}] {step.name}: done already ({step.done})", flush=True)
            continue
        print(f"[demo {i}/{len(steps)}] {step.name}: gaincell {' '.join(step.argv)}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = runner(step.argv)
        except SystemExit as exc:  # argparse rejected the arguments
            rc = exc.code if isinstance(exc.code, int) else 2
        except Exception as exc:  # a layer crashed: say which step, keep what is done
            print(f"[demo] step '{step.name}' raised {type(exc).__name__}: {exc}", flush=True)
            rc = 1
        if rc:
            print(f"[demo] step '{step.name}' failed (exit status {rc}); fix it and rerun `gaincell demo` "
                  "to continue from there", flush=True)
            return rc
        if not step.done.exists():
            print(f"[demo] step '{step.name}' finished but did not write {step.done}", flush=True)
            return 1
        print(f"[demo {i}/{len(steps)}] {step.name}: {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `demo` subcommand."""
    p = subparsers.add_parser("demo", parents=[common],
                              help="whole chain on small defaults (characterize ... report), resumable")
    p.add_argument("--text", default=str(DEFAULT_TEXT), help="training text (default: tinyshakespeare)")
    p.add_argument("--force", action="store_true", help="rerun steps whose outputs exist")
    p.add_argument("--dry-run", action="store_true", help="print the steps and exit")
    p.add_argument("--cells", default="all",
                   help="circuits to characterize, comma-separated, 'all' or 'none' (default all)")
    p.add_argument("--fit-csv", nargs="*", default=[], metavar="FILE",
                   help="your own device tables for the fit (e.g. ../shared/data/reference_cell_iv.csv)")
    for f in fields(DemoConfig):
        p.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=None,
                       help=f"(default {f.default})")
    p.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from gaincell.cli import main

    text = Path(args.text)
    if not text.is_file():
        raise ConfigError("--text", str(text), "an existing text file")
    cfg = DemoConfig(**{f.name: getattr(args, f.name) for f in fields(DemoConfig)
                        if getattr(args, f.name) is not None})
    out = Path(args.out or Path("runs") / "demo")
    val = out / "data" / "validation.txt"
    if args.cells == "all":
        cells = _cells()
    elif args.cells == "none":
        cells = []
    else:
        cells = [c.strip() for c in args.cells.split(",") if c.strip()]
        unknown = sorted(set(cells) - set(_cells()))
        if unknown:
            raise ConfigError("--cells", unknown[0], "all | none | comma-separated " + ", ".join(_cells()))
    if not cells and not args.fit_csv:
        raise ConfigError("--cells", args.cells, "at least one circuit, or --fit-csv tables to fit from")
    for f in args.fit_csv:
        if not Path(f).is_file():
            raise ConfigError("--fit-csv", f, "an existing CSV file")
    steps = plan(out, text, cfg, seed=args.seed, device=args.device, eval_text=val, cells=cells,
                 fit_csv=[Path(f) for f in args.fit_csv])
    if args.dry_run:
        for s in steps:
            print(f"gaincell {' '.join(s.argv)}    # done when {s.done} exists")
        return 0
    _check_settings(out / "demo_config.json", {"config": asdict(cfg), "text": str(text), "cells": cells,
                                                "fit_csv": list(args.fit_csv), "seed": args.seed}, args.force)
    if not val.exists():
        write_validation_split(text, val)
    t0 = time.perf_counter()
    rc = run_plan(steps, lambda argv: main(argv), force=args.force)
    if rc == 0:
        report = out / "report"
        print(f"[demo] finished in {time.perf_counter() - t0:.0f} s. Report: {report / 'report.html'} "
              f"(also {report / 'report.md'}, {report / 'report.json'})")
    return rc
