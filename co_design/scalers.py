"""Per-head affine scalers (a, b) that map digital activations onto device ranges and back.

One `HeadScalers` module lives in every GPT-2 attention layer (`attn.gaincell_scalers`), so the
scalers are trainable parameters of the model and are saved with it. For each head h:
    q_dev  = a_q[h] * q + b_q[h]   (then clipped/quantized to PWM fractions in [0, 1])
    k_dev  = a_k[h] * k + b_k[h]   (then clipped/quantized to stored volts, V)
    v_dev  = a_v[h] * v + b_v[h]   (same, V)
    out    = a_out[h] * y + b_out[h]  (y: tile-summed converter output, converter units)
Initialization follows the paper: a = 1, b = 0, except b = mid-range of the stored voltage (V)
for k and v (0.45 V for the authors' 0.9 V supply; taken from the device card).

The aCAM mode has one more per-head scaler, its temperature tau[h] (dimensionless, > 0): the
softmax of the match-line levels uses log m / tau (`behavioral.attention_acam`; the sense time
is t_s / tau). It is stored as `acam_log_temperature` = ln tau, so training keeps tau > 0, and
initialized to tau = 1, the card's characterized sense time. The other modes ignore it (it
still travels with the model, so a mode switch keeps what was learned).

While `recording` is on, every `scale` call records the per-head mean and std of its output
(after a*x+b, before clamp/quantize): the statistics the adaptation loop matches. The attention
functions also record `SCORE`: the spread of the softmax logits (see `co_design.logit_stats`),
which the adaptation matches with the aCAM temperature.
"""

from __future__ import annotations

import torch
from torch import nn

from gaincell.errors import ConfigError

SCALER_NAMES = ("q", "k", "v", "out")
"""The four scaled signals of one head."""

SCORE = "score"
"""Name of the recorded softmax-logit statistic (mean 0, std = pooled within-row spread, nats)."""


class HeadScalers(nn.Module):
    """Trainable per-head (a, b) pairs for q, k, v and the attention output.

    Parameters are named `<signal>_a` and `<signal>_b`, each of shape (n_heads,), plus
    `acam_log_temperature` (n_heads,): ln of the aCAM temperature.
    """

    def __init__(self, n_heads: int, kv_offset_v: float):
        """`kv_offset_v`: initial b of k and v, the mid-range stored voltage (V)."""
        super().__init__()
        self.n_heads = n_heads
        for name in SCALER_NAMES:
            b0 = kv_offset_v if name in ("k", "v") else 0.0
            self.register_parameter(f"{name}_a", nn.Parameter(torch.ones(n_heads)))
            self.register_parameter(f"{name}_b", nn.Parameter(torch.full((n_heads,), float(b0))))
        self.acam_log_temperature = nn.Parameter(torch.zeros(n_heads))
        self.recording: bool = False
        self.momentum: float | None = None
        self.stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def a(self, name: str) -> nn.Parameter:
        """Gain a of signal `name` (n_heads,)."""
        return getattr(self, f"{name}_a")

    def b(self, name: str) -> nn.Parameter:
        """Offset b of signal `name` (n_heads,)."""
        return getattr(self, f"{name}_b")

    def temperature(self) -> torch.Tensor:
        """aCAM temperature tau (n_heads,), dimensionless, > 0 (differentiable)."""
        return self.acam_log_temperature.exp()

    @torch.no_grad()
    def set_temperature(self, tau: torch.Tensor) -> None:
        """Set the aCAM temperature (n_heads,) (dimensionless, every entry > 0)."""
        tau = torch.as_tensor(tau, dtype=self.acam_log_temperature.dtype,
                              device=self.acam_log_temperature.device).expand(self.n_heads)
        if not bool((tau > 0).all()) or not bool(torch.isfinite(tau).all()):
            raise ConfigError("acam_temperature", tau.tolist(), "finite values > 0")
        self.acam_log_temperature.copy_(tau.log())

    def scale(self, name: str, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """a*x + b per head for x of shape (B, H, T, D); records statistics when recording.

        `valid`: (B, T) bool, the tokens whose statistics are recorded (None: all; padding is
        left out of the statistics).
        """
        a = self.a(name).to(x.dtype)[None, :, None, None]
        b = self.b(name).to(x.dtype)[None, :, None, None]
        y = x * a + b
        if self.recording:
            self._record(name, y.detach(), valid)
        return y

    def observe(self, name: str, x: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Record statistics of an unscaled signal (the digital mode's q, k, v and output)."""
        if self.recording:
            self._record(name, x.detach(), valid)

    def observe_moments(self, name: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Record per-head statistics computed elsewhere (e.g. the logit spread), (n_heads,) each."""
        if self.recording:
            self._store(name, mean.detach().float(), std.detach().float())

    def start_recording(self, momentum: float | None = None) -> None:
        """Record per-head output statistics: EMA with weight `momentum` on the new batch
        (None: keep only the latest batch). Clears earlier statistics."""
        self.recording = True
        self.momentum = momentum
        self.stats = {}

    def stop_recording(self) -> None:
        self.recording = False

    def _record(self, name: str, y: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        if valid is not None:  # (B, H, T, D) -> (H, N_valid, D)
            y = y.transpose(1, 2)[valid.to(y.device)].transpose(0, 1)
            flat = y.reshape(self.n_heads, -1).float()
        else:
            flat = y.transpose(0, 1).reshape(self.n_heads, -1).float()
        self._store(name, flat.mean(dim=1), flat.std(dim=1))

    def _store(self, name: str, mean: torch.Tensor, std: torch.Tensor) -> None:
        if self.momentum is not None and name in self.stats:
            m0, s0 = self.stats[name]
            mean = (1 - self.momentum) * m0 + self.momentum * mean
            std = (1 - self.momentum) * s0 + self.momentum * std
        self.stats[name] = (mean, std)
