"""`gaincell bench-gpu`: time digital attention with a KV cache, the authors' protocol.

One GPT-2 attention layer (QKV projection, torch SDPA, output projection), `n_heads` x `d_head`,
`batch` sequences, `tokens` tokens generated one by one with a preallocated KV cache. Energy per
token = (mean board power - idle power) x time / (batch x tokens), power read from nvidia-smi
while the benchmark runs; on a machine without a GPU the CPU is timed and the energy is recorded
as not measured (no power meter), saying so.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from gaincell.errors import ConfigError
from gaincell.fileio import write_json
from gaincell.provenance import provenance

SCHEMA = "gaincell.bench_attention/1"


@dataclass(frozen=True)
class BenchConfig:
    """Benchmark settings (defaults: the authors' protocol).

    Attributes:
        n_heads, d_head: attention shape (GPT-2: 12 x 64).
        batch: sequences generated together (authors: 64).
        tokens: tokens generated one by one (authors: 1024).
        dtype: 'float32' | 'float16' | 'bfloat16'.
        warmup_tokens: untimed steps before the timed run.
        idle_s: seconds of idle power sampling before the run (GPU only).
    """

    n_heads: int = 12
    d_head: int = 64
    batch: int = 64
    tokens: int = 1024
    dtype: str = "float32"
    warmup_tokens: int = 8
    idle_s: float = 2.0

    def __post_init__(self) -> None:
        for n in ("n_heads", "d_head", "batch", "tokens"):
            v = getattr(self, n)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(n, v, "integer >= 1")
        if self.dtype not in ("float32", "float16", "bfloat16"):
            raise ConfigError("dtype", self.dtype, "float32 | float16 | bfloat16")
        if self.warmup_tokens < 0 or self.idle_s < 0:
            raise ConfigError("warmup_tokens/idle_s", (self.warmup_tokens, self.idle_s), ">= 0")


class _PowerSampler:
    """Samples board power (W) from nvidia-smi in a thread."""

    def __init__(self, period_s: float = 0.05):
        self.period_s = period_s
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def read_w() -> float | None:
        exe = shutil.which("nvidia-smi")
        if exe is None:
            return None
        try:
            out = subprocess.run([exe, "--query-gpu=power.draw", "--format=csv,noheader,nounits", "-i", "0"],
                                 capture_output=True, text=True, timeout=5)
            return float(out.stdout.strip().splitlines()[0])
        except (OSError, ValueError, IndexError, subprocess.TimeoutExpired):
            return None

    def _run(self) -> None:
        while not self._stop.is_set():
            w = self.read_w()
            if w is not None:
                self.samples.append(w)
            self._stop.wait(self.period_s)

    def __enter__(self) -> "_PowerSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    def mean_w(self) -> float | None:
        return sum(self.samples) / len(self.samples) if self.samples else None


def energy_per_token_j(busy_w: float, idle_w: float, total_time_s: float, batch: int, tokens: int) -> float:
    """The authors' metric: (board power - idle power) x time / (batch x tokens), joules."""
    return (busy_w - idle_w) * total_time_s / (batch * tokens)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_attention(cfg: BenchConfig, device: str = "cpu", seed: int = 0) -> dict[str, float]:
    """Run the protocol once; return total time (s) and per-token figures (s)."""
    dev = torch.device(device)
    dtype = getattr(torch, cfg.dtype)
    g = torch.Generator().manual_seed(seed)
    dm, h, dh, b = cfg.n_heads * cfg.d_head, cfg.n_heads, cfg.d_head, cfg.batch
    c_attn = torch.nn.Linear(dm, 3 * dm).to(dev, dtype)
    c_proj = torch.nn.Linear(dm, dm).to(dev, dtype)
    k_cache = torch.zeros(b, h, cfg.tokens, dh, device=dev, dtype=dtype)
    v_cache = torch.zeros_like(k_cache)
    x = torch.randn(b, 1, dm, generator=g).to(dev, dtype)

    def step(t: int, x: torch.Tensor) -> torch.Tensor:
        q, k, v = c_attn(x).split(dm, dim=-1)
        q = q.view(b, 1, h, dh).transpose(1, 2)
        k_cache[:, :, t] = k.view(b, h, dh)
        v_cache[:, :, t] = v.view(b, h, dh)
        y = F.scaled_dot_product_attention(q, k_cache[:, :, : t + 1], v_cache[:, :, : t + 1])
        return c_proj(y.transpose(1, 2).reshape(b, 1, dm))

    with torch.inference_mode():
        for t in range(min(cfg.warmup_tokens, cfg.tokens)):  # warm-up, overwritten below
            step(t, x)
        _sync(dev)
        t0 = time.perf_counter()
        for t in range(cfg.tokens):
            x = step(t, x)
        _sync(dev)
        total = time.perf_counter() - t0
    return {"total_time_s": total, "step_latency_s": total / cfg.tokens,
            "latency_per_token_s": total / (cfg.batch * cfg.tokens)}


def measure(cfg: BenchConfig, device: str = "cpu", seed: int = 0) -> dict[str, Any]:
    """Time the protocol on `device`, with power when a GPU and nvidia-smi are available."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device", device, "cpu (no CUDA GPU on this machine)")
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        idle = []
        t_end = time.perf_counter() + cfg.idle_s
        while time.perf_counter() < t_end:
            w = _PowerSampler.read_w()
            if w is not None:
                idle.append(w)
            time.sleep(0.05)
        with _PowerSampler() as sampler:
            timing = time_attention(cfg, device, seed)
        busy = sampler.mean_w()
        idle_w = sum(idle) / len(idle) if idle else None
        if busy is not None and idle_w is not None:
            energy = energy_per_token_j(busy, idle_w, timing["total_time_s"], cfg.batch, cfg.tokens)
            note = "(mean board power - idle) x time / (batch x tokens), nvidia-smi power.draw"
        else:
            energy, note = None, "not measured: nvidia-smi gave no power reading"
        power = {"busy_w": busy, "idle_w": idle_w, "samples": len(sampler.samples)}
    else:
        import platform

        name = platform.processor() or platform.machine()
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        timing = time_attention(cfg, device, seed)
        energy, power = None, None
        note = ("not measured: no GPU on this machine and no readable CPU power meter; "
                "the report uses the roofline and the published GPU measurements instead")
    return {"device": device, "device_name": name, "threads": torch.get_num_threads(), **timing,
            "energy_per_token_j": energy, "energy_note": note, "power": power}


def run_bench(cfg: BenchConfig, out: Path, device: str = "cpu", seed: int = 0,
              batch1: bool = True) -> dict[str, Any]:
    """Measure the protocol (and batch 1 with the same settings) and write `bench.json`."""
    record: dict[str, Any] = {
        "schema": SCHEMA,
        "protocol": "authors' GPU protocol (Leroux 2025): one GPT-2 attention layer, torch SDPA, "
                    "KV cache, tokens generated one by one",
        "config": asdict(cfg),
        "results": {"protocol_batch": measure(cfg, device, seed)},
        "provenance": provenance(seed=seed, torch_device=device),
    }
    if batch1:
        cfg1 = BenchConfig(**{**asdict(cfg), "batch": 1})
        record["results"]["batch1"] = measure(cfg1, device, seed)
    out = Path(out)
    write_json(out / "bench.json", record)
    return record
