"""Refuse a run whose config is out of its fields' domains before the run starts.

Dagster's config schema knows types and Literal choices only; the ranges, cross-field rules, known languages and
tasks, and existing paths are pydantic constraints on the Config classes, which Dagster checks only when a step
builds its Config. Here every op config in the run config builds its Config at launch, paths checked
(existing_paths), so a bad value is refused naming the op (the asset or check) and the field:

- `python -m wavecoder_assets.run` calls run_config_problems before it creates any run, and exits non-zero;
- the UI's launchpad (GraphQL launchRun, and every other submitted run: schedules, sensors, backfills) goes through
  ValidatingRunCoordinator, dagster.yaml's run coordinator: Dagster's default, the queued one, which refuses such
  a run when it is submitted: the launch answers with the error, and the run is marked failed with it before any
  step runs.

- `dagster asset materialize` (and any run of the Definitions' jobs without a coordinator) runs on
  in_process_executor_checking_config, the in-process executor that checks the run config before its first step:
  the run exists, and fails with the error before any step runs.

`dg.materialize` (its own executor) still refuses the value, naming the field, when the step that reads it builds
its Config; paths are not checked there.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import dagster as dg
import pydantic
from dagster._core.definitions.executor_definition import IN_PROC_CONFIG, in_process_executor
from dagster._core.executor.in_process import InProcessExecutor
from dagster._core.run_coordinator import QueuedRunCoordinator, SubmitRunContext
from dagster._core.storage.dagster_run import DagsterRun

from wavecoder_assets.existing_paths import paths_must_exist

# The code location a coordinator validates: this package's (the webserver may serve others).
PACKAGE = __name__.partition(".")[0]


class InvalidRunConfig(ValueError):
    """A run config that some op's Config refuses; the message names each op and field."""

    def __init__(self, problems: list[str]):
        super().__init__("run config refused before the run started:\n  " + "\n  ".join(problems))
        self.problems = problems


def config_classes(definitions: dg.Definitions) -> dict[str, type[dg.Config]]:
    """Op name -> the Config class its function takes, for every asset and asset check that takes one."""
    classes = {}
    for node in [*(definitions.assets or []), *(definitions.asset_checks or [])]:
        op = getattr(node, "node_def", None)
        compute = getattr(op, "compute_fn", None)
        if compute is not None and compute.has_config_arg():
            config_class = compute.get_config_arg().annotation
            if isinstance(config_class, type) and issubclass(config_class, dg.Config):
                classes[op.name] = config_class
    return classes


@functools.cache
def _project_config_classes() -> dict[str, type[dg.Config]]:
    # Imported on first use: the webserver loads this module with the instance, and the definitions take seconds.
    from wavecoder_assets.definitions import defs

    return config_classes(defs)


def run_config_problems(run_config: Mapping | None, classes: Mapping[str, type[dg.Config]] | None = None
                        ) -> list[str]:
    """Each value of `run_config`'s op configs that its Config refuses, as `ops.<op>.config.<field>: why`
    (a rule over several fields names them in `why`). Ops without a Config class here are Dagster's to check."""
    classes = _project_config_classes() if classes is None else classes
    problems = []
    with paths_must_exist():
        for op, entry in ((run_config or {}).get("ops") or {}).items():
            if op not in classes or not isinstance(entry, Mapping):
                continue
            try:
                classes[op](**(entry.get("config") or {}))
            except pydantic.ValidationError as error:
                problems += [f"ops.{op}.config{''.join(f'.{part}' for part in e['loc'])}: {e['msg']}"
                             for e in error.errors()]
    return problems


def check_run_config(run_config: Mapping | None) -> None:
    """Raise InvalidRunConfig when run_config_problems finds any."""
    problems = run_config_problems(run_config)
    if problems:
        raise InvalidRunConfig(problems)


class ValidatingRunCoordinator(QueuedRunCoordinator):
    """The queued run coordinator (Dagster's default: the daemon dequeues runs) that first refuses a run of this
    project whose config check_run_config rejects. Dagster then records the error as an engine event, marks the
    run failed, and answers the launch with it."""

    def submit_run(self, context: SubmitRunContext) -> DagsterRun:
        run = context.dagster_run
        origin = run.job_code_origin
        module = getattr(origin.repository_origin.code_pointer, "module", "") if origin else ""
        if module.partition(".")[0] == PACKAGE:
            check_run_config(run.run_config)
        return super().submit_run(context)


class _InProcessExecutorCheckingConfig(InProcessExecutor):
    def execute(self, plan_context, execution_plan):
        check_run_config(plan_context.run_config)
        yield from super().execute(plan_context, execution_plan)


@dg.executor(name="in_process", config_schema=IN_PROC_CONFIG)
def in_process_executor_checking_config(init_context: dg.InitExecutorContext) -> InProcessExecutor:
    """Dagster's in-process executor (same name and config) that runs check_run_config before the first step."""
    executor = in_process_executor.executor_creation_fn(init_context)
    return _InProcessExecutorCheckingConfig(retries=executor.retries, marker_to_close=executor.marker_to_close,
                                            step_dependency_config=executor.step_dependency_config)
