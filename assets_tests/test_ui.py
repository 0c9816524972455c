"""The real Dagster webserver serves the workspace: the asset graph and its dependencies are all there."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.definitions import defs

ASSET_GRAPH_QUERY = """
{ assetNodes { assetKey { path } dependencyKeys { path } groupName opVersion } }
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def webserver(tmp_path: Path):
    port = _free_port()
    log = open(tmp_path / "webserver.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO_ROOT,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},  # a throwaway instance, not the repo's
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("webserver did not come up:\n" + (tmp_path / "webserver.log").read_text()[-3000:])
                time.sleep(1)
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def test_webserver_serves_the_whole_asset_graph(webserver):
    expected = {}
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        expected["/".join(key.path)] = {"/".join(p.path) for p in node.parent_keys}

    # The code location loads in the background: poll until its assets show up.
    deadline = time.monotonic() + 180
    while True:
        nodes = _graphql(webserver, ASSET_GRAPH_QUERY).get("data", {}).get("assetNodes") or []
        if nodes or time.monotonic() > deadline:
            break
        time.sleep(2)

    served = {"/".join(n["assetKey"]["path"]): {"/".join(d["path"]) for d in n["dependencyKeys"]} for n in nodes}
    assert served == expected
    assert {"raw_code", "filtered_code", "filtered_out"} <= served.keys()
    assert "raw_code" in served["filtered_code"]
    # every asset carries a code version, so code changes mark it stale in the UI
    assert all(n["opVersion"] for n in nodes)
