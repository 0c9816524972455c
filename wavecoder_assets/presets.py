"""Run-config presets. `default` is every Config class's defaults (minutes on 2 CPU cores);
`paper` sets the sizes of the WaveCoder paper (all of CodeSearchNet, a coreset of 20,000, ...),
for users with the data and GPUs. Each stage adds its own paper overrides here, keyed by asset name."""

from __future__ import annotations

import dagster as dg

# asset name -> Config instance with the paper's settings
PAPER: dict[str, dg.Config] = {}


def paper_run_config() -> dg.RunConfig:
    return dg.RunConfig(ops=dict(PAPER))
