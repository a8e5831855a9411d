"""A device card re-derived for another storage capacitance C_store.

The characterized card belongs to one circuit, whose storage capacitance is `array.c_store_f`.
`card_with_c_store(card, c_store_f)` returns the card of the same circuit with another C_store,
changing only the numbers that follow from C_store by physics, each from its characterized value:

- Retention: the storage node discharges through the write device's leakage, C dV/dt = -I_leak(V),
  and I_leak does not depend on C, so the whole transient is stretched in time by
  C_new / C_card: `decay.tau_s` scales by that ratio and `decay.per_token_factor` is
  exp(-token_period_s / tau_s) again (the node's gate and junction capacitances are neglected
  beside C_store).
- Write noise: the kT/C noise frozen on the node at a write is sqrt(k_B T / C), so
  `noise.write_noise_v` scales by sqrt(C_card / C_new) (left null when not characterized).
- Write energy: a write charges C_store through the write device, E ~ C V^2, so
  `energy.cell_write_j` scales by C_new / C_card (the rule the cost model applies to swept
  capacitances; left null when not characterized).
- `array.c_store_f` and `array.cell_config.c_store_f` become C_new.

Unchanged: the read current and its fit (`mac`: the read pair senses the node's voltage, not its
charge), cell and converter mismatch, read noise (the read pair's own noise), the converters,
quantizers, the aCAM and every other cost field. Each changed field's source says it was scaled,
from which value, and why; `provenance.c_store_rederived` records the two capacitances.
"""

from __future__ import annotations

import copy
import math

from behavioral.cards import HeadCard, card_from_dict
from gaincell.errors import CardError, ConfigError

C_STORE_MAX_F = 1e-9
"""Largest storage capacitance a card accepts (`array.c_store_f`'s range), farads."""


def _append(text: str, note: str) -> str:
    return f"{text}; {note}" if text else note


def card_with_c_store(card: HeadCard, c_store_f: float) -> HeadCard:
    """The card re-derived for storage capacitance `c_store_f` (farads), see the module doc.

    Returns `card` itself when `c_store_f` equals its characterized capacitance. Raises
    ConfigError for a capacitance that is not a number in (0, 1e-9] F, and CardError when the
    card does not record the capacitance it was characterized with (`array.c_store_f`).
    """
    if isinstance(c_store_f, bool) or not isinstance(c_store_f, (int, float)) \
            or not math.isfinite(c_store_f) or not 0 < c_store_f <= C_STORE_MAX_F:
        raise ConfigError("c_store_f", c_store_f, f"a capacitance in farads, 0 < C <= {C_STORE_MAX_F:g}")
    if card.array is None or card.array.c_store_f is None:
        raise CardError(card.path, "array.c_store_f",
                        "not characterized: the card cannot be re-derived for another storage capacitance")
    c_card, c_new = float(card.array.c_store_f), float(c_store_f)
    if c_new == c_card:
        return card
    ratio = c_new / c_card
    why = f"scaled from the characterized value at C_store = {c_card:.4g} F to {c_new:.4g} F"
    data = card.to_dict()
    changed = ["decay.tau_s", "decay.per_token_factor"]

    dec = data["decay"]
    tau = float(dec["tau_s"]) * ratio
    dec["source"] = _append(dec["source"], (
        f"tau_s {why} (x{ratio:.4g}: C dV/dt = -I_leak(V) with the leakage current unchanged, so "
        f"tau = C dV / I_leak scales with C; characterized tau_s = {dec['tau_s']:.6g} s); "
        f"per_token_factor = exp(-token_period_s / tau_s)"))
    dec["tau_s"] = tau
    dec["per_token_factor"] = math.exp(-float(dec["token_period_s"]) / tau)

    noise = data["noise"]
    if noise.get("write_noise_v") is not None:
        old = float(noise["write_noise_v"])
        noise["write_noise_v"] = old / math.sqrt(ratio)
        changed.append("noise.write_noise_v")
        noise["source"] = _append(noise["source"], (
            f"write_noise_v {why} (x{1 / math.sqrt(ratio):.4g}: kT/C noise sqrt(k_B T / C); "
            f"characterized {old:.6g} V)"))
        fit = noise.get("fit")
        if isinstance(fit, dict) and isinstance(fit.get("write_noise"), dict):
            fit["write_noise"] = dict(fit["write_noise"], capacitance_f=c_new, scaled_from_capacitance_f=c_card)

    energy = data["energy"]
    if energy.get("cell_write_j") is not None:
        old = float(energy["cell_write_j"])
        energy["cell_write_j"] = old * ratio
        changed.append("energy.cell_write_j")
        sources = dict(energy.get("sources") or {})
        sources["cell_write_j"] = _append(sources.get("cell_write_j", ""), (
            f"{why} (x{ratio:.4g}: a write charges C_store, E ~ C V^2; characterized {old:.6g} J)"))
        energy["sources"] = sources

    arr = data["array"]
    arr["c_store_f"] = c_new
    if isinstance(arr.get("cell_config"), dict) and "c_store_f" in arr["cell_config"]:
        arr["cell_config"] = dict(arr["cell_config"], c_store_f=c_new)
    arr["source"] = _append(arr["source"], f"c_store_f set to {c_new:.4g} F (re-derived card; characterized "
                                           f"at {c_card:.4g} F)")

    prov = copy.deepcopy(dict(data["provenance"]))
    prov["c_store_rederived"] = {
        "from_c_store_f": c_card, "to_c_store_f": c_new,
        "changed": [*changed, "array.c_store_f"],
        "rule": "behavioral.c_store.card_with_c_store: tau ~ C, kT/C noise ~ 1/sqrt(C), write energy ~ C; "
                "read current, mismatch and read noise unchanged",
    }
    data["provenance"] = prov
    data["name"] = f"{card.name} at C_store = {c_new:.4g} F"
    return card_from_dict(data, f"{card.path} (re-derived for C_store = {c_new:.4g} F)")
