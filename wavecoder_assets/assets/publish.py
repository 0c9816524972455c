"""code_ocean_hub: CodeOcean staged as a Hugging Face Hub dataset folder and (unless dry-run) pushed."""


import json
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
from pydantic import Field

from wavecoder_assets.generate.judge import DEFAULT_RULES
from wavecoder_assets.generate.ocean import content_version
from wavecoder_assets.publish.dataset import CardFacts, stage_dataset
from wavecoder_assets.resources.hub import HubResource
from wavecoder_assets.resources.lake import DuckDBLakeResource, lake_root

_CHECKS = {"python_syntax": "The Python solution parses (ast).", "tests_pass": "The generated tests pass in the sandbox.",
           "parse": "The generator's answer parses and passes the paper's post-filters (instruction 1-2 sentences, ...)."}


class CodeOceanHubConfig(dg.Config):
    license: str = Field(default="other", description="the card's licence id; the code keeps its sources' licences")
    staging_dir: str | None = Field(default=None, description="folder to stage in; empty: <lake>/hub/code_ocean")


def _counts(conn, sql: str) -> dict:
    try:
        return {str(k): int(v) for k, v in conn.execute(sql).fetchall()}
    except duckdb.CatalogException:  # that upstream asset is not in this lake (a partial graph): the card says "none recorded"
        return {}


def _facts(context: dg.AssetExecutionContext, lake: DuckDBLakeResource, hub: HubResource, code_ocean: pl.DataFrame,
           license: str) -> CardFacts:
    with lake.connect() as conn:
        sources = _counts(conn, "SELECT source, count(*) FROM raw_code GROUP BY 1")
        filters = _counts(conn, "SELECT rule, count(*) FROM filtered_out GROUP BY 1")
        coreset = _counts(conn, "SELECT 'rows', count(*) FROM coreset").get("rows")
        outcomes = _counts(conn, "SELECT outcome, count(*) FROM code_ocean_rejected GROUP BY 1")
        decontaminated = _counts(conn, "SELECT stage, count(*) FROM code_ocean_rejected WHERE stage = 'decontamination' "
                                       "GROUP BY 1").get("decontamination", 0)
        verdicts = _counts(conn, "SELECT rule_verdicts, count(*) FROM judged_instructions GROUP BY 1")
    rule_ids = {rid for text in verdicts for rid in json.loads(text or "{}")}
    texts = {r["id"]: r["text"] for r in DEFAULT_RULES} | _CHECKS
    record = context.instance.get_latest_materialization_event(dg.AssetKey("code_ocean"))
    meta = record.asset_materialization.metadata if record and record.asset_materialization else {}
    return CardFacts(
        repo_id=hub.repo_id, data_version=content_version(code_ocean), license=license, sources=sources,
        filters=filters, coreset_size=coreset,
        generator_models=sorted(code_ocean["generator_model"].drop_nulls().unique().to_list()),
        judge_models=sorted(code_ocean["judge_model"].drop_nulls().unique().to_list()),
        prompt_versions=sorted(code_ocean["prompt_version"].drop_nulls().unique().to_list()),
        rules={rid: texts.get(rid, "(custom rule)") for rid in sorted(rule_ids)},
        outcomes={"accepted": code_ocean.height} | outcomes,
        decontamination=meta["decontamination"].value if "decontamination" in meta else "not recorded",
        decontaminated=decontaminated,
    )


@dg.asset(group_name="publish", code_version="1", compute_kind="huggingface",
          deps=["code_ocean_rejected", "judged_instructions"])
def code_ocean_hub(context: dg.AssetExecutionContext, config: CodeOceanHubConfig, lake: DuckDBLakeResource,
                   hub: HubResource, code_ocean: pl.DataFrame) -> pl.DataFrame:
    """Stages data/*.parquet and a README.md dataset card (YAML header + how the data was made), then creates the
    dataset repo and uploads the folder in one commit named after CodeOcean's data version. Dry-run (the
    offline default) stops after staging."""
    facts = _facts(context, lake, hub, code_ocean, config.license)
    folder = Path(config.staging_dir) if config.staging_dir else lake_root(lake.base_dir) / "hub" / "code_ocean"
    stage_dataset(code_ocean, folder, facts)
    message = f"Upload CodeOcean, data version {facts.data_version} ({code_ocean.height} examples)"
    commit_url = None if hub.dry_run else hub.push(str(folder), message)
    context.add_output_metadata({
        "repo_id": hub.repo_id,
        "dry_run": hub.dry_run,
        "private": hub.private,
        "staged_dir": dg.MetadataValue.path(str(folder)),
        "commit_message": message,
        "commit_url": dg.MetadataValue.url(commit_url) if commit_url else "not pushed (dry run)",
        "card": dg.MetadataValue.md((folder / "README.md").read_text()),
    })
    return pl.DataFrame([{"repo_id": hub.repo_id, "staged_dir": str(folder), "rows": code_ocean.height,
                          "data_version": facts.data_version, "pushed": commit_url is not None,
                          "commit_url": commit_url, "private": hub.private}],
                        schema={"repo_id": pl.String, "staged_dir": pl.String, "rows": pl.Int64,
                                "data_version": pl.String, "pushed": pl.Boolean, "commit_url": pl.String,
                                "private": pl.Boolean})
