"""Counter-based (stateless) Gaussian draws: the same number for the same indices, on any device.

`counter_normal(seed, stream, (i0, i1, ...))` hashes the integer indices with the seed and a
stream tag into two 32-bit words and turns them into one standard normal value (Box-Muller).
Nothing depends on how a computation is chunked or on which device it runs: the fused and the
naive attention, a full forward and a KV-cache step all draw the same value for the same read
(batch, head, query position, key position, ...). Integer hashing is exact on CPU and CUDA; the
float transform follows the requested dtype (float32 or float64).

The hash is Chris Wellons' `lowbias32` finalizer applied to a running combination of the
indices; 32-bit products are computed in int64 on 16-bit halves, so no signed overflow occurs.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

_MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9


def _mul32(x: torch.Tensor, c: int) -> torch.Tensor:
    """(x * c) mod 2**32 for x in [0, 2**32) held in int64, without overflow."""
    lo = (x & 0xFFFF) * c
    hi = ((x >> 16) * c) & 0xFFFF
    return (lo + (hi << 16)) & _MASK32


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32: a bijective avalanche mix of 32-bit words (int64 tensor in [0, 2**32))."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x7FEB352D)
    x = x ^ (x >> 15)
    x = _mul32(x, 0x846CA68B)
    return x ^ (x >> 16)


def _hash(seed: int, stream: int, indices: Sequence[torch.Tensor]) -> torch.Tensor:
    h = torch.as_tensor((int(seed) * 0x632BE5AB + int(stream) * 0x85157AF5) & _MASK32, dtype=torch.int64)
    h = _mix32(h.to(indices[0].device))
    for idx in indices:
        h = _mix32((h + _GOLDEN + (idx.to(torch.int64) & _MASK32)) & _MASK32)
    return h


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
    h1 = _hash(seed, stream, indices)
    h2 = _mix32(h1 ^ 0x5BD1E995)
    # u1 in (0, 1] (log is finite), u2 in [0, 1]
    u1 = (h1.to(cd) + 1.0) * (1.0 / 4294967296.0)
    u2 = h2.to(cd) * (1.0 / 4294967296.0)
    z = torch.sqrt(-2.0 * torch.log(u1.clamp_max_(1.0))) * torch.cos((2.0 * math.pi) * u2)
    return z if z.dtype == dtype else z.to(dtype)
