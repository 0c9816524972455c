"""Per-example cost of the generator-discriminator loop with the embedded models, and its acceptance rate.

    python bench/generate.py --n 8

Sources: N documented stdlib functions of 100-600 characters (like filtered_code's), the paper's task mix.
No request cache, so every request is paid. Prints wall seconds and the llama.cpp servers' CPU seconds per
example for generation and judging (each server runs one thread: its CPU seconds are what an idle core
would take, whatever else the machine is doing), tokens, and the verdicts.
"""

from __future__ import annotations

import argparse
import ast
import os
import sysconfig
import time
from pathlib import Path

import polars as pl

from wavecoder_assets.generate.loop import LoopSettings, run_generator_discriminator
from wavecoder_assets.resources.llm import LLMResource
from wavecoder_assets.sandbox import run_python

MODULES = ["textwrap", "fnmatch", "heapq", "bisect", "shlex", "string", "colorsys", "statistics", "glob", "base64"]


def stdlib_functions(n: int) -> pl.DataFrame:
    rows = []
    for module in MODULES:
        source = (Path(sysconfig.get_paths()["stdlib"]) / f"{module}.py").read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) and not node.name.startswith("_"):
                code = ast.get_source_segment(source, node)
                if 100 <= len(code) <= 600:
                    rows.append({"id": f"{module}.{node.name}", "language": "python", "code": code, "rank": len(rows)})
                    break  # one per module: varied sources
    if len(rows) < n:
        raise SystemExit(f"only {len(rows)} stdlib functions found; ask for fewer")
    return pl.DataFrame(rows[:n])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Timed:
    """A ChatClient that adds up wall and server-CPU seconds of its .run calls."""

    def __init__(self, client, pid: int):
        self.client, self.pid, self.wall, self.cpu = client, pid, 0.0, 0.0

    def run(self, requests, **kwargs):
        wall, cpu = time.perf_counter(), cpu_seconds(self.pid)
        results = self.client.run(requests, **kwargs)
        self.wall += time.perf_counter() - wall
        self.cpu += cpu_seconds(self.pid) - cpu
        return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    sources = stdlib_functions(args.n)
    llm = LLMResource(cache_path=None)
    try:
        generator, judge = llm.client("generator"), llm.client("judge")
        pids = {name: server._proc.pid for name, server in llm._servers.items()}
        timed_gen, timed_judge = Timed(generator, pids[generator.model]), Timed(judge, pids[judge.model])
        settings = LoopSettings(rounds=args.rounds)
        started = time.perf_counter()
        _, judged = run_generator_discriminator(sources, timed_gen, timed_judge, settings, run_python)
        total = time.perf_counter() - started
    finally:
        llm.close()
    n, n_judged = judged.height, max(1, judge.usage.requests)
    print(f"{n} examples in {total:.0f} s wall (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"generation: {timed_gen.wall / n:.1f} s wall, {timed_gen.cpu / n:.1f} s server CPU per example; "
          f"{generator.usage.prompt_tokens / n:.0f} prompt + {generator.usage.completion_tokens / n:.0f} completion tokens")
    print(f"judging:    {timed_judge.wall / n_judged:.1f} s wall, {timed_judge.cpu / n_judged:.1f} s server CPU per judged "
          f"example ({judge.usage.requests} judged); {judge.usage.prompt_tokens / n_judged:.0f} prompt + "
          f"{judge.usage.completion_tokens / n_judged:.0f} completion tokens")
    print(f"server CPU per source, both models: {(timed_gen.cpu + timed_judge.cpu) / n:.1f} s")
    print(judged.group_by("task_name", "status", "verdict").len().sort("task_name", "status", "verdict"))
    accepted = judged.filter(pl.col("verdict") == "accepted").height
    print(f"acceptance rate: {accepted}/{n} = {accepted / n:.2f}")
    with pl.Config(fmt_str_lengths=200, tbl_rows=50, tbl_width_chars=250):
        print(judged.select("task_name", "verdict", "sandbox_status", "instruction", "reasons", "error"))


if __name__ == "__main__":
    main()
