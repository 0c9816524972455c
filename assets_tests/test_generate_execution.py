"""Execution as evidence: generated solutions and tests run for real in the sandbox (no mocks), per language;
a repair must turn failing tests into passing ones; a language that cannot run here is never a pass."""

from __future__ import annotations

import pytest

from wavecoder_assets.generate import execution
from wavecoder_assets.generate.execution import (
    TEST_STYLES,
    execution_verdicts,
    run_tests,
    toolchain_missing,
    uncompilable_tests,
    without_cut_lines,
)
from wavecoder_assets.languages import LANGUAGES

# Per language: a correct solution, its tests (in the style the generator is asked for), the source text of the
# check a wrong solution fails, and how to break the solution (wrong result, syntax error, endless loop).
CASES = {
    "python": {
        "solution": "def add(a, b):\n    return a + b",
        "tests": "assert add(0, 0) == 0\nassert add(1, 2) == 3",
        "check": "assert add(1, 2) == 3",
        "wrong": ("a + b", "a * b"), "syntax": ("(a, b):", "(a, b)"), "loop": ("return a + b", "while True: pass"),
    },
    "javascript": {
        "solution": "function add(a, b) {\n  return a + b;\n}",
        "tests": "const assert = require('assert');\n"
                 "assert.strictEqual(add(0, 0), 0);\nassert.strictEqual(add(1, 2), 3);",
        "check": "assert.strictEqual(add(1, 2), 3);",
        "wrong": ("a + b", "a * b"), "syntax": ("a + b;", "a + ;"), "loop": ("return a + b;", "while (true) {}"),
    },
    "java": {
        "solution": "import java.util.*;\n\npublic class Calc {\n    public static int add(int a, int b) {\n"
                    "        return a + b;\n    }\n}",
        "tests": "public class Main {\n    public static void main(String[] args) {\n"
                 "        if (Calc.add(0, 0) != 0) throw new AssertionError(\"add(0, 0) should be 0\");\n"
                 "        if (Calc.add(1, 2) != 3) throw new AssertionError(\"add(1, 2) should be 3\");\n    }\n}",
        "check": "add(1, 2) should be 3",
        "wrong": ("a + b", "a * b"), "syntax": ("a + b;", "a + b"), "loop": ("return a + b;", "while (true) {}"),
    },
}
# Toolchains that may be absent: these cases run only where they are installed.
OPTIONAL = {
    "go": ("package main\n\nfunc Add(a, b int) int { return a + b }", 'if Add(1, 2) != 3 { panic("Add(1, 2) != 3") }'),
    "php": ("<?php\nfunction add($a, $b) { return $a + $b; }", "assert(add(1, 2) === 3);"),
    "ruby": ("def add(a, b)\n  a + b\nend", 'raise "add(1, 2) != 3" unless add(1, 2) == 3'),
}
TIMEOUT_S = 10.0


def runnable(language: str) -> None:
    if why := toolchain_missing(language):
        pytest.skip(why)


def broken(language: str, how: str) -> str:
    old, new = CASES[language][how]
    return CASES[language]["solution"].replace(old, new)


@pytest.mark.parametrize("language", CASES)
def test_correct_wrong_and_broken_solutions(language):
    runnable(language)
    case = CASES[language]
    assert run_tests(language, case["solution"], case["tests"], timeout_s=TIMEOUT_S).status == "passed"
    wrong = run_tests(language, broken(language, "wrong"), case["tests"], timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and case["check"] in wrong.reason, wrong  # names the failed check
    syntax = run_tests(language, broken(language, "syntax"), case["tests"], timeout_s=TIMEOUT_S)
    assert syntax.status == "failed" and ("SyntaxError" in syntax.reason or "error:" in syntax.reason), syntax
    # A fenced answer runs as its content.
    fenced = run_tests(language, f"```{language}\n{case['solution']}\n```", f"```\n{case['tests']}\n```",
                       timeout_s=TIMEOUT_S)
    assert fenced.passed


@pytest.mark.parametrize("language", CASES)
def test_an_endless_loop_times_out(language):
    runnable(language)
    result = run_tests(language, broken(language, "loop"), CASES[language]["tests"], timeout_s=1)
    assert (result.status, result.reason) == ("timeout", "time limit of 1s exceeded")
    assert result.duration_s < 6  # Java's compile time is not the program's: at most 1s of running + compiling


@pytest.mark.parametrize("language", CASES)
def test_repair_must_turn_failing_tests_into_passing_ones(language):
    runnable(language)
    case = CASES[language]
    comment = "# " if language == "python" else "// "
    row = {"task_name": "code_repair", "language": language, "target_language": None, "code": case["solution"],
           "instruction": "Fix the bug.", "information": broken(language, "wrong"),
           "solution": f"{comment}the bug: add multiplied\n{case['solution']}", "tests": case["tests"]}
    verdicts, status = execution_verdicts(row, timeout_s=TIMEOUT_S)
    assert status == "passed" and verdicts["tests_pass"]["answer"] == "yes"
    assert verdicts["repair_fixes_bug"]["answer"] == "yes", verdicts
    assert case["check"] in verdicts["repair_fixes_bug"]["reason"]  # what the buggy input failed

    unchanged = row | {"solution": f"{comment}the bug: none\n{row['information']}"}
    verdicts, status = execution_verdicts(unchanged, timeout_s=TIMEOUT_S)
    assert status == "failed" and verdicts["tests_pass"]["answer"] == "no"
    assert verdicts["repair_fixes_bug"] == {"answer": "no",
                                            "reason": "the fix is the buggy input unchanged (comments aside)"}


def test_tests_that_miss_the_bug_do_not_show_a_fix():
    row = {"task_name": "code_repair", "language": "python", "target_language": None, "code": "",
           "instruction": "Fix the bug.", "information": "def add(a, b):\n    return a * b",
           "solution": "def add(a, b):\n    return a + b", "tests": "assert add(2, 2) == 4"}
    verdicts, _ = execution_verdicts(row, timeout_s=TIMEOUT_S)
    assert verdicts["tests_pass"]["answer"] == "yes"
    repair = verdicts["repair_fixes_bug"]
    assert repair["answer"] == "no" and "buggy input passes" in repair["reason"]


def test_translation_runs_the_target_language_tests():
    runnable("javascript")
    row = {"task_name": "code_translation", "language": "python", "target_language": "javascript",
           "code": CASES["python"]["solution"], "instruction": "Translate this Python code to JavaScript.",
           "information": CASES["python"]["solution"], "solution": CASES["javascript"]["solution"],
           "tests": CASES["javascript"]["tests"]}
    verdicts, status = execution_verdicts(row, timeout_s=TIMEOUT_S)
    assert status == "passed" and list(verdicts) == ["tests_pass"] and verdicts["tests_pass"]["answer"] == "yes"
    wrong, _ = execution_verdicts(row | {"solution": broken("javascript", "wrong")}, timeout_s=TIMEOUT_S)
    assert wrong["tests_pass"]["answer"] == "no"


def test_java_bare_checks_are_wrapped_into_a_main_class():
    runnable("java")
    tests = 'assert Calc.add(1, 2) == 3 : "add(1, 2) should be 3";'
    assert run_tests("java", CASES["java"]["solution"], tests, timeout_s=TIMEOUT_S).passed
    wrong = run_tests("java", broken("java", "wrong"), tests, timeout_s=TIMEOUT_S)  # java -ea: assert is on
    assert wrong.status == "failed" and "add(1, 2) should be 3" in wrong.reason


# A CodeSearchNet-style Java solution: methods with no class around them, one an instance method with @Override.
BARE_METHODS = ("public static float smaller(float a, float b) {\n    return Math.min(a, b);\n}\n\n"
                "@Override\npublic String label(int x) {\n    return \"n\" + x;\n}")


@pytest.mark.parametrize("tests", [
    "assert smaller(3.5f, 2.8f) == 2.8f;\nassert label(1).equals(\"n1\");",
    "public class Main {\n  public static void main(String[] args) {\n"
    "    if (smaller(1f, 2f) != 1f) throw new AssertionError(\"smaller\");\n  }\n}",
])
def test_java_methods_without_a_class_run_as_static_members_of_the_tests_class(tests):
    runnable("java")
    assert run_tests("java", BARE_METHODS, tests, timeout_s=TIMEOUT_S).passed
    wrong = run_tests("java", BARE_METHODS.replace("Math.min", "Math.max"), tests, timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and "AssertionError" in wrong.reason


def test_java_tests_that_bring_their_own_main_class_beside_the_solutions_run():
    """A solution written as `public class Main` and tests in their own `public class Main` (the 0.5B generator's
    habit; the harness used to fail them with "class Main is already defined"): one class Main, both members."""
    runnable("java")
    solution = "public class Main {\n    public static int twice(int x) {\n        return 2 * x;\n    }\n}"
    tests = ("public class Main {\n    public static void main(String[] args) {\n"
             "        if (twice(2) != 4) throw new AssertionError(\"twice(2)\");\n"
             "        assert Main.twice(3) == 6;\n    }\n}")
    assert run_tests("java", solution, tests, timeout_s=TIMEOUT_S).passed
    wrong = run_tests("java", solution.replace("2 * x", "3 * x"), tests, timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and "twice(2)" in wrong.reason


def test_a_python_test_line_cut_by_the_token_limit_is_dropped_not_failed():
    cut = "assert double(1) == 2\nassert double(2) == 4\nassert double(max(3,"
    assert without_cut_lines(cut, "python") == ("assert double(1) == 2\nassert double(2) == 4", 1)
    assert without_cut_lines("assert double(1) = 2", "python") == ("assert double(1) = 2", 0)  # a real error stays
    assert without_cut_lines("assert double(1) == 2", "python") == ("assert double(1) == 2", 0)
    row = {"task_name": "code_generation", "language": "python", "target_language": None, "code": "",
           "instruction": "Write double(x).", "information": "", "solution": "def double(x):\n    return 2 * x",
           "tests": cut}
    verdicts, status = execution_verdicts(row, timeout_s=TIMEOUT_S)
    assert status == "passed" and "1 cut test line(s) dropped" in verdicts["tests_pass"]["reason"]
    verdicts, status = execution_verdicts(row | {"solution": "def double(x):\n    return 3 * x"}, timeout_s=TIMEOUT_S)
    assert status == "failed" and verdicts["tests_pass"]["answer"] == "no"  # the complete checks still decide


def test_java_methods_that_need_their_object_still_fail():
    runnable("java")
    needs_field = "public int next() {\n    return counter + 1;\n}"  # `counter` is a field of a class not given
    result = run_tests("java", needs_field, "assert next() == 1;", timeout_s=TIMEOUT_S)
    assert result.status == "failed" and "cannot find symbol" in result.reason


def test_javascript_failures_that_do_not_throw_an_error():
    runnable("javascript")
    tests = "console.assert(add(1, 2) === 4, 'add(1, 2) is 4');"  # console.assert only prints
    printed = run_tests("javascript", CASES["javascript"]["solution"], tests, timeout_s=TIMEOUT_S)
    assert (printed.status, printed.reason) == ("failed", "Assertion failed: add(1, 2) is 4")
    thrown = run_tests("javascript", "function add(a, b) { throw 'boom'; }", "add(1, 2);", timeout_s=TIMEOUT_S)
    assert thrown.status == "failed" and thrown.reason.startswith("boom")


def test_a_missing_toolchain_is_not_executed_never_a_pass(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing on PATH: no node
    assert toolchain_missing("javascript") == "node not installed"
    case = CASES["javascript"]
    assert run_tests("javascript", case["solution"], case["tests"], timeout_s=TIMEOUT_S).status == "not_executed"
    row = {"task_name": "code_generation", "language": "javascript", "target_language": None, "code": "",
           "instruction": "Write add in JavaScript.", "information": "", "solution": case["solution"],
           "tests": case["tests"]}
    verdicts, status = execution_verdicts(row, timeout_s=TIMEOUT_S)
    assert status == "not_executed"
    assert verdicts == {"tests_pass": {"answer": "n/a", "reason": "not executed: node not installed"}}
    repair_row = row | {"task_name": "code_repair", "information": case["solution"]}
    repair, _ = execution_verdicts(repair_row, timeout_s=TIMEOUT_S)
    assert {v["answer"] for v in repair.values()} == {"n/a"} and set(repair) == {"tests_pass", "repair_fixes_bug"}
    assert toolchain_missing("cobol") == "no runner for cobol"


def test_no_tests_and_text_solutions_are_not_executed():
    row = {"task_name": "code_generation", "language": "python", "target_language": None, "code": "",
           "instruction": "Write add in Python.", "information": "", "solution": CASES["python"]["solution"],
           "tests": None}
    assert execution_verdicts(row, timeout_s=TIMEOUT_S) == (
        {"tests_pass": {"answer": "n/a", "reason": "not executed: no tests"}}, "not_executed")
    summary = row | {"task_name": "code_summarization", "solution": "It adds two numbers.", "tests": "assert False"}
    verdicts, status = execution_verdicts(summary, timeout_s=TIMEOUT_S)
    assert status is None and verdicts["tests_pass"]["answer"] == "n/a"


@pytest.mark.parametrize("language", OPTIONAL)
def test_other_toolchains_where_installed(language):
    runnable(language)
    solution, tests = OPTIONAL[language]
    assert run_tests(language, solution, tests, timeout_s=TIMEOUT_S).passed
    wrong = run_tests(language, solution.replace("+", "-"), tests, timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and "add(1, 2)" in wrong.reason.lower(), wrong


def test_a_test_instruction_for_every_language():
    # (imported through the module: pytest would collect a test_* / tests_* name imported here as a test)
    assert "assert statements" in execution.tests_requirement("python")
    assert set(TEST_STYLES) == set(LANGUAGES)
    assert all("\n" not in execution.tests_requirement(language) for language in LANGUAGES)


def test_javascript_tests_that_use_assert_without_requiring_it_get_the_require_line():
    runnable("javascript")
    tests = "assert.strictEqual(inc(2), 3);"
    assert run_tests("javascript", "function inc(x) { return x + 1; }", tests, timeout_s=TIMEOUT_S).passed
    wrong = run_tests("javascript", "function inc(x) { return x + 2; }", tests, timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and "ERR_ASSERTION" in wrong.reason
    # a solution that requires assert itself keeps its own line (a second `const assert` would not compile)
    own = "const assert = require('node:assert');\nfunction inc(x) { return x + 1; }"
    assert run_tests("javascript", own, tests, timeout_s=TIMEOUT_S).passed


def test_java_bare_asserts_without_semicolons_still_run():
    runnable("java")
    solution = "public static int inc(int x) { return x + 1; }"
    assert run_tests("java", solution, "assert inc(1) == 2\nassert inc(2) == 3;", timeout_s=TIMEOUT_S).passed
    wrong = run_tests("java", solution, "assert inc(1) == 5", timeout_s=TIMEOUT_S)
    assert wrong.status == "failed" and "AssertionError" in wrong.reason


def test_expected_values_come_from_the_reference_code():
    reference = "def leapdays(y1, y2):\n    return (y2 // 4 - y1 // 4) - (y2 // 100 - y1 // 100)"
    tests = ("assert leapdays(2000, 2004) == 6\n"  # a guessed value, wrong: the reference says 1
             "assert not leapdays(2001, 2003)\n"  # bare and negated checks become == checks
             "import math\n"  # setup is kept as written
             "assert leapdays(0, 8) > 1\n"  # other comparisons too
             "assert leapdays(1, 'a') == 3\n"  # raises on the reference: dropped
             "assert leapdays(")  # cut off: dropped
    grounded = execution.ground_tests(reference, tests, timeout_s=TIMEOUT_S)
    assert grounded.tests.splitlines() == ["assert leapdays(2000, 2004) == 1", "assert leapdays(2001, 2003) == 0",
                                           "import math", "assert leapdays(0, 8) > 1"]
    assert (grounded.computed, grounded.rewritten, len(grounded.dropped)) == (2, 2, 2)
    assert "TypeError on the reference" in grounded.dropped[0] and "does not parse" in grounded.dropped[1]
    assert run_tests("python", reference, grounded.tests, timeout_s=TIMEOUT_S).passed
    # nothing to compute (the tests call a function the reference does not have), or a reference that fails
    assert execution.ground_tests(reference, "assert mean([1]) == 1", timeout_s=TIMEOUT_S).tests is None
    broken = execution.ground_tests("raise SystemExit(3)", tests, timeout_s=TIMEOUT_S)
    assert broken.tests is None and "did not run" in broken.dropped[0]


def test_javascript_expected_values_come_from_the_python_source():
    runnable("javascript")
    source = "def count_calls(callers):\n    nc = 0\n    for calls in callers.values():\n        nc += calls\n    return nc"
    tests = ("const assert = require('assert');\n"
             "assert.strictEqual(count_calls({1: 2, 2: 3}), 6);\n"  # guessed wrong: 5
             "assert.equal(count_calls({}), 0);\n"
             "assert.strictEqual(count_calls({a: 1}), 1);\n"  # no Python literal: dropped
             "assert.strictEqual(countCalls({}), 0);")  # another name than the source's: dropped
    grounded = execution.ground_tests(source, tests, test_language="javascript", timeout_s=TIMEOUT_S)
    assert grounded.tests.splitlines() == ["const assert = require('assert');",
                                           "assert.deepStrictEqual(count_calls({1: 2, 2: 3}), 5);",
                                           "assert.deepStrictEqual(count_calls({}), 0);"]
    assert (grounded.computed, len(grounded.dropped)) == (2, 2)
    translation = ("function count_calls(callers) {\n  let nc = 0;\n  for (const k in callers) {\n"
                   "    nc += callers[k];\n  }\n  return nc;\n}")
    assert run_tests("javascript", translation, grounded.tests, timeout_s=TIMEOUT_S).passed
    assert not run_tests("javascript", translation.replace("nc += ", "nc -= "), grounded.tests,
                         timeout_s=TIMEOUT_S).passed
    with pytest.raises(ValueError, match="no expected values"):
        execution.ground_tests(source, tests, test_language="java", timeout_s=TIMEOUT_S)


def test_tests_that_do_not_parse_or_compile_are_told_from_failed_assertions():
    def no(reason: str) -> dict:
        return {"answer": "no", "reason": reason}

    assert uncompilable_tests(no("tests failed: SyntaxError: invalid syntax (line 4: assert f(1) = 2)"))
    assert uncompilable_tests(no("tests failed: Main.java:17: error: illegal start of expression"))
    assert uncompilable_tests(no("tests failed: ./main.go:12:5: undefined: g"))
    assert not uncompilable_tests(no("tests failed: AssertionError (line 24: assert leapdays(2000, 2023) == 4)"))
    assert not uncompilable_tests({"answer": "yes", "reason": "solution + tests pass"})
    # the real toolchains' words: a test line that does not parse, in Python and in Node
    for language, tests in (("python", "assert double(2) = 4"), ("javascript", "console.assert(double(2) === 4;")):
        solution = "def double(x):\n    return 2 * x" if language == "python" else "function double(x) { return 2 * x; }"
        if toolchain_missing(language):
            continue
        verdicts, _ = execution_verdicts({"task_name": "code_generation", "language": language, "solution": solution,
                                          "tests": tests}, timeout_s=10)
        assert uncompilable_tests(verdicts["tests_pass"]), verdicts
