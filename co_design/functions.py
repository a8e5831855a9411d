"""Attention functions registered with transformers' `AttentionInterface`, one per mode.

GPT-2 calls `fn(module, query, key, value, attention_mask, scaling=..., dropout=...,
position_ids=..., **kwargs)` with (B, H, T, D) tensors and expects ((B, T, H, D), weights).
The functions find the model's emulator state on `module.gaincell_runtime` (set by
`co_design.swap.install_attention`).

In the analog modes the query, key and value arriving here are already in the device domain
(pulse fractions, stored volts): the mapping happens when c_attn produces them, before they
enter the KV cache (see `co_design.swap`), so the cache holds written device values. Padded
batches: the analog modes build their mask with `co_design.padding.key_padding_mask` and never
write a padded token into the arrays (see `co_design.padding`).

While the scalers record statistics (adaptation), the functions also record the spread of the
softmax logits (`co_design.logit_stats`): scaling * q.k for the digital softmax, log m / tau for
the aCAM. The aCAM temperature is adapted to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

from co_design.config import ANALOG_MODES, MODES
from co_design.logit_stats import LogitSpread
from co_design.padding import key_padding_mask, real_keys, row_layouts
from co_design.scalers import SCORE
from gaincell.errors import ConfigError


def runtime_of(module: torch.nn.Module):
    """The emulator state installed on an attention module (raises when missing)."""
    rt = module.__dict__.get("gaincell_runtime")
    if rt is None:
        raise ConfigError(
            "attn_implementation", getattr(module.config, "_attn_implementation", None),
            "a model prepared with co_design.swap.install_attention (or co_design.load_model)",
        )
    return rt


def query_key_positions(position_ids: torch.Tensor | None, tq: int, tk: int,
                        device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Absolute positions (P, Tq) of the queries and (P, Tk) of the keys, P in {1, B}.

    Keys are contiguous and end at the last query (true for GPT-2 with or without a
    sliding-window cache). Without position ids the sequence is assumed to start at 0.
    """
    if position_ids is None:
        q_pos = torch.arange(tk - tq, tk, device=device)[None, :]
    else:
        q_pos = position_ids.to(device).reshape(-1, position_ids.shape[-1])[:, -tq:]
    k_pos = q_pos[:, -1:] - (tk - 1) + torch.arange(tk, device=device)[None, :]
    return q_pos, k_pos


def window_mask(q_pos: torch.Tensor, k_pos: torch.Tensor, window: int) -> torch.Tensor:
    """Boolean (P, 1, Tq, Tk): key j visible from query i iff i - window < j <= i."""
    age = q_pos[:, :, None] - k_pos[:, None, :]
    return ((age >= 0) & (age < window))[:, None]


def _padding_mask(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    if attention_mask is None:
        return None
    if attention_mask.dtype == torch.bool:
        return attention_mask
    return attention_mask == 0  # additive float mask: 0 where allowed


def digital_swa_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                          position_ids=None, **kwargs):
    """Softmax attention restricted to the last W tokens (the digital baseline P0)."""
    rt = runtime_of(module)
    q_pos, k_pos = query_key_positions(position_ids, query.shape[-2], key.shape[-2], query.device)
    allowed = window_mask(q_pos, k_pos, rt.config.window)
    pad = _padding_mask(attention_mask)
    if pad is not None:
        allowed = allowed & pad[..., -key.shape[-2]:]
    out = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed, dropout_p=dropout,
                                         scale=scaling)
    scalers = getattr(module, "gaincell_scalers", None)
    if scalers is not None and scalers.recording:  # digital reference statistics (adaptation)
        B, Tq, Tk = query.shape[0], query.shape[-2], key.shape[-2]
        real = real_keys(pad[..., -Tk:], B, Tq, Tk) if pad is not None else None
        valid_q = None if real is None else real[:, -Tq:]
        for name, x in (("q", query), ("k", key), ("v", value), ("out", out)):
            scalers.observe(name, x, valid_q)
        scale = query.shape[-1] ** -0.5 if scaling is None else scaling
        spread = LogitSpread()
        with torch.no_grad():
            spread.add_chunked(lambda i0, i1: (query[:, :, i0:i1] @ key.transpose(-1, -2)) * scale,
                               lambda i0, i1: allowed[..., i0:i1, :], Tq)
        if not spread.empty:
            std = spread.std()
            scalers.observe_moments(SCORE, torch.zeros_like(std), std)
    return out.transpose(1, 2).contiguous(), None


def analog_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0,
                     position_ids=None, **kwargs):
    """Emulated gain-cell / aCAM attention on device-domain q, k, v; digital output.

    The core returns the tile-summed converter output; the per-head output scaler maps it back
    to the digital range of the model. Padded tokens are never written into the arrays (see
    `co_design.padding`): the core sees each sequence's real tokens only, and a padded query
    gets a zero core output.
    """
    rt = runtime_of(module)
    scalers = module.gaincell_scalers
    B, _, Tq, _ = query.shape
    Tk = key.shape[-2]
    real = real_keys(attention_mask, B, Tq, Tk)
    layouts = row_layouts(position_ids, real, B, Tq, Tk)
    spread = LogitSpread() if (scalers.recording and rt.records_logits) else None
    if len(layouts) == 1 and layouts[0].covers(Tq, Tk):
        y = rt.attend(module.layer_idx, scalers, query, key, value, layouts[0].q0, layouts[0].k0, spread)
    else:
        y = query.new_zeros(*query.shape[:3], value.shape[-1])
        for lay in layouts:
            r = lay.rows
            part = rt.attend(module.layer_idx, scalers, query[r][:, :, lay.q_lo:lay.q_hi],
                             key[r][:, :, lay.k_lo:lay.k_hi], value[r][:, :, lay.k_lo:lay.k_hi],
                             lay.q0, lay.k0, spread)
            y[r, :, lay.q_lo:lay.q_hi] = part.to(y.dtype)
    if spread is not None and not spread.empty:
        std = spread.std()
        scalers.observe_moments(SCORE, torch.zeros_like(std), std)
    y = scalers.scale("out", y, None if real is None else real[:, -Tq:])
    return y.transpose(1, 2).contiguous(), None


_FUNCTIONS = {
    "digital_swa": digital_swa_attention,
    "linear_hw": analog_attention,
    "gaincell": analog_attention,
    "acam": analog_attention,
}


def register_all() -> None:
    """Register every mode as an attention implementation (idempotent)."""
    assert set(_FUNCTIONS) == set(MODES)
    for name, fn in _FUNCTIONS.items():
        AttentionInterface.register(name, fn)
        AttentionMaskInterface.register(name, key_padding_mask if name in ANALOG_MODES else sdpa_mask)
