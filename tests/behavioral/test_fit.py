"""Fits (MAC surface, retention, c2p, aCAM, mismatch), CSV import round trips, card building from
a characterization folder, and the `gaincell fit` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from behavioral.cards import card_from_dict, load_card
from behavioral.fit.acam import fit_acam, window
from behavioral.fit.build import build_card
from behavioral.fit.c2p import c2p_model, fit_c2p
from behavioral.fit.data import load_characterization, load_csv
from behavioral.fit.decay import fit_retention
from behavioral.fit.mac import fit_mac
from behavioral.fit.noise import fit_cell_mismatch
from behavioral.mac_model import PolyMacModel
from gaincell.cli import main as gaincell_main
from gaincell.errors import CardError, ConfigError
from gaincell.fileio import write_json, write_npz

REFERENCE_CSV = str(Path(__file__).resolve().parents[3] / "shared" / "data" / "reference_cell_iv.csv")
needs_reference = pytest.mark.skipif(not Path(REFERENCE_CSV).is_file(), reason=f"{REFERENCE_CSV} not present")
T_MAX = 15e-9
# a surface with input nonlinearity: I = (x + 0.2 x^2) * (2e-5 w + 1e-5 w^2 + 3e-5 w^3) amperes
TRUE = PolyMacModel(((0.0,), (0.0, 2e-5, 1e-5, 3e-5), (0.0, 4e-6, 2e-6, 6e-6)), 0.45, T_MAX, (0.0, 0.9))


def _grid():
    x, v = np.meshgrid(np.linspace(0, 1, 11), np.linspace(0, 0.9, 19), indexing="ij")
    return x, v


@needs_reference
def test_reference_table_fit_within_one_percent():
    t = load_csv(REFERENCE_CSV)
    card = build_card(tables=[t])
    fit = card["mac"]["fit"]
    print(f"reference table: {fit['family']}, held-out RMS {fit['heldout_rms_error_fs']:.4%} FS")
    assert fit["heldout_rms_error_fs"] <= 0.01
    # the least-squares line reproduces the authors' linear approximation (19.3 uA/V)
    assert card["mac"]["linear_slope_a_per_v"] == pytest.approx(19.3e-6, rel=0.02)


def test_mac_fit_recovers_input_nonlinearity():
    x, v = _grid()
    i = np.asarray(TRUE.current_a(x, v))
    fit = fit_mac(x, v, i, t_max_s=T_MAX, v_ref_v=0.45)
    assert 2 in fit.model.x_powers
    assert fit.info["heldout_rms_error_fs"] < 1e-6
    assert np.allclose(fit.model.current_a(x, v), i, atol=1e-12)


def test_csv_mac_round_trip(tmp_path):
    x, v = _grid()
    q = np.asarray(TRUE.charge_c(x, v))
    path = tmp_path / "mine.csv"
    rows = "\n".join(f"{a:.6g},{b:.6g},{c:.9e}" for a, b, c in zip(x.ravel(), v.ravel(), q.ravel()))
    path.write_text("# my cell\nX,V_STORE_V,charge_c\n" + rows + "\n")
    table = load_csv(path)
    assert table.kind == "mac"
    card = card_from_dict(build_card(tables=[table]))
    model = card.mac.model()
    assert np.max(np.abs(model.charge_c(x, v) - q)) / np.max(np.abs(q)) < 1e-5
    # a file outside the repository is recorded by its name (plus hash), never by a machine path
    assert card.provenance["csv_inputs"][path.name] == table.sha256
    assert str(tmp_path) not in json.dumps(card.to_dict())


def test_csv_errors_name_the_problem(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="csv columns"):
        load_csv(bad)
    bad.write_text("x,v_store_v,charge_c\n1,2,oops\n")
    with pytest.raises(ConfigError, match="numeric"):
        load_csv(bad)


@needs_reference
def test_retention_fit_recovers_tau(tmp_path):
    t = np.logspace(-6, -1, 80)
    vt = 0.45 + 0.4 * np.exp(-t / 3e-3)
    f = fit_retention(t, vt)
    assert f["tau_s"] == pytest.approx(3e-3, rel=1e-3)
    path = tmp_path / "ret.csv"
    path.write_text("time_s,v_store_v\n" + "\n".join(f"{a:.9e},{b:.9e}" for a, b in zip(t, vt)) + "\n")
    card = card_from_dict(build_card(tables=[load_csv(REFERENCE_CSV), load_csv(path)], token_period_s=1e-6))
    assert card.decay.tau_s == pytest.approx(3e-3, rel=1e-3)
    assert card.decay.per_token_factor == pytest.approx(np.exp(-1e-6 / 3e-3))


def test_c2p_fit():
    q = np.linspace(-0.2e-12, 2e-12, 60)
    w = c2p_model(q, 1.1e4, 0.05e-12, 15e-9)
    f = fit_c2p(q, w)
    assert f["slope_s_per_c"] == pytest.approx(1.1e4, rel=1e-3)
    assert f["q_sat_c"] == pytest.approx(0.05e-12 + 15e-9 / 1.1e4, rel=1e-3)
    assert f["heldout_rms_error_fs"] < 1e-3


def test_acam_fit():
    x = np.linspace(0, 0.9, 91)
    b = np.array([[0.2, 0.35], [0.4, 0.6], [0.5, 0.55]])
    m = 0.1 + 0.7 * window(x[None, :], b[:, :1], b[:, 1:], 120.0)
    f = fit_acam(x, b, m)
    assert f["steepness_per_v"] == pytest.approx(120.0, rel=0.02)
    assert f["heldout_rms_error_fs"] < 1e-3


def test_mismatch_fit():
    rng = np.random.default_rng(0)
    base = np.asarray(TRUE.charge_c(*_grid()))
    samples = (1 + 0.03 * rng.standard_normal(200))[:, None, None] * base
    f = fit_cell_mismatch(samples)
    assert f["mismatch_sigma_rel"] == pytest.approx(0.03, rel=0.15)


def _fake_characterization(root):
    """A folder in the characterization schema (docs/INTERFACES.md) with known physics."""
    x, v = np.linspace(0, 1, 11), np.linspace(0, 0.9, 19)
    X, V = np.meshgrid(x, v, indexing="ij")
    q = np.asarray(TRUE.charge_c(X, V))
    t = np.logspace(-7, -1, 60)
    ret = np.stack([np.stack([0.45 + 0.4 * np.exp(-t / tau) for tau in (2e-3, 1e-3)]) for _ in range(2)])
    ret[1] = 0.45 + 0.4 * np.exp(-t[None] / 50.0)
    rng = np.random.default_rng(1)
    mc = (1 + 0.02 * rng.standard_normal(30))[:, None, None] * q
    folder = root / "gaincell"
    write_npz(folder / "data.npz", mac_x=x, mac_v_store_v=v, mac_charge_c=q, ret_time_s=t,
              ret_v_store_v=ret, mc_x=x, mc_v_store_v=v, mc_charge_c=mc)
    write_json(folder / "result.json", {
        "schema": "gaincell.characterization/1", "cell": "gaincell",
        "config": {"cell": {"vdd_v": 0.9}},
        "provenance": {"ngspice": "ngspice-39", "corner": "tt", "temperature_c": 27, "seed": 0},
        "results": {"mac": {"t_max_s": T_MAX, "full_scale_c": float(np.abs(q).max())},
                    "retention": {"devices": ["si", "igzo"], "temperatures_c": [27, 85]},
                    "read": {"energy_per_mac_j": 2e-15}, "write": {"write_time_s": 3e-9, "write_energy_j": 5e-15}},
        "data_file": "data.npz"})
    return folder


def test_build_from_characterization_folder(tmp_path):
    folder = _fake_characterization(tmp_path)
    c = load_characterization(folder)
    card = card_from_dict(build_card(characterizations={c.cell: c}, token_period_s=1e-6, retention_device="si"))
    assert "SPICE" in card.mac.source and card.mac.fit["heldout_rms_error_fs"] < 1e-6
    assert card.decay.tau_s == pytest.approx(2e-3, rel=1e-2) and card.decay.temperature_c == 27
    assert card.noise.mismatch_sigma_rel == pytest.approx(0.02, rel=0.3)
    assert card.energy.mac_read_j == 2e-15 and "SPICE" in card.energy.sources["mac_read_j"]
    assert card.latency.write_time_s == 3e-9
    igzo = card_from_dict(build_card(characterizations={c.cell: c}, token_period_s=1e-6, retention_device="igzo"))
    assert igzo.decay.tau_s == pytest.approx(50.0, rel=1e-2)
    with pytest.raises(ConfigError, match="retention_device"):
        build_card(characterizations={c.cell: c}, retention_device="nope")


def test_bad_characterization_folder(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "result.json").write_text(json.dumps({"schema": "other/1"}))
    with pytest.raises(CardError, match="schema"):
        load_characterization(folder)


@needs_reference
def test_gaincell_fit_command(tmp_path, capsys):
    out = tmp_path / "fit"
    rc = gaincell_main(["fit", "--csv", REFERENCE_CSV, "--out", str(out)])
    assert rc == 0
    card = load_card(out / "card.json")
    assert card.mac.fit["heldout_rms_error_fs"] <= 0.01
    assert "held-out RMS error" in capsys.readouterr().out
    folder = _fake_characterization(tmp_path / "chars")
    rc = gaincell_main(["fit", "--characterization", str(folder), "--token-period-s", "1e-6",
                        "--out", str(tmp_path / "fit2")])
    assert rc == 0 and "SPICE" in load_card(tmp_path / "fit2" / "card.json").mac.source
    assert gaincell_main(["fit", "--csv", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2


def test_match_line_combine_chosen_by_data():
    from behavioral.fit.acam import fit_match_line
    n = np.arange(9)
    geometric = 0.1 + 0.8 * 0.55**n
    linear = np.maximum(0.9 - 0.1 * n, 0.1)
    assert fit_match_line(n, geometric)["combine"] == "product"
    both = fit_match_line(n, linear, emulated=("product", "sum"))
    assert both["combine"] == both["best_fit"] == "sum"
    # the card keeps a rule the attention emulates, and says which one fits better
    only = fit_match_line(n, linear)
    assert only["best_fit"] == "sum" and only["combine"] == "product"
    assert only["rms_error_fs"] == only["candidates"]["product"] > only["candidates"]["sum"]


def test_build_with_c2p_and_acam_folders(tmp_path):
    gc = load_characterization(_fake_characterization(tmp_path))
    q = np.linspace(-0.1e-12, 1.6e-12, 40)
    c2p_dir = tmp_path / "c2p"
    write_npz(c2p_dir / "data.npz", c2p_charge_c=q, c2p_pulse_width_s=c2p_model(q, 12500.0, 0.0, 15e-9),
              mc_offset_c=np.array([1e-15, -2e-15, 0.5e-15, 0.0]), mc_gain_rel=np.array([1.01, 0.99, 1.0, 1.02]))
    write_json(c2p_dir / "result.json", {"schema": "gaincell.characterization/1", "cell": "c2p", "provenance": {},
                                         "results": {"c2p": {"energy_per_conversion_j": 1e-13, "latency_s": 2e-9}},
                                         "data_file": "data.npz"})
    x = np.linspace(0, 0.9, 91)
    b = np.array([[0.2, 0.35], [0.4, 0.6]])
    ac_dir = tmp_path / "acam"
    write_npz(ac_dir / "data.npz", acam_v_in_v=x, acam_bounds_v=b + 0.05, acam_window_target_v=b,
              acam_match_v=0.9 * window(x[None, :], b[:, :1], b[:, 1:], 150.0),
              acam_row_n_outside=np.arange(7), acam_row_ml_v=0.05 + 0.85 * 0.5 ** np.arange(7))
    write_json(ac_dir / "result.json", {"schema": "gaincell.characterization/1", "cell": "acam", "provenance": {},
                                        "results": {"acam": {"energy_per_search_j": 3e-15}}, "data_file": "data.npz"})
    chars = {c.cell: c for c in (gc, load_characterization(c2p_dir), load_characterization(ac_dir))}
    card = card_from_dict(build_card(characterizations=chars, token_period_s=1e-6))
    assert card.c2p.q_sat_c == pytest.approx(15e-9 / 12500.0, rel=1e-3)
    assert card.c2p.s_sat_qk_a == pytest.approx(card.c2p.q_sat_c / card.mac.t_max_s, rel=1e-9)
    assert card.noise.c2p_offset_sigma_c == pytest.approx(np.std([1e-15, -2e-15, 0.5e-15, 0.0], ddof=1))
    assert card.acam.steepness_per_v == pytest.approx(150.0, rel=0.02) and card.acam.combine == "product"
    assert card.energy.c2p_conversion_j == 1e-13 and card.energy.acam_search_j == 3e-15
    assert card.latency.c2p_latency_s == 2e-9
    assert card.noise.acam_edge_sigma_v is None  # no Monte Carlo edges: not characterized
    # a c2p folder without results.inventory (written before inventories existed): no devices
    assert card.area.c2p_devices is None and "not characterized" in card.area.sources["c2p_devices"]
    # a malformed inventory names the folder's result.json and the entry
    rec = json.loads((c2p_dir / "result.json").read_text())
    rec["results"]["inventory"] = {"c2p": {"fets": [["nmos", 0.42, 0.15, 1.5]], "capacitors_f": []}}
    write_json(c2p_dir / "result.json", rec)
    chars["c2p"] = load_characterization(c2p_dir)
    with pytest.raises(ConfigError) as exc:
        build_card(characterizations=chars, token_period_s=1e-6)
    assert exc.value.field == "results.inventory.c2p.fets[0]" and "result.json" in str(exc.value)


def test_ktc_noise_formula():
    from behavioral.fit.noise import ktc_noise_v

    # sqrt(1.380649e-23 J/K * 300.15 K / 10 fF) = 0.6437 mV
    assert ktc_noise_v(10e-15, 27.0) == pytest.approx(6.4374e-4, rel=1e-4)
    assert ktc_noise_v(40e-15, 27.0) == pytest.approx(ktc_noise_v(10e-15, 27.0) / 2)
    with pytest.raises(ConfigError, match="c_store_f"):
        ktc_noise_v(0.0, 27.0)


def test_read_noise_fit_checks_band_and_sigmas():
    from behavioral.fit.noise import fit_read_noise

    v = np.linspace(0, 0.9, 3)
    i = np.array([-1e-5, 0.0, 1e-5])
    s = np.array([1e-16, 3e-17, 2e-16])
    f = fit_read_noise(s, v, i, full_scale_a=1e-5, t_max_s=T_MAX, f_lo_hz=1e3, f_hi_hz=1 / (2 * T_MAX))
    q_fs = 1e-5 * T_MAX
    assert f["read_noise_rel"] == pytest.approx(np.sqrt(np.mean((s / q_fs) ** 2)))
    assert f["read_noise_rel_max"] == pytest.approx(2e-16 / q_fs)
    with pytest.raises(ConfigError, match="noise band"):  # integrated for another read window
        fit_read_noise(s, v, i, full_scale_a=1e-5, t_max_s=T_MAX, f_lo_hz=1e3, f_hi_hz=1 / (4 * T_MAX))
    with pytest.raises(ConfigError, match="noise_sigma_charge_c"):
        fit_read_noise(np.array([1e-16, 0.0, np.nan]), v, i, full_scale_a=1e-5, t_max_s=T_MAX, f_lo_hz=1e3,
                       f_hi_hz=1 / (2 * T_MAX))


def test_noise_from_separate_folder_must_match_the_cell(tmp_path, fake_folders):
    from behavioral.fit.build import build_card

    gc = load_characterization(_fake_characterization(tmp_path / "plain"))  # no noise arrays
    assert card_from_dict(build_card(characterizations={"gaincell": gc})).noise.read_noise_rel is None
    noisy = load_characterization(fake_folders["gaincell"])
    n_dir = tmp_path / "gaincell_noise"
    arrays = {k: v for k, v in noisy.arrays.items() if k.startswith("noise_")}
    write_npz(n_dir / "data.npz", **arrays)
    result = {"schema": "gaincell.characterization/1", "cell": "gaincell_noise", "provenance": {},
              "config": {"cell": {"vdd_v": 0.9}}, "results": {"noise": noisy.result["results"]["noise"]},
              "data_file": "data.npz"}
    write_json(n_dir / "result.json", result)
    card = card_from_dict(build_card(characterizations={"gaincell": gc, "gaincell_noise": load_characterization(n_dir)}))
    assert card.noise.read_noise_rel > 0 and "gaincell_noise" in card.noise.source
    result["config"] = {"cell": {"vdd_v": 0.9, "c_store_f": 20e-15}}  # another cell: refused
    write_json(n_dir / "result.json", result)
    with pytest.raises(ConfigError, match="c_store_f"):
        build_card(characterizations={"gaincell": gc, "gaincell_noise": load_characterization(n_dir)})


def test_acam_edge_mismatch_fitted_from_monte_carlo_arrays(tmp_path):
    """noise.acam_edge_sigma_v = RMS of the sample sigmas of acam_mc_edge_lo_v / _hi_v (NaN skipped)."""
    from behavioral.circuit_cards import circuit_card_from_dict
    from behavioral.fit.build import build_cards
    from behavioral.fit.noise import fit_acam_edge_mismatch

    rng = np.random.default_rng(3)
    lo, hi = 0.3 + 0.04 * rng.standard_normal(200), 0.6 + 0.02 * rng.standard_normal(200)
    lo[5] = np.nan  # an edge not found: the pair is skipped
    ok = np.isfinite(lo)
    expect = np.sqrt((np.std(lo[ok], ddof=1) ** 2 + np.std(hi[ok], ddof=1) ** 2) / 2)
    f = fit_acam_edge_mismatch(lo, hi)
    assert f["acam_edge_sigma_v"] == pytest.approx(expect, rel=1e-12) and f["n_samples"] == 199
    assert f["centre_sigma_v"] == pytest.approx(np.std((lo[ok] + hi[ok]) / 2, ddof=1), rel=1e-12)
    with pytest.raises(ConfigError, match="acam_mc_edge_lo_v"):
        fit_acam_edge_mismatch(lo[:2], hi[:2])

    gc = load_characterization(_fake_characterization(tmp_path))
    x = np.linspace(0, 0.9, 91)
    b = np.array([[0.2, 0.35], [0.4, 0.6]])
    ac_dir = tmp_path / "acam"
    write_npz(ac_dir / "data.npz", acam_v_in_v=x, acam_bounds_v=b, acam_match_v=0.9 * window(x[None, :], b[:, :1],
              b[:, 1:], 150.0), acam_mc_edge_lo_v=lo, acam_mc_edge_hi_v=hi)
    write_json(ac_dir / "result.json", {"schema": "gaincell.characterization/1", "cell": "acam", "provenance": {},
                                        "results": {}, "data_file": "data.npz"})
    chars = {"gaincell": gc, "acam": load_characterization(ac_dir)}
    head, circuits = build_cards(characterizations=chars, token_period_s=1e-6)
    card = card_from_dict(head)
    assert card.noise.acam_edge_sigma_v == pytest.approx(expect, rel=1e-12)
    assert "aCAM window mismatch: SPICE Monte Carlo" in card.noise.source and "acam_mc_edge_hi_v" in card.noise.source
    assert card.noise.fit["acam_mismatch"]["n_samples"] == 199
    assert circuits["acam"]["mismatch"]["edge_sigma_v"] == card.noise.acam_edge_sigma_v
    # an acam circuit card written before the mismatch section existed still loads
    old = dict(circuits["acam"])
    old.pop("mismatch")
    assert "mismatch" not in circuit_card_from_dict(old).sections
