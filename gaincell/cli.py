"""The `gaincell` command line: one entry point, one subcommand per job.

Each layer owns its subcommands in its own `cli` module, which exposes
`register(subparsers, common)`; this file only wires them together and turns gaincell
errors into one clear line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import Sequence

from gaincell.errors import GaincellError

# Modules that contribute subcommands, in the order of the data flow.
LAYER_CLI_MODULES = (
    "circuits.cli",
    "behavioral.cli",
    "co_design.cli",
    "reports.cli",
    "gaincell.demo",
)


def common_parser() -> argparse.ArgumentParser:
    """Flags every subcommand shares: --out, --seed, --device, --verbose."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--out", default=None, help="output folder (default: under runs/)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device for network work (default cpu)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gaincell",
        description="Analog gain-cell in-memory computing: SPICE -> device cards -> GPT-2 -> reports.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = common_parser()
    for name in LAYER_CLI_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that layer has no command line yet
                continue
            raise
        module.register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if getattr(args, "verbose", False) else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        rc = args.func(args)
    except GaincellError as exc:
        print(f"gaincell {args.command}: error: {exc}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
