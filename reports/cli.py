"""`gaincell report`, `gaincell sweep` and `gaincell bench-gpu`."""

from __future__ import annotations

import argparse
import glob
from pathlib import Path
from typing import Any, Sequence

from gaincell.errors import ConfigError
from gaincell.fileio import write_json
from gaincell.provenance import provenance

DEFAULT_BENCH = Path("runs") / "bench-gpu" / "bench.json"
DEFAULT_SWEEP = Path("runs") / "sweep"
DEFAULT_EVAL_GLOBS = ("runs/eval/**/eval.json", "runs/demo/**/eval.json")


def _int_list(text: str, name: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ConfigError(name, text, "comma-separated integers") from None
    if not vals:
        raise ConfigError(name, text, "at least one value")
    return vals


def _card_or_list(text: str, name: str, parse, what: str) -> tuple:
    """Comma-separated values parsed by `parse`; 'card' (or 'none') stands for the card's value
    (None). Errors name the flag `name` and the text."""
    out: list = []
    for x in text.split(","):
        x = x.strip()
        if x in ("card", "none", "None"):
            out.append(None)
        elif x:
            try:
                out.append(parse(x))
            except ValueError:
                raise ConfigError(name, text, f"comma-separated {what} or 'card'") from None
    if not out:
        raise ConfigError(name, text, "at least one value")
    return tuple(out)


def _bits_list(text: str, name: str) -> tuple[int | None, ...]:
    return _card_or_list(text, name, int, "integers")


def _cap_list(text: str, name: str) -> tuple[float | None, ...]:
    return _card_or_list(text, name, float, "capacitances in farads")


def _add_design_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hardware and model")
    g.add_argument("--card", default=None, help="device card JSON (default: the shipped default card)")
    g.add_argument("--shape", default="gpt2-124M", help="model shape preset: gpt2-124M | tiny-shakespeare")
    g.add_argument("--model", default=None, help="model directory (its config.json gives the shape)")
    g.add_argument("--mode", default="gaincell", help="gaincell | linear_hw | acam")


def _load_card(path: str | None) -> Any:
    if path:
        try:
            from behavioral.cards import load_card
        except ImportError:
            return Path(path)
        return load_card(path)
    try:
        from behavioral.cards import default_card
    except ImportError as exc:
        raise ConfigError("--card", None, f"a card path (behavioral.cards is not importable: {exc})") from None
    return default_card()


def _shape(args: argparse.Namespace):
    from reports.config import ModelShape, shape_named

    if args.model:
        return ModelShape.from_model_dir(args.model)
    return shape_named(args.shape)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the report, sweep and bench-gpu subcommands."""
    p = subparsers.add_parser("report", parents=[common], help="area/latency/energy report vs GPUs (MD, HTML, JSON)")
    _add_design_args(p)
    p.add_argument("--window", type=int, default=1024, help="sliding window W, tokens (default 1024)")
    p.add_argument("--array-rows", type=int, default=64, help="tokens per array (default 64)")
    p.add_argument("--q-bits", type=int, default=None, help="query PWM bits (default: card)")
    p.add_argument("--kv-bits", type=int, default=None, help="K/V DAC bits (default: card)")
    p.add_argument("--out-bits", type=int, default=None, help="tile output bits (default: card)")
    p.add_argument("--c-store-f", type=float, default=None, help="storage capacitance, F (default: card)")
    p.add_argument("--context", type=int, default=None,
                   help="context length (tokens) the mean energy per token is taken over (default: the model's)")
    p.add_argument("--bench", default=None, help=f"bench.json of bench-gpu (default {DEFAULT_BENCH} if present)")
    p.add_argument("--eval", action="append", default=None, help="eval.json (repeatable; default: runs/eval/**)")
    p.add_argument("--sweep", default=None, help=f"sweep folder (default {DEFAULT_SWEEP} if present)")
    p.add_argument("--small-model", default=None,
                   help="model directory shown beside the main shape (default: the tiny-shakespeare preset)")
    p.add_argument("--small-window", type=int, default=None,
                   help="window of the model shown beside, tokens (default: its saved attention config, else 128)")
    p.set_defaults(func=_report)

    p = subparsers.add_parser("sweep", parents=[common], help="design-space sweep with Pareto front (resumable)")
    _add_design_args(p)
    p.add_argument("--windows", default="128,256,512,1024", help="windows W, tokens")
    p.add_argument("--array-rows", default="32,64,128", help="tokens per array")
    p.add_argument("--q-bits", default="3,4,5", help="query PWM bits ('card' = the card's)")
    p.add_argument("--kv-bits", default="card", help="K/V DAC bits")
    p.add_argument("--out-bits", default="4,5,6", help="tile output bits")
    p.add_argument("--c-store-f", default="card", help="storage capacitances, F ('card' = the card's)")
    p.add_argument("--text", default=None, help="with --model: also measure perplexity on this text (cached)")
    p.add_argument("--eval-tokens", type=int, default=4096, help="tokens scored per perplexity (default 4096)")
    p.add_argument("--seeds", default="0", help="noise seeds of each perplexity (default 0)")
    p.set_defaults(func=_sweep)

    p = subparsers.add_parser("bench-gpu", parents=[common],
                              help="time digital attention with a KV cache (authors' GPU protocol); CPU if no GPU")
    p.add_argument("--batch", type=int, default=64, help="sequences (authors: 64)")
    p.add_argument("--tokens", type=int, default=1024, help="tokens generated one by one (authors: 1024)")
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--head-dim", type=int, default=64)
    p.add_argument("--dtype", default="float32", help="float32 | float16 | bfloat16")
    p.add_argument("--no-batch1", dest="batch1", action="store_false", help="skip the batch-1 run")
    p.set_defaults(func=_bench)


def _report(args: argparse.Namespace) -> int:
    from reports.config import CostConfig, ModelShape, small_model_shape
    from reports.report import ReportInputs, make_report

    card = _load_card(args.card)
    shape = _shape(args)
    cost = CostConfig(mode=args.mode, window_tokens=args.window, array_rows=args.array_rows, q_bits=args.q_bits,
                      kv_bits=args.kv_bits, out_bits=args.out_bits, c_store_f=args.c_store_f)
    extra = []
    if args.small_model or not args.model:
        small = ModelShape.from_model_dir(args.small_model) if args.small_model else small_model_shape()
        saved = _saved_attention(args.small_model)
        if saved is not None and saved.get("mode") in ("gaincell", "linear_hw", "acam"):
            small_cost = CostConfig.from_attention_config(saved)
            if args.small_window:
                small_cost = small_cost.replace(window_tokens=args.small_window)
        else:
            window = min(args.small_window or (saved or {}).get("window") or 128, small.context_tokens)
            small_cost = cost.replace(window_tokens=window, array_rows=min(cost.array_rows, window))
        extra.append((small, small_cost))
    bench = Path(args.bench) if args.bench else (DEFAULT_BENCH if DEFAULT_BENCH.is_file() else None)
    if bench is not None and not bench.is_file():
        raise ConfigError("--bench", str(bench), "an existing bench.json")
    if args.eval:
        evals = [Path(e) for e in args.eval]
        for e in evals:
            if not e.is_file():
                raise ConfigError("--eval", str(e), "an existing eval.json")
    else:
        evals = sorted({Path(f) for g in DEFAULT_EVAL_GLOBS for f in glob.glob(g, recursive=True)})
    sweep = Path(args.sweep) if args.sweep else (DEFAULT_SWEEP if DEFAULT_SWEEP.is_dir() else None)
    out = Path(args.out or Path("runs") / "report")
    paths = make_report(ReportInputs(card=card, cost=cost, shape=shape, extra=extra, bench_file=bench,
                                     eval_files=evals, sweep_dir=sweep, context_tokens=args.context), out)
    print(f"[report] {paths['markdown']}\n[report] {paths['html']}\n[report] {paths['json']}")
    return 0


def _saved_attention(model_dir: str | None) -> dict[str, Any] | None:
    """The attention config saved in a model's config.json (`gaincell_attention`), if any."""
    import json

    if not model_dir:
        return None
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise ConfigError("--small-model", model_dir, "a model directory with config.json")
    att = json.loads(path.read_text()).get("gaincell_attention")
    return att if isinstance(att, dict) else None


def perplexity_runner(model_dir: str, text: str, out: Path, eval_tokens: int, seeds: Sequence[int],
                      device: str = "cpu"):
    """A sweep perplexity function: runs co_design's evaluation with the point's attention settings
    (`reports.sweep.accuracy_settings`: mode, window, array rows, bit widths and the storage
    capacitance `c_store_f`, each an AttentionConfig override) and writes its eval.json under
    `out/evals/<settings hash>/`."""
    from co_design.evaluate import evaluate_model_dir
    from gaincell.provenance import sha256_text
    import json

    def run(settings: dict[str, Any]) -> dict[str, Any]:
        key = sha256_text(json.dumps(settings, sort_keys=True))[:16]
        path = Path(out) / "evals" / key / "eval.json"
        overrides = {k: v for k, v in settings.items() if k != "mode"}
        rec = evaluate_model_dir(model_dir, settings["mode"], text, seeds=seeds, max_tokens=eval_tokens,
                                 device=device, **overrides)
        write_json(path, rec)
        return {"perplexity_mean": rec["perplexity_mean"], "perplexity_std": rec["perplexity_std"],
                "eval_file": str(path)}

    return run


def _sweep(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from reports.card_view import CardView
    from reports.sweep import SweepGrid, pareto_front, run_sweep

    card = CardView.from_any(_load_card(args.card))
    shape = _shape(args)
    grid = SweepGrid(windows=_int_list(args.windows, "--windows"), array_rows=_int_list(args.array_rows, "--array-rows"),
                     q_bits=_bits_list(args.q_bits, "--q-bits"), kv_bits=_bits_list(args.kv_bits, "--kv-bits"),
                     out_bits=_bits_list(args.out_bits, "--out-bits"), c_store_f=_cap_list(args.c_store_f, "--c-store-f"),
                     mode=args.mode)
    out = Path(args.out or Path("runs") / "sweep")
    fn = None
    if args.text:
        if not args.model:
            raise ConfigError("--text", args.text, "given together with --model DIR")
        fn = perplexity_runner(args.model, args.text, out, args.eval_tokens, _int_list(args.seeds, "--seeds"), args.device)
    points = list(grid.points())
    if not points:
        raise ConfigError("--windows/--array-rows", (args.windows, args.array_rows), "at least one W that is a multiple of the rows")
    with tqdm(total=len(points), desc="sweep", disable=not args.verbose) as bar:
        rows = run_sweep(card, shape, grid, out, fn, on_point=lambda i, r: bar.update(1))
    keys = ["energy_per_token_j", "perplexity"] if fn else ["energy_per_token_j", "latency_per_token_s", "area_m2"]
    front = pareto_front(rows, keys)
    write_json(out / "pareto.json", {"objectives": keys, "front": [rows[i] for i in front],
                                     "provenance": provenance(card_sha256=card.sha256)})
    print(f"[sweep] {len(rows)} points ({shape.name}), {len(front)} on the Pareto front over {', '.join(keys)}")
    print(f"{'W':>6} {'rows':>5} {'q':>3} {'out':>4} {'energy/token':>13} {'latency':>10} {'area mm2':>9} {'ppl':>7}")
    for i in front[:20]:
        r, c = rows[i], rows[i]["config"]
        ppl = f"{r['perplexity']:.2f}" if r.get("perplexity") is not None else "-"
        print(f"{c['window_tokens']:>6} {c['array_rows']:>5} {str(c['q_bits']):>3} {str(c['out_bits']):>4} "
              f"{r['energy_per_token_j']:>13.4g} {r['latency_per_token_s']:>10.3g} {r['area_m2'] * 1e6:>9.4g} {ppl:>7}")
    print(f"[sweep] results: {out / 'results.jsonl'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    import torch

    from reports.bench import BenchConfig, run_bench

    device = args.device
    if device == "cpu" and torch.cuda.is_available():
        device = "cuda"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("--device", device, "cpu (no CUDA GPU on this machine)")
    if device == "cpu":
        print("[bench-gpu] no GPU on this machine: measuring the CPU instead (latency only; "
              "energy is not measured without a power meter)")
    cfg = BenchConfig(n_heads=args.heads, d_head=args.head_dim, batch=args.batch, tokens=args.tokens, dtype=args.dtype)
    out = Path(args.out or Path("runs") / "bench-gpu")
    rec = run_bench(cfg, out, device=device, seed=args.seed, batch1=args.batch1)
    for name, r in rec["results"].items():
        e = r["energy_per_token_j"]
        print(f"[bench-gpu] {name}: {r['device_name']} ({r['device']}): step {r['step_latency_s'] * 1e6:.1f} us, "
              f"per token (amortized) {r['latency_per_token_s'] * 1e6:.2f} us, energy/token "
              f"{'%.3g J' % e if e is not None else 'not measured'}")
    print(f"[bench-gpu] {out / 'bench.json'}")
    return 0
