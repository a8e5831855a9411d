"""Exceptions shared by every gaincell layer. Each names the file, field or value at fault."""

from __future__ import annotations


class GaincellError(Exception):
    """Base class of every error gaincell raises on purpose.

    Subclasses with their own constructor record its arguments in `_init_args`, so the error
    survives pickling (a worker process's error reaches the parent with its own message).
    """

    def __reduce__(self):
        return (self.__class__, getattr(self, "_init_args", self.args))


class ConfigError(GaincellError, ValueError):
    """A configuration value is missing or outside its allowed range.

    The message names the field (and the file, when one was read).
    """

    def __init__(self, field: str, value: object, allowed: str, source: str | None = None):
        self._init_args = (field, value, allowed, source)
        where = f"{source}: " if source else ""
        super().__init__(f"{where}invalid value for '{field}': {value!r} (allowed: {allowed})")
        self.field = field
        self.value = value
        self.allowed = allowed
        self.source = source


class SimulatorMissingError(GaincellError, RuntimeError):
    """ngspice or its shared library is not installed."""


class SimulationError(GaincellError, RuntimeError):
    """ngspice rejected a netlist or failed during an analysis.

    Attributes name the netlist, the offending line (when ngspice gave one) and ngspice's message.
    """

    def __init__(self, netlist: str, message: str, line: str | None = None):
        self._init_args = (netlist, message, line)
        loc = f", line: {line!r}" if line else ""
        super().__init__(f"ngspice failed on netlist '{netlist}'{loc}: {message}")
        self.netlist = netlist
        self.line = line
        self.ngspice_message = message


class CardError(GaincellError, ValueError):
    """A device card is malformed: names the file and the field."""

    def __init__(self, path: str, field: str, problem: str):
        self._init_args = (path, field, problem)
        super().__init__(f"device card '{path}': field '{field}': {problem}")
        self.path = path
        self.field = field
