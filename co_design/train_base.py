"""`gaincell train-base`: a small digital sliding-window GPT-2 trained from scratch on a text.

No hub: the tokenizer is a byte-level BPE trained by `tokenizers` on the training split, the
model a `GPT2Config` of the chosen size with `digital_swa` attention (the baseline P0). The
output folder is a `save_pretrained` model directory (with tokenizer, `train_log.jsonl`,
`checkpoints/` and `result.json`), loadable with `co_design.load_model` or `from_pretrained`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from co_design.config import AttentionConfig
from co_design.data import (TokenBatcher, encode, load_tokenizer, read_text, split_by_position,
                            train_tokenizer)
from co_design.evaluate import perplexity
from co_design.swap import install_attention, new_gpt2, save_model
from co_design.trainer import TrainConfig, train
from gaincell.errors import ConfigError
from gaincell.fileio import write_json
from gaincell.provenance import provenance, sha256_file


@dataclass(frozen=True)
class BaseModelConfig:
    """Shape of the base model and its data.

    Attributes:
        n_layer, n_head, n_embd: GPT-2 depth, heads, width.
        context: context length in tokens (`n_positions`).
        window: sliding attention window W in tokens.
        vocab_size: BPE vocabulary size.
        dropout: dropout probability while training.
        train_fraction: leading fraction of the text used for training (the rest: validation).
        eval_tokens: validation tokens scored at the end (None: the whole split).
    """

    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    context: int = 256
    window: int = 128
    vocab_size: int = 2048
    dropout: float = 0.1
    train_fraction: float = 0.9
    eval_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("n_layer", "n_head", "n_embd", "context", "window", "vocab_size"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ConfigError(name, v, "integer >= 1")
        if self.n_embd % self.n_head:
            raise ConfigError("n_embd", self.n_embd, f"a multiple of n_head={self.n_head}")
        if self.window > self.context:
            raise ConfigError("window", self.window, f"<= context={self.context}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError("dropout", self.dropout, "0 <= dropout < 1")


def prepare_data(text_path: str | Path, out_dir: Path, cfg: BaseModelConfig, reuse: bool):
    """Tokenizer (trained on the training split, or reused from `out_dir`) and token ids."""
    train_text, val_text = split_by_position(read_text(text_path), cfg.train_fraction)
    if reuse and (out_dir / "tokenizer.json").is_file():
        tokenizer = load_tokenizer(out_dir)
    else:
        tokenizer = train_tokenizer(train_text, cfg.vocab_size)
        tokenizer.save_pretrained(str(out_dir))
    return tokenizer, encode(tokenizer, train_text), encode(tokenizer, val_text)


def train_base(text_path: str | Path, out_dir: str | Path, model_cfg: BaseModelConfig,
               train_cfg: TrainConfig, resume: bool = False, progress: bool = True) -> dict[str, Any]:
    """Train the base model; returns (and writes to `result.json`) its validation perplexity."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer, train_ids, val_ids = prepare_data(text_path, out, model_cfg, reuse=resume)
    torch.manual_seed(train_cfg.seed)  # the initial weights depend on --seed only
    model = new_gpt2(model_cfg.n_layer, model_cfg.n_head, model_cfg.n_embd, model_cfg.context,
                     len(tokenizer), eos_token_id=tokenizer.eos_token_id, dropout=model_cfg.dropout)
    install_attention(model, AttentionConfig(mode="digital_swa", window=model_cfg.window))
    batcher = TokenBatcher(train_ids, model_cfg.context, train_cfg.batch_size, seed=train_cfg.seed)
    summary = train(model, batcher, train_cfg, out, stage="train-base", resume=resume, progress=progress)
    save_model(model, out, tokenizer)
    ids = val_ids if model_cfg.eval_tokens is None else val_ids[:model_cfg.eval_tokens]
    val_ppl = perplexity(model, ids)
    result = {"schema": "gaincell.train_base/1", "model": str(out), "val_perplexity": val_ppl,
              "val_tokens": int(ids.numel()), "train_tokens": int(train_ids.numel()),
              "final_train_loss": summary["loss"], "train_seconds": summary["seconds"],
              "model_config": asdict(model_cfg), "train_config": asdict(train_cfg),
              "provenance": provenance(seed=train_cfg.seed, text_sha256=sha256_file(text_path))}
    write_json(out / "result.json", result)
    return result
