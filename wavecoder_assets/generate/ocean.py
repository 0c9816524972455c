"""CodeOcean from the judged examples: accepted ones, decontaminated and balanced per task; everything else
in the rejected table with its stage, failed rules, reasons or error. Every candidate lands in exactly one."""

from __future__ import annotations

import json

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from wavecoder_assets.generate.calibration import GateResult
from wavecoder_assets.generate.decontaminate import decontaminate
from wavecoder_assets.generate.discriminator import CODE_RULES, rule_kind
from wavecoder_assets.generate.judge import failed_rules
from wavecoder_assets.generate.tasks import TASKS, task_quotas
from wavecoder_assets.hashing import stable_hash
from wavecoder_assets.lakefiles import read_table, table_history

# The evidence behind each accepted row, published with it so users can filter (e.g. only rows whose tests ran).
EVIDENCE_SCHEMA = {"tests": pl.String, "tests_passed": pl.Boolean, "decided_by": pl.List(pl.String),
                   "decided_by_kinds": pl.List(pl.String)}
OCEAN_SCHEMA = {**{column: pl.String for column in (
    "example_id", "source_id", "task_name", "language", "instruction", "information", "solution", "generator_model",
    "judge_model", "prompt_version")}, **EVIDENCE_SCHEMA}
OCEAN_COLUMNS = list(OCEAN_SCHEMA)
REJECTED_SCHEMA = {
    "example_id": pl.String, "source_id": pl.String, "task_name": pl.String, "language": pl.String,
    "target_language": pl.String, "outcome": pl.String, "stage": pl.String, "failed_rules": pl.String,
    "reasons": pl.String, "error": pl.String, "matched_benchmark": pl.String, "matched_task_id": pl.String,
    "instruction": pl.String, "information": pl.String, "solution": pl.String, "generator_model": pl.String,
    "judge_model": pl.String, "prompt_version": pl.String, "round": pl.Int64,
}
def evidence(row: dict) -> dict:
    """A judged row's EVIDENCE_SCHEMA columns: the tests that ran and whether they passed (both empty when none ran),
    and the rules that answered yes (not n/a) with the kinds of part that answered them (discriminator.RULE_KINDS)."""
    verdicts = json.loads(row["rule_verdicts"] or "{}")
    ran = verdicts.get("tests_pass", {}).get("answer") in ("yes", "no")
    decided = sorted(rule for rule, v in verdicts.items() if v.get("answer") == "yes")
    return {"tests": row["tests"] if ran else None, "tests_passed": verdicts["tests_pass"]["answer"] == "yes" if ran
            else None, "decided_by": decided, "decided_by_kinds": sorted({rule_kind(rule) for rule in decided})}


def _with_evidence(accepted: pl.DataFrame) -> pl.DataFrame:
    rows = [evidence(row) for row in accepted.select("tests", "rule_verdicts").iter_rows(named=True)]
    return accepted.with_columns(pl.DataFrame(rows, schema=EVIDENCE_SCHEMA, orient="row"))


def _stage(row: dict, failed: list[str]) -> str:
    """Which step stopped a candidate: the generator, parsing, the code checks / execution, or the LLM judge."""
    if row["verdict"] == "failed":
        return "generator" if row["status"] == "failed" else "judge"
    if "parse" in failed:
        return "parse"
    if CODE_RULES & set(failed):
        return "checks"
    return "judge"


def _rejected_rows(judged: pl.DataFrame) -> list[dict]:
    rows = []
    for row in judged.filter(pl.col("verdict") != "accepted").iter_rows(named=True):
        verdicts = json.loads(row["rule_verdicts"] or "{}")
        failed = failed_rules(verdicts)
        rows.append(row | {"outcome": row["verdict"], "stage": _stage(row, failed), "failed_rules": json.dumps(failed)})
    return rows


def balance_to_mix(frame: pl.DataFrame, mix: dict[str, float], seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The largest subset whose task proportions follow the mix (kept rows chosen by a seeded hash); returns
    (kept, dropped)."""
    counts = dict(frame.group_by("task_name").len().iter_rows())
    weights = {t: p for t, p in mix.items() if p > 0}
    total = sum(weights.values())
    size = min(int(counts.get(t, 0) / (p / total)) for t, p in weights.items())
    quotas = {t: min(q, counts.get(t, 0)) for t, q in task_quotas(size, weights).items()}
    order = frame.with_columns(
        _order=pl.Series([stable_hash(seed, "balance", i) for i in frame["example_id"]], dtype=pl.UInt64)
    ).with_columns(_pos=pl.col("_order").rank("ordinal").over("task_name") - 1)
    keep = pl.col("_pos") < pl.col("task_name").replace_strict(quotas, default=0, return_dtype=pl.Int64)
    return order.filter(keep).drop("_order", "_pos"), order.filter(~keep).drop("_order", "_pos")


def build_code_ocean(judged: pl.DataFrame, index: dict | None, n: int, *, balance_mix: dict[str, float] | None,
                     seed: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(code_ocean, code_ocean_rejected). index None: no decontamination."""
    accepted = _with_evidence(judged.filter(pl.col("verdict") == "accepted"))
    rejected = _rejected_rows(judged)
    if index is not None:
        accepted, removed = decontaminate(accepted, index, n)
        for row in removed.iter_rows(named=True):
            reason = f"{n}-gram overlap with {row['matched_benchmark']} {row['matched_task_id']}"
            rejected.append(row | {"outcome": "rejected", "stage": "decontamination", "reasons": reason,
                                   "failed_rules": json.dumps(["decontamination"])})
    if balance_mix:
        accepted, dropped = balance_to_mix(accepted, balance_mix, seed)
        for row in dropped.iter_rows(named=True):
            rejected.append(row | {"outcome": "rejected", "stage": "balance", "failed_rules": json.dumps(["balance"]),
                                   "reasons": "over its task's share of the configured mix"})
    rejected_df = pl.DataFrame([{k: r.get(k) for k in REJECTED_SCHEMA} for r in rejected], schema=REJECTED_SCHEMA)
    return accepted.select(OCEAN_COLUMNS).sort("example_id"), rejected_df.sort("example_id")


def outcome_counts(judged: pl.DataFrame, ocean: pl.DataFrame, rejected: pl.DataFrame) -> pl.DataFrame:
    """Per task: candidates (judged rows) and where they ended: accepted, rejected, failed; `adds_up` checks
    that each candidate is in exactly one place."""
    tasks = pl.DataFrame({"task_name": sorted(TASKS)})

    def count(frame: pl.DataFrame, name: str) -> pl.DataFrame:
        return frame.group_by("task_name").agg(pl.col("example_id").n_unique().alias(name))

    out = tasks
    for frame, name in ((judged, "candidates"), (ocean, "accepted"),
                        (rejected.filter(pl.col("outcome") == "rejected"), "rejected"),
                        (rejected.filter(pl.col("outcome") == "failed"), "failed")):
        out = out.join(count(frame, name), on="task_name", how="left")
    out = out.fill_null(0)
    placed = pl.concat([ocean.select("example_id", "task_name"), rejected.select("example_id", "task_name")])
    rows = placed.group_by("task_name").len(name="rows_placed")
    out = out.join(rows, on="task_name", how="left").fill_null(0)
    return out.with_columns(
        adds_up=(pl.col("accepted") + pl.col("rejected") + pl.col("failed") == pl.col("candidates"))
        & (pl.col("rows_placed") == pl.col("candidates"))
    ).drop("rows_placed")


class ShrinkSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    allow_shrink: bool = Field(default=False, description="pass even when code_ocean is empty or shrank by more "
                                                          "than max_shrink (a cut you intend)")
    max_shrink: float = Field(default=0.5, ge=0.0, le=1.0,
                              description="largest share of the previous version's rows code_ocean may lose")


def shrink_gate(base_dir: str, settings: ShrinkSettings) -> GateResult:
    """Is the latest code_ocean version not empty, and has it kept at least 1 - max_shrink of the rows of the
    latest earlier version with other content (an unchanged rerun does not reset the baseline)?"""
    history = table_history(base_dir, "code_ocean")  # newest first
    current = history[0]
    rows = _version_rows(base_dir, current)
    previous = next((e for e in history[1:] if e["data_version"] != current["data_version"]), None)
    previous_rows = _version_rows(base_dir, previous) if previous else None
    metadata = {"rows": rows, "table_version": current["version"], "max_shrink": settings.max_shrink,
                "allow_shrink": settings.allow_shrink}
    if previous is not None:
        metadata |= {"previous_rows": previous_rows, "previous_table_version": previous["version"],
                     "shrink": round(1 - rows / previous_rows, 3) if previous_rows else 0.0}
    if rows == 0:
        problem = "code_ocean is empty"
    elif previous_rows and rows < (1 - settings.max_shrink) * previous_rows:
        problem = (f"code_ocean has {rows} rows, {previous_rows - rows} fewer than the {previous_rows} of version "
                   f"{previous['version']}: more than max_shrink={settings.max_shrink} of them lost")
    else:
        baseline = f"version {previous['version']} had {previous_rows}" if previous else "no earlier version"
        return GateResult(True, f"{rows} rows ({baseline})", metadata)
    if settings.allow_shrink:
        return GateResult(True, f"{problem}; allowed (allow_shrink)", metadata)
    return GateResult(False, f"{problem}; rerun this check with allow_shrink=True if that is intended", metadata)


def _version_rows(base_dir: str, entry: dict) -> int:
    return entry["rows"] if entry["rows"] is not None else read_table(base_dir, "code_ocean", entry["version"]).height
