"""Read noise of the gain cell from ngspice `.noise` (quick grid, real simulator)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from circuits.characterize import gaincell_cell as gc


@pytest.fixture(scope="module")
def noise_result(tmp_path_factory) -> tuple[dict, dict]:
    out = tmp_path_factory.mktemp("gaincell_noise")
    gc.characterize_noise(out, seed=0, workers=1, quick=True)
    record = json.loads((out / "result.json").read_text())
    with np.load(out / record["data_file"]) as data:
        arrays = {k: data[k] for k in data.files}
    assert (out / "noise.png").is_file()
    return record, arrays


def test_noise_sigma_positive_finite_and_band_stated(noise_result) -> None:
    record, a = noise_result
    n = record["results"]["noise"]
    assert record["cell"] == "gaincell_noise"
    sigma = a["noise_sigma_charge_c"]
    assert sigma.shape == a["noise_v_store_v"].shape == a["noise_current_on_a"].shape
    assert np.all(np.isfinite(sigma)) and np.all(sigma > 0)
    t_max = record["config"]["read"]["t_max_s"]
    assert n["f_hi_hz"] == pytest.approx(1 / (2 * t_max)) and n["f_lo_hz"] == 1e3
    # a read charge noise well below the cell's full scale, but not vanishing
    assert 1e-6 < n["sigma_charge_rel_max"] < 1e-1
    psd = a["noise_psd_on_a2_per_hz"]
    assert psd.shape == (sigma.size, a["noise_freq_hz"].size) and np.all(psd > 0)


def test_noise_grows_with_read_current(noise_result) -> None:
    """Each branch of the push-pull pair (PMOS below VDD/2, NMOS above) gets noisier as its
    current grows; an idle cell (read lines at VDD/2, no drain current, no flicker) is quieter
    than the same cell during a pulse."""
    _, a = noise_result
    v, i, s = a["noise_v_store_v"], np.abs(a["noise_current_on_a"]), a["noise_sigma_charge_c"]
    mid = 0.5 * v[-1]
    for side in (v <= mid + 1e-9, v >= mid - 1e-9):
        order = np.argsort(i[side])
        assert np.all(np.diff(s[side][order]) > 0), (i[side], s[side])
    assert np.all(a["noise_sigma_charge_idle_c"] < s)
    # flicker noise: the on-state spectrum falls with frequency at the low end
    f, psd = a["noise_freq_hz"], a["noise_psd_on_a2_per_hz"]
    k = int(np.argmax(i))
    assert psd[k, np.argmin(np.abs(f - 1e3))] > 10 * psd[k, np.argmin(np.abs(f - 1e8))]


def test_integrate_psd_matches_closed_form() -> None:
    f = np.logspace(2, 10, 81)
    white, k = 2e-24, 3e-19  # A^2/Hz and A^2 (flicker K/f)
    got = gc.integrate_psd(f, white + k / f, 1e3, 1e7)
    assert got == pytest.approx(white * (1e7 - 1e3) + k * np.log(1e4), rel=1e-4)
    with pytest.raises(ValueError):
        gc.integrate_psd(f, white + k / f, 10.0, 1e7)
