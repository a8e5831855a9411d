"""Fits that turn characterization results or user CSV data into device-card sections
(scipy.optimize; model families chosen by held-out error): `mac`, `decay`, `c2p`, `acam`,
`noise`; `data` reads the inputs and `build.build_card` assembles a validated card."""
