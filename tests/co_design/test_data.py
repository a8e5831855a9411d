"""Sliding evaluation windows score every token exactly once; the split is by position."""

from __future__ import annotations

import pytest

from co_design.data import split_by_position, sliding_windows
from gaincell.errors import ConfigError


@pytest.mark.parametrize("n,context,stride", [(10, 4, 2), (100, 32, 16), (33, 32, 16), (5, 8, 4), (64, 16, 15)])
def test_windows_score_each_target_once(n, context, stride):
    scored = []
    for begin, end, n_new in sliding_windows(n, context, stride):
        assert 0 <= begin < end <= n and end - begin <= context and 1 <= n_new <= end - begin - 1
        scored.extend(range(end - n_new, end))
    assert scored == list(range(1, n))


def test_split_by_position():
    train, val = split_by_position("abcdefghij", 0.9)
    assert (train, val) == ("abcdefghi", "j")
    with pytest.raises(ConfigError, match="'stride'"):
        sliding_windows(64, 16, 16)
    with pytest.raises(ConfigError, match="train_fraction"):
        split_by_position("abc", 1.0)
