"""The LLM judge: the rules that need judgment, as data; the judge prompt; its parser.

What code can check (is the input code, is the language named, is the solution only code, does it run) is
checked by code (`checks.py`, `execution.py`). The judge answers only the semantic rules: does the solution
resolve the instruction and information, is the instruction about the input code. For each rule it writes a
short reason about this data first, then yes or no, in one JSON object whose layout a JSON schema enforces
(reasons are length-capped, so an answer is never cut off by the token limit).

Few-shot examples are earlier judged examples with their full per-rule analysis, shown as past turns of the
conversation; the rules come first and the judged data last, so consecutive prompts share a long prefix that a
llama.cpp server keeps in its KV cache.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from wavecoder_assets.generate.tasks import extract_json_object
from wavecoder_assets.languages import LANGUAGE_NAMES

REASON_MAX_CHARS = 200

# The paper's checklist (Section 2.3, prompt/discriminator.txt), less what checks.py and execution.py decide.
SEMANTIC_RULES: list[dict] = [
    {"id": "solution_resolves", "tasks": [],
     "text": "The solution is the specific resolution of the instruction and information: it does what the "
             "instruction asks (for a summary: it describes what the given code does), and nothing else."},
    {"id": "instruction_relevant", "tasks": [],
     "text": "The instruction is relevant to the raw code input: it asks about what that code does or about a "
             "task that code solves."},
]

SYSTEM = ("You review instruction-tuning data for code models. You check only the rules you are given. For each "
          "rule, first write one short reason about this data (name what the code and the solution do), then "
          "answer yes or no. Syntax, language names and tests are checked elsewhere: ignore them.")


@dataclass(frozen=True)
class Rule:
    id: str
    text: str
    tasks: tuple[str, ...] | None = None  # None (an empty list in settings): every task

    def applies_to(self, task_name: str) -> bool:
        return self.tasks is None or task_name in self.tasks


def rules_from_dicts(rules: list[dict]) -> list[Rule]:
    for rule in rules:
        if not isinstance(rule.get("id"), str) or not isinstance(rule.get("text"), str) or set(rule) - {"id", "text", "tasks"}:
            raise ValueError(f"a rule is {{id, text, tasks}} (id and text strings), not {rule}")
    parsed = [Rule(id=r["id"], text=r["text"], tasks=tuple(r["tasks"]) if r.get("tasks") else None) for r in rules]
    if len({r.id for r in parsed}) != len(parsed):
        raise ValueError(f"rule ids must be unique: {[r.id for r in parsed]}")
    return parsed


def applicable(rules: list[Rule], task_name: str) -> list[Rule]:
    return [r for r in rules if r.applies_to(task_name)]


def verdict_schema(rules: list[Rule]) -> dict:
    """JSON schema of the judge's answer: per rule a capped reason, then the answer (reason first: the model
    reasons before it decides)."""
    answer = {"type": "object", "properties": {"reason": {"type": "string", "maxLength": REASON_MAX_CHARS},
                                               "answer": {"enum": ["yes", "no"]}}, "required": ["reason", "answer"]}
    return {"type": "object", "properties": {r.id: answer for r in rules}, "required": [r.id for r in rules]}


def render_data(row: dict, max_code_chars: int = 1200) -> str:
    code = row["code"] if len(row["code"]) <= max_code_chars else row["code"][:max_code_chars] + "\n..."
    fields = {k: row.get(k) or "" for k in ("task_name", "instruction", "information", "solution")}
    return (f"Raw code input ({LANGUAGE_NAMES[row['language']]}):\n{code}\n"
            f"Generated data:\n{json.dumps(fields, ensure_ascii=False)}")


def render_analysis(rule_verdicts: dict, rules: list[Rule]) -> str:
    """An example's per-rule analysis in the answer layout (the rules it has a verdict for)."""
    return json.dumps({r.id: {"reason": rule_verdicts[r.id]["reason"], "answer": rule_verdicts[r.id]["answer"]}
                       for r in rules if r.id in rule_verdicts}, ensure_ascii=False)


def judge_messages(row: dict, rules: list[Rule], examples: list[dict], *, show_format: bool = False) -> list[dict]:
    """System, rules, then each example as a past (data, analysis) turn, then the data to judge."""
    rules = applicable(rules, row["task_name"])
    head = ["Rules:"] + [f"- {r.id}: {r.text}" for r in rules]
    if show_format:  # endpoints without a JSON schema
        head.append('Answer with one JSON object that maps each rule id to {"reason": "<one short sentence>", '
                    '"answer": "yes" | "no"}.')
    messages = [{"role": "system", "content": SYSTEM}]
    first = "\n".join(head) + "\n\n"
    for example in examples:
        messages.append({"role": "user", "content": first + "Data:\n" + render_data(example, 600)})
        messages.append({"role": "assistant", "content": render_analysis(example["rule_verdicts"], rules)})
        first = ""
    messages.append({"role": "user", "content": first + "Data:\n" + render_data(row)})
    return messages


def parse_verdict(text: str, rules: list[Rule], task_name: str) -> dict:
    """{rule id: {"answer": "yes"|"no", "reason"}} for every applicable rule; raises ValueError when the output
    holds no JSON object or no yes/no for an applicable rule."""
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
    return verdicts


def failed_rules(rule_verdicts: dict) -> list[str]:
    """Rules answered "no" ("n/a": not applied or not executed, recorded but not a failure)."""
    return [rid for rid, v in rule_verdicts.items() if v["answer"] == "no"]


_SPACE = re.compile(r"\s+")


def normalized_reason(reason: str) -> str:
    return _SPACE.sub(" ", reason).strip().lower().rstrip(".")

