"""Per-circuit cards: one per characterized circuit, round trips, validation errors naming the
field, and the combined head card saying exactly what the circuit cards say."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from behavioral.cards import card_from_dict, load_card
from behavioral.circuit_cards import (
    CIRCUIT_KINDS,
    CIRCUIT_SCHEMA,
    circuit_card_from_dict,
    load_circuit_card,
    save_circuit_card,
)
from behavioral.fit.build import build_cards, canonical_sha256
from behavioral.fit.data import load_characterization
from behavioral.fit.noise import ktc_noise_v
from gaincell.cli import main as gaincell_main
from gaincell.errors import CardError


@pytest.fixture()
def built(fake_folders):
    chars = {c.cell: c for c in (load_characterization(p) for p in fake_folders.values())}
    return build_cards(characterizations=chars, token_period_s=1e-6, retention_device="si", mac_x_powers=(1,))


def test_one_card_per_circuit_with_provenance_and_fit_errors(built, fake_folders):
    head, circuits = built
    assert set(circuits) == set(CIRCUIT_KINDS)
    for kind, raw in circuits.items():
        card = circuit_card_from_dict(raw)
        assert card.kind == kind and raw["schema"] == CIRCUIT_SCHEMA
        inputs = card.provenance["inputs"]
        assert any(str(fake_folders[kind].name) in k for k in inputs), inputs
        assert all(v["sha256"] for v in inputs.values())
        assert card.provenance["tools"]["numpy"]
    assert circuits["gaincell"]["mac"]["fit"]["heldout_rms_error_fs"] < 1e-6
    assert circuits["c2p"]["transfer"]["fit"]["heldout_rms_error_fs"] < 1e-3
    assert circuits["acam"]["match"]["fit"]["heldout_rms_error_fs"] < 1e-2


def test_round_trip(tmp_path, built):
    for kind, raw in built[1].items():
        path = save_circuit_card(raw, tmp_path / f"{kind}.json")
        again = load_circuit_card(path)
        assert again.to_dict() == raw and again.kind == kind


def test_head_card_equals_circuit_cards(built):
    head, c = built
    card = card_from_dict(head)
    g, cp, dr, col, ac = (c[k] for k in ("gaincell", "c2p", "drivers", "column", "acam"))
    assert head["mac"] == g["mac"]
    assert card.decay.tau_s == g["retention"]["tau_s"] and card.decay.temperature_c == g["retention"]["temperature_c"]
    assert card.decay.per_token_factor == pytest.approx(math.exp(-1e-6 / g["retention"]["tau_s"]), rel=1e-12)
    for f in ("t_max_s", "slope_s_per_c", "offset_c", "q_sat_c"):
        assert getattr(card.c2p, f) == cp["transfer"][f], f
    assert card.c2p.s_sat_qk_a == pytest.approx(cp["transfer"]["q_sat_c"] / g["mac"]["t_max_s"], rel=1e-12)
    assert card.noise.read_noise_rel == g["noise"]["read_noise_rel"] is not None
    assert card.noise.mismatch_sigma_rel == g["noise"]["mismatch_sigma_rel"] is not None
    assert card.noise.write_noise_v == g["noise"]["write_noise_v"] is not None
    assert card.noise.c2p_gain_sigma_rel == cp["mismatch"]["gain_sigma_rel"]
    assert card.noise.c2p_offset_sigma_c == cp["mismatch"]["offset_sigma_c"]
    for f in ("model", "width_v", "steepness_per_v", "combine"):
        assert head["acam"][f] == ac["match"][f], f
    pairs = [("energy", "mac_read_j", g), ("energy", "cell_write_j", g), ("energy", "pwm_pulse_j", dr),
             ("energy", "dac_write_j", dr), ("energy", "c2p_conversion_j", cp), ("energy", "acam_search_j", ac),
             ("latency", "t_max_s", g), ("latency", "write_time_s", g), ("latency", "c2p_latency_s", cp),
             ("latency", "settling_time_s", col), ("latency", "acam_sense_time_s", ac)]
    for sec, f, circ in pairs:
        assert head[sec][f] == circ[sec][f] is not None, (sec, f)
        assert head[sec]["sources"][f] == circ[sec]["sources"][f], (sec, f)
    assert card.array.array_rows == col["column"]["array_rows"] == 64
    assert card.array.c_store_f == g["circuit"]["c_store_f"] == 10e-15
    hashes = head["provenance"]["circuit_cards"]
    assert {k: v["sha256_canonical"] for k, v in hashes.items()} == {k: canonical_sha256(v) for k, v in c.items()}


def test_device_inventories_reach_the_head_card(built, fake_folders):
    """results.inventory of the drivers / c2p folders -> their circuit cards' area section -> the
    head card's optional area fields (same value, same source); the areas themselves stay null."""
    head, c = built
    card = card_from_dict(head)
    for key, kind, name in (("pwm_driver_devices", "drivers", "pwm_driver"), ("c2p_devices", "c2p", "c2p")):
        expect = json.loads((fake_folders[kind] / "result.json").read_text())["results"]["inventory"][name]
        assert expect["fets"]
        assert c[kind]["area"][key] == head["area"][key] == expect
        assert head["area"]["sources"][key] == c[kind]["area"]["sources"][key]
        assert "results.inventory" in head["area"]["sources"][key]
        assert getattr(card.area, key) == expect
    assert card.area.pwm_driver_area_m2 is None and card.area.c2p_area_m2 is None


def test_circuit_cards_without_inventories_still_load(built):
    for kind, key in (("drivers", "pwm_driver_devices"), ("c2p", "c2p_devices")):
        old = copy.deepcopy(built[1][kind])
        del old["area"][key], old["area"]["sources"][key]
        assert circuit_card_from_dict(old).value("area", key) is None
        bad = copy.deepcopy(built[1][kind])
        bad["area"][key]["fets"][0][0] = "bjt"
        with pytest.raises(CardError) as exc:
            circuit_card_from_dict(bad)
        assert exc.value.field == f"area.{key}.fets[0]"


def test_gaincell_card_noise(built, fake_truth):
    g = built[1]["gaincell"]
    q_fs = g["mac"]["full_scale_a"] * g["mac"]["t_max_s"]
    expect = float(np.sqrt(np.mean((fake_truth["noise_sigma_charge_c"] / q_fs) ** 2)))
    assert g["noise"]["read_noise_rel"] == pytest.approx(expect, rel=1e-12)
    assert g["noise"]["fit"]["read_noise"]["f_hi_hz"] == pytest.approx(1 / (2 * fake_truth["t_max_s"]))
    cfg = fake_truth["cell_config"]
    assert g["noise"]["write_noise_v"] == pytest.approx(ktc_noise_v(cfg["c_store_f"], cfg["temperature_c"]))
    assert "sqrt(k_B T / C_store)" in g["noise"]["source"]


def _expect(tmp_path, data, field, part):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(CardError) as exc:
        load_circuit_card(p)
    assert exc.value.path == str(p)
    assert exc.value.field == field, str(exc.value)
    assert part in str(exc.value)


def test_validation_errors_name_file_and_field(tmp_path, built):
    circuits = built[1]
    bad = copy.deepcopy(circuits["c2p"])
    del bad["transfer"]["q_sat_c"]
    _expect(tmp_path, bad, "transfer.q_sat_c", "missing")
    bad = copy.deepcopy(circuits["c2p"])
    bad["transfer"]["q_sat_pc"] = bad["transfer"].pop("q_sat_c") * 1e12
    _expect(tmp_path, bad, "transfer.q_sat_pc", "wrong unit")
    bad = copy.deepcopy(circuits["gaincell"])
    bad["noise"]["read_noise_rel"] = -0.1
    _expect(tmp_path, bad, "noise.read_noise_rel", "out of range")
    bad = copy.deepcopy(circuits["gaincell"])
    bad["mac"]["t_max_s"] = None
    _expect(tmp_path, bad, "mac.t_max_s", "finite number")
    bad = copy.deepcopy(circuits["acam"])
    bad["kind"] = "flux_capacitor"
    _expect(tmp_path, bad, "kind", "unknown circuit")
    bad = copy.deepcopy(circuits["drivers"])
    bad["schema"] = "gaincell.circuit_card/7"
    _expect(tmp_path, bad, "schema", "newer")
    bad = copy.deepcopy(circuits["column"])
    bad["provenance"]["inputs"] = {}
    _expect(tmp_path, bad, "provenance.inputs", "empty")
    bad = copy.deepcopy(circuits["c2p"])
    del bad["energy"]["sources"]["c2p_conversion_j"]
    _expect(tmp_path, bad, "energy.sources.c2p_conversion_j", "missing")
    bad = copy.deepcopy(circuits["gaincell"])
    del bad["retention"]["fit"]["heldout_rms_error_fs"]
    _expect(tmp_path, bad, "retention.fit.heldout_rms_error_fs", "missing")
    bad = copy.deepcopy(circuits["c2p"])
    bad["mac"] = circuits["gaincell"]["mac"]
    _expect(tmp_path, bad, "mac", "unknown top-level")
    # a head card is not a circuit card, and the other way round
    _expect(tmp_path, built[0], "schema", "not a circuit card")
    p = tmp_path / "circ.json"
    p.write_text(json.dumps(circuits["c2p"]))
    with pytest.raises(CardError, match="schema"):
        load_card(p)


def test_fit_command_writes_circuit_cards(tmp_path, fake_folders, capsys):
    out = tmp_path / "fit"
    args = ["fit", "--characterization", *map(str, fake_folders.values()), "--token-period-s", "1e-6",
            "--mac-x-powers", "1", "--out", str(out)]
    assert gaincell_main(args) == 0
    head = load_card(out / "card.json")
    for kind in CIRCUIT_KINDS:
        card = load_circuit_card(out / "circuits" / f"{kind}.json")
        assert card.kind == kind
    g = load_circuit_card(out / "circuits" / "gaincell.json")
    assert head.mac.coeffs_a == g.value("mac", "coeffs_a")
    assert head.noise.read_noise_rel == g.value("noise", "read_noise_rel")
    assert "circuit cards" in capsys.readouterr().out


def test_shipped_circuit_cards_are_the_default_cards_sources():
    from behavioral.cards import default_card
    from behavioral.circuit_cards import DEFAULT_CIRCUITS_DIR, default_circuit_cards

    circuits = default_circuit_cards()
    head = default_card()
    recorded = head.provenance["circuit_cards"]
    assert set(circuits) == set(recorded)
    for kind, card in circuits.items():
        assert recorded[kind]["sha256_canonical"] == canonical_sha256(card.to_dict()), kind
        text = (DEFAULT_CIRCUITS_DIR / f"{kind}.json").read_text()
        assert "/work/" not in text and "/tmp/" not in text
    g = circuits["gaincell"]
    assert head.to_dict()["mac"] == g.to_dict()["mac"]
    assert head.noise.read_noise_rel == g.value("noise", "read_noise_rel") > 0
    assert head.provenance["fit_options"]["mac_x_powers"] == [1]
