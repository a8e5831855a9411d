# gaincell: the two set-up commands are `make demo` and `make test` (see README.md).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

$(STAMP): pyproject.toml
	@bash scripts/setup.sh "$(PY)" "$(VENV)"
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/gaincell demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python benchmarks/characterize.py
	$(BIN)/python benchmarks/fidelity.py
	$(BIN)/python benchmarks/attention.py --threads 1
	$(BIN)/python benchmarks/co_design.py --base-steps 300 --linear-steps 60 --gaincell-steps 60 --acam-steps 10
	$(BIN)/python benchmarks/report.py

clean:
	rm -rf runs .pytest_cache
