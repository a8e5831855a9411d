"""`gaincell fit`: build device cards from characterization folders and/or user CSV data.

Writes `<out>/card.json` (the combined head card, schema `gaincell.card/1`) and one card per
circuit with data, `<out>/circuits/<kind>.json` (schema `gaincell.circuit_card/1`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from behavioral.cards import load_card, save_card
from behavioral.circuit_cards import load_circuit_card, save_circuit_card
from behavioral.fit.build import build_cards
from behavioral.fit.data import load_characterization, load_csv
from gaincell.errors import ConfigError

log = logging.getLogger(__name__)

DEFAULT_CHARACTERIZE_DIR = Path("runs") / "characterize"


def _parse_powers(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        powers = tuple(int(p) for p in text.split(","))
    except ValueError:
        powers = ()
    if not powers or any(p < 0 or p > 3 for p in powers) or 1 not in powers:
        raise ConfigError("--mac-x-powers", text, "comma-separated integers in 0..3 including 1")
    return powers


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add the `fit` subcommand."""
    p = subparsers.add_parser(
        "fit", parents=[common],
        help="fit device cards (JSON) from characterization results and/or CSV data",
        description="Fit the behavioral models (MAC surface, retention, charge-to-pulse, aCAM, noise), "
                    "write one validated card per characterized circuit (<out>/circuits/<kind>.json) "
                    "and the combined head card built from them (<out>/card.json). Without "
                    "--characterization and --csv, every folder under runs/characterize/ with a "
                    "result.json is used.",
    )
    p.add_argument("--characterization", nargs="*", default=None, metavar="DIR",
                   help="characterization result folders (default: runs/characterize/*/)")
    p.add_argument("--csv", nargs="*", default=[], metavar="FILE",
                   help="user data tables: iv (v_store_v, v_in_v, i_out_a), mac (x, v_store_v, charge_c), "
                        "retention (time_s, v_store_v[, temperature_c])")
    p.add_argument("--token-period-s", type=float, default=None,
                   help="seconds between two tokens, for the per-token decay factor "
                        "(default: the period implied by the paper's factor and tau)")
    p.add_argument("--retention-device", default=None,
                   help="write device whose retention the card keeps (e.g. si, igzo; default: the first)")
    p.add_argument("--name", default="gaincell-head", help="card name")
    p.add_argument("--mac-x-powers", default=None,
                   help="restrict the MAC model to these input powers, e.g. '1' (charge linear in "
                        "pulse width: cheapest for the fused attention); default: all, by held-out error")
    p.set_defaults(func=run_fit)


def _discover(root: Path) -> list[Path]:
    return sorted(d for d in root.glob("*") if (d / "result.json").is_file()) if root.is_dir() else []


def run_fit(args: argparse.Namespace) -> int:
    """Handler of `gaincell fit`: writes <out>/card.json and <out>/circuits/<kind>.json
    (default <out> = runs/fit)."""
    folders = [Path(d) for d in args.characterization] if args.characterization is not None else (
        [] if args.csv else _discover(DEFAULT_CHARACTERIZE_DIR))
    if not folders and not args.csv:
        raise ConfigError("fit inputs", "none found",
                          f"--characterization DIR..., --csv FILE..., or results under {DEFAULT_CHARACTERIZE_DIR}/")
    chars = {}
    for d in folders:
        c = load_characterization(d)
        if c.cell in chars:
            raise ConfigError("--characterization", f"two folders of cell '{c.cell}'",
                              f"one folder per cell ({chars[c.cell].folder}, {d})")
        chars[c.cell] = c
        log.info("characterization %s: cell %s", d, c.cell)
    tables = [load_csv(f) for f in args.csv]
    card, circuits = build_cards(characterizations=chars, tables=tables, token_period_s=args.token_period_s,
                                 retention_device=args.retention_device, name=args.name, seed=args.seed,
                                 mac_x_powers=_parse_powers(args.mac_x_powers))
    out = Path(args.out) if args.out else Path("runs") / "fit"
    circuit_paths = [save_circuit_card(c, out / "circuits" / f"{kind}.json") for kind, c in circuits.items()]
    for p in circuit_paths:
        load_circuit_card(p)
    path = save_card(card, out / "card.json")
    loaded = load_card(path)
    m = loaded.mac.fit
    print(f"wrote {path}")
    print(f"  circuit cards: {', '.join(str(p) for p in circuit_paths)}")
    print(f"  mac: {m['family']}, held-out RMS error {m['heldout_rms_error_fs']:.4%} of full scale "
          f"({m['n_test']} held-out points)")
    print(f"  decay: tau {loaded.decay.tau_s:.4g} s, per-token factor {loaded.decay.per_token_factor:.6g} "
          f"({loaded.decay.source.split(';')[0]})")
    print(f"  c2p: s_sat_qk {loaded.c2p.s_sat_qk_a:.4g} A ({loaded.c2p.source.split(';')[0]})")
    n = loaded.noise
    fmt = lambda x, f: "null" if x is None else format(x, f)  # noqa: E731
    print(f"  noise: read {fmt(n.read_noise_rel, '.3g')} of full scale per cell read, mismatch "
          f"{fmt(n.mismatch_sigma_rel, '.3g')}, write (kT/C) {fmt(n.write_noise_v, '.3g')} V, "
          f"aCAM window edges {fmt(n.acam_edge_sigma_v, '.3g')} V")
    return 0
