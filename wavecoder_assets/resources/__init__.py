"""Resources shared by the stages, chosen per environment (WAVECODER_ENV=local | production), and the executor
(in-process, or Ray when WAVECODER_RAY_ADDRESS names a cluster)."""

from __future__ import annotations

import json
import os

import dagster as dg

from wavecoder_assets.lakefiles import DEFAULT_LAKE_DIR
from wavecoder_assets.launch_validation import in_process_executor_checking_config
from wavecoder_assets.resources.discriminator import DiscriminatorResource
from wavecoder_assets.resources.hub import hub_resource_for
from wavecoder_assets.resources.lake import DuckDBLakeResource, PolarsDeltaIOManager
from wavecoder_assets.resources.llm import llm_resource_for

RAY_ADDRESS_ENV = "WAVECODER_RAY_ADDRESS"
# dagster-ray reads a step's Ray resource request from this op tag (JSON); other executors ignore it.
RAY_CONFIG_TAG = "dagster-ray/config"
GPU_STEP = {RAY_CONFIG_TAG: json.dumps({"num_cpus": 1, "num_gpus": 1})}
CPU_STEP = {RAY_CONFIG_TAG: json.dumps({"num_cpus": 1})}
# What a step on a Ray worker needs from the environment of the run that launched it: the resources, shards and
# paths are read from WAVECODER_* variables when the definitions load there, the endpoints' keys from
# OPENAI_API_KEY or the variables WAVECODER_<ROLE>_API_KEY_ENV names, the Hub's settings from HF_*.
RAY_STEP_ENV_PREFIXES = ("WAVECODER_", "HF_")
RAY_STEP_ENV_NAMES = ("OPENAI_API_KEY", "OMP_WAIT_POLICY")


def ray_step_env() -> list[str]:
    """The names of the variables set now that each Ray step gets (dagster-ray forwards a list of names; taken
    by prefix, so a new WAVECODER_ setting needs no list kept by hand)."""
    key_names = {value for name, value in os.environ.items() if name.startswith("WAVECODER_")
                 and name.endswith("_API_KEY_ENV")}
    return sorted(name for name in os.environ if name.startswith(RAY_STEP_ENV_PREFIXES)
                  or name in RAY_STEP_ENV_NAMES or name in key_names)


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
        "discriminator": DiscriminatorResource(),
    }


def executor_for(ray_address: str | None = None) -> dg.ExecutorDefinition:
    """In-process (the default: 2 cores and a local LLM server, so steps run one after another in one process and
    resources start once per run; the run config is checked before the first step), or every step as a Ray job on
    the cluster whose job-submission address (`http://<head>:8265`) is given or in $WAVECODER_RAY_ADDRESS, with the
    op tag GPU_STEP or CPU_STEP as its resource request. The cluster's workers need this project at the same Python path as the run's process and
    the lake and DAGSTER_HOME on storage they share with it."""
    address = ray_address or os.environ.get(RAY_ADDRESS_ENV)
    if not address:
        return in_process_executor_checking_config
    from dagster_ray import ray_executor  # the `ray` extra; only needed when a cluster is named

    return ray_executor.configured({"ray": {"address": address, "env_vars": ray_step_env()}}, name="ray")
