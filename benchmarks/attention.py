"""Benchmark: gain-cell attention (fused and naive) against torch SDPA and a digital
sliding-window attention, time and peak memory, side by side in one run.

Time: B=4, H=12, T=1024, D=64, W=1024 (the paper's window), float32, on this machine's CPU;
each case is the best of `--repeats` runs after one warm-up, cases interleaved so load changes
hit all of them alike. Memory: T=4096, W=1024, forward only, each case in a fresh subprocess;
peak = the process's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs
just before the call, inputs already built), reported both as the total and as the increase
over the RSS just before the call (the call's own working memory).
Threads: `--threads N` (default: torch's default). On a shared, oversubscribed machine OpenMP
threads spin-wait on descheduled peers and small ops slow down by orders of magnitude, which
distorts every ratio; `--threads 1` gives stable figures there.

`fused_noisy` is the fused core with every non-ideality the card characterizes switched on
(cell and converter mismatch, per-read noise, kT/C write noise), as the networks run it.

Usage: python benchmarks/attention.py [--quick]
The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from behavioral.attention import AnalogSettings, gaincell_attention  # noqa: E402
from behavioral.cards import default_card  # noqa: E402


def swa_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, window: int, chunk: int = 128) -> torch.Tensor:
    """Digital sliding-window softmax attention: query chunks against their window's keys (SDPA
    with a band mask per chunk), O(T * W) time and memory."""
    T = q.shape[2]
    outs = []
    for a in range(0, T, chunk):
        b = min(T, a + chunk)
        lo = max(0, a - window + 1)
        i = torch.arange(a, b)[:, None]
        j = torch.arange(lo, b)[None, :]
        mask = (j <= i) & (j > i - window)
        outs.append(F.scaled_dot_product_attention(q[:, :, a:b], k[:, :, lo:b], v[:, :, lo:b], attn_mask=mask))
    return torch.cat(outs, dim=2)


def make_inputs(B: int, H: int, T: int, D: int, seed: int = 0, requires_grad: bool = False):
    """Device-domain inputs: q in [0, 1], k and v in [0, 0.9] V (the same tensors feed every case)."""
    g = torch.Generator().manual_seed(seed)
    q = torch.rand(B, H, T, D, generator=g)
    k = torch.rand(B, H, T, D, generator=g) * 0.9
    v = torch.rand(B, H, T, D, generator=g) * 0.9
    return [t.requires_grad_(requires_grad) for t in (q, k, v)]


def cases(window: int):
    card = default_card()
    st = AnalogSettings(window=window)
    # every non-ideality the card characterizes: cell and converter mismatch, read and kT/C noise
    st_noisy = AnalogSettings(window=window, mismatch_seed=1, read_noise_seed=2, write_noise_seed=3)
    return {
        "sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "swa": lambda q, k, v: swa_attention(q, k, v, window),
        "fused": lambda q, k, v: gaincell_attention(q, k, v, card, st, impl="fused"),
        "naive": lambda q, k, v: gaincell_attention(q, k, v, card, st, impl="naive"),
        "fused_noisy": lambda q, k, v: gaincell_attention(q, k, v, card, st_noisy, impl="fused"),
    }


def time_cases(names, shape, window, repeats, backward):
    fns = cases(window)
    q, k, v = make_inputs(*shape, requires_grad=backward)
    best = {n: float("inf") for n in names}

    def run(n):
        if backward:
            for t in (q, k, v):
                t.grad = None
            fns[n](q, k, v).sum().backward()
        else:
            with torch.no_grad():
                fns[n](q, k, v)

    for n in names:  # warm-up
        run(n)
    for _ in range(repeats):
        for n in names:
            t0 = time.perf_counter()
            run(n)
            best[n] = min(best[n], time.perf_counter() - t0)
    return best


def _child(name: str, shape: list[int], window: int) -> None:
    """Subprocess body: build inputs, run one forward, print RSS figures (bytes) as JSON."""
    fn = cases(window)[name]
    q, k, v = make_inputs(*shape)
    with torch.no_grad():
        fn(*make_inputs(1, 1, 256, shape[3]))  # warm up lazy initializations on a tiny input
        before = _status_bytes("VmRSS")
        with open("/proc/self/clear_refs", "w") as fh:  # reset the high-water mark to the current RSS
            fh.write("5")
        out = fn(q, k, v)
        peak = _status_bytes("VmHWM")
    print(json.dumps({"rss_before": before, "peak": peak, "out_bytes": out.numel() * out.element_size()}))


def _status_bytes(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_case(name: str, shape, window: int) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--shape", *map(str, shape), "--window", str(window),
           "--threads", str(torch.get_num_threads())]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=str(ROOT))
    if res.returncode != 0:
        raise RuntimeError(f"memory case {name} failed: {res.stderr[-2000:]}")
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    rec["delta"] = rec["peak"] - rec["rss_before"]
    return rec


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller shapes (smoke run)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--naive-t", type=int, default=None,
                    help="sequence length for the naive oracle's timing (default: same as the others)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--shape", type=int, nargs=4, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--window", type=int, default=1024, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.child:
        _child(args.child, args.shape, args.window)
        return 0

    if args.quick:
        tshape, window, mshape, mwindow = (1, 4, 256, 64), 256, (1, 4, 1024, 64), 256
    else:
        tshape, window, mshape, mwindow = (4, 12, 1024, 64), 1024, (4, 12, 4096, 64), 1024
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU")
    print(f"time: B,H,T,D = {tshape}, window {window}, best of {args.repeats}")
    timed = ["sdpa", "swa", "fused", "fused_noisy"]
    fwd = time_cases(timed, tshape, window, args.repeats, backward=False)
    fb = time_cases(timed, tshape, window, args.repeats, backward=True)
    # the naive oracle is slow: time it once, next to one SDPA run of the same shape
    nshape = (*tshape[:2], args.naive_t or tshape[2], tshape[3])
    naive = time_cases(["sdpa", "naive"], nshape, window, 1, backward=False)
    print(f"{'case':<12}{'fwd s':>10}{'fwd x SDPA':>12}{'fwd+bwd s':>12}{'fwd+bwd x SDPA':>16}")
    for n in timed:
        print(f"{n:<12}{fwd[n]:>10.4f}{fwd[n] / fwd['sdpa']:>12.2f}{fb[n]:>12.4f}{fb[n] / fb['sdpa']:>16.2f}")
    print(f"{'naive':<12}{naive['naive']:>10.4f}{naive['naive'] / naive['sdpa']:>12.2f}"
          f"   (T={nshape[2]}, SDPA {naive['sdpa']:.4f} s)")

    print(f"memory: forward, B,H,T,D = {mshape}, window {mwindow}, one subprocess per case")
    mem = {n: memory_case(n, mshape, mwindow) for n in ("swa", "sdpa", "fused")}
    mib = 1 / 2**20
    print(f"{'case':<8}{'peak MiB':>10}{'call delta MiB':>16}")
    for n, r in mem.items():
        print(f"{n:<8}{r['peak'] * mib:>10.1f}{r['delta'] * mib:>16.1f}")
    out = {
        "fwd_ratio_vs_sdpa": fwd["fused"] / fwd["sdpa"],
        "fwdbwd_ratio_vs_sdpa": fb["fused"] / fb["sdpa"],
        "mem_ratio_vs_swa": mem["fused"]["peak"] / mem["swa"]["peak"],
        "mem_delta_ratio_vs_swa": mem["fused"]["delta"] / mem["swa"]["delta"],
        "naive_fwd_ratio_vs_sdpa": naive["naive"] / naive["sdpa"],
        "noisy_fwd_ratio_vs_sdpa": fwd["fused_noisy"] / fwd["sdpa"],
        "noisy_fwdbwd_ratio_vs_sdpa": fb["fused_noisy"] / fb["sdpa"],
        "naive_T": nshape[2],
        "swa_fwd_ratio_vs_sdpa": fwd["swa"] / fwd["sdpa"],
        "fwd_s": fwd,
        "fwdbwd_s": fb,
        "time_shape": list(tshape),
        "window": window,
        "mem_shape": list(mshape),
        "mem_window": mwindow,
        "mem_peak_bytes": {n: r["peak"] for n, r in mem.items()},
        "mem_delta_bytes": {n: r["delta"] for n, r in mem.items()},
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
