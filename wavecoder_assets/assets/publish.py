"""code_ocean_hub: CodeOcean staged as a Hugging Face Hub dataset folder and (unless dry-run) pushed."""


from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.lakefiles import content_version, lake_root
from wavecoder_assets.publish.dataset import DEFAULT_LICENSE_LINK, DEFAULT_LICENSE_NAME, push_dataset, stage_dataset
from wavecoder_assets.publish.facts import gather_facts
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


@dg.asset(group_name="publish", code_version="2", compute_kind="huggingface")
def code_ocean_hub(context: dg.AssetExecutionContext, config: CodeOceanHubConfig, lake: DuckDBLakeResource,
                   hub: HubResource, code_ocean: pl.DataFrame, code_ocean_rejected: pl.LazyFrame,
                   judged_instructions: pl.LazyFrame, coreset: pl.LazyFrame, filtered_out: pl.LazyFrame,
                   raw_code: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Stages data/*.parquet and a README.md dataset card (YAML header + how the data was made, counted from the
    upstream tables), then creates the dataset repo and uploads the folder in one commit named after CodeOcean's
    data version. Dry-run (the offline default) stops after staging."""
    facts = gather_facts(code_ocean, raw_code=raw_code, filtered_out=filtered_out, coreset=coreset,
                         judged_instructions=judged_instructions, code_ocean_rejected=code_ocean_rejected,
                         repo_id=hub.repo_id, license=config.license, license_name=config.license_name,
                         license_link=config.license_link)
    folder = Path(config.staging_dir) if config.staging_dir else lake_root(lake.base_dir) / "hub" / "code_ocean"
    stage_dataset(code_ocean, folder, facts)
    message = f"Upload CodeOcean, data version {facts.data_version} ({code_ocean.height} examples)"
    commit_url = None if hub.dry_run else push_dataset(folder, hub.repo_id, token=hub.token, private=hub.private,
                                                       commit_message=message, endpoint=hub.endpoint)
    context.add_output_metadata({
        "repo_id": hub.repo_id,
        "dry_run": hub.dry_run,
        "private": hub.private,
        "staged_dir": dg.MetadataValue.path(str(folder)),
        "commit_message": message,
        "commit_url": dg.MetadataValue.url(commit_url) if commit_url else "not pushed (dry run)",
        "card": dg.MetadataValue.md((folder / "README.md").read_text()),
    })
    table = pl.DataFrame([{"repo_id": hub.repo_id, "staged_dir": str(folder), "rows": code_ocean.height,
                          "data_version": facts.data_version, "pushed": commit_url is not None,
                          "commit_url": commit_url, "private": hub.private}],
                        schema={"repo_id": pl.String, "staged_dir": pl.String, "rows": pl.Int64,
                                "data_version": pl.String, "pushed": pl.Boolean, "commit_url": pl.String,
                                "private": pl.Boolean})
    return dg.Output(table, data_version=dg.DataVersion(content_version(table)))
