"""The one Definitions object: assets, checks, resources, jobs and executor."""

from __future__ import annotations

import dagster as dg

from wavecoder_assets import presets
from wavecoder_assets.assets import coreset, corpus, embed, evaluate, generate, publish, strategies, train
from wavecoder_assets.resources import resources_for

# One module per stage, in pipeline order; each holds thin @asset / @asset_check wiring.
STAGE_MODULES = [corpus, embed, coreset, generate, strategies, publish, train, evaluate]

all_assets = dg.load_assets_from_modules(STAGE_MODULES)
all_checks = dg.load_asset_checks_from_modules(STAGE_MODULES)

# The main job: every asset on the embedded defaults. The paper job: the same graph at the paper's sizes.
wavecoder_job = dg.define_asset_job("wavecoder", selection=dg.AssetSelection.all())
# Hours long: no run-monitoring time limit (dagster.yaml's max_runtime_seconds would fail it after 3 h).
paper_job = dg.define_asset_job("wavecoder_paper", selection=dg.AssetSelection.all(), config=presets.paper_run_config(),
                                tags={"dagster/max_runtime": "0"})

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[wavecoder_job, paper_job],
    resources=resources_for(),
    # 2 cores and a local LLM server: steps run one after another in one process, so resources
    # (like the llama.cpp server) start once per run instead of once per step.
    executor=dg.in_process_executor,
)
