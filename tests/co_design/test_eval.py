"""`gaincell eval` writes the eval.json of docs/INTERFACES.md."""

from __future__ import annotations

import json
import math

from behavioral.cards import default_card
from co_design.evaluate import evaluate_model_dir
from gaincell.cli import main
from gaincell.fileio import write_json


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
    assert result["noise_emulated"] and result["noise_sources"] == ["mismatch", "read_noise", "write_noise"]
    assert result["perplexity_std"] > 0


def test_eval_cli_bad_window_is_one_clear_line(tiny_model_dir, small_text, tmp_path, capsys):
    rc = main(["eval", "--model", str(tiny_model_dir), "--text", str(small_text), "--window", "64",
               "--out", str(tmp_path)])
    assert rc == 2
    assert "invalid value for 'window': 64" in capsys.readouterr().err


def test_seed_spread_comes_from_mismatch_and_from_read_noise(tiny_model_dir, small_text, tmp_path):
    """Five seeds with only one noise source characterized each: both make their own spread."""
    def card(name, **noise):
        raw = default_card().to_dict()
        raw["noise"].update(noise)
        return str(write_json(tmp_path / f"{name}.json", raw))

    kw = dict(seeds=(0, 1, 2, 3, 4), max_tokens=200, array_rows=8)
    read = evaluate_model_dir(tiny_model_dir, "gaincell", small_text, **kw,
                              card_path=card("read", mismatch_sigma_rel=None, write_noise_v=None))
    mism = evaluate_model_dir(tiny_model_dir, "gaincell", small_text, **kw,
                              card_path=card("mism", read_noise_rel=None, write_noise_v=None))
    assert read["noise_sources"] == ["read_noise"] and mism["noise_sources"] == ["mismatch"]
    for rec in (read, mism):
        assert len(set(rec["per_seed"])) == 5 and rec["perplexity_std"] > 0


def test_acam_seed_spread_comes_from_the_window_mismatch(tiny_model_dir, small_text, tmp_path):
    """Mode acam: the aCAM cells' window mismatch makes a seed-to-seed spread; a card without
    noise.acam_edge_sigma_v emulates none (identical perplexities)."""
    kw = dict(seeds=(0, 1, 2), max_tokens=200, array_rows=8)
    rec = evaluate_model_dir(tiny_model_dir, "acam", small_text, **kw)
    assert rec["noise_sources"] == ["acam_mismatch"] and rec["noise_emulated"]
    assert len(set(rec["per_seed"])) == 3 and rec["perplexity_std"] > 0
    raw = default_card().to_dict()
    raw["noise"]["acam_edge_sigma_v"] = None
    flat = evaluate_model_dir(tiny_model_dir, "acam", small_text, **kw,
                              card_path=str(write_json(tmp_path / "no_acam_sigma.json", raw)))
    assert flat["noise_sources"] == [] and len(set(flat["per_seed"])) == 1
