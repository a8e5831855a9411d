"""Assemble the combined head card from the per-circuit cards (and the published figures).

`build_cards` first fits one per-circuit card (`behavioral.fit.circuits`, schema
`gaincell.circuit_card/1`) for each circuit with data, then builds the head card (schema
`gaincell.card/1`) from those cards alone: every head-card number that a circuit card holds is
copied from it (same value, same source text), so the head card says exactly what the circuit
cards say. Where no circuit card has a number, the head card takes the published figure of
`behavioral/data/paper_reference.json` and says so in its `source` / `sources`; quantities nobody
has characterized are written as null, never guessed. `build_card` returns the head card only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping, Sequence

from behavioral.cards import SCHEMA, card_from_dict
from behavioral.fit.circuits import fit_circuit_cards
from behavioral.fit.data import Characterization, CsvTable, portable_path, scrub_paths
from behavioral.fit.decay import per_token_factor
from gaincell.provenance import provenance, sha256_file

PAPER_PATH = Path(__file__).resolve().parent.parent / "data" / "paper_reference.json"

__all__ = ["build_card", "build_cards", "head_card_from_circuits", "paper", "portable_path"]


@lru_cache(maxsize=1)
def paper() -> dict[str, Any]:
    """Published figures (value and note per name) used where no data of our own exists."""
    return json.loads(PAPER_PATH.read_text())["figures"]


def _pv(name: str) -> Any:
    return paper()[name]["value"]


def _paper_src(*names: str) -> str:
    return "paper (Leroux et al. 2025): " + "; ".join(f"{n} = {_pv(n)}" for n in names)


def canonical_sha256(card: Mapping[str, Any]) -> str:
    """sha256 of a card's canonical JSON (sorted keys, no spaces): identifies its content."""
    text = json.dumps(card, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(text.encode()).hexdigest()


# --- head sections from circuit cards ---------------------------------------------------------

def _decay_section(gcell: Mapping[str, Any], token_period_s: float | None) -> dict[str, Any]:
    r = gcell["retention"]
    if r["tau_s"] is not None:
        tau, temp, fit, src = r["tau_s"], r["temperature_c"], r["fit"], r["source"]
    else:
        tau, temp = float(_pv("tau_s")), 27.0
        fit = {"method": "none: published figures", "heldout_rms_error_fs": None}
        src = _paper_src("tau_s", "per_token_decay_exponent")
    if token_period_s is None:
        # the paper's per-token exponent and tau imply the token period: 1.6e-4 * 5 ms = 0.8 us
        token_period_s = float(_pv("per_token_decay_exponent")) * float(_pv("tau_s"))
        src += ("; token_period_s = per_token_decay_exponent * tau from the paper "
                f"({token_period_s:.3g} s)")
    else:
        src += f"; token_period_s = {token_period_s} s given by the user"
    return {"tau_s": tau, "token_period_s": token_period_s,
            "per_token_factor": per_token_factor(tau, token_period_s), "temperature_c": temp,
            "fit": fit, "source": src}


def _c2p_section(c2p: Mapping[str, Any] | None, t_max_mac: float) -> dict[str, Any]:
    s_qk, s_sv = float(_pv("s_sat_qk_a")), float(_pv("s_sat_sv_a"))
    if c2p is not None:
        t = c2p["transfer"]
        # our converter saturates at q_sat: the column's saturation mean current is q_sat divided
        # by the read (integration) window t_max of the MAC; the S.V converter keeps the paper's
        # ratio s_sv / s_qk
        s_qk_ours = t["q_sat_c"] / t_max_mac
        return {"t_max_s": t["t_max_s"], "s_sat_qk_a": s_qk_ours, "s_sat_sv_a": s_qk_ours * s_sv / s_qk,
                "slope_s_per_c": t["slope_s_per_c"], "offset_c": t["offset_c"], "q_sat_c": t["q_sat_c"],
                "fit": t["fit"], "source": f"{t['source']}; s_sat_sv_a keeps the "
                                           f"paper's ratio {s_sv / s_qk:g} to s_sat_qk_a"}
    t_max = float(_pv("t_max_s"))
    q_sat = s_qk * t_max
    return {"t_max_s": t_max, "s_sat_qk_a": s_qk, "s_sat_sv_a": s_sv, "slope_s_per_c": t_max / q_sat,
            "offset_c": 0.0, "q_sat_c": q_sat,
            "fit": {"method": "none: published figures", "heldout_rms_error_fs": None},
            "source": _paper_src("t_max_s", "s_sat_qk_a", "s_sat_sv_a") + "; ideal converter (offset 0, "
                      "slope = t_max / q_sat)"}


def _quant_section() -> dict[str, Any]:
    names = ("q_levels", "q_range", "kv_levels", "kv_range_v", "out_levels", "out_range")
    sec = {n: _pv(n) for n in names}
    sec["source"] = _paper_src(*names)
    return sec


def _noise_section(gcell: Mapping[str, Any], c2p: Mapping[str, Any] | None,
                   acam: Mapping[str, Any] | None = None) -> dict[str, Any]:
    n = gcell["noise"]
    sec: dict[str, Any] = {"read_noise_rel": n["read_noise_rel"], "mismatch_sigma_rel": n["mismatch_sigma_rel"],
                           "c2p_gain_sigma_rel": None, "c2p_offset_sigma_c": None,
                           "write_noise_v": n["write_noise_v"], "acam_edge_sigma_v": None}
    src = [x for x in n["source"].split("; ") if not x.startswith("null = ")]
    fit = dict(n["fit"])
    if c2p is not None and c2p["mismatch"]["gain_sigma_rel"] is not None:
        m = c2p["mismatch"]
        sec["c2p_gain_sigma_rel"], sec["c2p_offset_sigma_c"] = m["gain_sigma_rel"], m["offset_sigma_c"]
        fit["c2p_mismatch"] = m["fit"]
        src.append(m["source"])
    am = (acam or {}).get("mismatch")
    if am is not None and am["edge_sigma_v"] is not None:
        sec["acam_edge_sigma_v"] = am["edge_sigma_v"]
        fit["acam_mismatch"] = am["fit"]
        src.append(am["source"])
    nulls = [k for k, v in sec.items() if v is None]
    if nulls:
        src.append(f"null = not characterized ({', '.join(nulls)}: no Monte Carlo, .noise or cell config data)")
    return {**sec, "fit": fit, "source": "; ".join(src)}


def _acam_section(acam: Mapping[str, Any] | None) -> dict[str, Any]:
    if acam is not None:
        return dict(acam["match"])
    return {"model": "sigmoid_window", "combine": "product", "width_v": float(_pv("acam_width_v")),
            "steepness_per_v": float(_pv("acam_steepness_per_v")),
            "fit": {"method": "none: published prototype", "heldout_rms_error_fs": None},
            "source": "aCAM prototype of Manea et al. (arXiv:2410.09755): width 0.1 V, steepness 200 /V; "
                      "combine: product (a precharged match line discharges through every mismatching "
                      "cell, so per-cell factors multiply)"}


COST_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "energy": (("mac_read_j", "gaincell"), ("cell_write_j", "gaincell"), ("pwm_pulse_j", "drivers"),
               ("c2p_conversion_j", "c2p"), ("acam_search_j", "acam"), ("dac_write_j", "drivers"),
               ("pwm_load_cells", "drivers")),
    "latency": (("t_max_s", "gaincell"), ("c2p_latency_s", "c2p"), ("write_time_s", "gaincell"),
                ("settling_time_s", "column"), ("acam_sense_time_s", "acam")),
    "area": (("cell_area_m2", "gaincell"), ("c2p_area_m2", "c2p"), ("pwm_driver_area_m2", "drivers"),
             ("acam_cell_area_m2", "acam"), ("pwm_driver_devices", "drivers"), ("c2p_devices", "c2p")),
}
"""Head cost field -> the circuit card that holds it (in its section of the same name)."""


def _circuit_value(circuits: Mapping[str, Mapping[str, Any]], kind: str, section: str,
                   key: str) -> tuple[Any, str] | None:
    card = circuits.get(kind)
    if card is None:
        return None
    sec = card.get(section) or {}
    v = sec.get(key)
    return (v, sec["sources"][key]) if v is not None else None


def _cost_sections(circuits: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    dims, window = int(_pv("head_dim")), int(_pv("window_tokens"))
    fallback = {
        "energy": {
            "mac_read_j": (float(_pv("qk_array_energy_per_token_per_head_j")) / (dims * window),
                           "paper: Q.K array energy per token per head / (64 dims x 1024 tokens); "
                           "includes the array's share of periphery, so an upper bound"),
            "cell_write_j": (float(_pv("dac_write_energy_per_token_per_head_j")) / (2 * dims),
                             "paper: DAC write energy per token per head / (2 x 64 cells), DAC included"),
        },
        "latency": {"t_max_s": (float(_pv("t_max_s")), "paper: t_max = 15 ns")},
        "area": {"cell_area_m2": (float(_pv("cell_area_m2")), "paper (second-hand): 6T cell of about 1 um^2")},
    }
    out = {}
    for sec, fields in COST_FIELDS.items():
        d: dict[str, Any] = {}
        s: dict[str, str] = {}
        for key, kind in fields:
            got = _circuit_value(circuits, kind, sec, key) or fallback[sec].get(key)
            if got is not None:
                d[key], s[key] = got
            else:
                d[key], s[key] = None, "not characterized (no SPICE result and no published figure)"
        d["sources"] = s
        out[sec] = d
    return out


def _array_section(circuits: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """The characterized circuit: storage capacitance, column rows, gain-cell config."""
    gc, col = circuits["gaincell"]["circuit"], (circuits.get("column") or {}).get("column")
    has_gc = bool(gc["cell_config"])
    if not has_gc and col is None:
        return None
    src = []
    if has_gc:
        cfg, c_store = gc["cell_config"], gc["c_store_f"]
        src.append(gc["source"])
    elif col is not None and col["cell_config"]:
        cfg, c_store = col["cell_config"], col["c_store_f"]
        src.append(next(x for x in col["source"].split("; ") if x.startswith("cell_config")))
    else:
        cfg, c_store = {}, None
    rows = col["array_rows"] if col is not None else None
    if rows is not None:
        src.append(next(x for x in col["source"].split("; ") if x.startswith("array_rows")))
    else:
        src.append("array_rows: null (no column characterization)")
    return {"c_store_f": c_store, "array_rows": rows, "cell_config": cfg,
            "source": "; ".join(src) or "not characterized"}


def head_card_from_circuits(circuits: Mapping[str, Mapping[str, Any]], *, token_period_s: float | None = None,
                            name: str = "gaincell-head", prov: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The combined head card (validated dict) built from per-circuit card dicts (a `gaincell`
    card is required), with `prov` as its provenance (plus the circuit cards' content hashes)."""
    gcell = circuits["gaincell"]
    mac = dict(gcell["mac"])
    card = {
        "schema": SCHEMA,
        "name": name,
        "provenance": {**dict(prov or {}),
                       "circuit_cards": {k: {"name": c["name"], "sha256_canonical": canonical_sha256(c)}
                                         for k, c in circuits.items()}},
        "mac": mac,
        "decay": _decay_section(gcell, token_period_s),
        "c2p": _c2p_section(circuits.get("c2p"), mac["t_max_s"]),
        "quant": _quant_section(),
        "noise": _noise_section(gcell, circuits.get("c2p"), circuits.get("acam")),
        "acam": _acam_section(circuits.get("acam")),
        **_cost_sections(circuits),
    }
    array = _array_section(circuits)
    if array is not None:
        card["array"] = array
    card_from_dict(card, f"<card {name}>")
    return json.loads(json.dumps(card, default=float))


def build_cards(
    *,
    characterizations: Mapping[str, Characterization] | None = None,
    tables: Sequence[CsvTable] = (),
    token_period_s: float | None = None,
    retention_device: str | None = None,
    name: str = "gaincell-head",
    seed: int = 0,
    mac_x_powers: tuple[int, ...] | None = None,
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Fit the per-circuit cards, then the head card from them: (head card, {kind: circuit card}).

    Arguments as in `build_card`.
    """
    # recorded paths must not be a machine's absolute paths: relative to the repo, else the name
    chars = {k: dataclasses.replace(c, folder=portable_path(c.folder))
             for k, c in dict(characterizations or {}).items()}
    tables = [dataclasses.replace(t, path=portable_path(t.path)) for t in tables]
    circuits, mac_hash = fit_circuit_cards(
        chars, tables, seed=seed, x_power_sets=None if mac_x_powers is None else (tuple(mac_x_powers),),
        retention_device=retention_device, paper_t_max_s=float(_pv("t_max_s")),
        paper_v_ref_v=float(_pv("v_ref_v")), paper_src=_paper_src)
    circuits = json.loads(json.dumps(circuits, default=float))
    prov = provenance(
        fit_seed=seed,
        fit_options={"mac_x_powers": None if mac_x_powers is None else list(mac_x_powers),
                     "token_period_s": token_period_s, "retention_device": retention_device},
        paper_reference_sha256=sha256_file(PAPER_PATH),
        characterizations={k: {"folder": c.folder, "provenance": scrub_paths(c.result.get("provenance")),
                               "sha256": dict(c.sha256)} for k, c in chars.items()},
        csv_inputs={t.path: t.sha256 for t in tables},
        **mac_hash,
    )
    head = head_card_from_circuits(circuits, token_period_s=token_period_s, name=name, prov=prov)
    return head, circuits


def build_card(
    *,
    characterizations: Mapping[str, Characterization] | None = None,
    tables: Sequence[CsvTable] = (),
    token_period_s: float | None = None,
    retention_device: str | None = None,
    name: str = "gaincell-head",
    seed: int = 0,
    mac_x_powers: tuple[int, ...] | None = None,
) -> dict[str, Any]:
    """Fit every section and return a validated head card dict (schema `gaincell.card/1`).

    Args:
        characterizations: cell name ('gaincell', 'gaincell_noise', 'c2p', 'acam', 'drivers',
            'column', ...) -> folder.
        tables: user CSV tables (kinds iv, mac, retention).
        token_period_s: time between two tokens (seconds) for the per-token decay factor
            (None: the period implied by the paper's per-token factor and tau).
        retention_device: which simulated write device's retention the card keeps (e.g. 'si',
            'igzo'; None: the first one).
        seed: seed of the train/held-out splits.
        mac_x_powers: restrict the MAC family to these powers of the input (e.g. (1,): charge
            linear in the pulse width, which the fused attention evaluates with one matmul);
            None: every family, chosen by held-out error.
    """
    return build_cards(characterizations=characterizations, tables=tables, token_period_s=token_period_s,
                       retention_device=retention_device, name=name, seed=seed, mac_x_powers=mac_x_powers)[0]
