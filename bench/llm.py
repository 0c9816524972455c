"""ChatClient throughput and cache against a local OpenAI-compatible server with a fixed latency.

Prints the achieved request rate against concurrency x the sequential rate measured in the same run
(target >= 0.8), and the endpoint calls an unchanged rerun makes (target 0).

    python bench/llm.py [--requests 1000] [--concurrency 16] [--latency 0.2]

The default concurrency is the production endpoints' max_in_flight. The client costs ~2.5 ms of CPU per request
(as much as the bare openai client's post), so higher concurrency needs CPU a busy shared machine may not have:
the CPU line shows it next to the load average.
    python bench/llm.py --embedded [--n-threads 1]   # tokens/s of the embedded models through ChatClient
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from wavecoder_assets.llm import ChatClient, ChatRequest
from wavecoder_assets.llm.cache import RequestCache
from wavecoder_assets.llm.server import LocalLlamaServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]


def server_calls(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/stats", timeout=30).json()["calls"]


def timed_run(client: ChatClient, requests: list[ChatRequest]) -> float:
    start = time.perf_counter()
    results = client.run(requests)
    elapsed = time.perf_counter() - start
    failed = [r for r in results if r.error]
    assert not failed, failed[:3]
    return elapsed


def embedded_tokens_per_s(n_threads: int) -> None:
    """Decode speed of each embedded model on short prompts, one request at a time, no cache."""
    prompts = ["Write a Python function that returns the n-th Fibonacci number.",
               "Write a JavaScript function that reverses a string.",
               "Write a Go function that sums a slice of ints."]
    for model in ("qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"):
        with LocalLlamaServer(model, n_threads=n_threads) as server:
            client = ChatClient(server.base_url, model, max_in_flight=1)
            client.run([ChatRequest("warm-up", [{"role": "user", "content": "Hi"}], max_tokens=8)])
            requests = [ChatRequest(str(i), [{"role": "user", "content": p}], max_tokens=128)
                        for i, p in enumerate(prompts)]
            elapsed = timed_run(client, requests)
            tokens = client.usage.completion_tokens - 8
            print(f"{model:30s} n_threads={n_threads}  {tokens} completion tokens in {elapsed:.1f} s = "
                  f"{tokens / elapsed:5.1f} tokens/s (prompt processing included)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--embedded", action="store_true", help="measure the embedded models' tokens/s instead")
    parser.add_argument("--n-threads", type=int, default=1)
    args = parser.parse_args()
    if args.embedded:
        return embedded_tokens_per_s(args.n_threads)

    port = free_port()
    # The server runs in its own process so it does not share this one's GIL with the client.
    server = subprocess.Popen([sys.executable, "-m", "wavecoder_assets.testing.openai_server", "--port", str(port),
                               "--latency", str(args.latency)], cwd=REPO_ROOT)
    try:
        while True:
            try:
                server_calls(port)
                break
            except httpx.ConnectError:
                time.sleep(0.1)
        base_url = f"http://127.0.0.1:{port}/v1"

        sequential = [ChatRequest(f"s{i}", [{"role": "user", "content": f"warm-up {i}"}]) for i in range(20)]
        sequential_rate = len(sequential) / timed_run(ChatClient(base_url, "bench", max_in_flight=1), sequential)

        with tempfile.TemporaryDirectory() as tmp:
            cache = RequestCache(Path(tmp) / "cache.sqlite")
            client = ChatClient(base_url, "bench", cache=cache, max_in_flight=args.concurrency)
            requests = [ChatRequest(f"r{i}", [{"role": "user", "content": f"request {i}"}], seed=i)
                        for i in range(args.requests)]
            calls_before = server_calls(port)
            cpu_before = time.process_time()
            rate = args.requests / timed_run(client, requests)
            client_cpu_ms = (time.process_time() - cpu_before) * 1000 / args.requests
            calls_first = server_calls(port) - calls_before
            rerun_s = timed_run(client, requests)
            calls_rerun = server_calls(port) - calls_before - calls_first
            cache.close()
    finally:
        server.terminate()
        server.wait()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu_ms = (children.ru_utime + children.ru_stime) * 1000 / (args.requests + len(sequential))

    ideal = args.concurrency * sequential_rate
    print(f"latency {args.latency * 1000:.0f} ms, {args.requests} requests, concurrency {args.concurrency}")
    print(f"sequential rate      {sequential_rate:8.2f} req/s")
    print(f"achieved rate        {rate:8.2f} req/s  (ideal concurrency x sequential = {ideal:.1f} req/s)")
    print(f"ratio                {rate / ideal:8.3f}  (target >= 0.8)")
    print(f"first run calls      {calls_first:8d}")
    print(f"CPU per request      client {client_cpu_ms:.2f} ms, server {server_cpu_ms:.2f} ms; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"unchanged rerun      {calls_rerun:8d} calls in {rerun_s:.3f} s  (target 0)")


if __name__ == "__main__":
    main()
