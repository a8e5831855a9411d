"""gaincell: analog circuit co-design and simulation suite for in-memory computing with gain cells.

This package holds what every layer shares: errors, provenance records, atomic file writes and
the `gaincell` command line. The layers themselves are the top-level packages `circuits`
(SPICE), `behavioral` (device cards, torch primitives), `co_design` (GPT-2 emulation) and
`reports` (area / latency / energy).
"""

__version__ = "0.1.0"
