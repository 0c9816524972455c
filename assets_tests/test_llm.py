"""The LLM resource against a faulty local OpenAI-compatible server, and (marked llm) the embedded llama.cpp one."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import httpx
import polars as pl
import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.lakefiles import read_table, table_path
from wavecoder_assets.llm import ChatClient, ChatRequest
from wavecoder_assets.llm.cache import RequestCache
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource
from wavecoder_assets.testing.openai_server import ThreadedServer


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def fast_client(base_url: str, cache: RequestCache | None = None, **kwargs) -> ChatClient:
    options = dict(max_in_flight=4, timeout_s=2.0, max_retries=3, backoff_base_s=0.05, backoff_max_s=0.2)
    return ChatClient(base_url, "test-model", cache=cache, **(options | kwargs))


def attempts_at(stats: dict, request: ChatRequest) -> list[dict]:
    """The server's record of the calls for one request (matched by its message text)."""
    return [a for calls in stats["by_messages"].values() for a in calls if a["body"]["messages"] == request.messages]


def test_faults_are_retried_then_recorded_and_every_item_accounted_for(tmp_path):
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    requests = [
        ChatRequest("plain", user("hello")),
        ChatRequest("rate-limited", user("FAULTS=429@0.6,500 please")),
        ChatRequest("flaky", user("FAULTS=503,timeout,malformed then fine")),
        ChatRequest("no-choices", user("FAULTS=nochoices once")),
        ChatRequest("always-500", user("FAULTS=500,500,500,500,500 hopeless")),
        ChatRequest("bad-key", user("FAULTS=401 unauthorized")),
        ChatRequest("json", user("structured"), response_format={"type": "json_object", "schema": schema}),
    ]
    with ThreadedServer(hang_s=5) as server:
        client = fast_client(server.base_url, RequestCache(tmp_path / "cache.sqlite"))
        results = client.run(requests)
        stats = server.stats()

        assert [r.key for r in results] == [r.key for r in requests]
        assert all((r.text is None) != (r.error is None) for r in results)
        by_key = {r.key: r for r in results}
        assert by_key["plain"].text == "ECHO hello" and by_key["plain"].attempts == 1
        assert by_key["rate-limited"].text is not None and by_key["rate-limited"].attempts == 3
        times = [a["t"] for a in attempts_at(stats, requests[1])]
        assert times[1] - times[0] >= 0.6  # Retry-After honoured, not the 0.05 s backoff
        assert by_key["flaky"].text is not None and by_key["flaky"].attempts == 4
        assert by_key["no-choices"].attempts == 2
        assert by_key["always-500"].error.startswith("HTTP 500") and by_key["always-500"].attempts == 4
        assert by_key["bad-key"].error.startswith("HTTP 401") and by_key["bad-key"].attempts == 1  # not retried
        assert json.loads(by_key["json"].text) == {"echo": "structured"}
        assert attempts_at(stats, requests[6])[0]["body"]["response_format"]["schema"] == schema
        # Every call the server saw is one the results account for.
        assert stats["calls"] == sum(r.attempts for r in results)

        # Failures are not cached: the next run calls only for them (both succeed now), the rest is cached.
        rerun = client.run(requests)
        assert server.stats()["calls"] - stats["calls"] == 2 + 1
        assert all(r.error is None for r in rerun)
        assert [r.cached for r in rerun] == [True, True, True, True, False, False, True]
        assert server.stats()["calls"] == stats["calls"] + 3


def test_retry_after_of_a_429_pauses_every_request_not_just_its_own():
    requests = [ChatRequest("limited", user("FAULTS=429@0.8"))]
    requests += [ChatRequest(f"p{i}", user(f"p{i}")) for i in range(6)]
    with ThreadedServer(latency_s=0.1) as server:
        results = fast_client(server.base_url, max_in_flight=2).run(requests)
        stats = server.stats()
    assert all(r.error is None for r in results) and results[0].attempts == 2
    limited_at = attempts_at(stats, requests[0])[0]["t"] + 0.1  # the 429 left the server after its latency
    starts = sorted(a["t"] for calls in stats["by_messages"].values() for a in calls)
    assert not [t for t in starts if limited_at + 0.05 < t < limited_at + 0.75]


def test_schema_is_sent_in_the_endpoints_dialect():
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}}
    as_object = {"type": "json_object", "schema": schema}
    as_schema = {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    with ThreadedServer() as server:
        for style, given, sent in [("json_schema", as_object, as_schema), ("json_object", as_schema, as_object),
                                   (None, as_object, as_object), ("json_schema", {"type": "json_object"},
                                                                  {"type": "json_object"})]:
            request = ChatRequest(f"{style}", user(f"{style} {given}"), response_format=given)
            [result] = fast_client(server.base_url, response_format_style=style).run([request])
            assert json.loads(result.text) == {"echo": f"{style} {given}"}
            assert attempts_at(server.stats(), request)[0]["body"]["response_format"] == sent


def test_unreachable_endpoint_is_recorded_not_raised():
    from wavecoder_assets.llm.server import free_port

    client = fast_client(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    [result] = client.run([ChatRequest("x", user("anyone?"))])
    assert result.text is None and result.error.startswith("connection error") and result.attempts == 3


def test_cache_unchanged_rerun_makes_zero_calls_and_changes_pay_only_for_themselves(tmp_path):
    requests = [ChatRequest(f"r{i}", user(f"item {i}"), seed=i) for i in range(20)]
    duplicates = [ChatRequest("dup-a", user("same")), ChatRequest("dup-b", user("same"))]
    cache = RequestCache(tmp_path / "cache.sqlite")
    with ThreadedServer() as server:
        priced = fast_client(server.base_url, cache, price_per_1k_prompt_tokens=1.0,
                             price_per_1k_completion_tokens=2.0)
        first = priced.run(requests + duplicates)
        assert server.stats()["calls"] == 21  # identical requests are sent once
        assert first[-1].text == first[-2].text and first[-1].key == "dup-b" and first[-1].cached
        assert first[0].cost_usd == pytest.approx((first[0].prompt_tokens + 2 * first[0].completion_tokens) / 1000)

        # Same model behind another URL (and another client object): still zero calls.
        rerun = fast_client(server.base_url.replace("127.0.0.1", "localhost"), cache).run(requests)
        assert server.stats()["calls"] == 21
        assert all(r.cached and r.attempts == 0 and r.cost_usd is None for r in rerun)  # no price table here
        assert [r.text for r in rerun] == [r.text for r in first[:20]]

        changed = [ChatRequest(r.key, r.messages, temperature=0.7, seed=r.seed) if i < 5 else r
                   for i, r in enumerate(requests)]
        fast_client(server.base_url, cache).run(changed)
        assert server.stats()["calls"] == 21 + 5
        other_model = ChatClient(server.base_url, "another-model", cache=cache, max_in_flight=4)
        other_model.run(requests[:3])
        assert server.stats()["calls"] == 21 + 5 + 3
        assert all(r.cost_usd == 0 for r in priced.run(requests))  # cached: nothing paid
        metadata = priced.usage.as_metadata("llm")
        assert metadata["llm_endpoint_calls"] == 21 and metadata["llm_cache_hits"] == 1 + 20
        assert metadata["llm_cost_usd"] == pytest.approx(sum(r.cost_usd for r in first), abs=1e-6)
        assert "llm_cost_usd" not in other_model.usage.as_metadata("llm")


def test_a_cache_file_written_before_answers_carried_logprobs_is_read_and_extended(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE chat_results (cache_key TEXT PRIMARY KEY, model TEXT NOT NULL, response_model TEXT, "
                "text TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, "
                "system_fingerprint TEXT, finish_reason TEXT, created_at REAL NOT NULL)")
    request = ChatRequest("k", user("old"))
    key = fast_client("http://127.0.0.1:9/v1").cache_key(request)
    old.execute("INSERT INTO chat_results VALUES (?, 'test-model', 'test-model', 'stored', 1, 1, NULL, 'stop', 0)",
                (key,))
    old.commit()
    old.close()
    client = fast_client("http://127.0.0.1:9/v1", RequestCache(path))  # nothing listens: a call would fail
    [result] = client.run([request])
    assert result.cached and result.text == "stored" and result.token_logprobs is None
    asked = ChatRequest("k", user("old"), top_logprobs=3)
    assert client.cache_key(asked) != key  # an answer without log-probabilities does not stand for one with them


_CLIENT_SCRIPT = """
import sys
from wavecoder_assets.llm import ChatClient, ChatRequest
from wavecoder_assets.llm.cache import RequestCache
base_url, cache_path, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"item {i}"}]) for i in range(n)]
ChatClient(base_url, "test-model", cache=RequestCache(cache_path), max_in_flight=2).run(requests)
"""


def test_run_killed_half_way_resumes_paying_only_for_what_was_missing(tmp_path):
    n, cache_path = 40, tmp_path / "cache.sqlite"
    with ThreadedServer(latency_s=0.2) as server:  # the child needs 4 s: time to kill it half-way
        child = subprocess.Popen([sys.executable, "-c", _CLIENT_SCRIPT, server.base_url, str(cache_path), str(n)],
                                 cwd=REPO_ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # kill it once a quarter is cached
            if cache_path.exists() and _cached_rows(cache_path) >= n // 4:
                break
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        cached = _cached_rows(cache_path)
        assert 0 < cached < n
        calls_before = server.stats()["calls"]

        requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"item {i}"}]) for i in range(n)]
        results = ChatClient(server.base_url, "test-model", cache=RequestCache(cache_path), max_in_flight=8).run(requests)
        assert server.stats()["calls"] - calls_before == n - cached
        assert all(r.text == f"ECHO item {i}" for i, r in enumerate(results))
        assert sum(r.cached for r in results) == cached


def _cached_rows(path: Path) -> int:
    with sqlite3.connect(path, timeout=30) as db:
        try:
            return db.execute("SELECT count(*) FROM chat_results").fetchone()[0]
        except sqlite3.OperationalError:  # table not created yet
            return 0


def test_api_key_never_reaches_logs_metadata_or_lake(lake_dir, monkeypatch, capfd):
    secret = "sk-live-Zq8TESTSECRETvalue42"
    monkeypatch.setenv("WAVECODER_TEST_API_KEY", secret)
    with ThreadedServer() as server:
        llm = LLMResource(
            generator=LLMEndpoint(base_url=server.base_url, model="test-model",
                                  api_key=dg.EnvVar("WAVECODER_TEST_API_KEY"), timeout_s=5.0, max_retries=1),
            cache_path=str(Path(lake_dir) / ".llm_cache.sqlite"),
        )

        @dg.asset
        def answers(context: dg.AssetExecutionContext, llm: LLMResource) -> dg.Output:
            client = llm.client("generator")
            context.log.info(f"client {client!r}, resource {llm!r}")
            results = client.run([ChatRequest("ok", user("hi")), ChatRequest("denied", user("FAULTS=401,401"))],
                                 logger=context.log)
            for r in results:
                context.log.info(str(r))
            frame = pl.DataFrame([{"key": r.key, "text": r.text, "error": r.error} for r in results])
            return dg.Output(frame, metadata=llm.usage_metadata())

        instance = dg.DagsterInstance.ephemeral()
        resources = resources_for("local", lake_dir=lake_dir) | {"llm": llm}
        run = dg.materialize([answers], resources=resources, instance=instance)
        assert run.success
        # The key did reach the endpoint: the server echoed it back in its 401 message.
        denied = [a for calls in server.stats()["by_messages"].values() for a in calls if a["fault"] == "401"]
        assert len(denied) == 1

    frame = read_table(lake_dir, "answers")
    assert frame.filter(pl.col("key") == "denied")["error"][0].startswith("HTTP 401")
    metadata = run.asset_materializations_for_node("answers")[0].metadata
    assert metadata["llm_generator_requests"].value == 2 and metadata["llm_generator_failures"].value == 1
    logs = "\n".join(str(event) for event in instance.all_logs(run.run_id))
    captured = capfd.readouterr()
    for place, text in {
        "event log": logs, "metadata": str(metadata), "stdout": captured.out, "stderr": captured.err,
        "lake table": b"".join(p.read_bytes() for p in table_path(lake_dir, "answers").rglob("*") if p.is_file()).decode("latin-1"),
        "cache": (Path(lake_dir) / ".llm_cache.sqlite").read_bytes().decode("latin-1"),
        "run config": str(instance.get_run_by_id(run.run_id).run_config),
    }.items():
        assert secret not in text and secret[8:20] not in text, f"API key found in {place}"


@pytest.mark.llm
def test_embedded_llama_server_answers_json_restarts_after_a_crash_and_stops_with_the_run(lake_dir):
    schema = {"type": "object", "properties": {"language": {"type": "string"}, "lines": {"type": "integer"}},
              "required": ["language", "lines"]}
    # Written in OpenAI's json_schema dialect: the client sends llama.cpp's json_object + schema instead.
    openai_format = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}
    requests = [
        ChatRequest("json", user("Reply in JSON: which language is `def f(): pass` written in, and how many lines?"),
                    max_tokens=40, response_format=openai_format),
        ChatRequest("code", user("Write a one-line Python expression that squares x. Code only."), max_tokens=24),
        ChatRequest("choice", user("Which is a prime, 1) 4 2) 7 3) 9? Reply in JSON."), max_tokens=12, top_logprobs=5,
                    response_format={"type": "json_object", "schema": {
                        "type": "object", "properties": {"answer": {"type": "integer", "enum": [1, 2, 3]}},
                        "required": ["answer"]}}),
    ]
    seen: dict = {}

    @dg.asset
    def embedded_answers(llm: LLMResource) -> dg.Output:
        client = llm.client("generator")
        seen["base_url"], seen["max_retries"] = client.base_url, client.max_retries
        first = client.run(requests)
        second = client.run(requests)
        os.kill(llm._servers[client.model]._proc.pid, signal.SIGKILL)  # a crashed server is restarted
        [seen["after_crash"]] = client.run([ChatRequest("again", user("Say OK."), max_tokens=4)])
        seen["results"] = first, second
        return dg.Output(pl.DataFrame({"key": [r.key for r in first]}), metadata=llm.usage_metadata())

    run = dg.materialize([embedded_answers], resources=resources_for("local", lake_dir=lake_dir))
    assert run.success
    first, second = seen["results"]
    assert all(r.error is None and r.completion_tokens > 0 and not r.cached for r in first), first
    assert set(json.loads(first[0].text)) >= {"language", "lines"}
    assert "x" in first[1].text
    assert all(r.cached for r in second) and [r.text for r in second] == [r.text for r in first]
    # The answer's tokens come with their alternatives' log-probabilities, and come back from the cache alike.
    picked = str(json.loads(first[2].text)["answer"])
    alternatives = next(top for token, top in first[2].token_logprobs if token.strip() == picked)
    assert len({t.strip() for t in alternatives} & {"1", "2", "3"}) >= 2 and all(lp <= 0 for lp in alternatives.values())
    assert second[2].token_logprobs == first[2].token_logprobs and first[0].token_logprobs is None
    metadata = run.asset_materializations_for_node("embedded_answers")[0].metadata
    # It recovered within the retry budget; how many tries the restart took depends on the machine's load.
    after_crash = seen["after_crash"]
    assert after_crash.error is None and 2 <= after_crash.attempts <= seen["max_retries"] + 1
    assert metadata["llm_generator_endpoint_calls"].value == len(requests) + after_crash.attempts
    assert metadata["llm_generator_model"].value == "qwen2.5-coder-0.5b-instruct"
    with pytest.raises(httpx.ConnectError):  # the resource stopped its server at the end of the run
        httpx.get(f"{seen['base_url']}/models", timeout=2)
