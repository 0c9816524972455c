"""behaves_like_source: a generation or translation no test decided runs beside its source on inputs the judge
wrote (differential.py), in the real sandbox (Python always; node and javac where installed), and in the
discriminator against a scripted OpenAI-compatible endpoint (a real HTTP server, the real ChatClient)."""

from __future__ import annotations

import json
import shutil

import pytest

from assets_tests.scripted_endpoint import ScriptedEndpoint
from wavecoder_assets.generate import contrastive as C
from wavecoder_assets.generate import differential as D
from wavecoder_assets.generate.calibration import judge_decided
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate, rule_kind
from wavecoder_assets.languages import parameter_names

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node not installed")
needs_java = pytest.mark.skipif(shutil.which("javac") is None, reason="javac not installed")

SUM_SQUARES = '''def sum_squares(lst):
    total = 0
    for i, x in enumerate(lst):
        total += x ** 2 if i % 3 == 0 else x ** 3 if i % 4 == 0 else x
    return total
'''
# Another problem's code under the asked name: passes for a list of one element, not for longer ones.
OTHER_PROBLEM = '''def sum_squares(lst):
    import math
    return sum(math.ceil(x) ** 2 for x in lst)
'''
INPUTS = [[[1, 2, 3]], [[]], [[-1, -5, 2, -1, -5]], [[2]], ["not a list"]]


def run(language: str, code: str, inputs=INPUTS) -> D.Results:
    return D.results(language, code, D.callee(code, language, "sum_squares"), inputs, timeout_s=10)


def test_another_functions_code_under_the_asked_name_differs_and_the_first_differing_input_is_named():
    source = run("python", SUM_SQUARES)
    assert source.results[0] == {"ok": 6} and source.results[4] == {"raised": "TypeError"}
    verdict = D.verdict(INPUTS, source, run("python", OTHER_PROBLEM), "sum_squares")
    assert verdict["answer"] == "no"
    assert verdict["reason"].startswith("2 of 4 inputs differ: sum_squares([1, 2, 3]) gives 14, the source 6")


def test_the_same_behaviour_written_differently_matches_and_inputs_the_source_rejects_are_dropped():
    rewritten = '''def sum_squares(lst):
    """Helpers and prints do not matter: only the results are compared."""
    print("computing")
    return sum(x * x if i % 3 == 0 else (x * x * x if i % 4 == 0 else x) for i, x in enumerate(lst)) * 1.0
'''
    verdict = D.verdict(INPUTS, run("python", SUM_SQUARES), run("python", rewritten), "sum_squares")
    assert verdict == {"answer": "yes", "reason": "the same results as the source on 4 inputs (3 off its most common "
                                                  "result)"}


def test_inputs_that_get_one_answer_from_the_source_do_not_pass_a_row():
    fraction = "def simplify(x, n):\n    a, b = x.split('/'), n.split('/')\n    return int(a[0]) * int(b[0]) % (int(a[1]) * int(b[1])) == 0\n"
    substring = "def simplify(x, n):\n    return n in x + x\n"
    never_whole = [["1/2", "2/4"], ["3/5", "5/7"], ["1/3", "3/6"], ["1/4", "4/8"]]
    run_on = lambda code, inputs: D.results("python", code, "simplify", inputs, timeout_s=10)
    undecided = D.verdict(never_whole, run_on(fraction, never_whole), run_on(substring, never_whole), "simplify")
    assert undecided == {"answer": "n/a", "reason": "not decided: the same results on 4 inputs, too few or all but "
                                                    "0 of them one answer"}
    one_whole = never_whole + [["1/1", "1/1"]]  # whole, and a substring too: one exception proves little
    assert D.verdict(one_whole, run_on(fraction, one_whole), run_on(substring, one_whole),
                     "simplify")["answer"] == "n/a"
    two_whole = one_whole + [["2/1", "1/2"]]
    assert D.verdict(two_whole, run_on(fraction, two_whole), run_on(fraction.replace("% (", "%  ("), two_whole),
                     "simplify") == {"answer": "yes", "reason": "the same results as the source on 6 inputs (2 off "
                                                                "its most common result)"}
    other_whole = never_whole + [["2/1", "3/1"]]
    assert D.verdict(other_whole, run_on(fraction, other_whole), run_on(substring, other_whole),
                     "simplify")["answer"] == "no"


def test_too_few_inputs_the_source_ran_on_leave_the_row_undecided_and_a_broken_solution_is_rejected():
    few = [["a"], [None], [[1]]]
    assert D.verdict(few, run("python", SUM_SQUARES, few), run("python", OTHER_PROBLEM, few),
                     "sum_squares")["answer"] == "n/a"
    broken = D.verdict(INPUTS, run("python", SUM_SQUARES), run("python", "def sum_squares(lst)\n    return 0\n"),
                       "sum_squares")
    assert broken["answer"] == "no" and "did not run" in broken["reason"]


def test_a_function_that_never_returns_on_one_input_keeps_the_results_before_it():
    looping = "def sum_squares(lst):\n    while len(lst) == 0:\n        pass\n    return 6\n"
    results = D.results("python", looping, "sum_squares", INPUTS, timeout_s=2)
    assert results.results[0] == {"ok": 6} and results.results[1] is None
    verdict = D.verdict(INPUTS, run("python", SUM_SQUARES), results, "sum_squares")
    assert verdict["answer"] == "no" and "sum_squares([]) gives no result" in verdict["reason"]


def test_boundary_variants_set_one_argument_to_an_edge_of_its_type_the_kinds_in_turn():
    # calls alike, as the 1.5B judge wrote them for hls_to_rgb: l is 0.5 in every one
    alike = [[0.5, 0.5, s] for s in (1.0, 0.0, 0.9)]
    assert D.boundary_variants(alike, limit=6) == [[1.0, 0.5, 1.0], [0.5, 1.0, 1.0], [0.5, 0.5, 0.5],
                                                   [1.0, 0.5, 0.0], [0.5, 1.0, 0.0], [1.0, 0.5, 0.9]]
    # 0 and -1 only where the judge went that low: h and l stayed at 0.5, s went down to 0.0
    assert not any(v[0] <= 0 or v[1] <= 0 or v[2] < 0 for v in D.boundary_variants(alike, limit=50))
    assert D.boundary_variants([[3], [5], [1]]) == [] and D.boundary_variants([[3], [0]]) == [[1]]
    assert D.boundary_variants(alike, limit=0) == []
    assert len(D.boundary_variants([["hello world", "world", "!"]] * 2 + [["a", "b", "c"]])) == D.VARIANTS
    # an int set to another small int argument (the radix) comes second; 12345 is no value for the radix
    radix = D.boundary_variants([[12345, 8], [-12345, 8], [0, 8]])
    assert radix[:3] == [[8, 8], [1, 8], [-1, 8]] and [8, 12345] not in radix and [0, 8] not in radix
    # a string: empty, another string argument, its first character; a list: empty, its first item; a boolean
    assert D.boundary_variants([["hello world", "world", "!"]], limit=7) == [
        ["", "world", "!"], ["world", "world", "!"], ["h", "world", "!"], ["hello world", "", "!"],
        ["!", "world", "!"], ["hello world", "w", "!"], ["hello world", "world", ""]]
    assert D.boundary_variants([[[3, 1, 2], True, None]]) == [[[], True, None], [[3], True, None],
                                                            [[3, 1, 2], False, None]]


REPLACE_SUFFIX = '''def replace_suffix(text, old, new):
    if not old:
        return text + new
    return text[:-len(old)] + new if text.endswith(old) else text
'''
# misses the empty suffix the source handles: text[:-0] is ''
MISSES_EMPTY = "def replace_suffix(text, old, new):\n    return text[:-len(old)] + new if text.endswith(old) else text\n"


def test_a_boundary_variant_catches_what_the_judges_inputs_all_miss_and_is_named():
    inputs = [["hello world", "world", "there"], ["report.txt", ".txt", ".md"], ["abc", "x", "y"]]
    run_on = lambda code, variants: D.results_with_variants("python", code, "replace_suffix", inputs, variants,
                                                            timeout_s=10)
    assert D.verdict(inputs, run_on(REPLACE_SUFFIX, []), run_on(MISSES_EMPTY, []), "replace_suffix")["answer"] \
        == "yes"  # the judge's inputs alone pass it
    variants = D.boundary_variants(inputs)
    caught = D.verdict(inputs + variants, run_on(REPLACE_SUFFIX, variants), run_on(MISSES_EMPTY, variants),
                       "replace_suffix", len(variants))
    assert caught["answer"] == "no" and "replace_suffix(\"hello world\", \"\", \"there\") gives \"there\"" in \
        caught["reason"]
    same = D.verdict(inputs + variants, run_on(REPLACE_SUFFIX, variants), run_on(REPLACE_SUFFIX, variants),
                     "replace_suffix", len(variants))
    assert same == {"answer": "yes", "reason": f"the same results as the source on 3 inputs (2 off its most common "
                                               f"result) and on {len(variants)} boundary variants of them"}


def test_on_a_boundary_variant_only_two_returned_values_in_the_domain_can_differ():
    """Outside the judge's inputs the function may be outside its domain: a right translation that raises on "",
    or returns [] where the JavaScript source computes NaN from a missing item, is not rejected for it."""
    inputs, variants = [[[1, 2], [1, 3]], [[4], [4]], [[0, 5], [2, 5]]], [[[], [1, 3]], [[1, 2], []]]
    source = D.Results([{"ok": [0, 1]}, {"ok": [0]}, {"ok": [2, 0]}, {"ok": ["NaN", "NaN"]}, {"ok": [None, None]}])
    right = D.Results([{"ok": [0, 1]}, {"ok": [0]}, {"ok": [2, 0]}, {"ok": []}, {"raised": "IndexError"}])
    assert D.verdict(inputs + variants, source, right, "compare", len(variants))["answer"] == "yes"
    clean = D.Results(source.results[:3] + [{"ok": [1, 3]}, {"ok": [1, 2]}])
    nan_in_solution = D.Results(right.results[:3] + [{"ok": [1, 3]}, {"ok": ["NaN", "NaN"]}])  # either side's NaN
    assert D.verdict(inputs + variants, clean, nan_in_solution, "compare", len(variants))["answer"] == "yes"
    on_judged = D.Results([{"ok": [0, 1]}, {"ok": [0]}, {"raised": "IndexError"}, {"ok": []}, {"ok": []}])
    assert D.verdict(inputs + variants, source, on_judged, "compare", len(variants))["answer"] == "no"
    wrong = D.Results(right.results[:3] + [{"ok": [1, 3]}, {"ok": [0, 0]}])
    assert D.verdict(inputs + variants, clean, wrong, "compare", len(variants))["reason"].startswith(
        "1 of 5 inputs differ: compare([1, 2], []) gives [0, 0], the source [1, 2]")


def test_agreeing_on_boundary_variants_alone_does_not_pass_a_row():
    """Another function renamed (a prefix for a suffix) agrees on edges ("", two equal strings): they show
    differences, but whether agreement tells is judged on the judge's inputs alone."""
    suffix = "def common_suffix(a, b):\n    n = 0\n    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:\n" \
             "        n += 1\n    return a[len(a) - n:]\n"
    prefix = "def common_suffix(a, b):\n    n = 0\n    while n < min(len(a), len(b)) and a[n] == b[n]:\n" \
             "        n += 1\n    return a[:n]\n"
    inputs = [["cat", "dog"], ["abc", "xyz"], ["lion", "bear"]]  # no common prefix or suffix: all ""
    variants = [["", "dog"], ["cat", ""], ["cat", "cat"], ["abc", "abc"], ["lion", "lion"]]
    run_on = lambda code: D.results_with_variants("python", code, "common_suffix", inputs, variants, timeout_s=10)
    undecided = D.verdict(inputs + variants, run_on(suffix), run_on(prefix), "common_suffix", len(variants))
    assert undecided == {"answer": "n/a", "reason": "not decided: the same results on 3 inputs, too few or all but 0 "
                                                    "of them one answer (and on 5 boundary variants)"}


def test_a_variant_that_never_returns_costs_only_the_variants_results():
    hangs_on_zero = "def count_down(n):\n    while n != 0:\n        n -= 2\n    return 'done'\n"
    results = D.results_with_variants("python", hangs_on_zero, "count_down", [[4], [6]], [[-1], [1]], timeout_s=2)
    assert results.results == [{"ok": "done"}, {"ok": "done"}, None, None] and results.error is None


def test_inputs_are_asked_by_parameter_name_and_read_back_in_the_parameters_order():
    assert D.parse_inputs('{"inputs": [{"b": 2, "a": 1}, {"a": 1, "b": 2}, {"a": 3}, [4, 5], {"a": [], "b": ""}]}',
                          ["a", "b"]) == [[1, 2], [[], ""]]
    cut = '{"inputs": [{"a": 1, "b": [2]}, {"a": "x", "b": []} , {"a": 3, "b": [4, 5, 6'  # the token limit
    assert D.parse_inputs(cut, ["a", "b"]) == [[1, [2]], ["x", []]]
    for text in ('{"inputs": []}', "no json", '{"calls": [{"a": 1, "b": 2}]}'):
        with pytest.raises(ValueError):
            D.parse_inputs(text, ["a", "b"])
    assert parameter_names("def f(a, b: int, c=1, *, d: str = 'x'):\n    pass", "python", "f") is None  # keyword-only
    assert parameter_names("def f(a, b: int, c=1, d: str = 'x'):\n    pass", "python", "f") == ["a", "b", "c", "d"]
    assert parameter_names("const f = (a, b = 2) => a", "javascript", "f") == ["a", "b"]
    assert parameter_names("const f = a => a", "javascript", "f") == ["a"]
    assert parameter_names("function f(a, {b}) {}", "javascript", "f") is None
    assert parameter_names("class S { int f(List<Integer> xs, int k) { return k; } }", "java", "f") == ["xs", "k"]
    request = D.inputs_request(generation(SUM_SQUARES), key="k", seed=0)
    item = request.response_format["schema"]["properties"]["inputs"]["items"]
    assert item["required"] == ["lst"] and item["additionalProperties"] is False
    assert "array" in item["properties"]["lst"]["type"]  # not {}: llama.cpp's grammar reads that as an object
    assert D.inputs_request(generation("x", code="def f(*args):\n    return args"), key="k", seed=0) is None


@needs_node
def test_a_javascript_source_checks_its_python_translation_with_a_changed_constant():
    source = "export const fixSpaces = (text) => {\n  return text.replace(/ {3,}/g, '-').replace(/ /g, '_')\n}"
    right = "import re\ndef fix_spaces(text):\n    return re.sub(' {3,}', '-', text).replace(' ', '_')\n"
    wrong = "import re\ndef fix_spaces(text):\n    return re.sub(' {2,}', '-', text).replace(' ', '_')\n"
    inputs = [["Example"], ["Example 1"], [" Example  2"], [" Example   3"]]
    ran = D.results("javascript", source, D.callee(source, "javascript", None), inputs, timeout_s=10)
    assert D.callee(right, "python", "fixSpaces") == "fix_spaces"  # the target's naming convention
    assert D.verdict(inputs, ran, D.results("python", right, "fix_spaces", inputs, timeout_s=10),
                     "fixSpaces")["answer"] == "yes"
    verdict = D.verdict(inputs, ran, D.results("python", wrong, "fix_spaces", inputs, timeout_s=10), "fixSpaces")
    assert verdict["answer"] == "no" and 'fixSpaces(" Example  2") gives "_Example-2"' in verdict["reason"]


@needs_java
def test_java_arguments_follow_the_declared_parameter_types():
    source = ("import java.util.*;\nclass Solution {\n    public int canArrange(List<Integer> arr) {\n"
              "        int ind = -1;\n        for (int i = 1; i < arr.size(); i++) if (arr.get(i) < arr.get(i - 1)) "
              "ind = i;\n        return ind;\n    }\n}\n")
    first_drop = source.replace("ind = i;", "{ ind = i; break; }")
    inputs = [[[1, 2, 4, 3, 5]], [[1, 2, 3]], [[5, 4, 3, 2, 1]], ["text"]]
    ran = D.results("java", source, "canArrange", inputs, timeout_s=10)
    assert ran.results[:3] == [{"ok": 3}, {"ok": -1}, {"ok": 4}]
    assert ran.results[3] == {"raised": "the input does not fit its parameter types"}
    verdict = D.verdict(inputs, ran, D.results("java", first_drop, "canArrange", inputs, timeout_s=10), "canArrange")
    assert verdict["answer"] == "no" and "canArrange([5, 4, 3, 2, 1]) gives 1, the source 4" in verdict["reason"]
    static = "public static double mean(int[] xs, String label) {\n    return xs.length == 0 ? 0 : 1.0 * xs[0];\n}"
    assert D.results("java", static, "mean", [[[3, 4], "a\"b\n"]], timeout_s=10).results == [{"ok": 3.0}]


def inputs_writer(body: dict) -> str:
    """Writes inputs when asked for them (and says yes to the semantic rules, picks 1 in a contrastive ask)."""
    if body["messages"][0]["content"].startswith("You write test inputs"):
        return json.dumps({"inputs": [{"lst": args[0]} for args in INPUTS]})
    if body["messages"][0]["content"] in C.SYSTEMS.values():
        return json.dumps({"reason": "the first", "answer": 1})
    yes = {"reason": "fine", "answer": "yes"}
    return json.dumps({"solution_resolves": yes, "instruction_relevant": yes})


def generation(solution: str, **extra) -> dict:
    return {"example_id": f"gen-{len(solution)}", "source_id": "s", "task_name": "code_generation",
            "language": "python", "target_language": None, "code": SUM_SQUARES, "information": None,
            "instruction": "Write a Python function `sum_squares(lst)` that squares entries at indices divisible by "
                           "3, cubes those at indices divisible by 4 but not 3, and sums all entries.",
            "solution": solution, "tests": None, **extra}


def test_the_discriminator_rejects_an_untested_generation_that_differs_from_its_source():
    settings = DiscriminatorSettings(judge_few_shot_good=0, judge_few_shot_bad=0)
    rows = [generation(OTHER_PROBLEM), generation(SUM_SQUARES.replace("total", "acc")),
            generation(OTHER_PROBLEM, tests="assert sum_squares([2]) == 4")]
    with ScriptedEndpoint(inputs_writer) as judge:
        other, same, tested = discriminate(rows, judge.client, settings)
        asked = [b for b in judge.bodies if b["messages"][0]["content"].startswith("You write test inputs")]
    assert other.verdict == "rejected" and other.failed_rules == [D.RULE]
    assert same.verdict == "accepted" and same.rule_verdicts[D.RULE]["answer"] == "yes"
    assert C.RULES["code_generation"][0] not in same.rule_verdicts  # running decided it: no contrastive ask
    # ... and the judge is not asked whether the solution does what its source does; only whether the instruction fits
    assert "solution_resolves" not in same.rule_verdicts and "instruction_relevant" in same.rule_verdicts
    # Its own test passes (one element: squared either way), yet it is another problem's code: the run beside the
    # source rejects it all the same.
    assert tested.rule_verdicts["tests_pass"]["answer"] == "yes"
    assert tested.verdict == "rejected" and tested.failed_rules == [D.RULE]
    # One source, one ask: the three rows share their source's inputs (the client sends a request once).
    assert len(asked) == 1 and "def sum_squares(lst)" in asked[0]["messages"][-1]["content"]
    assert rule_kind(D.RULE) == "execution"
    assert judge_decided(rows, [other, same, tested])[0] == []  # execution decided all three, not the judge
    with ScriptedEndpoint(inputs_writer) as judge:
        tests_only = discriminate(rows[2:], judge.client, settings.model_copy(update={
            "differential_after_tests": False}))[0]
    assert tests_only.verdict == "accepted" and D.RULE not in tests_only.rule_verdicts
    assert "solution_resolves" in tests_only.rule_verdicts  # the judge was asked, as before
    off = discriminate(rows[:1], None, settings)[0]
    assert off.verdict == "accepted" and D.RULE not in off.rule_verdicts  # no judge: no one writes inputs


AREA = "def area(width, height):\n    return width * height\n"


def summary_writer(body: dict) -> str:
    """Writes inputs, and code that does what the summary's verb says (a judge that reads the summary); picks 1 in a
    contrastive ask and says yes to the semantic rules."""
    system, text = body["messages"][0]["content"], body["messages"][-1]["content"]
    if system.startswith("You write test inputs"):
        return json.dumps({"inputs": [{"width": w, "height": h} for w, h in ((2, 3), (4, 5), (2, 2), (0, 7))]})
    if system.startswith("You write code from descriptions"):
        assert "`def area(width, height)`" in text  # the signature, from the source
        body_of = {"multiplies": "width * height", "adds": "width + height", "crashes": "undefined_name"}
        verb = next(verb for verb in body_of if verb in text)
        return f"Sure:\n```python\ndef area(width, height):\n    return {body_of[verb]}\n```\nThat is it."
    if system in C.SYSTEMS.values():
        return json.dumps({"reason": "the first", "answer": 1})
    yes = {"reason": "fine", "answer": "yes"}
    return json.dumps({"solution_resolves": yes, "instruction_relevant": yes})


def summary(text: str) -> dict:
    return {"example_id": f"sum-{text[:12]}", "source_id": "area", "task_name": "code_summarization",
            "language": "python", "target_language": None, "code": AREA, "information": AREA, "tests": None,
            "instruction": "Summarize what the following Python function does.", "solution": text}


def test_a_summary_is_checked_by_code_written_from_it_when_summary_rewrite_share_is_set():
    rows = [summary("The function multiplies width and height."), summary("The function adds width and height."),
            summary("The function crashes.")]
    with ScriptedEndpoint(summary_writer) as judge:
        right, wrong, unwritable = discriminate(rows, judge.client, DiscriminatorSettings(
            judge_few_shot_good=0, judge_few_shot_bad=0, summary_rewrite_share=0.75))
        off = discriminate(rows[1:2], judge.client, DiscriminatorSettings(judge_few_shot_good=0, judge_few_shot_bad=0))
        alone = discriminate(rows[1:2], judge.client, DiscriminatorSettings(
            judge_few_shot_good=0, judge_few_shot_bad=0, summary_rewrite_share=0.75, differential=False))
    assert right.verdict == "accepted" and right.rule_verdicts[D.SUMMARY_RULE] == {
        "answer": "yes", "reason": "code written from the summary gives the source's results on 4 of 4 inputs"}
    assert wrong.verdict == "rejected" and wrong.failed_rules == [D.SUMMARY_RULE]
    assert "on 1 of 4 inputs" in wrong.rule_verdicts[D.SUMMARY_RULE]["reason"]  # 2 + 2 == 2 * 2
    assert unwritable.rule_verdicts[D.SUMMARY_RULE]["answer"] == "n/a"  # the judge's slip is not the summary's
    assert "NameError" in unwritable.rule_verdicts[D.SUMMARY_RULE]["reason"]
    assert off[0].verdict == "accepted" and D.SUMMARY_RULE not in off[0].rule_verdicts  # 0: the rule is off
    assert alone[0].failed_rules == [D.SUMMARY_RULE]  # it does not hang on the code rows' `differential`
    assert rule_kind(D.SUMMARY_RULE) == "execution"
