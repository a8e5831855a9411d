"""Device inventory of one subcircuit of a SPICE netlist: what a layout of it would have to draw.

`subckt_inventory(netlist, name)` reads the `.subckt name ... .ends` block of a netlist text
(as the characterizations write it) and lists its devices:

- sky130 transistors: instance lines `X<name> d g s b sky130_fd_pr__nfet_01v8[_lvt] w=.. l=..`
  (the form `circuits.drivers.fet` writes; `m=` / `mult=` multiply the count). The model's
  flavour (`nfet*` / `pfet*`) gives the kind `nmos` / `pmos`; w and l are plain numbers in
  micrometres (the sky130 models apply the 1e-6 scale, so a suffix such as `4u` is an error).
- capacitors: `C<name> n1 n2 <value>` lines, one entry per capacitor in farads.
- nested subcircuit instances (`X<name> ... <subckt>`, e.g. the comparator inverters of the
  charge-to-pulse converter) are expanded recursively, their counts multiplied by the
  instance's `m=`.

Ideal sources and ideal amplifiers (`V`, `I`, `E` (the VCVS op-amp model), `F`, `G`, `H`, `B`
lines) are not devices: they are listed by name in `Inventory.ideal` and not counted. Any other
element (a resistor, a native `M` MOSFET, a diode, ...) raises a ConfigError rather than being
dropped silently: this module only counts what it can size.

Instances named in `exclude` (top level of the subcircuit, names as written, case-insensitive)
are left out, e.g. a bias diode that an array shares between columns or a capacitor that models
a load rather than a drawn device; every excluded name must exist (so a renamed device cannot
silently escape the list).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from gaincell.errors import ConfigError

FET_MODEL = re.compile(r"^sky130_fd_pr__([np])fet_\w+$")
IDEAL_ELEMENTS = ("v", "i", "e", "f", "g", "h", "b")
"""SPICE element letters of ideal sources and controlled sources (not devices)."""
_SUFFIX = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "mil": 25.4e-6, "m": 1e-3, "u": 1e-6,
           "n": 1e-9, "p": 1e-12, "f": 1e-15, "a": 1e-18}
_NUMBER = re.compile(r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)(meg|mil|[tgkmunpfa])?[a-z]*$")
_MAX_DEPTH = 32


@dataclass(frozen=True)
class FetGroup:
    """`count` identical transistors: kind 'nmos' or 'pmos', width and length in um."""

    kind: str
    w_um: float
    l_um: float
    count: int


@dataclass(frozen=True)
class Inventory:
    """Devices of one subcircuit (nested instances expanded).

    fets: identical transistors grouped, in first-appearance order.
    capacitors_f: one entry per capacitor, farads.
    ideal: names (hierarchical, `Xa.vb`) of ideal sources found, not counted as devices.
    """

    fets: tuple[FetGroup, ...]
    capacitors_f: tuple[float, ...]
    ideal: tuple[str, ...] = ()

    @property
    def n_fets(self) -> int:
        """Number of transistors."""
        return sum(g.count for g in self.fets)

    def record(self, note: str) -> dict[str, Any]:
        """JSON-ready record: {"fets": [[kind, w_um, l_um, count], ...], "capacitors_f": [...],
        "note": note} (the `note` says what was counted and what was left out)."""
        return {"fets": [[g.kind, g.w_um, g.l_um, g.count] for g in self.fets],
                "capacitors_f": list(self.capacitors_f), "note": note}


def spice_number(text: str, where: str = "value") -> float:
    """A SPICE number with an optional scale suffix ('3e-12', '1.5p', '2u', '1meg') as a float."""
    m = _NUMBER.match(text.strip().lower())
    if not m:
        raise ConfigError(where, text, "a SPICE number (e.g. 3e-12, 1.5p, 2u)")
    return float(m.group(1)) * _SUFFIX.get(m.group(2) or "", 1.0)


def _logical_lines(netlist: str) -> list[str]:
    """Lines with comments removed and `+` continuations joined, lower case, `a = b` as `a=b`."""
    out: list[str] = []
    for raw in netlist.splitlines():
        line = re.split(r"\s[;$]|^[;$]", raw, maxsplit=1)[0].strip()
        if not line or line.startswith("*"):
            continue
        line = re.sub(r"\s*=\s*", "=", line.lower())
        if line.startswith("+"):
            if not out:
                raise ConfigError("netlist", raw, "a continuation line after an element line")
            out[-1] += " " + line[1:].strip()
        else:
            out.append(line)
    return out


def subckt_bodies(netlist: str) -> dict[str, list[str]]:
    """{subckt name (lower case): its element lines} of every `.subckt` block of a netlist."""
    bodies: dict[str, list[str]] = {}
    current: str | None = None
    for line in _logical_lines(netlist):
        tokens = line.split()
        if tokens[0] == ".subckt":
            if current is not None:
                raise ConfigError("netlist", line, f"no nested .subckt definition (inside {current!r})")
            if len(tokens) < 2:
                raise ConfigError("netlist", line, ".subckt with a name")
            current = tokens[1]
            if current in bodies:
                raise ConfigError("netlist", current, "one definition per subcircuit name")
            bodies[current] = []
        elif tokens[0] == ".ends":
            if current is None:
                raise ConfigError("netlist", line, ".ends after a .subckt")
            current = None
        elif current is not None and not tokens[0].startswith("."):
            bodies[current].append(line)
    if current is not None:
        raise ConfigError("netlist", current, "a .ends closing the subcircuit")
    return bodies


def _split(line: str) -> tuple[str, list[str], dict[str, str]]:
    """(instance name, positional tokens after the name, {param: value})."""
    tokens = line.split()
    params = dict(t.split("=", 1) for t in tokens[1:] if "=" in t)
    return tokens[0], [t for t in tokens[1:] if "=" not in t], params


def _multiplicity(name: str, params: dict[str, str]) -> int:
    m = params.pop("m", None) or params.pop("mult", None)
    if m is None:
        return 1
    value = spice_number(m, f"{name}.m")
    if value < 1 or value != int(value):
        raise ConfigError(f"{name}.m", m, "a positive integer multiplicity")
    return int(value)


def _micrometres(text: str, where: str) -> float:
    """A plain number of micrometres: the sky130 models scale w and l by 1e-6 themselves, so a
    scale suffix ('4u') would mean 4e-6 um."""
    if re.search(r"[a-z]$", text) and not re.search(r"e[+-]?\d+$", text):
        raise ConfigError(where, text, "a plain number in um (sky130 models apply the 1e-6 scale)")
    return spice_number(text, where)


def _fet(name: str, model: str, params: dict[str, str], count: int) -> FetGroup:
    kind = "nmos" if FET_MODEL.match(model).group(1) == "n" else "pmos"
    for key in ("w", "l"):
        if key not in params:
            raise ConfigError(f"{name}.{key}", None, f"w= and l= (um) on the {model} instance")
    nf = params.pop("nf", "1")
    if spice_number(nf, f"{name}.nf") != 1:
        raise ConfigError(f"{name}.nf", nf, "nf=1 (fingered devices are not sized here)")
    w, l = _micrometres(params.pop("w"), f"{name}.w"), _micrometres(params.pop("l"), f"{name}.l")
    if params:
        raise ConfigError(f"{name}.{sorted(params)[0]}", params[sorted(params)[0]], "only w, l, m, nf parameters")
    if not (w > 0 and l > 0):
        raise ConfigError(f"{name}.w/l", (w, l), "positive width and length (um)")
    return FetGroup(kind, w, l, count)


def _walk(bodies: dict[str, list[str]], name: str, mult: int, prefix: str, exclude: set[str],
          depth: int, fets: list[FetGroup], caps: list[float], ideal: list[str]) -> None:
    if depth > _MAX_DEPTH:
        raise ConfigError("subckt", name, f"nesting at most {_MAX_DEPTH} deep (recursive definition?)")
    for line in bodies[name]:
        inst, pos, params = _split(line)
        where = f"{prefix}{inst}"
        if inst in exclude:
            continue
        letter = inst[0]
        count = mult * _multiplicity(where, params)
        if letter == "x":
            if not pos:
                raise ConfigError(where, line, "a subcircuit or model name")
            callee = pos[-1]
            if FET_MODEL.match(callee):
                fets.append(_fet(where, callee, params, count))
            elif callee in bodies:
                _walk(bodies, callee, count, f"{where}.", set(), depth + 1, fets, caps, ideal)
            else:
                raise ConfigError(where, callee, "a subcircuit defined in the netlist or a sky130 nfet/pfet")
        elif letter == "c":
            value = params.pop("c", None) or (pos[2] if len(pos) >= 3 else None)
            if value is None:
                raise ConfigError(where, line, "a capacitance value")
            c_f = spice_number(value, where)
            if not c_f > 0:
                raise ConfigError(where, value, "a positive capacitance (F)")
            caps.extend([c_f] * count)
        elif letter in IDEAL_ELEMENTS:
            ideal.append(where)
        else:
            raise ConfigError(where, line, "a sky130 transistor (X line), capacitor or ideal source "
                                           "(other elements are not sized)")


def _grouped(fets: Iterable[FetGroup]) -> tuple[FetGroup, ...]:
    counts: dict[tuple[str, float, float], int] = {}
    for g in fets:
        key = (g.kind, g.w_um, g.l_um)
        counts[key] = counts.get(key, 0) + g.count
    return tuple(FetGroup(k, w, l, n) for (k, w, l), n in counts.items())


def subckt_inventory(netlist: str, name: str, exclude: Sequence[str] = ()) -> Inventory:
    """Devices of subcircuit `name` in `netlist` (nested instances expanded).

    exclude: instance names at the top level of `name` to leave out (must all exist).
    Raises ConfigError naming the instance for anything it cannot size.
    """
    bodies = subckt_bodies(netlist)
    key = name.lower()
    if key not in bodies:
        raise ConfigError("subckt", name, f"a subcircuit of the netlist ({', '.join(bodies) or 'none'})")
    skip = {x.lower() for x in exclude}
    names = {line.split()[0] for line in bodies[key]}
    absent = sorted(skip - names)
    if absent:
        raise ConfigError("exclude", absent[0], f"an instance of subcircuit {name!r}")
    fets: list[FetGroup] = []
    caps: list[float] = []
    ideal: list[str] = []
    _walk(bodies, key, 1, "", skip, 0, fets, caps, ideal)
    return Inventory(_grouped(fets), tuple(caps), tuple(ideal))
