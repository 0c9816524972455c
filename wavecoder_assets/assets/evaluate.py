"""eval_scores: the fine-tuned model and its base on HumanEval, MBPP and HumanEvalPack, pass@k per
model x benchmark x language x k; a check warns where fine-tuning made a benchmark worse."""

import os
import time
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets import sandbox
from wavecoder_assets.assets.metadata import table_md
from wavecoder_assets.benchmark_data import HUMANEVALPACK_DIR, MBPP_DIR
from wavecoder_assets.evaluate.completion import ChatCompleter, TransformersCompleter
from wavecoder_assets.evaluate.run import (
    BENCHMARKS,
    SCORE_SCHEMA,
    evaluate,
    load_all_problems,
    score_table,
    side_by_side,
)
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.lakefiles import content_version
from wavecoder_assets.resources import GPU_STEP
from wavecoder_assets.resources.llm import LLMResource


class EvalConfig(dg.Config):
    """Defaults: a few problems per benchmark, greedy pass@1, minutes on 2 CPU cores. presets.PAPER: the paper's
    benchmarks in full (HumanEval 164, MBPP 500, HumanEvalFix and HumanEvalExplain in six languages)."""

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
                                    description="folder with <language>/humanevalpack.jsonl (bigcode/humanevalpack); default: the shipped copy")
    workers: int = Field(default=2, description="tests run in parallel")


@dg.asset(group_name="evaluate", compute_kind="pytorch", deps=["benchmark_files", "embedded_models"], op_tags=GPU_STEP,
          code_version=code_version("1", "wavecoder_assets.evaluate", "wavecoder_assets.train",
                                    "wavecoder_assets.sandbox", "wavecoder_assets.sandbox_init"))
def eval_scores(context: dg.AssetExecutionContext, config: EvalConfig, finetuned_model: pl.DataFrame,
                llm: LLMResource) -> dg.Output[pl.DataFrame]:
    """pass@k of the fine-tuned model and of its base, one row per model x benchmark x language x k. Answers are
    tested in the sandbox; a language without its toolchain (or a problem needing a missing library) is a
    counted skip with its reason, never a pass."""
    if finetuned_model.height != 1:
        raise ValueError(f"eval_scores expects one finetuned_model row, got {finetuned_model.height}")
    if any(k > config.n_samples for k in config.ks):
        raise ValueError(f"every k in {config.ks} must be <= n_samples={config.n_samples}")
    model_row = finetuned_model.row(0, named=True)
    problems, missing = load_all_problems(config.benchmarks, config.languages, mbpp_path=config.mbpp_path,
                                          humanevalpack_path=config.humanevalpack_path,
                                          limit=config.limit if config.limit > 0 else None, ks=config.ks)
    if missing:
        context.log.warning(f"benchmarks without data, recorded as skipped: {sorted({m['skip_reason'] for m in missing})}")
    models = [("finetuned", model_row["model_name"], model_row["model_dir"], "transformers")]
    if config.evaluate_base:
        models.append(("base", model_row["base_model"], model_row["base_model"], config.base_backend))

    frames, samples_md, timings = [], [], {}
    for role, name, location, backend in models:
        started = time.perf_counter()
        completer = (ChatCompleter(llm.client("generator"), max_new_tokens=config.max_new_tokens) if backend == "llm"
                     else TransformersCompleter(location, max_new_tokens=config.max_new_tokens, batch_size=config.batch_size))
        samples = evaluate(completer, problems, n=config.n_samples, temperature=config.temperature, workers=config.workers)
        del completer
        timings[role] = time.perf_counter() - started
        context.log.info(f"{role} {name}: {len(samples)} samples in {timings[role]:.0f}s")
        frames.append(score_table(samples, missing, config.ks).with_columns(
            model=pl.lit(name), role=pl.lit(role), backend=pl.lit(backend)))
        samples_md += [f"**{role}** `{s['task_id']}` ({s['benchmark']}/{s['language']}): {s['result'][:120]}\n"
                       f"```\n{(s['completion'] or '')[:400]}\n```" for s in samples[:3]]

    frame = (pl.concat(frames).with_columns(
        n_per_problem=pl.lit(config.n_samples), temperature=pl.lit(config.temperature), limit=pl.lit(config.limit),
        finetuned_model=pl.lit(model_row["model_name"]), sandbox=pl.lit(sandbox.isolation()))
        .select(list(SCORE_SCHEMA)).cast(SCORE_SCHEMA))
    skipped = frame.filter(pl.col("skip_reason").is_not_null()).select("role", "benchmark", "language", "n_skipped", "skip_reason").unique()
    return dg.Output(frame, data_version=dg.DataVersion(content_version(frame)), metadata={
        "rows": len(frame),
        "problems": len(problems),
        "scores": table_md(side_by_side(frame)),
        "skipped": table_md(skipped) if len(skipped) else dg.MetadataValue.md("none"),
        "sample_answers": dg.MetadataValue.md("\n\n".join(samples_md)),
        "sandbox": sandbox.isolation(),
        **{f"seconds_{role}": round(seconds, 1) for role, seconds in timings.items()},
    })


@dg.asset_check(asset=eval_scores, description="The fine-tuned model scores at least its base on every benchmark")
def finetuned_not_worse_than_base(eval_scores: pl.DataFrame) -> dg.AssetCheckResult:
    both = side_by_side(eval_scores).drop_nulls(["base", "finetuned"])
    worse = both.filter(pl.col("finetuned") < pl.col("base"))
    return dg.AssetCheckResult(
        passed=len(worse) == 0 and len(both) > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=(f"worse than the base on {len(worse)} of {len(both)} benchmark x language x k" if len(both)
                     else "nothing to compare: no benchmark scored for both models"),
        metadata={"comparison": table_md(both) if len(both) else dg.MetadataValue.md("none"),
                  "worse": table_md(worse) if len(worse) else dg.MetadataValue.md("none")},
    )
