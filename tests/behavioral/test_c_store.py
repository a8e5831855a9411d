"""A card re-derived for another storage capacitance: retention ~ C, kT/C noise ~ 1/sqrt(C)."""

from __future__ import annotations

import math

import pytest

from behavioral.c_store import card_with_c_store
from behavioral.cards import card_from_dict, default_card, save_card
from behavioral.fit.noise import ktc_noise_v
from gaincell.errors import CardError, ConfigError

CARD = default_card()
C0 = CARD.array.c_store_f


def test_smaller_capacitor_decays_faster_with_more_write_noise():
    small = card_with_c_store(CARD, C0 / 10)
    assert small.decay.tau_s == pytest.approx(CARD.decay.tau_s / 10, rel=1e-12)
    assert small.decay.per_token_factor < CARD.decay.per_token_factor
    assert small.decay.per_token_factor == pytest.approx(
        math.exp(-CARD.decay.token_period_s / small.decay.tau_s), rel=1e-12)
    assert small.noise.write_noise_v == pytest.approx(CARD.noise.write_noise_v * math.sqrt(10), rel=1e-12)
    assert small.noise.write_noise_v == pytest.approx(ktc_noise_v(C0 / 10, CARD.decay.temperature_c), rel=1e-9)
    big = card_with_c_store(CARD, C0 * 4)
    assert big.decay.tau_s == pytest.approx(4 * CARD.decay.tau_s, rel=1e-12)
    assert big.decay.per_token_factor > CARD.decay.per_token_factor
    assert big.noise.write_noise_v == pytest.approx(CARD.noise.write_noise_v / 2, rel=1e-12)
    assert big.array.c_store_f == 4 * C0 and big.array.cell_config["c_store_f"] == 4 * C0


def test_read_current_mismatch_and_read_noise_unchanged():
    new = card_with_c_store(CARD, C0 / 3)
    assert new.mac == CARD.mac and new.c2p == CARD.c2p and new.quant == CARD.quant and new.acam == CARD.acam
    for name in ("read_noise_rel", "mismatch_sigma_rel", "c2p_gain_sigma_rel", "c2p_offset_sigma_c"):
        assert getattr(new.noise, name) == getattr(CARD.noise, name)
    assert new.latency == CARD.latency and new.area == CARD.area


def test_sources_say_what_was_scaled_and_why(tmp_path):
    raw = CARD.to_dict()
    raw["energy"]["cell_write_j"] = 2e-15
    card = card_from_dict(raw)
    new = card_with_c_store(card, C0 * 2)
    assert "scaled from the characterized value" in new.decay.source and "I_leak" in new.decay.source
    assert "write_noise_v scaled from the characterized value" in new.noise.source
    assert "kT/C" in new.noise.source
    assert new.energy.cell_write_j == pytest.approx(4e-15)
    assert "scaled from the characterized value" in new.energy.sources["cell_write_j"]
    assert new.noise.fit["write_noise"]["capacitance_f"] == 2 * C0
    rec = new.provenance["c_store_rederived"]
    assert rec["from_c_store_f"] == C0 and rec["to_c_store_f"] == 2 * C0
    assert "noise.write_noise_v" in rec["changed"] and "energy.cell_write_j" in rec["changed"]
    save_card(new, tmp_path / "c.json")  # a valid card
    assert card_with_c_store(CARD, C0) is CARD


def test_null_fields_stay_null_and_bad_inputs_are_named():
    raw = CARD.to_dict()
    raw["noise"]["write_noise_v"] = None
    new = card_with_c_store(card_from_dict(raw), C0 / 2)
    assert new.noise.write_noise_v is None
    assert "noise.write_noise_v" not in new.provenance["c_store_rederived"]["changed"]
    for bad in (0.0, -1e-15, float("nan"), 1.0, True):
        with pytest.raises(ConfigError, match="c_store_f"):
            card_with_c_store(CARD, bad)
    raw = CARD.to_dict()
    del raw["array"]
    with pytest.raises(CardError, match="array.c_store_f"):
        card_with_c_store(card_from_dict(raw), 1e-15)
