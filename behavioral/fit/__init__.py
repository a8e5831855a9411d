"""Fits that turn characterization results or user CSV data into device cards (scipy.optimize;
model families chosen by held-out error): `mac`, `decay`, `c2p`, `acam`, `noise` fit the
models; `data` reads the inputs; `circuits` builds one card per characterized circuit and
`build.build_cards` the combined head card from them."""
