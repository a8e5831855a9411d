"""Benchmark: how well each fitted behavioral model reproduces SPICE, on held-out points.

Reads the characterization folders (default: every `runs/characterize/<cell>/` with a
result.json, written by `gaincell characterize`), fits the card's models with the same code as
`gaincell fit`, and prints each model's held-out RMS error as a fraction of full scale (points
not used in the fit), plus the authors' published I-V table for comparison. Models whose SPICE
data is absent are reported as null, never estimated.

Usage: python benchmarks/fidelity.py [--characterization DIR ...]
The last line printed is one JSON object; `mac_rms_error_fs` and `c2p_rms_error_fs` are the
held-out errors against our SPICE characterization (null when not characterized yet).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from behavioral.fit.build import build_card  # noqa: E402
from behavioral.fit.data import load_characterization, load_csv  # noqa: E402

REFERENCE_CSV = ROOT.parent / "shared" / "data" / "reference_cell_iv.csv"


def _err(section: dict) -> float | None:
    fit = section.get("fit") or {}
    return fit.get("heldout_rms_error_fs")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--characterization", nargs="*", default=None, metavar="DIR")
    ap.add_argument("--reference-csv", default=str(REFERENCE_CSV))
    args = ap.parse_args(argv)
    if args.characterization is None:
        base = ROOT / "runs" / "characterize"
        folders = sorted(d for d in base.glob("*") if (d / "result.json").is_file()) if base.is_dir() else []
    else:
        folders = [Path(d) for d in args.characterization]
    chars = {}
    for d in folders:
        c = load_characterization(d)
        chars[c.cell] = c
    rows = []
    out: dict = {"mac_rms_error_fs": None, "c2p_rms_error_fs": None, "retention_rms_error_fs": None,
                 "acam_rms_error_fs": None, "characterizations": [str(d) for d in folders]}
    spice_mac = "gaincell" in chars and "mac_charge_c" in chars["gaincell"].arrays
    ref_tables = [load_csv(args.reference_csv)] if Path(args.reference_csv).is_file() else []
    if chars and (spice_mac or ref_tables):
        # without our SPICE MAC data the authors' table stands in for the MAC section only
        card = build_card(characterizations=chars, tables=[] if spice_mac else ref_tables)
        if spice_mac:
            out["mac_rms_error_fs"] = _err(card["mac"])
            out["mac_family"] = card["mac"]["fit"]["family"]
            out["mac_n_test"] = card["mac"]["fit"]["n_test"]
            rows.append(("MAC surface (SPICE)", out["mac_rms_error_fs"], card["mac"]["fit"]["family"]))
        if "SPICE" in card["decay"]["source"]:
            out["retention_rms_error_fs"] = _err(card["decay"])
            rows.append(("retention (SPICE)", out["retention_rms_error_fs"], card["decay"]["fit"].get("device")))
        if "SPICE" in card["c2p"]["source"]:
            out["c2p_rms_error_fs"] = _err(card["c2p"])
            rows.append(("charge-to-pulse (SPICE)", out["c2p_rms_error_fs"], "clip(slope*(Q-offset), 0, t_max)"))
        if "SPICE" in card["acam"]["source"]:
            out["acam_rms_error_fs"] = _err(card["acam"])
            out["acam_combine"] = card["acam"]["combine"]
            rows.append(("aCAM window (SPICE)", out["acam_rms_error_fs"], f"two-sigmoid window, "
                         f"{card['acam']['combine']} along the match line"))
        for key in ("mismatch_sigma_rel", "c2p_gain_sigma_rel", "c2p_offset_sigma_c"):
            if card["noise"][key] is not None:
                out[key] = card["noise"][key]
    if ref_tables:
        ref = build_card(tables=ref_tables)
        out["reference_table_mac_rms_error_fs"] = _err(ref["mac"])
        rows.append(("MAC, authors' I-V table", out["reference_table_mac_rms_error_fs"], ref["mac"]["fit"]["family"]))
    print(f"characterization folders: {', '.join(map(str, folders)) or 'none found (run `gaincell characterize`)'}")
    print(f"{'model':<28}{'held-out RMS / FS':>20}  family")
    for name, err, fam in rows:
        shown = "n/a" if err is None else f"{err:.4%}"
        print(f"{name:<28}{shown:>20}  {fam}")
    for key in ("mac", "c2p"):
        if out[f"{key}_rms_error_fs"] is None:
            print(f"{key}: no SPICE characterization found: figure is null")
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
