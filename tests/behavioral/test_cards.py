"""Device card loading: the default card, round trips and every kind of validation error."""

from __future__ import annotations

import copy
import json

import pytest

from behavioral.cards import SCHEMA, card_from_dict, default_card, load_card, save_card
from gaincell.errors import CardError


@pytest.fixture()
def raw() -> dict:
    return copy.deepcopy(default_card().to_dict())


def test_default_card_loads_with_provenance_and_fit_errors():
    card = default_card()
    assert card.mac.t_max_s > 0 and card.c2p.s_sat_qk_a > 0
    assert card.mac.fit["heldout_rms_error_fs"] <= 0.01
    assert "paper" in card.decay.source or "SPICE" in card.decay.source
    assert card.provenance["tools"]["torch"]
    for sec in (card.energy, card.latency, card.area):
        assert set(sec.sources) >= {k for k in sec.__dataclass_fields__ if k != "sources"}


def test_round_trip(tmp_path, raw):
    path = save_card(raw, tmp_path / "c.json")
    again = load_card(path)
    assert again.to_dict() == raw
    assert again.mac.model().coeffs_a == default_card().mac.model().coeffs_a


def _expect(tmp_path, data, field, problem_part):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(data))
    with pytest.raises(CardError) as exc:
        load_card(p)
    assert exc.value.path == str(p)
    assert exc.value.field == field, str(exc.value)
    assert problem_part in str(exc.value)


def test_missing_field(tmp_path, raw):
    del raw["decay"]["tau_s"]
    _expect(tmp_path, raw, "decay.tau_s", "missing")


def test_wrong_unit(tmp_path, raw):
    raw["decay"]["tau_ms"] = raw["decay"].pop("tau_s") * 1e3
    _expect(tmp_path, raw, "decay.tau_ms", "wrong unit")


def test_out_of_range(tmp_path, raw):
    raw["quant"]["kv_levels"] = 1
    _expect(tmp_path, raw, "quant.kv_levels", "out of range")
    raw = copy.deepcopy(default_card().to_dict())
    raw["c2p"]["s_sat_qk_a"] = -1.0
    _expect(tmp_path, raw, "c2p.s_sat_qk_a", "> 0")


def test_newer_schema(tmp_path, raw):
    raw["schema"] = "gaincell.card/99"
    _expect(tmp_path, raw, "schema", "newer")


def test_unknown_field_and_missing_section(tmp_path, raw):
    raw["mac"]["colour"] = "blue"
    _expect(tmp_path, raw, "mac.colour", "unknown")
    raw = copy.deepcopy(default_card().to_dict())
    del raw["noise"]
    _expect(tmp_path, raw, "noise", "missing section")


def test_inconsistent_decay_factor(tmp_path, raw):
    raw["decay"]["per_token_factor"] = 0.5
    _expect(tmp_path, raw, "decay.per_token_factor", "inconsistent")


def test_null_only_where_allowed(tmp_path, raw):
    raw["energy"]["c2p_conversion_j"] = None  # cost sections may say "not characterized"
    card_from_dict(raw)
    raw["mac"]["t_max_s"] = None
    _expect(tmp_path, raw, "mac.t_max_s", "finite number")


def test_not_json_names_the_file(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("{not json")
    with pytest.raises(CardError, match="x.json"):
        load_card(p)


def test_schema_constant():
    assert default_card().raw["schema"] == SCHEMA


def test_reference_card_is_the_authors_table():
    from behavioral.cards import reference_card

    ref = reference_card()
    assert "reference_cell_iv.csv" in ref.mac.source and ref.mac.fit["heldout_rms_error_fs"] <= 0.01
    assert ref.array is None and ref.latency.acam_sense_time_s is None


def test_shipped_cards_have_no_machine_paths():
    from behavioral.cards import DEFAULT_CARD_PATH, REFERENCE_CARD_PATH

    for p in (DEFAULT_CARD_PATH, REFERENCE_CARD_PATH):
        assert "/work/" not in p.read_text() and "/tmp/" not in p.read_text(), p


def test_optional_fields_may_be_absent(tmp_path, raw):
    """Older schema-1 cards lack the fields added later: they load as None (not characterized)."""
    raw.pop("array", None)
    raw["latency"].pop("acam_sense_time_s", None)
    raw["latency"]["sources"].pop("acam_sense_time_s", None)
    raw["noise"].pop("write_noise_v", None)
    raw["noise"].pop("fit", None)
    card = load_card(save_card(raw, tmp_path / "old.json"))
    assert card.array is None and card.latency.acam_sense_time_s is None
    assert card.noise.write_noise_v is None and card.noise.fit is None


def test_noise_fields_validated(tmp_path, raw):
    raw["noise"]["write_noise_v"] = -1e-3
    _expect(tmp_path, raw, "noise.write_noise_v", "out of range")
    raw = copy.deepcopy(default_card().to_dict())
    raw["noise"]["read_noise_rel"] = "small"
    _expect(tmp_path, raw, "noise.read_noise_rel", "finite number")
    raw = copy.deepcopy(default_card().to_dict())
    raw["noise"]["write_noise_mv"] = 0.6
    raw["noise"].pop("write_noise_v", None)
    _expect(tmp_path, raw, "noise.write_noise_mv", "wrong unit")


def test_device_inventories_are_optional_and_validated(tmp_path, raw):
    """The area section's device inventories: absent in older cards (None), else checked."""
    card = default_card()
    assert sum(n for *_, n in card.area.pwm_driver_devices["fets"]) >= 1
    assert card.area.c2p_devices["capacitors_f"]
    old = copy.deepcopy(raw)
    for key in ("pwm_driver_devices", "c2p_devices"):
        old["area"].pop(key)
        old["area"]["sources"].pop(key)
    loaded = load_card(save_card(old, tmp_path / "old.json"))
    assert loaded.area.pwm_driver_devices is None and loaded.area.c2p_devices is None
    bad = copy.deepcopy(raw)
    bad["area"]["c2p_devices"]["fets"][1][3] = 0
    _expect(tmp_path, bad, "area.c2p_devices.fets[1]", "count >= 1")
    bad = copy.deepcopy(raw)
    bad["area"]["c2p_devices"]["capacitors_f"][0] = -3e-12
    _expect(tmp_path, bad, "area.c2p_devices.capacitors_f[0]", "capacitance")
    bad = copy.deepcopy(raw)
    bad["area"]["pwm_driver_devices"]["transistors"] = []
    _expect(tmp_path, bad, "area.pwm_driver_devices.transistors", "unknown field")
    bad = copy.deepcopy(raw)
    del bad["area"]["sources"]["c2p_devices"]
    _expect(tmp_path, bad, "area.sources.c2p_devices", "missing")
