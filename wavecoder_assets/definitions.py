"""The one Definitions object: assets, checks, resources, jobs and executor. `python -m wavecoder_assets.run [JOB]`
brings a job's assets up to date from the command line (what `make run` does)."""

from __future__ import annotations

import dagster as dg

from wavecoder_assets import presets
from wavecoder_assets.assets import coreset, corpus, embed, evaluate, generate, publish, sources, strategies, train
from wavecoder_assets.resources import executor_for, resources_for

# One module per stage, in pipeline order; each holds thin @asset / @asset_check wiring. `sources` first: the
# observed inputs from outside the graph (corpus files, benchmark files, embedded model packages).
STAGE_MODULES = [sources, corpus, embed, coreset, generate, strategies, publish, train, evaluate]

all_assets = dg.load_assets_from_modules(STAGE_MODULES)
all_checks = dg.load_asset_checks_from_modules(STAGE_MODULES)

# The observed sources (AssetSelection.all() leaves source assets out): observing them records each one's
# fingerprint as its data version, so a changed input marks what reads it stale.
SOURCES = dg.AssetSelection.assets(*sources.SOURCE_KEYS)
observe_sources_job = dg.define_asset_job(
    "observe_sources", selection=SOURCES,
    description="Fingerprint the inputs from outside the graph (corpus files, benchmark files, embedded models)")
# The daemon (`make dev`) observes them every 15 minutes: a few seconds of stat calls and small-file hashes.
observe_sources_schedule = dg.ScheduleDefinition(
    name="observe_sources_every_15_minutes", job=observe_sources_job, cron_schedule="*/15 * * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING)

# The main job: observe the sources, then every asset on the Config defaults, exactly what the UI's Materialize
# runs (each observation runs before what reads it, so the run's lineage names the inputs it read). The paper job:
# the same graph at the paper's sizes. Both hold sharded assets: run them whole with `python -m wavecoder_assets.run`
# (`make run`), a backfill, or one shard per run. Dagster keeps a job's config as a PartitionedConfig when the job
# holds partitioned assets, and applies it only to runs with a partition tag, so the runner passes it to every run.
wavecoder_job = dg.define_asset_job("wavecoder", selection=dg.AssetSelection.all() | SOURCES)
# Hours long: no run-monitoring time limit (dagster.yaml's max_runtime_seconds would fail it after 3 h).
paper_job = dg.define_asset_job("wavecoder_paper", selection=dg.AssetSelection.all() | SOURCES,
                                config=presets.paper_run_config().to_config_dict(), tags={"dagster/max_runtime": "0"})

defs = dg.Definitions(
    assets=all_assets,
    asset_checks=all_checks,
    jobs=[wavecoder_job, paper_job, observe_sources_job],
    schedules=[observe_sources_schedule],
    resources=resources_for(),
    # In-process by default (2 cores and a local LLM server: steps one after another in one process, so resources
    # like the llama.cpp server start once per run); every step a Ray job when WAVECODER_RAY_ADDRESS is set.
    executor=executor_for(),
)

MODULE = "wavecoder_assets.definitions"
