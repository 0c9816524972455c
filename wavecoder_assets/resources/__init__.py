"""Resources shared by the stages, chosen per environment (WAVECODER_ENV=local | production)."""

from __future__ import annotations

import os

from wavecoder_assets.lakefiles import DEFAULT_LAKE_DIR
from wavecoder_assets.resources.hub import hub_resource_for
from wavecoder_assets.resources.lake import DuckDBLakeResource, PolarsDeltaIOManager
from wavecoder_assets.resources.llm import llm_resource_for


def resources_for(env: str | None = None, *, lake_dir: str | None = None) -> dict:
    """The resource set for an environment.

    local: the embedded offline defaults (lake in ./data_lake, local llama.cpp server, Hub dry-run).
    production: hosted endpoints and the Hub, configured by env vars.
    """
    env = env or os.environ.get("WAVECODER_ENV", "local")
    if env not in ("local", "production"):
        raise ValueError(f"WAVECODER_ENV must be 'local' or 'production', not {env!r}")
    lake_dir = lake_dir or os.environ.get("WAVECODER_LAKE_DIR", DEFAULT_LAKE_DIR)
    return {
        "io_manager": PolarsDeltaIOManager(base_dir=lake_dir),
        "lake": DuckDBLakeResource(base_dir=lake_dir),
        "llm": llm_resource_for(env, lake_dir),
        "hub": hub_resource_for(env),
    }
