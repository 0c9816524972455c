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
from wavecoder_assets.languages import LANGUAGE_NAMES

# Round 0 has no judged examples yet: hand-written seed examples, one good and one bad per task in each language
# with a toolchain here, so a prompt shows examples written in its answer's language (with Python examples only, the
# generator put Python docstrings and asserts into JavaScript and answered Java repairs with the Python example).
# Each bad one fails a rule for a reason specific to it: a judge that copies a reason word for word is easy to spot.
# Every good example passes the code checks and its tests (test_seed_examples_pass_the_discriminators_code_rules).
_SNIPPETS = {
    "python": dict(
        add='def add(a, b):\n    """Return the sum of a and b."""\n    return a + b',
        add_wrong="def add(a, b):\n    return str(a) + str(b)",
        add_tests="assert add(2, 3) == 5", add_wrong_tests="assert add(2, 3) == '23'",
        mean='def mean(values):\n    """Arithmetic mean of a non-empty list."""\n    return sum(values) / len(values)',
        mean_buggy='def mean(values):\n    """Arithmetic mean of a non-empty list."""\n'
                   '    return sum(values) / (len(values) - 1)',
        mean_max='def mean(values):\n    """Arithmetic mean of a non-empty list."""\n    return max(values)',
        mean_middle="def mean(values):\n    ordered = sorted(values)\n    middle = len(ordered) // 2\n"
                    "    return ordered[middle]",
        mean_tests="assert mean([1, 2, 3]) == 2",
        repair_tests="assert mean([2, 4]) == 3", max_tests="assert mean([2, 2]) == 2",
        function="function", sequence="list", divisor="len(values)"),
    "javascript": dict(
        add="// Return the sum of a and b.\nfunction add(a, b) {\n  return a + b;\n}",
        add_wrong="function add(a, b) {\n  return String(a) + String(b);\n}",
        add_tests="const assert = require('assert');\nassert.strictEqual(add(2, 3), 5);",
        add_wrong_tests="const assert = require('assert');\nassert.strictEqual(add(2, 3), '23');",
        mean="// Arithmetic mean of a non-empty array.\nfunction mean(values) {\n"
             "  return values.reduce((sum, v) => sum + v, 0) / values.length;\n}",
        mean_buggy="// Arithmetic mean of a non-empty array.\nfunction mean(values) {\n"
                   "  return values.reduce((sum, v) => sum + v, 0) / (values.length - 1);\n}",
        mean_max="// Arithmetic mean of a non-empty array.\nfunction mean(values) {\n  return Math.max(...values);\n}",
        mean_middle="function mean(values) {\n  const ordered = [...values].sort((a, b) => a - b);\n"
                    "  return ordered[Math.floor(ordered.length / 2)];\n}",
        mean_tests="const assert = require('assert');\nassert.strictEqual(mean([1, 2, 3]), 2);",
        repair_tests="const assert = require('assert');\nassert.strictEqual(mean([2, 4]), 3);",
        max_tests="const assert = require('assert');\nassert.strictEqual(mean([2, 2]), 2);",
        function="function", sequence="array", divisor="values.length"),
    "java": dict(
        add="// Return the sum of a and b.\nstatic int add(int a, int b) {\n    return a + b;\n}",
        add_wrong="static String add(int a, int b) {\n    return String.valueOf(a) + b;\n}",
        add_tests='public class Main {\n    public static void main(String[] args) {\n'
                  '        if (add(2, 3) != 5) throw new AssertionError("add(2, 3)");\n    }\n}',
        add_wrong_tests='public class Main {\n    public static void main(String[] args) {\n'
                        '        if (!add(2, 3).equals("23")) throw new AssertionError("add(2, 3)");\n    }\n}',
        mean="// Arithmetic mean of a non-empty array.\nstatic double mean(int[] values) {\n    double sum = 0;\n"
             "    for (int v : values) sum += v;\n    return sum / values.length;\n}",
        mean_buggy="// Arithmetic mean of a non-empty array.\nstatic double mean(int[] values) {\n    double sum = 0;\n"
                   "    for (int v : values) sum += v;\n    return sum / (values.length - 1);\n}",
        mean_max="// Arithmetic mean of a non-empty array.\nstatic double mean(int[] values) {\n"
                 "    return java.util.Arrays.stream(values).max().getAsInt();\n}",
        mean_middle="static double mean(int[] values) {\n    int[] ordered = values.clone();\n"
                    "    java.util.Arrays.sort(ordered);\n    return ordered[ordered.length / 2];\n}",
        mean_tests='public class Main {\n    public static void main(String[] args) {\n'
                   '        if (mean(new int[] {1, 2, 3}) != 2.0) throw new AssertionError("mean({1, 2, 3})");\n'
                   '    }\n}',
        repair_tests='public class Main {\n    public static void main(String[] args) {\n'
                     '        if (mean(new int[] {2, 4}) != 3.0) throw new AssertionError("mean({2, 4})");\n    }\n}',
        max_tests='public class Main {\n    public static void main(String[] args) {\n'
                  '        if (mean(new int[] {2, 2}) != 2.0) throw new AssertionError("mean({2, 2})");\n    }\n}',
        function="method", sequence="array", divisor="values.length"),
}
# A translation seed into each language, from this language.
_TRANSLATED_FROM = {"python": "javascript", "javascript": "python", "java": "python"}


def _analysis(resolves: tuple[str, str], relevant: tuple[str, str]) -> dict:
    return {"solution_resolves": {"answer": resolves[0], "reason": resolves[1]},
            "instruction_relevant": {"answer": relevant[0], "reason": relevant[1]}}


def _seed_examples(language: str) -> list[dict]:
    s, name = _SNIPPETS[language], LANGUAGE_NAMES[language]
    source = _TRANSLATED_FROM[language]
    source_add, source_name = _SNIPPETS[source]["add"], LANGUAGE_NAMES[source]
    base = dict(language=language, target_language=None)
    generation = dict(base, task_name="code_generation", code=s["mean"],
                      summary=f"Arithmetic mean of a non-empty {s['sequence']}.",
                      instruction=f"Write a {name} {s['function']} mean(values) that returns the arithmetic mean "
                                  f"of a non-empty {s['sequence']}.", information="")
    summarization = dict(base, task_name="code_summarization", code=s["add"], tests=None, information=s["add"],
                         instruction=f"Summarize what the following {name} {s['function']} does.")
    translation = dict(task_name="code_translation", language=source, target_language=language, code=source_add,
                       information=source_add,
                       instruction=f"Translate the following {source_name} function into {name}.")
    repair = dict(base, task_name="code_repair", code=s["mean"], information=s["mean_buggy"],
                  summary=f"Arithmetic mean of a non-empty {s['sequence']}.",
                  instruction=f"Find and fix the bug in the following {name} {s['function']}, which should return "
                              f"the mean of a{'n' if s['sequence'] == 'array' else ''} {s['sequence']}.")
    return [
        generation | dict(accepted=True, solution=s["mean"], tests=s["mean_tests"], rule_verdicts=_analysis(
            ("yes", f"the {name} mean divides the sum of values by {s['divisor']}, the mean the instruction asks"),
            ("yes", f"the {name} input computes a mean and the instruction asks for one"))),
        generation | dict(accepted=False, solution=s["mean_middle"], tests=s["mean_tests"], rule_verdicts=_analysis(
            ("no", f"the {name} solution returns the middle element (a median), not the mean asked"),
            ("yes", f"the instruction asks for the mean the {name} input computes"))),
        summarization | dict(accepted=True, solution="The function add takes two values and returns their sum.",
                             rule_verdicts=_analysis(
            ("yes", f"the summary says add returns a + b, which is what the {name} code does"),
            ("yes", f"it asks for a summary of the given {name} add {s['function']}"))),
        summarization | dict(accepted=False, solution="The function multiplies two numbers and prints the product.",
                             rule_verdicts=_analysis(
            ("no", f"the {name} add returns a sum; the summary claims it multiplies and prints"),
            ("yes", f"it asks to summarize the {name} add {s['function']} it is given"))),
        translation | dict(accepted=True, solution=s["add"], tests=s["add_tests"], rule_verdicts=_analysis(
            ("yes", f"the {name} add returns a + b like the {source_name} add"),
            ("yes", f"it asks to translate the given {source_name} add function into {name}"))),
        translation | dict(accepted=False, solution=s["add_wrong"], tests=s["add_wrong_tests"], rule_verdicts=_analysis(
            ("no", f"the {name} translation concatenates strings, so add(2, 3) is '23', not 5"),
            ("yes", f"it asks for the {source_name} add function in {name}"))),
        repair | dict(accepted=True, solution=s["mean"], tests=s["repair_tests"], rule_verdicts=_analysis(
            ("yes", f"the {name} fix divides by {s['divisor']} instead of {s['divisor']} - 1"),
            ("yes", f"the buggy {name} code is the input's mean with an off-by-one divisor"))),
        repair | dict(accepted=False, solution=s["mean_max"], tests=s["max_tests"], rule_verdicts=_analysis(
            ("no", f"the {name} 'fix' returns the largest value, which is not the mean either"),
            ("yes", f"the instruction is about the {name} input's mean {s['function']}"))),
    ]


SEED_EXAMPLES: list[dict] = [example for language in _SNIPPETS for example in _seed_examples(language)]
for _example in SEED_EXAMPLES:
    _failed = [f"{rule}: {v['reason']}" for rule, v in _example["rule_verdicts"].items() if v["answer"] == "no"]
    _example["reasons"] = "; ".join(_failed) or "All rules met."


def written_in(example: dict) -> str | None:
    """The language of an example's answer: a translation's target, else the input's language."""
    return example.get("target_language") or example.get("language")


def copied_example(text: str | None, shown: list[dict], field: str = "solution") -> dict | None:
    """The shown few-shot example whose `field` (solution, instruction) `text` is, up to whitespace, if any: an
    answer that copies an example says nothing about its own input."""
    words = (text or "").split()
    return next((e for e in shown if words and (e.get(field) or "").split() == words), None)


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

    def sample(self, task_name: str, k_good: int, k_bad: int, *, seed: int, key: str,
               language: str | None = None) -> tuple[list[dict], list[dict]]:
        """k_good good and k_bad bad whole examples, same task first (and among those, ones whose answer is written
        in `language`), drawn by a RNG seeded with (seed, key)."""
        rng = random.Random(stable_hash(seed, "few-shot", key))
        return (self._draw(self.good, task_name, language, k_good, rng),
                self._draw(self.bad, task_name, language, k_bad, rng))

    def sample_judged(self, task_name: str, k_good: int, k_bad: int, *, rule_ids: list[str], seed: int,
                      key: str, language: str | None = None) -> tuple[list[dict], list[dict]]:
        """Like `sample`, among examples the judge answered every rule of `rule_ids` for; the bad ones failed
        one of those rules (an example a code check rejected has no judge analysis to show)."""
        def judged(e: dict) -> bool:
            return all(rule in e["rule_verdicts"] for rule in rule_ids)

        def judged_bad(e: dict) -> bool:
            return judged(e) and any(e["rule_verdicts"][rule]["answer"] == "no" for rule in rule_ids)

        rng = random.Random(stable_hash(seed, "judge-few-shot", key))
        good = [e for e in self.good if judged(e)]
        bad = [e for e in self.bad if judged_bad(e)]
        return self._draw(good, task_name, language, k_good, rng), self._draw(bad, task_name, language, k_bad, rng)

    @staticmethod
    def _draw(pool: list[dict], task_name: str, language: str | None, k: int, rng: random.Random) -> list[dict]:
        same_task = [e for e in pool if e["task_name"] == task_name]
        tiers = [[e for e in same_task if written_in(e) == language], [e for e in same_task if written_in(e) != language],
                 [e for e in pool if e["task_name"] != task_name]]
        picked: list[dict] = []
        for tier in tiers:
            picked += rng.sample(tier, min(k - len(picked), len(tier)))
        return picked

    def __len__(self) -> int:
        return len(self.good) + len(self.bad)
