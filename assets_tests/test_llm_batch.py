"""The Batch API client (/v1/files + /v1/batches) against the local OpenAI-compatible test server's batch endpoints."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import openai
import polars as pl
import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.llm import BatchChatClient, ChatClient, ChatRequest, RequestCache
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource
from wavecoder_assets.testing.openai_server import ThreadedServer


def user(text: str) -> list[dict]:
    return [{"role": "system", "content": "You are terse."}, {"role": "user", "content": text}]


def batch_client(server: ThreadedServer, cache: RequestCache | None = None, **kwargs) -> BatchChatClient:
    options = dict(poll_interval_s=0.05, max_wait_s=30.0, max_retries=2, timeout_s=5.0)
    return BatchChatClient(server.base_url, "test-model", cache=cache, **(options | kwargs))


def batch_calls(server: ThreadedServer) -> dict:
    return server.stats()["endpoint_calls"]


def test_results_map_back_in_request_order_across_split_batches():
    schema = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    requests = [ChatRequest(f"r{i}", user(f"item {i}"), seed=i) for i in range(10)]
    requests += [ChatRequest("dup-a", user("same")), ChatRequest("dup-b", user("same")),
                 ChatRequest("json", user("structured"), response_format={"type": "json_object", "schema": schema})]
    with ThreadedServer() as server:
        client = batch_client(server, max_lines_per_batch=4, response_format_style="json_schema")
        results = client.run(requests)
        stats = server.stats()

    assert [r.key for r in results] == [r.key for r in requests]
    assert [r.text for r in results[:10]] == [f"ECHO item {i}" for i in range(10)]
    assert results[10].text == results[11].text == "ECHO same" and results[11].cached and results[11].attempts == 0
    assert json.loads(results[12].text) == {"echo": "structured"}
    assert all(r.error is None and not r.cached and r.attempts == 1 for i, r in enumerate(results) if i != 11)
    # 12 distinct requests in batches of at most 4 lines; identical requests are one line; no direct calls.
    inputs = [batch["custom_ids"] for batch in stats["batches"].values()]
    assert [len(ids) for ids in inputs] == [4, 4, 4]
    assert sorted(sum(inputs, [])) == sorted({client.cache_key(r) for r in requests})
    assert stats["endpoint_calls"]["batches.create"] == 3 and stats["calls"] == 0 and stats["batch_lines"] == 12
    [json_line] = [a["body"] for calls in stats["by_messages"].values() for a in calls
                   if a["body"]["messages"] == requests[12].messages]
    assert json_line["response_format"] == {"type": "json_schema", "json_schema": {"name": "output", "schema": schema}}
    assert json_line["model"] == "test-model" and json_line["seed"] == 0
    assert client.usage.calls == 12 and client.usage.cache_hits == 1


def test_input_files_split_by_bytes_and_an_oversized_request_is_an_error_never_sent():
    requests = [ChatRequest(f"r{i}", user(f"{i} " + "x" * 300)) for i in range(5)]
    requests.append(ChatRequest("huge", user("y" * 3000)))
    with ThreadedServer() as server:
        plain = batch_client(server)
        line_bytes = len(json.dumps({"custom_id": plain.cache_key(requests[0]), "method": "POST",
                                     "url": "/v1/chat/completions", "body": plain.chat_body(requests[0])},
                                    separators=(",", ":"))) + 1
        assert len(user("y" * 3000)[1]["content"]) > 2 * line_bytes
        results = batch_client(server, max_bytes_per_batch=2 * line_bytes).run(requests)  # exactly two lines a file
        stats = server.stats()
    assert [len(b["custom_ids"]) for b in stats["batches"].values()] == [2, 2, 1]
    assert all(r.text == f"ECHO {i} " + "x" * 300 for i, r in enumerate(results[:5]))
    assert results[5].error.startswith("request of ") and "exceeds the batch input file limit" in results[5].error
    assert results[5].attempts == 0 and stats["batch_lines"] == 5


def test_cache_hits_skip_the_batch_and_the_cache_is_shared_with_the_direct_client(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    requests = [ChatRequest(f"r{i}", user(f"item {i}")) for i in range(3)]
    with ThreadedServer() as server:
        first = batch_client(server, cache).run(requests)
        assert batch_calls(server)["batches.create"] == 1
        calls = batch_calls(server)

        again = batch_client(server, cache).run(requests)
        assert batch_calls(server) == calls  # no upload, no batch, no poll
        assert all(r.cached and r.attempts == 0 for r in again) and [r.text for r in again] == [r.text for r in first]

        direct = ChatClient(server.base_url, "test-model", cache=cache).run(requests)  # the same cache keys
        assert server.stats()["calls"] == 0 and all(r.cached for r in direct)

        answered_directly = ChatRequest("direct", user("asked directly"))
        ChatClient(server.base_url, "test-model", cache=cache).run([answered_directly])
        new = [ChatRequest("n1", user("new one")), ChatRequest("n2", user("new two"))]
        client = batch_client(server, cache)
        mixed = client.run([requests[0], new[0], answered_directly, new[1]])
        stats = server.stats()
    assert [r.cached for r in mixed] == [True, False, True, False]
    assert stats["endpoint_calls"]["batches.create"] == 2
    assert list(stats["batches"].values())[-1]["custom_ids"] == [client.cache_key(r) for r in new]


def test_per_line_failures_are_retried_by_follow_up_batches_then_recorded_with_the_reason(tmp_path):
    secret = "sk-test-BATCHSECRETvalue42"
    requests = [
        ChatRequest("ok", user("fine")),
        ChatRequest("flaky", user("FAULTS=500,429 then fine")),
        ChatRequest("malformed", user("FAULTS=malformed once")),
        ChatRequest("hopeless", user("FAULTS=500,500,500 always")),
        ChatRequest("denied", user("FAULTS=401 not retried")),
    ]
    cache = RequestCache(tmp_path / "cache.sqlite")
    with ThreadedServer() as server:
        results = batch_client(server, cache, api_key=secret, max_retries=2).run(requests)
        stats = server.stats()

        by_key = {r.key: r for r in results}
        assert [r.key for r in results] == [r.key for r in requests]
        assert by_key["ok"].text == "ECHO fine" and by_key["ok"].attempts == 1
        assert by_key["flaky"].text == "ECHO FAULTS=500,429 then fine" and by_key["flaky"].attempts == 3
        assert by_key["malformed"].text is not None and by_key["malformed"].attempts == 2
        assert by_key["hopeless"].error == "HTTP 500: The server had an error (after 3 attempts)"
        assert by_key["denied"].error.startswith("HTTP 401: Incorrect API key provided")
        assert by_key["denied"].attempts == 1  # a 4xx other than 408/409/429 is not retried
        assert secret not in by_key["denied"].error and secret[8:20] not in by_key["denied"].error
        # A follow-up batch carries only what failed transiently: 5 lines, then flaky, malformed and hopeless,
        # then flaky and hopeless. Every line the server answered is accounted for.
        assert [len(b["custom_ids"]) for b in stats["batches"].values()] == [5, 3, 2]
        assert stats["batch_lines"] == sum(r.attempts for r in results) == 10

        # Failures are not cached: a rerun sends only those two (their faults are used up now).
        client = batch_client(server, cache, api_key=secret)
        rerun = client.run(requests)
        assert [r.cached for r in rerun] == [True, True, True, False, False]
        assert all(r.error is None for r in rerun)
        assert list(server.stats()["batches"].values())[-1]["custom_ids"] == [client.cache_key(r) for r in requests[3:]]


def test_a_failed_batch_is_resubmitted_and_a_failure_that_persists_is_recorded():
    requests = [ChatRequest("a", user("innocent")), ChatRequest("b", user("FAULTS=failbatch bad line"))]
    with ThreadedServer() as server:
        results = batch_client(server).run(requests)
        stats = server.stats()
        assert [b["status"] for b in stats["batches"].values()] == ["failed", "completed"]
        assert [r.text for r in results] == ["ECHO innocent", "ECHO FAULTS=failbatch bad line"]
        assert [r.attempts for r in results] == [2, 2]

        stubborn = [ChatRequest("c", user("FAULTS=failbatch,failbatch,failbatch stubborn"))]
        [result] = batch_client(server, max_retries=1).run(stubborn)
    assert result.text is None and result.attempts == 2
    assert result.error.startswith("no answer: batch batch_") and "failed (scripted failbatch fault)" in result.error


_CLIENT_SCRIPT = """
import sys
from wavecoder_assets.llm import BatchChatClient, ChatRequest, RequestCache
base_url, cache_path = sys.argv[1], sys.argv[2]
requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"item {i}"}]) for i in range(6)]
BatchChatClient(base_url, "test-model", cache=RequestCache(cache_path), poll_interval_s=0.05).run(requests)
"""


def test_a_run_killed_while_its_batch_runs_resumes_that_batch_instead_of_submitting_another(tmp_path):
    cache_path = tmp_path / "cache.sqlite"
    with ThreadedServer(batch_latency_s=600) as server:  # the batch stays in progress while the child polls it
        child = subprocess.Popen([sys.executable, "-c", _CLIENT_SCRIPT, server.base_url, str(cache_path)],
                                 cwd=REPO_ROOT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and batch_calls(server).get("batches.retrieve", 0) < 2:
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        killed_at = batch_calls(server)
        assert killed_at["batches.create"] == 1 and killed_at["batches.retrieve"] >= 2
        [batch_id] = server.stats()["batches"]

        server.app.state.batch_latency_s = 0.0  # the provider finishes it
        requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"item {i}"}]) for i in range(6)]
        cache = RequestCache(cache_path)
        assert list(cache.open_batches(server.base_url, [batch_client(server).cache_key(requests[0])])) == [batch_id]
        results = batch_client(server, cache).run(requests)
        calls = batch_calls(server)
        assert calls["batches.create"] == 1 and calls["files.create"] == 1  # polled the old batch, sent nothing
        assert [r.text for r in results] == [f"ECHO item {i}" for i in range(6)]
        assert all(not r.cached and r.attempts == 1 for r in results)
        assert server.stats()["batch_lines"] == 6
        assert cache.open_batches(server.base_url, [batch_client(server).cache_key(r) for r in requests]) == {}

        assert all(r.cached for r in batch_client(server, cache).run(requests))
        assert batch_calls(server) == calls


def test_past_max_wait_requests_are_errors_naming_the_batch_which_a_rerun_collects(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    requests = [ChatRequest(f"r{i}", user(f"slow {i}")) for i in range(3)]
    with ThreadedServer(batch_latency_s=600) as server:
        started = time.monotonic()
        results = batch_client(server, cache, max_wait_s=0.3).run(requests)
        assert time.monotonic() - started < 5
        [batch_id] = server.stats()["batches"]
        assert all(r.text is None and r.attempts == 1 for r in results)
        assert all(f"batch {batch_id} still in_progress after max_wait_s=0.3" in r.error and "rerun" in r.error
                   for r in results)

        server.app.state.batch_latency_s = 0.0
        rerun = batch_client(server, cache).run(requests)
        assert [r.text for r in rerun] == [f"ECHO slow {i}" for i in range(3)]
        assert batch_calls(server)["batches.create"] == 1


def test_a_batch_cancelled_after_a_kill_is_resubmitted_on_rerun(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    requests = [ChatRequest(f"r{i}", user(f"cancel me {i}")) for i in range(2)]
    with ThreadedServer(batch_latency_s=600) as server:
        batch_client(server, cache, max_wait_s=0.2).run(requests)
        [batch_id] = server.stats()["batches"]
        with openai.OpenAI(base_url=server.base_url, api_key="unused") as provider:
            assert provider.batches.cancel(batch_id).status == "cancelling"

        server.app.state.batch_latency_s = 0.0
        results = batch_client(server, cache).run(requests)
        stats = server.stats()
    assert [b["status"] for b in stats["batches"].values()] == ["cancelled", "completed"]
    assert [r.text for r in results] == ["ECHO cancel me 0", "ECHO cancel me 1"]
    assert all(r.attempts == 2 for r in results)  # the cancelled batch's line, then the new one


def test_llm_resource_gives_the_batch_client_for_a_role_with_use_batch_api(lake_dir):
    with pytest.raises(ValueError, match="use_batch_api needs a base_url"):
        LLMResource(generator=LLMEndpoint(use_batch_api=True)).client("generator")

    with ThreadedServer() as server:
        llm = LLMResource(
            generator=LLMEndpoint(base_url=server.base_url, model="test-model", use_batch_api=True,
                                  batch_poll_interval_s=0.05, price_per_1k_prompt_tokens=1.0,
                                  price_per_1k_completion_tokens=2.0),
            judge=LLMEndpoint(base_url=server.base_url, model="judge-model"),
            cache_path=str(Path(lake_dir) / ".llm_cache.sqlite"),
        )
        seen = {}

        @dg.asset
        def batch_answers(context: dg.AssetExecutionContext, llm: LLMResource) -> dg.Output:
            generator, judge = llm.client("generator"), llm.client("judge")
            seen["types"] = type(generator), type(judge)
            results = generator.run([ChatRequest(f"g{i}", user(f"generate {i}")) for i in range(4)],
                                    logger=context.log)
            results += judge.run([ChatRequest("j", user("judge this"))], logger=context.log)
            seen["results"] = results
            frame = pl.DataFrame([{"key": r.key, "text": r.text} for r in results])
            return dg.Output(frame, metadata=llm.usage_metadata())

        instance = dg.DagsterInstance.ephemeral()
        run = dg.materialize([batch_answers], resources=resources_for("local", lake_dir=lake_dir) | {"llm": llm},
                             instance=instance)
        stats = server.stats()
    assert run.success
    assert seen["types"] == (BatchChatClient, ChatClient)
    assert [r.text for r in seen["results"]] == [f"ECHO generate {i}" for i in range(4)] + ["ECHO judge this"]
    assert stats["endpoint_calls"]["batches.create"] == 1 and stats["batch_lines"] == 4 and stats["calls"] == 1
    metadata = run.asset_materializations_for_node("batch_answers")[0].metadata
    assert metadata["llm_generator_endpoint_calls"].value == 4 and metadata["llm_judge_endpoint_calls"].value == 1
    generated = seen["results"][:4]
    full_price = sum(r.prompt_tokens * 1.0 + r.completion_tokens * 2.0 for r in generated) / 1000
    assert metadata["llm_generator_cost_usd"].value == pytest.approx(full_price / 2)  # the batch price
    logs = "\n".join(event.message or "" for event in instance.all_logs(run.run_id))
    assert "batch batch_" in logs and "submitted: 4 requests" in logs  # progress in the run's log


def test_a_recorded_batch_the_endpoint_does_not_know_is_forgotten_and_its_requests_sent_again(tmp_path):
    cache = RequestCache(tmp_path / "cache.sqlite")
    request = ChatRequest("r", user("lost"))
    with ThreadedServer() as server:
        client = batch_client(server, cache)
        cache.add_batch("batch_lost", server.base_url, [client.cache_key(request)])  # e.g. deleted by its owner
        [result] = client.run([request])
        calls = batch_calls(server)
    assert result.text == "ECHO lost" and result.attempts == 2  # the lost batch's line, then the new one
    assert calls["batches.retrieve"] == 2 and calls["batches.create"] == 1
    assert cache.open_batches(server.base_url, [client.cache_key(request)]) == {}
