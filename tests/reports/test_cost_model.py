"""Cost model invariants: linear in tokens, heads and arrays; units; card errors."""

from __future__ import annotations

import math

import pytest

from gaincell.errors import CardError, ConfigError
from reports.config import GPT2_124M, CostConfig, ModelShape
from reports.cost_model import CostModel

SHAPE = ModelShape("t", n_layers=2, n_heads=4, d_model=256, context_tokens=512)


def total(d):
    return sum(v.value for v in d.values())


def test_energy_linear_in_generated_tokens(card):
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    per = [total(m.energy_per_head(t)) for t in range(128, 128 + 40)]
    # past the window every token costs the same, so N tokens cost N times one token
    assert max(per) == pytest.approx(min(per), rel=1e-12)
    assert sum(per[:20]) * 2 == pytest.approx(sum(per), rel=1e-12)
    # before the window is full the cost grows with the tokens held
    assert total(m.energy_per_head(10)) < total(m.energy_per_head(100))


def test_energy_linear_in_heads_and_layers(card):
    cfg = CostConfig(window_tokens=128, array_rows=32)
    one = CostModel.build(card, ModelShape("a", 2, 4, 256, 512), cfg).energy_per_token(200)
    two = CostModel.build(card, ModelShape("b", 4, 8, 512, 512), cfg).energy_per_token(200)  # same d_head
    assert one["attention_core_per_head_j"].value == pytest.approx(two["attention_core_per_head_j"].value)
    assert two["attention_core_per_layer_j"].value == pytest.approx(2 * one["attention_core_per_layer_j"].value)
    assert two["attention_core_model_j"].value == pytest.approx(4 * one["attention_core_model_j"].value)


def test_area_linear_in_array_count(card):
    a1 = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32)).area_per_head()
    a2 = CostModel.build(card, SHAPE, CostConfig(window_tokens=256, array_rows=32)).area_per_head()
    for k in ("k_array", "v_array", "pwm_drivers"):
        assert a2[k].value == pytest.approx(2 * a1[k].value)
    assert a2["digital_control"].value == a1["digital_control"].value


def test_units_and_sources(card):
    s = CostModel.build(card, GPT2_124M, CostConfig()).summary()
    units = {"_j": "J", "_s": "s", "_m2": "m^2"}
    for section, items in s.items():
        if section == "not_characterized":
            continue
        for name, q in items.items():
            assert q["source"], (section, name)
            assert math.isfinite(q["value"]) and q["value"] >= 0
            suffix = next((u for u in units if name.endswith(u) or section.endswith(u)), None)
            if suffix:
                assert q["unit"] == units[suffix], (section, name, q["unit"])


def test_paper_scale_cross_check(card):
    """With per-cell figures of the authors' size, the Q.K read lands on their 1.12 nJ."""
    e = CostModel.build(card, GPT2_124M, CostConfig()).energy_per_head(2000)
    assert e["qk_array_read"].value == pytest.approx(1.12e-9, rel=0.02)
    assert e["control_routing"].value == pytest.approx(4e-9)


def test_bit_widths_and_capacitance_scale_costs(card):
    base = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    more_q = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32, q_bits=6))
    assert more_q.energy_per_head(200)["qk_array_read"].value > base.energy_per_head(200)["qk_array_read"].value
    assert total(more_q.latency_per_layer()) > total(base.latency_per_layer())
    big_c = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32, c_store_f=80e-15))
    assert big_c.energy_per_head(200)["kv_write"].value == pytest.approx(8 * base.energy_per_head(200)["kv_write"].value)
    assert big_c.cell_area()["mim_capacitor_m2"].value > base.cell_area()["mim_capacitor_m2"].value


def test_not_characterized_fields_are_left_out_and_listed(card):
    card["energy"]["c2p_conversion_j"] = None
    card["energy"]["sources"] = {"c2p_conversion_j": "not characterized yet"}
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    e = m.energy_per_head(200)
    assert "c2p_qk" not in e and "c2p_sv" not in e
    listed = {x.component: x for x in m.missing()}
    assert listed["energy.c2p_qk"].reason == "not characterized yet"


def test_pwm_energy_scales_with_the_characterized_line_load(card):
    """pwm_pulse_j was measured on a line of pwm_load_cells cells: a query row crosses
    array_rows cells, a phi(S) line d_head cells (the card's column size plays no part)."""
    cfg = CostConfig(window_tokens=128, array_rows=32)
    e64 = CostModel.build(card, SHAPE, cfg).energy_per_head(200)
    card["energy"]["pwm_load_cells"] = 16
    card["array"]["array_rows"] = 8  # a quick-grid column characterization must not matter
    e16 = CostModel.build(card, SHAPE, cfg).energy_per_head(200)
    for comp in ("pwm_q_drive", "phi_drive_v"):
        assert e16[comp].value == pytest.approx(4 * e64[comp].value, rel=1e-12)
    d, tiles = SHAPE.d_model // SHAPE.n_heads, -(-128 // 32)
    assert e16["pwm_q_drive"].value == pytest.approx(d * tiles * 20e-15 * 32 / 16, rel=1e-12)
    assert e16["phi_drive_v"].value == pytest.approx(128 * 20e-15 * d / 16, rel=1e-12)


def test_card_without_the_pwm_load_lists_the_drive_energy_as_missing(card):
    del card["energy"]["pwm_load_cells"]
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    e = m.energy_per_head(200)
    assert "pwm_q_drive" not in e and "phi_drive_v" not in e and "c2p_qk" in e
    listed = {x.component: x for x in m.missing()}
    assert "gaincell fit" in listed["energy.pwm_q_drive"].reason


def test_absent_card_field_names_it(card):
    del card["latency"]["t_max_s"]
    with pytest.raises(CardError, match="latency.t_max_s"):
        CostModel.build(card, SHAPE, CostConfig())


def test_bad_config_raises():
    with pytest.raises(ConfigError, match="window_tokens"):
        CostConfig(window_tokens=0)
    with pytest.raises(ConfigError, match="mode"):
        CostConfig(mode="softmax")


def test_default_card_works():
    from behavioral.cards import default_card

    m = CostModel.build(default_card(), GPT2_124M, CostConfig())
    assert m.energy_per_token(1023)["attention_core_per_layer_j"].value > 0


def test_acam_mode_replaces_the_k_array(card):
    g = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    a = CostModel.build(card, SHAPE, CostConfig(mode="acam", window_tokens=128, array_rows=32))
    ea, aa = a.energy_per_head(200), a.area_per_head()
    assert "acam_search" in ea and "qk_array_read" not in ea
    assert ea["acam_search"].value == pytest.approx(64 * 128 * 5e-15)
    assert "k_acam_array" in aa and "k_array" not in aa
    assert aa["v_array"].value == pytest.approx(g.area_per_head()["v_array"].value)
    assert a.latency_per_layer()["qk_search"].value == pytest.approx(3e-9)


def test_cell_from_the_characterized_circuit(tmp_path, card):
    """The transistor sizes and capacitance come from the characterization the card names."""
    from dataclasses import asdict

    from circuits.gaincell_cell import GainCellConfig
    from gaincell.fileio import write_json

    cell = asdict(GainCellConfig())
    cell.update(c_store_f=40e-15, w_read_n_um=2.0, l_read_n_um=1.0)
    write_json(tmp_path / "gaincell" / "result.json", {"schema": "gaincell.characterization/1", "cell": "gaincell",
                                                       "config": {"cell": cell, "sweeps": {}}})
    del card["provenance"]["config"]
    card.pop("array", None)  # an older card: no circuit record of its own, only the folder it names
    card["provenance"]["characterizations"] = {"gaincell": {"folder": str(tmp_path / "gaincell")}}
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    assert m.c_store.value == 40e-15 and "#config.cell.c_store_f" in m.c_store.source
    assert any(t.role == "read_n" and t.w_um == 2.0 for t in m.dev.cell)
    assert "characterization" in m.cell_area()["transistors_m2"].source


def test_cell_from_the_card_array_section(card):
    """A card fitted by `gaincell fit` carries its circuit: no characterization folder needed."""
    from dataclasses import asdict

    from circuits.gaincell_cell import GainCellConfig

    cell = asdict(GainCellConfig())
    cell.update(c_store_f=30e-15, w_read_n_um=3.0, l_read_n_um=1.0)
    del card["provenance"]["config"]
    card["provenance"]["characterizations"] = {"gaincell": {"folder": "no/such/folder"}}
    card["array"] = {"c_store_f": 30e-15, "array_rows": 64, "cell_config": cell, "source": "test"}
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    assert m.c_store.value == 30e-15 and m.c_store.source.endswith("#array.c_store_f")
    assert any(t.role == "read_n" and t.w_um == 3.0 for t in m.dev.cell)
    assert "#array.cell_config" in m.dev.cell_source


def test_cost_config_from_an_attention_config_keeps_its_storage_capacitance():
    att = {"mode": "gaincell", "window": 128, "array_rows": 64, "q_bits": None, "kv_bits": None,
           "out_bits": None, "c_store_f": 2e-15}
    assert CostConfig.from_attention_config(att).c_store_f == 2e-15
    assert CostConfig.from_attention_config(att, c_store_f=None).c_store_f is None
    assert CostConfig.from_attention_config({k: v for k, v in att.items() if k != "c_store_f"}).c_store_f is None


# ---------------------------------------------------------------------------- periphery areas

DRIVER = {"fets": [["nmos", 1.0, 0.15, 2], ["pmos", 2.0, 0.35, 3]], "capacitors_f": [], "note": "test"}
CONVERTER = {"fets": [["nmos", 0.42, 0.15, 4]], "capacitors_f": [3e-12, 5e-15], "note": "test"}


def _with_inventories(card, driver_area=None, c2p_area=None):
    card["area"].update(pwm_driver_area_m2=driver_area, c2p_area_m2=c2p_area,
                        pwm_driver_devices=DRIVER, c2p_devices=CONVERTER)
    card["area"]["sources"].update(pwm_driver_devices="test inventory", c2p_devices="test inventory")
    return card


def _expected_unit_area(inv):
    from reports.figures import published
    from reports.geometry import mim_capacitor_area, transistor_area

    trans = sum(transistor_area(k, w, l).value * n for k, w, l, n in inv["fets"])
    mim = sum(mim_capacitor_area(c).value for c in inv["capacitors_f"])
    return published("assumption.layout_overhead").value * (trans + mim)


def test_periphery_area_from_the_device_inventories(card):
    cfg = CostConfig(window_tokens=128, array_rows=32)
    m = CostModel.build(_with_inventories(card), SHAPE, cfg)
    d, tiles = SHAPE.d_model // SHAPE.n_heads, -(-128 // 32)
    per = m.periphery_area()
    driver, conv = _expected_unit_area(DRIVER), _expected_unit_area(CONVERTER)
    assert per["pwm_driver_m2"].value == pytest.approx(driver, rel=1e-12)
    assert per["c2p_m2"].value == pytest.approx(conv, rel=1e-12)
    assert per["pwm_driver_transistor_count"].value == 5 and per["c2p_capacitor_count"].value == 2
    assert per["pwm_driver_mim_capacitors_m2"].value == 0 and per["c2p_mim_capacitors_m2"].value > 0
    for name in ("pwm_driver_m2", "c2p_m2"):
        src = per[name].source
        assert "#area." in src and "_devices" in src and "sky130" in src and "layout_overhead" in src
    a = m.area_per_head()
    assert a["pwm_drivers"].value == pytest.approx(d * tiles * driver, rel=1e-12)
    assert a["c2p_converters"].value == pytest.approx((128 + d * tiles) * conv, rel=1e-12)
    assert "area.c2p_devices" in a["c2p_converters"].source
    assert not [x for x in m.missing() if x.component.startswith("area.")]
    # twice the window: twice the tiles, so twice the drivers; W + d x tiles converters
    a2 = CostModel.build(card, SHAPE, CostConfig(window_tokens=256, array_rows=32)).area_per_head()
    assert a2["pwm_drivers"].value == pytest.approx(2 * a["pwm_drivers"].value, rel=1e-12)
    assert a2["c2p_converters"].value == pytest.approx((256 + 2 * d * tiles) * conv, rel=1e-12)


def test_a_card_area_number_wins_over_the_inventory(card):
    m = CostModel.build(_with_inventories(card, driver_area=10e-12), SHAPE, CostConfig(window_tokens=128, array_rows=32))
    per = m.periphery_area()
    assert per["pwm_driver_m2"].value == 10e-12 and per["pwm_driver_m2"].source.endswith("#area.pwm_driver_area_m2")
    assert "pwm_driver_transistor_count" not in per  # not drawn from the inventory
    assert per["c2p_m2"].value == pytest.approx(_expected_unit_area(CONVERTER), rel=1e-12)


def test_card_without_inventories_lists_the_periphery_areas_as_missing(card):
    for key in ("pwm_driver_devices", "c2p_devices"):
        card["area"].pop(key, None)
        card["area"]["sources"].pop(key, None)
    card["area"].update(pwm_driver_area_m2=None, c2p_area_m2=None)
    card["area"]["sources"].update(pwm_driver_area_m2="not characterized", c2p_area_m2="not characterized")
    m = CostModel.build(card, SHAPE, CostConfig(window_tokens=128, array_rows=32))
    a = m.area_per_head()
    assert "pwm_drivers" not in a and "c2p_converters" not in a and "v_array" in a
    listed = {x.component: x for x in m.missing()}
    assert listed["area.pwm_drivers"].fields == ("area.pwm_driver_area_m2",)
    assert listed["area.c2p_converters"].reason == "not characterized"
    assert m.periphery_area() == {}


def test_malformed_inventory_names_the_field(card):
    _with_inventories(card)
    card["area"]["c2p_devices"] = {"fets": [["nmos", 0.42, -0.15, 1]], "capacitors_f": []}
    with pytest.raises(CardError, match=r"area.c2p_devices.fets\[0\]"):
        CostModel.build(card, SHAPE, CostConfig())


def test_default_card_draws_driver_and_converter_areas():
    from behavioral.cards import default_card

    m = CostModel.build(default_card(), GPT2_124M, CostConfig())
    per = m.periphery_area()
    assert per["pwm_driver_transistor_count"].value == 10 and per["c2p_transistor_count"].value == 23
    assert 1e-10 < per["pwm_driver_m2"].value < per["c2p_m2"].value < 1e-8  # 100 um^2 .. 10000 um^2
    assert not [x for x in m.missing() if x.component.startswith("area.")]
