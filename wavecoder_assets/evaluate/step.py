"""The eval_scores step: the fine-tuned model and its base on the benchmarks, one score table. No Dagster here."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from wavecoder_assets import sandbox
from wavecoder_assets.benchmark_data import HUMANEVALPACK_DIR, MBPP_DIR
from wavecoder_assets.evaluate.completion import ChatCompleter, TransformersCompleter
from wavecoder_assets.evaluate.run import BENCHMARKS, SCORE_SCHEMA, evaluate, load_all_problems, score_table
from wavecoder_assets.llm import ChatClient

log = logging.getLogger(__name__)


class EvalSettings(BaseModel):
    """What is evaluated and how (score_models)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    benchmarks: list[str] = Field(default=["humaneval", "mbpp", "humanevalfix"], description=f"any of {BENCHMARKS}")
    languages: list[str] = Field(default=["python"], description="HumanEvalPack languages: python js go java cpp rust")
    limit: int = Field(default=1, description="problems per benchmark and language; <= 0: all")
    n_samples: int = Field(default=1, description="completions per problem (n > 1 needs temperature > 0)")
    temperature: float = Field(default=0.0, description="0: greedy")
    ks: list[int] = Field(default=[1], description="pass@k for these k (each <= n_samples)")
    max_new_tokens: int = Field(default=128, description="per completion; a batch runs until its longest one stops")
    batch_size: int = Field(default=4, description="prompts per generate() call (transformers backend)")
    evaluate_base: bool = Field(default=True, description="also score the base model, for the comparison check")
    base_backend: Literal["transformers", "llm"] = Field(
        default="transformers", description="llm: query the base through the LLM resource's generator endpoint")
    mbpp_path: str = Field(default=os.environ.get("WAVECODER_MBPP_PATH", str(MBPP_DIR)),
                           description="mbpp.jsonl or its folder (google-research MBPP); default: the shipped copy")
    humanevalpack_path: str = Field(default=os.environ.get("WAVECODER_HUMANEVALPACK_PATH", str(HUMANEVALPACK_DIR)),
                                    description="folder with <language>/humanevalpack.jsonl (bigcode/humanevalpack); "
                                                "default: the shipped copy")
    workers: int = Field(default=2, description="tests run in parallel")


@dataclass(frozen=True)
class Scores:
    frame: pl.DataFrame  # SCORE_SCHEMA: one row per model x benchmark x language x k
    problems: int  # problems each model answered
    samples: dict[str, list[dict]]  # role -> its first three samples
    seconds: dict[str, float]  # role -> generating and testing


def score_models(finetuned_model: pl.DataFrame, settings: EvalSettings, chat: Callable[[], ChatClient], *,
                 logger=None) -> Scores:
    """pass@k of the one fine-tuned model row and (evaluate_base) of its base; `chat()` gives the client the base
    is queried through with base_backend llm. A benchmark without its data file is a recorded skip."""
    logger = logger or log
    if finetuned_model.height != 1:
        raise ValueError(f"eval_scores expects one finetuned_model row, got {finetuned_model.height}")
    if any(k > settings.n_samples for k in settings.ks):
        raise ValueError(f"every k in {settings.ks} must be <= n_samples={settings.n_samples}")
    model_row = finetuned_model.row(0, named=True)
    problems, missing = load_all_problems(settings.benchmarks, settings.languages, mbpp_path=settings.mbpp_path,
                                          humanevalpack_path=settings.humanevalpack_path,
                                          limit=settings.limit if settings.limit > 0 else None, ks=settings.ks)
    if missing:
        logger.warning(f"benchmarks without data, recorded as skipped: {sorted({m['skip_reason'] for m in missing})}")
    models = [("finetuned", model_row["model_name"], model_row["model_dir"], "transformers")]
    if settings.evaluate_base:
        models.append(("base", model_row["base_model"], model_row["base_model"], settings.base_backend))

    frames, samples, seconds = [], {}, {}
    for role, name, location, backend in models:
        started = time.perf_counter()
        completer = (ChatCompleter(chat(), max_new_tokens=settings.max_new_tokens) if backend == "llm"
                     else TransformersCompleter(location, max_new_tokens=settings.max_new_tokens,
                                                batch_size=settings.batch_size))
        answered = evaluate(completer, problems, n=settings.n_samples, temperature=settings.temperature,
                            workers=settings.workers)
        del completer  # the model's memory, before the next one loads
        seconds[role] = time.perf_counter() - started
        logger.info(f"{role} {name}: {len(answered)} samples in {seconds[role]:.0f}s")
        frames.append(score_table(answered, missing, settings.ks).with_columns(
            model=pl.lit(name), role=pl.lit(role), backend=pl.lit(backend)))
        samples[role] = answered[:3]

    frame = (pl.concat(frames).with_columns(
        n_per_problem=pl.lit(settings.n_samples), temperature=pl.lit(settings.temperature),
        limit=pl.lit(settings.limit), finetuned_model=pl.lit(model_row["model_name"]),
        sandbox=pl.lit(sandbox.isolation()))
        .select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA))
    return Scores(frame, len(problems), samples, seconds)
