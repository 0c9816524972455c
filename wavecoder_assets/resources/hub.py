"""The Hugging Face Hub: where CodeOcean is published. The token comes from HF_TOKEN (dagster.EnvVar) and is
never logged or stored; dry_run stops after staging the folder (the offline default)."""

from __future__ import annotations

import os

import dagster as dg
from pydantic import Field

from wavecoder_assets.publish.dataset import push_dataset


class HubResource(dg.ConfigurableResource):
    repo_id: str = Field(default="wavecoder/code-ocean", description="dataset repo, owner/name")
    private: bool = Field(default=True, description="create the repo private")
    dry_run: bool = Field(default=True, description="stage the folder only; push nothing")
    token: str | None = Field(default=None, description='set with dagster.EnvVar("HF_TOKEN"), never as a literal')
    endpoint: str | None = Field(default=None, description="Hub URL; empty: huggingface_hub's default (HF_ENDPOINT)")

    def push(self, folder: str, commit_message: str) -> str:
        """Create the repo if needed and upload the folder in one commit; returns the commit URL."""
        if self.dry_run:
            raise RuntimeError("hub resource is in dry-run mode; nothing is pushed")
        return push_dataset(folder, self.repo_id, token=self.token, private=self.private,
                            commit_message=commit_message, endpoint=self.endpoint)


def hub_resource_for(env: str) -> HubResource:
    """local: dry-run (offline). production: push to WAVECODER_HUB_REPO with the token in HF_TOKEN."""
    if env == "local":
        return HubResource()
    return HubResource(repo_id=os.environ.get("WAVECODER_HUB_REPO", "wavecoder/code-ocean"),
                       private=os.environ.get("WAVECODER_HUB_PRIVATE", "1") != "0", dry_run=False,
                       token=dg.EnvVar("HF_TOKEN"))
