"""Soak the LLM generation stage under injected faults: the generated_instructions / judged_instructions step and
code_ocean, materialized with dg.materialize against the local OpenAI-compatible test server, a share of whose
requests first get a fault (HTTP 500 / 503, 429 with Retry-After, a malformed body, no choices, a hang past the
client's timeout) before their answer.

    python bench/soak.py [--n 60] [--fault-rate 0.3] [--latency 0.05] [--seed 0]

Prints, with their targets:
- candidates accounted: every source has exactly one judged row, and every judged row is in exactly one of
  code_ocean and code_ocean_rejected (100%);
- paid calls vs. ideal: HTTP calls the server received against the requests the stage made (ideal: one call
  per request; each injected fault costs one call more), and the calls of an unchanged rerun (ideal 0);
- duplicate rows in judged_instructions, code_ocean, code_ocean_rejected (0);
- a crashed run's llm slot (no daemon, a throwaway DAGSTER_HOME with the shipped dagster.yaml, a one-asset job in
  the llm pool run by `dagster asset materialize`): the CPU a run waiting for a live holder uses (target: under
  10% of a core) and how soon it stops on SIGTERM (under 30 s); after a kill -9 of the holder, how soon the next
  run's LLM step starts (target: no later than a start with a free pool, +10 s).
Exits 1 when a target with a hard bound (100% accounted, 0 duplicates, 0 rerun calls, no more calls than
requests + faults, the crash targets) is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import dagster as dg
import polars as pl

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from wavecoder_assets.assets import generate as gen_assets  # noqa: E402
from wavecoder_assets.assets.settings import SHARDS  # noqa: E402
from wavecoder_assets.lakefiles import read_table, table_path, write_table  # noqa: E402
from wavecoder_assets.resources import resources_for  # noqa: E402
from wavecoder_assets.resources.discriminator import DiscriminatorResource  # noqa: E402
from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource  # noqa: E402
from wavecoder_assets.testing.openai_server import ThreadedServer  # noqa: E402

# One fault, then the answer: every kind the test server scripts that a client should survive.
FAULTS = ["500", "503", "429@0.1", "malformed", "nochoices", "timeout"]
CLIENT_TIMEOUT_S = 1.0  # the "timeout" fault hangs 3 s: past it


def source(i: int, fault: str | None) -> str:
    """A Python source whose body holds the answers the echo server gives (as in the generation tests:
    with no few-shot examples and json_mode off the server echoes the prompt, and the first JSON object in it
    carries the generator's fields and the judge's verdicts); a FAULTS= marker scripts its faults."""
    answers = {"task_name": "code_generation", "instruction": f"Write a Python function that adds {i} to a number.",
               "solution": f"def add(x):\n    return x + {i}", "tests": f"assert add(1) == {1 + i}",
               "solution_resolves": {"reason": "it adds the number", "answer": "yes"},
               "instruction_relevant": {"reason": "it asks for the addition the input does", "answer": "yes"}}
    marker = f"  # FAULTS={fault}" if fault else ""
    return f"def add(x):\n    SPEC = {json.dumps(answers)}\n    return x + {i}{marker}"


def materialize(lake: str, base_url: str):
    settings = dict(base_url=base_url, model="test-model", timeout_s=CLIENT_TIMEOUT_S, max_retries=2)
    llm = LLMResource(generator=LLMEndpoint(**settings), judge=LLMEndpoint(**settings),
                      cache_path=str(Path(lake) / ".llm_cache.sqlite"))
    config = gen_assets.GenerateConfig(max_sources=None, json_mode=False, few_shot_good=0, few_shot_bad=0,
                                       task_mix={"code_generation": 1.0})
    assets = [dg.AssetSpec("coreset"), gen_assets.generator_discriminator, gen_assets.code_ocean_tables,
              gen_assets.candidates_accounted]
    shards = SHARDS.get_partition_keys()  # one run over every shard of the sharded generation step
    # The echo server's judge: plain prompts, no few-shot examples (their verdicts would be the first JSON echoed).
    judge = DiscriminatorResource(json_mode=False, judge_few_shot_good=0, judge_few_shot_bad=0)
    resources = resources_for("local", lake_dir=lake) | {"llm": llm, "discriminator": judge}
    return dg.materialize(assets, selection=assets[1:], resources=resources,
                          tags={"dagster/asset_partition_range_start": shards[0],
                                "dagster/asset_partition_range_end": shards[-1]},
                          run_config=dg.RunConfig(ops={"generated_instructions": config},
                                                  loggers={"console": {"config": {"log_level": "WARNING"}}}))


# A one-asset job in the llm pool with the real LLM resource (no server starts until a client is asked for).
POOL_JOB = """
import time

import dagster as dg

from wavecoder_assets.resources.llm import LLMResource


class Nap(dg.Config):
    seconds: float


@dg.asset(pool="llm")
def nap(config: Nap, llm: LLMResource) -> None:
    print(f"step started at {time.time()}", flush=True)
    time.sleep(config.seconds)


defs = dg.Definitions(assets=[nap], resources={"llm": LLMResource()}, executor=dg.in_process_executor)
"""


def crashed_slot_cases() -> dict:
    """A run holds the llm slot; a second waits for it (CPU over 5 s, then SIGTERM); the holder is killed -9
    and a third run starts. Seconds and CPU seconds measured."""
    with tempfile.TemporaryDirectory(prefix="wavecoder-soak-slots-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        (home / "dagster.yaml").write_text((REPO_ROOT / "dagster.yaml").read_text())
        (Path(tmp) / "pool_job.py").write_text(POOL_JOB)
        env = os.environ | {"DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO_ROOT)}
        dg.DagsterInstance.from_config(str(home)).dispose()  # the storage first: two fresh processes can race
        processes = []

        def start(seconds: float) -> tuple[subprocess.Popen, Path, float]:
            log = Path(tmp) / f"run{len(processes)}.log"
            with open(log, "w") as out:
                processes.append(subprocess.Popen(
                    [Path(sys.executable).parent / "dagster", "asset", "materialize", "-f", "pool_job.py", "--select",
                     "nap", "--config-json", json.dumps({"ops": {"nap": {"config": {"seconds": seconds}}}})],
                    cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True))
            return processes[-1], log, time.time()

        def seen(log: Path, text: str, timeout_s: float = 120) -> str:
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                if lines := [x for x in log.read_text(errors="replace").splitlines() if text in x]:
                    return lines[0]
                time.sleep(0.2)
            raise RuntimeError(f"no {text!r} in {log} after {timeout_s:g} s")

        def step_start(log: Path) -> float:
            # Searched in the line: under load Dagster's log lines (stderr) can land mid-line.
            return float(re.search(r"step started at (\d+\.\d+)", seen(log, "step started at "))[1])

        def cpu_s(pid: int) -> float:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        try:
            holder, log, launched = start(600)
            free_start = step_start(log) - launched
            waiter, log, _ = start(0.5)
            named = " - INFO - " in seen(log, "waiting for a slot of pool llm")
            cpu, wall = cpu_s(waiter.pid), time.monotonic()
            time.sleep(5)
            cpu, wall = cpu_s(waiter.pid) - cpu, time.monotonic() - wall
            sent = time.monotonic()
            waiter.send_signal(signal.SIGTERM)
            waiter.wait(timeout=60)
            stop_s = time.monotonic() - sent
            os.killpg(holder.pid, signal.SIGKILL)
            holder.wait()
            killed = time.time()
            again, log, launched = start(0.5)
            begun = step_start(log)
            return {"free_start_s": free_start, "waiting_cpu_s": cpu, "waiting_wall_s": wall, "holder_named": named,
                    "sigterm_stop_s": stop_s, "after_kill_s": begun - killed, "after_launch_s": begun - launched,
                    "next_ok": again.wait(timeout=60) == 0}
        finally:
            for process in processes:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)


def report_crashed_slot(slots: dict) -> bool:
    """Print crashed_slot_cases' measures with their targets; whether every target was met."""
    share = slots["waiting_cpu_s"] / slots["waiting_wall_s"]
    print(f"run waiting for a live llm slot holder: {slots['waiting_cpu_s']:.2f} CPU s in "
          f"{slots['waiting_wall_s']:.1f} s = {share:.1%} of a core (target < 10%); holder named at INFO: "
          f"{'yes' if slots['holder_named'] else 'NO'}; stopped {slots['sigterm_stop_s']:.1f} s after SIGTERM "
          "(target < 30 s)")
    print(f"after a kill -9 of the llm slot's holder: the next run's LLM step started {slots['after_kill_s']:.1f} s "
          f"after the kill, {slots['after_launch_s']:.1f} s after its launch (with a free pool: "
          f"{slots['free_start_s']:.1f} s; target: at most 10 s more); run "
          f"{'succeeded' if slots['next_ok'] else 'FAILED'}")
    return (share < 0.1 and slots["holder_named"] and slots["sigterm_stop_s"] < 30 and slots["next_ok"]
            and slots["after_launch_s"] <= slots["free_start_s"] + 10)


def duplicates(frame: pl.DataFrame, key: str) -> int:
    return frame.height - frame[key].n_unique()


def main() -> int:
    for category in (dg.BetaWarning, dg.PreviewWarning):
        warnings.simplefilter("ignore", category)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="candidates (coreset sources)")
    parser.add_argument("--fault-rate", type=float, default=0.3, help="share of sources whose requests get a fault")
    parser.add_argument("--latency", type=float, default=0.05, help="server seconds per call")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    faulted = set(rng.sample(range(args.n), round(args.n * args.fault_rate)))
    faults = {i: FAULTS[k % len(FAULTS)] for k, i in enumerate(sorted(faulted))}
    ids = [f"s{i:04d}" for i in range(args.n)]
    with tempfile.TemporaryDirectory(prefix="wavecoder-soak-") as lake, \
            ThreadedServer(latency_s=args.latency, hang_s=3 * CLIENT_TIMEOUT_S) as server:
        write_table(pl.DataFrame({"id": ids, "language": ["python"] * args.n,
                                  "code": [source(i, faults.get(i)) for i in range(args.n)],
                                  "rank": list(range(args.n))}), table_path(lake, "coreset"))
        start = time.monotonic()
        run = materialize(lake, server.base_url)
        elapsed = time.monotonic() - start
        stats = server.stats()
        # judged_instructions' metadata holds the run's usage of both roles (a role never asked has none)
        meta = [m for m in run.asset_materializations_for_node("generated_instructions")
                if m.asset_key == dg.AssetKey("judged_instructions")][-1].metadata
        requests = sum(meta[f"llm_{role}_requests"].value for role in ("generator", "judge")
                       if f"llm_{role}_requests" in meta)
        calls = stats["calls"]
        served = [a["fault"] for attempts in stats["by_messages"].values() for a in attempts]
        injected = sum(f != "ok" for f in served)

        judged = read_table(lake, "judged_instructions")
        ocean = read_table(lake, "code_ocean")
        rejected = read_table(lake, "code_ocean_rejected")
        judged_once = judged.group_by("source_id").len().filter(pl.col("len") == 1)["source_id"].to_list()
        placed = pl.concat([ocean.select("example_id"), rejected.select("example_id")])["example_id"]
        placed_once = {e for e, n in placed.value_counts().iter_rows() if n == 1}
        known = set(ids)
        accounted = sum(1 for row in judged.filter(pl.col("source_id").is_in(judged_once)).iter_rows(named=True)
                        if row["example_id"] in placed_once and row["source_id"] in known)
        dupes = {"judged_instructions": duplicates(judged, "example_id") + duplicates(judged, "source_id"),
                 "code_ocean": duplicates(ocean, "example_id"),
                 "code_ocean_rejected": duplicates(rejected, "example_id"),
                 "in both tables": len(set(ocean["example_id"]) & set(rejected["example_id"]))}
        check = run.get_asset_check_evaluations()[0]

        rerun_start = stats["calls"]
        rerun = materialize(lake, server.base_url)
        rerun_calls = server.stats()["calls"] - rerun_start
        outcomes = dict(judged["verdict"].value_counts().iter_rows())

    print(f"soak: {args.n} candidates, {len(faults)} sources ({len(faults) / args.n:.0%}) with one injected fault "
          f"each ({', '.join(FAULTS)}), {elapsed:.1f} s; run {'succeeded' if run.success else 'FAILED'}")
    print(f"candidates accounted: {accounted}/{args.n} = {accounted / args.n:.1%} (target 100%); "
          f"verdicts {outcomes}; check candidates_accounted {'passed' if check.passed else 'FAILED'}")
    print(f"paid calls vs. ideal: {calls} HTTP calls for {requests} requests = {calls / requests:.3f}x the ideal "
          f"(1 call per request); {calls - requests} extra calls for {injected} injected faults (target: at most one "
          "retry per fault)")
    print(f"unchanged rerun: {rerun_calls} calls (ideal 0); rerun {'succeeded' if rerun.success else 'FAILED'}")
    print(f"duplicate rows: {sum(dupes.values())} (target 0): {dupes}")
    slots_ok = report_crashed_slot(crashed_slot_cases())
    ok = (run.success and rerun.success and accounted == args.n and check.passed and not sum(dupes.values())
          and rerun_calls == 0 and calls <= requests + injected and slots_ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
