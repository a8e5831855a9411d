"""The sky130 FET models a netlist uses, inlined and pruned to the size bins it needs.

Why: the combined sky130 library (`circuits.sky130_models.lib_line`) takes about 4 s to read,
and every subcircuit instance of a sky130 FET copies all of that flavour's binned model cards
(about 45 for `nfet_01v8_lvt`) before ngspice picks the one bin that matches its W/L. On a
64-row read-path tile (about 2,400 FETs) that copying grows the expanded deck to ~280k lines
and costs tens of seconds of parsing plus ~18 s of model set-up in the operating point.
`inline_models(netlist)` replaces the netlist's `.lib <sky130.lib.spice> <corner>` card with
the same model text restricted to:

- the corner section's `.param` cards and its parameter / global files
  (`parameters_fet_<c>.spice`, `parameters_res_*.spice`, `parameters_cap_*.spice`,
  `models_global.spice`), unchanged;
- from `models_fet.spice`, the subcircuits of the FET flavours the netlist instantiates, each
  with only the `.model` bins whose [lmin, lmax] x [wmin, wmax] range contains the W/L of at
  least one of its instances (ranges taken inclusive with a 1e-3 relative margin, a superset
  of ngspice's own rule; bins keep their file order, so ngspice picks the same bin).

Nothing is re-evaluated or approximated: every kept card and expression is the library's text,
so the simulation is the same (the read-path tests compare the two; identical to the printed
digits). Monte Carlo (`_mm` corners): the dropped bins no longer consume AGAUSS draws, so one
seed gives other mismatch samples than with the full library, from the same distribution (a
20-sample gain-cell MC: per-sample deviations uncorrelated, r = -0.003, sigma 4.04e-15 vs
4.03e-15 C); with the pruned text a seed is reproducible (circuits.ngspice reseeds per job). One opt-in approximation: `body_network=False` adds the BSIM4 instance parameter
`rbodymod=0` to every FET, removing the substrate resistance network the sky130 cards enable
(`rbodymod = 1`: five 50 Ohm resistors and three internal nodes per device, for RF accuracy).
With the bodies tied to the rails and read currents of microamps it changes nothing a read
path measures (phi moved by <= 0.001 on a 64 x 8 tile) and shrinks the matrix by ~40 %. Devices other than the 1.8 V FETs below (resistors, diodes, BJTs, capacitors of the
PDK) are not supported here: a netlist using one keeps the full `.lib` (`UnsupportedDevice`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from circuits.sky130_models import SKY130_CORNERS, combined_library
from gaincell.errors import ConfigError

#: FET flavours this module can prune (the ones gaincell's circuits use).
FETS: tuple[str, ...] = (
    "sky130_fd_pr__nfet_01v8",
    "sky130_fd_pr__nfet_01v8_lvt",
    "sky130_fd_pr__pfet_01v8",
    "sky130_fd_pr__pfet_01v8_lvt",
    "sky130_fd_pr__pfet_01v8_hvt",
)
#: Relative margin on the bin edges when deciding which bins to keep.
BIN_MARGIN = 1e-3
#: sky130 instance geometry is in micrometres (`.option scale=1.0u` in models_global.spice).
_SCALE_M = 1e-6

_LIB_RE = re.compile(r"^\s*\.lib\s+(\S*sky130\.lib\.spice)\s+(\S+)\s*$", re.IGNORECASE | re.MULTILINE)
_SKY_RE = re.compile(r"\bsky130_fd_pr__\w+", re.IGNORECASE)
_PARAM_RE = re.compile(r"\b([wl])\s*=\s*([0-9.eE+-]+)", re.IGNORECASE)


class UnsupportedDevice(ConfigError):
    """The netlist uses a sky130 device the pruner does not handle."""


def used_fets(netlist: str) -> dict[str, set[tuple[float, float]]]:
    """{flavour: {(w_um, l_um)}} of every sky130 FET instance line (`X... <flavour> w= l=`).

    Raises UnsupportedDevice for a sky130 device outside FETS or an instance without numeric
    w and l.
    """
    out: dict[str, set[tuple[float, float]]] = {}
    for raw in netlist.splitlines():
        line = raw.strip()
        if not line or line[0] in "*.+":
            continue
        names = _SKY_RE.findall(line)
        if not names:
            continue
        name = names[0].lower()
        if line[0] not in "xX" or name not in FETS:
            raise UnsupportedDevice("netlist", line, f"instances of {', '.join(FETS)} only")
        params = {k.lower(): float(v) for k, v in _PARAM_RE.findall(line)}
        if "w" not in params or "l" not in params:
            raise UnsupportedDevice("netlist", line, "explicit numeric w= and l= (micrometres)")
        out.setdefault(name, set()).add((params["w"], params["l"]))
    return out


def _strip(text: str) -> list[str]:
    """Lines without comments (full-line `*` and trailing `$`/`;` comments) or blanks."""
    out = []
    for line in text.splitlines():
        if line.lstrip().startswith("*"):
            continue
        line = re.split(r"\s[$;]", line, maxsplit=1)[0].rstrip()
        if line.strip():
            out.append(line)
    return out


def _logical(lines: list[str]) -> list[list[str]]:
    """Group physical lines into cards (a card plus its `+` continuation lines)."""
    cards: list[list[str]] = []
    for line in lines:
        if line.lstrip().startswith("+") and cards:
            cards[-1].append(line)
        else:
            cards.append([line])
    return cards


def _bin_range(card: list[str]) -> tuple[float, float, float, float] | None:
    """(lmin, lmax, wmin, wmax) in metres of a `.model` card, None when unbinned."""
    text = " ".join(card)
    vals = {}
    for key in ("lmin", "lmax", "wmin", "wmax"):
        m = re.search(rf"\b{key}\s*=\s*([0-9.eE+-]+)", text, re.IGNORECASE)
        if m is None:
            return None
        vals[key] = float(m.group(1))
    return vals["lmin"], vals["lmax"], vals["wmin"], vals["wmax"]


def _in_bin(rng: tuple[float, float, float, float], w_um: float, l_um: float) -> bool:
    lmin, lmax, wmin, wmax = rng
    l, w = l_um * _SCALE_M, w_um * _SCALE_M
    m = BIN_MARGIN
    return lmin * (1 - m) <= l <= lmax * (1 + m) and wmin * (1 - m) <= w <= wmax * (1 + m)


@lru_cache(maxsize=4)
def _fet_blocks() -> dict[str, list[list[str]]]:
    """{flavour: cards of its subcircuit (`.subckt` .. `.ends`)} from models_fet.spice."""
    path = combined_library().parent / "continuous" / "models_fet.spice"
    blocks: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for card in _logical(_strip(path.read_text())):
        head = card[0].split()
        key = head[0].lower()
        if key == ".subckt":
            current = []
            blocks[head[1].lower()] = current
        if current is not None:
            current.append(card)
        if key == ".ends":
            current = None
    missing = [f for f in FETS if f not in blocks]
    if missing:
        raise ConfigError("sky130 models_fet.spice", str(path), f"subcircuits {missing}")
    return blocks


def _corner_section(corner: str) -> tuple[list[str], list[str]]:
    """(`.param` cards, included relative paths) of `.lib corner` in the combined library."""
    lines = combined_library().read_text().splitlines()
    params, includes, inside = [], [], False
    for line in lines:
        s = line.strip()
        low = s.lower()
        if low.startswith(".lib ") and low.split()[1] == corner.lower():
            inside = True
            continue
        if inside and low.startswith(".endl"):
            break
        if inside and low.startswith(".param"):
            params.append(s)
        elif inside and low.startswith(".include"):
            includes.append(s.split(None, 1)[1].strip().strip("\"'"))
    if not inside:
        raise ConfigError("corner", corner, f"a section of {combined_library()}")
    return params, includes


def geometry_name(flavour: str, w_um: float, l_um: float) -> str:
    """Name of the per-geometry copy of a FET subcircuit, e.g. `sky130_fd_pr__nfet_01v8__w0p5_l0p15`."""
    def tag(x: float) -> str:
        return f"{x:.6g}".replace(".", "p").replace("-", "m").replace("+", "")
    return f"{flavour}__w{tag(w_um)}_l{tag(l_um)}"


@lru_cache(maxsize=32)
def _pruned_text(corner: str, devices: tuple[tuple[str, tuple[tuple[float, float], ...]], ...],
                 body_network: bool = True) -> str:
    root = combined_library().parent
    params, includes = _corner_section(corner)
    out = [f"* sky130 models pruned by circuits.sky130_pruned from {combined_library()} ({corner}):",
           "* one copy of each FET subcircuit per W/L, holding only the bins that contain it"]
    out += params
    for inc in includes:
        name = Path(inc).name
        if name.startswith("parameters_") or name == "models_global.spice":
            out += _strip((root / inc).read_text())
        elif name == "models_fet.spice":
            for flavour, geoms in devices:
                for w, l in geoms:
                    out += _geometry_block(flavour, w, l, body_network)
        # other model files (BJTs, diodes, resistors, capacitors, legacy corners): not needed
    return "\n".join(out) + "\n"


def _geometry_block(flavour: str, w_um: float, l_um: float, body_network: bool = True) -> list[str]:
    """The library's subcircuit of `flavour`, renamed for one W/L, with the bins containing it
    (and `rbodymod=0` on its device line unless `body_network`)."""
    out: list[str] = []
    kept = 0
    for card in _fet_blocks()[flavour]:
        head = card[0].split()
        key = head[0].lower()
        if key == ".model":
            rng = _bin_range(card)
            if rng is not None and not _in_bin(rng, w_um, l_um):
                continue
            kept += 1
        if key in (".subckt", ".ends"):
            card = [card[0].replace(head[1], geometry_name(flavour, w_um, l_um), 1)] + card[1:]
        if key.startswith("m") and not body_network:
            card = card + ["+ rbodymod=0"]
        out += card
    if kept == 0:
        raise UnsupportedDevice(f"{flavour} w/l", (w_um, l_um), "a geometry inside the library's bins")
    return out


def pruned_library(corner: str, devices: dict[str, set[tuple[float, float]]], body_network: bool = True) -> str:
    """Model text (to inline in a netlist) of `devices` ({flavour: {(w_um, l_um)}}) at `corner`:
    subcircuits named `geometry_name(flavour, w, l)`."""
    if corner not in SKY130_CORNERS:
        raise ConfigError("corner", corner, f"one of {', '.join(SKY130_CORNERS)}")
    key = tuple(sorted((f, tuple(sorted(g))) for f, g in devices.items()))
    return _pruned_text(corner, key, bool(body_network))


def _rename_instances(netlist: str) -> str:
    """Point every FET instance line at the per-geometry copy of its subcircuit."""
    out = []
    for line in netlist.splitlines():
        s = line.strip()
        if s and s[0] in "xX":
            m = _SKY_RE.search(s)
            if m and m.group(0).lower() in FETS:
                params = {k.lower(): float(v) for k, v in _PARAM_RE.findall(s)}
                name = geometry_name(m.group(0).lower(), params["w"], params["l"])
                line = line[: line.index(m.group(0))] + name + line[line.index(m.group(0)) + len(m.group(0)):]
        out.append(line)
    return "\n".join(out) + ("\n" if netlist.endswith("\n") else "")


def has_library_card(netlist: str) -> bool:
    """True when `netlist` reads the combined sky130 library (`.lib <sky130.lib.spice> <corner>`)."""
    return _LIB_RE.search(netlist) is not None


def inline_models(netlist: str, body_network: bool = True) -> str:
    """`netlist` with its combined-library `.lib` card replaced by the pruned model text
    (`body_network=False`: FETs without their substrate resistance network, see above)."""
    m = _LIB_RE.search(netlist)
    if m is None:
        raise ConfigError("netlist", netlist.splitlines()[0] if netlist else "", "a `.lib <sky130.lib.spice> <corner>` card")
    text = pruned_library(m.group(2).lower(), used_fets(netlist), body_network)
    body = _rename_instances(netlist[m.end():])
    return _rename_instances(netlist[: m.start()]) + text.rstrip("\n") + body
