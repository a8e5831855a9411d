"""SPICE layer: netlist builders, the ngspice runner (PySpice shared library), sweeps,
Monte Carlo and characterization of gain cells, arrays and their periphery."""
