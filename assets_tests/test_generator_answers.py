"""Generator answers cut off by the token limit, the retry of an unparseable answer, and the revision of an answer
rejected by code."""

from __future__ import annotations

import dataclasses
import json

import polars as pl

from assets_tests.scripted_endpoint import ScriptedEndpoint
from wavecoder_assets.generate.examples import ExampleStore
from wavecoder_assets.generate.loop import (
    RETRY_TEMPERATURE,
    LoopSettings,
    PlannedExample,
    _generated_row,
    _generation_request,
    quality_metrics,
    run_generator_discriminator,
)
from wavecoder_assets.generate.tasks import close_cut_tests
from wavecoder_assets.llm import ChatResult

SOLUTION = 'def quote(s):\n    return "\\"" + s + "\\""'
TESTS = "assert quote('a') == '\"a\"'\nassert quote('') == '\"\"'\nassert quote('b') == ['b', 31, 31, 31"
ANSWER = json.dumps({"task_name": "code_generation", "instruction": "Write a Python function quote(s).",
                     "information": "", "solution": SOLUTION, "tests": TESTS})
CUT = ANSWER[:-6]  # inside the third test line, as a runaway list is cut


def test_a_cut_inside_the_tests_keeps_the_complete_test_lines():
    closed = json.loads(close_cut_tests(CUT))
    assert closed["tests"] == "\n".join(TESTS.splitlines()[:2])
    assert closed["solution"] == SOLUTION  # escaped quotes before the cut survive


def test_cuts_that_leave_no_whole_test_or_fall_elsewhere_are_not_closed():
    assert close_cut_tests(ANSWER) is None  # not cut
    assert close_cut_tests(ANSWER[:ANSWER.index('\\nassert')]) is None  # inside the first test line
    assert close_cut_tests(ANSWER[:ANSWER.index('"tests"') - 5]) is None  # inside the solution
    assert close_cut_tests(CUT[:CUT.rindex("31") + 2] + "\\") is not None  # cut right after a backslash


ITEM = PlannedExample(example_id="e1", source_id="s1", task_name="code_generation", language="python",
                      target_language=None, code="def quote(s):\n    return '\"' + s + '\"'", given=None,
                      summary="Quote a string.", round=0, with_tests=True)


def _result(text: str, finish_reason: str) -> ChatResult:
    return ChatResult(key="e1", text=text, error=None, model="gen", finish_reason=finish_reason)


def test_a_cut_answer_with_whole_tests_parses_and_one_without_is_unparseable():
    row = _generated_row(ITEM, _result(CUT, "length"), 1)
    assert row.status == "ok" and row.tests.count("assert") == 2
    cut_in_solution = ANSWER[:ANSWER.index('"tests"') - 5]
    row = _generated_row(ITEM, _result(cut_in_solution, "length"), 1)
    assert row.status == "unparseable" and "cut off" in row.error
    java = dataclasses.replace(ITEM, language="java")  # a Java test program cut anywhere does not compile: never closed
    assert _generated_row(java, _result(CUT, "length"), 1).status == "unparseable"


def test_the_retry_samples_with_other_few_shot_examples():
    store = ExampleStore()
    for i in range(6):  # several good examples of the task, so the two draws can differ
        store.add(store.good[0] | {"instruction": f"Write a Python function number {i}."})
    settings = LoopSettings(few_shot_good=1, few_shot_bad=0)
    first, retry = (_generation_request(ITEM, store, settings, attempt) for attempt in (0, 1))
    assert first.temperature == 0.0 and retry.temperature == RETRY_TEMPERATURE
    assert first.seed != retry.seed
    assert first.messages != retry.messages


ROOT = "def root(x):\n    return math.sqrt(x)"


def _generator_answer(body: dict) -> str:
    """Forgets the import, until told why that answer was rejected."""
    told = body["messages"][-1]["content"].startswith("That answer was rejected")
    return json.dumps({"task_name": "code_generation", "instruction": "Write a Python function root(x) that returns "
                       "the square root of x.", "information": "", "tests": "assert root(9) == 3",
                       "solution": ("import math\n\n" if told else "") + ROOT})


def _judge_answer(body: dict) -> str:
    yes = {"reason": "root returns the square root of x, as asked", "answer": "yes"}
    return json.dumps({"solution_resolves": yes, "instruction_relevant": yes})


def test_an_answer_rejected_by_code_is_sent_back_once_with_the_reasons():
    sources = pl.DataFrame({"id": ["s1"], "language": ["python"], "rank": [0],
                            "code": ["def root(x):\n    import math\n    return math.sqrt(x)"],
                            "docstring": ["Square root of x."]})
    settings = LoopSettings(task_mix={"code_generation": 1.0}, rounds=1, revise_rejected=True)
    with ScriptedEndpoint(_generator_answer) as gen, ScriptedEndpoint(_judge_answer) as judge:
        generated, judged, _ = run_generator_discriminator(sources, gen.client, judge.client, settings)
        revision = gen.bodies[-1]["messages"]
    [row] = judged.to_dicts()
    assert row["verdict"] == "accepted" and row["attempts"] == 2 and row["solution"].startswith("import math")
    assert "imports_what_it_uses" in row["first_rejection"] and "math" in row["first_rejection"]
    assert generated["solution"].to_list() == [row["solution"]]
    assert len(gen.bodies) == 2 and [m["role"] for m in revision[-2:]] == ["assistant", "user"]
    assert json.loads(revision[-2]["content"])["solution"] == ROOT  # the rejected answer, then why
    assert quality_metrics(judged)["accepted_after_revision"] == 1
    assert quality_metrics(judged)["execution_pass_rate"] == 1.0
    summaries_only = judged.with_columns(task_name=pl.lit("code_summarization"), sandbox_status=pl.lit(None))
    assert quality_metrics(summaries_only)["execution_pass_rate"] is None  # nothing ran: no rate, not 0.0

    with ScriptedEndpoint(_generator_answer) as gen, ScriptedEndpoint(_judge_answer) as judge:
        _, judged, _ = run_generator_discriminator(sources, gen.client, judge.client,
                                                   settings.model_copy(update={"revise_rejected": False}))
    assert judged["verdict"].to_list() == ["rejected"] and judged["first_rejection"].to_list() == [None]
    assert len(gen.bodies) == 1


def _answer_with_tests(body: dict) -> str:
    """Tests that do not parse, until told so; the solution never changes."""
    told = body["messages"][-1]["content"].startswith("The tests in that answer do not compile")
    return json.dumps({"task_name": "code_generation", "instruction": "Write a Python function root(x) that returns "
                       "the square root of x.", "information": "", "solution": "import math\n\n" + ROOT,
                       "tests": "assert root(9) == 3" if told else "assert root(9) = 3"})


def _wrong_tests(body: dict) -> str:
    return json.dumps({"task_name": "code_generation", "instruction": "Write a Python function root(x) that returns "
                       "the square root of x.", "information": "", "solution": "import math\n\n" + ROOT,
                       # not an `assert EXPR == VALUE` line, whose value would come from the source function
                       "tests": "if root(9) != 4:\n    raise AssertionError('root(9)')"})


def test_tests_that_do_not_parse_are_written_again_once_and_the_code_kept():
    sources = pl.DataFrame({"id": ["s1"], "language": ["python"], "rank": [0],
                            "code": ["def root(x):\n    import math\n    return math.sqrt(x)"],
                            "docstring": ["Square root of x."]})
    settings = LoopSettings(task_mix={"code_generation": 1.0}, rounds=1)
    with ScriptedEndpoint(_answer_with_tests) as gen, ScriptedEndpoint(_judge_answer) as judge:
        generated, judged, _ = run_generator_discriminator(sources, gen.client, judge.client, settings)
        asked_again = gen.bodies[-1]["messages"]
    [row] = judged.to_dicts()
    assert row["verdict"] == "accepted" and row["tests_regenerated"] == 1 and row["attempts"] == 2
    # the new tests, their expected value computed on the source function (math.sqrt: 3.0)
    assert row["tests"] == "assert root(9) == 3.0" and "SyntaxError" in row["first_rejection"]
    assert json.loads(asked_again[-2]["content"])["tests"] == "assert root(9) = 3"  # the answer, then its error
    assert "SyntaxError" in asked_again[-1]["content"] and len(gen.bodies) == 2
    assert quality_metrics(judged)["tests_regenerated"] == quality_metrics(judged)["accepted_with_regenerated_tests"] == 1
    assert quality_metrics(judged)["revised"] == 0

    # a failed assertion is a verdict on the code, not broken tests: not asked again
    with ScriptedEndpoint(_wrong_tests) as gen, ScriptedEndpoint(_judge_answer) as judge:
        _, judged, _ = run_generator_discriminator(sources, gen.client, judge.client, settings)
    assert judged["verdict"].to_list() == ["rejected"] and judged["tests_regenerated"].to_list() == [0]
    assert len(gen.bodies) == 1
    with ScriptedEndpoint(_answer_with_tests) as gen, ScriptedEndpoint(_judge_answer) as judge:
        _, judged, _ = run_generator_discriminator(sources, gen.client, judge.client,
                                                   settings.model_copy(update={"regenerate_broken_tests": False}))
    assert judged["verdict"].to_list() == ["rejected"] and len(gen.bodies) == 1
