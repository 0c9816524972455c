"""The discriminator's judge step against a scripted OpenAI-compatible endpoint (a real HTTP server on loopback,
talked to by the real ChatClient): a reason copied word for word from a few-shot example is asked again."""

from __future__ import annotations

import json

import pytest

from assets_tests.scripted_endpoint import ScriptedEndpoint
from wavecoder_assets.generate.discriminator import COPY_RULE, DiscriminatorSettings, discriminate
from wavecoder_assets.generate.examples import SEED_EXAMPLES, ExampleStore, written_in
from wavecoder_assets.generate.tasks import PAPER_TASK_MIX

CODE = "def area(width, height):\n    \"\"\"Area of a rectangle.\"\"\"\n    return width * height"
ROW = {"example_id": "ex1", "task_name": "code_summarization", "language": "python", "target_language": None,
       "code": CODE, "instruction": "Summarize what the following Python function does.", "information": CODE,
       "solution": "The function area multiplies width by height and returns the rectangle's area.", "tests": None}


class ScriptedJudge(ScriptedEndpoint):
    """Answers every chat completion with a verdict JSON: the first few-shot analysis shown in the conversation,
    verbatim, for the seeds in `copy_on_seeds`; otherwise reasons about the data itself."""

    def __init__(self, copy_on_seeds: set[int]):
        def answer(body: dict) -> str:
            shown = [m["content"] for m in body["messages"] if m["role"] == "assistant"]
            fresh = {"reason": "area returns width * height, as the summary says", "answer": "yes"}
            return (shown[0] if body.get("seed") in copy_on_seeds and shown
                    else json.dumps({"solution_resolves": fresh, "instruction_relevant": fresh}))

        super().__init__(answer)
        self.seen = self.bodies

    def close(self):
        self.server.shutdown()


@pytest.fixture
def scripted():
    judges = []

    def make(copy_on_seeds: set[int]) -> ScriptedJudge:
        judges.append(ScriptedJudge(copy_on_seeds))
        return judges[-1]

    yield make
    for judge in judges:
        judge.close()


def test_a_copied_reason_is_asked_again_and_the_fresh_answer_stands(scripted):
    judge = scripted(copy_on_seeds={0})
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert [body["seed"] for body in judge.seen] == [0, 1]
    assert outcome.copied_reasons == 0 and outcome.verdict == "accepted"
    assert "width * height" in outcome.rule_verdicts["solution_resolves"]["reason"]


def test_each_candidate_sees_its_few_shot_examples_in_its_own_seeded_order(scripted):
    """Good-then-bad for every candidate made a small judge say no on the bad example's pattern."""
    judge = scripted(copy_on_seeds=set())
    rows = [ROW | {"example_id": f"ex{i}", "solution": f"{ROW['solution']} ({i})"} for i in range(12)]

    def bad_example_last() -> dict[str, bool]:
        seen, judge.seen[:] = list(judge.seen), []
        return {body["messages"][-1]["content"]: '"no"' in [m["content"] for m in body["messages"]
                                                             if m["role"] == "assistant"][-1] for body in seen}

    discriminate(rows, judge.client, DiscriminatorSettings(execute=False))
    first = bad_example_last()
    discriminate(rows, judge.client, DiscriminatorSettings(execute=False))
    assert bad_example_last() == first and len(first) == 12  # the same order again: the LLM cache still works
    assert 0 < sum(first.values()) < 12  # both orders occur


def test_an_answer_without_copies_is_asked_once(scripted):
    judge = scripted(copy_on_seeds=set())
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert len(judge.seen) == 1 and outcome.copied_reasons == 0


def test_copies_in_the_second_answer_are_counted(scripted):
    judge = scripted(copy_on_seeds={0, 1})
    [outcome] = discriminate([ROW], judge.client, DiscriminatorSettings(execute=False))
    assert len(judge.seen) == 2
    assert outcome.copied_reasons == 2  # both rules' reasons repeat the example's analysis


@pytest.mark.parametrize("language", sorted({written_in(e) for e in SEED_EXAMPLES}))
def test_seed_examples_pass_the_discriminators_code_rules(language):
    """The hand-written few-shot seeds are what the generator imitates: the good ones pass every code check and run
    green (a repair's buggy input fails its tests); the bad ones are bad only for their stated semantic reason,
    except a wrong translation of a Python source into JavaScript: its tests take their expected values from that
    source, so they catch it."""
    seeds = [e | {"example_id": f"seed{i}"} for i, e in enumerate(SEED_EXAMPLES) if written_in(e) == language]
    assert {e["task_name"] for e in seeds if e["accepted"]} == {e["task_name"] for e in seeds if not e["accepted"]} \
        == set(PAPER_TASK_MIX)
    outcomes = discriminate(seeds, None, store=ExampleStore(seed_examples=[]))
    for seed, outcome in zip(seeds, outcomes):
        if not seed["accepted"] and (seed["task_name"], seed["language"], seed["target_language"]) == \
                ("code_translation", "python", "javascript"):
            assert outcome.failed_rules == ["tests_pass"], outcome.reasons
            assert "expected values from the Python source" in outcome.reasons
            continue
        assert outcome.verdict == "accepted", (seed["task_name"], seed["accepted"], outcome.reasons)
        if seed["tests"]:
            assert outcome.sandbox_status == "passed", (seed["task_name"], outcome.rule_verdicts)


def test_an_answer_copying_a_few_shot_example_is_rejected_without_the_llm():
    store = ExampleStore()
    example = next(e for e in store.good if e["task_name"] == "code_translation" and e["target_language"] == "python")
    copy = ROW | {"task_name": "code_translation", "language": "java", "target_language": "python",
                  "code": "static int twice(int x) {\n    return 2 * x;\n}",
                  "instruction": "Translate the following Java method into Python.",
                  "information": "static int twice(int x) {\n    return 2 * x;\n}",
                  "solution": example["solution"].replace("\n", "\n\n"), "tests": "assert add(2, 3) == 5"}
    [outcome] = discriminate([copy | {"few_shot": [example]}], None, store=store)
    assert outcome.verdict == "rejected" and COPY_RULE in outcome.failed_rules
    assert "code_translation, python" in outcome.rule_verdicts[COPY_RULE]["reason"]
    [own] = discriminate([copy | {"few_shot": [example], "solution": "def twice(x):\n    return 2 * x",
                                  "tests": "assert twice(2) == 4"}], None, store=store)
    assert COPY_RULE not in own.rule_verdicts
    [unseen] = discriminate([copy], None, store=store)  # the same answer, but its generator was shown no example
    assert COPY_RULE not in unseen.rule_verdicts


def test_a_repair_instruction_copied_from_a_few_shot_example_is_rejected_but_a_summary_instruction_may_repeat():
    store = ExampleStore()
    seed_repair = next(e for e in store.bad if e["task_name"] == "code_repair" and e["language"] == "python")
    fixed = "def area(width, height):\n    return width * height"
    repair = ROW | {"task_name": "code_repair", "code": fixed, "information": fixed.replace("*", "+"),
                    "instruction": seed_repair["instruction"], "solution": fixed,
                    "tests": "assert area(2, 3) == 6", "few_shot": [seed_repair]}
    [outcome] = discriminate([repair], None, store=store)
    assert outcome.failed_rules == [COPY_RULE], outcome.reasons
    assert outcome.rule_verdicts[COPY_RULE]["reason"].startswith("the instruction is a shown few-shot example's")
    [own] = discriminate([repair | {"instruction": "Find and fix the bug in the following Python function, which "
                                                  "should return the area of a rectangle."}], None, store=store)
    assert own.verdict == "accepted", own.reasons
    seed_summary = next(e for e in store.good if e["task_name"] == "code_summarization" and e["language"] == "python")
    [summary] = discriminate([ROW | {"instruction": seed_summary["instruction"], "few_shot": [seed_summary]}], None,
                             store=store)
    assert summary.verdict == "accepted", summary.reasons


def test_a_repair_whose_tests_did_not_run_is_rejected_unless_allowed():
    buggy = "def total(values):\n    result = 0\n    for v in values:\n        result -= v\n    return result"
    repair = {"example_id": "rep1", "task_name": "code_repair", "language": "python", "target_language": None,
              "code": buggy, "information": buggy, "tests": None,
              "instruction": "Fix the bug in this Python function so that it returns the sum of the values.",
              "solution": buggy.replace("-=", "+=")}
    [strict] = discriminate([repair], None, DiscriminatorSettings())
    [lenient] = discriminate([repair], None, DiscriminatorSettings(reject_untested_repairs=False))
    assert strict.verdict == "rejected" and strict.rule_verdicts["tests_pass"]["reason"].startswith("not executed")
    assert lenient.verdict == "accepted" and lenient.rule_verdicts["tests_pass"]["answer"] == "n/a"
