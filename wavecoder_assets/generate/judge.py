"""The discriminator: the paper's checklist as data, the judge prompt and its tolerant parser, the static
Python checks (ast, sandboxed tests), and the final accepted / rejected decision.

Each rule is answered yes/no with a reason, then an overall yes/no, as one JSON object. A rule may apply to
some tasks only (rule (3), code-only solutions, does not apply to summaries).
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass

from wavecoder_assets.generate.tasks import TASKS, extract_json_object, solution_language
from wavecoder_assets.languages import LANGUAGE_NAMES


@dataclass(frozen=True)
class Rule:
    id: str
    step: int
    text: str
    tasks: tuple[str, ...] | None = None  # None: every task

    def applies_to(self, task_name: str) -> bool:
        return self.tasks is None or task_name in self.tasks


CODE_TASKS = tuple(t for t, spec in TASKS.items() if spec.solution_is_code)

# The paper's checklist (Section 2.3 and prompt/discriminator.txt). Configurable: pass other dicts.
DEFAULT_RULES: list[dict] = [
    {"id": "input_is_code", "step": 1, "tasks": None,
     "text": "The raw code input is real code, not only comments or docstrings."},
    {"id": "solution_relates", "step": 2, "tasks": None,
     "text": "The solution is the specific resolution of the instruction and information, relevant to both."},
    {"id": "names_language", "step": 2, "tasks": None,
     "text": "The instruction names the programming language."},
    {"id": "code_only", "step": 2, "tasks": list(CODE_TASKS),
     "text": "The solution holds only code and comments inside the code; no explanation outside the code."},
    {"id": "instruction_relevant", "step": 2, "tasks": None,
     "text": "The instruction is relevant to the raw code input and summarizes what it is about."},
]


def rules_from_dicts(rules: list[dict]) -> list[Rule]:
    parsed = [Rule(id=r["id"], step=int(r.get("step", 2)), text=r["text"],
                   tasks=tuple(r["tasks"]) if r.get("tasks") else None) for r in rules]
    if len({r.id for r in parsed}) != len(parsed):
        raise ValueError(f"rule ids must be unique: {[r.id for r in parsed]}")
    return parsed


def applicable(rules: list[Rule], task_name: str) -> list[Rule]:
    return [r for r in rules if r.applies_to(task_name)]


def verdict_schema(rules: list[Rule]) -> dict:
    """JSON schema of the judge's answer; the reason comes before the answer so the model reasons first."""
    answer = {"type": "object", "properties": {"reason": {"type": "string"}, "answer": {"enum": ["yes", "no"]}},
              "required": ["reason", "answer"]}
    props = {r.id: answer for r in rules} | {"overall": {"enum": ["yes", "no"]}, "reasons": {"type": "string"}}
    return {"type": "object", "properties": props, "required": list(props)}


def render_example(row: dict, max_code_chars: int = 1500) -> str:
    code = row["code"] if len(row["code"]) <= max_code_chars else row["code"][:max_code_chars] + "\n..."
    fields = {k: row.get(k) or "" for k in ("task_name", "instruction", "information", "solution")}
    return f"Raw code input ({LANGUAGE_NAMES[row['language']]}):\n{code}\nGenerated data:\n{json.dumps(fields, ensure_ascii=False)}"


def answer_template(rules: list[Rule]) -> str:
    """The answer's layout, for endpoints without a JSON schema (json_mode off)."""
    template = {r.id: {"reason": "<why, at most 15 words>", "answer": "yes"} for r in rules}
    return json.dumps(template | {"overall": "yes", "reasons": "<the reasons of any no>"})


def judge_messages(row: dict, rules: list[Rule], *, good: list[dict], bad: list[dict],
                   show_format: bool = False) -> list[dict]:
    rules = applicable(rules, row["task_name"])
    lines = ["Judge whether the generated instruction data meets each rule. Go through the rules step by step; for "
             'each give a short reason (at most 15 words), then "yes" if the rule is met or "no" if not.']
    for step in sorted({r.step for r in rules}):
        lines.append(f"Step {step}:")
        lines += [f"- {r.id}: {r.text}" for r in rules if r.step == step]
    lines.append('Then "overall": "yes" only if every rule is met, else "no"; "reasons": the reasons of any "no".')
    if show_format:
        lines.append(f"Answer layout (answers are yes or no): {answer_template(rules)}")
    for title, examples in (("accepted", good), ("rejected", bad)):
        for e in examples:
            lines.append(f"Example of {title} data:\n{render_example(e, 600)}\nVerdict: {title}. {e['reasons']}")
    lines.append(f"Now judge this data.\n{render_example(row)}\nAnswer with JSON only.")
    return [{"role": "system", "content": "You are a strict reviewer of instruction-tuning data for code models."},
            {"role": "user", "content": "\n".join(lines)}]


def parse_verdict(text: str, rules: list[Rule], task_name: str) -> dict:
    """{"rules": {id: {"answer", "reason"}}, "overall": bool, "reasons": str}; raises ValueError when the
    output has no JSON object or no yes/no for an applicable rule."""
    obj = extract_json_object(text)
    if obj is None:
        raise ValueError("judge output holds no JSON object")
    verdicts = {}
    for rule in applicable(rules, task_name):
        item = obj.get(rule.id)
        if isinstance(item, str):  # {"rule": "yes"}: tolerated
            item = {"answer": item, "reason": ""}
        answer = str((item or {}).get("answer", "")).strip().lower()
        if answer not in ("yes", "no"):
            raise ValueError(f"judge gave no yes/no for rule {rule.id!r}")
        verdicts[rule.id] = {"answer": answer, "reason": str(item.get("reason", "")).strip()}
    overall = str(obj.get("overall", "")).strip().lower()
    if overall not in ("yes", "no"):
        raise ValueError("judge gave no overall yes/no")
    return {"rules": verdicts, "overall": overall == "yes", "reasons": str(obj.get("reasons", "")).strip()}


def judge_outcome(result, rules: list[Rule], task_name: str, static: dict | None = None) -> dict:
    """The verdict columns for one judge answer (a ChatResult), merged with the verdicts of the checks that ran
    before it: verdict accepted | rejected | failed, rule_verdicts (JSON), reasons, judge_model, and error (why a
    judgment failed, else None). An overall "yes" with a "no" rule is not accepted."""
    static = static or {}
    failed_outcome = {"verdict": "failed", "rule_verdicts": json.dumps(static, ensure_ascii=False), "reasons": "",
                      "judge_model": result.model}
    if result.error is not None:
        return failed_outcome | {"error": f"judge: {result.error}"}
    try:
        parsed = parse_verdict(result.text, rules, task_name)
    except ValueError as why:
        return failed_outcome | {"error": f"judge: {why}: {result.text[:300]}"}
    rule_verdicts = static | parsed["rules"]
    failed = failed_rules(rule_verdicts)
    accepted = parsed["overall"] and not failed
    reasons = parsed["reasons"] or "; ".join(f"{r}: {rule_verdicts[r]['reason']}" for r in failed)
    if not accepted and not failed:
        reasons = f"overall answer was no: {reasons}" if reasons else "overall answer was no"
    return {"verdict": "accepted" if accepted else "rejected", "rule_verdicts": json.dumps(rule_verdicts,
            ensure_ascii=False), "reasons": reasons, "judge_model": result.model, "error": None}


# ---------------------------------------------------------------- beyond the paper: Python checks

def python_syntax_error(source: str) -> str | None:
    try:
        ast.parse(source)
    except SyntaxError as error:
        return f"SyntaxError line {error.lineno}: {error.msg}"
    return None


def is_python_solution(row: dict) -> bool:
    return solution_language(row["task_name"], row["language"], row.get("target_language")) == "python"


def static_checks(row: dict, run_python, *, timeout_s: float, require_tests_pass: bool) -> tuple[dict, str | None]:
    """Rule verdicts of the checks that need no model ({} for non-Python solutions) and the sandbox status.

    The Python solution must parse; where the example has tests, solution + tests run in the sandbox.
    A failing run is a "no" only when require_tests_pass is set (small models write wrong tests too)."""
    if not is_python_solution(row):
        return {}, None
    error = python_syntax_error(row["solution"])
    verdicts = {"python_syntax": {"answer": "no" if error else "yes", "reason": error or "parses"}}
    if error or not row.get("tests"):
        return verdicts, None
    result = run_python(row["solution"] + "\n\n" + row["tests"] + "\n", timeout_s=timeout_s)
    if require_tests_pass:
        verdicts["tests_pass"] = {"answer": "yes" if result.status == "passed" else "no",
                                  "reason": f"sandbox: {result.status} {result.reason or ''}".strip()[:300]}
    return verdicts, result.status


def failed_rules(rule_verdicts: dict) -> list[str]:
    return [rid for rid, v in rule_verdicts.items() if v["answer"] != "yes"]
