"""Counter-based (stateless) Gaussian draws: the same number for the same indices, on any device.

`counter_normal(seed, stream, (i0, i1, ...))` hashes the integer indices with the seed and a
stream tag into one 32-bit word and turns it into one standard normal value (Box-Muller on its
two 16-bit halves). Nothing depends on how a computation is chunked or on which device it runs:
the fused and the naive attention, a full forward and a KV-cache step all draw the same value for
the same read (head, query position, key position, ...). Integer hashing is exact on CPU and
CUDA; the float transform follows the requested dtype (float32 or float64).

Cost matters: the attention draws one value per read (T x W per head), so the hash is kept to a
few full-size integer passes. The indices are folded into one word by a multiply-add chain (the
small, early indices stay small tensors), then two rounds of a multiply-xorshift avalanche mix
(lowbias32's structure; both multipliers are below 2**31 so the int64 products never overflow).
The 16-bit halves bound |z| <= sqrt(2 ln 65536) = 4.7: the tails beyond 4.7 sigma (3e-6 of
draws) are not produced, irrelevant for read and write noise.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

_MASK32 = 0xFFFFFFFF
_FOLD = 0x01000193  # FNV-1a 32-bit prime: index folding multiplier (< 2**31)
_M1 = 0x7FEB352D  # lowbias32's first multiplier
_M2 = 0x2C1B3C6D  # odd multiplier below 2**31 for the second round


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """Multiply-xorshift avalanche of 32-bit words (int64 tensor in [0, 2**32)), bijective."""
    x = x ^ (x >> 16)
    x = (x * _M1) & _MASK32
    x = x ^ (x >> 15)
    x = (x * _M2) & _MASK32
    return x ^ (x >> 16)


def _mix32_int(x: int) -> int:
    """`_mix32` on a Python int (the seed word)."""
    x ^= x >> 16
    x = (x * _M1) & _MASK32
    x ^= x >> 15
    x = (x * _M2) & _MASK32
    return x ^ (x >> 16)


def _hash(seed: int, stream: int, indices: Sequence[torch.Tensor]) -> torch.Tensor:
    h: torch.Tensor | int = _mix32_int((int(seed) * 0x632BE5AB + int(stream) * 0x85157AF5) & _MASK32)
    for idx in indices:
        h = (h * _FOLD + (idx.to(torch.int64) & _MASK32) + 1) & _MASK32
    return _mix32(_mix32(h))


def counter_normal(seed: int, stream: int, indices: Sequence[torch.Tensor],
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal values, one per element of the broadcast of `indices` (integer tensors
    >= 0 and < 2**32, all on one device), a pure function of (seed, stream, indices).

    The result is on the indices' device in `dtype` (computed in float64 for float64, else in
    float32 and cast).
    """
    if not indices:
        raise ValueError("counter_normal needs at least one index tensor")
    cd = torch.float64 if dtype == torch.float64 else torch.float32
    h = _hash(seed, stream, indices)
    # u1 in (0, 1] (log is finite), u2 in [0, 1)
    u1 = ((h >> 16).to(cd) + 1.0) * (1.0 / 65536.0)
    u2 = (h & 0xFFFF).to(cd) * (1.0 / 65536.0)
    z = torch.sqrt(-2.0 * torch.log(u1)) * torch.cos((2.0 * math.pi) * u2)
    return z if z.dtype == dtype else z.to(dtype)
