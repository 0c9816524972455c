"""The example store: judged examples, good AND bad, sampled as few-shot examples in later rounds.

The released script sampled only bad cases, and `random.sample(self.sample_list[-1], n)` drew characters of
the last stored string instead of whole examples. Here whole examples are drawn, both kinds, preferring the
same task, with a seeded RNG per request so prompts (and so the LLM cache keys) are reproducible.
"""

from __future__ import annotations

import random

from wavecoder_assets.hashing import stable_hash

_ADD = "def add(a, b):\n    \"\"\"Return the sum of a and b.\"\"\"\n    return a + b"
_MEAN = ("def mean(values):\n    \"\"\"Arithmetic mean of a non-empty list.\"\"\"\n"
         "    return sum(values) / len(values)")

# Round 0 has no judged examples yet: one good and one bad hand-written example per task.
SEED_EXAMPLES: list[dict] = [
    dict(task_name="code_generation", language="python", target_language=None, code=_MEAN, accepted=True,
         instruction="Write a Python function that returns the arithmetic mean of a non-empty list of numbers.",
         information="", solution=_MEAN, tests="assert mean([1, 2, 3]) == 2",
         reasons="All rules met."),
    dict(task_name="code_generation", language="python", target_language=None, code=_MEAN, accepted=False,
         instruction="Compute the mean.", information="",
         solution="The mean is the sum divided by the count, so divide sum(values) by len(values).", tests=None,
         reasons="The instruction does not name the language, and the solution is an explanation, not code."),
    dict(task_name="code_summarization", language="python", target_language=None, code=_ADD, accepted=True,
         instruction="Summarize what the following Python function does.", information=_ADD,
         solution="The function add takes two values and returns their sum.", tests=None,
         reasons="All rules met."),
    dict(task_name="code_summarization", language="python", target_language=None, code=_ADD, accepted=False,
         instruction="Summarize the code.", information=_ADD,
         solution="def add(a, b):\n    return a + b", tests=None,
         reasons="The instruction does not name the language, and the solution repeats code instead of summarizing it."),
    dict(task_name="code_translation", language="python", target_language="javascript", code=_ADD, accepted=True,
         instruction="Translate the following Python function into JavaScript.", information=_ADD,
         solution="// Return the sum of a and b.\nfunction add(a, b) {\n  return a + b;\n}", tests=None,
         reasons="All rules met."),
    dict(task_name="code_translation", language="python", target_language="javascript", code=_ADD, accepted=False,
         instruction="Translate the following Python function into JavaScript.", information=_ADD,
         solution="Here is the JavaScript version:\nfunction add(a, b) { return a + b; }\nIt works the same way.",
         tests=None, reasons="The solution has explanations outside the code."),
    dict(task_name="code_repair", language="python", target_language=None, code=_MEAN, accepted=True,
         instruction="Find and fix the bug in the following Python function, which should return the mean of a list.",
         information=_MEAN.replace("len(values)", "(len(values) - 1)"),
         solution="# Bug: the sum was divided by len(values) - 1 instead of len(values).\n" + _MEAN,
         tests="assert mean([2, 4]) == 3", reasons="All rules met."),
    dict(task_name="code_repair", language="python", target_language=None, code=_MEAN, accepted=False,
         instruction="Fix the bug in the following Python function.", information=_MEAN,
         solution=_MEAN, tests=None,
         reasons="The information has no bug, so the solution resolves nothing; the bug is not described."),
]


class ExampleStore:
    """Good and bad judged examples (dicts with the generated fields, `code`, `accepted` and `reasons`)."""

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

    @staticmethod
    def _draw(pool: list[dict], task_name: str, k: int, rng: random.Random) -> list[dict]:
        same = [e for e in pool if e["task_name"] == task_name]
        other = [e for e in pool if e["task_name"] != task_name]
        picked = rng.sample(same, min(k, len(same)))
        return picked + rng.sample(other, min(k - len(picked), len(other)))

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)
