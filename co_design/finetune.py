"""`gaincell finetune`: staged hardware-aware fine-tuning (the authors' recipe).

Stages run in order (default: `linear_hw`, then `gaincell`), each quantization-aware (the
device mapping uses straight-through quantizers) with noise on (a fresh noise seed per step,
derived from the step number so a resumed run draws the same noise). Between two stages the
adaptation loop (`co_design.adapt`) re-initializes the scalers of the next mode from the
statistics of the previous one. Each finished stage is saved as a model directory under
`<out>/stages/`; the final model is saved in `<out>` itself. `resume=True` skips finished
stages and restarts an interrupted one from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from co_design.adapt import AdaptConfig, adapt_model
from co_design.config import MODES, AttentionConfig
from co_design.data import TokenBatcher, encode, load_tokenizer, read_text, split_by_position
from co_design.evaluate import perplexity
from co_design.swap import current_config, install_attention, load_model, save_model, set_noise_seed
from co_design.trainer import TrainConfig, train
from gaincell.errors import ConfigError
from gaincell.fileio import append_jsonl, write_json
from gaincell.provenance import provenance, sha256_file

_DONE = "done.json"


@dataclass(frozen=True)
class FinetuneConfig:
    """The stage plan.

    Attributes:
        stages: attention modes trained one after the other.
        steps: optimizer steps of each stage (same length as `stages`).
        adapt: run the adaptation loop before every stage, from the previous mode (for the
            first stage: the mode the starting model was saved in; from a digital model the
            targets are the device ranges, see `co_design.adapt.device_range_targets`).
        train_fraction: leading fraction of the text used for training (as in train-base).
        eval_tokens: validation tokens scored at the end of each stage (None: all).
    """

    stages: tuple[str, ...] = ("linear_hw", "gaincell")
    steps: tuple[int, ...] = (200, 400)
    adapt: bool = True
    train_fraction: float = 0.9
    eval_tokens: int | None = 20000

    def __post_init__(self) -> None:
        if not self.stages:
            raise ConfigError("stages", self.stages, "at least one mode")
        for mode in self.stages:
            if mode not in MODES:
                raise ConfigError("stages", mode, " | ".join(MODES))
        if len(self.steps) != len(self.stages) or any(int(s) < 1 for s in self.steps):
            raise ConfigError("steps", self.steps, f"{len(self.stages)} integers >= 1, one per stage")


def _stage_dir(out: Path, index: int, mode: str, suffix: str = "") -> Path:
    return out / "stages" / f"{index}_{mode}{suffix}"


def _is_done(path: Path) -> bool:
    return (path / _DONE).is_file()


def finetune(model_dir: str | Path, text_path: str | Path, out_dir: str | Path,
             plan: FinetuneConfig, train_cfg: TrainConfig, adapt_cfg: AdaptConfig | None = None,
             resume: bool = False, progress: bool = True, stop_after: int | None = None,
             **attention_overrides: Any) -> dict[str, Any]:
    """Fine-tune `model_dir` stage by stage into `out_dir`; returns the result dict.

    `attention_overrides`: AttentionConfig fields applied to every stage (e.g. noise, decay).
    `stop_after`: stop after this many optimizer steps in total (to test interruption); the
    result then has "finished": false.
    """
    adapt_cfg = adapt_cfg or AdaptConfig()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_tokenizer(model_dir)
    train_text, val_text = split_by_position(read_text(text_path), plan.train_fraction)
    train_ids, val_ids = encode(tokenizer, train_text), encode(tokenizer, val_text)
    if plan.eval_tokens is not None:
        val_ids = val_ids[:plan.eval_tokens]
    log_path = out / "finetune_log.jsonl"
    model = load_model(model_dir, **attention_overrides)
    base = current_config(model)
    adapt_first = plan.adapt and base.mode != plan.stages[0]
    stage_results = []
    steps_left = stop_after
    for i, mode in enumerate(plan.stages):
        stage_cfg: AttentionConfig = base.replace(mode=mode)
        done_dir = _stage_dir(out, i, mode)
        if resume and _is_done(done_dir):
            model = load_model(done_dir)
            stage_results.append(_read_done(done_dir))
            continue
        if (i > 0 and plan.adapt) or (i == 0 and adapt_first):
            model = _adapt_stage(model, stage_cfg, out, i, train_ids, adapt_cfg, tokenizer, resume,
                                 log_path, seed=train_cfg.seed)
        else:
            install_attention(model, stage_cfg)
        cfg = dataclasses.replace(train_cfg, steps=int(plan.steps[i]), seed=train_cfg.seed + i)
        batcher = TokenBatcher(train_ids, model.config.n_positions, cfg.batch_size, seed=cfg.seed)
        noise_base = stage_cfg.noise_seed

        def draw_noise(step: int, _i: int = i) -> None:
            set_noise_seed(model, noise_base + 1_000_003 * (_i + 1) + step)

        summary = train(model, batcher, cfg, out, stage=f"{i}_{mode}", resume=resume,
                        stop_after=steps_left, before_step=draw_noise, progress=progress)
        set_noise_seed(model, noise_base)
        if summary["step"] < cfg.steps:
            return {"finished": False, "stage": mode, "step": summary["step"]}
        if steps_left is not None:
            steps_left -= summary["step"]
        ppl = perplexity(model, val_ids)
        record = {"stage": mode, "index": i, "steps": cfg.steps, "final_train_loss": summary["loss"],
                  "val_perplexity": ppl, "seconds": summary["seconds"]}
        append_jsonl(log_path, {"event": "stage_done", **record})
        save_model(model, done_dir, tokenizer)
        write_json(done_dir / _DONE, record)
        stage_results.append(record)
        resume = True  # later stages may find their own checkpoints from an earlier run
    save_model(model, out, tokenizer)
    result = {"schema": "gaincell.finetune/1", "finished": True, "model": str(out),
              "source_model": str(model_dir), "stages": stage_results,
              "val_perplexity": stage_results[-1]["val_perplexity"],
              "plan": asdict(plan), "train_config": asdict(train_cfg),
              "adapt_config": asdict(adapt_cfg),
              "provenance": provenance(seed=train_cfg.seed, text_sha256=sha256_file(text_path))}
    write_json(out / "result.json", result)
    return result


def _read_done(path: Path) -> dict[str, Any]:
    return json.loads((path / _DONE).read_text())


def _adapt_stage(model, stage_cfg: AttentionConfig, out: Path, index: int, train_ids: torch.Tensor,
                 cfg: AdaptConfig, tokenizer, resume: bool, log_path: Path, seed: int):
    """Adapt the scalers to the next stage's mode (skipped when a finished result exists)."""
    adapted_dir = _stage_dir(out, index, stage_cfg.mode, "_adapted")
    if resume and _is_done(adapted_dir):
        return load_model(adapted_dir)
    calib, batch = calibration_batches(train_ids, model.config.n_positions, cfg, seed)

    def log(rec: dict[str, Any]) -> None:
        append_jsonl(log_path, {"event": "adapt", "stage": stage_cfg.mode, **rec})

    history = adapt_model(model, stage_cfg, calib, batch, cfg, log)
    save_model(model, adapted_dir, tokenizer)
    write_json(adapted_dir / _DONE, {"stage": stage_cfg.mode, "iterations": len(history) - 1,
                                     "final": history[-1], "first": history[0]})
    return model


def calibration_batches(train_ids: torch.Tensor, context: int, cfg: AdaptConfig,
                        seed: int) -> tuple[list[torch.Tensor], torch.Tensor]:
    """`cfg.calib_batches` random batches for the targets and one fixed batch for the loop."""
    batcher = TokenBatcher(train_ids, context, cfg.batch_size, seed=seed + 7919)
    calib = [batcher.next() for _ in range(cfg.calib_batches)]
    return calib, batcher.next()
