"""raw_code -> filtered_code + filtered_out: the paper's raw-code collection and filtering."""

import time
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field, field_validator, model_validator

from wavecoder_assets.assets.metadata import counts_md, table_md
from wavecoder_assets.assets.wiring import versioned
from wavecoder_assets.corpus import (
    LANGUAGES,
    FilterResult,
    FilterSettings,
    apply_rules,
    default_roots,
    filter_rules,
    harvest_trees,
    read_codesearchnet,
)
from wavecoder_assets.existing_paths import ExistingPath
from wavecoder_assets.fingerprints import CODE_FACTS, code_version
from wavecoder_assets.resources import CPU_STEP


class RawCodeConfig(dg.Config):
    source_kind: Literal["local_tree", "codesearchnet"] = Field(
        default="local_tree", description="local_tree: harvest source trees with tree-sitter; codesearchnet: read a local copy")
    paths: list[ExistingPath] = Field(
        default_factory=list,
        description="directories (or source zips) to harvest, or CodeSearchNet folders/files; empty with local_tree: "
                    "the embedded defaults (this Python's standard library and the other library sources on the machine)")
    languages: list[str] = Field(default_factory=lambda: list(LANGUAGES), description=f"one or more of {list(LANGUAGES)}")
    max_rows_per_language: int = Field(default=3000, ge=0, description="stop taking a language at this many rows (0: no cap)")
    max_files: int = Field(default=0, ge=0, description="local_tree: files read per root (0: no cap)")
    max_line_bytes: int = Field(default=1_000_000, ge=1, description="codesearchnet: a longer JSONL line is skipped")
    max_source_line_chars: int = Field(default=1000, ge=1, description="local_tree: a function with a longer line is skipped")

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, languages: list[str]) -> list[str]:
        unknown = sorted(set(languages) - set(LANGUAGES))
        if unknown or not languages:
            raise ValueError(f"one or more of {list(LANGUAGES)}, not {languages}")
        return languages

    @model_validator(mode="after")
    def _codesearchnet_needs_paths(self) -> "RawCodeConfig":
        if self.source_kind == "codesearchnet" and not self.paths:
            raise ValueError("source_kind 'codesearchnet' needs paths: folders holding the CodeSearchNet files")
        return self


class FilterConfig(dg.Config, FilterSettings):
    allow_empty: bool = Field(default=False, description="write filtered_code even when the filters keep none of a "
                                                         "non-empty raw_code (else the step fails with the funnel)")


def _samples_md(frame: pl.DataFrame, per_group: int = 2, by: str = "language") -> str:
    """A few rows (seeded sample per group) as headings + fenced code; a table would mangle the code."""
    parts = []
    for group in frame.sort(by).partition_by(by, maintain_order=True):
        for row in group.sample(min(per_group, group.height), seed=0).iter_rows(named=True):
            doc = (row["docstring"] or "").strip().splitlines()[0:1] or [""]
            fence = "```" + ("js" if row["language"] == "javascript" else row["language"])
            label = f" — removed by `{row['rule']}`" if "rule" in row else ""
            parts.append(f"**{row['language']}** `{row['func_name']}` ({row['path']}){label}\n\n> {doc[0][:200]}\n\n"
                         f"{fence}\n{row['code'][:1200]}\n```")
    return "\n\n".join(parts) or "(none)"


def _language_counts(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by("language").len("rows").sort("language")


@dg.asset(group_name="corpus", compute_kind="tree-sitter", deps=["corpus_sources"], op_tags=CPU_STEP,
          code_version=code_version("1", "wavecoder_assets.corpus.harvest", "wavecoder_assets.corpus.codesearchnet",
                                    "wavecoder_assets.corpus.records", "wavecoder_assets.languages"))
def raw_code(context: dg.AssetExecutionContext, config: RawCodeConfig) -> dg.Output[pl.DataFrame]:
    """(docstring, code) pairs in the CodeSearchNet schema, with a content-hash id and their source.

    Harvested from local source trees with tree-sitter (default: this Python's standard library, npm's
    bundled packages and the JDK's library source when installed), or read from a local CodeSearchNet copy.
    Skipped files and lines are counted by reason in the metadata and logged.
    """
    started = time.perf_counter()
    if config.source_kind == "local_tree":
        roots = config.paths or default_roots()
        rows, skips = harvest_trees(roots, languages=tuple(config.languages),
                                    max_rows_per_language=config.max_rows_per_language, max_files=config.max_files,
                                    max_line_chars=config.max_source_line_chars, logger=context.log)
    else:
        roots = config.paths
        rows, skips = read_codesearchnet(roots, languages=tuple(config.languages),
                                         max_rows_per_language=config.max_rows_per_language,
                                         max_line_bytes=config.max_line_bytes, logger=context.log)
    return versioned(rows, _raw_code_metadata(rows, skips.frame(), roots, time.perf_counter() - started))


def _raw_code_metadata(rows: pl.DataFrame, skipped: pl.DataFrame, roots: list[str], seconds: float) -> dict:
    nothing = dg.MetadataValue.md("nothing skipped")
    return {
        "rows": rows.height,
        "per_language": table_md(_language_counts(rows)),
        "skipped": table_md(skipped.group_by("reason").len("skipped").sort("reason")) if skipped.height else nothing,
        "skip_examples": table_md(skipped.group_by("reason", maintain_order=True).head(3)
                                  .select("reason", "path", "line", "detail")) if skipped.height else nothing,
        "sources": dg.MetadataValue.md("\n".join(f"- `{r}`" for r in roots)),
        "samples": dg.MetadataValue.md(_samples_md(rows)),
        "seconds": round(seconds, 2),
    }


# The filters, and the code facts behind the runs-alone and plain-values filters (not the discriminator's rules).
FILTERS_VERSION = code_version("1", "wavecoder_assets.corpus.filters", *CODE_FACTS)


@dg.multi_asset(
    name="filtered_code",
    ins={"raw_code": dg.AssetIn()},
    outs={
        "filtered_code": dg.AssetOut(group_name="corpus", is_required=False,
                                     code_version=FILTERS_VERSION,
                                     description="raw_code rows that pass the paper's filters"),
        "filtered_out": dg.AssetOut(group_name="corpus", is_required=False,
                                    code_version=FILTERS_VERSION,
                                    description="raw_code rows the filters removed, with the rule that removed each"),
    },
    check_specs=[
        dg.AssetCheckSpec("code_length_within_bounds", asset="filtered_code"),
        dg.AssetCheckSpec("ids_unique", asset="filtered_code"),
        dg.AssetCheckSpec("languages_known", asset="filtered_code"),
    ],
    can_subset=True,  # either table can be written alone (the rules run either way)
    compute_kind="polars",
    op_tags=CPU_STEP,
)
def filter_code(context: dg.AssetExecutionContext, config: FilterConfig, raw_code: pl.DataFrame):
    """Code length min..max chars, the Code Alpaca blacklist, exact dedup on normalized code, near dedup with
    MinHash LSH, then (not the paper's) functions that run alone, then ones that take plain values, in that order;
    each removed row keeps the first rule that removed it."""
    started = time.perf_counter()
    result = apply_rules(raw_code, filter_rules(config))
    seconds = round(time.perf_counter() - started, 2)
    kept, removed = result.kept, result.removed
    context.log.info(f"filtered {raw_code.height} rows -> {kept.height} kept, {removed.height} removed in {seconds}s")
    if dg.AssetKey("filtered_out") in context.selected_asset_keys:
        yield versioned(removed, _filtered_out_metadata(removed), output_name="filtered_out")
    if dg.AssetKey("filtered_code") in context.selected_asset_keys:
        if kept.is_empty() and raw_code.height and not config.allow_empty:
            # An empty table would replace the corpus every later stage reads; filtered_out (written) says which
            # rule took each row.
            raise ValueError(f"filtered_code: the filters kept none of {raw_code.height} raw_code rows (allow_empty: "
                             f"write the empty table anyway). Funnel:\n{result.funnel}")
        yield versioned(kept, _filtered_code_metadata(result, seconds), output_name="filtered_code")
        yield from _filtered_code_checks(kept, config)


def _filtered_out_metadata(removed: pl.DataFrame) -> dict:
    return {"rows": removed.height, "per_rule": counts_md(removed, ["rule", "language"]),
            "samples": dg.MetadataValue.md(_samples_md(removed, per_group=1, by="rule"))}


def _filtered_code_metadata(result: FilterResult, seconds: float) -> dict:
    kept = result.kept
    return {"rows": kept.height, "funnel": table_md(result.funnel), "per_language": table_md(_language_counts(kept)),
            "samples": dg.MetadataValue.md(_samples_md(kept)), "seconds": seconds}


def _filtered_code_checks(kept: pl.DataFrame, settings: FilterSettings):
    """The results of filtered_code's checks (its check_specs) on the kept rows."""
    lengths = kept["code"].str.len_chars()
    out_of_bounds = int(((lengths < settings.min_chars) | (lengths > settings.max_chars)).sum())
    yield dg.AssetCheckResult(check_name="code_length_within_bounds", asset_key="filtered_code",
                              passed=out_of_bounds == 0,
                              metadata={"out_of_bounds": out_of_bounds, "min": int(lengths.min() or 0),
                                        "max": int(lengths.max() or 0)})
    duplicates = kept.height - kept["id"].n_unique()
    yield dg.AssetCheckResult(check_name="ids_unique", asset_key="filtered_code", passed=duplicates == 0,
                              metadata={"duplicate_ids": duplicates})
    unknown = sorted(set(kept["language"].unique().to_list()) - set(LANGUAGES))
    yield dg.AssetCheckResult(check_name="languages_known", asset_key="filtered_code", passed=not unknown,
                              metadata={"unknown": ", ".join(unknown) or "none"})
