"""Comparing generation strategies (WaveCoder's CodeOcean, Evol-Instruct, OSS-Instruct) on one footing:
the WaveCoder discriminator applied to other strategies' rows, and the measures of the strategy report
(tokens, judge and sandbox pass rates, diversity in one embedding space, overlap with the benchmarks).
"""

from __future__ import annotations

import ast
import random
import re

import numpy as np
import polars as pl

from wavecoder_assets.generate.decontaminate import decontaminate
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate, outcome_columns
from wavecoder_assets.generate.tasks import TASKS, solution_language
from wavecoder_assets.languages import LANGUAGE_NAMES
from wavecoder_assets.strategies.evol import question_text

# The WaveCoder discriminator's rules that need no raw code input: the ones other strategies can be judged by.
PORTABLE_CHECKS = ("names_language", "solution_is_code", "summary_is_prose", "imports_what_it_uses",
                   "not_needlessly_complex")
PORTABLE_JUDGE_RULES = ("solution_resolves",)
VERDICT_SCHEMA = {"verdict": pl.String, "rule_verdicts": pl.String, "reasons": pl.String, "judge_model": pl.String}

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_FENCE_LANGUAGE = {"python": "python", "py": "python", "python3": "python", "java": "java", "javascript": "javascript",
                   "js": "javascript", "go": "go", "golang": "go", "php": "php", "ruby": "ruby", "rb": "ruby"}


def fence_language(text: str | None) -> str | None:
    """The language of the first tagged code fence, when it is one of the six."""
    for tag, _ in _FENCE.findall(text or ""):
        if tag.lower() in _FENCE_LANGUAGE:
            return _FENCE_LANGUAGE[tag.lower()]
    return None


# ---------------------------------------------------------------- the discriminator on other strategies' rows

def judge_rows(rows: list[dict], judge, discriminator: DiscriminatorSettings, *, seed: int = 0,
               logger=None) -> list[dict]:
    """The WaveCoder discriminator's verdict columns for each row (instruction, information, solution, tests,
    task_name, language, code: the raw input the row came from, "" when none), on the rules that need no raw
    input (the `discriminator`'s, narrowed to them): accepted, rejected, or failed with why."""
    settings = discriminator.model_copy(update={
        "rules": [r for r in discriminator.rules if r["id"] in PORTABLE_JUDGE_RULES],
        "check_rules": list(PORTABLE_CHECKS), "seed": seed, "judge_few_shot_good": 0,
        "contrastive_candidates": 0})  # these rows have no raw code to match a summary against
    out: list[dict | None] = [None] * len(rows)
    todo = []
    for i, row in enumerate(rows):
        language = row.get("language") or fence_language(row.get("solution"))
        task_name = row.get("task_name") or "code_generation"  # e.g. Code Alpaca rows: a question, then code
        if language not in LANGUAGE_NAMES or task_name not in TASKS:
            out[i] = {"verdict": "failed", "rule_verdicts": "{}", "judge_model": None,
                      "reasons": f"not judged: unknown language {language!r} or task {task_name!r}"}
        else:
            todo.append((i, row | {"language": language, "task_name": task_name, "code": row.get("code") or "",
                                   "target_language": row.get("target_language"), "tests": row.get("tests")}))
    outcomes = discriminate([row for _, row in todo], judge, settings, logger=logger)
    for (i, _), outcome in zip(todo, outcomes):
        columns = outcome_columns(outcome)
        out[i] = {k: columns[k] for k in VERDICT_SCHEMA} | (
            {"reasons": outcome.error} if outcome.error else {})  # these rows have no error column
    return out


def judge_sample(frame: pl.DataFrame, judge, discriminator: DiscriminatorSettings, max_rows: int | None, seed: int,
                 *, logger=None, code_column: str | None = None) -> pl.DataFrame:
    """`frame` with the verdict columns: the WaveCoder judge's, on a seeded sample of at most `max_rows` (None: all)
    of the ok rows that have none yet; `code_column` holds the raw input each row came from."""
    if "verdict" not in frame.columns:
        frame = frame.with_columns(*(pl.lit(None, t).alias(c) for c, t in VERDICT_SCHEMA.items()))
    rows = frame.to_dicts()
    todo = [i for i, r in enumerate(rows) if r["status"] == "ok" and r["verdict"] is None]
    if max_rows is not None and len(todo) > max_rows:
        todo = sorted(random.Random(seed).sample(todo, max_rows))
    if todo:
        batch = [rows[i] | {"code": rows[i][code_column] if code_column else ""} for i in todo]
        for i, verdict in zip(todo, judge_rows(batch, judge, discriminator, seed=seed, logger=logger)):
            rows[i] |= verdict
    return pl.DataFrame(rows, schema=frame.schema)


# ---------------------------------------------------------------- Python solutions in the sandbox

def python_source(row: dict) -> str | None:
    """The Python code of a solution: its python-tagged (or, for a Python row, untagged) fenced blocks; a bare
    solution counts when its task's solution is Python code. None when the solution holds no Python."""
    solution = row.get("solution") or ""
    blocks = _FENCE.findall(solution)
    if blocks:
        python_row = row.get("language") == "python"
        code = [body for tag, body in blocks if _FENCE_LANGUAGE.get(tag.lower()) == "python" or (not tag and python_row)]
        source = "\n\n".join(code)
    elif row.get("task_name") in TASKS and row.get("language") in LANGUAGE_NAMES:
        language = solution_language(row["task_name"], row["language"], row.get("target_language"))
        source = solution if language == "python" else ""
    else:
        source = ""
    if source.strip() and row.get("tests"):
        source += "\n\n" + row["tests"]
    return source if source.strip() else None


def has_asserts(tree: ast.AST) -> bool:
    return any(isinstance(node, ast.Assert) for node in ast.walk(tree))


def python_checks(rows: list[dict], run_python, *, timeout_s: float = 10.0, max_runs: int | None = None,
                  seed: int = 0) -> dict:
    """Counts over the rows' Python solutions: how many there are, parse, have asserts, and pass them when run
    in the sandbox (at most max_runs runs, a seeded sample)."""
    sources = [s for s in map(python_source, rows) if s is not None]
    parsed = []
    for source in sources:
        try:
            parsed.append((source, ast.parse(source)))
        except (SyntaxError, ValueError):  # ValueError: NUL bytes
            pass
    tested = [source for source, tree in parsed if has_asserts(tree)]
    if max_runs is not None and len(tested) > max_runs:
        tested = random.Random(seed).sample(tested, max_runs)
    passed = sum(run_python(source, timeout_s=timeout_s).status == "passed" for source in tested)
    return {"python_rows": len(sources), "python_parsed": len(parsed), "python_run": len(tested),
            "python_passed": passed}


# ---------------------------------------------------------------- diversity in one embedding space

def nearest_distances(queries: np.ndarray, points: np.ndarray, *, exclude_self: bool = False,
                      block: int = 256) -> np.ndarray:
    """Euclidean distance from each query row to its nearest row of points (the coreset stage's metric).
    exclude_self: queries are points, and a row is not its own neighbour."""
    qq = (queries.astype(np.float64) ** 2).sum(1)
    pp = (points.astype(np.float64) ** 2).sum(1)
    out = np.empty(len(queries))
    for start in range(0, len(queries), block):
        q = queries[start : start + block].astype(np.float64)
        d2 = qq[start : start + block, None] - 2.0 * q @ points.T.astype(np.float64) + pp[None, :]
        if exclude_self:
            d2[np.arange(len(q)), np.arange(start, start + len(q))] = np.inf
        out[start : start + block] = np.sqrt(np.maximum(d2.min(1), 0.0))
    return out


def diversity(embeddings: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per strategy: coverage radius (the largest distance from any instruction of any strategy to this
    strategy's nearest one: lower covers the joint space better) and mean nearest-neighbour distance within the
    strategy (higher is more diverse; None with fewer than 2 rows)."""
    nonempty = [e for e in embeddings.values() if len(e)]
    pooled = np.concatenate(nonempty) if nonempty else None
    out = {}
    for name, e in embeddings.items():
        if not len(e):
            out[name] = {"coverage_radius": None, "mean_nn_distance": None}
            continue
        out[name] = {"coverage_radius": float(nearest_distances(pooled, e).max()),
                     "mean_nn_distance": float(nearest_distances(e, e, exclude_self=True).mean()) if len(e) > 1 else None}
    return out


# ---------------------------------------------------------------- the rows each strategy contributes

def strategy_frames(code_ocean: pl.DataFrame, evol: pl.DataFrame, oss: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """The usable rows of each dataset, in one layout: example_id, task_name, language, instruction,
    information, solution, tests, verdict. CodeOcean holds only rows the judge accepted (verdict "accepted");
    Evol-Instruct keeps status ok (seeds and evolutions merged, and the evolutions alone), OSS-Instruct status ok."""
    def layout(frame: pl.DataFrame, verdict: pl.Expr) -> pl.DataFrame:
        missing = [pl.lit(None, pl.String).alias(c) for c in ("tests", "task_name", "language") if c not in frame.columns]
        return frame.with_columns(*missing).select(
            "example_id", "task_name", "language", "instruction",
            pl.col("information").fill_null(""), "solution", "tests", verdict.cast(pl.String).alias("verdict"))

    evol_ok = evol.filter(pl.col("status") == "ok")
    evol_verdict = pl.col("verdict") if "verdict" in evol.columns else pl.lit(None, pl.String)
    oss_verdict = pl.col("verdict") if "verdict" in oss.columns else pl.lit(None, pl.String)
    return {
        "wavecoder (code_ocean)": layout(code_ocean, pl.lit("accepted")),
        "evol_instruct (seeds + evolutions)": layout(evol_ok, evol_verdict),
        "evol_instruct (evolutions only)": layout(evol_ok.filter(pl.col("round") > 0), evol_verdict),
        "oss_instruct": layout(oss.filter(pl.col("status") == "ok"), oss_verdict),
    }


def instruction_texts(frame: pl.DataFrame) -> list[str]:
    return [question_text(i or "", info) for i, info in zip(frame["instruction"], frame["information"])]


def example_texts(frame: pl.DataFrame) -> list[str]:
    return [f"{q}\n\n{s or ''}" for q, s in zip(instruction_texts(frame), frame["solution"])]


def judge_pass(frame: pl.DataFrame) -> tuple[int, float | None]:
    """(rows with an accepted/rejected verdict, share of them accepted)."""
    judged = frame.filter(pl.col("verdict").is_in(["accepted", "rejected"]))
    if judged.is_empty():
        return 0, None
    return judged.height, judged.filter(pl.col("verdict") == "accepted").height / judged.height


# ---------------------------------------------------------------- tokens and the report

class GGUFTokenCounter:
    """Token counts with a GGUF model's own vocabulary (llama.cpp with vocab_only: loads in about a second).
    `model`: an embedded model name (the generator by default) or a .gguf path."""

    def __init__(self, model: str):
        import llama_cpp

        from wavecoder_assets.llm.models import EMBEDDED_GGUF, embedded_gguf_path

        path = embedded_gguf_path(model) if model in EMBEDDED_GGUF else model
        self._llama = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)

    def __call__(self, texts: list[str]) -> list[int]:
        return [len(self._llama.tokenize(t.encode(), add_bos=False, special=False)) for t in texts]

    def close(self) -> None:
        self._llama.close()


def benchmark_overlap(frame: pl.DataFrame, index: dict | None, ngram: int) -> dict[str, int]:
    """{benchmark: rows of `frame` sharing a word n-gram with it}: code_ocean's decontamination test, counted
    instead of removed; {} without a benchmark index."""
    if index is None:
        return {}
    _, removed = decontaminate(frame, index, ngram)
    return dict(removed.group_by("matched_benchmark").len().iter_rows())


REPORT_SCHEMA = {
    "strategy": pl.String, "rows": pl.Int64, "tokens": pl.Int64, "tokens_per_row": pl.Float64,
    "judged_rows": pl.Int64, "judge_pass_rate": pl.Float64, "python_rows": pl.Int64, "python_parsed": pl.Int64,
    "python_run": pl.Int64, "python_passed": pl.Int64, "python_parse_rate": pl.Float64,
    "sandbox_pass_rate": pl.Float64, "benchmark_overlap_rows": pl.Int64, "benchmark_overlap": pl.String,
    "coverage_radius": pl.Float64, "mean_nn_distance": pl.Float64, "embedded_rows": pl.Int64,
}


def build_report(frames: dict[str, pl.DataFrame], *, embed, count_tokens, run_python, overlap,
                 max_embed_rows: int | None = 2000, sandbox_max_runs: int | None = 200, sandbox_timeout_s: float = 10.0,
                 seed: int = 0) -> pl.DataFrame:
    """One row per strategy. embed(texts) -> (n, d) array; count_tokens(texts) -> ints;
    overlap(frame) -> {benchmark: rows matching it} (a row may match several); run_python: the sandbox."""
    embeddings, rows = {}, []
    for name, frame in frames.items():
        sample = frame if max_embed_rows is None or frame.height <= max_embed_rows else frame.sample(max_embed_rows, seed=seed)
        embeddings[name] = embed(instruction_texts(sample)) if sample.height else np.zeros((0, 1), np.float32)
        tokens = sum(count_tokens(example_texts(frame))) if frame.height else 0
        judged, pass_rate = judge_pass(frame)
        py = python_checks(frame.to_dicts(), run_python, timeout_s=sandbox_timeout_s, max_runs=sandbox_max_runs, seed=seed)
        hits = overlap(frame) if frame.height else {}
        rows.append({
            "strategy": name, "rows": frame.height, "tokens": tokens,
            "tokens_per_row": tokens / frame.height if frame.height else None,
            "judged_rows": judged, "judge_pass_rate": pass_rate,
            **py,
            "python_parse_rate": py["python_parsed"] / py["python_rows"] if py["python_rows"] else None,
            "sandbox_pass_rate": py["python_passed"] / py["python_run"] if py["python_run"] else None,
            "benchmark_overlap_rows": sum(hits.values()) if hits else 0,
            "benchmark_overlap": ", ".join(f"{b}: {n}" for b, n in sorted(hits.items()) if n) or "none",
        })
    for row, (name, measures) in zip(rows, diversity(embeddings).items()):
        row |= measures | {"embedded_rows": len(embeddings[name])}
    return pl.DataFrame(rows, schema=REPORT_SCHEMA)
