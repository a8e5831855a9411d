"""Counter-based Gaussian draws: statistics, independence, determinism, chunking invariance."""

from __future__ import annotations

import torch

from behavioral.rng import counter_normal


def _grid(n0: int, n1: int):
    return torch.arange(n0).view(-1, 1), torch.arange(n1).view(1, -1)


def test_standard_normal_statistics() -> None:
    z = counter_normal(7, 1, _grid(1000, 1000))
    assert z.shape == (1000, 1000) and z.dtype == torch.float32
    assert abs(z.mean().item()) < 0.005
    assert abs(z.std().item() - 1.0) < 0.005
    # tails: P(|z| > 2) = 0.0455 for a normal
    assert abs((z.abs() > 2).float().mean().item() - 0.0455) < 0.002
    assert z.abs().max().item() <= 4.33  # the 16-bit quantile table bounds the tails at 4.33


def test_neighbours_seeds_and_streams_uncorrelated() -> None:
    z = counter_normal(7, 1, _grid(500, 500)).double()
    for a, b in ((z[:, 1:], z[:, :-1]), (z[1:, :], z[:-1, :]), (z[1:, 1:], z[:-1, :-1])):
        assert abs(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()) < 0.01
    for other in (counter_normal(8, 1, _grid(500, 500)), counter_normal(7, 2, _grid(500, 500))):
        r = torch.corrcoef(torch.stack([z.flatten(), other.double().flatten()]))[0, 1].item()
        assert abs(r) < 0.01


def test_pure_function_of_indices_whatever_the_chunking() -> None:
    full = counter_normal(3, 5, _grid(64, 300))
    rows = torch.cat([counter_normal(3, 5, (torch.tensor([[r]]), torch.arange(300).view(1, -1))) for r in range(64)])
    assert torch.equal(full, rows)
    assert torch.equal(counter_normal(3, 5, _grid(64, 300)), full)
    f64 = counter_normal(3, 5, _grid(64, 300), dtype=torch.float64)
    assert f64.dtype == torch.float64 and torch.allclose(f64.float(), full, atol=1e-5)
