"""The example store: judged examples, good AND bad, sampled as few-shot examples in later rounds.

The released script sampled only bad cases, and `random.sample(self.sample_list[-1], n)` drew characters of
the last stored string instead of whole examples. Here whole examples are drawn, both kinds, preferring the
same task, with a RNG seeded per request (seed, candidate key), so each candidate sees its own examples and
prompts (and so the LLM cache keys) are reproducible. Every example carries its per-rule analysis
(`rule_verdicts`), which the judge's few-shot turns show in full.
"""

from __future__ import annotations

import random

from wavecoder_assets.hashing import stable_hash

_ADD = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b"
_MEAN = ("def mean(values):\n    \"\"\"Arithmetic mean of a non-empty list.\"\"\"\n"
         "    return sum(values) / len(values)")
_MEDIAN = ("def median(values):\n    ordered = sorted(values)\n    middle = len(ordered) // 2\n"
           "    return ordered[middle]")


def _analysis(resolves: tuple[str, str], relevant: tuple[str, str]) -> dict:
    return {"solution_resolves": {"answer": resolves[0], "reason": resolves[1]},
            "instruction_relevant": {"answer": relevant[0], "reason": relevant[1]}}


# Round 0 has no judged examples yet: one good and one bad hand-written example per task, each bad one failing a
# rule for a reason specific to it (a judge that copies a reason word for word is then easy to spot).
SEED_EXAMPLES: list[dict] = [
    dict(task_name="code_generation", language="python", target_language=None, code=_MEAN, accepted=True,
         summary="Arithmetic mean of a non-empty list.",
         instruction="Write a Python function mean(values) that returns the arithmetic mean of a non-empty list.",
         information="", solution=_MEAN, tests="assert mean([1, 2, 3]) == 2",
         rule_verdicts=_analysis(("yes", "mean divides sum(values) by len(values), the mean the instruction asks"),
                                 ("yes", "the input computes a mean and the instruction asks for one"))),
    dict(task_name="code_generation", language="python", target_language=None, code=_MEAN, accepted=False,
         summary="Arithmetic mean of a non-empty list.",
         instruction="Write a Python function mean(values) that returns the arithmetic mean of a list.",
         information="", solution=_MEDIAN, tests="assert median([1, 2, 3]) == 2",
         rule_verdicts=_analysis(("no", "the solution returns the middle element (a median), not the mean asked"),
                                 ("yes", "the instruction asks for the mean the input computes"))),
    dict(task_name="code_summarization", language="python", target_language=None, code=_ADD, accepted=True,
         instruction="Summarize what the following Python function does.", information=_ADD,
         solution="The function add takes two values and returns their sum.", tests=None,
         rule_verdicts=_analysis(("yes", "the summary says add returns a + b, which is what the code does"),
                                 ("yes", "it asks for a summary of the given add function"))),
    dict(task_name="code_summarization", language="python", target_language=None, code=_ADD, accepted=False,
         instruction="Summarize what the following Python function does.", information=_ADD,
         solution="The function multiplies two numbers and prints the product.", tests=None,
         rule_verdicts=_analysis(("no", "add returns a sum; the summary claims it multiplies and prints"),
                                 ("yes", "it asks for a summary of the given add function"))),
    dict(task_name="code_translation", language="python", target_language="javascript", code=_ADD, accepted=True,
         instruction="Translate the following Python function into JavaScript.", information=_ADD,
         solution="// Return the sum of a and b.\nfunction add(a, b) {\n  return a + b;\n}",
         tests="const assert = require('assert');\nassert.strictEqual(add(2, 3), 5);",
         rule_verdicts=_analysis(("yes", "the JavaScript add returns a + b like the Python add"),
                                 ("yes", "it asks to translate the given add function"))),
    dict(task_name="code_translation", language="python", target_language="javascript", code=_ADD, accepted=False,
         instruction="Translate the following Python function into JavaScript.", information=_ADD,
         solution="function add(a, b) {\n  return String(a) + String(b);\n}",
         tests="const assert = require('assert');\nassert.strictEqual(add(2, 3), '23');",
         rule_verdicts=_analysis(("no", "the translation concatenates strings, so add(2, 3) is '23', not 5"),
                                 ("yes", "it asks to translate the given add function"))),
    dict(task_name="code_repair", language="python", target_language=None, code=_MEAN, accepted=True,
         instruction="Find and fix the bug in the following Python function, which should return the mean of a list.",
         information=_MEAN.replace("len(values)", "(len(values) - 1)"), solution=_MEAN,
         tests="assert mean([2, 4]) == 3",
         rule_verdicts=_analysis(("yes", "the fix divides by len(values) instead of len(values) - 1"),
                                 ("yes", "the buggy code is the input's mean with an off-by-one divisor"))),
    dict(task_name="code_repair", language="python", target_language=None, code=_MEAN, accepted=False,
         instruction="Find and fix the bug in the following Python function, which should return the mean of a list.",
         information=_MEAN.replace("len(values)", "(len(values) - 1)"),
         solution=_MEAN.replace("sum(values) / len(values)", "max(values)"), tests="assert mean([2, 2]) == 2",
         rule_verdicts=_analysis(("no", "the 'fix' returns max(values), which is not the mean either"),
                                 ("yes", "the instruction is about the input's mean function"))),
]
for _example in SEED_EXAMPLES:
    _failed = [f"{rule}: {v['reason']}" for rule, v in _example["rule_verdicts"].items() if v["answer"] == "no"]
    _example["reasons"] = "; ".join(_failed) or "All rules met."


class ExampleStore:
    """Good and bad judged examples (dicts with the generated fields, `code`, `accepted`, `reasons` and
    `rule_verdicts`)."""

    def __init__(self, seed_examples: list[dict] | None = None):
        self.good: list[dict] = []
        self.bad: list[dict] = []
        for example in SEED_EXAMPLES if seed_examples is None else seed_examples:
            self.add(example)

    def add(self, example: dict) -> None:
        (self.good if example["accepted"] else self.bad).append(example)

    def sample(self, task_name: str, k_good: int, k_bad: int, *, seed: int, key: str) -> tuple[list[dict], list[dict]]:
        """k_good good and k_bad bad whole examples, same task first, drawn by a RNG seeded with (seed, key)."""
        rng = random.Random(stable_hash(seed, "few-shot", key))
        return self._draw(self.good, task_name, k_good, rng), self._draw(self.bad, task_name, k_bad, rng)

    def sample_judged(self, task_name: str, k_good: int, k_bad: int, *, rule_ids: list[str], seed: int,
                      key: str) -> tuple[list[dict], list[dict]]:
        """Like `sample`, among examples the judge answered every rule of `rule_ids` for; the bad ones failed
        one of those rules (an example a code check rejected has no judge analysis to show)."""
        def judged(e: dict) -> bool:
            return all(rule in e["rule_verdicts"] for rule in rule_ids)

        def judged_bad(e: dict) -> bool:
            return judged(e) and any(e["rule_verdicts"][rule]["answer"] == "no" for rule in rule_ids)

        rng = random.Random(stable_hash(seed, "judge-few-shot", key))
        good = [e for e in self.good if judged(e)]
        bad = [e for e in self.bad if judged_bad(e)]
        return self._draw(good, task_name, k_good, rng), self._draw(bad, task_name, k_bad, rng)

    @staticmethod
    def _draw(pool: list[dict], task_name: str, k: int, rng: random.Random) -> list[dict]:
        same = [e for e in pool if e["task_name"] == task_name]
        other = [e for e in pool if e["task_name"] != task_name]
        picked = rng.sample(same, min(k, len(same)))
        return picked + rng.sample(other, min(k - len(picked), len(other)))

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)
