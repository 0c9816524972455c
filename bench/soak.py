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
- duplicate rows in judged_instructions, code_ocean, code_ocean_rejected (0).
Exits 1 when a target with a hard bound (100% accounted, 0 duplicates, 0 rerun calls, no more calls than
requests + faults) is missed.
"""

from __future__ import annotations

import argparse
import json
import random
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
from wavecoder_assets.lakefiles import read_table, table_path, write_table  # noqa: E402
from wavecoder_assets.resources import resources_for  # noqa: E402
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
    return dg.materialize(assets, selection=assets[1:], resources=resources_for("local", lake_dir=lake) | {"llm": llm},
                          run_config=dg.RunConfig(ops={"generated_instructions": config},
                                                  loggers={"console": {"config": {"log_level": "WARNING"}}}))


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
        meta = run.asset_materializations_for_node("generated_instructions")[1].metadata
        requests = meta["llm_generator_requests"].value + meta["llm_judge_requests"].value
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
    ok = (run.success and rerun.success and accounted == args.n and check.passed and not sum(dupes.values())
          and rerun_calls == 0 and calls <= requests + injected)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
