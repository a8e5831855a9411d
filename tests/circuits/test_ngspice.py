"""The ngspice runner: real ngspice, real sky130 models."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from circuits.ngspice import SpiceJob, job_key, run_job, run_jobs
from circuits.sky130_models import lib_line
from gaincell.cli import main as cli_main
from gaincell.errors import ConfigError, SimulationError

RC_NETLIST = """* RC low-pass
V1 in 0 DC 0 PULSE(0 1 0 1p 1p 1 2)
R1 in out 1k
C1 out 0 1n
.tran 10n 5u
.end
"""


def _read_pair(v_in: float = 0.9) -> str:
    return f"""* read pair
{lib_line('tt')}
Vin rin 0 {v_in}
Vinb rinb 0 {0.9 - v_in}
Vbl bl 0 0.45
Vs sn 0 0.45
Xn bl sn rinb rinb sky130_fd_pr__nfet_01v8 w=0.42 l=0.15
Xp bl sn rin rin sky130_fd_pr__pfet_01v8 w=0.84 l=0.15
.dc Vs 0 0.9 0.05
.end
"""


def test_rc_transient_matches_analytic(tmp_path: Path) -> None:
    res = run_job(SpiceJob("rc", RC_NETLIST), cache_dir=tmp_path)
    t, v = res.vec("time"), res.vec("v(out)")
    tau = 1e3 * 1e-9
    expected = 1.0 - np.exp(-t / tau)
    assert np.max(np.abs(v - expected)) < 0.02


def test_sky130_read_pair_current_grows_with_stored_voltage(tmp_path: Path) -> None:
    res = run_job(SpiceJob("pair", _read_pair()), cache_dir=tmp_path)
    # current into the bitline source = current sunk by the cell; sign: grows with V_store
    i_cell = res.vec("vbl#branch")
    sunk = -i_cell
    assert np.all(np.diff(sunk) > 0)
    assert sunk[0] < -1e-6 and sunk[-1] > 1e-6  # signed, microampere scale


def test_cache_hit_is_fast_and_identical(tmp_path: Path) -> None:
    job = SpiceJob("rc", RC_NETLIST)
    first = run_job(job, cache_dir=tmp_path)
    t0 = time.perf_counter()
    second = run_job(job, cache_dir=tmp_path)
    assert second.cached and not first.cached
    assert time.perf_counter() - t0 < 1.0
    np.testing.assert_array_equal(first.vec("v(out)"), second.vec("v(out)"))


def test_cache_key_tracks_netlist_and_included_files(tmp_path: Path) -> None:
    inc = tmp_path / "model.inc"
    inc.write_text(".param rval=1k\n")
    net = f"* inc\n.include {inc}\nV1 a 0 1\nR1 a 0 {{rval}}\n.op\n.end\n"
    k1 = job_key(SpiceJob("a", net))
    inc.write_text(".param rval=2k\n")
    k2 = job_key(SpiceJob("a", net))
    assert k1 != k2
    assert job_key(SpiceJob("a", net, seed=1)) != k2


def test_parallel_workers_keep_order(tmp_path: Path) -> None:
    jobs = [SpiceJob(f"r{k}", RC_NETLIST.replace("R1 in out 1k", f"R1 in out {k}k")) for k in (1, 2, 3)]
    results = run_jobs(jobs, workers=2, cache_dir=tmp_path, progress=False)
    finals = [r.vec("v(out)")[np.searchsorted(r.vec("time"), 1e-6)] for r in results]
    assert finals[0] > finals[1] > finals[2]


def test_several_commands_share_one_load(tmp_path: Path) -> None:
    job = SpiceJob("pair2", _read_pair(0.9), commands=("run", "alter vin dc=0.6", "alter vinb dc=0.3", "run"))
    res = run_job(job, cache_dir=tmp_path)
    assert [k for k, _ in res.plots] == ["dc", "dc"]
    full, reduced = -res.vec("vbl#branch", 0), -res.vec("vbl#branch", 1)
    assert abs(full[-1]) > abs(reduced[-1])


@pytest.mark.parametrize(
    "bad, fragment",
    [
        (lambda n: n.replace("nfet_01v8 w", "nfet_01v9 w"), "unknown subckt"),
        (lambda n: n.replace(".dc Vs 0 0.9 0.05", ".dc Vq 0 0.9 0.05"), "vq"),
        (lambda n: n.replace("Vbl bl 0 0.45", "Vbl bl 0 0.45 foo"), "foo"),
    ],
)
def test_malformed_netlists_raise_naming_netlist_and_reason(tmp_path: Path, bad, fragment) -> None:
    with pytest.raises(SimulationError) as info:
        run_job(SpiceJob("broken.cir", bad(_read_pair())), cache=False, cache_dir=tmp_path)
    msg = str(info.value)
    assert "broken.cir" in msg
    assert fragment in msg.lower()


def test_netlist_without_analysis_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SimulationError, match="not started"):
        run_job(SpiceJob("noanalysis", "* x\nR1 a 0 1k\nV1 a 0 1\n.end\n"), cache=False, cache_dir=tmp_path)


def test_unknown_corner_names_the_field() -> None:
    with pytest.raises(ConfigError, match="corner"):
        lib_line("typical")


def test_simulate_cli_writes_csv_and_npz(tmp_path: Path) -> None:
    net = tmp_path / "rc.cir"
    net.write_text(RC_NETLIST)
    out = tmp_path / "out"
    assert cli_main(["simulate", str(net), "--out", str(out)]) == 0
    header = (out / "tran1.csv").read_text().splitlines()[0].split(",")
    assert "v(out)" in header and "time" in header
    with np.load(out / "vectors.npz") as data:
        assert any(k.endswith("v(out)") for k in data.files)


def test_simulate_cli_missing_file_is_clear(tmp_path: Path, capsys) -> None:
    assert cli_main(["simulate", str(tmp_path / "nope.cir")]) == 2
    assert "nope.cir" in capsys.readouterr().err


def test_missing_libngspice_names_the_debian_packages(monkeypatch) -> None:
    from PySpice.Spice.NgSpice.Shared import NgSpiceShared

    from circuits.ngspice import SpiceEngine
    from gaincell.errors import SimulatorMissingError

    def _no_library(*args, **kwargs):
        raise OSError("cannot load library 'libngspice.so'")

    monkeypatch.setattr(NgSpiceShared, "new_instance", classmethod(lambda cls, *a, **k: _no_library()))
    with pytest.raises(SimulatorMissingError, match="libngspice0-dev"):
        SpiceEngine()


def test_simulate_relocates_sky130_library_of_another_checkout(tmp_path: Path) -> None:
    moved = _read_pair().replace(
        lib_line("tt"),
        ".lib /elsewhere/.venv/sky130/src/sky130_fd_pr/combined_models/sky130.lib.spice tt",
    )
    net = tmp_path / "moved.cir"
    net.write_text(moved)
    assert cli_main(["simulate", str(net), "--out", str(tmp_path / "o")]) == 0
    assert (tmp_path / "o" / "dc1.csv").is_file()


def test_monte_carlo_seed_reproducible_in_one_worker():
    """The same seed gives the same AGAUSS draws whatever ran before in the process (ngspice's
    `set rndseed` did not reseed when the value was unchanged); other seeds differ."""
    from circuits.ngspice import SpiceJob, engine

    net = "\n".join(["* seeded draws", ".param a=agauss(0,1,1)", ".param b=agauss(0,1,1)",
                     "v1 n1 0 {a}", "v2 n2 0 {b}", "r1 n1 0 1k", "r2 n2 0 1k", ".op", ".end", ""])
    eng = engine()

    def draw(seed):
        p = eng.run(SpiceJob("seeded", net, seed=seed)).plot(-1)
        return float(p["v(n1)"][0].real), float(p["v(n2)"][0].real)

    first = [draw(s) for s in (0, 1, 0)]
    assert first[0] == first[2] == draw(0), "seed 0 must give the same draws every time"
    assert first[0] != first[1] and first[0][0] != first[0][1]


def test_prepare_netlist_prunes_models_and_sets_one_thread():
    from circuits.ngspice import THREADS_OPTION, prepare_netlist
    from circuits.sky130_models import lib_line

    body = ["Xm1 d g 0 0 sky130_fd_pr__nfet_01v8 w=1 l=0.15", "vd d 0 0.9", "vg g 0 0.9", ".op", ".end", ""]
    net = "\n".join(["* prune me", lib_line("tt")] + body)
    out = prepare_netlist(net)
    lines = out.splitlines()
    assert lines[0] == "* prune me" and lines[1] == THREADS_OPTION
    assert ".lib" not in out.lower().split("* sky130 models pruned")[0]  # the library card is replaced
    assert "sky130_fd_pr__nfet_01v8__w1_l0p15" in out
    # a netlist that sets its own thread count keeps it; W/L as an expression keeps the full library
    own = "\n".join(["* own", ".options num_threads=4", lib_line("tt"),
                     "Xm1 d g 0 0 sky130_fd_pr__nfet_01v8 w={wn} l=0.15", ".param wn=1"] + body[1:])
    kept = prepare_netlist(own)
    assert THREADS_OPTION not in kept and lib_line("tt") in kept
