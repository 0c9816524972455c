"""Pool slots that die with their holder.

Dagster's op concurrency pools ("llm": one LLM step at a time, dagster.yaml) record a claimed slot in the instance's
storage; a run whose process dies (kill -9, the OOM killer, a reboot) never frees it, and every later LLM step
waits for it. Only the daemon's run monitoring frees it, and for a command-line run only after max_runtime_seconds.
And that wait burns a core: Dagster 1.13's step loop polls a blocked claim without sleeping
(InstanceConcurrencyContext.interval_to_next_pending_claim_check never returns more than 0) and, in-process, never
looks at the SIGTERM / Ctrl-C it captured.

So every run that uses the LLM resource and executes its steps in its own process (the in-process executor, the
default) first, at the resource's setup, whatever started it (`make run`, `dagster asset materialize`, a run the UI
launched on this machine):
- takes an OS lock on its own file, $DAGSTER_HOME/run_locks/<run id>.lock (flock, recording pid, host and since
  when), held until the run's resources are torn down: the kernel drops it when the process dies, however it dies,
  and a reused pid cannot fake it;
- frees the slots of the runs of this host whose lock file is there but no longer locked (their process is gone)
  and marks them failed, in one log line;
- waits for a pool slot itself, asleep (polling once a second) and interruptible, while live runs hold every slot,
  saying at INFO which runs and since when. Then Dagster's own claim succeeds at once.
The Dagster pool stays the limit: runs of other hosts sharing the instance have no lock file here, and are left to
the daemon's run monitoring; so are the step processes of a multiprocess or Ray executor, whose orchestrator claims
the slots and frees those of a step that died. The wait is at the run's start (the in-process executor sets up
resources before the first step), so a run whose LLM step comes later, or one of two runs that find a freed slot
at the same moment, can still find the slot taken when its step claims it; it then waits in Dagster's own loop,
and a dead holder is freed by the next run (or `make run`) starting on this machine.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from pathlib import Path

import dagster as dg

LLM_POOL = "llm"
LOCK_DIR = "run_locks"  # under DAGSTER_HOME
POLL_S = 1.0  # how often a waiting run looks at the pool again


def _lock_dir(instance: dg.DagsterInstance) -> Path:
    return Path(instance.root_directory) / LOCK_DIR


def _since(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


@contextmanager
def run_lock(instance: dg.DagsterInstance, run_id: str) -> Iterator[None]:
    """Hold the run's lock file for as long as the block runs (or this process lives)."""
    directory = _lock_dir(instance)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.lock"
    with open(path, "a+") as file:
        fcntl.flock(file, fcntl.LOCK_EX)  # a run's own file: at most a reaper looks at it for a moment
        file.truncate(0)  # written only once locked: a reaper skips a file it cannot parse
        file.write(json.dumps({"run_id": run_id, "pid": os.getpid(), "host": socket.gethostname(),
                               "since": time.time()}))
        file.flush()
        try:
            yield
        finally:
            path.unlink(missing_ok=True)  # still locked: no reaper takes a finished run for a dead one


def _holder(path: Path) -> dict | None:
    """The record of a lock file, or None while it is being written."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def free_slots_of_dead_runs(instance: dg.DagsterInstance, log: Callable[[str], None]) -> None:
    """Mark failed the runs of this host whose process is gone (their lock file is unlocked) and free their pool
    slots, saying so in one line."""
    freed = []
    for path in sorted(_lock_dir(instance).glob("*.lock")):
        try:
            file = open(path)
        except FileNotFoundError:
            continue  # its run just ended
        with file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its process holds it: alive
            holder = _holder(path)
            if holder is None or holder["host"] != socket.gethostname():
                continue  # being written, or a host sharing DAGSTER_HOME: its own runs judge it
            run = instance.get_run_by_id(holder["run_id"])
            holds_slots = holder["run_id"] in instance.event_log_storage.get_concurrency_run_ids()
            if run is not None and not run.is_finished:
                instance.report_run_failed(run, f"Its process (pid {holder['pid']} on {holder['host']}) is gone: "
                                                f"marked failed, and its pool slots freed, by pid {os.getpid()}.")
            if holds_slots or (run is not None and not run.is_finished):
                instance.event_log_storage.free_concurrency_slots_for_run(holder["run_id"])
                freed.append(f"{holder['run_id']} (pid {holder['pid']}, since {_since(holder['since'])})")
            path.unlink(missing_ok=True)
    if freed:
        log(f"freed the pool slots of {len(freed)} run(s) of this host whose process is gone, and marked them "
            f"failed: {', '.join(freed)}")


def _describe(instance: dg.DagsterInstance, run_id: str) -> str:
    holder = _holder(_lock_dir(instance) / f"{run_id}.lock")
    if holder is not None:
        return f"run {run_id} (pid {holder['pid']} on {holder['host']}, since {_since(holder['since'])})"
    record = instance.get_run_record_by_id(run_id)
    started = f", since {_since(record.start_time)}" if record and record.start_time else ""
    return f"run {run_id} (no lock file on this machine{started})"


def _granularity(storage) -> str | None:
    granularity = storage.get_pool_config().pool_granularity  # an enum: "op" (the default) or "run"
    return granularity.value if granularity else None


def wait_for_slot(instance: dg.DagsterInstance, pool: str, run_id: str, log: Callable[[str], None]) -> None:
    """Return once the pool has a slot for this run: first freeing those of dead runs of this host, then, while
    live runs hold or queue for every slot, sleeping (SIGTERM / Ctrl-C interrupt the sleep), re-checking every
    POLL_S seconds, and saying once per change of holders who they are."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or _granularity(storage) == "run":
        return  # no op-level claims: nothing to wait for here
    announced = None
    while True:
        free_slots_of_dead_runs(instance, log)
        info = storage.get_concurrency_info(pool)
        # A claimed step also stays in the queue (assigned) until it ends: count each step once.
        ahead = {(s.run_id, s.step_key) for s in [*info.claimed_slots, *info.pending_steps] if s.run_id != run_id}
        if info.limit is None or len(ahead) < info.limit:
            return
        holders = sorted({r for r, _ in ahead})
        if holders != announced:
            log(f"waiting for a slot of pool {pool} ({len(ahead)} of {info.limit} taken), held by "
                f"{'; '.join(_describe(instance, r) for r in holders)}; checking every {POLL_S:g} s")
            announced = holders
        time.sleep(POLL_S)


def _claims_here(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether this process is the run's own (it claims the slots: the in-process executor), not a step process
    of a multiprocess or Ray executor, whose orchestrator claims them and frees those of a dead step."""
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.RUN_START, limit=1).records
    return bool(records) and records[0].event_log_entry.dagster_event.pid == os.getpid()


def hold_pool_slot(context: dg.InitResourceContext, pool: str = LLM_POOL) -> ExitStack:
    """For a resource's setup: lock the run's file and wait for a slot of `pool` (see the module's docstring).
    Close the returned stack at teardown. Nothing on an ephemeral instance (no pools, no DAGSTER_HOME), nor in a
    step process."""
    guard = ExitStack()
    instance, run_id = context.instance, context.run_id
    if instance is None or run_id is None or instance.is_ephemeral or not _claims_here(instance, run_id):
        return guard
    guard.enter_context(run_lock(instance, run_id))
    try:
        wait_for_slot(instance, pool, run_id, context.log.info)
    except BaseException:
        guard.close()
        raise
    return guard
