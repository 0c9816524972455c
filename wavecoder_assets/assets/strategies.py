"""evol_instructions (WizardCoder's Evol-Instruct), oss_instructions (Magicoder's OSS-Instruct) and
strategy_report: the two best-known alternatives to WaveCoder's generator-discriminator, on the same LLM
resource, cache, judge and sandbox, compared with CodeOcean in one table. Evol and OSS run in shards of their
seeds (by source id); the report reads every shard."""

import time
from contextlib import closing

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import counts_md, samples_md, table_md
from wavecoder_assets.assets.settings import rows_in_shards, sharded
from wavecoder_assets.assets.wiring import per_shard, versioned
from wavecoder_assets.embed import EMBEDDED_MODEL, Encoder
from wavecoder_assets.existing_paths import ExistingPath
from wavecoder_assets.fingerprints import DISCRIMINATOR, code_version
from wavecoder_assets.generate.decontaminate import DecontaminationSettings
from wavecoder_assets.llm import GENERATOR_MODEL
from wavecoder_assets.resources import CPU_STEP
from wavecoder_assets.resources.discriminator import DiscriminatorResource
from wavecoder_assets.resources.llm import LLMResource
from wavecoder_assets.sandbox import run_python
from wavecoder_assets.strategies import compare
from wavecoder_assets.strategies.evol import (
    EVOL_SCHEMA,
    HEURISTICS,
    EvolSettings,
    code_ocean_verdicts,
    draw_seeds,
    evolve,
)
from wavecoder_assets.strategies.oss import OSS_SCHEMA, OssSettings, oss_instruct, shard_settings

GROUP = "strategies"


class EvolInstructionsConfig(dg.Config, EvolSettings):
    """The evolution's settings (EvolSettings) and the step's own: where the seeds come from, how many, the judge
    sample."""

    seed_file: ExistingPath | None = Field(
        default=None, description="Code Alpaca JSON file (a list of instruction, input, output) to evolve; "
                                  "empty: CodeOcean's instructions")
    # One seed (and one OSS snippet): the default run's minutes go to the WaveCoder candidates.
    max_seeds: int | None = Field(default=1, ge=0, description="seed instructions drawn (seeded) from all shards; "
                                                               "each shard evolves its part of them; None: all "
                                                               "(WizardCoder: 20k)")
    judge_max_rows: int | None = Field(
        default=0, ge=0, description="ok rows per shard the WaveCoder judge rates for the report's pass rate (seeded "
                               "sample; 0: none, None: all; ~15 s a row for the local judge). CodeOcean seeds carry "
                               "their accepted verdict.")


class OssInstructionsConfig(dg.Config, OssSettings):
    """OSS-Instruct's settings (OssSettings; n_seeds counts the snippets of all shards together) and the judge
    sample."""

    judge_max_rows: int | None = Field(
        default=0, ge=0, description="ok rows per shard the WaveCoder judge rates for the report's pass rate (seeded "
                               "sample; 0: none, None: all; ~15 s a row for the local judge)")


def _usage_since(before: dict, llm: LLMResource) -> dict:
    """This asset's share of the run's LLM usage (the resource counts for the whole run)."""
    return {k: v - before.get(k, 0) if isinstance(v, (int, float)) else v for k, v in llm.usage_metadata().items()}


@dg.asset(group_name=GROUP, pool="llm", compute_kind="llm", deps=["embedded_models"], op_tags=CPU_STEP,
          code_version=code_version("2", "wavecoder_assets.strategies.evol", "wavecoder_assets.strategies.compare",
                                    *DISCRIMINATOR), **sharded("source_id"))
def evol_instructions(context: dg.AssetExecutionContext, config: EvolInstructionsConfig, llm: LLMResource,
                      discriminator: DiscriminatorResource, code_ocean: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """WizardCoder's Code Evol-Instruct: every round rewrites each instruction with one of five heuristics
    (drawn per instruction and round, seeded) to make it a bit harder; failed evolutions are eliminated with a
    named rule and reason; the generator answers the survivors. Seeds (round 0) and all rounds in one table;
    status ok | eliminated | failed. The seeds are drawn from all of CodeOcean (or the seed file); a shard evolves
    those whose source id is in it."""
    seeds = draw_seeds(code_ocean, config.seed_file, max_seeds=config.max_seeds, seed=config.seed)
    if seeds.is_empty():
        context.log.warning("evol_instructions: no seed instructions (code_ocean is empty); nothing to evolve")
    shards = sorted(context.partition_keys)
    drawn, seeds = seeds.height, rows_in_shards(seeds, "source_id", shards)
    started, usage = time.perf_counter(), llm.usage_metadata()
    judge = llm.client("judge") if config.judge_equality else None
    # CodeOcean seeds passed the judge already; evolutions get their own verdicts
    verdicts = None if config.seed_file else code_ocean_verdicts(code_ocean)
    parts = per_shard(context, seeds, "source_id", lambda _, part: compare.judge_sample(
        evolve(part, llm.client("generator"), judge, config, verdicts=verdicts, logger=context.log),
        llm.client("judge"), discriminator.settings(), config.judge_max_rows, config.seed, logger=context.log))
    out = (pl.concat(list(parts.values()), how="diagonal_relaxed") if parts
           else pl.DataFrame(schema=EVOL_SCHEMA | compare.VERDICT_SCHEMA))
    return versioned(out, _evol_metadata(out, config, shards, drawn, seeds.height, time.perf_counter() - started,
                                         _usage_since(usage, llm)))


def _evol_metadata(out: pl.DataFrame, config: EvolInstructionsConfig, shards: list[str], drawn: int, seeds: int,
                   seconds: float, usage: dict) -> dict:
    evolutions = out.filter(pl.col("round") > 0)
    _, pass_rate = compare.judge_pass(evolutions.filter(pl.col("status") == "ok"))
    return {
        "shards": ", ".join(shards),
        "seeds_drawn_from_all_shards": drawn,
        "seeds": seeds,
        "seed_source": config.seed_file or "code_ocean",
        "rounds": config.rounds,
        "rows_ok": out.filter(pl.col("status") == "ok").height,
        "evolutions_ok": evolutions.filter(pl.col("status") == "ok").height,
        "eliminated": out.filter(pl.col("status") == "eliminated").height,
        "failed": out.filter(pl.col("status") == "failed").height,
        "evolutions_judge_pass_rate": pass_rate if pass_rate is not None else float("nan"),
        "funnel_per_round": counts_md(out, ["round", "status"]),
        "heuristics": counts_md(evolutions, ["heuristic", "status"]),
        "heuristic_texts": dg.MetadataValue.md("\n".join(f"- `{k}`: {v}" for k, v in HEURISTICS.items())),
        "eliminations": counts_md(out.filter(pl.col("status") != "ok"), ["rule", "status"]),
        "sample_evolutions": samples_md(evolutions, ["round", "heuristic", "status", "rule", "instruction"]),
        "seconds": round(seconds, 1),
        **usage,
    }


@dg.asset(group_name=GROUP, pool="llm", compute_kind="llm", deps=["embedded_models"], op_tags=CPU_STEP,
          code_version=code_version("2", "wavecoder_assets.strategies.oss", "wavecoder_assets.strategies.compare",
                                    *DISCRIMINATOR), **sharded("source_id"))
def oss_instructions(context: dg.AssetExecutionContext, config: OssInstructionsConfig, llm: LLMResource,
                     discriminator: DiscriminatorResource, coreset: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """Magicoder's OSS-Instruct: 1-15 consecutive lines drawn (seeded) from coreset samples inspire a
    self-contained problem and its solution. Seeded requests; the endpoint's system_fingerprint is kept.
    status ok | unparseable | failed. A shard draws from its own coreset samples (by id)."""
    if coreset.is_empty():
        context.log.warning("oss_instructions: the coreset is empty; no snippets to draw")
    started, usage = time.perf_counter(), llm.usage_metadata()
    ranked = coreset.sort("rank")

    def run(_, rows: pl.DataFrame) -> pl.DataFrame | None:
        settings = shard_settings(ranked, rows, config)  # the config, with this shard's share of the snippets
        if settings is None:
            return None
        out = oss_instruct(rows, llm.client("generator"), settings, logger=context.log)
        return compare.judge_sample(out, llm.client("judge"), discriminator.settings(), config.judge_max_rows,
                                    config.seed, logger=context.log, code_column="seed_snippet")

    parts = [part for part in per_shard(context, ranked, "id", run).values() if part is not None]
    out = pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame(schema=OSS_SCHEMA | compare.VERDICT_SCHEMA)
    return versioned(out, _oss_metadata(out, sorted(context.partition_keys), time.perf_counter() - started,
                                        _usage_since(usage, llm)))


def _oss_metadata(out: pl.DataFrame, shards: list[str], seconds: float, usage: dict) -> dict:
    _, pass_rate = compare.judge_pass(out.filter(pl.col("status") == "ok"))
    return {
        "shards": ", ".join(shards),
        "seeds": out.height,
        "rows_ok": out.filter(pl.col("status") == "ok").height,
        "unparseable": out.filter(pl.col("status") == "unparseable").height,
        "failed": out.filter(pl.col("status") == "failed").height,
        "judge_pass_rate": pass_rate if pass_rate is not None else float("nan"),
        "snippet_lines_mean": float(out["seed_n_lines"].mean()) if out.height else 0.0,
        "system_fingerprints": ", ".join(sorted({f for f in out["system_fingerprint"] if f})) or "none given",
        "per_language": counts_md(out, ["language", "status"]),
        "sample": samples_md(out, ["language", "seed_n_lines", "status", "instruction", "error"]),
        "seconds": round(seconds, 1),
        **usage,
    }


class StrategyReportConfig(dg.Config, DecontaminationSettings):
    """Benchmark overlap is code_ocean's n-gram test (DecontaminationSettings), counted instead of removed."""

    embedding_model: str = Field(default=EMBEDDED_MODEL, description="encoder for the diversity measures (the embed "
                                                                     "stage's default; pooling as the model says)")
    max_embed_rows: int | None = Field(default=2000, ge=1, description="rows per strategy embedded (seeded sample)")
    tokenizer: str = Field(default=GENERATOR_MODEL, description="embedded GGUF model name or .gguf path whose "
                                                                "vocabulary counts the tokens")
    sandbox_max_runs: int | None = Field(default=200, ge=0, description="Python solutions with asserts run per strategy")
    sandbox_timeout_s: float = Field(default=10.0, gt=0)
    seed: int = 0


@dg.asset(group_name=GROUP, compute_kind="polars", deps=["benchmark_files", "embedded_models"], op_tags=CPU_STEP,
          code_version=code_version("1", "wavecoder_assets.strategies", "wavecoder_assets.generate.decontaminate",
                                    "wavecoder_assets.embed", *DISCRIMINATOR))
def strategy_report(config: StrategyReportConfig, code_ocean: pl.DataFrame, evol_instructions: pl.DataFrame,
                    oss_instructions: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """WaveCoder's CodeOcean, Evol-Instruct and OSS-Instruct data side by side: rows, tokens, the WaveCoder
    judge's pass rate, the sandbox pass rate of Python solutions with asserts, diversity (coverage radius and
    mean nearest-neighbour distance of the instructions in one embedding space) and benchmark overlap."""
    frames = compare.strategy_frames(code_ocean, evol_instructions, oss_instructions)
    index, checked = config.index()
    encoder = Encoder(config.embedding_model)
    with closing(compare.GGUFTokenCounter(config.tokenizer)) as count_tokens:
        started = time.perf_counter()
        report = compare.build_report(
            frames, embed=encoder.encode, count_tokens=count_tokens, run_python=run_python,
            overlap=lambda frame: compare.benchmark_overlap(frame, index, config.ngram),
            max_embed_rows=config.max_embed_rows, sandbox_max_runs=config.sandbox_max_runs,
            sandbox_timeout_s=config.sandbox_timeout_s, seed=config.seed)
    return versioned(report, _report_metadata(report, config, checked, time.perf_counter() - started))


def _report_metadata(report: pl.DataFrame, config: StrategyReportConfig, checked: str, seconds: float) -> dict:
    return {
        "report": table_md(report),
        "how_to_read": dg.MetadataValue.md(
            "- **judge_pass_rate**: share of judged rows the WaveCoder discriminator accepted; CodeOcean holds only "
            "accepted rows (1.0 by construction), Evol/OSS rows are judged when their `judge_max_rows` allows.\n"
            "- **sandbox_pass_rate**: Python solutions that parse and hold asserts, run in the sandbox.\n"
            "- **coverage_radius**: largest distance from any strategy's instruction to this strategy's nearest one "
            "(lower covers the pooled space better); **mean_nn_distance**: mean distance to the nearest other "
            "instruction of the same strategy (higher is more diverse). Euclidean, one embedding space.\n"
            f"- **benchmark_overlap**: rows sharing a word {config.ngram}-gram with a benchmark prompt or solution."),
        "benchmarks": checked,
        "embedding_model": config.embedding_model,
        "tokenizer": config.tokenizer,
        "seconds": round(seconds, 1),
    }
