"""The generator-discriminator stage: parser and post-filters, task mix, judge parsing and checks, the example
store, decontamination, CodeOcean accounting; materializations against the fault-injecting OpenAI-compatible
test server (every candidate accounted for, a kill -9 rerun repays nothing cached); one short real-model run."""

from __future__ import annotations

import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.conftest import REPO_ROOT
from assets_tests.test_partitions import all_shards
from wavecoder_assets.assets import generate as gen_assets
from wavecoder_assets.benchmark_data import MBPP_DIR
from wavecoder_assets.generate import execution
from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.decontaminate import build_index, decontaminate, humaneval_texts, mbpp_texts
from wavecoder_assets.generate.discriminator import COPY_RULE, DiscriminatorSettings, discriminate
from wavecoder_assets.generate.examples import ExampleStore
from wavecoder_assets.generate.loop import JUDGED_SCHEMA, LoopSettings, run_generator_discriminator
from wavecoder_assets.generate.ocean import build_code_ocean, outcome_counts
from wavecoder_assets.generate.tasks import (
    PAPER_TASK_MIX,
    Rejected,
    assign_tasks,
    generator_messages,
    given_code,
    max_tokens_for,
    output_schema,
    parse_generation,
    pick_target_language,
    signature_line,
    summary_of,
)
from wavecoder_assets.lakefiles import content_version, read_table, table_path, write_table
from wavecoder_assets.llm import ChatClient
from wavecoder_assets.llm.cache import RequestCache
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.discriminator import DiscriminatorResource
from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource
from wavecoder_assets.testing.openai_server import ThreadedServer

CODE = "def area(r):\n    \"\"\"Area of a circle.\"\"\"\n    import math\n    return math.pi * r * r"


def answer(**fields) -> str:
    base = {"task_name": "code_generation", "instruction": "Write a Python function that returns a circle's area.",
            "information": "", "solution": CODE}
    return json.dumps(base | fields)


# ---------------------------------------------------------------- parser and post-filters

def test_parser_reads_json_in_prose_fences_and_raw_newlines():
    wrapped = "Sure! Here it is:\n```json\n" + answer() + "\n```\nHope this helps."
    assert parse_generation(wrapped, "code_generation", CODE)["solution"] == CODE
    raw_newlines = answer().replace("\\n", "\n")  # small models write raw newlines inside JSON strings
    assert parse_generation(raw_newlines, "code_generation", CODE)["solution"] == CODE
    fenced = parse_generation(answer(solution="```python\n" + CODE + "\n```", tests=["assert area(1) > 3"]),
                              "code_generation", CODE)
    assert fenced["solution"] == CODE and fenced["tests"] == "assert area(1) > 3"
    stray = parse_generation(answer(tests="assert area(1) > 3`"), "code_generation", CODE)  # seen: a lone backtick
    assert stray["tests"] == "assert area(1) > 3"
    plain = ("task_name: code_generation\ninstruction: Write a Python function that returns a circle's area.\n"
             "information: None\nsolution:\n" + CODE)  # the released script's layout
    parsed = parse_generation(plain, "code_generation", CODE)
    assert parsed["information"] == "" and parsed["solution"] == CODE


@pytest.mark.parametrize("text, why", [
    ("I cannot help with that.", "no JSON object"),
    (answer(instruction="Write a function. It takes a radius. It returns the area in Python."), "3 sentences"),
    (answer(solution="  "), "solution"),
    (answer(information="Use math.pi. The radius is a float. Return a float. Round nothing."), "information has 4"),
])
def test_post_filters_reject_with_a_reason(text, why):
    with pytest.raises(Rejected, match=why):
        parse_generation(text, "code_generation", CODE)


def test_code_input_tasks_take_information_from_the_source_and_translation_must_not_copy():
    summary = parse_generation(json.dumps({"instruction": "Summarize this Python function.",
                                           "solution": "It computes the area of a circle."}), "code_summarization", CODE)
    assert summary["information"] == CODE
    with pytest.raises(Rejected, match="copy"):
        parse_generation(json.dumps({"instruction": "Translate this Python code into Go.", "solution": CODE}),
                         "code_translation", CODE)
    # a repair's buggy code and fix are given: the model's own information and solution do not count
    given = {"information": CODE.replace("r * r", "r * 2"), "solution": CODE}
    repair = parse_generation(answer(task_name="code_repair", information="x", solution="y"), "code_repair", CODE,
                              given)
    assert (repair["information"], repair["solution"]) == (given["information"], CODE)
    with pytest.raises(Rejected, match="needs the code"):
        parse_generation(answer(task_name="code_repair"), "code_repair", CODE, {"information": "", "solution": CODE})


def test_generator_prompt_has_definition_requirements_examples_then_code():
    store = ExampleStore()
    good, bad = store.sample("code_translation", 1, 1, seed=0, key="k")
    text = generator_messages("code_translation", CODE, "python", "go", good=good, bad=bad,
                              tests_instruction=None)[1]["content"]
    positions = [text.index(s) for s in ("Code translation", "Requirements:", "good examples", "bad examples",
                                         "Analysis:", "Input:\n" + CODE)]
    assert positions == sorted(positions)
    assert "into Go" in text and "tests" not in text.split("Requirements:")[1].split("good examples")[0]
    js_target = generator_messages("code_translation", CODE, "python", "javascript", good=[], bad=[],
                                   tests_instruction=execution.tests_requirement("javascript"))[1]["content"]
    assert "require('assert')" in js_target  # tests in the solution's language


def test_code_generation_is_written_from_a_summary_not_copied_from_the_code():
    text = generator_messages("code_generation", CODE, "python", None, good=[], bad=[], tests_instruction=None,
                              summary="Area of a circle.")[1]["content"]
    assert "Task summary: Area of a circle.\nFunction signature: def area(r):" in text
    assert "math.pi" not in text
    assert CODE in generator_messages("code_generation", CODE, "python", None, good=[], bad=[],
                                      tests_instruction=None)[1]["content"]  # no summary: the code itself


def test_repair_and_translation_are_given_the_python_code_without_its_docstring():
    from wavecoder_assets.generate.loop import LoopSettings, plan_examples

    code = 'def leapdays(y1, y2):\n    """Leap years in [y1, y2).\n       Assume y1 <= y2."""\n    return y2 // 4 - y1 // 4'
    bare = "def leapdays(y1, y2):\n    return y2 // 4 - y1 // 4"
    assert given_code("code_repair", code, "python") == bare
    assert given_code("code_translation", "    " + code.replace("\n", "\n    "), "python") == \
        "    " + bare.replace("\n", "\n    ")  # a method's indentation kept
    assert given_code("code_summarization", code, "python") == code  # the docstring helps a summary
    only_doc = 'def f(x):\n    """Nothing else."""'
    assert given_code("code_repair", only_doc, "python") == only_doc
    java = "/** Twice. */\nstatic int twice(int x) {\n    return 2 * x;\n}"
    assert given_code("code_repair", java, "java") == java
    sources = pl.DataFrame({"id": ["a", "b"], "language": ["python"] * 2, "code": [code, code.replace("leap", "jump")],
                            "docstring": ["Leap years in [y1, y2).", "Jump years."], "rank": [0, 1]})
    plan = plan_examples(sources, LoopSettings(task_mix={"code_repair": 0.5, "code_summarization": 0.5}))
    shown = {p.task_name: p.code for p in plan}
    assert '"""' not in shown["code_repair"] and '"""' in shown["code_summarization"]


def test_the_summary_is_the_docstrings_prose_and_the_signature_its_first_code_line():
    javadoc = "{@inheritDoc}\n<p>Returns the {@code int} value of {@link Foo#bar}.\n\n@param x the x\n@since 1.5"
    assert summary_of(javadoc) == "Returns the int value of Foo#bar."
    assert summary_of("{@inheritDoc}") is None and summary_of(None) is None
    assert summary_of("Area of a circle.\n\n    Args:\n        r: the radius") == "Area of a circle."
    assert summary_of("Area of a circle.\n:param r: the radius") == "Area of a circle."
    java = "@Override\n// the area\npublic double area(double r) {\n    return Math.PI * r * r;\n}"
    text = generator_messages("code_generation", java, "java", None, good=[], bad=[], tests_instruction=None,
                              summary="Area of a circle.")[1]["content"]
    assert "Function signature: public double area(double r) {" in text
    assert signature_line("@functools.cache\ndef area(r):\n    # squared\n    return r * r") == "def area(r):"


def test_token_budget_fits_every_field_and_a_cut_off_answer_is_not_parsed():
    from wavecoder_assets.generate.loop import PlannedExample, _generated_row
    from wavecoder_assets.generate.tasks import FIELD_MAX_CHARS, TASKS
    from wavecoder_assets.llm import ChatResult

    for task in PAPER_TASK_MIX:
        with_tests = task != "code_summarization"
        schema = output_schema(task, with_tests)
        caps = sum((FIELD_MAX_CHARS | {"solution": TASKS[task].solution_max_chars})[k] for k in schema["required"])
        assert max_tokens_for(task, with_tests) * 5 // 2 >= caps  # at 2.5 characters a token
    item = PlannedExample(example_id="e", source_id="s", task_name="code_generation", language="python",
                          target_language=None, code=CODE, given=None, summary=None, round=0, with_tests=False)
    cut = ChatResult(key="e", text=answer(), error=None, model="m", finish_reason="length")
    assert _generated_row(item, cut, 1).status == "unparseable"  # even though this text happens to parse
    whole = ChatResult(key="e", text=answer(), error=None, model="m", finish_reason="stop")
    assert _generated_row(item, whole, 1).status == "ok"


# ---------------------------------------------------------------- task mix

def test_task_mix_follows_the_paper_exactly_and_is_seeded_and_order_free():
    ids = [f"src{i}" for i in range(1000)]
    tasks = assign_tasks(ids, PAPER_TASK_MIX, seed=3)
    counts = {t: tasks.count(t) for t in PAPER_TASK_MIX}
    assert counts == {"code_generation": 570, "code_summarization": 160, "code_repair": 160, "code_translation": 110}
    shuffled = ids[:]
    random.Random(1).shuffle(shuffled)
    assert dict(zip(shuffled, assign_tasks(shuffled, PAPER_TASK_MIX, seed=3))) == dict(zip(ids, tasks))
    assert assign_tasks(ids, PAPER_TASK_MIX, seed=4) != tasks
    small = assign_tasks(ids[:40], PAPER_TASK_MIX, seed=0)
    # 40 x (.57, .16, .16, .11) = 22.8, 6.4, 6.4, 4.4: largest remainders first, ties by task name
    assert {t: small.count(t) for t in PAPER_TASK_MIX} == {"code_generation": 23, "code_summarization": 6,
                                                           "code_repair": 7, "code_translation": 4}
    assert set(assign_tasks(ids[:10], {"code_repair": 1.0}, seed=0)) == {"code_repair"}
    with pytest.raises(ValueError, match="known tasks"):
        assign_tasks(ids, {"code_golf": 1.0}, seed=0)
    targets = {pick_target_language(i, "python", 0) for i in ids}
    assert targets == {"java", "javascript", "go", "php", "ruby"}
    assert {pick_target_language(i, "java", 0, ("python", "javascript", "java")) for i in ids} == {"python",
                                                                                                    "javascript"}


# ---------------------------------------------------------------- judge

RULES = J.rules_from_dicts(J.SEMANTIC_RULES)


def test_the_most_testable_code_takes_the_tasks_that_run_it_first():
    ids = [f"src{i}" for i in range(40)]
    alone = [int(i % 8 == 0) for i in range(40)]  # 5 of 40 run alone
    tasks = assign_tasks(ids, PAPER_TASK_MIX, seed=0, testability=alone)
    assert {t: tasks.count(t) for t in PAPER_TASK_MIX} == {"code_generation": 23, "code_summarization": 6,
                                                           "code_repair": 7, "code_translation": 4}  # same quotas
    # the 5 go to repair and translation, interleaved by their quotas (7 : 4)
    assert sorted(t for t, a in zip(tasks, alone) if a) == ["code_repair"] * 3 + ["code_translation"] * 2
    many = assign_tasks(ids, PAPER_TASK_MIX, seed=0, testability=[int(i < 30) for i in range(40)])
    assert {t for t, i in zip(many, range(40)) if i >= 30} == {"code_summarization", "code_generation"}
    assert "code_summarization" not in many[:30]
    # plain values (2) before running alone (1): the 3 plain ones take repair and translation
    graded = assign_tasks(ids, PAPER_TASK_MIX, seed=0, testability=[2 if i < 3 else 1 for i in range(40)])
    assert set(graded[:3]) <= {"code_repair", "code_translation"}


def verdict(**answers) -> str:
    obj = {r.id: {"reason": "fine", "answer": answers.get(r.id, "yes")} for r in RULES}
    return "Here is my review:\n" + json.dumps(obj)


def test_judge_verdict_parsing_per_rule_and_per_task():
    parsed = J.parse_verdict(verdict(solution_resolves="no"), RULES, "code_generation")
    assert J.failed_rules(parsed) == ["solution_resolves"]
    incomplete = json.loads(verdict().split("\n", 1)[1])
    del incomplete["instruction_relevant"]
    with pytest.raises(ValueError, match="instruction_relevant"):
        J.parse_verdict(json.dumps(incomplete), RULES, "code_generation")
    with pytest.raises(ValueError, match="no JSON"):
        J.parse_verdict("yes, looks good", RULES, "code_generation")
    schema = J.verdict_schema(RULES)
    assert schema["required"] == ["solution_resolves", "instruction_relevant"]
    reason = schema["properties"]["solution_resolves"]["properties"]["reason"]
    assert reason["maxLength"] == J.REASON_MAX_CHARS  # a capped reason: the answer is never cut off
    assert J.failed_rules({"tests_pass": {"answer": "n/a", "reason": "not executed: node not installed"}}) == []


def test_rules_are_data_and_few_shot_examples_are_past_turns_with_their_analysis():
    custom = J.rules_from_dicts([{"id": "has_docstring", "text": "The solution has a docstring.",
                                  "tasks": ["code_generation"]}])
    row = {"task_name": "code_generation", "language": "python", "code": CODE, "instruction": "i",
           "information": "", "solution": CODE}
    example = row | {"instruction": "Write a Python area function.",
                     "rule_verdicts": {"has_docstring": {"answer": "no", "reason": "area has no docstring"}}}
    messages = J.judge_messages(row, custom, [example])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert "has_docstring: The solution has a docstring." in messages[1]["content"]
    assert "solution_resolves" not in messages[1]["content"]
    assert json.loads(messages[2]["content"]) == {"has_docstring": {"reason": "area has no docstring", "answer": "no"}}
    assert messages[-1]["content"].endswith(J.render_data(row))  # the judged data comes last
    assert J.applicable(custom, "code_repair") == []
    with pytest.raises(ValueError, match="unique"):
        J.rules_from_dicts(J.SEMANTIC_RULES + J.SEMANTIC_RULES[:1])


# ---------------------------------------------------------------- example store

def test_store_samples_whole_good_and_bad_examples_preferring_the_task():
    store = ExampleStore(seed_examples=[])
    for i in range(6):
        store.add({"task_name": "code_repair" if i % 2 else "code_generation", "instruction": f"instruction {i}",
                   "accepted": i < 3, "reasons": "r", "code": "x", "rule_verdicts": {}})
    good, bad = store.sample("code_repair", 2, 2, seed=0, key="a")
    assert all(isinstance(e, dict) for e in good + bad)  # whole examples, not characters of a string
    assert [e["accepted"] for e in good] == [True, True] and [e["accepted"] for e in bad] == [False, False]
    assert good[0]["task_name"] == "code_repair" and {e["task_name"] for e in bad} >= {"code_repair"}
    assert store.sample("code_repair", 2, 2, seed=0, key="a") == (good, bad)
    seeded = ExampleStore()
    assert {e["task_name"] for e in seeded.good} == {e["task_name"] for e in seeded.bad} == set(PAPER_TASK_MIX)
    # the judge's examples: only ones it has an analysis for, and bad ones that failed a judged rule
    rule_ids = [r["id"] for r in J.SEMANTIC_RULES]
    good, bad = seeded.sample_judged("code_repair", 1, 1, rule_ids=rule_ids, seed=0, key="a")
    assert good[0]["accepted"] and bad[0]["rule_verdicts"]["solution_resolves"]["answer"] == "no"
    assert store.sample_judged("code_repair", 1, 1, rule_ids=rule_ids, seed=0, key="a") == ([], [])
    reasons = [v["reason"] for e in seeded.good + seeded.bad for v in e["rule_verdicts"].values()]
    assert len(set(reasons)) >= len(reasons) - 4  # reasons specific to their example, so copies show


# ---------------------------------------------------------------- decontamination

def test_decontamination_catches_a_humaneval_prompt_copy_and_an_mbpp_solution():
    humaneval = dict(humaneval_texts())
    mbpp = mbpp_texts(MBPP_DIR)
    index = build_index({"HumanEval": list(humaneval.items()), "MBPP": mbpp}, 13)
    copied = humaneval["HumanEval/0"].split('"""')[1]  # the docstring of has_close_elements
    mbpp_code = next(text for task, text in mbpp if task == "MBPP/11" and "def" in text)
    frame = pl.DataFrame({"instruction": ["Write a Python function.", "Write a Python function.", "Sort a list in Python."],
                          "information": ["", "", ""], "solution": [copied, mbpp_code, "sorted(xs)"]})
    kept, removed = decontaminate(frame, index, 13)
    assert kept["solution"].to_list() == ["sorted(xs)"]
    assert removed.select("matched_benchmark", "matched_task_id").rows() == [("HumanEval", "HumanEval/0"),
                                                                             ("MBPP", "MBPP/11")]


# ---------------------------------------------------------------- CodeOcean accounting (pure)

def judged_row(i: int, task: str, verdict: str, **extra) -> dict:
    row = {c: None for c in JUDGED_SCHEMA} | {
        "example_id": f"e{i}", "source_id": f"s{i}", "task_name": task, "language": "python", "status": "ok",
        "instruction": f"Write Python code number {i}.", "information": "", "solution": f"x = {i}",
        "verdict": verdict, "rule_verdicts": "{}", "round": 0, "prompt_version": "v", "generator_model": "g",
        "judge_model": "j"}
    return row | extra


def test_code_ocean_places_every_candidate_once_and_balances_to_the_mix():
    he = dict(humaneval_texts())["HumanEval/2"]
    rows = [judged_row(i, "code_generation", "accepted") for i in range(6)]
    rows += [judged_row(6, "code_repair", "accepted"), judged_row(7, "code_repair", "accepted", solution=he),
             judged_row(8, "code_repair", "rejected", rule_verdicts=json.dumps({"solution_resolves": {"answer": "no", "reason": "r"}})),
             judged_row(9, "code_summarization", "failed", status="failed", error="generator: HTTP 500"),
             judged_row(10, "code_summarization", "rejected", status="unparseable",
                        rule_verdicts=json.dumps({"parse": {"answer": "no", "reason": "no JSON"}}))]
    judged = pl.DataFrame(rows, schema=JUDGED_SCHEMA)
    index = build_index({"HumanEval": humaneval_texts()}, 13)
    ocean, rejected = build_code_ocean(judged, index, 13, balance_mix={"code_generation": 0.5, "code_repair": 0.5}, seed=0)
    assert sorted(ocean["task_name"].to_list()) == ["code_generation", "code_repair"]  # 1 repair left -> 1:1
    stages = dict(zip(rejected["example_id"], rejected["stage"]))
    assert stages["e7"] == "decontamination" and stages["e8"] == "judge" and stages["e9"] == "generator"
    assert stages["e10"] == "parse" and sum(s == "balance" for s in stages.values()) == 5
    assert rejected.filter(pl.col("example_id") == "e7")["matched_task_id"][0] == "HumanEval/2"
    counts = outcome_counts(judged, ocean, rejected)
    assert counts["adds_up"].all() and counts["candidates"].sum() == 11
    assert counts.filter(pl.col("task_name") == "code_summarization").row(0, named=True) | {} == {
        "task_name": "code_summarization", "candidates": 2, "accepted": 0, "rejected": 1, "failed": 1, "adds_up": True}
    lost = outcome_counts(judged, ocean, rejected.filter(pl.col("example_id") != "e8"))
    assert not lost["adds_up"].all()
    doubled = outcome_counts(judged, ocean, pl.concat([rejected, rejected.head(1)]))
    assert not doubled["adds_up"].all()
    assert content_version(ocean) == content_version(ocean.reverse()) != content_version(ocean.head(1))


def test_code_ocean_rows_carry_the_tests_that_ran_and_the_rules_that_decided():
    def verdicts(**answers: str) -> str:
        return json.dumps({rule: {"answer": answer, "reason": "."} for rule, answer in answers.items()})

    tested = judged_row(0, "code_generation", "accepted", tests="assert f() == 1", rule_verdicts=verdicts(
        solution_is_code="yes", tests_pass="yes", solution_resolves="yes"))
    untested = judged_row(1, "code_generation", "accepted", tests="assert f() == 2", rule_verdicts=verdicts(
        solution_is_code="yes", tests_pass="n/a", solution_resolves="yes"))
    summary = judged_row(2, "code_summarization", "accepted", rule_verdicts=verdicts(
        tests_pass="n/a", summary_identifies_code="yes", solution_resolves="yes"))
    ocean, _ = build_code_ocean(pl.DataFrame([tested, untested, summary], schema=JUDGED_SCHEMA), None, 13,
                                balance_mix=None, seed=0)
    rows = {row["example_id"]: row for row in ocean.iter_rows(named=True)}
    assert (rows["e0"]["tests"], rows["e0"]["tests_passed"]) == ("assert f() == 1", True)
    assert (rows["e1"]["tests"], rows["e1"]["tests_passed"]) == (None, None)  # its tests never ran
    assert rows["e0"]["decided_by"] == ["solution_is_code", "solution_resolves", "tests_pass"]
    assert rows["e0"]["decided_by_kinds"] == ["code_check", "execution", "judge"]
    assert rows["e1"]["decided_by_kinds"] == ["code_check", "judge"]
    assert rows["e2"]["decided_by_kinds"] == ["contrastive", "judge"]


# ---------------------------------------------------------------- materializations against the test server

def _spec(instruction: str, solution: str, tests: str = "assert double(2) == 4", resolves: str = "yes") -> str:
    """A source function whose body holds the answers the echo test server will give: with no few-shot examples
    and json_mode off, the server echoes the prompt, and the first JSON object in it is this one, which carries
    the generator's fields and the judge's per-rule verdicts."""
    answers = {"task_name": "code_generation", "instruction": instruction, "solution": solution, "tests": tests,
               "solution_resolves": {"reason": f"the solution {resolves} resolves it", "answer": resolves},
               "instruction_relevant": {"reason": "it asks for the doubling the input does", "answer": "yes"}}
    return f"def double(x):\n    SPEC = {json.dumps(answers)}\n    return 2 * x"


DOUBLE = "def double(x):\n    return 2 * x"
GOOD = _spec("Write a Python function that doubles a number.", DOUBLE)
SOURCES = {
    "ok": GOOD,
    "retried": GOOD + "  # FAULTS=500,429@0.1",
    "malformed_then_ok": GOOD + "  # FAULTS=malformed",
    "syntax_error": _spec("Write a Python function that doubles a number.", "def double(x:\n    return 2 * x"),
    # Not an `assert EXPR == VALUE` line, which would take its value from the source function (ground_tests).
    "tests_fail": _spec("Write a Python function that doubles a number.", DOUBLE,
                        tests="if double(2) != 5:\n    raise AssertionError('double(2)')"),
    "judge_says_no": _spec("Write a Python function that doubles a number.", DOUBLE, resolves="no"),
    "no_json": "def double(x):\n    return 2 * x  # nothing for the parser here",
    "long_instruction": _spec("Write a function. Call it double. Use Python.", DOUBLE),
    "persistent_500": GOOD + "  # FAULTS=500,500,500",
    "timeouts": GOOD + "  # FAULTS=timeout,timeout,timeout",
    "humaneval_copy": _spec("Write a Python function that checks for close elements.",
                            dict(humaneval_texts())["HumanEval/0"] + "    return False\n", tests="assert True"),
}
EXPECTED = {"ok": ("accepted", None), "retried": ("accepted", None), "malformed_then_ok": ("accepted", None),
            "syntax_error": ("rejected", "checks"), "tests_fail": ("rejected", "checks"),
            "judge_says_no": ("rejected", "judge"), "no_json": ("rejected", "parse"),
            "long_instruction": ("rejected", "parse"), "persistent_500": ("failed", "generator"),
            "timeouts": ("failed", "generator"), "humaneval_copy": ("rejected", "decontamination")}


def _write_coreset(lake_dir: str, sources: dict[str, str]) -> None:
    write_table(pl.DataFrame({"id": list(sources), "language": ["python"] * len(sources),
                                       "code": list(sources.values()), "rank": list(range(len(sources)))}),
                         table_path(lake_dir, "coreset"))


def _llm(base_url: str, lake_dir: str, **endpoint) -> LLMResource:
    settings = dict(base_url=base_url, model="test-model", timeout_s=1.0, max_retries=2) | endpoint
    return LLMResource(generator=LLMEndpoint(**settings), judge=LLMEndpoint(**settings),
                       cache_path=str(Path(lake_dir) / ".llm_cache.sqlite"))


def _generate_config(**overrides) -> gen_assets.GenerateConfig:
    return gen_assets.GenerateConfig(**{"max_sources": None, "json_mode": False, "few_shot_good": 0,
                                        "few_shot_bad": 0, "task_mix": {"code_generation": 1.0}} | overrides)


def _discriminator(**overrides) -> DiscriminatorResource:
    """The test server's judge: plain prompts, no few-shot examples, no multiple choice and no inputs to run beside
    the source (test_contrastive.py's and test_differential.py's)."""
    return DiscriminatorResource(**{"json_mode": False, "judge_few_shot_good": 0, "judge_few_shot_bad": 0,
                                    "contrastive_candidates": 0, "differential": False} | overrides)


def _judged(run: dg.ExecuteInProcessResult) -> dg.AssetMaterialization:
    """The run's (first) materialization of judged_instructions: a run over every shard has one per shard, with the
    run's metadata."""
    return next(m for m in run.asset_materializations_for_node("generated_instructions")
                if m.asset_key == dg.AssetKey("judged_instructions"))


def _materialize(lake_dir: str, llm: LLMResource, instance=None, *, rules: list[dict] | None = None):
    assets = [dg.AssetSpec("coreset"), gen_assets.generator_discriminator, gen_assets.code_ocean_tables,
              gen_assets.candidates_accounted]
    discriminator = _discriminator(**({"rules": rules} if rules else {}))
    return dg.materialize(assets, selection=assets[1:], instance=instance, tags=all_shards(),
                          resources=resources_for("local", lake_dir=lake_dir) | {"llm": llm,
                                                                                 "discriminator": discriminator},
                          run_config=dg.RunConfig(ops={"generated_instructions": _generate_config()}))


def test_every_candidate_is_accounted_for_through_faults_and_a_rerun_pays_only_for_what_failed(lake_dir):
    _write_coreset(lake_dir, SOURCES)
    with ThreadedServer(hang_s=3) as server:
        run = _materialize(lake_dir, _llm(server.base_url, lake_dir))
        assert run.success
        calls = server.stats()["calls"]
        judged = read_table(lake_dir, "judged_instructions")
        ocean = read_table(lake_dir, "code_ocean")
        rejected = read_table(lake_dir, "code_ocean_rejected")
        outcome = {i: ("accepted", None) for i in ocean["source_id"]}
        outcome |= dict(zip(rejected["source_id"], zip(rejected["outcome"], rejected["stage"])))
        assert outcome == EXPECTED
        assert judged.height == len(SOURCES)
        status = dict(zip(judged["source_id"], judged["sandbox_status"]))
        assert status["ok"] == "passed" and status["tests_fail"] == "failed" and status["syntax_error"] is None
        assert "generator: timeout" in rejected.filter(pl.col("source_id") == "timeouts")["error"][0]
        check = run.get_asset_check_evaluations()[0]
        assert check.check_name == "candidates_accounted" and check.passed
        table = run.asset_materializations_for_node("code_ocean")[0].metadata["outcomes_per_task"].value
        assert "| code_generation | 11 | 3 | 6 | 2 | True |" in table
        meta = _judged(run).metadata
        # 11 answers, and a retry with another seed for each of the 2 that did not parse; the judge only sees
        # the 5 rows that passed the code checks and their tests
        assert meta["llm_judge_requests"].value == 5 and meta["llm_generator_requests"].value == 13
        assert meta["unparseable_rate"].value == round(2 / 11, 3) and meta["acceptance_rate"].value == round(4 / 11, 3)  # + the HumanEval copy
        assert meta["execution_pass_rate"].value == 1.0 and meta["verbatim_reason_rate"].value == 0.0

        before = server.stats()["by_messages"]
        rerun = _materialize(lake_dir, _llm(server.base_url, lake_dir))
        assert rerun.success and rerun.get_asset_check_evaluations()[0].passed
        after = server.stats()["by_messages"]
        answered = [d for d, attempts in before.items() if attempts[-1]["fault"] == "ok"]
        assert len(answered) == 9 + 5  # generator + judge requests answered in the first run ...
        assert all(len(after[d]) == len(before[d]) for d in answered)  # ... are never paid again
        # only what failed is tried again (the test server's fault plans are used up by now, so they pass)
        tried_again = {d for d in before if len(after[d]) > len(before[d])}
        assert len(tried_again) == 2 and server.stats()["calls"] > calls


_KILLED_RUN = """
import sys
import dagster as dg
from assets_tests.test_generate import _materialize, _llm
_materialize(sys.argv[2], _llm(sys.argv[1], sys.argv[2], max_in_flight=1))
"""


def test_rerun_after_kill_9_repays_nothing_cached(lake_dir):
    sources = {f"s{i}": _spec(f"Write a Python function that adds {i} to a number.", f"def add(x):\n    return x + {i}",
                              tests=f"assert add(1) == {1 + i}") for i in range(10)}
    _write_coreset(lake_dir, sources)
    cache = Path(lake_dir) / ".llm_cache.sqlite"
    with ThreadedServer(latency_s=0.3) as server:
        child = subprocess.Popen([sys.executable, "-c", _KILLED_RUN, server.base_url, lake_dir], cwd=REPO_ROOT,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _cached(cache) < 4:
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        cached = _cached(cache)
        assert 4 <= cached < 10, "kill the run half-way through generation"
        assert not table_path(lake_dir, "generated_instructions").exists()
        calls = server.stats()["calls"]

        run = _materialize(lake_dir, _llm(server.base_url, lake_dir))
        assert run.success
        meta = _judged(run).metadata
        # all of it reused (shard by shard, the killed run had answers of both roles cached)
        assert meta["llm_generator_cache_hits"].value + meta["llm_judge_cache_hits"].value == cached
        assert server.stats()["calls"] - calls == 20 - cached  # 10 generator + 10 judge requests, minus the cached
        assert read_table(lake_dir, "code_ocean").height == 10
        calls = server.stats()["calls"]
        assert _materialize(lake_dir, _llm(server.base_url, lake_dir)).success
        assert server.stats()["calls"] == calls  # unchanged rerun: zero endpoint calls

        rules = [dict(r) for r in J.SEMANTIC_RULES]
        rules[1]["text"] += " Name it exactly."
        run = _materialize(lake_dir, _llm(server.base_url, lake_dir), rules=rules)
        meta = _judged(run).metadata
        # only the discriminator changed: only the discriminator is called again
        assert meta["llm_generator_endpoint_calls"].value == 0 and meta["llm_judge_endpoint_calls"].value == 10
        judged = read_table(lake_dir, "judged_instructions")
        assert set(judged["discriminator"]) == {_discriminator(rules=rules).version()}
        assert meta["discriminator"].value == _discriminator(rules=rules).version() != _discriminator().version()


def test_later_rounds_show_good_and_bad_judged_examples_to_generator_and_judge(tmp_path):
    version = {name: _spec(f"Write a Python function that doubles a number, version {name}.", DOUBLE)
               for name in ("A", "B")}
    sources = pl.DataFrame({"id": ["good", "bad", "r1a", "r1b"], "language": ["python"] * 4, "rank": [0, 1, 2, 3],
                            "code": [GOOD, SOURCES["syntax_error"], version["A"], version["B"]]})
    settings = LoopSettings(task_mix={"code_generation": 1.0}, rounds=2, json_mode=False)
    with ThreadedServer() as server:
        client = ChatClient(server.base_url, "test-model", cache=RequestCache(tmp_path / "cache.sqlite"))
        store = ExampleStore(seed_examples=[])
        generated, judged, _ = run_generator_discriminator(sources, client, client, settings,
                                                           DiscriminatorSettings(json_mode=False), store=store)
        bodies = [a["body"] for attempts in server.stats()["by_messages"].values() for a in attempts]
        # a round-1 candidate of its own, judged with the store the rounds filled
        tripled = _spec("Write a Python function that triples a number.", "def triple(x):\n    return 3 * x",
                        tests="assert triple(2) == 6")
        row = {"example_id": "r2", "task_name": "code_generation", "language": "python", "target_language": None,
               "code": tripled, "information": "", **{k: v for k, v in json.loads(tripled.split("SPEC = ")[1]
                                                     .split("\n")[0]).items() if k in ("instruction", "solution", "tests")}}
        [outcome] = discriminate([row], client, DiscriminatorSettings(json_mode=False), store=store)
        judge = [a["body"]["messages"] for attempts in server.stats()["by_messages"].values() for a in attempts
                 if a["body"]["messages"][0]["content"] == J.SYSTEM and "triples" in a["body"]["messages"][-1]["content"]]
    assert dict(zip(judged["source_id"], judged["round"])) == {"good": 0, "bad": 0, "r1a": 1, "r1b": 1}
    # round 1's answers copy the good example shown (the echo answers with it): rejected by code, no judge call
    assert [len(store.good), len(store.bad)] == [1, 3]
    round1 = judged.filter(pl.col("round") == 1)
    assert all(COPY_RULE in json.loads(v) for v in round1["rule_verdicts"]) and round1["judge_model"].is_null().all()
    generator = [b["messages"][-1]["content"] for b in bodies if b["messages"][0]["content"].startswith("You write")]
    round1_generator = [p for p in generator if "version A" in p]
    assert len(round1_generator) == 1
    assert "doubles a number." in round1_generator[0].split("bad examples")[0]  # the good one, whole
    assert "Analysis: solution_is_code" in round1_generator[0].split("bad examples")[1]  # the bad one and why
    # the scripted judge's two reasons repeat the shown example's word for word, so it is asked a second time, and
    # the second answer's copies are counted
    assert outcome.verdict == "accepted" and outcome.copied_reasons == 2
    assert len(judge) == 2 and [m["role"] for m in judge[0]] == ["system", "user", "assistant", "user"]
    shown = json.loads(judge[0][2]["content"])  # the good example's full analysis, from round 0's judge
    assert shown["solution_resolves"] == {"reason": "the solution yes resolves it", "answer": "yes"}


def _cached(path: Path) -> int:
    try:
        with sqlite3.connect(path, timeout=30) as db:
            return db.execute("SELECT count(*) FROM chat_results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


# ---------------------------------------------------------------- the real embedded models

@pytest.mark.llm
def test_real_generator_and_judge_on_two_samples(lake_dir):
    sources = {
        "clamp": "def clamp(x, low, high):\n    \"\"\"Limit x to the range [low, high].\"\"\"\n    return max(low, min(x, high))",
        "words": "def count_words(text):\n    \"\"\"Number of words in text.\"\"\"\n    return len(text.split())",
    }
    _write_coreset(lake_dir, sources)
    assets = [dg.AssetSpec("coreset"), gen_assets.generator_discriminator]
    run = dg.materialize(assets, selection=assets[1:], resources=resources_for("local", lake_dir=lake_dir),
                         tags=all_shards(),
                         run_config=dg.RunConfig(ops={"generated_instructions": gen_assets.GenerateConfig(
                             max_sources=2, task_mix={"code_generation": 0.5, "code_summarization": 0.5})}))
    assert run.success
    judged = read_table(lake_dir, "judged_instructions")
    assert judged.height == 2 and set(judged["task_name"]) == {"code_generation", "code_summarization"}
    assert set(judged["verdict"]) <= {"accepted", "rejected", "failed"}
    assert judged.filter(pl.col("status") == "ok").height >= 1  # JSON mode: the 0.5B model's answers parse
    judged_by_model = judged.filter(pl.col("judge_model").is_not_null())
    assert judged_by_model.height >= 1
    for row in judged_by_model.iter_rows(named=True):
        assert set(json.loads(row["rule_verdicts"])) >= {"input_is_code", "names_language"}


def test_a_repair_is_shown_the_purpose_its_docstring_states_and_its_few_shot_example_is_too():
    from wavecoder_assets.generate.examples import SEED_EXAMPLES

    given = {"information": "def leapdays(y1, y2):\n    return y2 // 4 - y1 // 5",
             "solution": "def leapdays(y1, y2):\n    return y2 // 4 - y1 // 4"}
    seed = next(e for e in SEED_EXAMPLES if e["task_name"] == "code_repair" and e["language"] == "python")
    text = generator_messages("code_repair", given["solution"], "python", None, good=[seed], bad=[],
                              tests_instruction=None, summary="Leap years in [y1, y2).", given=given)[1]["content"]
    shown_input = text.rpartition("Input:\n")[2]
    assert shown_input.startswith("Purpose (from its documentation): Leap years in [y1, y2).\nBuggy code:\n")
    assert "Purpose (from its documentation): Arithmetic mean of a non-empty list.\nBuggy code:" in text
    without = generator_messages("code_repair", given["solution"], "python", None, good=[], bad=[],
                                 tests_instruction=None, given=given)[1]["content"]
    assert "Purpose" not in without.rpartition("Input:\n")[2]  # no docstring: nothing is made up


def test_a_lone_surrogate_a_model_escaped_is_replaced_so_the_row_can_be_stored():
    from wavecoder_assets.generate.tasks import extract_json_object

    answer = extract_json_object('{"instruction": "Sum x\\udbd7.", "tests": ["ok \\ud83d\\ude00"]}')
    assert answer == {"instruction": "Sum x\ufffd.", "tests": ["ok \U0001F600"]}  # a valid pair stays one character
    pl.DataFrame([answer]).write_parquet(io.BytesIO())  # what failed to write before
