"""Per-example cost and quality of the generator-discriminator loop with the embedded models.

    python bench/generate.py --n 12 --rounds 2

Sources: N documented stdlib functions of 100-600 characters (like filtered_code's), the paper's task mix. No
request cache, so every request is paid. The loop runs as the asset runs it (generation, code checks, execution,
LLM judge on the semantic rules); then, in the same run, the same generated examples are judged by the reference:
the previous discriminator, where the LLM answered all five checklist rules plus an overall verdict (uncapped
reasons, no code checks). Prints wall and server-CPU seconds per generated and per judged example, the ratio
reference / now, and the loop's quality numbers (unparseable, acceptance, execution, copied reasons).
Then the rules that check rows beyond the judge's yes/no (contrastive.py, and differential.py for code rows no test
decided) before and after: the same parsed examples judged per task with them off (contrastive_candidates 0,
differential false) and on (the defaults), each uncached: acceptance and judging seconds per example, per task.

    python bench/generate.py --labelled wavecoder_assets/benchmark_data/judge_semantic.jsonl

runs only that before/after, on a labelled file's rows, with the rows accepted per label.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sysconfig
import time
from pathlib import Path

import polars as pl

from wavecoder_assets.generate.calibration import as_candidates, load_labelled
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate
from wavecoder_assets.generate.loop import LoopSettings, quality_metrics, run_generator_discriminator
from wavecoder_assets.languages import LANGUAGE_NAMES
from wavecoder_assets.llm import ChatRequest
from wavecoder_assets.resources.llm import LLMResource

MODULES = ["textwrap", "fnmatch", "heapq", "bisect", "shlex", "string", "colorsys", "statistics", "glob", "base64",
           "calendar", "difflib", "ipaddress", "json/__init__", "keyword", "locale", "ntpath", "operator", "pprint",
           "quopri", "random", "reprlib", "secrets", "tokenize", "uu", "wave", "zipfile", "gettext", "html/__init__"]

# The reference: the previous judge prompt (all rules by the LLM, then an overall verdict).
REFERENCE_RULES = [
    ("input_is_code", 1, "The raw code input is real code, not only comments or docstrings."),
    ("solution_relates", 2, "The solution is the specific resolution of the instruction and information, relevant to "
                            "both."),
    ("names_language", 2, "The instruction names the programming language."),
    ("code_only", 2, "The solution holds only code and comments inside the code; no explanation outside the code."),
    ("instruction_relevant", 2, "The instruction is relevant to the raw code input and summarizes what it is about."),
]


def reference_request(row: dict, code: str) -> ChatRequest:
    lines = ["Judge whether the generated instruction data meets each rule. Go through the rules step by step; for "
             'each give a short reason (at most 15 words), then "yes" if the rule is met or "no" if not.']
    for step in (1, 2):
        lines.append(f"Step {step}:")
        lines += [f"- {rid}: {text}" for rid, s, text in REFERENCE_RULES if s == step]
    lines.append('Then "overall": "yes" only if every rule is met, else "no"; "reasons": the reasons of any "no".')
    fields = {k: row.get(k) or "" for k in ("task_name", "instruction", "information", "solution")}
    lines.append(f"Now judge this data.\nRaw code input ({LANGUAGE_NAMES[row['language']]}):\n{code}\nGenerated data:\n"
                 f"{json.dumps(fields, ensure_ascii=False)}\nAnswer with JSON only.")
    answer = {"type": "object", "properties": {"reason": {"type": "string"}, "answer": {"enum": ["yes", "no"]}},
              "required": ["reason", "answer"]}
    props = {rid: answer for rid, _, _ in REFERENCE_RULES} | {"overall": {"enum": ["yes", "no"]},
                                                               "reasons": {"type": "string"}}
    return ChatRequest(key=row["example_id"], max_tokens=256,
                       messages=[{"role": "system", "content": "You are a strict reviewer of instruction-tuning "
                                                               "data for code models."},
                                 {"role": "user", "content": "\n".join(lines)}],
                       response_format={"type": "json_object", "schema": {"type": "object", "properties": props,
                                                                          "required": list(props)}})


def stdlib_functions(n: int) -> pl.DataFrame:
    rows = []
    for module in MODULES:
        path = Path(sysconfig.get_paths()["stdlib"]) / f"{module}.py"
        if not path.exists():
            continue
        source = path.read_text()
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) and not node.name.startswith("_"):
                code = ast.get_source_segment(source, node)
                if 100 <= len(code) <= 600:
                    rows.append({"id": f"{module}.{node.name}", "language": "python", "code": code,
                                 "docstring": ast.get_docstring(node), "rank": len(rows)})
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
        self.model = client.model

    def run(self, requests, **kwargs):
        wall, cpu = time.perf_counter(), cpu_seconds(self.pid)
        results = self.client.run(requests, **kwargs)
        self.wall += time.perf_counter() - wall
        self.cpu += cpu_seconds(self.pid) - cpu
        return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--labelled", metavar="FILE", help="only the before/after of the contrastive and differential "
                                                           "rules, on this labelled file's rows")
    args = parser.parse_args()
    if args.labelled:
        return verification_on_labelled(args.labelled)
    sources = stdlib_functions(args.n)
    llm = LLMResource(cache_path=None)
    try:
        generator, judge = llm.client("generator"), llm.client("judge")
        pids = {name: server._proc.pid for name, server in llm._servers.items()}
        timed_gen, timed_judge = Timed(generator, pids[generator.model]), Timed(judge, pids[judge.model])
        started = time.perf_counter()
        generated, judged, seconds = run_generator_discriminator(sources, timed_gen, timed_judge,
                                                                 LoopSettings(rounds=args.rounds))
        total = time.perf_counter() - started
        llm_judged = judge.usage.requests
        candidates = generated.filter(pl.col("status") == "ok").to_dicts()
        code = dict(zip(sources["id"], sources["code"]))
        reference = Timed(judge, pids[judge.model])
        started = time.perf_counter()
        reference.run([reference_request(row, code[row["source_id"]]) for row in candidates])
        reference_s = time.perf_counter() - started
        verification = before_and_after([row | {"code": code[row["source_id"]]} for row in candidates], judge)
    finally:
        llm.close()
    n, n_judged = judged.height, max(1, len(candidates))
    print(f"{n} examples in {total:.0f} s wall (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print(f"generation: {seconds['generating'] / n:.1f} s wall, {timed_gen.cpu / n:.1f} s server CPU per example; "
          f"{generator.usage.prompt_tokens / n:.0f} prompt + {generator.usage.completion_tokens / n:.0f} completion "
          f"tokens")
    now = seconds["judging"] / n_judged
    print(f"judging now:       {now:.1f} s wall per judged example ({n_judged} parsed examples; "
          f"{timed_judge.cpu / n_judged:.1f} s judge-server CPU; the LLM saw {llm_judged} of them)")
    before = reference_s / n_judged
    print(f"judging reference: {before:.1f} s wall per judged example (all rules by the LLM; "
          f"{reference.cpu / n_judged:.1f} s judge-server CPU)")
    print(f"reference / now: {before / max(now, 1e-9):.2f}x")
    print(json.dumps(quality_metrics(judged)))
    print(judged.group_by("task_name", "status", "verdict").len().sort("task_name", "status", "verdict"))
    with pl.Config(fmt_str_lengths=200, tbl_rows=50, tbl_width_chars=250):
        print(judged.select("task_name", "verdict", "sandbox_status", "instruction", "reasons", "error"))
        print("contrastive and differential rules off (before) and on (after), the same examples judged per task, "
              "uncached:")
        print(verification)


def verification_on_labelled(path: str) -> None:
    """The contrastive and differential rules' cost and effect on labelled rows: before/after per task, and per label
    the rows accepted, in one process against one uncached judge server."""
    labelled = load_labelled(path)
    rows = as_candidates(labelled)
    llm = LLMResource(cache_path=None)
    try:
        judge = llm.client("judge")
        judge.run([ChatRequest(key="warm-up", messages=[{"role": "user", "content": "Say ok."}], max_tokens=2)])
        table = before_and_after(rows, judge, labels={row["id"]: row["label"] for row in labelled})
    finally:
        llm.close()
    print(f"{len(rows)} labelled rows from {path} (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} "
          f"cores); contrastive and differential rules off (before) and on (after), uncached:")
    with pl.Config(tbl_width_chars=250, tbl_cols=-1):
        print(table)


def before_and_after(rows: list[dict], judge, labels: dict[str, str] | None = None) -> pl.DataFrame:
    """Per task: acceptance and judging seconds per example of `rows` with the contrastive and differential rules
    off (the judge's yes/no decides what no test decided), then on."""
    out = []
    for task in sorted({row["task_name"] for row in rows}):
        of_task = [row for row in rows if row["task_name"] == task]
        measured = {}
        for name, settings in (("before", DiscriminatorSettings(contrastive_candidates=0, differential=False)),
                               ("after", DiscriminatorSettings())):
            started = time.perf_counter()
            outcomes = discriminate(of_task, judge, settings)
            measured[f"s_per_example_{name}"] = round((time.perf_counter() - started) / len(of_task), 1)
            measured[f"accepted_{name}"] = sum(o.verdict == "accepted" for o in outcomes)
            if labels:  # of the rows labelled accepted, and of those labelled rejected
                for label in ("accepted", "rejected"):
                    measured[f"{label}_rows_accepted_{name}"] = sum(
                        o.verdict == "accepted" for o, row in zip(outcomes, of_task) if labels[row["id"]] == label)
        out.append({"task_name": task, "examples": len(of_task), **measured})
    return pl.DataFrame(out).with_columns(
        added_s_per_example=pl.col("s_per_example_after") - pl.col("s_per_example_before"))


if __name__ == "__main__":
    main()
