"""Perplexity with sliding (strided) evaluation over a text, over several noise seeds.

`evaluate_model_dir` writes the `eval.json` of docs/INTERFACES.md:
{"model", "attention", "text", "perplexity_mean", "perplexity_std", "seeds", "per_seed", ...,
"noise_emulated", "noise_sources"}. Attention-config overrides (e.g. `c_store_f`, the storage
capacitance the card is re-derived for) are passed through to `co_design.swap.load_model`.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from tqdm import tqdm

from co_design.data import encode, load_tokenizer, read_text, sliding_windows
from co_design.swap import attention_modules, current_config, load_model, set_noise_seed
from gaincell.errors import ConfigError
from gaincell.provenance import provenance, sha256_file


@torch.no_grad()
def nll_sum(model: torch.nn.Module, ids: torch.Tensor, context: int, stride: int,
            batch_size: int = 8, progress: bool = False) -> tuple[float, int]:
    """Summed next-token negative log-likelihood (nats) of `ids` and the number of targets.

    Windows of `context` tokens advance by `stride`; each scores only its new targets.
    """
    model.eval()
    windows = sliding_windows(int(ids.numel()), context, stride)
    total, count = 0.0, 0
    groups: dict[int, list[tuple[int, int, int]]] = {}
    for w in windows:  # batch windows of equal length together
        groups.setdefault(w[1] - w[0], []).append(w)
    bar = tqdm(total=len(windows), desc="eval", disable=not progress, leave=False)
    for length, group in groups.items():
        for i in range(0, len(group), batch_size):
            chunk = group[i:i + batch_size]
            batch = torch.stack([ids[b:e] for b, e, _ in chunk])
            logits = model(input_ids=batch, use_cache=False).logits.float()
            logp = F.log_softmax(logits[:, :-1], dim=-1)
            tok = logp.gather(-1, batch[:, 1:, None]).squeeze(-1)  # (n, length - 1)
            for row, (_, _, n_new) in enumerate(chunk):
                total -= float(tok[row, length - 1 - n_new:].sum())
                count += n_new
            bar.update(len(chunk))
    bar.close()
    return total, count


def perplexity(model: torch.nn.Module, ids: torch.Tensor, context: int | None = None,
               stride: int | None = None, batch_size: int = 8, progress: bool = False) -> float:
    """exp(mean NLL) of `ids` with sliding evaluation (default context: the model's, stride half)."""
    context = context or model.config.n_positions
    stride = stride or max(1, context // 2)
    total, count = nll_sum(model, ids, context, stride, batch_size, progress)
    return math.exp(total / count)


def perplexity_over_seeds(model: torch.nn.Module, ids: torch.Tensor, seeds: Sequence[int],
                          context: int | None = None, stride: int | None = None,
                          batch_size: int = 8, progress: bool = False) -> dict[str, Any]:
    """Perplexity per noise seed, with mean and (sample) standard deviation."""
    if len(seeds) < 1:
        raise ConfigError("seeds", list(seeds), "at least one seed")
    original = current_config(model)
    per_seed = []
    for seed in seeds:
        set_noise_seed(model, int(seed))
        per_seed.append(perplexity(model, ids, context, stride, batch_size, progress))
    if original is not None:
        set_noise_seed(model, original.noise_seed)
    std = statistics.stdev(per_seed) if len(per_seed) > 1 else 0.0
    return {"perplexity_mean": statistics.fmean(per_seed), "perplexity_std": std,
            "seeds": [int(s) for s in seeds], "per_seed": per_seed}


def evaluate_model_dir(model_dir: str | Path, mode: str | None, text_path: str | Path,
                       seeds: Sequence[int] = (0, 1, 2, 3, 4), max_tokens: int | None = None,
                       stride: int | None = None, batch_size: int = 8, device: str = "cpu",
                       progress: bool = False, **overrides: Any) -> dict[str, Any]:
    """Load a model directory in `mode` and measure perplexity on a text file (eval.json dict)."""
    model = load_model(model_dir, mode=mode, device=device, **overrides)
    tokenizer = load_tokenizer(model_dir)
    ids = encode(tokenizer, read_text(text_path))
    if max_tokens is not None:
        ids = ids[:max_tokens]
    result = perplexity_over_seeds(model, ids.to(device), seeds, stride=stride,
                                   batch_size=batch_size, progress=progress)
    cfg = current_config(model)
    runtime = attention_modules(model)[0].__dict__["gaincell_runtime"]
    sources = list(getattr(runtime, "noise_sources", ()))
    return {"model": str(model_dir), "attention": cfg.mode, "text": str(text_path), **result,
            "n_tokens": int(ids.numel()), "attention_config": cfg.to_dict(),
            "noise_emulated": bool(sources), "noise_sources": sources,
            "provenance": provenance(text_sha256=sha256_file(text_path))}
