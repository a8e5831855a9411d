"""The spread of softmax attention logits: the statistic the aCAM temperature is adapted to.

A softmax over a row of logits depends only on their differences, so its sharpness is set by
their spread within the row. `LogitSpread` accumulates, per head, the pooled within-row variance
of the logits over the visible keys,

    spread[h]**2 = sum_{b, i} sum_{j visible} (z_bhij - mean_j z_bhij)**2 / sum_{b, i} n_bi,

over the rows with at least two visible keys (n_bi: visible keys of query i; a row with one key
is a fixed weight of 1 whatever its logit). Logits in nats: scaling * q.k for the digital
softmax, log m / tau for the aCAM (`behavioral.attention_acam`). The logits are evaluated in
query chunks, so memory stays O(chunk * Tk) per head.
"""

from __future__ import annotations

from typing import Callable

import torch

CHUNK = 256
"""Queries per chunk when logits are evaluated for statistics."""


class LogitSpread:
    """Accumulator of the per-head pooled within-row logit variance (see module doc)."""

    def __init__(self) -> None:
        self.sumsq: torch.Tensor | None = None
        self.count: float = 0.0

    def add(self, logits: torch.Tensor, visible: torch.Tensor) -> None:
        """Add (B, H, Tq, Tk) logits (nats) with a boolean visibility broadcastable to (B, 1, Tq, Tk)."""
        logits = logits.detach().float()
        B, _, Tq, Tk = logits.shape
        vis = visible.expand(B, 1, Tq, Tk)
        n = vis.sum(-1, keepdim=True)  # (B, 1, Tq, 1)
        z = torch.where(vis, logits, torch.zeros((), dtype=logits.dtype, device=logits.device))
        mean = z.sum(-1, keepdim=True) / n.clamp_min(1)
        c2 = torch.where(vis, (logits - mean) ** 2, torch.zeros((), dtype=logits.dtype, device=logits.device))
        use = (n >= 2)[..., 0]  # (B, 1, Tq)
        sumsq = (c2.sum(-1) * use).sum(dim=(0, 2))  # (H,)
        self.sumsq = sumsq if self.sumsq is None else self.sumsq + sumsq
        self.count += float((n[..., 0] * use).sum())

    def add_chunked(self, logits_of: Callable[[int, int], torch.Tensor],
                    visible_of: Callable[[int, int], torch.Tensor], tq: int, chunk: int = CHUNK) -> None:
        """Add the logits of queries [i0, i1) chunk by chunk: `logits_of(i0, i1)` -> (B, H, c, Tk),
        `visible_of(i0, i1)` -> boolean broadcastable to (B, 1, c, Tk)."""
        for i0 in range(0, tq, chunk):
            i1 = min(tq, i0 + chunk)
            self.add(logits_of(i0, i1), visible_of(i0, i1))

    @property
    def empty(self) -> bool:
        """True when no row with two or more visible keys was added."""
        return self.sumsq is None or self.count == 0

    def std(self) -> torch.Tensor:
        """Per-head pooled within-row standard deviation of the logits (H,), nats."""
        if self.empty:
            raise ValueError("no row with two or more visible keys was added")
        return (self.sumsq / self.count).sqrt()


def window_visibility(q0: int, k0: int, i0: int, i1: int, tk: int, window: int,
                      device: torch.device) -> torch.Tensor:
    """(1, 1, i1 - i0, tk) bool: key j (position k0 + j) visible from query i (position q0 + i)
    iff 0 <= age < window, for the queries i in [i0, i1)."""
    qpos = torch.arange(q0 + i0, q0 + i1, device=device)
    kpos = torch.arange(k0, k0 + tk, device=device)
    age = qpos[:, None] - kpos[None, :]
    return ((age >= 0) & (age < window))[None, None]
