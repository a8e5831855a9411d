"""Padded batches in the analog modes: which keys are real tokens, and where they sit in the arrays.

The emulated arrays hold real tokens only. A padded position is never written: it adds nothing
to phi(Q.K), phi(S).V or the aCAM match, and it does not count toward token age or toward the W
tokens of the window. Each sequence's real tokens must form one contiguous run of the keys the
attention function receives: left padding (what `generate` uses for a batch of prompts) or right
padding (training, evaluation). Padding between real tokens (e.g. generating from a
right-padded batch) is a ConfigError naming `attention_mask`.

Positions. A real token's absolute position (its circular-buffer column is position mod W, its
age the difference of positions) is its entry of the model's `position_ids`: `generate` numbers
the real tokens of each prompt 0, 1, 2, ... whatever its padding, so a padded prompt meets the
same array columns and decay as when it runs alone. The real keys carry consecutive positions
ending at the last real query; real queries whose positions are not consecutive are a
ConfigError naming `position_ids` (e.g. packed sequences). Without `position_ids` the queries
are the last Tq key slots numbered from 0.

Sequences with the same layout (real key run, real query rows, positions) go to the behavioral
core together: an unpadded batch is one call, a left-padded generate step one call per distinct
padding length.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.masking_utils import prepare_padding_mask

from gaincell.errors import ConfigError


def key_padding_mask(batch_size: int, q_length: int, kv_length: int, q_offset: int = 0,
                     kv_offset: int = 0, attention_mask: torch.Tensor | None = None,
                     **kwargs) -> torch.Tensor | None:
    """Mask builder registered with transformers' `AttentionMaskInterface` for the analog modes.

    `attention_mask`: the 2-D padding mask (B, tokens seen so far + q_length), True/1 = real.
    Returns None for an unpadded batch, else (B, 1, 1, kv_length) bool, True where the key the
    attention function receives is a real token. Causality and the window come from positions.
    """
    if attention_mask is None:
        return None
    pad = prepare_padding_mask(attention_mask.bool(), kv_length, kv_offset)
    real = pad[:, kv_offset:kv_offset + kv_length]
    if bool(real.all()):
        return None
    return real[:, None, None, :]


def real_keys(attention_mask: torch.Tensor | None, batch: int, tq: int, tk: int) -> torch.Tensor | None:
    """(B, Tk) bool of real keys from the mask the attention function receives, None if all real.

    Accepts `key_padding_mask`'s (B, 1, 1, Tk), a 4-D (B, 1, Tq, Tk) mask (bool: True = allowed;
    float: additive, 0 = allowed; a key no query may see counts as padding) or a 2-D (B, Tk)
    padding mask (1 = real).
    """
    if attention_mask is None:
        return None
    m = attention_mask
    if m.dtype != torch.bool:
        m = (m == 0) if m.dim() == 4 else (m != 0)
    if m.dim() == 2 and m.shape == (batch, tk):
        real = m
    elif m.dim() == 4 and m.shape[0] in (1, batch) and m.shape[1] == 1 and m.shape[2] in (1, tq) \
            and m.shape[3] == tk:
        real = m[:, 0].any(dim=1).expand(batch, tk)
    else:
        raise ConfigError("attention_mask", tuple(attention_mask.shape),
                          f"(B, Tk) padding mask or (B, 1, 1|Tq, Tk) mask with B={batch}, Tq={tq}, Tk={tk}")
    return None if bool(real.all()) else real


def real_tokens(attention_mask: torch.Tensor | None, batch: int, t: int) -> torch.Tensor | None:
    """(B, t) bool: which of the t current tokens (the last t keys of the mask) are real; None if all."""
    if attention_mask is None:
        return None
    real = real_keys(attention_mask, batch, t, attention_mask.shape[-1])
    return None if real is None else real[:, -t:]


@dataclass(frozen=True)
class Layout:
    """Where the real tokens of some batch rows sit (indices into the attention inputs).

    Attributes:
        rows: the batch rows sharing this layout (a slice for the whole batch).
        q_lo, q_hi: real query rows [q_lo, q_hi) of the (B, H, Tq, D) query.
        k_lo, k_hi: real keys [k_lo, k_hi) of the (B, H, Tk, D) keys.
        q0, k0: absolute positions (tokens) of query q_lo and key k_lo.
    """

    rows: slice | torch.Tensor
    q_lo: int
    q_hi: int
    k_lo: int
    k_hi: int
    q0: int
    k0: int

    def covers(self, tq: int, tk: int) -> bool:
        """True when this layout is the whole batch with every query and key real."""
        return (isinstance(self.rows, slice) and self.q_lo == 0 and self.q_hi == tq
                and self.k_lo == 0 and self.k_hi == tk)


def row_layouts(position_ids: torch.Tensor | None, real: torch.Tensor | None, batch: int, tq: int,
                tk: int) -> list[Layout]:
    """Group the batch rows by the layout of their real tokens (see the module doc).

    `real`: (B, Tk) real keys or None (all real). Rows without a real query need no attention
    (their output is zero) and appear in no layout.
    """
    device = real.device if real is not None else (position_ids.device if position_ids is not None else "cpu")
    off = tk - tq  # key index of query 0
    if position_ids is None:
        pos = torch.arange(off, tk, device=device)[None, :]
    else:
        pos = position_ids.to(device).reshape(-1, position_ids.shape[-1])[:, -tq:]
        if pos.shape[0] not in (1, batch) or pos.shape[1] != tq:
            raise ConfigError("position_ids", tuple(position_ids.shape), f"(1 or {batch}, >= {tq}) positions")
    pos = pos.long().expand(batch, tq)
    if real is None:
        k_lo = torch.zeros(batch, dtype=torch.long, device=device)
        k_hi = torch.full((batch,), tk, dtype=torch.long, device=device)
        n = k_hi
    else:
        n = real.sum(1)
        k_lo = real.int().argmax(1).long()
        k_hi = tk - real.flip(1).int().argmax(1).long()
        gaps = (n > 0) & (n != k_hi - k_lo)
        if bool(gaps.any()):
            b = int(gaps.nonzero()[0, 0])
            raise ConfigError("attention_mask", f"padding between the real tokens of sequence {b}",
                              "left or right padding (real tokens contiguous); generate with left padding")
    q_lo = (k_lo - off).clamp(0, tq)
    q_hi = (k_hi - off).clamp(0, tq)
    has_query = (n > 0) & (q_hi > q_lo)
    q_lo_safe = torch.where(has_query, q_lo, torch.zeros_like(q_lo)).clamp(max=tq - 1)
    anchor = pos.gather(1, q_lo_safe[:, None])[:, 0] - (off + q_lo_safe)  # position of key slot 0
    slot = torch.arange(tq, device=device)[None, :]
    in_run = (slot >= q_lo[:, None]) & (slot < q_hi[:, None]) & has_query[:, None]
    bad = in_run & (pos != anchor[:, None] + off + slot)
    if bool(bad.any()):
        b = int(bad.any(1).nonzero()[0, 0])
        raise ConfigError("position_ids", pos[b].tolist(),
                          f"consecutive positions for the real tokens of sequence {b}")
    table = torch.stack([q_lo, q_hi, k_lo, k_hi, anchor + off + q_lo, anchor + k_lo, has_query.long()], 1)
    groups: dict[tuple[int, ...], list[int]] = {}
    for b, row in enumerate(table.tolist()):
        if row[-1]:
            groups.setdefault(tuple(row[:-1]), []).append(b)
    layouts = []
    for key, rows in groups.items():
        sel = slice(None) if len(rows) == batch else torch.tensor(rows, device=device)
        layouts.append(Layout(sel, *key))
    return layouts
