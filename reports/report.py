"""`gaincell report`: costs, GPU comparison and plots as Markdown, HTML and a JSON record.

The JSON record (`report.json`, schema `gaincell.report/1`) holds the config and its hash, the
card hashes, tool versions, and every figure as {value, unit, source}: a card field, a cited
table entry, a measurement file, or a formula over those. The Markdown and HTML show the same
figures with the plots (HTML: embedded base64 PNG; Markdown: files under `plots/`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gaincell.errors import ConfigError
from gaincell.fileio import write_bytes, write_json, write_text
from gaincell.provenance import provenance, sha256_file, sha256_text
from reports import plots
from reports.card_view import CardView
from reports.config import CostConfig, GPT2_124M, ModelShape
from reports.cost_model import CostModel
from reports.figures import Sourced, assumptions, published, references
from reports.gpu import GPU_KEYS, AttentionWorkload, GpuSpec, roofline, step_cost
from reports.render import H, Image, P, Table, si, to_html, to_markdown
from reports.sweep import RESULTS_NAME, pareto_front

SCHEMA = "gaincell.report/1"
PAPER_COMPONENTS = {  # the authors' per-head energy breakdown under our component names
    "kv_write": "leroux2025.dac_write_energy_per_token_per_head_j",
    "qk_array_read": "leroux2025.qk_array_energy_per_token_per_head_j",
    "sv_array_read": "leroux2025.sv_array_energy_per_token_per_head_j",
    "control_routing": "leroux2025.digital_control_energy_per_token_per_head_j",
}


@dataclass
class ReportInputs:
    """What a report is made from.

    Attributes:
        card: device card (HeadCard, dict or path).
        cost: analog settings of the main (authors' protocol) comparison.
        shape: model shape of the main comparison (GPT-2 124M by default).
        extra: further (shape, cost) pairs shown beside it (e.g. the small demo model).
        bench_file: `bench.json` from `gaincell bench-gpu` (None: no measurement).
        eval_files: `eval.json` files from `gaincell eval`.
        sweep_dir: folder of a `gaincell sweep` (None: no sweep).
        gpu_tokens: tokens of the GPU roofline protocol (authors: 1024).
        gpu_batch: batch of the GPU protocol (authors: 64).
        context_tokens: context length the per-token energy is averaged over (None: the shape's).
    """

    card: Any
    cost: CostConfig = field(default_factory=CostConfig)
    shape: ModelShape = GPT2_124M
    extra: Sequence[tuple[ModelShape, CostConfig]] = ()
    bench_file: Path | None = None
    eval_files: Sequence[Path] = ()
    sweep_dir: Path | None = None
    gpu_tokens: int = 1024
    gpu_batch: int = 64
    context_tokens: int | None = None


def _d(x: dict[str, Sourced]) -> dict[str, Any]:
    return {k: v.as_dict() for k, v in x.items()}


def _ratio(num: Sourced, den: Sourced, what: str) -> Sourced:
    return Sourced(num.value / den.value, "x", f"derived: {what} = ({num.source}) / ({den.source})")


def _measured(path: Path, rec: dict[str, Any], run: str, key: str, unit: str) -> Sourced | None:
    v = rec.get("results", {}).get(run, {}).get(key)
    if v is None:
        return None
    return Sourced(float(v), unit, f"measurement {path}#results.{run}.{key}")


def load_bench(path: Path) -> dict[str, Any]:
    """Read and check a bench.json."""
    try:
        rec = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError("bench_file", str(path), f"a readable bench.json ({exc})") from None
    if rec.get("schema") != "gaincell.bench_attention/1":
        raise ConfigError("schema", rec.get("schema"), "gaincell.bench_attention/1", source=str(path))
    return rec


def comparison_rows(analog_e: Sourced, analog_t: Sourced, inp: ReportInputs, shape: ModelShape) -> list[dict[str, Any]]:
    """Comparison rows: published GPU measurements, rooflines (protocol batch and batch 1),
    and this machine's measurement; each with latency and energy ratios."""
    rows: list[dict[str, Any]] = []

    def add(name: str, basis: str, lat: Sourced | None, en: Sourced | None, paper: str | None) -> None:
        row: dict[str, Any] = {"name": name, "basis": basis}
        if lat is not None:
            row["latency_per_token_s"] = lat.as_dict()
            row["latency_ratio"] = _ratio(lat, analog_t, "GPU latency / analog latency").as_dict()
        if en is not None:
            row["energy_per_token_j"] = en.as_dict()
            row["energy_ratio"] = _ratio(en, analog_e, "GPU energy / analog energy").as_dict()
        if paper:
            row["paper_latency_ratio"] = published(f"leroux2025.paper_ratio_latency_{paper}").as_dict()
            row["paper_energy_ratio"] = published(f"leroux2025.paper_ratio_energy_{paper}").as_dict()
        rows.append(row)

    for key, label in (("rtx4090", "RTX 4090"), ("jetson_nano", "Jetson Nano")):
        add(f"{label} (authors' measurement)", f"batch {inp.gpu_batch}, amortized",
            published(f"leroux2025.{key}_latency_per_token_s"), published(f"leroux2025.{key}_energy_per_token_j"), key)
    proto = AttentionWorkload(n_heads=shape.n_heads, d_head=shape.d_head, batch=inp.gpu_batch, tokens=inp.gpu_tokens)
    single = AttentionWorkload(n_heads=shape.n_heads, d_head=shape.d_head, batch=1, tokens=inp.gpu_tokens)
    for key in GPU_KEYS:
        spec = GpuSpec.named(key)
        r = roofline(spec, proto)
        add(f"{spec.name} (roofline)", f"batch {inp.gpu_batch}, amortized", r["latency_per_token_s"],
            r["energy_per_token_j"], key)
        r1 = roofline(spec, single)
        add(f"{spec.name} (roofline)", "batch 1", r1["step_latency_s"], r1["energy_per_token_j"], None)
    if inp.bench_file is not None:
        rec = load_bench(inp.bench_file)
        res = rec.get("results", {})
        for run, basis_key in (("protocol_batch", "latency_per_token_s"), ("batch1", "step_latency_s")):
            if run not in res:
                continue
            m = res[run]
            cfg = rec.get("config", {})
            b = 1 if run == "batch1" else cfg.get("batch")
            add(f"{m.get('device_name', 'this machine')} ({m.get('device')}, measured)",
                f"batch {b}, {cfg.get('tokens')} tokens, {'amortized' if run != 'batch1' else 'per step'}",
                _measured(inp.bench_file, rec, run, basis_key, "s"),
                _measured(inp.bench_file, rec, run, "energy_per_token_j", "J"), None)
    return rows


def _context_curves(model: CostModel, shape: ModelShape) -> tuple[list[int], dict[str, Any]]:
    """Latency and energy per token per layer versus context length: analog and GPU rooflines (batch 1)."""
    ctx = [2 ** k for k in range(4, 20) if 2 ** k <= shape.context_tokens]
    lat_a = model.latency_per_token()["attention_per_layer_s"]
    series: dict[str, Any] = {}
    en_a = [model.energy_per_token(t - 1)["attention_core_per_layer_j"].value for t in ctx]
    series["analog (this card)"] = {
        "latency_s": {"value": [lat_a.value] * len(ctx), "unit": "s", "source": lat_a.source},
        "energy_j": {"value": en_a, "unit": "J", "source": "derived: CostModel.energy_per_token(t-1)"
                     f".attention_core_per_layer_j | from: card {model.dev.card.name} and the cited table"}}
    # attention core only (no projections), like the analog side
    work = AttentionWorkload(n_heads=shape.n_heads, d_head=shape.d_head, batch=1, tokens=max(ctx), projections=False)
    for key in GPU_KEYS:
        spec = GpuSpec.named(key)
        pts = [step_cost(spec, work, t - 1) for t in ctx]
        src = f"derived: roofline step at context t, batch 1, attention core without projections | from: {spec.bandwidth.source}; {spec.peak.source}"
        series[f"{spec.name} roofline, batch 1"] = {
            "latency_s": {"value": [p[0] for p in pts], "unit": "s", "source": src},
            "energy_j": {"value": [p[1] for p in pts], "unit": "J", "source": src + f"; {spec.power.source}"}}
    return ctx, series


def _eval_points(inp: ReportInputs) -> list[dict[str, Any]]:
    """Accuracy-energy points from eval.json files (analog modes: energy from the cost model)."""
    pts = []
    for path in inp.eval_files:
        path = Path(path)
        rec = json.loads(path.read_text())
        att = rec.get("attention_config") or {"mode": rec.get("attention")}
        row: dict[str, Any] = {"file": str(path), "attention": rec.get("attention"),
                               "perplexity": {"value": rec["perplexity_mean"], "unit": "",
                                              "source": f"measurement {path}#perplexity_mean"}}
        if att.get("mode") in ("gaincell", "linear_hw", "acam") and "window" in att:
            shape = ModelShape.from_model_dir(rec["model"]) if Path(rec["model"], "config.json").is_file() else inp.shape
            cfg = CostConfig.from_attention_config(att)
            m = CostModel.build(inp.card, shape, cfg)
            e = m.energy_per_token(cfg.window_tokens - 1)["attention_core_model_j"]
            row["energy_per_token_j"] = e.as_dict()
        pts.append(row)
    return pts


def build(inp: ReportInputs) -> tuple[dict[str, Any], list[Any]]:
    """Compute the report: (JSON record, render blocks)."""
    view = CardView.from_any(inp.card)
    main = CostModel.build(view, inp.shape, inp.cost)
    summary = main.summary(inp.context_tokens)
    steady = main.energy_per_token(max(inp.cost.window_tokens, inp.shape.context_tokens) - 1)
    analog_e = steady["attention_core_per_layer_j"]
    analog_t = main.latency_per_token()["attention_per_layer_s"]
    rows = comparison_rows(analog_e, analog_t, inp, inp.shape)
    extras = []
    for shape, cfg in inp.extra:
        m = CostModel.build(view, shape, cfg)
        extras.append({"config": {"shape": asdict(shape), "cost": cfg.to_dict()}, "figures": m.summary()})
    ctx, curves = _context_curves(main, inp.shape)
    evals = _eval_points(inp)
    sweep_rows = []
    if inp.sweep_dir is not None and (Path(inp.sweep_dir) / RESULTS_NAME).is_file():
        from gaincell.fileio import read_jsonl
        # only points costed with this very card (a sweep folder may hold several cards' runs)
        sweep_rows = [r for r in read_jsonl(Path(inp.sweep_dir) / RESULTS_NAME) if r.get("card_sha256") == view.sha256]
    config = {"shape": asdict(inp.shape), "cost": inp.cost.to_dict(), "gpu_batch": inp.gpu_batch,
              "context_tokens": inp.context_tokens or inp.shape.context_tokens,
              "gpu_tokens": inp.gpu_tokens, "extra": [{"shape": asdict(s), "cost": c.to_dict()} for s, c in inp.extra]}
    inputs = {"card": {"name": view.name, "sha256": view.sha256}}
    if inp.bench_file is not None:
        inputs["bench_file"] = {"path": str(inp.bench_file), "sha256": sha256_file(inp.bench_file)}
    inputs["eval_files"] = [{"path": str(p), "sha256": sha256_file(p)} for p in inp.eval_files]
    if sweep_rows:
        inputs["sweep"] = {"path": str(Path(inp.sweep_dir) / RESULTS_NAME),
                           "sha256": sha256_file(Path(inp.sweep_dir) / RESULTS_NAME)}
    paper = {k: published(v).as_dict() for k, v in PAPER_COMPONENTS.items()}
    record = {
        "schema": SCHEMA,
        "config": config,
        "config_sha256": sha256_text(json.dumps(config, sort_keys=True, default=str)),
        "cards": {view.name: view.sha256},
        "inputs": inputs,
        "provenance": provenance(),
        "headline": {"analog_energy_per_token_per_layer_j": analog_e.as_dict(),
                     "analog_latency_per_token_per_layer_s": analog_t.as_dict(),
                     "paper_headline_latency_reduction": published("leroux2025.headline_latency_reduction").as_dict(),
                     "paper_headline_energy_reduction": published("leroux2025.headline_energy_reduction").as_dict(),
                     "paper_headline_energy_reduction_v1": published("leroux2025.headline_energy_reduction_v1").as_dict(),
                     "paper_energy_per_token_per_head_j": published("leroux2025.total_energy_per_token_per_head_j").as_dict(),
                     "paper_latency_per_token_s": published("leroux2025.latency_per_token_s").as_dict()},
        "comparison": rows,
        "main": summary,
        "extra": extras,
        "paper_energy_breakdown_per_head_j": paper,
        "context_curves": {"context_tokens": {"value": ctx, "unit": "tokens", "source": "config: powers of 2 up to the context"},
                           "series": curves},
        "accuracy": evals,
        "sweep": _sweep_summary(sweep_rows, inputs.get("sweep", {}).get("path")),
        "references": references(),
    }
    return record, _blocks(record, inp, main, ctx, curves, evals, sweep_rows)


def _sweep_summary(rows: list[dict[str, Any]], path: str | None) -> dict[str, Any]:
    if not rows:
        return {"points": {"value": 0, "unit": "", "source": "no sweep results given"}}
    keys = ["energy_per_token_j", "perplexity"] if any(r.get("perplexity") is not None for r in rows) \
        else ["energy_per_token_j", "latency_per_token_s", "area_m2"]
    front = pareto_front(rows, keys)
    src = f"measurement/derived {path}"
    return {"points": {"value": len(rows), "unit": "", "source": src},
            "pareto_objectives": keys,
            "pareto_front": [{k: {"value": rows[i][k], "unit": "", "source": f"{src} line key {rows[i]['key']}"}
                              for k in keys} | {"config": rows[i]["config"]} for i in front]}


def _fmt_ratio(row: dict[str, Any], key: str) -> str:
    return si(row[key]["value"], "x") if key in row else "n/a"


def _blocks(rec: dict[str, Any], inp: ReportInputs, main: CostModel, ctx: list[int],
            curves: dict[str, Any], evals: list[dict[str, Any]], sweep_rows: list[dict[str, Any]]) -> list[Any]:
    hl = rec["headline"]
    missing = rec["main"]["not_characterized"]
    # the headline is energy and latency: only their missing components make it a lower bound
    cost_missing = [m["component"] for m in missing if not m["component"].startswith("area.")]
    area_missing = [m["component"] for m in missing if m["component"].startswith("area.")]
    lower = (" (lower bound: some energy or latency components are not characterized "
             f"({', '.join(cost_missing)}), see below; the ratios against it are then upper bounds)"
             ) if cost_missing else ""
    b: list[Any] = [H(1, "gaincell report: gain-cell attention versus digital attention"),
                    P(f"Card: {main.dev.card.name} (sha256 {main.dev.card.sha256[:12]}). Model: {inp.shape.name} "
                      f"({inp.shape.n_layers} layers x {inp.shape.n_heads} heads x {inp.shape.d_head}), mode "
                      f"{inp.cost.mode}, window W = {inp.cost.window_tokens} tokens, {inp.cost.array_rows}-token arrays "
                      f"({inp.cost.n_tiles} tiles per head). Config sha256 {rec['config_sha256'][:12]}.")]
    b += [H(2, "Headline: one attention layer per token"),
          P(f"Analog attention core: {si(hl['analog_energy_per_token_per_layer_j']['value'], 'J')} and "
            f"{si(hl['analog_latency_per_token_per_layer_s']['value'], 's')} per token per layer{lower}. The authors "
            f"report {si(hl['paper_energy_per_token_per_head_j']['value'], 'J')} per head "
            f"(x{inp.shape.n_heads} heads = {si(hl['paper_energy_per_token_per_head_j']['value'] * inp.shape.n_heads, 'J')}) "
            f"and {si(hl['paper_latency_per_token_s']['value'], 's')}; their headline is latency down by up to "
            f"{si(hl['paper_headline_latency_reduction']['value'], 'x')}x and energy by up to "
            f"{si(hl['paper_headline_energy_reduction']['value'], 'x')}x "
            f"(arXiv v1: {si(hl['paper_headline_energy_reduction_v1']['value'], 'x')}x).")]
    trows = []
    for r in rec["comparison"]:
        trows.append([r["name"], r["basis"],
                      si(r.get("latency_per_token_s", {}).get("value"), "s"),
                      si(r.get("energy_per_token_j", {}).get("value"), "J"),
                      _fmt_ratio(r, "latency_ratio"), _fmt_ratio(r, "energy_ratio"),
                      _fmt_ratio(r, "paper_latency_ratio"), _fmt_ratio(r, "paper_energy_ratio")])
    b.append(Table(["digital baseline", "basis", "latency/token", "energy/token", "latency ratio",
                    "energy ratio", "paper latency ratio", "paper energy ratio"], trows))
    b.append(P("Why the ratios differ from the headline. (1) The authors' GPU figures are measured with "
               "eager PyTorch and amortized over a batch of 64, and idle power is subtracted; a roofline is a "
               "lower bound on GPU time (it ignores kernel-launch and framework overheads of several microseconds per step), so ratios against it are smaller and harder to beat. (2) Batch-amortized "
               "GPU latency is not what one user waits: the batch-1 rows give the per-step latency, against which "
               "the analog latency advantage is larger, while the analog arrays hold one sequence's keys and values "
               "(a batch of 64 needs 64 sets of arrays or 64x the time). (3) Roofline energy uses the full board "
               "power (an upper bound), the authors' uses board minus idle. (4) The analog side covers the "
               "attention core only; the Q/K/V and output projections stay digital (listed below), as in the "
               "paper. (5) Our analog energy adds the converters and line drivers from the card, and the "
               "authors' 4 nJ digital control per head dominates both."))
    e_main = rec["main"]
    b += [H(2, "Energy per token per head (full window)"),
          Table(["component", "energy", "source"],
                [[k, si(v["value"], "J"), v["source"][:160]] for k, v in e_main["energy_per_head_steady_j"].items()]),
          Table(["roll-up", "energy", "source"],
                [[k, si(v["value"], "J"), v["source"][:160]] for k, v in e_main["energy_per_token_steady"].items()])]
    ctx_n = rec["config"]["context_tokens"]
    mean_head = sum(v["value"] for v in e_main["energy_per_head_mean_j"].values())
    b.append(P(f"Averaged over generating tokens 1..{ctx_n} (the window filling up, then sliding): "
               f"{si(mean_head, 'J')} per token per head."))
    bars = {"ours: " + inp.shape.name: e_main["energy_per_head_steady_j"]}
    for ex in rec["extra"]:
        bars["ours: " + ex["config"]["shape"]["name"]] = ex["figures"]["energy_per_head_steady_j"]
    comps = list(dict.fromkeys([*PAPER_COMPONENTS] + [c for v in bars.values() for c in v]))
    labels = ["paper (Leroux 2025)"] + list(bars)
    parts = {c: [rec["paper_energy_breakdown_per_head_j"].get(c, {}).get("value", 0.0) * 1e9]
             + [bars[lab].get(c, {}).get("value", 0.0) * 1e9 for lab in bars] for c in comps}
    b.append(Image("energy_breakdown", plots.stacked_bars(labels, parts, "energy per token per head (nJ)",
                                                          "Energy breakdown per token per head"),
                   "Energy per token per head by component, ours (from the card) beside the authors'."))
    lat = e_main["latency_per_layer_s"]
    b += [H(2, "Latency per token (one layer, heads in parallel)"),
          Table(["stage", "latency", "source"], [[k, si(v["value"], "s"), v["source"][:160]] for k, v in lat.items()])]
    series = {name: (s["latency_s"]["value"], s["energy_j"]["value"]) for name, s in curves.items()}
    b.append(Image("versus_context", plots.versus_context(ctx, series, ("latency per token per layer (s)",
                                                                         "energy per token per layer (J)"),
                                                          "Analog versus GPU roofline (batch 1) against context length"),
                   "Latency and energy per token of one attention layer against context length: analog (this card, "
                   f"window {inp.cost.window_tokens}) and GPU rooflines at batch 1, both without the Q/K/V/output "
                   "projections."))
    area = e_main["area_per_head_m2"]
    tot = e_main["area_total"]
    b += [H(2, "Area"),
          P(f"Gain cell: {si(e_main['cell_area'].get('cell_m2', {}).get('value'), 'm^2')} "
            f"(drawn sky130 transistors {si(e_main['cell_area']['transistors_m2']['value'], 'm^2')}"
            + (f", MIM capacitor {si(e_main['cell_area']['mim_capacitor_m2']['value'], 'm^2')}" if "mim_capacitor_m2" in e_main["cell_area"] else "")
            + f"). Per head {si(tot['per_head_m2']['value'], 'm^2')}, per layer {si(tot['per_layer_m2']['value'], 'm^2')}, "
            f"model {si(tot['model_m2']['value'], 'm^2')}; the authors give about 0.5 mm^2 per head with control "
            "and a cell of about 1 um^2 in a finer node than sky130's 130 nm."
            + _periphery_text(e_main["periphery_area"])
            + (f" Lower bound: {', '.join(area_missing)} not characterized (see below)." if area_missing else "")),
          Table(["component", "area", "source"], [[k, si(v["value"], "m^2"), v["source"][:160]] for k, v in area.items()]),
          Image("area_breakdown", _area_plot(rec, inp), "Area per head by component: ours (sky130 geometry and "
                "the card) beside the authors' (second-hand figures: KV arrays and control).")]
    b.append(H(2, "Accuracy and energy"))
    pts = [(r["energy_per_token_j"], r["perplexity"]) for r in sweep_rows if r.get("perplexity") is not None]
    labels_p: list[str] | None = None
    if not pts:
        ev = [e for e in evals if "energy_per_token_j" in e]
        pts = [(e["energy_per_token_j"]["value"], e["perplexity"]["value"]) for e in ev]
        labels_p = [e["attention"] or "" for e in ev]
    if evals:
        b.append(Table(["eval file", "attention", "perplexity", "energy/token (model)"],
                       [[e["file"], e["attention"], f"{e['perplexity']['value']:.3f}",
                         si(e.get("energy_per_token_j", {}).get("value"), "J")] for e in evals]))
    if pts:
        rows_p = [{"e": x, "p": y} for x, y in pts]
        front = [pts[i] for i in pareto_front(rows_p, ["e", "p"])]
        b.append(Image("pareto", plots.pareto(pts, front, "energy per token, attention core, all layers (J)",
                                              "perplexity", "Accuracy-energy Pareto front", labels_p),
                       "Perplexity against energy per token; red: the Pareto front."))
    else:
        b.append(P("No perplexity results were given (run `gaincell eval` or `gaincell sweep --model ...`), "
                   "so there is no accuracy-energy front yet."))
    if sweep_rows:
        sw = rec["sweep"]
        b += [H(2, "Design-space sweep"),
              P(f"{sw['points']['value']} points; Pareto front over {', '.join(sw['pareto_objectives'])}:"),
              Table(["W", "rows", "q bits", "out bits", "C (F)", *sw["pareto_objectives"]],
                    [[p["config"]["window_tokens"], p["config"]["array_rows"], p["config"]["q_bits"],
                      p["config"]["out_bits"], p["config"]["c_store_f"],
                      *[f"{p[k]['value']:.4g}" for k in sw["pareto_objectives"]]] for p in sw["pareto_front"][:30]])]
    if missing:
        b += [H(2, "Not characterized (left out of the totals)"),
              Table(["component", "card fields", "card's note"], [[m["component"], ", ".join(m["fields"]), m["reason"]] for m in missing])]
    b += [H(2, "References and assumptions"),
          Table(["key", "reference"], [[k, v] for k, v in rec["references"].items()]),
          Table(["assumption", "value", "why"], [[k, f"{v['value']:g} {v['unit']}", v.get("note", "")]
                                                 for k, v in assumptions().items()]),
          P("Tool versions: " + ", ".join(f"{k} {v}" for k, v in rec["provenance"]["tools"].items()))]
    return b


def _periphery_text(per: dict[str, Any]) -> str:
    """One sentence on the area of one PWM row driver and one converter (and, when drawn from the
    card's device inventory, their device counts); empty when the card has neither."""
    parts = []
    for unit, what in (("pwm_driver", "PWM row driver"), ("c2p", "charge-to-pulse converter")):
        if f"{unit}_m2" not in per:
            continue
        text = f"one {what} {si(per[f'{unit}_m2']['value'], 'm^2')}"
        if f"{unit}_transistor_count" in per:
            n_t, n_c = per[f"{unit}_transistor_count"]["value"], per[f"{unit}_capacitor_count"]["value"]
            caps = (f", {n_c:.0f} MIM capacitors {si(per[f'{unit}_mim_capacitors_m2']['value'], 'm^2')}"
                    if n_c else "")
            text += (f" ({n_t:.0f} transistors {si(per[f'{unit}_transistors_m2']['value'], 'm^2')}{caps}; "
                     "the devices of its characterized netlist)")
        parts.append(text)
    return (" Periphery: " + "; ".join(parts) + ".") if parts else ""


def _area_plot(rec: dict[str, Any], inp: ReportInputs) -> bytes:
    kv = published("leroux2025.kv_array_area_per_head_m2").value
    control = published("leroux2025.area_per_head_with_control_m2").value - kv
    bars = {"paper (Leroux 2025)": {"k_array": kv / 2, "v_array": kv / 2, "digital_control": control},
            "ours: " + inp.shape.name: {k: v["value"] for k, v in rec["main"]["area_per_head_m2"].items()}}
    for ex in rec["extra"]:
        bars["ours: " + ex["config"]["shape"]["name"]] = {k: v["value"] for k, v in ex["figures"]["area_per_head_m2"].items()}
    comps = list(dict.fromkeys(c for b in bars.values() for c in b))
    parts = {c: [b.get(c, 0.0) * 1e6 for b in bars.values()] for c in comps}
    return plots.stacked_bars(list(bars), parts, "area per head (mm^2)", "Area per head")


def write(record: dict[str, Any], blocks: Sequence[Any], out: Path) -> dict[str, Path]:
    """Write report.md, report.html, report.json and plots/*.png under `out` (atomically)."""
    out = Path(out)
    paths = {}
    for blk in blocks:
        if isinstance(blk, Image):
            paths[blk.name] = write_bytes(out / "plots" / f"{blk.name}.png", blk.png)
    record = dict(record)
    record["plots"] = sorted(f"plots/{k}.png" for k in paths)
    paths["json"] = write_json(out / "report.json", record)
    paths["markdown"] = write_text(out / "report.md", to_markdown(blocks))
    paths["html"] = write_text(out / "report.html", to_html(blocks, "gaincell report"))
    return paths


def make_report(inp: ReportInputs, out: Path) -> dict[str, Path]:
    """Build and write a report; return the written paths."""
    record, blocks = build(inp)
    return write(record, blocks, out)
