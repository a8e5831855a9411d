"""Tiny models and texts shared by the co_design tests (a few seconds to build)."""

from __future__ import annotations

from pathlib import Path

import pytest

from co_design.train_base import BaseModelConfig, train_base
from co_design.trainer import TrainConfig

TINY = BaseModelConfig(n_layer=2, n_head=2, n_embd=32, context=32, window=16, vocab_size=300,
                       dropout=0.0, eval_tokens=500)


@pytest.fixture(scope="session")
def small_text(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40,000 characters of tinyshakespeare."""
    path = tmp_path_factory.mktemp("text") / "small.txt"
    path.write_text((shared_data / "tinyshakespeare.txt").read_text()[:40000])
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(small_text: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer digital GPT-2 (context 32, window 16) trained for 200 steps (attention matters)."""
    out = tmp_path_factory.mktemp("tiny-base")
    train_base(small_text, out, TINY, TrainConfig(steps=200, batch_size=8, lr=3e-3, warmup_steps=5,
                                                  checkpoint_every=0, log_every=20), progress=False)
    return out
