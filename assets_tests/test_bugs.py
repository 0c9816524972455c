"""Bugs put into real code for code repair: one change, still parsing, caught by a test the fix passes."""

from __future__ import annotations

import polars as pl
import pytest

from wavecoder_assets.codefacts import code_tokens
from wavecoder_assets.generate.bugs import inject_bug
from wavecoder_assets.generate.execution import execution_verdicts, toolchain_missing
from wavecoder_assets.generate.loop import LoopSettings, plan_examples

# Every change one bug could make here changes a result the tests check.
STEP = {
    "python": ("def step(x, lo):\n    if x < lo:\n        return 0\n    return x + 1",
               "assert step(0, 1) == 0\nassert step(1, 1) == 2\nassert step(3, 1) == 4"),
    "javascript": ("function step(x, lo) {\n  if (x < lo) {\n    return 0;\n  }\n  return x + 1;\n}",
                   "const assert = require('assert');\nassert.strictEqual(step(0, 1), 0);\n"
                   "assert.strictEqual(step(1, 1), 2);\nassert.strictEqual(step(3, 1), 4);"),
    "java": ("static int step(int x, int lo) {\n    if (x < lo) {\n        return 0;\n    }\n    return x + 1;\n}",
             "if (step(0, 1) != 0) throw new AssertionError(\"below\");\n"
             "if (step(1, 1) != 2) throw new AssertionError(\"at\");\n"
             "if (step(3, 1) != 4) throw new AssertionError(\"above\");"),
}


@pytest.mark.parametrize("language", sorted(STEP))
def test_an_injected_bug_is_one_change_that_parses_and_the_tests_catch(language):
    code, tests = STEP[language]
    if toolchain_missing(language):
        pytest.skip(toolchain_missing(language))
    for key in ("a", "b", "c", "d"):
        bug = inject_bug(code, language, key)
        assert bug is not None and bug == inject_bug(code, language, key)  # seeded: the same bug every time
        original, buggy = code_tokens(code, language), code_tokens(bug.buggy, language)
        changed = [(o, b) for o, b in zip(original, buggy) if o != b]
        assert len(original) == len(buggy) and changed == [(bug.was, bug.became)]
        assert code_tokens(bug.fixed, language) == original  # the fix is the original, a comment added
        assert f'fixed: "{bug.was}", not "{bug.became}"' in bug.fixed.splitlines()[bug.line - 1]
        row = {"task_name": "code_repair", "language": language, "target_language": None,
               "information": bug.buggy, "solution": bug.fixed, "tests": tests}
        verdicts, status = execution_verdicts(row, timeout_s=20)
        assert status == "passed" and verdicts["repair_fixes_bug"]["answer"] == "yes", (bug, verdicts)
    assert len({inject_bug(code, language, key).buggy for key in "abcdefgh"}) > 1  # the key picks the place


def test_no_bug_where_there_is_nothing_to_change():
    assert inject_bug("def name(obj):\n    return obj.__name__", "python", "k") is None
    assert inject_bug("def broken(:\n    pass", "python", "k") is None
    # operators inside strings and comments are no places for a bug
    bug = inject_bug('def greet(n):\n    # a < b\n    return "a < b" + n', "python", "k")
    assert (bug.was, bug.became) == ("+", "-")


def test_a_repair_planned_for_code_without_a_place_for_a_bug_trades_tasks():
    codes = ["def name(obj):\n    return obj.__name__", "def inc(x):\n    return x + 1"]
    sources = pl.DataFrame({"id": ["s0", "s1"], "language": ["python", "python"], "code": codes,
                            "docstring": ["The name.", "One more."], "rank": [0, 1]})
    for mix in ({"code_repair": 0.5, "code_summarization": 0.5}, {"code_summarization": 0.5, "code_repair": 0.5}):
        plan = plan_examples(sources, LoopSettings(task_mix=mix))
        repair = next(p for p in plan if p.task_name == "code_repair")
        assert repair.source_id == "s1"
        assert repair.given["information"] in (codes[1].replace("+", "-"), codes[1].replace("1", "2"))
        assert repair.given["solution"].startswith(codes[1])
    alone = plan_examples(sources.head(1), LoopSettings(task_mix={"code_repair": 1}))
    assert [p.task_name for p in alone] == ["code_summarization"]  # nowhere to put a bug


def test_a_python_repair_of_a_bug_put_in_by_code_takes_expected_values_from_its_fix():
    from wavecoder_assets.generate.discriminator import discriminate

    code = "def step(x, lo):\n    if x < lo:\n        return 0\n    return x + 1"
    bug = inject_bug(code, "python", "k")
    row = {"task_name": "code_repair", "language": "python", "target_language": None, "code": code,
           "instruction": "Find and fix the bug in the following Python function, which should step x past lo.",
           "information": bug.buggy, "solution": bug.fixed,
           "tests": "assert step(0, 1) == 1\nassert step(1, 1) == 9\nassert step(3, 1) == 4"}  # two values wrong
    fixed_by_code, = discriminate([row], None)
    assert fixed_by_code.verdict == "accepted", fixed_by_code.reasons
    assert fixed_by_code.tests == "assert step(0, 1) == 0\nassert step(1, 1) == 2\nassert step(3, 1) == 4"
    assert "expected values from the fix: 3 computed, 2 of them changed" in \
        fixed_by_code.rule_verdicts["tests_pass"]["reason"]
    # a fix that is not the source (a labelled row, a model's own fix) keeps the tests it was given
    own_fix, = discriminate([row | {"solution": code.replace("x + 1", "x + 2")}], None)
    assert own_fix.verdict == "rejected" and own_fix.tests == row["tests"]


def test_a_python_generation_takes_expected_values_from_its_source_function():
    from wavecoder_assets.generate.discriminator import discriminate

    source = 'def clamp(x, lo, hi):\n    """Clamp x into [lo, hi]."""\n    return max(lo, min(x, hi))'
    row = {"task_name": "code_generation", "language": "python", "target_language": None, "code": source,
           "instruction": "Write a Python function clamp(x, lo, hi) that clamps x into the range [lo, hi].",
           "information": "", "solution": "def clamp(x, lo, hi):\n    return min(max(x, lo), hi)",
           "tests": "assert clamp(5, 0, 3) == 5\nassert clamp(-1, 0, 3) == 0"}  # the first value guessed wrong
    right, = discriminate([row], None)
    assert right.verdict == "accepted", right.reasons
    assert right.tests == "assert clamp(5, 0, 3) == 3\nassert clamp(-1, 0, 3) == 0"
    assert "expected values from the source function: 2 computed, 1 of them changed" in \
        right.rule_verdicts["tests_pass"]["reason"]
    # a wrong solution whose tests agree with it is caught by the source's values
    wrong, = discriminate([row | {"solution": "def clamp(x, lo, hi):\n    return max(lo, x)",
                                  "tests": "assert clamp(5, 0, 3) == 5"}], None)
    assert wrong.verdict == "rejected" and "tests_pass" in wrong.failed_rules
    # a solution under another name is not the source's function: its tests stay as written
    renamed, = discriminate([row | {"solution": row["solution"].replace("clamp", "bound"),
                                    "tests": "assert bound(5, 0, 3) == 5"}], None)
    assert renamed.tests == "assert bound(5, 0, 3) == 5"
