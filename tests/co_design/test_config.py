"""Bad attention configs give clear errors naming the field."""

from __future__ import annotations

import json

import pytest

from behavioral.cards import default_card
from co_design.config import AttentionConfig
from co_design.finetune import FinetuneConfig
from co_design.swap import install_attention, load_model, new_gpt2, read_attention_config, save_model
from gaincell.errors import CardError, ConfigError


def test_unknown_mode_names_field_and_choices():
    with pytest.raises(ConfigError, match="'mode'.*'softmax'.*digital_swa \\| linear_hw \\| gaincell \\| acam"):
        AttentionConfig(mode="softmax")


def test_window_larger_than_context_is_rejected_on_install():
    model = new_gpt2(1, 2, 16, 32, 50)
    with pytest.raises(ConfigError, match="'window': 64.*n_positions=32"):
        install_attention(model, AttentionConfig(mode="digital_swa", window=64))


def test_analog_window_must_fill_whole_arrays():
    with pytest.raises(ConfigError, match="'window': 48.*multiple of array_rows=32"):
        AttentionConfig(mode="gaincell", window=48, array_rows=32)


@pytest.mark.parametrize("field,value", [("window", 0), ("array_rows", -1), ("kv_bits", 0),
                                         ("noise", "yes"), ("noise_seed", -3), ("c_store_f", 0.0),
                                         ("c_store_f", -1e-15), ("c_store_f", 1.0), ("c_store_f", "10f")])
def test_bad_values(field, value):
    with pytest.raises(ConfigError, match=f"'{field}'"):
        AttentionConfig(**{field: value})


def test_saved_config_with_unknown_key_names_the_file(tiny_model_dir, tmp_path):
    cfg = json.loads((tiny_model_dir / "config.json").read_text())
    cfg["gaincell_attention"]["windw"] = 8
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="config.json.*'windw'"):
        read_attention_config(bad)


def test_missing_model_dir_is_clear(tmp_path):
    with pytest.raises(ConfigError, match="config.json"):
        load_model(tmp_path / "nothing")


def _saved_digital(tmp_path):
    """A small untrained GPT-2 (context 32) saved with digital_swa attention."""
    model = new_gpt2(1, 2, 16, 32, 50)
    install_attention(model, AttentionConfig(mode="digital_swa", window=16))
    return save_model(model, tmp_path / "model")


def test_load_model_with_unknown_mode_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="'mode'.*'softmax'.*digital_swa \\| linear_hw \\| gaincell \\| acam"):
        load_model(_saved_digital(tmp_path), mode="softmax")


def test_load_model_with_window_larger_than_context_names_the_field(tmp_path):
    with pytest.raises(ConfigError, match="'window': 64.*n_positions=32"):
        load_model(_saved_digital(tmp_path), mode="gaincell", window=64, array_rows=8)


def test_saved_window_larger_than_context_names_the_field(tmp_path):
    path = _saved_digital(tmp_path)
    cfg = json.loads((path / "config.json").read_text())
    cfg["gaincell_attention"]["window"] = 48
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="'window': 48.*n_positions=32"):
        load_model(path)


@pytest.mark.parametrize("mode,section,field", [("gaincell", "c2p", "s_sat_qk_a"),
                                                ("acam", "acam", "width_v"),
                                                ("linear_hw", "quant", "kv_levels")])
def test_card_missing_a_field_names_file_and_field(tmp_path, mode, section, field):
    data = default_card().to_dict()
    del data[section][field]
    card = tmp_path / "card.json"
    card.write_text(json.dumps(data))
    with pytest.raises(CardError, match=f"card.json.*'{section}.{field}'"):
        load_model(_saved_digital(tmp_path), mode=mode, window=16, array_rows=8, card_path=str(card))


def test_finetune_plan_with_unknown_mode_names_the_field():
    with pytest.raises(ConfigError, match="'stages'.*'softmax'"):
        FinetuneConfig(stages=("linear_hw", "softmax"), steps=(1, 1))


def test_c_store_override_re_derives_the_card():
    from co_design.hardware import HardwareRuntime, load_attention_card

    base = AttentionConfig(mode="gaincell", window=16, array_rows=8)
    card = default_card()
    assert load_attention_card(base) is card
    small = load_attention_card(base.replace(c_store_f=card.array.c_store_f / 10))
    assert small.array.c_store_f == pytest.approx(card.array.c_store_f / 10)
    assert small.decay.tau_s == pytest.approx(card.decay.tau_s / 10)
    assert small.noise.write_noise_v == pytest.approx(card.noise.write_noise_v * 10**0.5)
    rt = HardwareRuntime(base.replace(c_store_f=1e-15))
    assert rt.card.decay.per_token_factor < card.decay.per_token_factor
    assert AttentionConfig.from_dict(base.replace(c_store_f=1e-15).to_dict()).c_store_f == 1e-15
