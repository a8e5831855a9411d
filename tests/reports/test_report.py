"""`gaincell report`: files produced, HTML and JSON valid, every JSON number has a source."""

from __future__ import annotations

import base64
import json
from html.parser import HTMLParser

from gaincell.cli import main
from gaincell.fileio import write_json
from reports.bench import BenchConfig, run_bench
from reports.config import CostConfig, ModelShape
from reports.report import ReportInputs, make_report
from reports.sweep import SweepGrid, run_sweep

SMALL = ModelShape("small", n_layers=2, n_heads=2, d_model=64, context_tokens=128)
EXEMPT = ("config", "provenance", "inputs", "cards", "references")


class _Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.imgs: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "img":
            self.imgs.append(dict(attrs)["src"])
        elif tag not in ("meta", "br"):
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"unbalanced </{tag}>"
        self.stack.pop()


def unsourced_numbers(node, path="", inside_sourced=False):
    """Paths of numbers that are not the value of a {value, unit, source} dict."""
    bad = []
    if isinstance(node, dict):
        sourced = "value" in node and bool(node.get("source"))
        for k, v in node.items():
            if not path and k in EXEMPT:
                continue
            if k == "config" or k == "fields":
                continue
            bad += unsourced_numbers(v, f"{path}.{k}", sourced and k == "value")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            bad += unsourced_numbers(v, f"{path}[{i}]", inside_sourced)
    elif isinstance(node, (int, float)) and not isinstance(node, bool):
        if not inside_sourced:
            bad.append(path)
    return bad


def _inputs(tmp_path, card):
    bench = run_bench(BenchConfig(batch=2, tokens=4, warmup_tokens=1), tmp_path / "bench", "cpu")
    assert bench["results"]
    ev = tmp_path / "eval.json"  # the documented eval.json schema (docs/INTERFACES.md)
    write_json(ev, {"model": str(tmp_path / "no-model"), "attention": "gaincell", "text": "t.txt",
                    "perplexity_mean": 12.5, "perplexity_std": 0.1, "seeds": [0], "per_seed": [12.5],
                    "attention_config": {"mode": "gaincell", "window": 64, "array_rows": 32}})
    run_sweep(card, SMALL, SweepGrid(windows=(64, 128), array_rows=(32,), q_bits=(3, 4), out_bits=(5,)),
              tmp_path / "sweep")
    return ReportInputs(card=card, cost=CostConfig(window_tokens=128, array_rows=32), shape=SMALL,
                        extra=[(SMALL, CostConfig(window_tokens=64, array_rows=32))],
                        bench_file=tmp_path / "bench" / "bench.json", eval_files=[ev],
                        sweep_dir=tmp_path / "sweep", gpu_tokens=64, gpu_batch=8)


def test_report_files_valid_and_sourced(tmp_path, card):
    paths = make_report(_inputs(tmp_path, card), tmp_path / "report")
    rec = json.loads(paths["json"].read_text())
    assert rec["schema"] == "gaincell.report/1" and len(rec["config_sha256"]) == 64
    assert all(len(h) == 64 for h in rec["cards"].values())
    assert rec["provenance"]["tools"]["torch"]
    assert unsourced_numbers(rec) == []
    names = {r["name"] for r in rec["comparison"]}
    assert any("measured" in n for n in names) and any("roofline" in n for n in names)
    assert all("latency_ratio" in r for r in rec["comparison"])

    p = _Collect()
    p.feed(paths["html"].read_text())
    p.close()
    assert p.stack == [] and "table" in p.tags
    assert len(p.imgs) == len(rec["plots"]) == 4  # breakdown, context, area, Pareto
    for src in p.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    md = paths["markdown"].read_text()
    for plot in rec["plots"]:
        assert f"]({plot})" in md and (tmp_path / "report" / plot).is_file()


def test_json_source_check_catches_a_bare_number():
    assert unsourced_numbers({"a": {"value": 1.0, "unit": "J", "source": "x"}}) == []
    assert unsourced_numbers({"a": {"value": 1.0, "unit": "J"}}) == [".a.value"]
    assert unsourced_numbers({"a": [1, 2]}) == [".a[0]", ".a[1]"]


def test_report_command(tmp_path, card, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the defaults look under ./runs: keep other runs out
    card_path = tmp_path / "card.json"
    write_json(card_path, card)
    rc = main(["report", "--card", str(card_path), "--shape", "gpt2-124M", "--small-window", "64",
               "--out", str(tmp_path / "r"), "--sweep", str(tmp_path / "none")])
    assert rc == 0
    rec = json.loads((tmp_path / "r" / "report.json").read_text())
    assert rec["config"]["shape"]["name"] == "gpt2-124M" and rec["extra"][0]["figures"]
    assert unsourced_numbers(rec) == []


def test_report_command_rejects_missing_bench(tmp_path, card, capsys):
    card_path = tmp_path / "card.json"
    write_json(card_path, card)
    rc = main(["report", "--card", str(card_path), "--bench", str(tmp_path / "nope.json"), "--out", str(tmp_path)])
    assert rc == 2 and "--bench" in capsys.readouterr().err


def test_report_ignores_sweep_points_of_another_card(tmp_path, card):
    run_sweep(card, SMALL, SweepGrid(windows=(64,), array_rows=(32,), q_bits=(4,), out_bits=(5,)), tmp_path / "sw")
    other = dict(card, energy=dict(card["energy"], mac_read_j=1e-15))
    rec = json.loads(make_report(ReportInputs(card=other, cost=CostConfig(window_tokens=64, array_rows=32), shape=SMALL,
                                              sweep_dir=tmp_path / "sw", gpu_tokens=16, gpu_batch=2),
                                 tmp_path / "r")["json"].read_text())
    assert rec["sweep"]["points"]["value"] == 0
    same = json.loads(make_report(ReportInputs(card=card, cost=CostConfig(window_tokens=64, array_rows=32), shape=SMALL,
                                               sweep_dir=tmp_path / "sw", gpu_tokens=16, gpu_batch=2),
                                  tmp_path / "r2")["json"].read_text())
    assert same["sweep"]["points"]["value"] == 1


def test_headline_lower_bound_only_for_missing_energy_or_latency(card):
    """Missing area components do not make the energy/latency headline a lower bound; they are
    said in the area section instead (and listed as not characterized)."""
    from reports.render import to_markdown
    from reports.report import build

    def markdown(c):
        inp = ReportInputs(card=c, cost=CostConfig(window_tokens=128, array_rows=32), shape=SMALL,
                           gpu_tokens=64, gpu_batch=8)
        return to_markdown(build(inp)[1])

    md = markdown(card)
    assert "(lower bound" not in md and "Lower bound:" not in md and "Not characterized" not in md
    assert "Periphery: one PWM row driver" in md
    card["area"].update(pwm_driver_area_m2=None, pwm_driver_devices=None)
    md = markdown(card)
    assert "(lower bound" not in md
    assert "Lower bound: area.pwm_drivers not characterized" in md and "Not characterized" in md
    card["energy"]["c2p_conversion_j"] = None
    md = markdown(card)
    assert "lower bound: some energy or latency components are not characterized (energy.c2p_qk, energy.c2p_sv)" in md
