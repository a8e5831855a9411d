"""`gaincell eval` writes the eval.json of docs/INTERFACES.md."""

from __future__ import annotations

import json
import math

from gaincell.cli import main


def test_eval_cli_writes_schema(tiny_model_dir, small_text, tmp_path):
    rc = main(["eval", "--model", str(tiny_model_dir), "--attention", "gaincell", "--array-rows", "8",
               "--text", str(small_text), "--max-tokens", "300", "--out", str(tmp_path)])
    assert rc == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    for key in ("model", "attention", "text", "perplexity_mean", "perplexity_std", "seeds", "per_seed"):
        assert key in result
    assert result["attention"] == "gaincell" and result["seeds"] == [0, 1, 2, 3, 4]
    assert len(result["per_seed"]) == 5 and all(math.isfinite(p) and p > 1 for p in result["per_seed"])
    assert result["attention_config"]["array_rows"] == 8 and "tools" in result["provenance"]


def test_eval_cli_bad_window_is_one_clear_line(tiny_model_dir, small_text, tmp_path, capsys):
    rc = main(["eval", "--model", str(tiny_model_dir), "--text", str(small_text), "--window", "64",
               "--out", str(tmp_path)])
    assert rc == 2
    assert "invalid value for 'window': 64" in capsys.readouterr().err
