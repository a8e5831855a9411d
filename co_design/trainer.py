"""Training loop with crash-safe checkpoints, shared by `train-base` and `finetune`.

AdamW with linear warmup and cosine decay (transformers' schedule), gradient clipping, a JSONL
log and a tqdm progress bar. Every `checkpoint_every` steps the loop writes, atomically, a
folder with the model (`model.safetensors`), the optimizer tensors (`optimizer.safetensors`),
the RNG states (`rng.safetensors`: torch CPU generator and the batch sampler's generator) and
`state.json` (step, optimizer hyper-parameters, scheduler state), then points
`latest.json` at it. `resume=True` restarts from that point; on CPU the continued run is
bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, load_model, save_file, save_model
from tqdm import tqdm
from transformers import get_cosine_schedule_with_warmup

from co_design.data import TokenBatcher
from gaincell.errors import ConfigError
from gaincell.fileio import append_jsonl, read_jsonl, write_json, write_text


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings of one training stage.

    Attributes:
        steps: optimizer steps.
        batch_size: sequences per step.
        lr: peak learning rate of AdamW.
        weight_decay: AdamW weight decay.
        warmup_steps: linear warmup steps before the cosine decay.
        grad_clip: max global gradient norm (0: no clipping).
        checkpoint_every: steps between checkpoints (0: only at the end).
        log_every: steps between JSONL log lines.
        seed: seed of the batch sampler and of torch's generator (dropout).
    """

    steps: int = 1000
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup_steps: int = 50
    grad_clip: float = 1.0
    checkpoint_every: int = 100
    log_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(name, v, "integer >= 1")
        for name in ("warmup_steps", "checkpoint_every", "seed"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ConfigError(name, v, "integer >= 0")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ConfigError("lr", self.lr, "a finite number > 0")
        if self.weight_decay < 0 or self.grad_clip < 0:
            raise ConfigError("weight_decay/grad_clip", (self.weight_decay, self.grad_clip), ">= 0")


def lm_loss(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy (nats) of a (B, T+1) token batch."""
    logits = model(input_ids=batch[:, :-1], use_cache=False).logits
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), batch[:, 1:].reshape(-1))


def make_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW; no weight decay on biases, norms and the per-head scalers (1-D parameters)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.dim() >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95))


class CheckpointStore:
    """Checkpoint folders `<root>/step_XXXXXXX/` and the pointer `<root>/latest.json`."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def latest(self) -> Path | None:
        pointer = self.root / "latest.json"
        if not pointer.is_file():
            return None
        path = self.root / json.loads(pointer.read_text())["folder"]
        return path if (path / "state.json").is_file() else None

    def save(self, step: int, model, optimizer, scheduler, batcher: TokenBatcher, extra: dict) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"step_{step:07d}"
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.root))
        save_model(model, str(tmp / "model.safetensors"))
        opt = optimizer.state_dict()
        tensors = {f"{idx}.{k}": v.contiguous() for idx, st in opt["state"].items() for k, v in st.items()}
        save_file(tensors, str(tmp / "optimizer.safetensors"))
        save_file({"torch_cpu": torch.get_rng_state(), "batcher": batcher.generator.get_state()},
                  str(tmp / "rng.safetensors"))
        write_json(tmp / "state.json", {"step": step, "param_groups": opt["param_groups"],
                                        "scheduler": scheduler.state_dict(), **extra})
        final = self.root / name
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
        write_json(self.root / "latest.json", {"folder": name, "step": step})
        for old in sorted(self.root.glob("step_*"))[:-2]:  # keep the newest two
            shutil.rmtree(old, ignore_errors=True)
        return final

    def load(self, path: Path, model, optimizer, scheduler, batcher: TokenBatcher) -> dict:
        state = json.loads((path / "state.json").read_text())
        load_model(model, str(path / "model.safetensors"))
        tensors = load_file(str(path / "optimizer.safetensors"))
        opt_state: dict = {}
        for key, value in tensors.items():
            idx, name = key.split(".", 1)
            opt_state.setdefault(int(idx), {})[name] = value
        optimizer.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
        scheduler.load_state_dict(state["scheduler"])
        rng = load_file(str(path / "rng.safetensors"))
        torch.set_rng_state(rng["torch_cpu"])
        batcher.generator.set_state(rng["batcher"])
        return state


def train(model: torch.nn.Module, batcher: TokenBatcher, cfg: TrainConfig, out_dir: str | Path,
          stage: str = "train", resume: bool = False, stop_after: int | None = None,
          before_step: Callable[[int], None] | None = None, progress: bool = True) -> dict:
    """Train `model` in place for `cfg.steps` steps; returns {"step", "loss", "seconds"}.

    Checkpoints go to `<out_dir>/checkpoints/<stage>/`, the log to `<out_dir>/train_log.jsonl`.
    `stop_after`: return after this many steps of the run (used to test interruption).
    `before_step(step)`: called before each step (e.g. to draw that step's noise seed).
    """
    out_dir = Path(out_dir)
    store = CheckpointStore(out_dir / "checkpoints" / stage)
    log_path = out_dir / "train_log.jsonl"
    model.train()
    optimizer = make_optimizer(model, cfg)
    scheduler = get_cosine_schedule_with_warmup(optimizer, cfg.warmup_steps, cfg.steps)
    start = 0
    latest = store.latest() if resume else None
    if latest is not None:
        start = store.load(latest, model, optimizer, scheduler, batcher)["step"]
        kept = [r for r in read_jsonl(log_path) if r.get("stage") != stage or r.get("step", 0) <= start]
        write_text(log_path, "".join(json.dumps(r) + "\n" for r in kept))
    else:
        torch.manual_seed(cfg.seed)
        batcher.generator.manual_seed(cfg.seed)
    t0 = time.perf_counter()
    loss_value = float("nan")
    bar = tqdm(total=cfg.steps, initial=start, desc=stage, disable=not progress, dynamic_ncols=True)
    step = start
    while step < cfg.steps:
        if stop_after is not None and step - start >= stop_after:
            break
        if before_step is not None:
            before_step(step)
        batch = batcher.next()
        loss = lm_loss(model, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        scheduler.step()
        step += 1
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise ConfigError("lr", cfg.lr, f"a value that keeps the loss finite (loss={loss_value} at step {step})")
        bar.update(1)
        bar.set_postfix(loss=f"{loss_value:.3f}")
        if step % cfg.log_every == 0 or step == cfg.steps:
            append_jsonl(log_path, {"stage": stage, "step": step, "loss": loss_value,
                                    "lr": scheduler.get_last_lr()[0],
                                    "seconds": round(time.perf_counter() - t0, 3)})
        if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or step == cfg.steps:
            store.save(step, model, optimizer, scheduler, batcher, {"stage": stage, "config": asdict(cfg)})
    bar.close()
    model.eval()
    return {"step": step, "loss": loss_value, "seconds": time.perf_counter() - t0}
