"""code_ocean_hub: CodeOcean staged as a Hugging Face Hub dataset folder and (unless dry-run) pushed."""


from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import markdown_table
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.lakefiles import content_version, lake_root
from wavecoder_assets.publish.dataset import DEFAULT_LICENSE_LINK, DEFAULT_LICENSE_NAME
from wavecoder_assets.publish.release import Release, ReleaseRefused, release_code_ocean
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


@dg.asset(group_name="publish", compute_kind="huggingface", op_tags=CPU_STEP,
          code_version=code_version("2", "wavecoder_assets.publish", "wavecoder_assets.generate.checks",
                                    "wavecoder_assets.generate.execution", "wavecoder_assets.generate.judge",
                                    "wavecoder_assets.generate.ocean"))
def code_ocean_hub(context: dg.AssetExecutionContext, config: CodeOceanHubConfig, lake: DuckDBLakeResource,
                   hub: HubResource, code_ocean: pl.DataFrame, code_ocean_rejected: pl.LazyFrame,
                   judged_instructions: pl.LazyFrame, judge_calibration: pl.LazyFrame, coreset: pl.LazyFrame,
                   filtered_out: pl.LazyFrame, raw_code: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Stages data/*.parquet and a README.md dataset card (YAML header + how the data was made, counted from the
    upstream tables, the discriminator's measured accuracy and the lake versions of those tables), then creates the
    dataset repo, uploads the folder in one commit named after CodeOcean's data version and tags that commit
    `code-ocean-<data version>` (a pinned revision). Dry-run (the offline default) stops after staging. An empty CodeOcean is refused unless
    allow_empty; the blocking checks on code_ocean (accounted, decontaminated, not shrunken, calibrated judge)
    keep a bad one from reaching this step in the same run."""
    folder = Path(config.staging_dir) if config.staging_dir else lake_root(lake.base_dir) / "hub" / "code_ocean"
    upstream = {"code_ocean_rejected": code_ocean_rejected, "judged_instructions": judged_instructions,
                "judge_calibration": judge_calibration, "coreset": coreset, "filtered_out": filtered_out,
                "raw_code": raw_code}
    try:
        release = release_code_ocean(
            code_ocean, upstream, lake.base_dir, folder, repo_id=hub.repo_id, token=hub.token, private=hub.private,
            endpoint=hub.endpoint, dry_run=hub.dry_run, license=config.license, license_name=config.license_name,
            license_link=config.license_link, allow_empty=config.allow_empty, logger=context.log)
    except ReleaseRefused as refused:
        raise dg.Failure(description=str(refused), metadata=refused.metadata) from None
    # The data version leaves out the lake's table version numbers: an unchanged input rewritten (a forced rerun)
    # gets a new table version but the same content, and the same inputs must give the same version.
    return dg.Output(release.row, metadata=_hub_metadata(release, hub),
                     data_version=dg.DataVersion(content_version(release.row.drop("input_table_versions"))))


def _hub_metadata(release: Release, hub: HubResource) -> dict:
    pushed, not_pushed = release.pushed, "not pushed (dry run)"
    return {
        "repo_id": hub.repo_id,
        "dry_run": hub.dry_run,
        "private": hub.private,
        "staged_dir": dg.MetadataValue.path(str(release.folder)),
        "commit_message": release.commit_message,
        "commit_url": dg.MetadataValue.url(pushed.commit_url) if pushed else not_pushed,
        "commit_sha": pushed.commit_sha if pushed else not_pushed,
        "tag": pushed.tag if pushed else f"{release.tag} ({not_pushed})",
        "tag_url": dg.MetadataValue.url(pushed.tag_url) if pushed else not_pushed,
        "tag_commit": (pushed.tag_commit or "unknown") if pushed else not_pushed,
        "tag_created": pushed.tag_created if pushed else False,
        "input_versions": dg.MetadataValue.md(markdown_table(pl.DataFrame(
            [{"table": name, **v} for name, v in release.inputs.items()],
            schema={"table": pl.String, "table_version": pl.Int64, "data_version": pl.String}))),
        "card": dg.MetadataValue.md((release.folder / "README.md").read_text()),
    }
