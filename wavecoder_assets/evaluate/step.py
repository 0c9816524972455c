"""The eval_scores step: the fine-tuned model and its base on the benchmarks, one score table. No Dagster here."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl
import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wavecoder_assets import sandbox
from wavecoder_assets.benchmark_data import HUMANEVALPACK_DIR, MBPP_DIR
from wavecoder_assets.evaluate.benchmarks import PACK_LANGUAGES
from wavecoder_assets.evaluate.completion import ChatCompleter, LlamaCppCompleter, TransformersCompleter
from wavecoder_assets.evaluate.run import BENCHMARKS, SCORE_SCHEMA, evaluate, load_all_problems, score_table
from wavecoder_assets.existing_paths import ExistingPath
from wavecoder_assets.llm import ChatClient

log = logging.getLogger(__name__)
# On a CPU llama.cpp generates several times faster than transformers (bench/eval.py --backends); a GPU batches.
DEFAULT_BACKEND = "transformers" if torch.cuda.is_available() else "llama_cpp"


class EvalSettings(BaseModel):
    """What is evaluated and how (score_models)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    # HumanEvalFix is left out of the default: 20 problems each of HumanEval and MBPP for both models already take
    # 4-6 minutes on 2 cores, and its longer prompts and whole-function answers cost more per problem.
    benchmarks: list[str] = Field(default=["humaneval", "mbpp"], description=f"any of {BENCHMARKS}")
    languages: list[str] = Field(default=["python"], description=f"HumanEvalPack languages: any of {PACK_LANGUAGES}")
    limit: int = Field(default=20, description="problems per benchmark and language; <= 0: all (make eval)")
    n_samples: int = Field(default=1, ge=1, description="completions per problem (n > 1 needs temperature > 0)")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0: greedy")
    ks: list[int] = Field(default=[1], min_length=1, description="pass@k for these k (each 1..n_samples)")
    max_new_tokens: int = Field(default=128, ge=1, description="per completion; a batch runs until its longest one stops")
    batch_size: int = Field(default=4, ge=1, description="prompts per generate() call (transformers backend)")
    evaluate_base: bool = Field(default=True, description="also score the base model, for the comparison check")
    backend: Literal["llama_cpp", "transformers"] = Field(
        default=DEFAULT_BACKEND, description="llama_cpp: each model's GGUF (finetuned_model's gguf_path, the base's "
                                             "GGUF) through llama.cpp's local server, the default without a GPU; "
                                             "transformers: in process, batched (a model without a GGUF runs so too)")
    base_backend: Literal["same", "llm"] = Field(
        default="same", description="same: the base on `backend` too; llm: query the base through the LLM "
                                    "resource's generator endpoint")
    threads: int = Field(default=0, ge=0, description="llama.cpp threads; 0: one per CPU core")
    mbpp_path: ExistingPath = Field(
        default=os.environ.get("WAVECODER_MBPP_PATH", str(MBPP_DIR)),
        description="mbpp.jsonl or its folder (google-research MBPP); default: the shipped copy")
    humanevalpack_path: ExistingPath = Field(
        default=os.environ.get("WAVECODER_HUMANEVALPACK_PATH", str(HUMANEVALPACK_DIR)),
        description="folder with <language>/humanevalpack.jsonl (bigcode/humanevalpack); default: the shipped copy")
    workers: int = Field(default=2, ge=1, description="tests run in parallel")

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, benchmarks: list[str]) -> list[str]:
        if not benchmarks or set(benchmarks) - set(BENCHMARKS):
            raise ValueError(f"one or more of {BENCHMARKS}, not {benchmarks}")
        return benchmarks

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: list[str]) -> list[str]:
        if not languages or set(languages) - set(PACK_LANGUAGES):
            raise ValueError(f"one or more of {PACK_LANGUAGES}, not {languages}")
        return languages

    @model_validator(mode="after")
    def _ks_within_samples(self) -> EvalSettings:
        if any(not 1 <= k <= self.n_samples for k in self.ks):
            raise ValueError(f"every k in ks {self.ks} must be 1..n_samples ({self.n_samples})")
        return self


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
    model_row = finetuned_model.row(0, named=True)
    problems, missing = load_all_problems(settings.benchmarks, settings.languages, mbpp_path=settings.mbpp_path,
                                          humanevalpack_path=settings.humanevalpack_path,
                                          limit=settings.limit if settings.limit > 0 else None, ks=settings.ks)
    if missing:
        logger.warning(f"benchmarks without data, recorded as skipped: {sorted({m['skip_reason'] for m in missing})}")
    # role, name, where its weights are, its GGUF (a finetuned_model row from before GGUF export has none)
    models = [("finetuned", model_row["model_name"], model_row["model_dir"], model_row.get("gguf_path"))]
    if settings.evaluate_base:
        models.append(("base", model_row["base_model"], model_row["base_model"], model_row["base_gguf_file"]))

    frames, samples, seconds = [], {}, {}
    for role, name, location, gguf in models:
        started = time.perf_counter()
        completer, backend = _completer(role, location, gguf, settings, chat, logger)
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


def _completer(role: str, location: str, gguf: str | None, settings: EvalSettings, chat: Callable[[], ChatClient],
               logger) -> tuple[object, str]:
    """The completer for one model and the backend it runs on; llama_cpp needs the model's GGUF."""
    if role == "base" and settings.base_backend == "llm":
        return ChatCompleter(chat(), max_new_tokens=settings.max_new_tokens), "llm"
    if settings.backend == "llama_cpp" and gguf:
        return LlamaCppCompleter(gguf, max_new_tokens=settings.max_new_tokens,
                                 n_threads=settings.threads or os.cpu_count() or 1), "llama_cpp"
    if settings.backend == "llama_cpp":
        logger.warning(f"{role} model {location} has no GGUF: evaluated with transformers")
    return TransformersCompleter(location, max_new_tokens=settings.max_new_tokens,
                                 batch_size=settings.batch_size), "transformers"
