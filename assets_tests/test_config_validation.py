"""Every Config field's domain is part of its type, and a run config outside it is refused before a run starts,
naming the op and the field: by `python -m wavecoder_assets.run` (no run created), for the UI's launchpad by the
instance's run coordinator (launch_validation.ValidatingRunCoordinator), and for `dagster asset materialize` by the
executor before the first step. A step that would write an empty
filtered_code from non-empty raw_code fails with the funnel unless its config allows it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import dagster as dg
import polars as pl
import pydantic
import pytest
import yaml
from dagster._core.run_coordinator import QueuedRunCoordinator

from assets_tests.conftest import REPO_ROOT
from assets_tests.test_corpus import csn_record, write_jsonl_gz
from assets_tests.test_ui import (  # noqa: F401  (dagster_dev: the fixture, a `dagster dev` of the repo's dagster.yaml)
    IMPLICIT_ASSET_JOB,
    LAUNCH_RUN,
    _graphql,
    _loaded_location,
    _run_logs,
    dagster_dev,
)
from wavecoder_assets import run as runner
from wavecoder_assets.assets import corpus as corpus_assets
from wavecoder_assets.definitions import defs
from wavecoder_assets.existing_paths import paths_must_exist
from wavecoder_assets.launch_validation import ValidatingRunCoordinator, config_classes, run_config_problems
from wavecoder_assets.presets import paper_run_config
from wavecoder_assets.resources import resources_for

# (op, its config, what the refusal says: the field's path in the run config, or the rule's words)
OUT_OF_DOMAIN = [
    ("coreset", {"k": 0}, "ops.coreset.config.k:"),
    ("coreset", {"k": -5}, "ops.coreset.config.k:"),
    ("filtered_code", {"min_chars": 900, "max_chars": 10}, "min_chars (900) must be <= max_chars (10)"),
    ("filtered_code", {"min_chars": -1}, "ops.filtered_code.config.min_chars:"),
    ("filtered_code", {"near_dup_threshold": 1.5}, "ops.filtered_code.config.near_dup_threshold:"),
    ("filtered_code", {"blacklist_fields": ["body"]}, "ops.filtered_code.config.blacklist_fields:"),
    ("filtered_code", {"ngram": 0}, "ops.filtered_code.config.ngram:"),
    ("raw_code", {"languages": ["cobol"]}, "ops.raw_code.config.languages:"),
    ("raw_code", {"languages": []}, "ops.raw_code.config.languages:"),
    ("raw_code", {"max_rows_per_language": -1}, "ops.raw_code.config.max_rows_per_language:"),
    ("raw_code", {"source_kind": "codesearchnet"}, "source_kind 'codesearchnet' needs paths"),
    ("code_embeddings", {"batch_size": 0}, "ops.code_embeddings.config.batch_size:"),
    ("code_embeddings", {"max_rows": 0}, "ops.code_embeddings.config.max_rows:"),
    ("code_embeddings", {"device": "gpu"}, "ops.code_embeddings.config.device:"),
    ("generated_instructions", {"task_mix": {"code_generation": 0.5, "code_repair": 0.6}},
     "ops.generated_instructions.config.task_mix:"),
    ("generated_instructions", {"task_mix": {"poetry": 1.0}}, "ops.generated_instructions.config.task_mix:"),
    ("generated_instructions", {"translation_targets": ["cobol"]},
     "ops.generated_instructions.config.translation_targets:"),
    ("generated_instructions", {"max_sources": 0}, "ops.generated_instructions.config.max_sources:"),
    ("code_ocean", {"balance_to_mix": {"poetry": 1.0}}, "ops.code_ocean.config.balance_to_mix:"),
    ("code_ocean", {"ngram": 0}, "ops.code_ocean.config.ngram:"),
    ("judge_calibration", {"max_rows": 0}, "ops.judge_calibration.config.max_rows:"),
    ("evol_instructions", {"judge_max_rows": -1}, "ops.evol_instructions.config.judge_max_rows:"),
    ("oss_instructions", {"min_lines": 20, "max_lines": 5}, "min_lines (20) must be <= max_lines (5)"),
    ("strategy_report", {"sandbox_timeout_s": 0}, "ops.strategy_report.config.sandbox_timeout_s:"),
    ("finetuned_model", {"model_name": "../elsewhere"}, "ops.finetuned_model.config.model_name:"),
    ("finetuned_model", {"global_batch_size": 3, "num_processes": 2}, "global_batch_size 3 is not a multiple"),
    ("finetuned_model", {"warmup_ratio": 2.0}, "ops.finetuned_model.config.warmup_ratio:"),
    ("eval_scores", {"benchmarks": ["humaneval", "apps"]}, "ops.eval_scores.config.benchmarks:"),
    ("eval_scores", {"languages": ["cobol"]}, "ops.eval_scores.config.languages:"),
    ("eval_scores", {"ks": [2]}, "every k in ks [2] must be 1..n_samples (1)"),
    ("eval_scores", {"n_samples": 0}, "ops.eval_scores.config.n_samples:"),
    ("code_ocean_decontaminated", {"ngram": 0}, "ops.code_ocean_decontaminated.config.ngram:"),
    ("code_ocean_code_ocean_not_shrunken", {"max_shrink": 1.5},
     "ops.code_ocean_code_ocean_not_shrunken.config.max_shrink:"),
    ("code_ocean_judge_is_calibrated", {"min_balanced_accuracy": 1.5},
     "ops.code_ocean_judge_is_calibrated.config.min_balanced_accuracy:"),
]
# Paths are looked up at launch only (existing_paths): the paper preset is built where its data need not be.
MISSING = "no/such/path"
MISSING_PATHS = [
    ("raw_code", {"paths": [MISSING]}, "ops.raw_code.config.paths.0:"),
    ("code_ocean", {"mbpp_path": MISSING}, "ops.code_ocean.config.mbpp_path:"),
    ("judge_calibration", {"labelled_path": MISSING}, "ops.judge_calibration.config.labelled_path:"),
    ("judge_calibration", {"semantic_path": MISSING}, "ops.judge_calibration.config.semantic_path:"),
    ("evol_instructions", {"seed_file": MISSING}, "ops.evol_instructions.config.seed_file:"),
    ("strategy_report", {"mbpp_path": MISSING}, "ops.strategy_report.config.mbpp_path:"),
    ("eval_scores", {"humanevalpack_path": MISSING}, "ops.eval_scores.config.humanevalpack_path:"),
    ("eval_scores", {"mbpp_path": MISSING}, "ops.eval_scores.config.mbpp_path:"),
]
CLASSES = config_classes(defs)


@pytest.mark.parametrize(("op", "config", "said"), OUT_OF_DOMAIN + MISSING_PATHS)
def test_a_value_out_of_its_domain_is_refused_at_launch_naming_the_field(op, config, said):
    problems = run_config_problems({"ops": {op: {"config": config}}})
    assert len(problems) == 1 and said in problems[0], problems


def test_the_defaults_and_the_paper_preset_are_within_their_domains(tmp_path):
    with paths_must_exist():  # the shipped benchmark and calibration files
        for config_class in CLASSES.values():
            config_class()
    # The paper preset, its CodeSearchNet folder pointed at one that exists here.
    paper = paper_run_config({"raw_code": {"paths": [str(tmp_path)]}}).to_config_dict()
    assert run_config_problems(paper) == []
    # As shipped, at most its CodeSearchNet folder is refused (where this machine holds none).
    problems = run_config_problems(paper_run_config().to_config_dict())
    assert all(p.startswith("ops.raw_code.config.paths.0: Value error, no such file") for p in problems), problems


class EmptyFrames(dg.IOManager):
    """Every input an empty frame; nothing may be written (the step must fail before its body)."""

    def load_input(self, context):
        return pl.DataFrame()

    def handle_output(self, context, obj):
        raise AssertionError(f"{context.asset_key} written: the step ran past its Config")


def _assets_without_resources() -> dict[str, dg.AssetsDefinition]:
    """Op name -> asset whose step needs no resource: dg.materialize runs it on EmptyFrames inputs alone."""
    return {a.node_def.name: a for a in defs.assets
            if isinstance(a, dg.AssetsDefinition) and a.node_def.name in CLASSES
            and not a.required_resource_keys - {"io_manager"}}


@pytest.mark.parametrize(("op", "config", "said"),
                         [case for case in OUT_OF_DOMAIN if case[0] in _assets_without_resources()])
def test_materialize_refuses_the_value_when_the_step_builds_its_config(op, config, said):
    asset = _assets_without_resources()[op]
    sources = [dg.AssetSpec(key) for key in asset.keys_by_input_name.values()]
    with pytest.raises(pydantic.ValidationError) as refused:
        dg.materialize([asset, *sources], run_config={"ops": {op: {"config": config}}},
                       resources={"io_manager": EmptyFrames()})
    [error] = refused.value.errors()
    assert refused.value.title == CLASSES[op].__name__
    assert said.removeprefix(f"ops.{op}.config.").rstrip(":") in (".".join(map(str, error["loc"])) or error["msg"])


def _instance_home(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")
    return home


def test_the_cli_refuses_a_bad_config_file_before_creating_a_run(tmp_path, monkeypatch, capsys):
    home = _instance_home(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump({"ops": {"coreset": {"config": {"k": 0}},
                                                   "filtered_code": {"config": {"min_chars": 900, "max_chars": 10}}}}))
    assert runner.main(["wavecoder", "--select", "coreset", "-c", str(config_file)]) == 2
    said = capsys.readouterr().err
    assert "ops.coreset.config.k:" in said and "min_chars (900) must be <= max_chars (10)" in said
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []


def test_dagster_asset_materialize_fails_a_bad_config_before_any_step(tmp_path):
    home = _instance_home(tmp_path)
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump({"ops": {"filtered_code": {"config": {"min_chars": 900, "max_chars": 10}}}}))
    done = subprocess.run([str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m",
                           "wavecoder_assets.definitions", "--select", "raw_code,filtered_code", "-c",
                           str(config_file)], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DAGSTER_HOME": str(home), "WAVECODER_LAKE_DIR": str(tmp_path / "lake")})
    said = done.stdout + done.stderr
    assert done.returncode != 0 and "min_chars (900) must be <= max_chars (10)" in said, said[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        [run] = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        steps_started = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_START).records
        assert steps_started == []  # refused before raw_code ran
    assert not (tmp_path / "lake").exists() and not (tmp_path / "data_lake").exists()


def test_the_shipped_instance_validates_submitted_runs(tmp_path):
    with dg.DagsterInstance.from_config(str(_instance_home(tmp_path))) as instance:
        # Dagster's default coordinator still: queued runs, dequeued by the daemon.
        assert isinstance(instance.run_coordinator, ValidatingRunCoordinator)
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)


RUNS = """
{ runsOrError { __typename ... on Runs { results { runId status } } } }
"""


def test_the_launchpad_refuses_a_bad_config_before_any_step(dagster_dev):  # noqa: F811 (the imported fixture)
    location = _loaded_location(dagster_dev)
    repository = location["repositories"][0]

    def launch(run_config: dict) -> dict:
        params = {"selector": {"repositoryLocationName": location["name"], "repositoryName": repository["name"],
                               "jobName": IMPLICIT_ASSET_JOB, "assetSelection": [{"path": ["coreset"]}]},
                  "runConfigData": run_config}
        request = urllib.request.Request(
            f"http://127.0.0.1:{dagster_dev.port}/graphql", headers={"Content-Type": "application/json"},
            data=json.dumps({"query": LAUNCH_RUN, "variables": {"executionParams": params}}).encode())
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["data"]["launchRun"]
        except urllib.error.HTTPError as error:  # the webserver answers a PythonError result with status 500
            return json.loads(error.read())["data"]["launchRun"]

    # Dagster's schema accepts k: 0 (an Int); the coordinator refuses it when the run is submitted.
    refused = launch({"ops": {"coreset": {"config": {"k": 0}}}})
    assert refused["__typename"] == "PythonError" and "ops.coreset.config.k:" in refused["message"], refused
    [run] = _graphql(dagster_dev.port, RUNS)["runsOrError"]["results"]
    assert run["status"] == "FAILURE"
    logs = _run_logs(dagster_dev, run["runId"])
    assert "ops.coreset.config.k:" in logs and "ExecutionStepStartEvent" not in logs, logs
    # A config within the domains is queued as before (the daemon runs it; test_ui.py runs such launches).
    accepted = launch({"ops": {"coreset": {"config": {"k": 3}}}})
    assert accepted["__typename"] == "LaunchRunSuccess", accepted


# ------------------------------------------------------------------------- an empty table from a non-empty input

def _filter_everything_out(tmp_path, lake_dir: str, allow_empty: bool) -> dg.ExecuteInProcessResult:
    corpus = tmp_path / "csn" / "python" / "final" / "jsonl" / "train" / "python_train_0.jsonl.gz"
    write_jsonl_gz(corpus, [json.dumps(csn_record(i)).encode() for i in range(3)])
    return dg.materialize(
        [corpus_assets.raw_code, corpus_assets.filter_code],
        resources=resources_for("local", lake_dir=lake_dir), raise_on_error=False,
        run_config=dg.RunConfig(ops={
            "raw_code": corpus_assets.RawCodeConfig(source_kind="codesearchnet", paths=[str(tmp_path / "csn")]),
            # every sample is shorter than this
            "filtered_code": corpus_assets.FilterConfig(min_chars=5000, max_chars=6000, allow_empty=allow_empty),
        }))


def test_filtered_code_keeping_no_row_fails_with_the_funnel_unless_allowed(tmp_path, lake_dir):
    failed = _filter_everything_out(tmp_path, lake_dir, allow_empty=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    error = failure.step_failure_data.error
    message = (error.cause or error).message
    assert "kept none of 3 raw_code rows" in message and "length" in message and "rows_out" in message, message
    assert not [m for m in failed.get_asset_materialization_events() if m.asset_key == dg.AssetKey("filtered_code")]

    allowed = _filter_everything_out(tmp_path, lake_dir, allow_empty=True)
    assert allowed.success
    [written] = [m for m in allowed.get_asset_materialization_events() if m.asset_key == dg.AssetKey("filtered_code")]
    assert written.materialization.metadata["rows"].value == 0
