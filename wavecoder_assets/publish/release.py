"""Releasing CodeOcean: what is refused, staging it with its card, pushing and tagging it (unless dry-run), and the
row the lake keeps of where it went. No Dagster here."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from wavecoder_assets.publish.dataset import (
    DEFAULT_LICENSE_LINK,
    DEFAULT_LICENSE_NAME,
    CardFacts,
    PushResult,
    push_dataset,
    stage_dataset,
    tag_name,
)
from wavecoder_assets.publish.facts import Frame, gather_facts, input_versions

log = logging.getLogger(__name__)

# The lake tables the card is counted from (the asset's inputs); their versions are named in the card.
INPUT_TABLES = ("code_ocean", "code_ocean_rejected", "judged_instructions", "judge_calibration", "coreset",
                "filtered_out", "raw_code")

HUB_ROW_SCHEMA = {"repo_id": pl.String, "staged_dir": pl.String, "rows": pl.Int64, "data_version": pl.String,
                  "pushed": pl.Boolean, "commit_url": pl.String, "commit_sha": pl.String, "tag": pl.String,
                  "tag_url": pl.String, "tag_commit": pl.String, "input_versions": pl.String,
                  "input_table_versions": pl.String, "private": pl.Boolean}


class ReleaseRefused(ValueError):
    """Nothing was staged or pushed; `metadata` says what was seen."""

    def __init__(self, message: str, metadata: dict | None = None):
        super().__init__(message)
        self.metadata = metadata or {}


@dataclass(frozen=True)
class Release:
    folder: Path  # the staged dataset folder
    facts: CardFacts  # what its card says
    inputs: dict[str, dict]  # input_versions of INPUT_TABLES
    commit_message: str
    tag: str
    pushed: PushResult | None  # None: dry run
    row: pl.DataFrame  # the code_ocean_hub table (HUB_ROW_SCHEMA): one row


def release_code_ocean(code_ocean: pl.DataFrame, upstream: dict[str, Frame], lake: str, folder: Path, *,
                       repo_id: str, token: str | None, private: bool, endpoint: str | None, dry_run: bool,
                       license: str = "other", license_name: str | None = DEFAULT_LICENSE_NAME,
                       license_link: str | None = DEFAULT_LICENSE_LINK, allow_empty: bool = False,
                       logger=None) -> Release:
    """Stage CodeOcean in `folder` (the data and a card counted from the `upstream` tables: the other INPUT_TABLES,
    by name, as read from the lake at `lake`) and, unless dry_run, push it to repo_id in one commit, tagged with its
    data version. Refused (ReleaseRefused): an empty CodeOcean unless allow_empty, and a code_ocean the lake has
    replaced since it was read."""
    logger = logger or log
    if code_ocean.is_empty() and not allow_empty:
        raise ReleaseRefused(
            "code_ocean is empty: not staging or pushing it (it would replace the published dataset). "
            "Rematerialize code_ocean (see its checks and judged_instructions' failures), or set "
            "allow_empty=True in this asset's config if an empty dataset is what you want.",
            {"rows": 0, "repo_id": repo_id, "dry_run": dry_run})
    inputs = input_versions(lake, list(INPUT_TABLES))
    facts = gather_facts(code_ocean, **upstream, repo_id=repo_id, license=license, license_name=license_name,
                         license_link=license_link, inputs=inputs)
    if inputs["code_ocean"]["data_version"] != facts.data_version:
        latest = inputs["code_ocean"]
        raise ReleaseRefused(f"code_ocean changed while this step ran (read data version {facts.data_version}, the "
                             f"lake's latest is {latest['data_version']} at table version {latest['table_version']}); "
                             "rerun code_ocean_hub")
    stage_dataset(code_ocean, folder, facts)
    message = f"Upload CodeOcean, data version {facts.data_version} ({code_ocean.height} examples)"
    tag = tag_name(facts.data_version)
    pushed = None if dry_run else push_dataset(
        folder, repo_id, token=token, private=private, commit_message=message, endpoint=endpoint, tag=tag,
        tag_message=f"CodeOcean data version {facts.data_version} ({code_ocean.height} examples)")
    if pushed is not None and not pushed.tag_created:
        logger.info(f"tag {tag} already existed (the same data was pushed before), on commit {pushed.tag_commit}; "
                    "left there")
    row = pl.DataFrame([{
        "repo_id": repo_id, "staged_dir": str(folder), "rows": code_ocean.height, "data_version": facts.data_version,
        "pushed": pushed is not None, "commit_url": pushed.commit_url if pushed else None,
        "commit_sha": pushed.commit_sha if pushed else None, "tag": pushed.tag if pushed else None,
        "tag_url": pushed.tag_url if pushed else None, "tag_commit": pushed.tag_commit if pushed else None,
        "input_versions": json.dumps({name: v["data_version"] for name, v in inputs.items()}, sort_keys=True),
        "input_table_versions": json.dumps({name: v["table_version"] for name, v in inputs.items()}, sort_keys=True),
        "private": private}], schema=HUB_ROW_SCHEMA)
    return Release(folder, facts, inputs, message, tag, pushed, row)
