"""Counter-based (stateless) Gaussian draws: the same number for the same indices, on any device.

`counter_normal(seed, stream, (i0, i1, ...))` hashes the integer indices with the seed and a
stream tag into one 32-bit word and turns it into one standard normal value. Nothing depends on
how a computation is chunked or on which device it runs: the fused and the naive attention, a
full forward and a KV-cache step all draw the same value for the same read (head, query
position, key position, ...). Integer hashing is exact on CPU and CUDA (int32 arithmetic that
wraps modulo 2**32); the float lookup follows the requested dtype.

Cost matters: the attention draws one value per read (T x W per head), so only the last index
(the one that makes the tensor full size) meets full-size work:

- the leading indices are folded one by one on their own (small, broadcast) tensors, each
  step a multiply-add followed by murmur3's 32-bit finalizer (`fmix32`: three xorshifts and two
  multiplies, a bijective avalanche);
- the last index is mixed alone (fmix32 of an odd-multiplier spread of it), XORed with the
  folded word, and the full-size word gets one more fmix32 (11 in-place int32 passes);
- its top 16 bits pick a standard-normal quantile from a 65,536-entry table
  (Phi^-1((k + 0.5) / 65536)): one gather, no log/sqrt/cos.

About 8 ns per value on one CPU core, 14x less than the former int64 hash with Box-Muller.
The table bounds |z| <= Phi^-1(1 - 0.5 / 65536) = 4.33: the tails beyond (1.5e-5 of draws) are
not produced, irrelevant for read and write noise.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import torch


def _i32(c: int) -> int:
    """A 32-bit word as the signed int32 value with the same bits."""
    c &= 0xFFFFFFFF
    return c - (1 << 32) if c >= (1 << 31) else c


_C1 = _i32(0x85EBCA6B)  # murmur3 fmix32 multipliers
_C2 = _i32(0xC2B2AE35)
_FOLD = _i32(0x01000193)  # FNV-1a 32-bit prime: folding multiplier of the leading indices
_SPREAD = _i32(0x9E3779B1)  # golden-ratio odd multiplier: spreads the last index
_SPREAD_ADD = _i32(0x7F4A7C15)
_LEVELS = 1 << 16


def _fmix32_(x: torch.Tensor, tmp: torch.Tensor | None = None) -> torch.Tensor:
    """murmur3's finalizer on int32 words, in place (right shifts are masked: int32 `>>` is
    arithmetic). Bijective on 32-bit words."""
    t = torch.empty_like(x) if tmp is None else tmp
    for shift, mul in ((16, _C1), (13, _C2), (16, None)):
        torch.bitwise_right_shift(x, shift, out=t)
        t.bitwise_and_((1 << (32 - shift)) - 1)
        x.bitwise_xor_(t)
        if mul is not None:
            x.mul_(mul)
    return x


def _fmix32_int(x: int) -> int:
    """`_fmix32_` on a Python int (the seed word), as an unsigned 32-bit value."""
    m = 0xFFFFFFFF
    x &= m
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & m
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & m
    return x ^ (x >> 16)


@lru_cache(maxsize=16)
def _quantiles(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Phi^-1((k + 0.5) / 65536), k = 0..65535, on `device` in `dtype`."""
    p = (torch.arange(_LEVELS, dtype=torch.float64) + 0.5) / _LEVELS
    return torch.special.ndtri(p).to(device=device, dtype=dtype)


def counter_words(seed: int, stream: int, indices: Sequence[torch.Tensor]) -> torch.Tensor:
    """One hashed int32 word per element of the broadcast of `indices` (integer tensors >= 0
    and < 2**31, one device), a pure function of (seed, stream, indices)."""
    if not indices:
        raise ValueError("counter_words needs at least one index tensor")
    dev = indices[0].device
    h = torch.tensor(_i32(_fmix32_int(int(seed) * 0x632BE5AB + int(stream) * 0x85157AF5)),
                     dtype=torch.int32, device=dev)
    *lead, last = indices
    for idx in lead:
        h = _fmix32_(h * _FOLD + (idx.to(torch.int32) + 1))
    g = _fmix32_(last.to(torch.int32) * _SPREAD + _SPREAD_ADD)
    x = torch.bitwise_xor(h, g)
    return _fmix32_(x)


def counter_normal(seed: int, stream: int, indices: Sequence[torch.Tensor],
                   dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal values, one per element of the broadcast of `indices` (integer tensors
    >= 0 and < 2**31, all on one device), a pure function of (seed, stream, indices).

    The result is on the indices' device in `dtype` (float64 quantiles for float64, float32
    otherwise, then cast).
    """
    x = counter_words(seed, stream, indices)
    t = torch.empty_like(x)
    torch.bitwise_right_shift(x, 16, out=t)
    t.bitwise_and_(_LEVELS - 1)
    table = _quantiles(x.device, torch.float64 if dtype == torch.float64 else torch.float32)
    z = table.index_select(0, t.reshape(-1)).view(t.shape)
    return z if z.dtype == dtype else z.to(dtype)
