"""GPU roofline and the CPU measurement of the authors' protocol."""

from __future__ import annotations

import json

import pytest

from reports.bench import BenchConfig, run_bench
from reports.gpu import GPU_KEYS, AttentionWorkload, GpuSpec, roofline


def test_kv_bytes_linear_in_context_and_batch():
    w = AttentionWorkload(batch=2, projections=False)
    b1, _ = w.step_bytes_flops(99)
    b2, _ = w.step_bytes_flops(199)
    new_kv = 2 * 2 * 768 * 2
    assert (b2 - new_kv) == pytest.approx(2 * (b1 - new_kv))
    w4 = AttentionWorkload(batch=4, projections=False)
    assert w4.step_bytes_flops(99)[0] == pytest.approx(2 * b1)


def test_roofline_amortizes_over_batch():
    spec = GpuSpec.named("rtx4090")
    big = roofline(spec, AttentionWorkload(batch=64, tokens=64))
    one = roofline(spec, AttentionWorkload(batch=1, tokens=64))
    assert big["latency_per_token_s"].value < one["latency_per_token_s"].value
    assert big["step_latency_s"].value > one["step_latency_s"].value
    for key in GPU_KEYS:
        s = GpuSpec.named(key)
        assert "published_figures.json" in s.bandwidth.source and s.power.value > 0


def test_bench_on_cpu_writes_json_and_says_energy_not_measured(tmp_path):
    rec = run_bench(BenchConfig(batch=2, tokens=6, warmup_tokens=1, n_heads=2, d_head=8), tmp_path, "cpu")
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data == json.loads(json.dumps(rec))
    for run in ("protocol_batch", "batch1"):
        r = data["results"][run]
        assert r["total_time_s"] > 0 and r["energy_per_token_j"] is None
        assert "not measured" in r["energy_note"]
    assert data["results"]["batch1"]["latency_per_token_s"] == pytest.approx(data["results"]["batch1"]["step_latency_s"])


def test_bench_gpu_command_on_cpu(tmp_path, capsys):
    from gaincell.cli import main

    rc = main(["bench-gpu", "--batch", "2", "--tokens", "4", "--heads", "2", "--head-dim", "8", "--no-batch1",
               "--out", str(tmp_path)])
    assert rc == 0
    out = capsys.readouterr().out
    assert "no GPU on this machine" in out or "cuda" in out
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["config"]["batch"] == 2 and list(data["results"]) == ["protocol_batch"]


def test_power_reading_and_energy_formula(tmp_path, monkeypatch):
    """nvidia-smi's CSV power reading is parsed and sampled; the energy follows the authors' formula."""
    import os
    import time

    from reports.bench import _PowerSampler, energy_per_token_j

    fake = tmp_path / "nvidia-smi"  # prints what `nvidia-smi --query-gpu=power.draw ...` prints
    fake.write_text("#!/bin/sh\necho ' 123.45'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert _PowerSampler.read_w() == pytest.approx(123.45)
    with _PowerSampler(period_s=0.01) as s:
        time.sleep(0.2)
    assert s.samples and s.mean_w() == pytest.approx(123.45)
    assert energy_per_token_j(320.0, 20.0, 1.0, 64, 1024) == pytest.approx(300.0 / 65536)
