"""`python -m wavecoder_assets.run [JOB] [--force]`: bring the lake up to date, like `make`.

The job's assets run as a backfill would, in this process: unpartitioned assets in one run, each sharded asset in
one run per shard, so every shard gets its own content-based data version. Only what is missing or stale runs (the
UI's "Materialize stale"): the sources are observed first, then each group of assets is asked, wave by wave, which
of its assets (or shards) Dagster reports MISSING or STALE and whose stale parents in the group have already run.
An unchanged rerun starts no materialization at all. `--force` rebuilds everything.

Public Dagster APIs cover running a job (`execute_job`), but not two things this needs: a job that a Ray worker can
reconstruct with this Python (`ReconstructableRepository` with `executable_path`: the public
`build_reconstructable_job` leaves the worker to whatever `dagster` its PATH has), and the stale status the UI shows
(`CachingStaleStatusResolver` over an `AssetGraphView`). Both come from `dagster._core`; the tests pin their
behaviour (assets_tests/test_partitions.py, test_run.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import uuid
from collections.abc import Callable, Sequence

import dagster as dg
import yaml
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.code_pointer import ModuleCodePointer
from dagster._core.definitions.data_version import CachingStaleStatusResolver, StaleStatus
from dagster._core.definitions.reconstruct import ReconstructableRepository
from dagster._core.origin import get_python_environment_entry_point

from wavecoder_assets.assets.settings import SHARDS
from wavecoder_assets.assets.sources import SOURCE_KEYS
from wavecoder_assets.definitions import MODULE, defs
from wavecoder_assets.launch_validation import InvalidRunConfig, check_run_config
from wavecoder_assets.presets import paper_run_config
from wavecoder_assets.slots import free_slots_of_dead_runs

# The paper job's run config; the main job has none: its settings are the Config defaults, as in the UI.
JOB_CONFIGS = {"wavecoder_paper": paper_run_config().to_config_dict()}
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


def stale_keys(instance: dg.DagsterInstance, keys: list[dg.AssetKey], shard: str | None) -> list[dg.AssetKey]:
    """Those of `keys` (one group's) to materialize now: each that Dagster reports MISSING (with what it feeds in the
    group: a new table gives its readers new input) or STALE (for `shard`), unless a STALE one feeds it: what reads
    a rebuilt table is asked again once that has run, and stays as it is when the table came out the same. With
    each, the assets it must run with (an unsplittable multi-asset's other outputs)."""
    view = AssetGraphView.for_test(defs, instance)  # the UI's view of the instance as it is now
    resolver = CachingStaleStatusResolver(instance, view.asset_graph, view)
    graph = view.asset_graph
    status = {k: resolver.get_status(k, shard) for k in keys if graph.get(k).is_materializable}
    missing = {k for k, s in status.items() if s == StaleStatus.MISSING}
    stale = {k for k, s in status.items() if s == StaleStatus.STALE}
    todo = missing | stale | {k for k in status if _ancestors(graph, k) & missing}
    ready = {k for k in todo if not _ancestors(graph, k) & stale}
    # A multi-asset that cannot be split (the generator-discriminator's two tables) runs whole.
    return [k for k in keys if k in ready.union(*(graph.get(r).execution_set_asset_keys for r in ready))]


def _ancestors(graph, key: dg.AssetKey) -> set[dg.AssetKey]:
    parents = set(graph.get(key).parent_keys)
    return parents.union(*(_ancestors(graph, p) for p in parents))


def run_in_shards(job_name: str, instance: dg.DagsterInstance, *, selection: Sequence[dg.AssetKey] | None = None,
                  run_config: dict | None = None, force: bool = False, log: Callable[[str], None] = print
                  ) -> list[dg.ExecuteJobResult]:
    """Materialize the job's missing or stale assets (all of them with `force`) as a backfill would, one run at a
    time in this process (steps go to the job's executor: in-process, or Ray): each group of shard_phases in order,
    an unpartitioned group in runs of its assets, a sharded one in runs per shard. When a run fails, the other
    shards of its group still run, then it stops (later groups read every shard). run_config None: the job's own
    (JOB_CONFIGS). Returns the runs."""
    job = ReconstructableRepository(ModuleCodePointer(MODULE, "defs", os.getcwd()), executable_path=sys.executable,
                                    entry_point=get_python_environment_entry_point(sys.executable),
                                    ).get_reconstructable_job(job_name)
    run_config = run_config if run_config is not None else JOB_CONFIGS.get(job_name)
    group = uuid.uuid4().hex[:12]
    job_def = defs.resolve_job_def(job_name)
    graph = job_def.asset_layer.asset_graph
    results: list[dg.ExecuteJobResult] = []

    def execute(keys: list[dg.AssetKey], shard: str | None) -> dg.ExecuteJobResult:
        ops = {graph.assets_def_for_key(k).node_def.name for k in [*keys, *graph.get_check_keys_for_assets(set(keys))]}
        tags = {RUN_GROUP_TAG: group} | ({"dagster/partition": shard} if shard is not None else {})
        result = dg.execute_job(job, instance, run_config=_config_for(run_config, ops), tags=tags,
                                asset_selection=list(keys))
        results.append(result)
        log(f"{'ok    ' if result.success else 'FAILED'} {', '.join(k.to_user_string() for k in keys)}"
            f"{f' [shard {shard}]' if shard is not None else ''}: run {result.run_id}")
        if _interrupted(result.all_events):  # Dagster caught a SIGTERM / Ctrl-C and failed the run: stop here too
            raise KeyboardInterrupt(f"run {result.run_id} was interrupted")
        return result

    # The sources are observed in the first run: a changed input (a new corpus file, another model package) is what
    # marks its readers stale, and they are asked again after it.
    observe = [k for k in SOURCE_KEYS if k in graph.executable_asset_keys and (selection is None or k in selection)]
    phases = shard_phases(job_def, [k for k in (selection or graph.executable_asset_keys) if k not in observe])
    for number, (keys, sharded) in enumerate(phases):
        failed = []
        for shard in SHARDS.get_partition_keys() if sharded else [None]:
            done: set[dg.AssetKey] = set()
            while True:
                todo = [k for k in (keys if force else stale_keys(instance, keys, shard)) if k not in done]
                if not sharded:
                    todo, observe = observe + todo, []
                if not todo:
                    break
                result = execute(todo, shard)
                done |= set(todo)
                if not result.success:
                    failed.append(result)
                    break
        if failed:
            log(_rerun_hint(job_name, graph, keys, sharded, failed, phases[number + 1:]))
            break
    if not any(set(r.dagster_run.asset_selection or ()) - set(SOURCE_KEYS) for r in results):
        log("up to date: every asset is fresh (--force rebuilds them all)")
    return results


def _rerun_hint(job_name: str, graph, keys, sharded: bool, failed: list, later: list) -> str:
    selected = ",".join(k.to_user_string() for k in keys if graph.get(k).is_materializable)
    again = [f"dagster asset materialize -m {MODULE} --select '{selected}'"
             + (f" --partition {r.dagster_run.tags['dagster/partition']}" if sharded else "") for r in failed]
    rest = ",".join(k.to_user_string() for group, _ in later for k in group)
    if rest:
        again.append(f"python -m wavecoder_assets.run {job_name} --select '{rest}'")
    return (f"stopped: {len(failed)} run(s) failed. Rerun {'each failed shard alone' if sharded else 'them'}, "
            "then what follows (with the same -c config):\n  " + "\n  ".join(again))


def _interrupted(events: Sequence[dg.DagsterEvent]) -> bool:
    """Whether a run's events say it failed because its process got SIGTERM or Ctrl-C."""
    reasons = [getattr(e.event_specific_data, "failure_reason", None) for e in events
               if e.event_type == dg.DagsterEventType.RUN_FAILURE]
    return any(r is not None and r.value == "UNEXPECTED_TERMINATION" for r in reasons)


def _config_for(run_config: dict | None, ops: set[str]) -> dict | None:
    """The run config with only the given ops' entries (a run of some assets takes config for its ops alone)."""
    if run_config is None:
        return None
    return {**run_config, "ops": {op: c for op, c in (run_config.get("ops") or {}).items() if op in ops}}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.run", description=(
        "Bring a job's assets up to date, like make: what is missing or stale is materialized (unpartitioned "
        "assets in one run per group, sharded ones in one run per shard), what is fresh is skipped. The instance "
        "is $DAGSTER_HOME's."))
    parser.add_argument("job", nargs="?", default="wavecoder", help="wavecoder (default) or wavecoder_paper")
    parser.add_argument("--select", help="comma-separated asset keys (default: all of the job's)")
    parser.add_argument("-c", "--config", help="a YAML run config file (default: the job's own)")
    parser.add_argument("--force", action="store_true", help="materialize every selected asset, fresh or not")
    args = parser.parse_args(argv)
    selection = [dg.AssetKey(k.strip()) for k in args.select.split(",")] if args.select else None
    run_config = yaml.safe_load(open(args.config)) if args.config else None
    try:
        check_run_config(run_config if run_config is not None else JOB_CONFIGS.get(args.job))
    except InvalidRunConfig as refused:  # before any run is created
        print(refused, file=sys.stderr)
        return 2
    # SIGTERM stops it as Ctrl-C does (Dagster maps both to an interrupt while a run executes).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with dg.DagsterInstance.get() as instance:
            # Runs of this host killed earlier (kill -9, OOM) would hold their pool slots forever: free them first.
            free_slots_of_dead_runs(instance, print)
            results = run_in_shards(args.job, instance, selection=selection, run_config=run_config,
                                    force=args.force)
    except KeyboardInterrupt as interrupt:
        print(f"stopped: interrupted{f' ({interrupt})' if str(interrupt) else ''}", file=sys.stderr)
        return 130
    return 0 if all(r.success for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
