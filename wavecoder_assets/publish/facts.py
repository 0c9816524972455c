"""What the dataset card states, computed from the lake's tables: plain Polars over DataFrames or LazyFrames (the
big tables are scanned, only the columns a count needs are read). No Dagster here."""

from __future__ import annotations

import json

import polars as pl

from wavecoder_assets.generate.calibration import accuracy_by_set
from wavecoder_assets.generate.contrastive import RULE_TEXTS as CONTRASTIVE_RULE_TEXTS
from wavecoder_assets.generate.discriminator import CODE_RULE_TEXTS
from wavecoder_assets.generate.judge import SEMANTIC_RULES
from wavecoder_assets.lakefiles import DATA_VERSION_KEY, commit_metadata, content_version, table_path
from wavecoder_assets.publish.dataset import DEFAULT_LICENSE_LINK, DEFAULT_LICENSE_NAME, CardFacts, check_license

Frame = pl.DataFrame | pl.LazyFrame

# Checks the pipeline records in rule_verdicts beside the judge's rules: code checks, execution, parsing, contrastive.
CHECKS = CODE_RULE_TEXTS | CONTRASTIVE_RULE_TEXTS | {
    "parse": "The generator's answer parses and passes the paper's post-filters (instruction 1-2 sentences, ...)."}
DECONTAMINATION_STAGE = "decontamination"  # code_ocean_rejected.stage of examples removed for a benchmark match


def row_count(frame: Frame) -> int:
    return int(frame.lazy().select(pl.len()).collect().item())


def counts_by(frame: Frame, column: str) -> dict[str, int]:
    """column value -> rows (a null value counts as "unknown")."""
    counts = frame.lazy().group_by(column).agg(pl.len()).collect()
    return {("unknown" if k is None else str(k)): int(v) for k, v in counts.iter_rows()}


def source_counts(raw_code: Frame) -> dict[str, int]:
    """raw_code source -> rows."""
    return counts_by(raw_code, "source")


def filter_counts(filtered_out: Frame) -> dict[str, int]:
    """filter rule -> rows removed."""
    return counts_by(filtered_out, "rule")


def generation_counts(judged_instructions: Frame) -> tuple[int, int]:
    """(coreset samples sent to the generator, candidates): distinct source_ids and rows of judged_instructions
    (one judged candidate per generated example)."""
    row = judged_instructions.lazy().select(sent=pl.col("source_id").n_unique(), candidates=pl.len()).collect()
    return int(row["sent"].item()), int(row["candidates"].item())


def outcome_counts(code_ocean: Frame, code_ocean_rejected: Frame) -> dict[str, int]:
    """accepted (the rows of CodeOcean) / rejected / failed over all candidates; every key present."""
    outcomes = {"accepted": row_count(code_ocean), "rejected": 0, "failed": 0}
    for outcome, n in counts_by(code_ocean_rejected, "outcome").items():
        outcomes[outcome] = outcomes.get(outcome, 0) + n
    return outcomes


def stage_counts(code_ocean_rejected: Frame) -> dict[str, int]:
    """"<outcome> at <stage>" -> rows, for every candidate not in CodeOcean."""
    counts = code_ocean_rejected.lazy().group_by("outcome", "stage").agg(pl.len()).collect()
    return {f"{outcome} at {stage or 'unknown'}": int(n) for outcome, stage, n in counts.iter_rows()}


def decontamination_counts(code_ocean_rejected: Frame) -> dict[str, int]:
    """benchmark -> accepted examples removed because they shared an n-gram with it (matched_benchmark of the
    rows whose stage is decontamination)."""
    removed = code_ocean_rejected.lazy().filter(pl.col("stage") == DECONTAMINATION_STAGE)
    return counts_by(removed, "matched_benchmark")


def rule_ids(judged_instructions: Frame) -> list[str]:
    """The rule and check ids that appear in any candidate's rule_verdicts."""
    texts = judged_instructions.lazy().select(pl.col("rule_verdicts").unique()).collect()["rule_verdicts"]
    return sorted({rid for text in texts for rid in json.loads(text or "{}")})


def rule_texts(ids: list[str], rules: list[dict] = SEMANTIC_RULES) -> dict[str, str]:
    """id -> text, from the judge's default rules and the pipeline's checks; others are custom rules."""
    texts = {r["id"]: r["text"] for r in rules} | CHECKS
    return {rid: texts.get(rid, "(custom rule)") for rid in ids}


def rule_catches(judged_instructions: Frame) -> dict[str, int]:
    """rule -> candidates whose rule_verdicts say no for it."""
    texts = judged_instructions.lazy().select("rule_verdicts").collect()["rule_verdicts"]
    caught: dict[str, int] = {}
    for text in texts:
        for rule, verdict in json.loads(text or "{}").items():
            if verdict.get("answer") == "no":
                caught[rule] = caught.get(rule, 0) + 1
    return caught


def labelled_accuracy(judge_calibration: Frame) -> dict[str, dict]:
    """labelled set -> {"rows", "balanced_accuracy", "true_accept_rate", "true_reject_rate", "judge_only_rows",
    "judge_only_balanced_accuracy"} of the discriminator on it (`accuracy_by_set`)."""
    by_set = accuracy_by_set(judge_calibration.lazy().collect())
    return {row.pop("labelled_set"): row for row in by_set.iter_rows(named=True)}


def distinct(frame: Frame, column: str) -> list[str]:
    """The sorted distinct non-null values of a column."""
    values = frame.lazy().select(pl.col(column).drop_nulls().unique()).collect()[column]
    return sorted(values.to_list())


def input_versions(lake: str, names: list[str]) -> dict[str, dict]:
    """table -> {"table_version", "data_version"}: each lake table's latest Delta version and the content version
    its commit recorded (the data version the pipeline reports for the asset), read from the Delta log alone."""
    versions = {}
    for name in names:
        commit = commit_metadata(table_path(lake, name))
        versions[name] = {"table_version": int(commit["version"]), "data_version": commit.get(DATA_VERSION_KEY)}
    return versions


def gather_facts(code_ocean: pl.DataFrame, *, raw_code: Frame, filtered_out: Frame, coreset: Frame,
                 judged_instructions: Frame, code_ocean_rejected: Frame, repo_id: str,
                 judge_calibration: Frame | None = None, license: str = "other",
                 license_name: str | None = DEFAULT_LICENSE_NAME,
                 license_link: str | None = DEFAULT_LICENSE_LINK, inputs: dict[str, dict] | None = None) -> CardFacts:
    """Everything the card says, from CodeOcean and its upstream tables (and `inputs`: the versions of the lake
    tables they were read from, see input_versions). The licence is checked first."""
    check_license(license, license_name, license_link)
    sent, candidates = generation_counts(judged_instructions)
    return CardFacts(
        repo_id=repo_id, data_version=content_version(code_ocean), license=license, license_name=license_name,
        license_link=license_link,
        sources=source_counts(raw_code), filters=filter_counts(filtered_out), coreset_size=row_count(coreset),
        sent_to_generator=sent, candidates=candidates,
        generator_models=distinct(judged_instructions, "generator_model"),
        judge_models=distinct(judged_instructions, "judge_model"),
        prompt_versions=distinct(judged_instructions, "prompt_version"),
        rules=rule_texts(rule_ids(judged_instructions)),
        outcomes=outcome_counts(code_ocean, code_ocean_rejected), stages=stage_counts(code_ocean_rejected),
        decontaminated=decontamination_counts(code_ocean_rejected), caught=rule_catches(judged_instructions),
        accuracy=labelled_accuracy(judge_calibration) if judge_calibration is not None else {},
        inputs=dict(inputs or {}),
    )
