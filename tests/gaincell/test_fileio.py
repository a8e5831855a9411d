"""Atomic writes and crash-tolerant JSONL."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gaincell.fileio import append_jsonl, read_jsonl, write_json, write_npz


def test_append_after_torn_line_keeps_new_record(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl(path, {"step": 1})
    with open(path, "a") as fh:
        fh.write('{"step": 2, "lo')  # a writer killed mid-line
    append_jsonl(path, {"step": 3})
    assert [r["step"] for r in read_jsonl(path)] == [1, 3]


def test_write_json_is_complete_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "r.json"
    write_json(path, {"x": np.float64(1.5), "a": np.arange(3)})
    assert json.loads(path.read_text()) == {"x": 1.5, "a": [0, 1, 2]}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]


def test_write_npz_round_trip(tmp_path: Path) -> None:
    path = write_npz(tmp_path / "d.npz", a=np.eye(2))
    with np.load(path) as data:
        np.testing.assert_array_equal(data["a"], np.eye(2))
