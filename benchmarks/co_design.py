"""Co-design goals in one run: perplexity of digital / naive / adapted / fine-tuned analog GPT-2.

Trains a small digital sliding-window GPT-2 on the text (P0), maps it naively onto the gain-cell
model, fine-tunes it in the linear hardware model, adapts the scalers to the nonlinear cell,
fine-tunes in the nonlinear model, and (from the linear stage) adapts and fine-tunes the aCAM
attention. A control row fine-tunes the digital model for as many steps as the two analog
stages, so extra training is not mistaken for hardware robustness. Every perplexity is measured on the same validation tokens (last 10 % of the text),
mean over noise seeds. Also times the whole-model forward pass, analog vs digital, side by side.

Defaults are a reduced size that runs in minutes on a shared 2-core CPU; pass the issue's size
(--layers 6 --heads 6 --embd 384 --context 256 --window 128 --array-rows 64 and more steps) on a
machine that has the time. The last output line is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from co_design.adapt import AdaptConfig  # noqa: E402
from co_design.data import encode, load_tokenizer, read_text, split_by_position  # noqa: E402
from co_design.evaluate import perplexity_over_seeds  # noqa: E402
from co_design.finetune import FinetuneConfig, finetune  # noqa: E402
from co_design.swap import load_model  # noqa: E402
from co_design.train_base import BaseModelConfig, train_base  # noqa: E402
from co_design.trainer import TrainConfig  # noqa: E402
from gaincell.fileio import write_json  # noqa: E402
from gaincell.provenance import provenance  # noqa: E402

GOALS = {"gaincell_adapted": 1.5, "gaincell_finetuned": 1.03, "acam_finetuned": 1.10}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--text", default=str(REPO.parent / "shared" / "data" / "tinyshakespeare.txt"))
    p.add_argument("--out", default=str(REPO / "runs" / "bench-co_design"))
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--embd", type=int, default=128)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--window", type=int, default=64)
    p.add_argument("--array-rows", type=int, default=32)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--base-steps", type=int, default=600)
    p.add_argument("--linear-steps", type=int, default=150)
    p.add_argument("--gaincell-steps", type=int, default=150)
    p.add_argument("--acam-steps", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--eval-tokens", type=int, default=8000, help="validation tokens scored")
    p.add_argument("--seeds", default="0,1,2,3,4")
    p.add_argument("--timing-batch", type=int, default=8)
    p.add_argument("--no-acam", dest="acam", action="store_false")
    return p.parse_args(argv)


def forward_seconds(model, ids: torch.Tensor, repeats: int = 3) -> float:
    """Best-of-`repeats` wall time (s) of one no-grad forward pass."""
    with torch.no_grad():
        model(input_ids=ids, use_cache=False)
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(input_ids=ids, use_cache=False)
            best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> int:
    a = parse_args(argv)
    out = Path(a.out)
    seeds = [int(s) for s in a.seeds.split(",")]
    t_start = time.perf_counter()
    overrides = {"array_rows": a.array_rows}

    base_dir = out / "base"
    mcfg = BaseModelConfig(n_layer=a.layers, n_head=a.heads, n_embd=a.embd, context=a.context,
                           window=a.window, vocab_size=a.vocab, eval_tokens=a.eval_tokens)
    train_base(a.text, base_dir, mcfg, TrainConfig(steps=a.base_steps, batch_size=a.batch_size, lr=2e-3,
                                                    warmup_steps=max(1, a.base_steps // 20),
                                                    checkpoint_every=max(1, a.base_steps // 4)),
               resume=True)
    tokenizer = load_tokenizer(base_dir)
    _, val_text = split_by_position(read_text(a.text), 0.9)
    val_ids = encode(tokenizer, val_text)[:a.eval_tokens]

    def ppl(model_dir: Path, mode: str | None = None) -> dict:
        model = load_model(model_dir, mode=mode, **overrides)
        return perplexity_over_seeds(model, val_ids, seeds)

    rows: dict[str, dict] = {}
    rows["digital_swa"] = ppl(base_dir, "digital_swa")
    rows["gaincell_naive"] = ppl(base_dir, "gaincell")

    ft_cfg = TrainConfig(steps=1, batch_size=a.batch_size, lr=1e-3, warmup_steps=10,
                         checkpoint_every=50)
    adapt_cfg = AdaptConfig(batch_size=8)
    gc_dir = out / "finetune_gaincell"
    finetune(base_dir, a.text, gc_dir, FinetuneConfig(stages=("linear_hw", "gaincell"),
                                                      steps=(a.linear_steps, a.gaincell_steps),
                                                      eval_tokens=a.eval_tokens),
             ft_cfg, adapt_cfg, resume=True, **overrides)
    rows["linear_hw_finetuned"] = ppl(gc_dir / "stages" / "0_linear_hw")
    rows["gaincell_adapted"] = ppl(gc_dir / "stages" / "1_gaincell_adapted")
    rows["gaincell_finetuned"] = ppl(gc_dir)

    # control: the digital model trained for as many extra steps as the analog ones, so an
    # undertrained base does not make fine-tuned analog models look better than they are
    ctl_dir = out / "finetune_digital"
    finetune(base_dir, a.text, ctl_dir, FinetuneConfig(stages=("digital_swa",),
                                                       steps=(a.linear_steps + a.gaincell_steps,),
                                                       eval_tokens=a.eval_tokens),
             ft_cfg, adapt_cfg, resume=True, **overrides)
    rows["digital_swa_finetuned"] = ppl(ctl_dir)

    if a.acam:
        acam_dir = out / "finetune_acam"
        finetune(gc_dir / "stages" / "0_linear_hw", a.text, acam_dir,
                 FinetuneConfig(stages=("acam",), steps=(a.acam_steps,), eval_tokens=a.eval_tokens),
                 ft_cfg, adapt_cfg, resume=True, **overrides)
        rows["acam_adapted"] = ppl(acam_dir / "stages" / "0_acam_adapted")
        rows["acam_finetuned"] = ppl(acam_dir)

    # forward time of the whole model, analog vs digital, same weights, same batch, same run
    ids = torch.randint(0, len(tokenizer), (a.timing_batch, a.context), generator=torch.Generator().manual_seed(0))
    timing = {}
    for mode in ("digital_swa", "gaincell") + (("acam",) if a.acam else ()):
        timing[mode] = forward_seconds(load_model(gc_dir, mode=mode, **overrides), ids)

    p0 = rows["digital_swa"]["perplexity_mean"]
    print(f"\nco_design benchmark: {a.layers} layers, {a.heads} heads, d={a.embd}, context {a.context}, "
          f"window {a.window}, arrays of {a.array_rows} rows; {len(val_ids)} validation tokens, "
          f"seeds {seeds}")
    print(f"{'model':<22} {'perplexity':>12} {'+- std':>8} {'x P0':>7} {'goal':>8}")
    for name, r in rows.items():
        goal = f"<= {GOALS[name]:.2f}" if name in GOALS else ""
        print(f"{name:<22} {r['perplexity_mean']:>12.3f} {r['perplexity_std']:>8.3f} "
              f"{r['perplexity_mean'] / p0:>7.3f} {goal:>8}")
    print(f"{'forward (s)':<22} " + "  ".join(f"{m} {t:.3f}" for m, t in timing.items()))
    ctl = rows["digital_swa_finetuned"]["perplexity_mean"]
    print(f"gaincell_finetuned / digital_swa_finetuned (same training steps): "
          f"{rows['gaincell_finetuned']['perplexity_mean'] / ctl:.3f}")
    ratio = timing["gaincell"] / timing["digital_swa"]
    print(f"gaincell / digital forward time: {ratio:.2f} (goal <= 2)")
    figures = {name: r["perplexity_mean"] for name, r in rows.items()}
    figures.update({f"{name}_std": r["perplexity_std"] for name, r in rows.items()})
    figures["gaincell_finetuned_vs_digital_same_steps"] = rows["gaincell_finetuned"]["perplexity_mean"] / ctl
    figures["gaincell_forward_time_ratio"] = ratio
    if "acam" in timing:
        figures["acam_forward_time_ratio"] = timing["acam"] / timing["digital_swa"]
    figures["total_seconds"] = time.perf_counter() - t_start
    write_json(out / "result.json", {"schema": "gaincell.bench_co_design/1", "args": vars(a),
                                     "figures": figures, "rows": rows,
                                     "provenance": provenance(seeds=seeds)})
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
