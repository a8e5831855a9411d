"""Errors raised in ngspice worker processes reach the parent intact (they are pickled)."""

import pickle

import pytest

from gaincell.errors import CardError, ConfigError, GaincellError, SimulationError


@pytest.mark.parametrize("err", [
    SimulationError("net1", "timestep too small", "M1 a b c d nfet"),
    ConfigError("n_rows", 0, "1..4096", "cfg.json"),
    CardError("card.json", "energy.pwm_pulse_j", "missing"),
    GaincellError("plain"),
])
def test_error_pickles_with_its_message(err):
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
