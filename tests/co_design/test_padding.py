"""Padded batches in the analog modes: padded tokens are never written into the arrays.

Noise stays on (the config default): the shipped card's cell and converter mismatch (a fixed
pattern per array cell indexed by head, circular-buffer column (absolute position mod W) and
row), its per-read noise (indexed by head, query and key positions or tile and column) and its
kT/C write noise (indexed by head, token position and row); in `acam` mode the aCAM cells'
window mismatch (head, slot = position mod W, dim). None has a batch index, so a real
token meets the same cells and the same draws whether its prompt runs padded or alone, in any
batch row, and the comparisons are exact with every noise on.
"""

from __future__ import annotations

import pytest
import torch

from co_design.config import AttentionConfig
from co_design.padding import real_keys, row_layouts
from co_design.swap import attention_modules, install_attention, new_gpt2, scalers_of
from gaincell.errors import ConfigError

MODES = ["gaincell", "linear_hw", "acam"]
PAD = 0


def _model(mode: str):
    torch.manual_seed(0)
    model = new_gpt2(2, 2, 32, 48, 50, eos_token_id=PAD).eval()
    install_attention(model, AttentionConfig(mode=mode, window=16, array_rows=8))
    with torch.no_grad():
        for s in scalers_of(model):  # spread q, k, v over the device ranges
            s.q_a.fill_(3.0), s.q_b.fill_(0.3), s.k_a.fill_(2.0), s.v_a.fill_(2.0)
            if mode == "acam":  # queries and keys in one voltage band, so matches are not all zero
                s.q_a.fill_(0.05), s.k_a.fill_(0.05), s.q_b.fill_(0.45)
    rt = attention_modules(model)[0].gaincell_runtime
    assert rt.noise_characterized
    if mode == "acam":  # the aCAM core's only noise: its cells' window mismatch
        assert rt.noise_sources == ("acam_mismatch",) and rt.acam_mismatch_seed(0) is not None
    else:
        assert set(rt.noise_sources) == {"mismatch", "read_noise", "write_noise"}
        assert rt.settings(0).read_noise_seed is not None and rt.settings(0).write_noise_seed is not None
    return model


def _left_pad(prompts: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Left-padded ids, mask and the position ids generate would use (real tokens from 0)."""
    n = max(p.numel() for p in prompts)
    ids = torch.full((len(prompts), n), PAD, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, p in enumerate(prompts):
        ids[i, n - p.numel():] = p
        mask[i, n - p.numel():] = 1
    return ids, mask, (mask.cumsum(-1) - 1).clamp_min(0)


@pytest.mark.parametrize("mode", MODES)
def test_left_padded_batch_equals_each_prompt_alone(mode):
    model = _model(mode)
    g = torch.Generator().manual_seed(1)
    long, short = torch.randint(1, 50, (22,), generator=g), torch.randint(1, 50, (13,), generator=g)
    ids, mask, pos = _left_pad([long, short])   # 22 > window 16: eviction and buffer wrap-around
    batched = model(ids, attention_mask=mask, position_ids=pos).logits
    alone_long, alone_short = model(long[None]).logits[0], model(short[None]).logits[0]
    assert torch.allclose(batched[0], alone_long, atol=1e-5)
    assert torch.allclose(batched[1, 22 - 13:], alone_short, atol=1e-5)
    # what sits in the padded slots never reaches the arrays
    other = ids.clone()
    other[1, :22 - 13] = torch.randint(1, 50, (22 - 13,), generator=g)
    assert torch.equal(model(other, attention_mask=mask, position_ids=pos).logits[1, 22 - 13:],
                       batched[1, 22 - 13:])


@pytest.mark.parametrize("mode", MODES)
def test_right_padded_batch_equals_each_prompt_alone(mode):
    model = _model(mode)
    g = torch.Generator().manual_seed(2)
    long, short = torch.randint(1, 50, (20,), generator=g), torch.randint(1, 50, (9,), generator=g)
    ids = torch.full((2, 20), PAD, dtype=torch.long)
    ids[0], ids[1, :9] = long, short
    mask = (torch.arange(20)[None] < torch.tensor([[20], [9]])).long()
    batched = model(ids, attention_mask=mask).logits
    assert torch.allclose(batched[0], model(long[None]).logits[0], atol=1e-5)
    assert torch.allclose(batched[1, :9], model(short[None]).logits[0], atol=1e-5)
    assert torch.isfinite(batched).all()


@pytest.mark.parametrize("mode", ["gaincell", "linear_hw"])
def test_rows_sharing_a_layout_equal_each_alone(mode):
    """Rows of one layout go to the core together (later rows are not at batch index 0 there):
    the read and write noise still match each prompt run alone."""
    model = _model(mode)
    g = torch.Generator().manual_seed(3)
    a, b, c = (torch.randint(1, 50, (n,), generator=g) for n in (18, 18, 11))
    ids, mask, pos = _left_pad([a, b, c])
    batched = model(ids, attention_mask=mask, position_ids=pos).logits
    for row, p in enumerate((a, b, c)):
        assert torch.allclose(batched[row, 18 - p.numel():], model(p[None]).logits[0], atol=1e-5), row
    plain = model(torch.stack([a, b])).logits  # unpadded batch: one core call for both rows
    assert torch.allclose(plain[1], model(b[None]).logits[0], atol=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_batched_generate_with_left_padding_equals_per_prompt(mode):
    model = _model(mode)
    g = torch.Generator().manual_seed(3)
    prompts = [torch.randint(1, 50, (6,), generator=g), torch.randint(1, 50, (3,), generator=g)]
    ids, mask, _ = _left_pad(prompts)
    kw = dict(max_new_tokens=20, do_sample=False, pad_token_id=PAD, output_logits=True,
              return_dict_in_generate=True)                     # 6 + 20 tokens > window 16
    batched = model.generate(ids, attention_mask=mask, **kw)
    batched_logits = torch.stack(batched.logits, dim=1)
    for i, p in enumerate(prompts):
        alone = model.generate(p[None], **kw)
        assert torch.equal(batched.sequences[i, ids.shape[1] - p.numel():], alone.sequences[0])
        assert torch.allclose(batched_logits[i], torch.stack(alone.logits, dim=1)[0], atol=1e-5)


def test_padding_between_real_tokens_is_rejected():
    model = _model("gaincell")
    ids = torch.randint(1, 50, (2, 10))
    mask = torch.ones_like(ids)
    mask[1, 4] = 0
    with pytest.raises(ConfigError, match="'attention_mask'.*sequence 1.*left or right padding"):
        model(ids, attention_mask=mask)


def test_non_consecutive_positions_are_rejected():
    model = _model("linear_hw")
    ids = torch.randint(1, 50, (1, 10))
    pos = torch.cat([torch.arange(5), torch.arange(5)])[None]   # e.g. two packed sequences
    with pytest.raises(ConfigError, match="'position_ids'.*consecutive"):
        model(ids, position_ids=pos)


def test_layouts_group_rows_and_skip_padded_queries():
    real = torch.tensor([[0, 0, 1, 1, 1], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0]]).bool()
    pos = (real.long().cumsum(-1) - 1).clamp_min(0)
    layouts = row_layouts(pos, real, 4, 5, 5)
    found = {tuple(lay.rows.tolist()): (lay.q_lo, lay.q_hi, lay.k_lo, lay.k_hi, lay.q0, lay.k0)
             for lay in layouts}
    assert found == {(0, 1): (2, 5, 2, 5, 0, 0), (2,): (0, 5, 0, 5, 0, 0), (3,): (0, 2, 0, 2, 0, 0)}
    # a KV-cache step of a left-padded row: one query, keys still holding the pads
    step = row_layouts(torch.tensor([[3]]), torch.tensor([[0, 1, 1, 1]]).bool(), 1, 1, 4)
    assert [(s.q_lo, s.q_hi, s.k_lo, s.k_hi, s.q0, s.k0) for s in step] == [(0, 1, 1, 4, 3, 1)]
    assert real_keys(None, 4, 5, 5) is None
    assert real_keys(torch.ones(4, 1, 1, 5, dtype=torch.bool), 4, 5, 5) is None
