"""eval_scores: the fine-tuned model and its base on HumanEval, MBPP and HumanEvalPack, pass@k with its 95%
interval per model x benchmark x language x k; a check warns where fine-tuning made a benchmark significantly
worse (a paired test on the same problems)."""

import dagster as dg
import polars as pl

from wavecoder_assets import sandbox
from wavecoder_assets.assets.metadata import table_md
from wavecoder_assets.assets.wiring import versioned
from wavecoder_assets.evaluate.run import compare_roles, describe_comparison, shown_comparison, side_by_side
from wavecoder_assets.evaluate.step import EvalSettings, Scores, score_models
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.resources import GPU_STEP
from wavecoder_assets.resources.llm import LLMResource


class EvalConfig(dg.Config, EvalSettings):
    """Defaults: a few problems per benchmark, greedy pass@1, minutes on 2 CPU cores. presets.PAPER: the paper's
    benchmarks in full (HumanEval 164, MBPP 500, HumanEvalFix and HumanEvalExplain in six languages)."""


@dg.asset(group_name="evaluate", compute_kind="pytorch", deps=["benchmark_files", "embedded_models"], op_tags=GPU_STEP,
          code_version=code_version("1", "wavecoder_assets.evaluate", "wavecoder_assets.train",
                                    "wavecoder_assets.sandbox", "wavecoder_assets.sandbox_init"))
def eval_scores(context: dg.AssetExecutionContext, config: EvalConfig, finetuned_model: pl.DataFrame,
                llm: LLMResource) -> dg.Output[pl.DataFrame]:
    """pass@k of the fine-tuned model and of its base with its 95% interval and each problem's results, one row
    per model x benchmark x language x k. Answers are tested in the sandbox; a language without its toolchain
    (or a problem needing a missing library) is a counted skip with its reason, never a pass."""
    scores = score_models(finetuned_model, config, chat=lambda: llm.client("generator"), logger=context.log)
    return versioned(scores.frame, _eval_metadata(scores))


def _eval_metadata(scores: Scores) -> dict:
    frame = scores.frame
    skipped = (frame.filter(pl.col("skip_reason").is_not_null())
               .select("role", "benchmark", "language", "n_skipped", "skip_reason").unique())
    return {
        "rows": len(frame),
        "problems": scores.problems,
        "scores": table_md(side_by_side(frame)),
        "skipped": table_md(skipped) if len(skipped) else dg.MetadataValue.md("none"),
        "sample_answers": dg.MetadataValue.md("\n\n".join(
            f"**{role}** `{s['task_id']}` ({s['benchmark']}/{s['language']}): {s['result'][:120]}\n"
            f"```\n{(s['completion'] or '')[:400]}\n```" for role, samples in scores.samples.items() for s in samples)),
        "sandbox": sandbox.isolation(),
        **{f"seconds_{role}": round(seconds, 1) for role, seconds in scores.seconds.items()},
    }


@dg.asset_check(asset=eval_scores, description="The fine-tuned model is not significantly worse than its base on any "
                                                "benchmark: a paired exact test per problem (McNemar for pass/fail)")
def finetuned_not_worse_than_base(eval_scores: pl.DataFrame) -> dg.AssetCheckResult:
    # Decided problem by problem (same problems for both models), never from two point estimates.
    comparison = compare_roles(eval_scores)
    worse = comparison.filter(pl.col("verdict") == "worse")
    return dg.AssetCheckResult(
        passed=len(worse) == 0 and len(comparison) > 0,
        severity=dg.AssetCheckSeverity.WARN,
        description=describe_comparison(comparison),
        metadata={"comparison": table_md(shown_comparison(comparison)) if len(comparison)
                  else dg.MetadataValue.md("none"),
                  "worse": table_md(shown_comparison(worse)) if len(worse) else dg.MetadataValue.md("none"),
                  "flipped": dg.MetadataValue.json({f"{r['benchmark']}/{r['language']} pass@{r['k']}": {
                      "lost": r["lost"], "gained": r["gained"]} for r in comparison.iter_rows(named=True)})},
    )
