"""Staged fine-tuning: interrupted in the second stage, resumed, ends bit-identical."""

from __future__ import annotations

import torch
from safetensors.torch import load_file

from co_design.adapt import AdaptConfig
from co_design.finetune import FinetuneConfig, finetune
from co_design.trainer import TrainConfig
from gaincell.fileio import read_jsonl

PLAN = FinetuneConfig(stages=("linear_hw", "gaincell"), steps=(3, 4), eval_tokens=200)
TRAIN = TrainConfig(steps=1, batch_size=4, lr=1e-3, warmup_steps=1, checkpoint_every=2, log_every=1)
ADAPT = AdaptConfig(max_iters=5, alpha_iters=3, calib_batches=2, batch_size=4)


def _run(model_dir, text, out, **kw):
    return finetune(model_dir, text, out, PLAN, TRAIN, ADAPT, progress=False, array_rows=8, **kw)


def test_resume_in_second_stage_matches_uninterrupted(tiny_model_dir, small_text, tmp_path):
    ref = _run(tiny_model_dir, small_text, tmp_path / "ref")
    assert ref["finished"] and [s["stage"] for s in ref["stages"]] == ["linear_hw", "gaincell"]
    part = _run(tiny_model_dir, small_text, tmp_path / "run", stop_after=6)  # 3 + 3 of 4 steps
    assert part == {"finished": False, "stage": "gaincell", "step": 3}
    done = _run(tiny_model_dir, small_text, tmp_path / "run", resume=True)
    assert done["val_perplexity"] == ref["val_perplexity"]
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(tmp_path / "run" / "model.safetensors")
    for key in a:
        assert torch.equal(a[key], b[key]), key
    events = read_jsonl(tmp_path / "run" / "finetune_log.jsonl")
    assert any(e["event"] == "adapt" for e in events)
    def steps_and_losses(path):
        return [(r["stage"], r["step"], r["loss"]) for r in read_jsonl(path / "train_log.jsonl")]

    assert steps_and_losses(tmp_path / "run") == steps_and_losses(tmp_path / "ref")
