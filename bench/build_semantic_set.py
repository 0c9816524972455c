"""Build the second labelled set, of semantic errors only: wavecoder_assets/benchmark_data/judge_semantic.jsonl.

Rows no code check can decide, built apart from the first set (bench/build_calibration_set.py: MBPP task ids
601-974 and HumanEvalPack) and in other words than it: MBPP task ids 11-600, functions that stand alone.
- code_summarization: a summary of the function ("It takes <its parameters> and is meant to <its task>."), or
  the same words with another problem's task: a summary that describes another function's behaviour.
- code_generation without tests (so only the judge can decide): the problem's own solution, or another problem's
  solution with the same number of parameters, renamed to the asked function.
No summary names a function, so names_agree has nothing to read; every solution parses and keeps the asked name.

    python bench/build_semantic_set.py            # rewrites the file, byte for byte the same each time
"""

from __future__ import annotations

import ast
import json
import random
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MBPP = ROOT / "wavecoder_assets" / "benchmark_data" / "mbpp" / "mbpp.jsonl"
OUT = ROOT / "wavecoder_assets" / "benchmark_data" / "judge_semantic.jsonl"
SUMMARIES, GENERATIONS = 12, 8  # pairs of each (a correct row and a wrong one)
TASK = re.compile(r"^Write an? (?:python )?function (?:to|that) (.+?)\.?$", re.IGNORECASE)


def standalone(problem: dict) -> tuple[str, list[str]] | None:
    """(name, parameters) when the solution is one function and nothing else, with a task in the usual words."""
    code = problem["code"].replace("\r\n", "\n").replace("\t", "    ")
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    others = [n for n in tree.body if not isinstance(n, (ast.FunctionDef, ast.Import, ast.ImportFrom))]
    if len(defs) != 1 or others or not TASK.match(problem["text"].strip()) or not 80 <= len(code) <= 600:
        return None
    return defs[0].name, [a.arg for a in defs[0].args.args]


def main() -> None:
    problems = [json.loads(line) for line in MBPP.read_text().splitlines() if line.strip()]
    pool = []
    for p in problems:
        if 11 <= p["task_id"] <= 600 and (shape := standalone(p)):
            code = p["code"].replace("\r\n", "\n").replace("\t", "    ").strip() + "\n"
            task = TASK.match(p["text"].strip()).group(1)
            pool.append({"id": p["task_id"], "name": shape[0], "params": shape[1], "code": code, "task": task})
    random.Random(2024).shuffle(pool)
    rows = []

    def other_for(item: dict, used: set[int]) -> dict:
        """Another problem with as many parameters and another task."""
        return next(o for o in pool if o["id"] not in used and o["id"] != item["id"]
                    and len(o["params"]) == len(item["params"]) and o["task"] != item["task"])

    used: set[int] = set()
    for item in pool[:SUMMARIES]:
        used.add(item["id"])
        other = other_for(item, used)
        takes = ", ".join(item["params"]) or "nothing"
        base = {"task_name": "code_summarization", "language": "python", "target_language": None,
                "code": item["code"], "information": item["code"], "tests": None,
                "instruction": "Summarize in plain English what the following Python function does."}
        rows.append(base | {"id": f"sem-sum-ok-mbpp{item['id']}", "label": "accepted", "broken_rule": None,
                            "solution": f"It takes {takes} and is meant to {item['task']}.",
                            "note": f"Correct. From MBPP task {item['id']} (CC-BY-4.0)."})
        rows.append(base | {"id": f"sem-sum-other-mbpp{item['id']}+mbpp{other['id']}", "label": "rejected",
                            "broken_rule": "solution_resolves",
                            "solution": f"It takes {takes} and is meant to {other['task']}.",
                            "note": f"The summary describes another function's behaviour (mbpp{other['id']}). From "
                                    f"MBPP tasks {item['id']} and {other['id']} (CC-BY-4.0)."})
    for item in [p for p in pool if p["id"] not in used][:GENERATIONS]:
        used.add(item["id"])
        other = other_for(item, used)
        signature = f"{item['name']}({', '.join(item['params'])})"
        renamed = re.sub(rf"\bdef\s+{re.escape(other['name'])}\s*\(", f"def {item['name']}(", other["code"], count=1)
        renamed = re.sub(rf"\b{re.escape(other['name'])}\s*\(", f"{item['name']}(", renamed)  # recursion too
        base = {"task_name": "code_generation", "language": "python", "target_language": None,
                "code": item["code"], "information": "", "tests": None,
                "instruction": f"Write a Python function `{signature}` that is meant to {item['task']}."}
        rows.append(base | {"id": f"sem-gen-ok-mbpp{item['id']}", "label": "accepted", "broken_rule": None,
                            "solution": item["code"],
                            "note": f"Correct: the reference solution. From MBPP task {item['id']} (CC-BY-4.0)."})
        rows.append(base | {"id": f"sem-gen-other-mbpp{item['id']}+mbpp{other['id']}", "label": "rejected",
                            "broken_rule": "solution_resolves", "solution": renamed,
                            "note": f"Another problem's solution (mbpp{other['id']}) renamed to the asked "
                                    f"function. From MBPP tasks {item['id']} and {other['id']} (CC-BY-4.0)."})
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    print(f"{len(rows)} rows -> {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
