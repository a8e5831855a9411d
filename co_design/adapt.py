"""`gaincell adapt`: the paper's statistics-matching initialization of the per-head scalers.

(Extension, not in the paper: from a digital model, whose q, k, v have no device range yet, the
targets are the device ranges themselves; see `device_range_targets`.)

No gradients. Targets: per layer, head and scaler (q, k, v, out), the mean and std of the
scaler output (after a*x+b, before clamp/quantize) in the reference model (EMA 0.1 over
calibration batches). Then, with the same weights in the target mode, on one fixed batch:
    if |std - target_std| > tol:   a <- alpha * (a * target_std / std) + (1 - alpha) * a
    if |mean - target_mean| > tol: b <- alpha * (b + target_mean - mean) + (1 - alpha) * b
with alpha falling linearly from `alpha_start` to `alpha_end` over `alpha_iters` iterations,
then `alpha_end`; stop when every gap is below `tol` or after `max_iters` iterations. The loop
runs over every `HeadScalers` of the model and every signal it scales, whatever the mode.

aCAM temperature (extension): the aCAM attention is a softmax of log m / tau, so its sharpness is
the within-row spread of those logits (`co_design.logit_stats`, recorded as `SCORE`). When the
reference mode has softmax logits (digital_swa: scaling * q.k; acam: log m / tau), that spread
is a target too, matched by the temperature: the logits scale as 1 / tau, so
    if |spread - target| > tol:    tau <- alpha * (tau * spread / target) + (1 - alpha) * tau
(the logits' mean does not matter to a softmax and is not matched). The gain-cell modes have no
softmax (HardSigmoid charge-to-pulse), so from a linear_hw / gaincell reference the temperature
keeps its value (initialized to 1, the card's characterized sense time, unless learned).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import torch

from co_design.config import AttentionConfig
from co_design.scalers import SCORE
from co_design.swap import attention_modules, current_config, install_attention, recording
from co_design.trainer import lm_loss
from gaincell.errors import ConfigError

Stats = dict[tuple[int, str], tuple[torch.Tensor, torch.Tensor]]
"""(layer, signal) -> (per-head mean, per-head std)."""


@dataclass(frozen=True)
class AdaptConfig:
    """Settings of the adaptation loop (dimensionless except where noted).

    Attributes:
        max_iters: iteration cap.
        tol: gap below which a statistic counts as matched (units of the scaled signal).
        alpha_start, alpha_end: step size at the first iteration and after `alpha_iters`.
        alpha_iters: iterations over which alpha falls linearly.
        ema: weight of each new calibration batch in the target statistics.
        calib_batches: batches used to record the targets.
        batch_size: sequences per batch (calibration and the fixed adaptation batch).
    """

    max_iters: int = 100
    tol: float = 1e-4
    alpha_start: float = 1.0
    alpha_end: float = 0.1
    alpha_iters: int = 50
    ema: float = 0.1
    calib_batches: int = 10
    batch_size: int = 8

    def __post_init__(self) -> None:
        for name in ("max_iters", "alpha_iters", "calib_batches", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(name, v, "integer >= 1")
        if not self.tol > 0:
            raise ConfigError("tol", self.tol, "> 0")
        for name in ("alpha_start", "alpha_end", "ema"):
            v = getattr(self, name)
            if not 0.0 < v <= 1.0:
                raise ConfigError(name, v, "0 < value <= 1")

    def alpha(self, iteration: int) -> float:
        """Step size at 0-based `iteration`."""
        if iteration >= self.alpha_iters:
            return self.alpha_end
        frac = iteration / max(self.alpha_iters - 1, 1)
        return self.alpha_start + (self.alpha_end - self.alpha_start) * frac


def _collect(scalers) -> Stats:
    return {(layer, name): stat for layer, s in enumerate(scalers) for name, stat in s.stats.items()}


@torch.no_grad()
def record_statistics(model: torch.nn.Module, batches: Iterable[torch.Tensor],
                      momentum: float | None = 0.1) -> Stats:
    """Scaler output statistics of `model` over `batches` (EMA weight `momentum`)."""
    model.eval()
    with recording(model, momentum) as scalers:
        for batch in batches:
            model(input_ids=batch[:, :-1], use_cache=False)
        stats = _collect(scalers)
    if not stats:
        raise ConfigError("model", "no scaler statistics", "a model with gaincell attention installed")
    return stats


def statistics_gap(stats: Stats, targets: Stats) -> dict[str, float]:
    """Largest |std - target| and |mean - target| over all layers, heads and signals."""
    d_std = max(float((stats[k][1] - targets[k][1]).abs().max()) for k in targets)
    d_mean = max(float((stats[k][0] - targets[k][0]).abs().max()) for k in targets)
    return {"max_std_gap": d_std, "max_mean_gap": d_mean}


@torch.no_grad()
def adapt_scalers(model: torch.nn.Module, targets: Stats, batch: torch.Tensor, cfg: AdaptConfig,
                  log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Run the matching loop on `batch`; returns one record per iteration (and the final state).

    Each record: iteration, alpha, perplexity of the batch, largest std and mean gaps.
    """
    model.eval()
    history: list[dict[str, Any]] = []
    for it in range(cfg.max_iters + 1):
        with recording(model, None) as scalers:
            loss = float(lm_loss(model, batch))
            stats = _collect(scalers)
        missing = sorted(set(targets) - set(stats))
        if missing:
            raise ConfigError("targets", missing[0], "statistics recorded for every layer and signal")
        gap = statistics_gap(stats, targets)
        done = gap["max_std_gap"] <= cfg.tol and gap["max_mean_gap"] <= cfg.tol
        alpha = cfg.alpha(it)
        record = {"iteration": it, "alpha": alpha, "perplexity": math.exp(min(loss, 700.0)),
                  "loss": loss, **gap, "converged": done}
        history.append(record)
        if log is not None:
            log(record)
        if done or it == cfg.max_iters:
            break
        for (layer, name), (t_mean, t_std) in targets.items():
            s = scalers[layer]
            mean, std = stats[(layer, name)]
            if name == SCORE:  # logit spread ~ 1 / tau
                tau = s.temperature()
                fix = ((std - t_std).abs() > cfg.tol) & (std > 0) & (t_std > 0)
                ratio = std / torch.where(t_std > 0, t_std, torch.ones_like(t_std))
                s.set_temperature(torch.where(fix, alpha * tau * ratio + (1 - alpha) * tau, tau))
                continue
            a, b = s.a(name), s.b(name)
            # a signal with no spread at all (e.g. every phi clipped to 0) cannot be rescaled
            fix_std = ((std - t_std).abs() > cfg.tol) & (std > 0)
            ratio = t_std / torch.where(std > 0, std, torch.ones_like(std))
            a.copy_(torch.where(fix_std, alpha * a * ratio + (1 - alpha) * a, a))
            fix_mean = (mean - t_mean).abs() > cfg.tol
            b.copy_(torch.where(fix_mean, alpha * (b + t_mean - mean) + (1 - alpha) * b, b))
    return history


def device_range_targets(digital: Stats, card, mode: str) -> Stats:
    """Targets for a digital -> analog first mapping (no analog reference exists yet).

    q, k, v: centred in their device range with std = range / 4 (about 95 % inside the range):
    PWM fraction for q (search voltage for the aCAM), stored volts for k and v. The output
    keeps the digital attention output's statistics, so the next layer sees what it expects.
    """
    q_range = card.quant.kv_range_v if mode == "acam" else card.quant.q_range
    ranges = {"q": q_range, "k": card.quant.kv_range_v, "v": card.quant.kv_range_v}
    out: Stats = {}
    for (layer, name), (mean, std) in digital.items():
        if name in ranges:
            lo, hi = ranges[name]
            out[(layer, name)] = (torch.full_like(mean, 0.5 * (lo + hi)), torch.full_like(std, 0.25 * (hi - lo)))
        else:
            out[(layer, name)] = (mean, std)
    return out


def adapt_model(model: torch.nn.Module, target: AttentionConfig, calib: list[torch.Tensor],
                batch: torch.Tensor, cfg: AdaptConfig,
                log: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Record targets in the model's current (reference) mode, switch to `target`, adapt.

    Reference in an analog mode (e.g. linear_hw -> gaincell): the paper's targets. For the
    aCAM from a gain-cell reference the query is a search voltage compared with the stored keys,
    so its targets are the key's statistics (from an aCAM reference, its own). Reference digital (digital_swa -> linear_hw): `device_range_targets`.
    Target acam: the temperature matches the reference's logit spread where it has one
    (digital_swa, acam; see the module doc).
    """
    reference = current_config(model)
    targets = record_statistics(model, calib, cfg.ema)
    if target.mode != "acam":  # only the aCAM has a temperature to match the logit spread with
        targets = {key: st for key, st in targets.items() if key[1] != SCORE}
    install_attention(model, target)
    if reference is not None and not reference.is_analog:
        card = attention_modules(model)[0].__dict__["gaincell_runtime"].card
        targets = device_range_targets(targets, card, target.mode)
    elif target.mode == "acam" and (reference is None or reference.mode != "acam"):
        for layer, name in list(targets):
            if name == "k":
                targets[(layer, "q")] = targets[(layer, "k")]
    return adapt_scalers(model, targets, batch, cfg, log)

