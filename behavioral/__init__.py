"""Behavioral layer: versioned device cards fitted from characterization data, and
differentiable PyTorch primitives built from them.

Modules:
- `cards`: JSON device cards (schema `gaincell.card/1`), strict validation, `load_card`,
  `default_card` (the committed `data/default_card.json`, fitted from our sky130 SPICE
  characterization), `reference_card` (`data/reference_cell_card.json`, fitted from the authors'
  I-V table), `save_card`.
- `circuit_cards`: one JSON card per characterized circuit (schema `gaincell.circuit_card/1`:
  gain cell, c2p, drivers, column, aCAM), `load_circuit_card`, `default_circuit_cards`.
- `c_store`: `card_with_c_store(card, c_store_f)`, a card re-derived for another storage
  capacitance (retention tau ~ C, kT/C write noise ~ 1/sqrt(C), write energy ~ C).
- `mac_model`: the separable polynomial read-charge model a card's `mac` section describes.
- `fit/`: scipy fits of every section (MAC surface, retention, charge-to-pulse, aCAM window,
  Monte Carlo mismatch, read noise) from characterization folders or user CSV tables into
  per-circuit cards (`fit.circuits`), and the head card built from them (`fit.build`).
- `primitives`: torch quantizers (straight-through), cell current with `exact`/`linear`
  surrogate gradient, analog MAC, charge-to-pulse (with the card's characterized transfer),
  decay, seeded cell and converter mismatch, per-read and kT/C write noise, aCAM match, and
  `Primitives(card, perfect=...)`.
- `rng`: counter-based Gaussian draws (the same value for the same read on any device).
- `attention`: the gain-cell attention core (`gaincell_attention`, fused or naive) and the
  aCAM-similarity core (`acam_attention`); settings in `attention_config.AnalogSettings`.
- `cli`: `gaincell fit`.
"""
