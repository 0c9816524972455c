"""The Hugging Face Hub settings: where CodeOcean is published. The token comes from HF_TOKEN (dagster.EnvVar) and
is never logged or stored; dry_run stops after staging the folder (the offline default). Settings only: the
code_ocean_hub asset hands them to the publish stage's push_dataset."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field


class HubResource(dg.ConfigurableResource):
    repo_id: str = Field(default="wavecoder/code-ocean", description="dataset repo, owner/name")
    private: bool = Field(default=True, description="create the repo private")
    dry_run: bool = Field(default=True, description="stage the folder only; push nothing")
    token: str | None = Field(default=None, description='set with dagster.EnvVar("HF_TOKEN"), never as a literal')
    endpoint: str | None = Field(default=None, description="Hub URL; empty: huggingface_hub's default (HF_ENDPOINT)")


def hub_resource_for(env: str) -> HubResource:
    """local: dry-run (offline). production: push to WAVECODER_HUB_REPO with the token in HF_TOKEN."""
    if env == "local":
        return HubResource()
    return HubResource(repo_id=os.environ.get("WAVECODER_HUB_REPO", "wavecoder/code-ocean"),
                       private=os.environ.get("WAVECODER_HUB_PRIVATE", "1") != "0", dry_run=False,
                       token=dg.EnvVar("HF_TOKEN"))
