"""Every layer's arrays draw their own fixed-pattern mismatch and their own read and write noise,
reproducibly from the noise seed."""

from __future__ import annotations

import torch

from behavioral.attention_config import cell_gains, resolve_physics
from co_design.config import AttentionConfig
from behavioral.cards import default_card
from co_design.hardware import HardwareRuntime, layer_seed, temporal_seed
from gaincell.fileio import write_json
from co_design.scalers import HeadScalers
from co_design.swap import install_attention, new_gpt2, scalers_of, set_noise_seed

CFG = AttentionConfig(mode="gaincell", window=16, array_rows=8, noise_seed=5)


def _device_inputs():
    g = torch.Generator().manual_seed(0)
    q = torch.rand(1, 2, 32, 16, generator=g)            # PWM fractions
    k = 0.9 * torch.rand(1, 2, 32, 16, generator=g)      # stored volts
    v = 0.9 * torch.rand(1, 2, 32, 16, generator=g)
    return q, k, v


def test_layer_seed_formula():
    assert layer_seed(7, 0) == 7 and layer_seed(7, 1) == (7 + 0x9E3779B9) % 2**32
    seeds = {layer_seed(s, layer) for s in range(500) for layer in range(48)}
    assert len(seeds) == 500 * 48                          # no two (seed, layer) pairs collide


def test_two_layers_draw_different_mismatch_patterns():
    rt = HardwareRuntime(CFG)
    assert rt.noise_characterized
    s0, s1 = rt.settings(0), rt.settings(1)
    assert s0.mismatch_seed != s1.mismatch_seed
    g0 = cell_gains(resolve_physics(rt.card, s0), 2, 16, 16, 0, "cpu", torch.float32)
    g1 = cell_gains(resolve_physics(rt.card, s1), 2, 16, 16, 0, "cpu", torch.float32)
    assert not torch.allclose(g0, g1)
    q, k, v = _device_inputs()
    scalers = HeadScalers(2, 0.45)
    y0, y1 = (rt.attend(layer, scalers, q, k, v, 0, 0) for layer in (0, 1))
    assert not torch.equal(y0, y1)
    # the same seed reproduces each layer's pattern; without noise the layers are identical
    assert torch.equal(HardwareRuntime(CFG).attend(1, scalers, q, k, v, 0, 0), y1)
    quiet = HardwareRuntime(CFG.replace(noise=False))
    assert torch.equal(quiet.attend(0, scalers, q, k, v, 0, 0), quiet.attend(1, scalers, q, k, v, 0, 0))


def test_same_seed_same_output_other_seed_differs():
    def run(seed):
        torch.manual_seed(0)
        model = new_gpt2(2, 2, 32, 48, 50, eos_token_id=0).eval()
        install_attention(model, CFG.replace(noise_seed=seed))
        with torch.no_grad():
            for s in scalers_of(model):
                s.q_a.fill_(3.0), s.q_b.fill_(0.3), s.k_a.fill_(2.0), s.v_a.fill_(2.0)
        return model

    ids = torch.randint(1, 50, (2, 40), generator=torch.Generator().manual_seed(1))
    a, b = run(5), run(5)
    assert torch.equal(a(ids).logits, b(ids).logits)
    set_noise_seed(b, 6)
    assert not torch.allclose(a(ids).logits, b(ids).logits, atol=1e-5)


def test_read_and_write_noise_seeds_per_layer():
    rt = HardwareRuntime(CFG)
    assert rt.noise_sources == ("mismatch", "read_noise", "write_noise")
    s0, s1 = rt.settings(0), rt.settings(1)
    assert s0.read_noise_seed == s0.write_noise_seed == temporal_seed(5, 0)
    assert s1.read_noise_seed == temporal_seed(5, 1) != s0.read_noise_seed
    assert s0.read_noise_seed != s0.mismatch_seed and s1.read_noise_seed != s1.mismatch_seed
    seeds = {temporal_seed(s, layer) for s in range(500) for layer in range(48)}
    assert len(seeds) == 500 * 48
    quiet = HardwareRuntime(CFG.replace(noise=False))
    assert quiet.noise_sources == ()
    q = quiet.settings(0)
    assert q.mismatch_seed is None and q.read_noise_seed is None and q.write_noise_seed is None
    acam = HardwareRuntime(CFG.replace(mode="acam"))  # the aCAM core: its window mismatch only
    assert acam.noise_sources == ("acam_mismatch",)
    assert acam.acam_mismatch_seed(1) == layer_seed(5, 1) != acam.acam_mismatch_seed(0)
    assert HardwareRuntime(CFG.replace(mode="acam", noise=False)).acam_mismatch_seed(0) is None


def _card_file(tmp_path, name, **noise):
    raw = default_card().to_dict()
    raw["noise"].update(noise)
    path = tmp_path / f"{name}.json"
    write_json(path, raw)
    return str(path)


def test_each_noise_source_only_where_the_card_has_it(tmp_path):
    q, k, v = _device_inputs()
    scalers = HeadScalers(2, 0.45)
    read_only = CFG.replace(card_path=_card_file(tmp_path, "read", mismatch_sigma_rel=None, write_noise_v=None))
    rt = HardwareRuntime(read_only)
    assert rt.noise_sources == ("read_noise",)
    s = rt.settings(0)
    assert s.mismatch_seed is None and s.write_noise_seed is None and s.read_noise_seed is not None
    y5 = rt.attend(0, scalers, q, k, v, 0, 0)
    assert torch.equal(HardwareRuntime(read_only).attend(0, scalers, q, k, v, 0, 0), y5)
    y6 = HardwareRuntime(read_only.replace(noise_seed=6)).attend(0, scalers, q, k, v, 0, 0)
    assert not torch.equal(y5, y6)  # read noise alone makes a seed-to-seed difference
    none = CFG.replace(card_path=_card_file(tmp_path, "none", mismatch_sigma_rel=None, read_noise_rel=None,
                                            write_noise_v=None))
    rt = HardwareRuntime(none)
    assert not rt.noise_characterized and rt.noise_sources == ()
    assert torch.equal(rt.attend(0, scalers, q, k, v, 0, 0),
                       HardwareRuntime(none.replace(noise_seed=6)).attend(0, scalers, q, k, v, 0, 0))


def test_acam_window_mismatch_per_layer_and_seed():
    """Mode acam: each layer and noise seed has its own aCAM cell pattern; noise off removes it."""
    q, k, v = _device_inputs()
    scalers = HeadScalers(2, 0.45)
    cfg = CFG.replace(mode="acam")
    y5 = HardwareRuntime(cfg).attend(0, scalers, q, k, v, 0, 0)
    assert torch.equal(HardwareRuntime(cfg).attend(0, scalers, q, k, v, 0, 0), y5)
    assert not torch.equal(HardwareRuntime(cfg.replace(noise_seed=6)).attend(0, scalers, q, k, v, 0, 0), y5)
    assert not torch.equal(HardwareRuntime(cfg).attend(1, scalers, q, k, v, 0, 0), y5)
    quiet = HardwareRuntime(cfg.replace(noise=False)).attend(0, scalers, q, k, v, 0, 0)
    assert not torch.equal(quiet, y5)
    assert torch.equal(HardwareRuntime(cfg.replace(noise=False, noise_seed=6)).attend(0, scalers, q, k, v, 0, 0),
                       quiet)
