"""Swap a transformers GPT-2's attention onto the emulated hardware, restore it, save, load.

No fork of the model: `install_attention` registers the attention functions of
`co_design.functions`, selects one with `set_attn_implementation`, and adds to each
`GPT2Attention`
  * `gaincell_scalers` (a `HeadScalers` module: per-head (a, b) of q, k, v and the output and
    the aCAM temperature; trainable, saved with the model);
  * in analog modes, a forward hook on `c_attn` that maps q, k, v through the scalers into the
    device domain (PWM fractions, DAC-quantized stored volts) *before* GPT-2 writes them into
    its KV cache: the cache then holds device values written once per token (the behavioral
    core adds each cell's kT/C write noise, drawn by token position, to them);
  * a `gaincell_runtime` reference to the shared emulator state (config, card, noise seed).
The model config gets `sliding_window` = W and all-`sliding_attention` layer types, so
transformers' `DynamicCache` evicts keys older than W; and the attention config under
`gaincell_attention`, so `save_pretrained` writes it to `config.json`.
"""

from __future__ import annotations

import contextlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Iterator

import torch
from safetensors import safe_open
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

from co_design.config import CONFIG_KEY, AttentionConfig
from co_design.functions import register_all
from co_design.padding import real_tokens
from co_design.scalers import HeadScalers
from gaincell.errors import ConfigError

_ORIGINAL = "_gaincell_original"
_HOOKS = "_gaincell_hooks"


class DigitalRuntime:
    """Emulator state of the digital mode: only the config (no device, no noise)."""

    def __init__(self, config: AttentionConfig):
        self.config = config
        self.noise_seed = config.noise_seed

    def kv_offset_v(self) -> float:
        """Initial b of the k/v scalers when no device card is in use (V)."""
        return 0.0


def make_runtime(config: AttentionConfig):
    """The emulator state for a config: digital, or card-driven hardware (loads the card)."""
    if not config.is_analog:
        return DigitalRuntime(config)
    from co_design.hardware import HardwareRuntime

    return HardwareRuntime(config)


def attention_modules(model: torch.nn.Module) -> list[torch.nn.Module]:
    """The self-attention modules of a GPT-2 (`transformer.h[i].attn`), in layer order."""
    blocks = getattr(getattr(model, "transformer", model), "h", None)
    if blocks is None:
        raise ConfigError("model", type(model).__name__, "a transformers GPT-2 model (GPT2LMHeadModel/GPT2Model)")
    return [block.attn for block in blocks]


def current_config(model: torch.nn.Module) -> AttentionConfig | None:
    """The installed attention config, or None on a plain model."""
    raw = getattr(model.config, CONFIG_KEY, None)
    return None if raw is None else AttentionConfig.from_dict(raw)


def install_attention(model: torch.nn.Module, config: AttentionConfig) -> torch.nn.Module:
    """Swap the model's attention to `config.mode` (in place; returns the model).

    Existing scalers are kept, so switching between modes (e.g. linear_hw -> gaincell) keeps
    what was learned. Raises ConfigError / CardError on a bad config or card.
    """
    register_all()
    mcfg = model.config
    config.check_context(mcfg.n_positions)
    runtime = make_runtime(config)
    if _ORIGINAL not in model.__dict__:
        model.__dict__[_ORIGINAL] = {
            "attn_implementation": mcfg._attn_implementation,
            "sliding_window": getattr(mcfg, "sliding_window", None),
            "layer_types": getattr(mcfg, "layer_types", None),
        }
    _remove_hooks(model)
    hooks = []
    for attn in attention_modules(model):
        if not hasattr(attn, "gaincell_scalers"):
            attn.gaincell_scalers = HeadScalers(attn.num_heads, runtime.kv_offset_v()).to(
                attn.c_attn.weight.device)
        attn.__dict__["gaincell_runtime"] = runtime
        if config.is_analog:
            hooks.append(attn.register_forward_pre_hook(_capture_positions, with_kwargs=True))
            hooks.append(attn.c_attn.register_forward_hook(partial(_map_to_device, attn)))
    model.__dict__[_HOOKS] = hooks
    mcfg.sliding_window = config.window
    mcfg.layer_types = ["sliding_attention"] * mcfg.n_layer
    setattr(mcfg, CONFIG_KEY, config.to_dict())
    model.set_attn_implementation(config.mode)
    return model


def restore_attention(model: torch.nn.Module) -> torch.nn.Module:
    """Undo `install_attention`: original attention, no hooks, no scalers, no config key."""
    original = model.__dict__.pop(_ORIGINAL, None)
    if original is None:
        return model
    _remove_hooks(model)
    for attn in attention_modules(model):
        if hasattr(attn, "gaincell_scalers"):
            del attn.gaincell_scalers
        attn.__dict__.pop("gaincell_runtime", None)
        attn.__dict__.pop("_gaincell_positions", None)
        attn.__dict__.pop("_gaincell_mask", None)
    mcfg = model.config
    for key in ("sliding_window", "layer_types"):
        if original[key] is None:
            if hasattr(mcfg, key):
                delattr(mcfg, key)
        else:
            setattr(mcfg, key, original[key])
    if hasattr(mcfg, CONFIG_KEY):
        delattr(mcfg, CONFIG_KEY)
    model.set_attn_implementation(original["attn_implementation"])
    return model


def set_noise_seed(model: torch.nn.Module, seed: int) -> None:
    """Change the emulated-noise seed of an installed model (recorded in its config)."""
    cfg = current_config(model)
    if cfg is None:
        raise ConfigError("model", "plain GPT-2", "a model with gaincell attention installed")
    cfg = cfg.replace(noise_seed=seed)
    setattr(model.config, CONFIG_KEY, cfg.to_dict())
    for attn in attention_modules(model):
        rt = attn.__dict__["gaincell_runtime"]
        rt.config = cfg
        rt.noise_seed = seed


def scalers_of(model: torch.nn.Module) -> list[HeadScalers]:
    """The per-layer scaler modules, in layer order."""
    return [attn.gaincell_scalers for attn in attention_modules(model) if hasattr(attn, "gaincell_scalers")]


@contextlib.contextmanager
def recording(model: torch.nn.Module, momentum: float | None = None) -> Iterator[list[HeadScalers]]:
    """Record scaler output statistics during the block (see HeadScalers.start_recording)."""
    scalers = scalers_of(model)
    for s in scalers:
        s.start_recording(momentum)
    try:
        yield scalers
    finally:
        for s in scalers:
            s.stop_recording()


def _remove_hooks(model: torch.nn.Module) -> None:
    for handle in model.__dict__.pop(_HOOKS, []):
        handle.remove()


def _capture_positions(attn: torch.nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
    attn.__dict__["_gaincell_positions"] = kwargs.get("position_ids")
    attn.__dict__["_gaincell_mask"] = kwargs.get("attention_mask")


def _map_to_device(attn: torch.nn.Module, c_attn: torch.nn.Module, inputs: tuple,
                   output: torch.Tensor) -> torch.Tensor:
    """c_attn output (B, T, 3E) digital -> (B, T, 3E) device domain, per head."""
    bsz, t, three_e = output.shape
    e = three_e // 3
    h = attn.num_heads
    q, k, v = (x.reshape(bsz, t, h, e // h).transpose(1, 2) for x in output.split(e, dim=2))
    positions = attn.__dict__.get("_gaincell_positions")
    if positions is None:
        positions = torch.arange(t, device=output.device)[None, :]
    positions = positions.reshape(-1, positions.shape[-1])[:, -t:]
    rt = attn.__dict__["gaincell_runtime"]
    valid = None  # real tokens of a padded batch: the statistics leave the padding out
    if attn.gaincell_scalers.recording:
        valid = real_tokens(attn.__dict__.get("_gaincell_mask"), bsz, t)
    q, k, v = rt.to_device(attn.layer_idx, attn.gaincell_scalers, q, k, v, positions, valid)
    return torch.cat([x.transpose(1, 2).reshape(bsz, t, e) for x in (q, k, v)], dim=2)


# ----------------------------------------------------------------------------- save / load

def save_model(model: torch.nn.Module, out_dir: str | Path, tokenizer: Any = None) -> Path:
    """`save_pretrained` the model (scalers and `gaincell_attention` included) and tokenizer."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with _quiet_transformers():
        model.save_pretrained(str(out))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(out))
    return out


def read_attention_config(model_dir: str | Path) -> AttentionConfig | None:
    """The attention config saved in `<model_dir>/config.json`, or None when there is none."""
    path = Path(model_dir) / "config.json"
    if not path.is_file():
        raise ConfigError("model", str(model_dir), "a save_pretrained directory with config.json")
    try:
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ConfigError("config.json", str(exc), "valid JSON", source=str(path)) from None
    if CONFIG_KEY not in raw:
        return None
    return AttentionConfig.from_dict(raw[CONFIG_KEY], source=str(path))


def load_model(model_dir: str | Path, mode: str | None = None, device: str = "cpu",
               **overrides: Any) -> GPT2LMHeadModel:
    """Load any local GPT-2 directory with `from_pretrained` and install its attention.

    The saved `gaincell_attention` config (default: digital_swa with window = context) is
    used, with `mode` and `overrides` (fields of AttentionConfig) applied on top; saved
    scalers are restored.
    """
    register_all()
    model_dir = Path(model_dir)
    saved = read_attention_config(model_dir)
    with _quiet_transformers():
        model = GPT2LMHeadModel.from_pretrained(str(model_dir), attn_implementation="sdpa")
    if saved is None:
        saved = AttentionConfig(mode="digital_swa", window=model.config.n_positions)
    changes = dict(overrides)
    if mode is not None:
        changes["mode"] = mode
    config = saved.replace(**changes) if changes else saved
    install_attention(model, config)
    _load_scalers(model, model_dir)
    return model.to(device).eval()


def _load_scalers(model: torch.nn.Module, model_dir: Path) -> int:
    files = sorted(model_dir.glob("*.safetensors"))
    state = {}
    for f in files:
        with safe_open(str(f), framework="pt") as fh:
            for key in fh.keys():
                if ".gaincell_scalers." in key:
                    state[key] = fh.get_tensor(key)
    if not state:
        return 0
    own = model.state_dict()
    with torch.no_grad():
        for key, value in state.items():
            if key not in own:
                raise ConfigError("weights", key, "a scaler of this model's layers/heads", source=str(model_dir))
            own[key].copy_(value)
    return len(state)


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence transformers' notices (scalers 'not used' by plain GPT-2) and its progress bars."""
    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def new_gpt2(n_layer: int, n_head: int, n_embd: int, n_positions: int, vocab_size: int,
             eos_token_id: int | None = None, dropout: float = 0.0) -> GPT2LMHeadModel:
    """A randomly initialized GPT-2 of the given shape (dropout probability `dropout`)."""
    cfg = GPT2Config(n_layer=n_layer, n_head=n_head, n_embd=n_embd, n_positions=n_positions,
                     vocab_size=vocab_size, bos_token_id=eos_token_id, eos_token_id=eos_token_id,
                     pad_token_id=eos_token_id, resid_pdrop=dropout, embd_pdrop=dropout,
                     attn_pdrop=dropout)
    return GPT2LMHeadModel(cfg)
