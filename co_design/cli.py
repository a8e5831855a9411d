"""Subcommands of the co-design layer: train-base, adapt, finetune, eval."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from co_design.config import MODES

log = logging.getLogger("gaincell.co_design")


def _out(args: argparse.Namespace, command: str) -> Path:
    return Path(args.out) if args.out else Path("runs") / command


def _csv(text: str, cast=str) -> tuple:
    try:
        return tuple(cast(x.strip()) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}") from None


def _add_attention_overrides(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("emulator settings (override the model's saved attention config)")
    g.add_argument("--card", dest="card_path", default=None, help="device card JSON (default: the shipped card)")
    g.add_argument("--window", type=int, default=None, help="sliding window W in tokens")
    g.add_argument("--array-rows", type=int, default=None, help="tokens per gain-cell array (tile)")
    g.add_argument("--q-bits", type=int, default=None, help="query PWM bits (default: card)")
    g.add_argument("--kv-bits", type=int, default=None, help="key/value DAC bits (default: card)")
    g.add_argument("--out-bits", type=int, default=None, help="per-tile output bits (default: card)")
    g.add_argument("--no-noise", dest="noise", action="store_false", default=None, help="noise-free emulation")
    g.add_argument("--no-decay", dest="decay", action="store_false", default=None, help="no leakage decay")
    g.add_argument("--c-store-f", dest="c_store_f", type=float, default=None,
                   help="storage capacitance in farads (default: the card's; another value re-derives "
                        "the card's retention and write noise for it)")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("card_path", "window", "array_rows", "q_bits", "kv_bits", "out_bits", "noise", "decay", "c_store_f")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _add_training(p: argparse.ArgumentParser, steps_help: str) -> None:
    g = p.add_argument_group("optimization")
    g.add_argument("--steps", required=False, help=steps_help)
    g.add_argument("--batch-size", type=int, default=16, help="sequences per step (default 16)")
    g.add_argument("--lr", type=float, default=None, help="peak AdamW learning rate")
    g.add_argument("--warmup", type=int, default=None, help="warmup steps")
    g.add_argument("--checkpoint-every", type=int, default=100, help="steps between checkpoints (default 100)")
    g.add_argument("--resume", action="store_true", help="continue from the last checkpoint in --out")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def _train_config(args: argparse.Namespace, steps: int, lr: float, warmup: int):
    from co_design.trainer import TrainConfig

    return TrainConfig(steps=steps, batch_size=args.batch_size, lr=args.lr or lr,
                       warmup_steps=args.warmup if args.warmup is not None else warmup,
                       checkpoint_every=args.checkpoint_every, seed=args.seed)


def cmd_train_base(args: argparse.Namespace) -> int:
    from co_design.train_base import BaseModelConfig, train_base

    mcfg = BaseModelConfig(n_layer=args.layers, n_head=args.heads, n_embd=args.embd,
                           context=args.context, window=args.window, vocab_size=args.vocab,
                           dropout=args.dropout, eval_tokens=args.eval_tokens)
    steps = int(args.steps or 1500)
    tcfg = _train_config(args, steps, lr=1e-3, warmup=max(1, steps // 20))
    result = train_base(args.text, _out(args, "train-base"), mcfg, tcfg, resume=args.resume,
                        progress=args.progress)
    print(f"validation perplexity {result['val_perplexity']:.3f} -> {result['model']}")
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from co_design.adapt import AdaptConfig, adapt_model
    from co_design.data import encode, load_tokenizer, read_text, split_by_position
    from co_design.finetune import calibration_batches
    from co_design.swap import current_config, load_model, save_model
    from gaincell.fileio import append_jsonl, write_json
    from gaincell.provenance import provenance

    out = _out(args, "adapt")
    model = load_model(args.model, mode=args.reference, **_overrides(args))
    ref = current_config(model)
    tokenizer = load_tokenizer(args.model)
    train_text, _ = split_by_position(read_text(args.text), 0.9)
    cfg = AdaptConfig(max_iters=args.max_iters, calib_batches=args.calib_batches, batch_size=args.batch_size)
    calib, batch = calibration_batches(encode(tokenizer, train_text), model.config.n_positions, cfg, args.seed)
    log_path = out / "adapt_log.jsonl"
    out.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    history = adapt_model(model, ref.replace(mode=args.attention), calib, batch, cfg,
                          lambda rec: append_jsonl(log_path, rec))
    save_model(model, out, tokenizer)
    write_json(out / "result.json", {"schema": "gaincell.adapt/1", "model": str(out), "source_model": args.model,
                                     "reference": ref.mode, "target": args.attention,
                                     "iterations": len(history) - 1, "first": history[0], "final": history[-1],
                                     "provenance": provenance(seed=args.seed)})
    print(f"perplexity on the fixed batch {history[0]['perplexity']:.2f} -> {history[-1]['perplexity']:.2f} "
          f"in {len(history) - 1} iterations -> {out}")
    return 0


def cmd_finetune(args: argparse.Namespace) -> int:
    from co_design.adapt import AdaptConfig
    from co_design.finetune import FinetuneConfig, finetune

    stages = _csv(args.stages)
    steps = _csv(args.steps, int) if args.steps else tuple(200 for _ in stages)
    plan = FinetuneConfig(stages=stages, steps=steps, adapt=args.adapt, eval_tokens=args.eval_tokens)
    tcfg = _train_config(args, max(steps), lr=3e-4, warmup=max(1, min(steps) // 20))
    result = finetune(args.model, args.text, _out(args, "finetune"), plan, tcfg,
                      AdaptConfig(batch_size=min(args.batch_size, 8)), resume=args.resume,
                      progress=args.progress, **_overrides(args))
    for st in result["stages"]:
        print(f"{st['stage']:>12}: validation perplexity {st['val_perplexity']:.3f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from co_design.evaluate import evaluate_model_dir
    from gaincell.fileio import write_json

    seeds = _csv(args.seeds, int)
    result = evaluate_model_dir(args.model, args.attention, args.text, seeds=seeds,
                                max_tokens=args.max_tokens, stride=args.stride,
                                batch_size=args.batch_size, device=args.device,
                                progress=args.verbose, **_overrides(args))
    path = write_json(_out(args, "eval") / "eval.json", result)
    print(f"{result['attention']}: perplexity {result['perplexity_mean']:.3f} +- "
          f"{result['perplexity_std']:.3f} over {len(seeds)} seeds -> {path}")
    log.debug(json.dumps(result["per_seed"]))
    return 0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add train-base, adapt, finetune and eval to the `gaincell` command line."""
    p = subparsers.add_parser("train-base", parents=[common],
                              help="train a small digital sliding-window GPT-2 on a text file")
    p.add_argument("--text", required=True, help="training text (UTF-8), split 90/10 by position")
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--embd", type=int, default=384, help="model width")
    p.add_argument("--context", type=int, default=256, help="context length in tokens")
    p.add_argument("--window", type=int, default=128, help="sliding attention window in tokens")
    p.add_argument("--vocab", type=int, default=2048, help="BPE vocabulary size")
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--eval-tokens", type=int, default=None, help="validation tokens scored (default all)")
    _add_training(p, "optimizer steps (default 1500)")
    p.set_defaults(func=cmd_train_base)

    p = subparsers.add_parser("adapt", parents=[common],
                              help="statistics-matching initialization of the scalers for a new mode")
    p.add_argument("--model", required=True, help="model directory (its saved mode is the reference)")
    p.add_argument("--attention", default="gaincell", choices=MODES, help="target mode (default gaincell)")
    p.add_argument("--reference", default=None, choices=MODES,
                   help="mode whose statistics are the targets (default: the model's saved mode; "
                        "digital_swa: the device ranges are the q/k/v targets)")
    p.add_argument("--text", required=True, help="text for calibration batches (training split used)")
    p.add_argument("--max-iters", type=int, default=100)
    p.add_argument("--calib-batches", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=8)
    _add_attention_overrides(p)
    p.set_defaults(func=cmd_adapt)

    p = subparsers.add_parser("finetune", parents=[common],
                              help="staged hardware-aware fine-tuning (linear_hw, then gaincell)")
    p.add_argument("--model", required=True, help="model directory to start from")
    p.add_argument("--text", required=True, help="training text, split 90/10 by position")
    p.add_argument("--stages", default="linear_hw,gaincell", help="modes in order (default linear_hw,gaincell)")
    p.add_argument("--no-adapt", dest="adapt", action="store_false", help="skip adaptation between stages")
    p.add_argument("--eval-tokens", type=int, default=20000, help="validation tokens scored per stage")
    _add_training(p, "steps per stage, comma-separated (default 200 each)")
    _add_attention_overrides(p)
    p.set_defaults(func=cmd_finetune)

    p = subparsers.add_parser("eval", parents=[common], help="perplexity of a model on a text, over noise seeds")
    p.add_argument("--model", required=True, help="model directory")
    p.add_argument("--attention", default=None, choices=MODES, help="mode (default: the model's saved mode)")
    p.add_argument("--text", required=True, help="text file to score (whole file)")
    p.add_argument("--seeds", default="0,1,2,3,4", help="noise seeds (default 0,1,2,3,4)")
    p.add_argument("--max-tokens", type=int, default=None, help="score only the first N tokens")
    p.add_argument("--stride", type=int, default=None, help="evaluation stride in tokens (default context/2)")
    p.add_argument("--batch-size", type=int, default=8)
    _add_attention_overrides(p)
    p.set_defaults(func=cmd_eval)
