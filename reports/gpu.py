"""Roofline estimate of digital attention per generated token on named GPUs.

For one GPT-2 attention layer generating tokens one by one with a KV cache, each step reads the
whole cache (2 * n_heads * t * d_head elements per sequence), writes the new K and V, and reads
the projection weights once per step (shared by the batch). Step time is the larger of
bytes / bandwidth and FLOPs / peak throughput: a lower bound on what any implementation reaches.
Energy is board power x time, an upper bound on the dynamic energy (the authors subtract idle).
Specs (bandwidth, peak, board power) come from the cited table.
"""

from __future__ import annotations

from dataclasses import dataclass

from gaincell.errors import ConfigError
from reports.figures import Sourced, published

GPU_KEYS = ("rtx4090", "jetson_nano", "h100")
GPU_NAMES = {"rtx4090": "RTX 4090", "jetson_nano": "Jetson Nano", "h100": "H100 SXM"}


@dataclass(frozen=True)
class GpuSpec:
    """Published specs of one GPU: memory bandwidth (B/s), peak FP16 throughput (FLOP/s), power (W)."""

    key: str
    name: str
    bandwidth: Sourced
    peak: Sourced
    power: Sourced

    @classmethod
    def named(cls, key: str) -> "GpuSpec":
        if key not in GPU_KEYS:
            raise ConfigError("gpu", key, " | ".join(GPU_KEYS))
        return cls(key, GPU_NAMES[key], published(f"{key}.memory_bandwidth_b_per_s"),
                   published(f"{key}.peak_fp16_flop_per_s"), published(f"{key}.board_power_w"))


@dataclass(frozen=True)
class AttentionWorkload:
    """One attention layer generating `tokens` tokens for `batch` sequences.

    Attributes:
        n_heads, d_head: head count and head dimension (elements).
        batch: sequences generated together.
        tokens: tokens generated one by one (the KV cache grows to this length, or to `window`).
        window: tokens kept in the cache (None: all, as in the authors' GPU baseline).
        bytes_per_element: 2 for FP16/BF16 caches and weights.
        projections: include the Q/K/V and output projections (the authors' layer does).
    """

    n_heads: int = 12
    d_head: int = 64
    batch: int = 64
    tokens: int = 1024
    window: int | None = None
    bytes_per_element: int = 2
    projections: bool = True

    def __post_init__(self) -> None:
        for n in ("n_heads", "d_head", "batch", "tokens", "bytes_per_element"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(n, v, "integer >= 1")

    @property
    def d_model(self) -> int:
        return self.n_heads * self.d_head

    def step_bytes_flops(self, position: int) -> tuple[float, float]:
        """Bytes moved and FLOPs of the generation step at `position` (0-based), whole batch."""
        n = position + 1 if self.window is None else min(position + 1, self.window)
        b, h, dh, dm, e = self.batch, self.n_heads, self.d_head, self.d_model, self.bytes_per_element
        bytes_ = b * 2 * h * n * dh * e + b * 2 * dm * e  # read the cache, write the new K and V
        flops = b * 4.0 * h * n * dh  # Q.K and S.V, 2 FLOPs per multiply-add
        if self.projections:
            bytes_ += 4 * dm * dm * e
            flops += b * 8.0 * dm * dm
        return float(bytes_), flops


def roofline(spec: GpuSpec, work: AttentionWorkload) -> dict[str, Sourced]:
    """Per-token latency (s) and energy (J) lower/upper bounds of `work` on `spec`.

    `latency_per_token_s` is batch-amortized (total time / (batch x tokens), the authors' metric);
    `step_latency_s` is the mean time of one generation step (what one user waits per token).
    """
    total_t = 0.0
    total_bytes = 0.0
    total_flops = 0.0
    for t in range(work.tokens):
        by, fl = work.step_bytes_flops(t)
        total_bytes += by
        total_flops += fl
        total_t += max(by / spec.bandwidth.value, fl / spec.peak.value)
    per_tok = total_t / (work.batch * work.tokens)
    what = (f"roofline over {work.tokens} steps, batch {work.batch}, {work.n_heads} heads x {work.d_head}, "
            f"{work.bytes_per_element} B/element, projections={work.projections}")
    srcs = f"{spec.bandwidth.source}; {spec.peak.source}"
    return {
        "step_latency_s": Sourced(total_t / work.tokens, "s", f"derived: {what} | from: {srcs}"),
        "latency_per_token_s": Sourced(per_tok, "s", f"derived: {what} / (batch x tokens) | from: {srcs}"),
        "energy_per_token_j": Sourced(per_tok * spec.power.value, "J",
                                      f"derived: board power x latency_per_token (upper bound) | from: "
                                      f"{spec.power.source}; {srcs}"),
        "bytes_per_token": Sourced(total_bytes / (work.batch * work.tokens), "B", f"derived: {what}"),
        "flops_per_token": Sourced(total_flops / (work.batch * work.tokens), "FLOP", f"derived: {what}"),
    }


def step_cost(spec: GpuSpec, work: AttentionWorkload, position: int) -> tuple[float, float]:
    """Roofline time (s) and board-power energy (J) per sequence of the step at `position`."""
    by, fl = work.step_bytes_flops(position)
    t = max(by / spec.bandwidth.value, fl / spec.peak.value)
    return t, t * spec.power.value / work.batch
