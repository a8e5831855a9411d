"""Benchmark: analog gain-cell attention (cost model, default card) against digital attention.

Measures, side by side in one run, the authors' GPU protocol on this machine (one GPT-2
attention layer, 12 heads x 64, KV cache, torch SDPA; batch 64 amortized and batch 1) and
sets it beside the analog latency/energy per token per layer from the cost model, the GPU
rooflines and the authors' published GPU measurements. Prints a table; the last line is one
JSON object of the figures.

    .venv/bin/python benchmarks/report.py [--tokens 1024] [--batch 64]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from behavioral.cards import default_card  # noqa: E402
from reports.bench import BenchConfig, run_bench  # noqa: E402
from reports.config import GPT2_124M, CostConfig  # noqa: E402
from reports.cost_model import CostModel  # noqa: E402
from reports.report import ReportInputs, comparison_rows  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokens", type=int, default=1024, help="tokens generated (authors: 1024)")
    ap.add_argument("--batch", type=int, default=64, help="batch (authors: 64)")
    args = ap.parse_args(argv)

    card = default_card()
    model = CostModel.build(card, GPT2_124M, CostConfig())
    energy = model.energy_per_token(1023)["attention_core_per_layer_j"]
    latency = model.latency_per_token()["attention_per_layer_s"]
    with tempfile.TemporaryDirectory() as tmp:
        bench = run_bench(BenchConfig(batch=args.batch, tokens=args.tokens), Path(tmp), "cpu")
        rows = comparison_rows(energy, latency, ReportInputs(card=card, bench_file=Path(tmp) / "bench.json",
                                                             gpu_tokens=args.tokens, gpu_batch=args.batch), GPT2_124M)
    missing = [m.component for m in model.missing()]
    print(f"analog (default card, GPT-2 124M, W=1024): {energy.value * 1e9:.2f} nJ and {latency.value * 1e9:.1f} ns "
          f"per token per layer" + (f"; not characterized, left out: {', '.join(missing)}" if missing else ""))
    print(f"{'digital baseline':42} {'basis':28} {'latency':>10} {'energy':>10} {'lat x':>9} {'energy x':>10} {'paper':>14}")
    figures: dict[str, float | None] = {"analog_energy_per_token_per_layer_j": energy.value,
                                        "analog_latency_per_token_per_layer_s": latency.value}
    def g(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.3g}"

    for r in rows:
        lat = r.get("latency_per_token_s", {}).get("value")
        en = r.get("energy_per_token_j", {}).get("value")
        lr = r.get("latency_ratio", {}).get("value")
        er = r.get("energy_ratio", {}).get("value")
        paper = (f"{r['paper_latency_ratio']['value']:.0f}/{r['paper_energy_ratio']['value']:.0f}"
                 if "paper_latency_ratio" in r else "-")
        print(f"{r['name'][:42]:42} {r['basis'][:28]:28} {g(lat):>10} {g(en):>10} {g(lr):>9} {g(er):>10} {paper:>14}")
        kind = "measured" if "measured" in r["name"] else "published" if "authors" in r["name"] else "roofline"
        device = "this_cpu" if kind == "measured" else r["name"].split(" (")[0].lower().replace(" ", "_")
        batch = "b1" if r["basis"].split(",")[0] == "batch 1" else "bproto"
        figures[f"latency_ratio_{device}_{kind}_{batch}"] = lr
        figures[f"energy_ratio_{device}_{kind}_{batch}"] = er
    res = bench["results"]
    figures["cpu_protocol_latency_per_token_s"] = res["protocol_batch"]["latency_per_token_s"]
    figures["cpu_batch1_step_latency_s"] = res["batch1"]["step_latency_s"]
    figures["tokens"] = args.tokens
    figures["batch"] = args.batch
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
