"""Training checkpoints: resume after an interruption continues bit-identically on CPU."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from co_design.config import AttentionConfig
from co_design.data import TokenBatcher
from co_design.swap import install_attention, new_gpt2
from co_design.trainer import TrainConfig, train
from gaincell.fileio import read_jsonl

REPO = Path(__file__).resolve().parents[2]


def _setup(seed=0):
    torch.manual_seed(123)
    model = new_gpt2(1, 2, 16, 16, 40, dropout=0.1)  # dropout on: the RNG state must be restored
    install_attention(model, AttentionConfig(mode="digital_swa", window=8))
    batcher = TokenBatcher(torch.randint(0, 40, (500,), generator=torch.Generator().manual_seed(1)), 16, 4)
    return model, batcher


def test_stop_and_resume_is_bit_identical(tmp_path):
    cfg = TrainConfig(steps=7, batch_size=4, lr=1e-2, warmup_steps=2, checkpoint_every=2, log_every=1)
    ref, b = _setup()
    train(ref, b, cfg, tmp_path / "ref", progress=False)
    model, b = _setup()
    partial = train(model, b, cfg, tmp_path / "run", stop_after=5, progress=False)  # checkpoint at 4
    assert partial["step"] == 5
    model, b = _setup()                                   # a fresh process would start like this
    train(model, b, cfg, tmp_path / "run", resume=True, progress=False)
    for (name, p), q in zip(ref.named_parameters(), model.parameters()):
        assert torch.equal(p, q), name
    steps = [r["step"] for r in read_jsonl(tmp_path / "run" / "train_log.jsonl")]
    assert steps == list(range(1, 8))                     # the log has no duplicated steps


def _train_base_cmd(text: Path, out: Path, resume: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "gaincell.cli", "train-base", "--text", str(text), "--layers", "1",
           "--heads", "2", "--embd", "16", "--context", "16", "--window", "8", "--vocab", "280",
           "--steps", "16", "--batch-size", "4", "--checkpoint-every", "4", "--eval-tokens", "100",
           "--dropout", "0.1", "--out", str(out), "--no-progress"]
    return cmd + (["--resume"] if resume else [])


def test_kill_9_then_resume_matches_uninterrupted_run(small_text, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ref, run = tmp_path / "ref", tmp_path / "run"
    subprocess.run(_train_base_cmd(small_text, ref), check=True, env=env, cwd=REPO, capture_output=True)
    proc = subprocess.Popen(_train_base_cmd(small_text, run), env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pointer = run / "checkpoints" / "train-base" / "latest.json"
    deadline = time.time() + 120
    while not pointer.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert pointer.exists() and not (run / "result.json").exists(), "killed too late to test resume"
    subprocess.run(_train_base_cmd(small_text, run, resume=True), check=True, env=env, cwd=REPO,
                   capture_output=True)
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
