"""The one Definitions object: assets, checks, resources, jobs and executor.

`python -m wavecoder_assets.definitions [JOB]` materializes a job's assets the way a backfill does, in one
process: the unpartitioned assets in one run, each sharded asset in one run per shard (see `run_in_shards`).
"""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from collections.abc import Sequence

import dagster as dg
import yaml
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.origin import get_python_environment_entry_point

from wavecoder_assets import presets
from wavecoder_assets.assets import coreset, corpus, embed, evaluate, generate, publish, sources, strategies, train
from wavecoder_assets.assets.settings import SHARDS
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

# The main job: observe the sources, then every asset on the embedded defaults (each observation runs before
# what reads it, so the run's lineage names the inputs it read). The paper job: the same graph at the paper's sizes.
# Both hold sharded assets: run them whole with run_in_shards (`make run`), a backfill, or one shard per run.
# Dagster keeps a job's config as a PartitionedConfig when the job holds partitioned assets, and applies it only to
# runs with a partition tag, so run_in_shards passes it to every run itself.
JOB_CONFIGS = {"wavecoder": presets.default_run_config().to_config_dict(),
               "wavecoder_paper": presets.paper_run_config().to_config_dict()}
wavecoder_job = dg.define_asset_job("wavecoder", selection=dg.AssetSelection.all() | SOURCES,
                                    config=JOB_CONFIGS["wavecoder"])
# Hours long: no run-monitoring time limit (dagster.yaml's max_runtime_seconds would fail it after 3 h).
paper_job = dg.define_asset_job("wavecoder_paper", selection=dg.AssetSelection.all() | SOURCES,
                                config=JOB_CONFIGS["wavecoder_paper"], tags={"dagster/max_runtime": "0"})

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
# Tags every run of one run_in_shards call, to find them together in the UI's run list.
RUN_GROUP_TAG = "wavecoder/run_group"


def shard_phases(job: dg.JobDefinition, selection: Sequence[dg.AssetKey] | None = None
                 ) -> list[tuple[list[dg.AssetKey], bool]]:
    """The job's assets (or `selection` of them) in groups that run together, in an order that respects every
    dependency: (asset keys, sharded). An asset joins its parents' group unless one of them is partitioned
    differently (a sharded reader of an unpartitioned table, or the other way round), which starts a later group."""
    graph = job.asset_layer.asset_graph
    chosen = set(selection or graph.executable_asset_keys)
    unknown = sorted(k.to_user_string() for k in chosen - set(graph.executable_asset_keys))
    if unknown:
        raise ValueError(f"not assets of job {job.name}: {', '.join(unknown)}")
    phase: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        if key not in chosen:
            continue
        sharded = graph.get(key).is_partitioned
        phase[key] = max((phase[p] + (graph.get(p).is_partitioned != sharded)
                          for p in graph.get(key).parent_keys if p in phase), default=0)
    groups: dict[tuple[int, bool], list[dg.AssetKey]] = {}
    for key, number in phase.items():
        groups.setdefault((number, graph.get(key).is_partitioned), []).append(key)
    return [(keys, sharded) for (_, sharded), keys in sorted(groups.items())]


def run_in_shards(job_name: str, instance: dg.DagsterInstance, *, selection: Sequence[dg.AssetKey] | None = None,
                  run_config: dict | None = None, log=print) -> list[dg.ExecuteJobResult]:
    """Materialize the job's assets as a backfill would, one run at a time in this process (steps go to the job's
    executor: in-process, or Ray): each group of shard_phases in order, an unpartitioned group in one run, a
    sharded one in one run per shard, so every shard gets its own content-based data version. When a run fails,
    the other shards of its group still run, then it stops (later groups read every shard). run_config None: the
    job's own (JOB_CONFIGS). Returns the runs."""
    # By module name, also under `python -m`, and started with this Python (`python -m dagster api execute_step`,
    # not whatever `dagster` a Ray worker's PATH has): a worker imports the same module to run its step.
    job = ReconstructableRepository(ModuleCodePointer(MODULE, "defs", os.getcwd()), executable_path=sys.executable,
                                    entry_point=get_python_environment_entry_point(sys.executable),
                                    ).get_reconstructable_job(job_name)
    run_config = run_config if run_config is not None else JOB_CONFIGS.get(job_name)
    group = uuid.uuid4().hex[:12]
    job_def = defs.resolve_job_def(job_name)
    graph = job_def.asset_layer.asset_graph
    results = []
    phases = shard_phases(job_def, selection)
    for number, (keys, sharded) in enumerate(phases):
        names = ", ".join(k.to_user_string() for k in keys)
        # The ops of these assets and of their checks (which run with them).
        ops = {graph.assets_def_for_key(k).node_def.name for k in [*keys, *graph.get_check_keys_for_assets(set(keys))]}
        config = _config_for(run_config, ops)
        for shard in SHARDS.get_partition_keys() if sharded else [None]:
            tags = {RUN_GROUP_TAG: group} | ({"dagster/partition": shard} if shard is not None else {})
            result = dg.execute_job(job, instance, run_config=config, tags=tags, asset_selection=list(keys))
            results.append(result)
            log(f"{'ok    ' if result.success else 'FAILED'} {names}{f' [shard {shard}]' if sharded else ''}: "
                f"run {result.run_id}")
        failed = [r for r in results if not r.success]
        if failed:
            selected = ",".join(k.to_user_string() for k in keys if graph.get(k).is_materializable)
            again = [f"dagster asset materialize -m {MODULE} --select '{selected}'"
                     + (f" --partition {r.dagster_run.tags['dagster/partition']}" if sharded else "") for r in failed]
            rest = ",".join(k.to_user_string() for later, _ in phases[number + 1:] for k in later)
            if rest:
                again.append(f"python -m {MODULE} {job_name} --select '{rest}'")
            log(f"stopped: {len(failed)} run(s) failed. Rerun {'each failed shard alone' if sharded else 'them'}, "
                "then what follows (with the same -c config):\n  " + "\n  ".join(again))
            break
    return results


def _config_for(run_config: dict | None, ops: set[str]) -> dict | None:
    """The run config with only the given ops' entries (a run of some assets takes config for its ops alone)."""
    if run_config is None:
        return None
    return {**run_config, "ops": {op: c for op, c in (run_config.get("ops") or {}).items() if op in ops}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.definitions", description=(
        "Materialize a job's assets like a backfill, in this process: unpartitioned assets in one run per group, "
        "sharded ones in one run per shard. The instance is $DAGSTER_HOME's."))
    parser.add_argument("job", nargs="?", default="wavecoder", help="wavecoder (default) or wavecoder_paper")
    parser.add_argument("--select", help="comma-separated asset keys (default: all of the job's)")
    parser.add_argument("-c", "--config", help="a YAML run config file (default: the job's own)")
    args = parser.parse_args(argv)
    selection = [dg.AssetKey(k.strip()) for k in args.select.split(",")] if args.select else None
    run_config = yaml.safe_load(open(args.config)) if args.config else None
    with dg.DagsterInstance.get() as instance:
        results = run_in_shards(args.job, instance, selection=selection, run_config=run_config)
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
