"""The four WaveCoder tasks: definitions, generation prompts, seeded task assignment, and the tolerant
parser with the paper's post-filters.

A generator prompt follows the paper: task definition, generation requirements, few-shot examples (good
ones, and bad ones with the analysis that rejected them), then the raw code. The answer is one JSON object
with the paper's four fields task_name, instruction, information, solution (plus `tests` for Python code
when asked).
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass

from wavecoder_assets.hashing import hex_id, stable_hash
from wavecoder_assets.languages import LANGUAGE_NAMES, LANGUAGES, parse, python_docstring

PROMPT_VERSION = "wavecoder-gen-v7"  # v7: the bad generation seed is named like the asked function
# The paper's CodeOcean mix (Table 1 of arXiv 2312.14187).
PAPER_TASK_MIX = {"code_generation": 0.57, "code_summarization": 0.16, "code_repair": 0.16, "code_translation": 0.11}


@dataclass(frozen=True)
class TaskSpec:
    name: str
    definition: str
    requirements: tuple[str, ...]  # task-specific, after the shared ones
    information_is_code: bool  # the information field carries code (so no sentence limit, and it must be there)
    solution_is_code: bool
    information_is_input: bool = False  # information is the given code: filled in here, not re-typed by the model
    from_summary: bool = False  # the model sees a summary of the code (its docstring), not the code
    # The model retypes the given code (repair: twice), so a Python docstring is left out of it: the 0.5B model
    # mangled long ones (unclosed quotes, prose lines in a Java translation). The docstring says nothing to fix.
    without_docstring: bool = False
    # The bug is put in by code (bugs.py), so the buggy input and the fix are given and the model writes the
    # instruction and the tests: asked to write both versions, the 0.5B model mostly returned the code unchanged as
    # both (5 of 6 Python repairs in one run).
    bug_given: bool = False
    solution_max_chars: int = 1200  # the token budget allows for this much solution


TASKS = {
    t.name: t
    for t in (
        TaskSpec(
            "code_generation",
            "Code generation: from the given task summary, write a programming task that asks for such a "
            "function, and its solution. The instruction describes what to write; the solution is complete "
            "{language} code that does it.",
            ("information holds optional constraints or input details in at most two sentences, or is empty.",),
            information_is_code=False,
            solution_is_code=True,
            from_summary=True,
        ),
        TaskSpec(
            "code_summarization",
            "Code summarization: write an instruction that asks to summarize what the given {language} code does; "
            "the information is the code; the solution is a short natural-language summary of it.",
            ("solution is plain text of at most three sentences, no code.",),
            information_is_code=True,
            solution_is_code=False,
            information_is_input=True,
            solution_max_chars=500,
        ),
        TaskSpec(
            "code_translation",
            "Code translation: write an instruction that asks to translate the given {language} code into "
            "{target_language}; the information is the code; the solution is the equivalent {target_language} code.",
            ("solution is {target_language} code only.",),
            information_is_code=True,
            solution_is_code=True,
            information_is_input=True,
            without_docstring=True,
        ),
        TaskSpec(
            "code_repair",
            "Code repair: the given buggy {language} code has one bug that the fixed code does not have; write an "
            "instruction that asks to find and fix the bug in the buggy code (the information is the buggy code, "
            "the solution the fixed code, both given).",
            ("instruction says what the code should do, not where the bug is.",
             "the tests pass for the fixed code and fail for the buggy code."),
            information_is_code=True,
            solution_is_code=True,
            without_docstring=True,
            bug_given=True,
        ),
    )
}

# From the paper's generator prompt (microsoft/WaveCoder, prompt/generator.txt), shared by every task.
SHARED_REQUIREMENTS = (
    "Answer with one JSON object with the keys {keys}.",
    "instruction is one or two sentences and names the programming language.",
    "solution is the specific resolution of instruction and information, relevant to both.",
    "code in solution imports the libraries it needs, like math or functools.",
    "code with algorithmic logic is clear, not buried inside complex or poorly documented functions.",
)
# For every task whose solution is code (the sandbox runs it with its tests, alone): most source functions are
# methods, and a solution that keeps `self`, fields or helpers from a class it does not show cannot run.
RUNNABLE_REQUIREMENT = ("code in solution runs on its own: standalone functions, no self or this, no fields or "
                        "helpers of a class that is not shown.")
# Field sizes the token budget allows for (the generator writes tests for every code solution; the sandbox runs
# them); an answer cut off by the budget anyway is asked again (loop.py).
FIELD_MAX_CHARS = {"task_name": 40, "instruction": 300, "information": 400, "tests": 500}


def solution_language(task_name: str, language: str, target_language: str | None) -> str | None:
    """The programming language of the solution, or None when the solution is text."""
    if not TASKS[task_name].solution_is_code:
        return None
    return target_language if task_name == "code_translation" else language


def wants_tests(task_name: str, language: str, target_language: str | None, ask_for_tests: bool) -> bool:
    return ask_for_tests and solution_language(task_name, language, target_language) is not None


def output_keys(task_name: str, with_tests: bool) -> list[str]:
    """The keys the model writes; an information that is the given code, and a given bug and its fix, are filled
    in by the parser."""
    spec = TASKS[task_name]
    keys = ["task_name", "instruction"] + ([] if spec.information_is_input or spec.bug_given else ["information"])
    return keys + ([] if spec.bug_given else ["solution"]) + (["tests"] if with_tests else [])


def output_schema(task_name: str, with_tests: bool) -> dict:
    """The answer's JSON schema: every key a string. (No maxLength: llama.cpp turns a long cap into a grammar
    nested that deep, which crashes its server; the token budget below covers the caps instead.)"""
    keys = output_keys(task_name, with_tests)
    return {"type": "object", "properties": {k: {"type": "string"} for k in keys}, "required": keys}


def max_tokens_for(task_name: str, with_tests: bool) -> int:
    """Enough tokens for every field at its size (FIELD_MAX_CHARS) at ~2.5 characters a token, plus JSON."""
    caps = FIELD_MAX_CHARS | {"solution": TASKS[task_name].solution_max_chars}
    return 40 + sum(caps[k] for k in output_keys(task_name, with_tests)) * 2 // 5


# ---------------------------------------------------------------- task assignment (seeded, deterministic)

def task_quotas(n: int, mix: dict[str, float]) -> dict[str, int]:
    """Largest-remainder split of n items by the mix proportions (they need not sum to 1)."""
    unknown = set(mix) - set(TASKS)
    if unknown or not mix or any(p < 0 for p in mix.values()) or sum(mix.values()) <= 0:
        raise ValueError(f"task mix must give non-negative weights to known tasks {sorted(TASKS)}; got {mix}")
    total = sum(mix.values())
    exact = {t: n * p / total for t, p in mix.items()}
    quotas = {t: int(x) for t, x in exact.items()}
    by_remainder = sorted(mix, key=lambda t: (-(exact[t] - quotas[t]), t))
    for t in by_remainder[: n - sum(quotas.values())]:
        quotas[t] += 1
    return quotas


def _needs_runnable_input(task_name: str) -> int:
    """0: the solution is run and made from the given code (repair, translation); 1: run, written from a summary
    (generation); 2: prose (summarization)."""
    spec = TASKS[task_name]
    return 2 if not spec.solution_is_code else 1 if spec.from_summary else 0


def assign_tasks(source_ids: list[str], mix: dict[str, float], seed: int,
                 testability: list[int] | None = None) -> list[str]:
    """One task per source: exact quotas by the mix, sources shuffled by a seeded hash of their id, so the
    assignment depends on the set of ids and the seed, not on row order. The most testable sources (`testability`:
    2 takes plain values, 1 runs alone, 0 neither) take the tasks whose solutions are run from the given code
    first, then code generation; summaries, which nothing runs, take the rest."""
    quotas = task_quotas(len(source_ids), mix)
    score = testability if testability is not None else [0] * len(source_ids)
    order = sorted(range(len(source_ids)), key=lambda i: (-score[i], stable_hash(seed, "task", source_ids[i]), i))
    # by need, and tasks of the same need interleaved in proportion to their quotas
    slots = sorted((_needs_runnable_input(t), k / quotas[t], t) for t in quotas for k in range(quotas[t]))
    tasks = [t for _, _, t in slots]
    assigned = [""] * len(source_ids)
    for i, task in zip(order, tasks):
        assigned[i] = task
    return assigned


def pick_target_language(source_id: str, language: str, seed: int, targets: tuple[str, ...] = LANGUAGES) -> str:
    others = [lang for lang in targets if lang != language]
    return others[stable_hash(seed, "target", source_id) % len(others)]


def example_id(source_id: str, task_name: str, prompt_version: str) -> str:
    return hex_id(source_id, task_name, prompt_version)


# ---------------------------------------------------------------- prompts

def _clip(code: str, max_chars: int) -> str:
    return code if len(code) <= max_chars else code[:max_chars] + "\n..."


def render_output(fields: dict) -> str:
    keys = output_keys(fields["task_name"], bool(fields.get("tests")))
    return json.dumps({k: fields.get(k) or "" for k in keys}, ensure_ascii=False)


_NOT_SIGNATURE = re.compile(r"\s*(?://|#|/\*|\*|@)")  # comments, Java annotations, Python decorators
_DOC_INLINE_TAG = re.compile(r"\{@(?:code|link|linkplain|literal|value)\s+([^}]*)\}")
_DOC_SECTION = re.compile(r"\s*(?:[@:]\w|(?:Args|Arguments|Returns?|Raises|Parameters|Example)s?\s*:?\s*$)")


def signature_line(code: str) -> str:
    """The function's first line that is not a comment, an annotation or a decorator."""
    return next((line.strip() for line in code.splitlines() if line.strip() and not _NOT_SIGNATURE.match(line)), "")


def summary_of(docstring: str | None) -> str | None:
    """A docstring as a task summary: its prose before the parameter sections (`@param`, `:param`, `Args:`),
    with Javadoc's inline tags reduced to their text and HTML tags dropped; None when no prose is left (a
    `{@inheritDoc}` says nothing of the task)."""
    text = _DOC_INLINE_TAG.sub(r"\1", (docstring or "").replace("{@inheritDoc}", ""))
    prose = []
    for line in re.sub(r"<[^>]+>", " ", text).splitlines():
        if _DOC_SECTION.match(line):
            break
        prose.append(line)
    return " ".join(" ".join(prose).split()) or None


def given_code(task_name: str, code: str, language: str) -> str:
    """The source code as the task gives it: for tasks that retype it, a Python function without its docstring
    (unchanged when the docstring is all there is, or shares a line with other code)."""
    if not TASKS[task_name].without_docstring or language != "python":
        return code
    root = parse(textwrap.dedent(code), "python").root_node
    top = [n.child_by_field_name("definition") if n.type == "decorated_definition" else n for n in root.named_children]
    fn = next((n for n in top if n.type == "function_definition"), None)
    doc = python_docstring(fn) if fn is not None and not root.has_error else None
    if doc is None:
        return code
    statements = [n for n in doc.parent.named_children if n.type != "comment"]
    first, last = doc.start_point.row, doc.end_point.row
    if len(statements) < 2 or first == fn.start_point.row or last >= statements[1].start_point.row:
        return code
    lines = code.splitlines()
    return "\n".join(lines[:first] + lines[last + 1:])


def task_input(task_name: str, code: str, summary: str | None, max_code_chars: int,
               given: dict | None = None) -> str:
    """What the generator is shown: the code, for code generation a summary of it (the paper: "translate a
    given task summary into functional code"), so the solution is written, not copied, and for code repair the
    buggy and the fixed code (`given`: information and solution), after the purpose its docstring states."""
    spec = TASKS[task_name]
    if spec.bug_given:
        # The code is shown without its docstring, so its purpose is given apart, for the instruction to state. (The
        # 0.5B generator copied a few-shot example's "..., which should return the mean of a list" into 6 of 9
        # repairs of one run without it, and into 5 of 9 with it.)
        purpose = f"Purpose (from its documentation): {summary.strip()[:300]}\n" if summary else ""
        return (f"{purpose}Buggy code:\n{_clip(given['information'], max_code_chars)}\n"
                f"Fixed code:\n{_clip(given['solution'], max_code_chars)}")
    if spec.from_summary and summary:
        return f"Task summary: {summary.strip()[:600]}\nFunction signature: {signature_line(code)}"
    return _clip(code, max_code_chars)


def render_few_shot(example: dict, max_code_chars: int = 600) -> str:
    """A store example as the paper shows it: Input, Output, and for rejected ones the Analysis."""
    shown = task_input(example["task_name"], example["code"], example.get("summary"), max_code_chars, given=example)
    text = f"Input:\n{shown}\nOutput:\n{render_output(example)}"
    if not example["accepted"]:
        text += f"\nAnalysis: {example['reasons']}"
    return text


def generator_messages(task_name: str, code: str, language: str, target_language: str | None, *,
                       good: list[dict], bad: list[dict], tests_instruction: str | None, max_code_chars: int = 1200,
                       summary: str | None = None, given: dict | None = None) -> list[dict]:
    """The paper's generator prompt: task definition, requirements (with how to write the tests, when wanted),
    good and bad few-shot examples, then the input (`given`: a repair's buggy code and fix)."""
    spec = TASKS[task_name]
    names = {"language": LANGUAGE_NAMES[language], "target_language": LANGUAGE_NAMES.get(target_language or "", "")}
    names["keys"] = ", ".join(output_keys(task_name, tests_instruction is not None))
    requirements = [r.format(**names) for r in SHARED_REQUIREMENTS + spec.requirements]
    if spec.solution_is_code:
        requirements.append(RUNNABLE_REQUIREMENT)
    if tests_instruction:
        requirements.append(tests_instruction)
    parts = [spec.definition.format(**names), f'task_name is "{task_name}".', "Requirements:"]
    parts += [f"{i}. {r}" for i, r in enumerate(requirements, 1)]
    if good:
        parts.append("Here are some good examples:\n" + "\n\n".join(render_few_shot(e) for e in good))
    if bad:
        parts.append("Here are some bad examples, each with an Analysis of why it is bad. Do not write data like "
                     "this:\n" + "\n\n".join(render_few_shot(e) for e in bad))
    parts.append(f"Input:\n{task_input(task_name, code, summary, max_code_chars, given)}\nOutput:")
    return [
        {"role": "system", "content": "You write instruction-tuning data for code models. Reply with JSON only."},
        {"role": "user", "content": "\n".join(parts)},
    ]


# ---------------------------------------------------------------- parsing and the paper's post-filters

_FENCED = re.compile(r"^\s*```[\w+#-]*\s*\n(.*?)\n\s*```\s*$", re.DOTALL)
# The released script's plain-text layout, accepted as a fallback.
_PLAIN = re.compile(r"task_name:\s*(.*?)\s*instruction:\s*(.*?)\s*(?:information:\s*(.*?)\s*)?solution:\s*(.*?)"
                    r"(?:\s*tests:\s*(.*?))?\s*\Z", re.DOTALL)
_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")  # the released script's sentence split
_NO_INPUT = {"", "none", "none.", "none,", "n/a", "<noinput>", "<noinput>.", "no additional information is required"}


def count_sentences(text: str) -> int:
    return len([s for s in _SENTENCE_END.split(text.strip()) if s.strip()])


def strip_fence(text: str) -> str:
    """A solution that is exactly one fenced block becomes its content; anything else is kept as written."""
    match = _FENCED.match(text)
    return match.group(1) if match else text


def extract_json_object(text: str) -> dict | None:
    """The first JSON object in text (in a code fence, after prose, ...), or None."""
    decoder = json.JSONDecoder(strict=False)  # small models put raw newlines inside strings
    for match in re.finditer(r"\{", text):
        try:
            obj, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(obj, dict):
            return without_lone_surrogates(obj)
    return None


_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")


def without_lone_surrogates(value):
    """`value` (a decoded JSON value) with each lone UTF-16 surrogate, which no UTF-8 table can store, replaced by
    U+FFFD, as a decoder marks bytes it cannot read: a model wrote the escape "\\udbd7" alone, and the whole shard's
    table failed to write. json already joins a valid surrogate pair into one character."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


# Languages whose tests are one standalone check per line, so the lines before a cut still make a test program.
LINE_TESTS = frozenset({"python", "javascript", "php", "ruby"})
_CUT_TESTS = re.compile(r'"tests"\s*:\s*"((?:[^"\\]|\\.)*)\\?\Z', re.DOTALL)


def close_cut_tests(text: str) -> str | None:
    """An answer cut off by the token limit inside its last field, `tests`, closed after the last complete test
    line (tests come last in every answer, so what precedes them is whole); None when the cut is elsewhere or no
    complete line is left."""
    match = _CUT_TESTS.search(text)
    if match is None:
        return None
    whole_lines = match.group(1).rpartition("\\n")[0]
    if not whole_lines.strip():
        return None
    return text[:match.start(1)] + whole_lines + '"}'


class Rejected(ValueError):
    """Generator output that is unparseable or fails a post-filter; the message says why."""


def _as_text(value: object) -> str:
    if isinstance(value, list):  # e.g. tests given as a list of asserts
        return "\n".join(map(str, value))
    return "" if value is None else str(value)


def parse_generation(text: str, task_name: str, code: str, given: dict | None = None) -> dict:
    """The four fields (+ tests) of one generator answer, after the paper's post-filters; raises Rejected.
    `given`: the information and solution of a task whose bug is given (repair)."""
    obj = extract_json_object(text)
    if obj is None:
        plain = _PLAIN.search(text)
        if plain is None:
            raise Rejected("no JSON object and no task_name/instruction/information/solution layout in the output")
        obj = dict(zip(["task_name", "instruction", "information", "solution", "tests"], plain.groups()))
    spec = TASKS[task_name]
    if spec.bug_given:
        obj |= {"information": given["information"], "solution": given["solution"]}
    missing = [k for k in ("instruction", "solution") if not _as_text(obj.get(k)).strip()]
    if missing:
        raise Rejected(f"missing or empty field(s): {', '.join(missing)}")
    instruction = _as_text(obj["instruction"]).strip()
    information = code if spec.information_is_input else _as_text(obj.get("information")).strip()
    solution = _as_text(obj["solution"]).strip()
    tests = _as_text(obj.get("tests")).strip().strip("`").strip() or None  # markdown left around the tests
    if information.lower() in _NO_INPUT:
        information = ""
    n = count_sentences(instruction)
    if not 1 <= n <= 2:
        raise Rejected(f"instruction has {n} sentences; the paper allows 1-2")
    if spec.information_is_code:
        information = strip_fence(information)
        if not information:
            raise Rejected(f"{task_name} needs the code in information; it is empty")
    elif count_sentences(information) > 2:
        raise Rejected(f"information has {count_sentences(information)} sentences; the paper allows at most 2")
    if spec.solution_is_code:
        solution = strip_fence(solution)
    if task_name == "code_translation" and _normalize(solution) == _normalize(code):
        raise Rejected("translation solution is a copy of the input code")
    return {"task_name": task_name, "instruction": instruction, "information": information, "solution": solution,
            "tests": strip_fence(tests) if tests else None}


def _normalize(code: str) -> str:
    return re.sub(r"\s+", "", code)
