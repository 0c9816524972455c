"""The UI as users start it, `dagster dev` (webserver + daemon): it serves the whole asset graph, and runs
launched through its GraphQL API (what the launchpad does) are dequeued by the daemon and succeed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.data_version import DATA_VERSION_TAG
from dagster._core.instance.ref import InstanceRef

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.definitions import defs
from wavecoder_assets.lakefiles import is_table, read_table, table_history

ASSET_GRAPH_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } groupName opVersion } }
"""

WORKSPACE_QUERY = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename
        ... on RepositoryLocation { name repositories { name jobs { name } } }
        ... on PythonError { message stack } } } }
    ... on PythonError { message stack } } }
"""

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) { __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on Error { message }
    ... on PythonError { stack }
    ... on RunConfigValidationInvalid { errors { message } } } }
"""

RUN_STATUS = """
query RunStatus($runId: ID!) { runOrError(runId: $runId) { __typename
    ... on Run { status }
    ... on Error { message } } }
"""

RUN_LOGS = """
query RunLogs($runId: ID!) { logsForRun(runId: $runId) { __typename
    ... on EventConnection { events { __typename
        ... on MessageEvent { message level }
        ... on StepEvent { stepKey }
        ... on ErrorEvent { error { message stack } } } }
    ... on Error { message } } }
"""

RUN_TIMEOUT_S = 240
IMPLICIT_ASSET_JOB = "__ASSET_JOB"
# Small and fast: a few Python functions from the embedded default source tree.
RAW_CODE_CONFIG = {"ops": {"raw_code": {"config": {"languages": ["python"], "max_rows_per_language": 20}}}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert not body.get("errors"), f"GraphQL errors: {body['errors']}"
    return body["data"]


@dataclass
class DagsterDev:
    port: int
    log: Path
    lake: Path
    home: Path

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


def _stop(process: subprocess.Popen) -> None:
    """dagster dev and everything it started (webserver, daemon, code server, run workers): one process group."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=40)  # dagster dev tells its children to shut down, then exits
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)  # whatever is left in the group
    except ProcessLookupError:
        pass
    process.wait()


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> DagsterDev:
    root = tmp_path_factory.mktemp("dagster_dev")
    home, lake = root / "dagster_home", root / "data_lake"
    home.mkdir()
    lake.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", home / "dagster.yaml")  # the repo's instance settings, a throwaway instance
    port = _free_port()
    log_path = root / "dagster_dev.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env={**os.environ, "DAGSTER_HOME": str(home), "WAVECODER_LAKE_DIR": str(lake)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so _stop reaches every child
        )
    dev = DagsterDev(port=port, log=log_path, lake=lake, home=home)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("dagster dev did not come up:\n" + dev.log_tail())
                time.sleep(1)
        yield dev
    finally:
        _stop(process)


def _loaded_location(dev: DagsterDev) -> dict:
    """The code location once it has loaded (it loads in the background); a load error fails with its stack."""
    deadline = time.monotonic() + 180
    while True:
        workspace = _graphql(dev.port, WORKSPACE_QUERY)["workspaceOrError"]
        assert workspace["__typename"] == "Workspace", workspace
        entries = workspace["locationEntries"]
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            location = entries[0]["locationOrLoadError"]
            assert location["__typename"] == "RepositoryLocation", f"code location failed to load: {location}"
            return location
        if time.monotonic() > deadline:
            raise AssertionError(f"code location still loading after 180 s: {entries}\n{dev.log_tail()}")
        time.sleep(2)


def _run_logs(dev: DagsterDev, run_id: str) -> str:
    logs = _graphql(dev.port, RUN_LOGS, {"runId": run_id})["logsForRun"]
    lines = []
    for event in logs.get("events", []):
        line = f"[{event['__typename']}] {event.get('stepKey') or ''} {event.get('message') or ''}"
        if event.get("error"):
            line += f"\n{event['error']['message']}\n{''.join(event['error'].get('stack') or [])}"
        lines.append(line)
    return "\n".join(lines) or str(logs)


def _launch_and_wait(dev: DagsterDev, assets: list[str], run_config: dict | None = None) -> str:
    """Launch a run of the given assets as the launchpad does, and wait for the daemon to run it to the end."""
    location = _loaded_location(dev)
    repository = location["repositories"][0]
    assert IMPLICIT_ASSET_JOB in {j["name"] for j in repository["jobs"]}, repository
    params = {
        "selector": {
            "repositoryLocationName": location["name"],
            "repositoryName": repository["name"],
            "jobName": IMPLICIT_ASSET_JOB,
            "assetSelection": [{"path": [name]} for name in assets],
        },
        "runConfigData": run_config or {},
    }
    launched = _graphql(dev.port, LAUNCH_RUN, {"executionParams": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", f"launch of {assets} refused: {launched}"
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + RUN_TIMEOUT_S
    status = launched["run"]["status"]
    while status not in ("SUCCESS", "FAILURE", "CANCELED") and time.monotonic() < deadline:
        time.sleep(2)
        run = _graphql(dev.port, RUN_STATUS, {"runId": run_id})["runOrError"]
        assert run["__typename"] == "Run", run
        status = run["status"]
    assert status == "SUCCESS", (
        f"run of {assets} is {status} after at most {RUN_TIMEOUT_S} s (QUEUED: no daemon dequeued it)\n"
        f"--- run events ---\n{_run_logs(dev, run_id)}\n--- dagster dev log ---\n{dev.log_tail()}"
    )
    return run_id


def test_dagster_dev_serves_the_whole_asset_graph(dagster_dev):
    expected = {}
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        expected["/".join(key.path)] = {"/".join(p.path) for p in node.parent_keys}

    _loaded_location(dagster_dev)
    nodes = _graphql(dagster_dev.port, ASSET_GRAPH_QUERY)["assetNodes"]
    served = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert served == expected
    assert {"raw_code", "filtered_code", "filtered_out"} <= served.keys()
    assert "raw_code" in served["filtered_code"]
    # every asset carries a code version, so code changes mark it stale in the UI
    assert all(n["opVersion"] for n in nodes)


CORPUS_SLICE = "corpus_sources,raw_code,filtered_code,filtered_out"


def _main_job(dev: DagsterDev, *args: str) -> str:
    """`python -m wavecoder_assets.run` (what `make run` runs) on the UI's instance and lake."""
    done = subprocess.run([sys.executable, "-m", "wavecoder_assets.run", "wavecoder", "--select", CORPUS_SLICE, *args],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "DAGSTER_HOME": str(dev.home), "WAVECODER_LAKE_DIR": str(dev.lake)})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _data_versions(dev: DagsterDev, key: str) -> list[str]:
    """Every materialization's data version of an asset, newest first."""
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(dev.home))) as instance:
        records = instance.fetch_materializations(dg.AssetKey(key), limit=100).records
        return [r.event_log_entry.asset_materialization.tags[DATA_VERSION_TAG] for r in records]


def test_the_ui_materialize_button_runs_what_make_run_runs(dagster_dev):
    """The main job on its defaults, then filtered_out launched as the UI's Materialize button launches it (the
    implicit asset job, no run config): the same settings, so the same rows and data version. Runs first in this
    module, on a lake no other config has touched. An unchanged rerun of the main job materializes nothing."""
    _main_job(dagster_dev)
    made_by_make_run = _data_versions(dagster_dev, "filtered_out")
    assert len(made_by_make_run) == 1
    _launch_and_wait(dagster_dev, ["filtered_out"])
    assert _data_versions(dagster_dev, "filtered_out") == made_by_make_run * 2

    rerun = _main_job(dagster_dev)
    assert "up to date" in rerun
    assert [len(_data_versions(dagster_dev, k)) for k in ("raw_code", "filtered_code", "filtered_out")] == [1, 1, 2]
    _main_job(dagster_dev, "--force")
    assert [len(_data_versions(dagster_dev, k)) for k in ("raw_code", "filtered_code", "filtered_out")] == [2, 2, 3]
    assert len(set(_data_versions(dagster_dev, "filtered_out"))) == 1  # reproducible from identical inputs


def test_runs_launched_from_the_ui_succeed(dagster_dev):
    lake = dagster_dev.lake
    _launch_and_wait(dagster_dev, ["raw_code"], RAW_CODE_CONFIG)
    assert is_table(lake / "raw_code")
    raw_written = len(table_history(lake, "raw_code"))

    # One asset of the filtered_code + filtered_out multi-asset, on its own.
    out_written = len(table_history(lake, "filtered_out")) if is_table(lake / "filtered_out") else 0
    # 20 rows hold no function of plain values (the default filter): the paper's filters keep some of them.
    _launch_and_wait(dagster_dev, ["filtered_code"], {"ops": {"filtered_code": {"config": {
        "require_plain_values": False}}}})
    assert read_table(lake, "filtered_code").height > 0
    assert (len(table_history(lake, "filtered_out")) if is_table(lake / "filtered_out") else 0) == out_written, \
        "only the selected asset of the multi-asset is written"
    assert len(table_history(lake, "raw_code")) == raw_written, "upstream not rerun"
