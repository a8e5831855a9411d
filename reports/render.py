"""Render a report (a list of blocks) as Markdown and as one self-contained HTML page.

Blocks: `H(level, text)`, `P(text)`, `Table(headers, rows)`, `Image(name, png, caption)`.
Markdown links images as files under `plots/`; HTML embeds them as base64 PNG.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass
from typing import Sequence, Union

_PREFIXES = [(1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "u"), (1e-3, "m"), (1.0, ""),
             (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T")]


def si(value: float | None, unit: str, digits: int = 3) -> str:
    """'6.15 nJ' style text of a value in SI units (unit 'm^2' is shown in mm^2 or um^2)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "m^2":
        mm2 = value * 1e6
        return f"{mm2:.{digits}g} mm^2" if mm2 >= 1e-3 else f"{value * 1e12:.{digits}g} um^2"
    if unit in ("x", ""):
        if abs(value) >= 1e7:
            return f"{value:.{digits}g}"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.{digits}g}"
    if value == 0:
        return f"0 {unit}"
    scale, prefix = _PREFIXES[0]
    for s, p in _PREFIXES:
        if abs(value) >= s:
            scale, prefix = s, p
    return f"{value / scale:.{digits}g} {prefix}{unit}"


@dataclass(frozen=True)
class H:
    level: int
    text: str


@dataclass(frozen=True)
class P:
    text: str


@dataclass(frozen=True)
class Table:
    headers: Sequence[str]
    rows: Sequence[Sequence[str]]


@dataclass(frozen=True)
class Image:
    name: str
    png: bytes
    caption: str


Block = Union[H, P, Table, Image]


def to_markdown(blocks: Sequence[Block]) -> str:
    """Markdown text; images refer to `plots/<name>.png`."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, H):
            out.append("#" * b.level + " " + b.text)
        elif isinstance(b, P):
            out.append(b.text)
        elif isinstance(b, Table):
            out.append("| " + " | ".join(b.headers) + " |")
            out.append("|" + "---|" * len(b.headers))
            out.extend("| " + " | ".join(str(c).replace("|", "/") for c in r) + " |" for r in b.rows)
        elif isinstance(b, Image):
            out.append(f"![{b.caption}](plots/{b.name}.png)\n\n*{b.caption}*")
        out.append("")
    return "\n".join(out)


_CSS = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;line-height:1.4}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}"
        "td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}th{background:#eee}"
        "img{max-width:100%}figcaption{font-style:italic;color:#444}")


def to_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page (plots embedded as data: URIs)."""
    e = html.escape
    parts = [f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, H):
            lv = min(max(b.level, 1), 6)
            parts.append(f"<h{lv}>{e(b.text)}</h{lv}>")
        elif isinstance(b, P):
            parts.append(f"<p>{e(b.text)}</p>")
        elif isinstance(b, Table):
            head = "".join(f"<th>{e(h)}</th>" for h in b.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in b.rows)
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif isinstance(b, Image):
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(f"<figure><img alt=\"{e(b.caption)}\" src=\"data:image/png;base64,{data}\">"
                         f"<figcaption>{e(b.caption)}</figcaption></figure>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
