# Two commands (see README): `make demo` sets up and runs the verbalizer on the bundled samples;
# `make test` sets up and runs the whole test suite. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint clean

$(STAMP): pyproject.toml setup.py constraints.txt tools/install_system_deps.sh
	bash tools/install_system_deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	# hydra/launcher=ray_cluster: the plugin pins cloudpickle<3, joblib 1.6 needs >=3; its local launcher needs
	# only ray and hydra-core, so it goes in without its own requirements.
	$(BIN)/python -m pip install --quiet -c constraints.txt --no-deps hydra-ray-launcher
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ava.verbalize output_dir=outputs/demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check ava kernels tests benchmarks tools

# make bench-verbalize, bench-dedup, bench-lora-linear, ...: benchmarks/bench_<name>.py (dashes → underscores)
bench-%: $(STAMP)
	$(BIN)/python benchmarks/bench_$(subst -,_,$*).py

clean:
	rm -rf $(VENV) outputs multirun
