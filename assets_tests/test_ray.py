"""The Ray executor for real: a local Ray head on loopback (2 CPUs and 1 declared GPU, so the GPU steps' requests
can be met), the corpus -> embeddings slice over 2 shards run through it by `python -m wavecoder_assets.run`
with WAVECODER_RAY_ADDRESS set, every step a Ray job with its op tag's resources; the materializations, data
versions and lineage checked in the instance; the head stopped by its process group afterwards.

The dashboard (Ray's job API) is bound to 127.0.0.1 and every client uses that address, but Ray turns a 127.0.0.1
node address into the machine's own address (`services.resolve_ip_for_localhost`) and its GCS and raylet gRPC
servers listen on all interfaces; so the head runs with token authentication and a random token of its own (which
also keeps it apart from any ~/.ray/auth_token a local `ray.init()` left behind). Ray reads the auth mode once per
process, so the Ray client calls run in child processes that have the token in their environment."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from textwrap import dedent

import pytest

from assets_tests.test_partitions import check_corpus_to_embeddings, run_corpus_to_embeddings

START_TIMEOUT_S = 180


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _ray_client(address: str, code: str, timeout_s: float = 60) -> dict | list:
    """The JSON that `code` prints, run in a child process with `client` = a JobSubmissionClient of `address`
    (and `address`, `json` in scope), under this process's RAY_AUTH_* environment."""
    script = f"import json\nfrom ray.job_submission import JobSubmissionClient\naddress = {address!r}\n" \
             f"client = JobSubmissionClient(address)\n{dedent(code)}"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ray_head(monkeypatch):
    """`ray start --head --block` on 127.0.0.1 with its own ports, temp dir and auth token; yields the
    job-submission address (the token is in this process's environment). Skips (with Ray's log) only when the head
    does not come up."""
    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.skip(f"no {ray}: install the `ray` extra")
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN", secrets.token_hex(32))
    # A short temp dir: Ray's unix socket paths under it must fit in 107 bytes.
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")
    gcs, dashboard, client, node_manager, object_manager, metrics, agent, agent_grpc, runtime_env = _free_ports(9)
    log = open(Path(temp) / "ray_start.log", "w")
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
         "--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
         "--ray-client-server-port", str(client), "--node-manager-port", str(node_manager),
         "--object-manager-port", str(object_manager), "--metrics-export-port", str(metrics),
         "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
         "--runtime-env-agent-port", str(runtime_env), "--num-cpus", "2", "--num-gpus", "1",
         "--object-store-memory", str(100 * 1024 * 1024), "--temp-dir", temp, "--disable-usage-stats"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                _ray_client(address, "print(json.dumps(len(client.list_jobs())))")
                break
            except (RuntimeError, subprocess.TimeoutExpired) as error:  # not up yet: the job API answers last
                if head.poll() is not None or time.monotonic() > deadline:
                    tail = (Path(temp) / "ray_start.log").read_text()[-3000:]
                    pytest.skip(f"the Ray head did not start ({type(error).__name__}: {error}):\n{tail}")
                time.sleep(2)
        yield address
    finally:
        if head.poll() is None:  # --block: SIGTERM makes `ray start` stop every process it started
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait(timeout=30)
        log.close()
        stopped = time.monotonic() + 30
        while _listening(dashboard) and time.monotonic() < stopped:
            time.sleep(1)
        shutil.rmtree(temp, ignore_errors=True)
        assert not _listening(dashboard), "the Ray head outlived its process group"


@pytest.mark.timeout(1200)
def test_a_sharded_job_runs_step_by_step_on_a_local_ray_cluster(tmp_path, ray_head):
    ray_env = {"WAVECODER_RAY_ADDRESS": ray_head, **{k: os.environ[k] for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN")}}
    result = run_corpus_to_embeddings(tmp_path, ray_env, timeout_s=1000)
    check_corpus_to_embeddings(result)

    # Each step's Ray job, and what its job supervisor held: the op tag's request.
    jobs = _ray_client(ray_head, """
        import time
        from ray.util.state import list_actors
        jobs, deadline = client.list_jobs(), time.monotonic() + 30
        while True:  # the state API may list a finished job's supervisor a moment later
            held = {a.name.removeprefix("_ray_internal_job_actor_"): a.required_resources
                    for a in list_actors(address=address, detail=True, limit=1000,
                                         filters=[("class_name", "=", "JobSupervisor")])}
            if all(j.submission_id in held for j in jobs) or time.monotonic() > deadline:
                break
            time.sleep(1)
        print(json.dumps([{"run_id": j.metadata["dagster/run-id"], "op": j.metadata["dagster/op"],
                           "status": j.status.value, "held": held.get(j.submission_id)} for j in jobs]))
    """)
    runs = {r.run_id: r.tags.get("dagster/partition") for r in result["instance_runs"]}
    corpus_run = next(run_id for run_id, shard in runs.items() if shard is None)
    expected = {(corpus_run, op) for op in ("corpus_sources", "raw_code", "filtered_code")}
    expected |= {(run_id, "code_embeddings") for run_id, shard in runs.items() if shard is not None}
    assert {(j["run_id"], j["op"]) for j in jobs} == expected and len(jobs) == len(expected), jobs
    assert {j["status"] for j in jobs} == {"SUCCEEDED"}
    # GPU steps asked for a GPU (the head declares one) and a CPU, the corpus steps for a CPU, the observation
    # for nothing.
    wanted = {"corpus_sources": {}, "raw_code": {"CPU": 1.0}, "filtered_code": {"CPU": 1.0},
              "code_embeddings": {"CPU": 1.0, "GPU": 1.0}}
    assert all(j["held"] == wanted[j["op"]] for j in jobs), jobs



def test_steps_run_in_process_unless_a_ray_cluster_is_named(monkeypatch):
    from wavecoder_assets.launch_validation import in_process_executor_checking_config
    from wavecoder_assets.resources import RAY_ADDRESS_ENV, executor_for

    monkeypatch.delenv(RAY_ADDRESS_ENV, raising=False)
    assert executor_for() is in_process_executor_checking_config
    monkeypatch.setenv(RAY_ADDRESS_ENV, "http://127.0.0.1:8265")
    assert executor_for().name == "ray"


def test_gpu_stages_ask_ray_for_a_gpu_and_the_others_for_a_cpu():
    from wavecoder_assets.definitions import defs
    from wavecoder_assets.resources import CPU_STEP, GPU_STEP, RAY_CONFIG_TAG

    graph = defs.resolve_asset_graph()
    requests = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_external:
            requests[key.to_user_string()] = {RAY_CONFIG_TAG: node.assets_def.node_def.tags.get(RAY_CONFIG_TAG)}
    gpu = {"code_embeddings", "coreset", "finetuned_model", "eval_scores"}
    assert {name for name, tags in requests.items() if tags == GPU_STEP} == gpu
    assert all(tags == CPU_STEP for name, tags in requests.items() if name not in gpu), requests
