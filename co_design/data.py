"""Text data for the small GPT-2: byte-level BPE tokenizer, 90/10 split by position, batches.

The tokenizer is trained by `tokenizers` on the training part only and saved as a `transformers`
fast tokenizer next to the model, so `AutoTokenizer.from_pretrained(model_dir)` loads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import ByteLevelBPETokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from gaincell.errors import ConfigError

EOS_TOKEN = "<|endoftext|>"


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; a missing or empty file is a ConfigError naming it."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("text", str(p), "an existing text file")
    text = p.read_text(encoding="utf-8")
    if not text.strip():
        raise ConfigError("text", str(p), "a non-empty text file")
    return text


def split_by_position(text: str, train_fraction: float = 0.9) -> tuple[str, str]:
    """First `train_fraction` of the characters for training, the rest for validation."""
    if not 0.0 < train_fraction < 1.0:
        raise ConfigError("train_fraction", train_fraction, "0 < fraction < 1")
    cut = int(len(text) * train_fraction)
    return text[:cut], text[cut:]


def train_tokenizer(text: str, vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `text` and wrap it as a transformers fast tokenizer."""
    if vocab_size < 260:
        raise ConfigError("vocab_size", vocab_size, ">= 260 (256 bytes + merges + <|endoftext|>)")
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([text], vocab_size=vocab_size, min_frequency=2,
                            special_tokens=[EOS_TOKEN], show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=EOS_TOKEN,
                                   eos_token=EOS_TOKEN, unk_token=EOS_TOKEN, pad_token=EOS_TOKEN)


def load_tokenizer(model_dir: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in a model directory."""
    p = Path(model_dir)
    if not (p / "tokenizer.json").is_file() and not (p / "vocab.json").is_file():
        raise ConfigError("model", str(p), "a model directory that holds a tokenizer (tokenizer.json)")
    return AutoTokenizer.from_pretrained(str(p))


def encode(tokenizer: PreTrainedTokenizerFast, text: str) -> torch.Tensor:
    """Token ids of `text` as a 1-D int64 tensor."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return torch.tensor(ids, dtype=torch.long)


@dataclass
class TokenBatcher:
    """Random training windows of `context + 1` tokens from one token stream.

    Sampling uses its own `torch.Generator`, whose state is saved in checkpoints so a resumed
    run draws the same batches.
    """

    ids: torch.Tensor
    context: int
    batch_size: int
    seed: int = 0

    def __post_init__(self) -> None:
        if self.ids.numel() < self.context + 2:
            raise ConfigError("context", self.context,
                              f"< number of training tokens - 1 ({self.ids.numel() - 1})")
        self.generator = torch.Generator().manual_seed(self.seed)

    def next(self) -> torch.Tensor:
        """A (batch_size, context + 1) int64 tensor: inputs are [:, :-1], labels [:, 1:]."""
        starts = torch.randint(0, self.ids.numel() - self.context - 1, (self.batch_size,),
                               generator=self.generator)
        offsets = torch.arange(self.context + 1)
        return self.ids[starts[:, None] + offsets[None, :]]


def sliding_windows(n_tokens: int, context: int, stride: int) -> list[tuple[int, int, int]]:
    """Windows (begin, end, n_new) covering [0, n_tokens): each scores only its last n_new targets.

    Every token after the first is predicted exactly once, with up to `context - stride` tokens of
    left context already seen (the standard strided perplexity evaluation).
    """
    if not 1 <= stride < context:
        raise ConfigError("stride", stride, f"1 <= stride < context ({context})")
    if n_tokens < 2:
        raise ConfigError("text", n_tokens, "at least 2 tokens")
    end = min(context, n_tokens)
    windows = [(0, end, end - 1)]  # token 0 has no prediction
    scored = end
    while scored < n_tokens:
        end = min(scored + stride, n_tokens)
        windows.append((end - context, end, end - scored))
        scored = end
    return windows
