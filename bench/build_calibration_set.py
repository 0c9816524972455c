"""Build the discriminator's labelled calibration set, `wavecoder_assets/benchmark_data/judge_calibration.jsonl`,
from the shipped MBPP and HumanEvalPack copies. Deterministic: the same inputs give the same bytes.

    python bench/build_calibration_set.py [--out PATH]

Each row is one candidate example as the generator would write it (task_name, language, target_language,
code = the raw input, instruction, information, solution, tests) with a label: "accepted" rows are correct for
every rule of the discriminator; each "rejected" row breaks exactly one rule, named in `broken_rule`. Rows cover
the four WaveCoder tasks in Python, JavaScript and Java:

- code_generation: instruction from the problem text, solution = the reference solution, tests = the benchmark's
  asserts / test code;
- code_summarization: code = the reference solution, solution = the problem statement reworded as a summary;
- code_repair: information = HumanEvalFix's hand-written buggy solution, solution = the canonical one;
- code_translation: one language's canonical solution -> another's, with the target language's tests.

The rejected rows break one rule each, the same kinds spread over tasks and languages: no language named in the
instruction (names_language); prose around the code (solution_is_code); another problem's solution or summary
(solution_resolves); an instruction about another problem than the input (instruction_relevant); an input that
is only comments (input_is_code); a repair that changes nothing (repair_changes_code); a "bug" the tests do not
see (repair_fixes_bug); a translation in the wrong language (translation_changes_language); a summary that is
code (summary_is_prose); a missing import (imports_what_it_uses); a solution whose tests fail: an off-by-one or
HumanEvalFix's bug (tests_pass). A row that would break a second rule through its tests (prose around the code, a
missing import, an unchanged repair, a wrong-language translation) carries no tests (null), so that it breaks
only its own rule. Two overlaps remain, inherent or close to it: a translation in the wrong language is no code
in the target language either (solution_is_code), and a translation wrapped in prose does not parse as the
target language as a whole (translation_changes_language, as generate/checks.py reads it).

Tests run standalone, appended to the solution: Python asserts; JavaScript with `const assert = require('assert')`
(HumanEvalPack's `console.assert` only prints, so it is replaced by `assert`); Java as HumanEvalPack's
`public class Main { public static void main(String[] args) {...} }` after the solution's `class Solution`
(compile as Main.java).

Provenance (each row's `id` and `note` name the task ids it was built from):
- MBPP (Austin et al. 2021, github.com/google-research/google-research mbpp/mbpp.jsonl), licence CC-BY-4.0.
  Only training-split problems (task_ids 601-974), apart from the test split 11-510 that evaluation uses.
- HumanEvalPack (Muennighoff et al. 2023, OctoPack, github.com/bigcode-project/octopack; the Hugging Face dataset
  bigcode/humanevalpack), licence MIT: the python, js and java files. These are HumanEval's problems, which
  evaluation also uses; the set only calibrates the judge and never trains a model.
The derived file is distributed under the same terms: CC-BY-4.0 for the MBPP-derived rows (attribution above)
and MIT for the HumanEvalPack-derived rows.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from dataclasses import dataclass
from pathlib import Path

from wavecoder_assets.benchmark_data import CALIBRATION_SET, HUMANEVALPACK_DIR, MBPP_DIR

OUT = CALIBRATION_SET
NAMES = {"python": "Python", "javascript": "JavaScript", "java": "Java"}
PACK_DIRS = {"python": "python", "javascript": "js", "java": "java"}
FENCES = {"python": "python", "javascript": "javascript", "java": "java"}
COMMENT = {"python": "#", "javascript": "//", "java": "//"}

# MBPP training problems with clean, correct reference solutions (one function, empty test_setup_code).
MBPP_PLAIN = [604, 611, 614, 615, 618, 619, 621, 623, 632, 644, 646, 651, 654, 656, 658, 659, 662, 666, 672,
              634, 655]
MBPP_IMPORTS = [606, 647, 653, 635, 668, 674]  # solutions that import a module: for imports_what_it_uses
# Off-by-one variants (tests_pass): an exact replacement in the reference solution that its asserts catch.
MBPP_OFF_BY_ONE = {634: ("range(1,n + 1)", "range(1,n)"), 655: ("range(1,n+1)", "range(1,n)")}
# HumanEvalPack problems (same index in every language) with short, self-contained descriptions, whose
# HumanEvalFix bug gives a wrong output (no infinite loop) in python, js and java alike.
PACK = [0, 5, 7, 9, 13, 14, 15, 16, 18, 23, 24, 26, 27, 28, 29, 30, 31, 34, 35, 36, 42, 45, 47, 48, 52, 53, 54, 55,
        57, 58, 59, 60, 61, 82, 83, 84, 98, 114, 121, 131, 157, 163]
PACK_TYPING = [0, 5, 7, 9, 14, 26, 28, 29]  # Python declarations that import from typing

# A summary or repair comes with its code, so its instruction may leave the language out; naming another is wrong.
WRONG_LANGUAGE = {"python": "JavaScript", "javascript": "Python", "java": "Python"}
WRONG_LANGUAGE_NOTE = "The instruction names {named} for {language} code."
PROSE_NOTE = ("Prose around the code in the solution (tests left out: the solution as written does not run, so they "
              "would fail too).")
_EXAMPLE_LINE = re.compile(r"^\s*(>>>|for example|examples?\b|note\b|e\.g\.)|==>|=>|==", re.IGNORECASE)
_VERBS = {"Check", "Return", "Filter", "Insert", "Concatenate", "Add", "Find"}


# ---------------------------------------------------------------- reading the benchmarks

def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _tidy(code: str) -> str:
    """Unix line ends, no trailing spaces, one final newline."""
    return "\n".join(line.rstrip() for line in code.replace("\r\n", "\n").split("\n")).strip("\n") + "\n"


def _third_person(verb: str) -> str:
    verb = verb.lower()
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def without_imports(code: str) -> str:
    """The code less its import lines: a solution that uses a module it no longer imports."""
    kept = [line for line in code.split("\n") if not re.match(r"(import|from)\s", line)]
    return "\n".join(kept).lstrip("\n")


def _sentences(text: str) -> list[str]:
    parts = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]
    return [p if p[-1] in ".!?" else p + "." for p in parts]


def _split_params(inside: str) -> list[str]:
    """Top-level comma-separated parts of a parameter list (commas inside <>, [] or () do not split)."""
    parts, depth, current = [], 0, ""
    for char in inside:
        depth += (char in "<[(") - (char in ">])")
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [p.strip() for p in parts + [current] if p.strip()]


def _param_names(signature: str, language: str) -> list[str]:
    inside = signature[signature.index("(") + 1: signature.rindex(")")]
    names = []
    for part in _split_params(inside):
        if language == "python":
            names.append(part.split(":")[0].split("=")[0].strip())
        elif language == "javascript":
            names.append(part.split("=")[0].strip())
        else:
            names.append(part.split()[-1])
    return names


def _and(items: list[str]) -> str:
    quoted = [f"`{i}`" for i in items]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


@dataclass(frozen=True)
class Problem:
    """One benchmark problem in one language, in the pieces the rows are made of."""

    source: str  # "mbpp604", "Python/0", "JavaScript/0", "Java/0"
    language: str
    name: str  # the function's (entry point's) name
    signature: str
    params: list[str]
    description: str  # the problem statement without its examples
    raw: str  # the raw input: the reference code (HumanEvalPack: with its docstring)
    solution: str  # the reference code without docstring (MBPP: the same as raw)
    tests: str  # standalone tests, run appended to the solution
    buggy: str | None = None  # HumanEvalFix's buggy solution, without docstring
    buggy_raw: str | None = None  # ... with the docstring
    bug_type: str | None = None
    example: str | None = None  # MBPP: the first assert's expression

    @property
    def lang_name(self) -> str:
        return NAMES[self.language]

    def summary(self) -> str:
        """The problem statement reworded as a two-sentence summary of the code."""
        takes = f" It takes {_and(self.params)} as input." if self.params else ""
        if self.source.startswith("mbpp"):
            first, rest = self.description.split(" ", 1)
            return f"The {self.lang_name} function `{self.name}` {_third_person(first)} {rest}{takes}"
        first_sentence = _sentences(self.description)[0]
        word, _, rest = first_sentence.partition(" ")
        if word in _VERBS:
            return f"The {self.lang_name} function `{self.name}` {_third_person(word)} {rest}{takes}"
        return f"The {self.lang_name} function `{self.name}` implements this specification: {first_sentence}{takes}"

    def comments_only(self) -> str:
        """The problem as a comment block with no code: a raw input that is not code."""
        lines = [f"{self.name}({', '.join(self.params)})", *_wrap(self.description), "TODO: implement"]
        if self.language == "java":
            return "/*\n" + "".join(f" * {line}\n" for line in lines) + " */\n"
        return "".join(f"{COMMENT[self.language]} {line}\n" for line in lines)

    def generation_instruction(self, *, name_language: bool = True) -> tuple[str, str]:
        """(instruction, information) asking for this problem's solution."""
        lang = f"{self.lang_name} " if name_language else ""
        if self.source.startswith("mbpp"):
            return (f"Write a {lang}function `{self.name}({', '.join(self.params)})` to {self.description}",
                    f"For example, `{self.example}` should hold.")
        first, *rest = _sentences(self.description)
        if self.language == "java":
            ask = f"Write a {lang}class `Solution` with a method `{self.signature}` that solves this task: {first}"
        else:
            shown = self.signature if self.language == "python" else f"{self.name}({', '.join(self.params)})"
            ask = f"Write a {lang}function `{shown}` that solves this task: {first}"
        return ask, " ".join(rest[:2])


def _wrap(text: str, width: int = 72) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line] if line else lines


def mbpp_problems() -> dict[int, Problem]:
    rows = {r["task_id"]: r for r in _jsonl(MBPP_DIR / "mbpp.jsonl")}
    problems = {}
    for task_id in MBPP_PLAIN + MBPP_IMPORTS:
        r = rows[task_id]
        match = re.match(r"^Write a (?:python )?function to (.+)$", r["text"].strip())
        code = _tidy(r["code"])
        function = next(n for n in ast.parse(code).body if isinstance(n, ast.FunctionDef))
        params = [a.arg for a in function.args.args]
        description = match.group(1).strip()
        description = description if description[-1] in ".!?" else description + "."
        problems[task_id] = Problem(
            source=f"mbpp{task_id}", language="python", name=function.name,
            signature=f"{function.name}({', '.join(params)})", params=params, description=description, raw=code,
            solution=code, tests="\n".join(t.strip() for t in r["test_list"]) + "\n",
            example=r["test_list"][0].strip().removeprefix("assert").strip())
    return problems


def _docstring_description(docstring: str) -> str:
    kept = []
    for line in docstring.splitlines():
        if _EXAMPLE_LINE.search(line):
            break
        kept.append(line.strip())
    return re.sub(r"\s+", " ", " ".join(kept)).strip()


def _standalone_tests(test: str, language: str) -> str:
    test = test.strip("\n") + "\n"
    if language == "javascript":
        return "const assert = require('assert')\n" + test.replace("console.assert(", "assert(")
    return test


def pack_problems() -> dict[tuple[str, int], Problem]:
    problems = {}
    for language, folder in PACK_DIRS.items():
        rows = _jsonl(HUMANEVALPACK_DIR / folder / "humanevalpack.jsonl")
        for index in PACK:
            r = rows[index]
            declaration = r["declaration"].lstrip("\n")
            signature = r["signature"].strip()
            problems[language, index] = Problem(
                source=f"{r['task_id']}", language=language, name=r["entry_point"], signature=signature,
                params=_param_names(signature, language), description=_docstring_description(r["docstring"]),
                raw=_tidy(r["prompt"].lstrip("\n") + r["canonical_solution"]),
                solution=_tidy(declaration + r["canonical_solution"]),
                tests=_standalone_tests(r["test"], language),
                buggy=_tidy(declaration + r["buggy_solution"]),
                buggy_raw=_tidy(r["prompt"].lstrip("\n") + r["buggy_solution"]), bug_type=r["bug_type"])
    return problems


# ---------------------------------------------------------------- row makers

class Builder:
    def __init__(self):
        self.mbpp = mbpp_problems()
        self.pack = pack_problems()
        self.rows: list[dict] = []
        self._next = {lang: 0 for lang in NAMES}

    # Problems are dealt round-robin per language, so consecutive rows use different problems.
    def deal(self, language: str, *, typing_only: bool = False, max_lines: int | None = None) -> Problem:
        """The next problem in `language`; max_lines: the next whose raw code has at most that many lines (a
        comment-only input leaves not_needlessly_complex only its 30-line floor)."""
        pool = PACK_TYPING if typing_only else PACK
        while True:
            index = pool[self._next[language] % len(pool)]
            self._next[language] += 1
            problem = self.pack[language, index]
            if max_lines is None or len([x for x in problem.raw.split("\n") if x.strip()]) <= max_lines:
                return problem

    def other(self, problem: Problem, language: str | None = None, step: int = 7) -> Problem:
        """A different problem (for unrelated solutions), in `language` (default: the problem's)."""
        language = language or problem.language
        if problem.source.startswith("mbpp"):
            ids = MBPP_PLAIN
            task_id = int(problem.source[4:])
            return self.mbpp[ids[(ids.index(task_id) + step) % len(ids)]]
        index = int(problem.source.split("/")[1])
        return self.pack[language, PACK[(PACK.index(index) + step) % len(PACK)]]

    def add(self, kind: str, *, task_name: str, language: str, code: str, instruction: str, solution: str,
            information: str = "", target_language: str | None = None, tests: str | None = None,
            broken_rule: str | None = None, sources: list[Problem], note: str) -> None:
        short = {"code_generation": "gen", "code_summarization": "sum", "code_repair": "fix",
                 "code_translation": "tra"}[task_name]
        langs = language + (f"-{target_language}" if target_language else "")
        provenance = "+".join(dict.fromkeys(p.source.replace("/", "") for p in sources))
        self.rows.append({
            "id": f"cal{len(self.rows) + 1:03d}-{short}-{langs}-{kind}-{provenance}",
            "task_name": task_name, "language": language, "target_language": target_language, "code": code,
            "instruction": instruction, "information": information, "solution": solution, "tests": tests,
            "label": "rejected" if broken_rule else "accepted", "broken_rule": broken_rule,
            "note": f"{note} From {', '.join(dict.fromkeys(_cite(p) for p in sources))}.",
        })

    # -- code_generation
    def generation(self, p: Problem, kind: str = "ok", *, other: Problem | None = None) -> None:
        instruction, information = p.generation_instruction()
        fields = dict(task_name="code_generation", language=p.language, code=p.raw, instruction=instruction,
                      information=information, solution=p.solution, tests=p.tests, sources=[p])
        if kind == "ok":
            return self.add(kind, **fields, note="Correct: the reference solution and the benchmark's tests.")
        if kind == "nolang":
            fields["instruction"], _ = p.generation_instruction(name_language=False)
            return self.add(kind, **fields, broken_rule="names_language",
                            note="The instruction does not name the programming language.")
        if kind == "prose":
            fields.update(solution=f"Here is the solution:\n```{FENCES[p.language]}\n{p.solution}```\nThis works "
                                   "because it follows the task step by step and returns the expected result.\n",
                          tests=None)
            return self.add(kind, **fields, broken_rule="solution_is_code", note=PROSE_NOTE)
        if kind == "unrelated":
            fields.update(solution=other.solution, tests=other.tests, sources=[p, other])
            return self.add(kind, **fields, broken_rule="solution_resolves",
                            note=f"The solution (and its tests) solve another problem ({other.source}), not the "
                                 "instruction.")
        if kind == "offtopic":  # the instruction is about another problem than the raw input
            fields.update(code=other.raw, sources=[p, other])
            return self.add(kind, **fields, broken_rule="instruction_relevant",
                            note=f"Instruction, solution and tests are about {p.source}; the raw input is "
                                 f"{other.source}'s code.")
        if kind == "comments":
            fields["code"] = p.comments_only()
            return self.add(kind, **fields, broken_rule="input_is_code",
                            note="The raw input is only comments, no code.")
        if kind == "noimport":
            fields.update(solution=without_imports(p.solution), tests=None)
            return self.add(kind, **fields, broken_rule="imports_what_it_uses",
                            note="The solution uses a module it does not import (tests left out: they would fail "
                                 "for the same reason).")
        if kind == "offbyone":
            old, new = MBPP_OFF_BY_ONE[int(p.source[4:])]
            assert old in p.solution, (p.source, old)
            fields["solution"] = p.solution.replace(old, new)
            return self.add(kind, **fields, broken_rule="tests_pass",
                            note=f"Off-by-one: `{old}` became `{new}`; the benchmark's tests fail.")
        if kind == "buggy":
            fields["solution"] = p.buggy
            return self.add(kind, **fields, broken_rule="tests_pass",
                            note=f"The solution is HumanEvalFix's buggy one ({p.bug_type}); the tests fail.")
        raise ValueError(kind)

    # -- code_summarization
    def summarization(self, p: Problem, kind: str = "ok", *, other: Problem | None = None) -> None:
        lang = WRONG_LANGUAGE[p.language] if kind == "wronglang" else p.lang_name
        instruction = f"Summarize in plain English what the following {lang} function `{p.name}` does."
        fields = dict(task_name="code_summarization", language=p.language, code=p.solution, instruction=instruction,
                      information=p.solution, solution=p.summary(), tests=None, sources=[p])
        if kind == "ok":
            return self.add(kind, **fields, note="Correct: the problem statement reworded as a summary of the code.")
        if kind == "wronglang":
            return self.add(kind, **fields, broken_rule="names_language", note=WRONG_LANGUAGE_NOTE.format(
                named=WRONG_LANGUAGE[p.language], language=p.lang_name))
        if kind == "unrelated":
            fields.update(solution=other.summary(), sources=[p, other])
            return self.add(kind, **fields, broken_rule="solution_resolves",
                            note=f"The summary describes other code ({other.source}).")
        if kind == "comments":
            fields.update(code=p.comments_only(), information=p.comments_only())
            return self.add(kind, **fields, broken_rule="input_is_code",
                            note="The raw input is only comments, no code.")
        if kind in ("code", "fenced"):
            fields["solution"] = p.solution if kind == "code" else f"```{FENCES[p.language]}\n{p.solution}```\n"
            return self.add(kind, **fields, broken_rule="summary_is_prose",
                            note="The summary is the code itself, not natural language.")
        raise ValueError(kind)

    # -- code_repair
    def repair(self, p: Problem, kind: str = "ok", *, other: Problem | None = None) -> None:
        lang = WRONG_LANGUAGE[p.language] if kind == "wronglang" else p.lang_name
        instruction = f"Find and fix the bug in the following {lang} function `{p.name}`."
        mark = COMMENT[p.language]
        fixed = f"{mark} Fixed the {p.bug_type} bug in {p.name}.\n{p.raw}"
        fields = dict(task_name="code_repair", language=p.language, code=p.raw, instruction=instruction,
                      information=p.buggy_raw, solution=fixed, tests=p.tests, sources=[p])
        if kind == "ok":
            return self.add(kind, **fields, note=f"Correct: HumanEvalFix's bug ({p.bug_type}) and the canonical "
                                                 "fix; the tests fail on the buggy code and pass on the fix.")
        if kind == "wronglang":
            return self.add(kind, **fields, broken_rule="names_language", note=WRONG_LANGUAGE_NOTE.format(
                named=WRONG_LANGUAGE[p.language], language=p.lang_name))
        if kind == "prose":
            fields.update(solution=f"The bug is fixed below.\n```{FENCES[p.language]}\n{p.raw}```\nThe original "
                                   f"code had a {p.bug_type} bug, which this version corrects.\n", tests=None)
            return self.add(kind, **fields, broken_rule="solution_is_code", note=PROSE_NOTE)
        if kind == "unrelated":
            fields.update(solution=f"{mark} Fixed the bug.\n{other.raw}", tests=other.tests, sources=[p, other])
            return self.add(kind, **fields, broken_rule="solution_resolves",
                            note=f"The 'fix' is another problem's code ({other.source}), with its tests.")
        if kind == "comments":
            fields["code"] = p.comments_only()
            return self.add(kind, **fields, broken_rule="input_is_code",
                            note="The raw input is only comments, no code.")
        if kind in ("unchanged", "same"):
            fields.update(solution=f"{mark} Fixed the bug.\n{p.buggy_raw}" if kind == "unchanged" else p.buggy_raw,
                          tests=None)
            return self.add(kind, **fields, broken_rule="repair_changes_code",
                            note="The 'fix' is the buggy code again (tests left out: they would fail too).")
        if kind == "nobug":
            fields.update(information=_with_noop(p), solution=f"{mark} Fixed the bug.\n{p.raw}")
            return self.add(kind, **fields, broken_rule="repair_fixes_bug",
                            note="The 'buggy' code only has a no-op statement added: the tests pass on it too, so "
                                 "there is no bug that the repair fixes.")
        if kind == "noimport":
            kept = [line for line in fixed.split("\n") if not re.match(r"(import|from)\s", line)]
            fields.update(solution="\n".join(kept), tests=None)
            return self.add(kind, **fields, broken_rule="imports_what_it_uses",
                            note="The fix drops the import its annotations need (tests left out: they would fail "
                                 "for the same reason).")
        raise ValueError(kind)

    # -- code_translation
    def translation(self, p: Problem, target: str, kind: str = "ok", *, other: Problem | None = None) -> None:
        t = self.pack[target, int(p.source.split("/")[1])]
        if target == "java":
            instruction = (f"Translate the following {p.lang_name} function into Java, as a method of a class "
                           "named `Solution`.")
        else:
            instruction = f"Translate the following {p.lang_name} function into {t.lang_name}, naming it `{t.name}`."
        fields = dict(task_name="code_translation", language=p.language, target_language=target, code=p.solution,
                      instruction=instruction, information=p.solution, solution=t.solution, tests=t.tests,
                      sources=[p, t])
        if kind == "ok":
            return self.add(kind, **fields, note="Correct: the canonical solution in the target language, with its "
                                                 "tests.")
        if kind == "prose":
            fields.update(solution=f"Here is the {t.lang_name} version:\n```{FENCES[target]}\n{t.solution}```\n"
                                   f"It behaves exactly like the original {p.lang_name} function.\n", tests=None)
            return self.add(kind, **fields, broken_rule="solution_is_code", note=PROSE_NOTE)
        if kind == "unrelated":
            u = self.other(t)
            fields.update(solution=u.solution, tests=u.tests, sources=[p, t, u])
            return self.add(kind, **fields, broken_rule="solution_resolves",
                            note=f"The solution translates another problem ({u.source}), with its tests.")
        if kind == "wronglang":
            fields.update(solution=other.solution, tests=None, sources=[p, other])
            what = "a copy of the source" if other.language == p.language else f"in {other.lang_name}"
            return self.add(kind, **fields, broken_rule="translation_changes_language",
                            note=f"The solution is not {t.lang_name}: it is {what} (tests left out: the target "
                                 "language's tests cannot run it).")
        if kind == "buggy":
            fields["solution"] = t.buggy
            return self.add(kind, **fields, broken_rule="tests_pass",
                            note=f"The translation carries HumanEvalFix's bug ({t.bug_type}); the tests fail.")
        if kind == "noimport":
            fields.update(solution=without_imports(t.solution), tests=None)
            return self.add(kind, **fields, broken_rule="imports_what_it_uses",
                            note="The translation drops the import its annotations need (tests left out: they "
                                 "would fail for the same reason).")
        raise ValueError(kind)


def _with_noop(p: Problem) -> str:
    """The canonical code with a no-op statement (`pass`, `;`) as the first line of the function body."""
    lines = p.raw.split("\n")
    if p.language == "python":
        function = [n for n in ast.parse(p.raw).body if isinstance(n, ast.FunctionDef)][-1]
        first = function.body[0]
        docstring = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
        at = first.end_lineno if docstring else first.lineno - 1  # 0-based index of the line to insert before
        indent = re.match(r"\s*", lines[first.lineno - 1]).group(0)
        return "\n".join(lines[:at] + [f"{indent}pass"] + lines[at:])
    opener = min(i for i, line in enumerate(lines) if line.rstrip().endswith("{") and "class " not in line)
    indent = re.match(r"\s*", lines[opener + 1]).group(0)
    return "\n".join(lines[:opener + 1] + [f"{indent};"] + lines[opener + 1:])


def _cite(p: Problem) -> str:
    if p.source.startswith("mbpp"):
        return f"MBPP task {p.source[4:]} (CC-BY-4.0)"
    return f"HumanEvalPack {p.source} (MIT)"


# ---------------------------------------------------------------- the set

def build() -> list[dict]:
    b = Builder()
    mbpp = [b.mbpp[i] for i in MBPP_PLAIN]
    py, js, java = "python", "javascript", "java"

    # code_generation: MBPP (Python), HumanEvalPack (Python, JavaScript, Java)
    for p in mbpp[:14]:
        b.generation(p)
    for language, n in ((py, 6), (js, 8), (java, 8)):
        for _ in range(n):
            b.generation(b.deal(language))
    b.generation(mbpp[14], "nolang")
    b.generation(b.deal(py), "nolang")
    b.generation(b.deal(js), "nolang")
    b.generation(b.deal(java), "nolang")
    for language in (py, js, java):
        b.generation(b.deal(language), "prose")
    b.generation(mbpp[15], "unrelated", other=b.other(mbpp[15]))
    for language in (py, js, java, java):
        p = b.deal(language)
        b.generation(p, "unrelated", other=b.other(p))
    b.generation(mbpp[16], "offtopic", other=b.other(mbpp[16], step=3))
    b.generation(mbpp[17], "offtopic", other=b.other(mbpp[17], step=5))
    for language in (py, js, js, java, java):
        p = b.deal(language)
        b.generation(p, "offtopic", other=b.other(p, step=11))
    b.generation(mbpp[18], "comments")
    for language in (py, js, java):
        b.generation(b.deal(language), "comments")
    for task_id in MBPP_IMPORTS[:4]:
        b.generation(b.mbpp[task_id], "noimport")
    for task_id in MBPP_OFF_BY_ONE:
        b.generation(b.mbpp[task_id], "offbyone")
    for language in (py, js, js, java, java):
        b.generation(b.deal(language), "buggy")

    # code_summarization
    for p in (b.mbpp[i] for i in (604, 611, 623, 632, 666)):
        b.summarization(p)
    for language, n in ((py, 4), (js, 5), (java, 5)):
        for _ in range(n):
            b.summarization(b.deal(language))
    b.summarization(b.mbpp[654], "wronglang")
    b.summarization(b.deal(java), "wronglang")
    b.summarization(b.mbpp[672], "unrelated", other=b.mbpp[614])
    for language in (py, js, java):
        p = b.deal(language)
        b.summarization(p, "unrelated", other=b.other(p))
    b.summarization(b.mbpp[621], "comments")
    b.summarization(b.deal(js), "comments")
    b.summarization(b.deal(java), "comments")
    b.summarization(b.mbpp[615], "code")
    b.summarization(b.deal(py), "fenced")
    b.summarization(b.deal(js), "code")
    b.summarization(b.deal(js), "fenced")
    b.summarization(b.deal(java), "code")
    b.summarization(b.deal(java), "fenced")

    # code_repair (HumanEvalFix)
    for language, n in ((py, 6), (js, 5), (java, 5)):
        for _ in range(n):
            b.repair(b.deal(language))
    for language in (py, js, java):
        b.repair(b.deal(language), "wronglang")
    for language in (py, js, java):
        b.repair(b.deal(language), "prose")
    for language in (py, js):
        p = b.deal(language)
        b.repair(p, "unrelated", other=b.other(p))
    for language in (py, js, java):
        b.repair(b.deal(language, max_lines=25), "comments")
    for language, kind in ((py, "unchanged"), (py, "same"), (js, "unchanged"), (js, "same"), (java, "unchanged"),
                           (java, "same")):
        b.repair(b.deal(language), kind)
    for language in (py, py, js, java):
        b.repair(b.deal(language), "nobug")
    b.repair(b.deal(py, typing_only=True), "noimport")

    # code_translation
    for source, target, n in ((py, js, 3), (py, java, 3), (js, py, 3), (java, py, 3), (js, java, 2), (java, js, 2)):
        for _ in range(n):
            b.translation(b.deal(source), target)
    for source, target in ((py, js), (js, py), (py, java)):
        b.translation(b.deal(source), target, "prose")
    for source, target in ((py, js), (java, py)):
        b.translation(b.deal(source), target, "unrelated")
    for source, target, wrong in ((py, js, py), (java, py, java), (js, java, js), (py, java, js), (js, py, java),
                                  (java, js, py)):
        p = b.deal(source)
        b.translation(p, target, "wronglang", other=b.pack[wrong, int(p.source.split("/")[1])])
    for source, target in ((py, js), (js, py), (py, java)):
        b.translation(b.deal(source), target, "buggy")
    b.translation(b.deal(js, typing_only=True), py, "noimport")
    b.translation(b.deal(java, typing_only=True), py, "noimport")
    return b.rows


def write(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the set (default: {OUT})")
    args = parser.parse_args()
    rows = build()
    write(rows, args.out)
    accepted = sum(r["label"] == "accepted" for r in rows)
    print(f"{args.out}: {len(rows)} rows, {accepted} accepted, {len(rows) - accepted} rejected")


if __name__ == "__main__":
    main()
