"""The one Definitions object: every asset versioned and grouped, both jobs valid, resources per environment."""

import dagster as dg

from wavecoder_assets import presets
from wavecoder_assets.definitions import defs
from wavecoder_assets.resources import resources_for

ARCHITECTURE_ASSETS = {
    "raw_code", "filtered_code", "filtered_out", "code_embeddings", "coreset", "generated_instructions",
    "judged_instructions", "code_ocean", "code_ocean_rejected", "code_ocean_hub", "evol_instructions",
    "oss_instructions", "strategy_report", "finetuned_model", "eval_scores", "judge_calibration",
    "corpus_sources", "benchmark_files", "embedded_models",  # observed sources from outside the graph
}


def test_graph_has_every_asset_of_the_architecture_with_code_versions():
    graph = defs.resolve_asset_graph()
    names = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert names == ARCHITECTURE_ASSETS
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version, f"{key.to_user_string()} has no code_version: edits would not mark it stale"
        assert node.group_name != "default", f"{key.to_user_string()} is in no stage group"


def test_paper_preset_is_valid_run_config_for_the_paper_job():
    job = defs.resolve_job_def("wavecoder_paper")
    assert dg.validate_run_config(job, presets.paper_run_config())
    assert presets.PAPER["coreset"].k == 20_000


def test_llm_assets_share_the_llm_pool():
    graph = defs.resolve_asset_graph()
    pools = {key.to_user_string(): graph.get(key).pools for key in graph.get_all_asset_keys()}
    for name in ("generated_instructions", "evol_instructions", "oss_instructions", "judge_calibration"):
        assert "llm" in (pools[name] or set()), name


def test_both_environments_provide_the_same_resource_keys(monkeypatch):
    monkeypatch.setenv("WAVECODER_GENERATOR_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WAVECODER_GENERATOR_MODEL", "gpt-4o-mini")
    monkeypatch.setenv("WAVECODER_JUDGE_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("WAVECODER_JUDGE_MODEL", "gpt-4o")
    assert resources_for("local").keys() == resources_for("production").keys() >= {"io_manager", "lake", "llm", "hub"}


def test_code_ocean_is_gated_by_a_calibrated_judge():
    """A blocking check on code_ocean reads judge_calibration: what a failing judge built is not published."""
    graph = defs.resolve_asset_graph()
    gate = next(k for k in graph.asset_check_keys if k.name == "judge_is_calibrated")
    assert gate.asset_key == dg.AssetKey("code_ocean")
    node = graph.get(gate)
    assert node.blocking and dg.AssetKey("judge_calibration") in node.parent_entity_keys
