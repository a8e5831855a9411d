"""The statistics-matching adaptation closes the gap to the reference model and lowers perplexity."""

from __future__ import annotations

import pytest
import torch

from co_design.adapt import AdaptConfig, adapt_scalers, record_statistics
from co_design.config import AttentionConfig
from co_design.data import TokenBatcher, encode, load_tokenizer, read_text
from co_design.swap import install_attention, load_model, scalers_of
from gaincell.errors import ConfigError


def _batches(model_dir, text, n, seed=0):
    ids = encode(load_tokenizer(model_dir), read_text(text))
    b = TokenBatcher(ids, 32, 8, seed=seed)
    return [b.next() for _ in range(n)]


def _map_to_device_ranges(model, batches):
    """A hand-made linear_hw mapping: digital statistics -> mid-range device values."""
    stats = record_statistics(model, batches, momentum=None)
    with torch.no_grad():
        for layer, s in enumerate(scalers_of(model)):
            for name, centre, spread in (("q", 0.5, 0.25), ("k", 0.45, 0.2), ("v", 0.45, 0.2)):
                mean, std = stats[(layer, name)]
                a = spread / std * s.a(name)
                s.b(name).copy_(centre - a / s.a(name) * (mean - s.b(name)))
                s.a(name).copy_(a)


def test_adaptation_reduces_gap_and_perplexity(tiny_model_dir, small_text):
    model = load_model(tiny_model_dir, mode="linear_hw", array_rows=8)
    calib = _batches(tiny_model_dir, small_text, 3)
    _map_to_device_ranges(model, calib)
    targets = record_statistics(model, calib, momentum=0.1)
    # naive mapping of the same weights onto the nonlinear cell: scalers back to their init
    naive = load_model(tiny_model_dir, mode="gaincell", array_rows=8)
    history = adapt_scalers(naive, targets, calib[0], AdaptConfig(max_iters=30, alpha_iters=15))
    first, last = history[0], history[-1]
    assert last["max_std_gap"] < 0.1 * first["max_std_gap"]
    assert last["max_mean_gap"] < 0.1 * first["max_mean_gap"]
    # measured with the sky130 card: 42.6 -> 41.3 (the naive gap is small: the cell is near linear)
    assert last["perplexity"] < 0.98 * first["perplexity"], (first, last)
    assert [r["iteration"] for r in history] == list(range(len(history)))


def test_alpha_schedule_and_bad_settings():
    cfg = AdaptConfig(alpha_iters=50)
    assert cfg.alpha(0) == 1.0 and cfg.alpha(49) == pytest.approx(0.1) and cfg.alpha(80) == 0.1
    assert 0.1 < cfg.alpha(25) < 1.0
    with pytest.raises(ConfigError, match="'alpha_end'"):
        AdaptConfig(alpha_end=0.0)
