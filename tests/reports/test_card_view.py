"""Reading card numbers: from a HeadCard, a dict or a path; errors name the file and field."""

from __future__ import annotations

import pytest

from behavioral.cards import DEFAULT_CARD_PATH, default_card
from gaincell.errors import CardError
from gaincell.fileio import write_json
from gaincell.provenance import sha256_file
from reports.card_view import CardView


def test_same_numbers_from_object_dict_and_path(tmp_path, card):
    path = tmp_path / "card.json"
    write_json(path, card)
    a, b = CardView.from_any(card), CardView.from_any(path)
    assert a.get("energy.mac_read_j", "J").value == b.get("energy.mac_read_j", "J").value == 17e-15
    assert b.sha256 == sha256_file(path) and str(path) in b.get("energy.mac_read_j", "J").source
    d = CardView.from_any(default_card())
    assert d.name == str(DEFAULT_CARD_PATH) and d.sha256 == sha256_file(DEFAULT_CARD_PATH)


def test_null_is_not_characterized_and_absent_is_an_error(card):
    card["energy"]["pwm_pulse_j"] = None
    card["energy"]["sources"]["pwm_pulse_j"] = "no driver simulated"
    v = CardView.from_any(card)
    assert v.get("energy.pwm_pulse_j", "J") is None
    assert v.why_missing("energy.pwm_pulse_j") == "no driver simulated"
    with pytest.raises(CardError, match="energy.nothing_j"):
        v.get("energy.nothing_j", "J")
    card["energy"]["mac_read_j"] = "17 fJ"
    with pytest.raises(CardError, match="expected a number"):
        CardView.from_any(card).get("energy.mac_read_j", "J")


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(CardError, match="no such card file"):
        CardView.from_any(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        CardView.from_any(bad)


def test_find_searches_nested_fields(card):
    v = CardView.from_any(card)
    c = v.find("c_store_f", "F")
    assert c.value == 10e-15 and c.source.endswith("#provenance.config.c_store_f")
    assert v.find("no_such_key", "F") is None
