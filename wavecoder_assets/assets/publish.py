"""code_ocean_hub: CodeOcean staged as a Hugging Face Hub dataset folder and (unless dry-run) pushed."""


import json
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import markdown_table
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.lakefiles import content_version, lake_root
from wavecoder_assets.publish.dataset import (
    DEFAULT_LICENSE_LINK,
    DEFAULT_LICENSE_NAME,
    push_dataset,
    stage_dataset,
    tag_name,
)
from wavecoder_assets.publish.facts import gather_facts, input_versions
from wavecoder_assets.resources import CPU_STEP
from wavecoder_assets.resources.hub import HubResource
from wavecoder_assets.resources.lake import DuckDBLakeResource


class CodeOceanHubConfig(dg.Config):
    license: str = Field(default="other", description="the card's licence id (a Hub licence id, or other with "
                                                      "license_name and license_link)")
    license_name: str = Field(default=DEFAULT_LICENSE_NAME,
                              description="with license other: an id for it, like my-license-1.0")
    license_link: str = Field(default=DEFAULT_LICENSE_LINK,
                              description="with license other: LICENSE or LICENSE.md (staged in the repo, saying "
                                          "the code keeps its sources' licences) or an http(s) URL")
    staging_dir: str | None = Field(default=None, description="folder to stage in; empty: <lake>/hub/code_ocean")
    allow_empty: bool = Field(default=False, description="stage and push even when code_ocean has no rows (else the "
                                                         "step fails: an empty push would replace the published data)")


# The lake tables the card is counted from (the asset's inputs); their versions are named in the card.
INPUT_TABLES = ("code_ocean", "code_ocean_rejected", "judged_instructions", "coreset", "filtered_out", "raw_code")


@dg.asset(group_name="publish", compute_kind="huggingface", op_tags=CPU_STEP,
          code_version=code_version("2", "wavecoder_assets.publish", "wavecoder_assets.generate.checks",
                                    "wavecoder_assets.generate.execution", "wavecoder_assets.generate.judge",
                                    "wavecoder_assets.generate.ocean"))
def code_ocean_hub(context: dg.AssetExecutionContext, config: CodeOceanHubConfig, lake: DuckDBLakeResource,
                   hub: HubResource, code_ocean: pl.DataFrame, code_ocean_rejected: pl.LazyFrame,
                   judged_instructions: pl.LazyFrame, coreset: pl.LazyFrame, filtered_out: pl.LazyFrame,
                   raw_code: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Stages data/*.parquet and a README.md dataset card (YAML header + how the data was made, counted from the
    upstream tables, and the lake versions of those tables), then creates the dataset repo, uploads the folder in
    one commit named after CodeOcean's data version and tags that commit `code-ocean-<data version>` (a pinned
    revision). Dry-run (the offline default) stops after staging. An empty CodeOcean is refused unless
    allow_empty; the blocking checks on code_ocean (accounted, decontaminated, not shrunken, calibrated judge)
    keep a bad one from reaching this step in the same run."""
    if code_ocean.is_empty() and not config.allow_empty:
        raise dg.Failure(
            description="code_ocean is empty: not staging or pushing it (it would replace the published dataset). "
                        "Rematerialize code_ocean (see its checks and judged_instructions' failures), or set "
                        "allow_empty=True in this asset's config if an empty dataset is what you want.",
            metadata={"rows": 0, "repo_id": hub.repo_id, "dry_run": hub.dry_run})
    inputs = input_versions(lake.base_dir, list(INPUT_TABLES))
    facts = gather_facts(code_ocean, raw_code=raw_code, filtered_out=filtered_out, coreset=coreset,
                         judged_instructions=judged_instructions, code_ocean_rejected=code_ocean_rejected,
                         repo_id=hub.repo_id, license=config.license, license_name=config.license_name,
                         license_link=config.license_link, inputs=inputs)
    if inputs["code_ocean"]["data_version"] != facts.data_version:
        latest = inputs["code_ocean"]
        raise dg.Failure(description=f"code_ocean changed while this step ran (read data version "
                                     f"{facts.data_version}, the lake's latest is {latest['data_version']} at table "
                                     f"version {latest['table_version']}); rerun code_ocean_hub")
    folder = Path(config.staging_dir) if config.staging_dir else lake_root(lake.base_dir) / "hub" / "code_ocean"
    stage_dataset(code_ocean, folder, facts)
    message = f"Upload CodeOcean, data version {facts.data_version} ({code_ocean.height} examples)"
    tag = tag_name(facts.data_version)
    pushed = None if hub.dry_run else push_dataset(
        folder, hub.repo_id, token=hub.token, private=hub.private, commit_message=message, endpoint=hub.endpoint,
        tag=tag, tag_message=f"CodeOcean data version {facts.data_version} ({code_ocean.height} examples)")
    if pushed is not None and not pushed.tag_created:
        context.log.info(f"tag {tag} already existed (the same data was pushed before), on commit "
                         f"{pushed.tag_commit}; left there")
    not_pushed = "not pushed (dry run)"
    context.add_output_metadata({
        "repo_id": hub.repo_id,
        "dry_run": hub.dry_run,
        "private": hub.private,
        "staged_dir": dg.MetadataValue.path(str(folder)),
        "commit_message": message,
        "commit_url": dg.MetadataValue.url(pushed.commit_url) if pushed else not_pushed,
        "commit_sha": pushed.commit_sha if pushed else not_pushed,
        "tag": pushed.tag if pushed else f"{tag} ({not_pushed})",
        "tag_url": dg.MetadataValue.url(pushed.tag_url) if pushed else not_pushed,
        "tag_commit": (pushed.tag_commit or "unknown") if pushed else not_pushed,
        "tag_created": pushed.tag_created if pushed else False,
        "input_versions": dg.MetadataValue.md(markdown_table(pl.DataFrame(
            [{"table": name, **v} for name, v in inputs.items()],
            schema={"table": pl.String, "table_version": pl.Int64, "data_version": pl.String}))),
        "card": dg.MetadataValue.md((folder / "README.md").read_text()),
    })
    table = pl.DataFrame([{"repo_id": hub.repo_id, "staged_dir": str(folder), "rows": code_ocean.height,
                          "data_version": facts.data_version, "pushed": pushed is not None,
                          "commit_url": pushed.commit_url if pushed else None,
                          "commit_sha": pushed.commit_sha if pushed else None,
                          "tag": pushed.tag if pushed else None, "tag_url": pushed.tag_url if pushed else None,
                          "tag_commit": pushed.tag_commit if pushed else None,
                          "input_versions": json.dumps(inputs, sort_keys=True), "private": hub.private}],
                        schema={"repo_id": pl.String, "staged_dir": pl.String, "rows": pl.Int64,
                                "data_version": pl.String, "pushed": pl.Boolean, "commit_url": pl.String,
                                "commit_sha": pl.String, "tag": pl.String, "tag_url": pl.String,
                                "tag_commit": pl.String, "input_versions": pl.String, "private": pl.Boolean})
    return dg.Output(table, data_version=dg.DataVersion(content_version(table)))
