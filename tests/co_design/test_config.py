"""Bad attention configs give clear errors naming the field."""

from __future__ import annotations

import json

import pytest

from co_design.config import AttentionConfig
from co_design.swap import install_attention, load_model, new_gpt2, read_attention_config
from gaincell.errors import ConfigError


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
                                         ("noise", "yes"), ("noise_seed", -3)])
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
