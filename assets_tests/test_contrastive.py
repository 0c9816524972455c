"""summary_identifies_code: the summary matched against its own code and its nearest neighbours (contrastive.py),
in the discriminator against a scripted OpenAI-compatible endpoint (a real HTTP server, the real ChatClient)."""

from __future__ import annotations

import json
import math
import re

import polars as pl
import pytest

from assets_tests.scripted_endpoint import ScriptedEndpoint
from wavecoder_assets.generate import contrastive as C
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate
from wavecoder_assets.llm import ChatResult

AREA = "def area(width, height):\n    return width * height"
PERIMETER = "def perimeter(width, height):\n    return 2 * (width + height)"
DIAGONAL = "def diagonal(width, height):\n    return (width ** 2 + height ** 2) ** 0.5"
SQUARE = "def is_square(width, height):\n    return width == height"
# What each function does, as the judge sees it (parameters renamed x1, x2).
WHAT = {"multiplies": "x1 * x2", "adds": "2 * (x1 + x2)", "squares": "** 2", "compares": "=="}


def row(summary: str, code: str = AREA, **extra) -> dict:
    return {"example_id": f"ex-{summary[:12]}", "source_id": "area", "task_name": "code_summarization",
            "language": "python", "target_language": None, "code": code, "information": code, "tests": None,
            "instruction": "Summarize what the following Python function does.", "solution": summary,
            "neighbours": [{"id": "perimeter", "code": PERIMETER}, {"id": "diagonal", "code": DIAGONAL},
                           {"id": "square", "code": SQUARE}], **extra}


def picker(body: dict) -> str:
    """Picks the function doing what the summary's verb says (a judge that reads the code); a semantic-rule
    question gets a yes."""
    text = body["messages"][-1]["content"]
    if body["messages"][0]["content"] not in C.SYSTEMS.values():
        yes = {"reason": "the summary says what the code does", "answer": "yes"}
        return json.dumps({"solution_resolves": yes, "instruction_relevant": yes})
    summary = text.split("\n")[1]
    functions = re.findall(r"Function (\d+):\n```python\n(.*?)```", text, re.S)
    wanted = next(code for verb, code in WHAT.items() if verb in summary)
    pick = next(int(n) for n, code in functions if wanted in code)
    return json.dumps({"answer": pick})


def leaning_picker(body: dict) -> tuple[str, dict]:
    """A judge that leans to the last position (weight 6 against 1) and weighs the function the summary's verb
    points at 8 times more, with the log-probabilities of its answer; a vague summary gets the lean alone."""
    text = body["messages"][-1]["content"]
    functions = re.findall(r"Function (\d+):\n```python\n(.*?)```", text, re.S)
    wanted = next((code for verb, code in WHAT.items() if verb in text.split("\n")[1]), None)
    weights = {int(n): (6.0 if int(n) == len(functions) else 1.0) * (8.0 if wanted and wanted in code else 1.0)
               for n, code in functions}
    pick = max(weights, key=weights.get)
    return json.dumps({"answer": pick}), {str(pick): {str(n): math.log(w / sum(weights.values()))
                                                      for n, w in weights.items()}}


def test_names_are_masked_alike_and_read_in_each_language():
    assert C.defined_name(AREA, "python") == "area"
    assert C.defined_name("public static int twice(int x) {\n    return 2 * x;\n}", "java") == "twice"
    assert C.defined_name("const twice = (x) => 2 * x;", "javascript") == "twice"
    assert C.defined_name("function twice(x) {\n  return 2 * x;\n}", "javascript") == "twice"
    assert C.renamed("The function `area(w, h)` returns area * 2.", {"area": "f"}) == \
        "The function `f(w, h)` returns f * 2."
    assert C.renamed("areas and area_of stay", {"area": "f"}) == "areas and area_of stay"
    # The parameters too, in the code and in the summary: a summary must not pick its code out by repeating names.
    assert C.masks(AREA, "python") == {"area": "f", "width": "x1", "height": "x2"}
    assert C.renamed("It takes width and height (not widths) and returns width * height.", C.masks(AREA, "python")) \
        == "It takes x1 and x2 (not widths) and returns x1 * x2."
    assert C.masks("public int twice(int x) {\n    return 2 * x;\n}", "java") == {"twice": "f", "x": "x1"}
    assert C.masks("func Twice(x int) int { return 2 * x }", "go") == {"Twice": "f"}  # names only where unread
    # Another object's member of the same name is what the code calls, not the function: it stays.
    ceil = "public static int ceilDivExact(int x, int y) {\n    return Math.ceilDivExact(x, y);\n}"
    assert C.renamed(ceil, C.masks(ceil, "java")) == "public static int f(int x1, int x2) {\n    return Math.ceilDivExact(x1, x2);\n}"


def test_candidates_are_the_neighbours_first_then_the_pool_and_orders_are_seeded():
    pool = [C.Candidate("other", "def other(x):\n    return x"), C.Candidate("dup", AREA)]
    chosen = C.candidates_for(row("x"), pool, 4, seed=0, key="k")
    assert [c.id for c in chosen] == ["area", "perimeter", "diagonal", "square"]
    few = C.candidates_for(row("x", neighbours=[]), pool, 4, seed=0, key="k")
    assert [c.id for c in few] == ["area", "other"]  # the pool fills in, the same code never twice
    # An overload or a copy of the own function (same name) is no negative: a summary fits both.
    overload = {"id": "area-float", "code": "def area(width, height):\n    return float(width) * float(height)"}
    # Nor is another name for the same code: masked, it reads the same.
    alias = {"id": "surface", "code": "def surface(w, h):\n    return w * h"}
    neighbours = [overload, alias, {"id": "perimeter", "code": PERIMETER}]
    assert [c.id for c in C.candidates_for(row("x", neighbours=neighbours), [], 2, 0, "k")] == ["area", "perimeter"]
    orders = C.orders(4, 2, seed=0, key="k")
    assert orders == C.orders(4, 2, seed=0, key="k") and orders[0] != orders[1]
    assert sorted(orders[0]) == [0, 1, 2, 3] and orders[1] == orders[0][1:] + orders[0][:1]  # a rotation
    assert any(C.orders(4, 1, seed=0, key=f"k{i}") != orders[:1] for i in range(5))
    # As many asks as candidates: each candidate at each position once, so the judge's lean weighs on all alike.
    assert C.balanced(C.orders(4, 4, seed=0, key="k")) and C.balanced(C.orders(2, 2, seed=0, key="k"))
    assert not C.balanced(orders) and not C.balanced(C.orders(2, 1, seed=0, key="k"))


def test_a_summary_of_a_neighbour_is_rejected_and_the_true_one_accepted():
    settings = DiscriminatorSettings(execute=False, judge_few_shot_good=0, judge_few_shot_bad=0,
                                     contrastive_candidates=4, contrastive_asks=2)
    with ScriptedEndpoint(picker) as judge:
        true, of_neighbour = discriminate([row("The function multiplies width and height."),
                                           row("The function adds up the sides twice.")], judge.client, settings)
        contrastive_bodies = [b for b in judge.bodies if b["messages"][0]["content"] in C.SYSTEMS.values()]
    assert true.verdict == "accepted" and true.rule_verdicts[C.RULE]["answer"] == "yes"
    assert of_neighbour.verdict == "rejected" and of_neighbour.failed_rules == [C.RULE]
    reason = of_neighbour.rule_verdicts[C.RULE]["reason"]
    assert reason.startswith("did not single out its own code: probability 0.00")
    assert "among 4 (order [" in reason and "'perimeter'" in reason  # ids, orders and probabilities recorded
    assert len(contrastive_bodies) == 4  # two asks each, in two orders
    shown = contrastive_bodies[0]["messages"][-1]["content"]
    assert "def f(x1, x2)" in shown and "def area" not in shown and "width" not in shown
    assert contrastive_bodies[0]["logprobs"] is True and contrastive_bodies[0]["top_logprobs"] == C.TOP_LOGPROBS
    schema = contrastive_bodies[0]["response_format"]["schema"]
    assert schema["properties"]["answer"]["enum"] == [1, 2, 3, 4]


@pytest.mark.parametrize("candidates, asks", [(2, 2), (4, 1)], ids=["balanced-orders", "batch-calibrated"])
def test_the_judges_lean_to_a_position_is_taken_out(candidates, asks):
    """Two designs: every candidate asked at every position (the default: the lean cancels in the row's own mean),
    and one ask among more candidates, each position's probability divided by the batch's other asks' mean."""
    settings = DiscriminatorSettings(execute=False, judge_few_shot_good=0, judge_few_shot_bad=0, check_rules=[],
                                     contrastive_candidates=candidates, contrastive_asks=asks)
    vague = [row("The function does some arithmetic on its inputs.", example_id=f"vague-{n}") for n in range(7)]
    true = [row("The function multiplies width and height.", example_id=f"true-{n}") for n in range(6)]
    answer = lambda body: leaning_picker(body) if body["messages"][0]["content"] in C.SYSTEMS.values() else picker(body)
    with ScriptedEndpoint(answer) as judge:
        outcomes = discriminate(vague, judge.client, settings)
        mixed = discriminate(vague[:2] + true, judge.client, settings)
        alone = [discriminate([r], judge.client, settings)[0] for r in (vague[0], true[0])]
    reasons = [o.rule_verdicts[C.RULE]["reason"] for o in outcomes]
    # Some vague summaries had their own code last, where the judge's lean alone picks it...
    assert any(re.search(r"order \[[^]]*'area'\]", r) for r in reasons)
    # ... and none passes: with the lean taken out, their own code is no likelier than chance.
    assert [o.verdict for o in outcomes] == ["rejected"] * 7
    assert all(o.failed_rules == [C.RULE] for o in outcomes)
    assert [o.verdict for o in mixed[2:]] == ["accepted"] * 6  # what the summary says still picks its code out
    if C.balanced(C.orders(candidates, asks, 0, "k")):  # a row's verdict does not hang on the rest of its batch
        assert [o.verdict for o in alone] == ["rejected", "accepted"]
        assert "the judge's lean to positions cancels" in alone[1].rule_verdicts[C.RULE]["reason"]


def test_position_probabilities_come_from_the_answer_tokens_log_probabilities():
    def result(text, logprobs=None):
        return ChatResult(key="k", text=text, error=None, model="m", token_logprobs=logprobs)
    answer = (("{", {"{": 0.0}), ("answer", {"answer": 0.0}), (" ", {" ": 0.0}),
              ("3", {"3": math.log(0.5), "1": math.log(0.25), " 2": math.log(0.05), "x": math.log(0.2)}))
    assert C.position_probabilities(result('{"answer": 3}', answer), 3) == pytest.approx([0.25 / 0.8, 0.05 / 0.8, 0.5 / 0.8])
    assert C.position_probabilities(result('{"answer": 2}'), 3) == [0.0, 1.0, 0.0]  # no log-probabilities: the pick
    assert C.position_probabilities(result('{"answer": 1}', (("1", {}),)), 2) == [1.0, 0.0]
    for bad in ('{"answer": 5}', "two", '{"reason": "x"}'):
        with pytest.raises(ValueError):
            C.position_probabilities(result(bad), 4)
    lean = C.position_lean([[0.1, 0.9], [0.3, 0.7]] * 3)
    assert lean == pytest.approx([0.2, 0.8])
    assert C.calibrated([0.2, 0.8], lean) == pytest.approx([0.5, 0.5])
    assert C.position_lean([[0.1, 0.9]] * 2) is None  # too few asks to tell a lean from their answers
    two = [C.Candidate("own", "a"), C.Candidate("other", "b")]
    # With the lean: the calibrated probability against 1.2 x chance (0.45 / 0.2 against 0.55 / 0.8: 0.77 >= 0.6).
    # Without it: its own code must be the likeliest, as a pick would be.
    assert C.verdict(two, [([0, 1], [0.45, 0.55])], lean, 1.2)["answer"] == "yes"
    unmeasured = C.verdict(two, [([0, 1], [0.45, 0.55])], None, 1.2)
    assert unmeasured["answer"] == "no" and "it must be the likeliest" in unmeasured["reason"]
    assert C.verdict(two, [([1, 0], [0.45, 0.55])], None, 1.2)["answer"] == "yes"
    # Both orders asked: the mean of its own code's probability, against 1.2 x chance, with no lean needed.
    lean_only = C.verdict(two, [([0, 1], [0.3, 0.7]), ([1, 0], [0.3, 0.7])], None, 1.2)  # own code: 0.5
    assert lean_only["answer"] == "no" and "cancels; needed 0.60" in lean_only["reason"]
    assert C.verdict(two, [([0, 1], [0.5, 0.5]), ([1, 0], [0.2, 0.8])], lean, 1.2)["answer"] == "yes"  # 0.65
    # The default bound, two candidates in both orders: 0.56 (a right summary at 0.57 passes, a wrong one at 0.55 not).
    default = DiscriminatorSettings().contrastive_min_lift
    at = lambda own: C.verdict(two, [([0, 1], [own, 1 - own]), ([1, 0], [1 - own, own])], None, default)
    assert at(0.57)["answer"] == "yes" and at(0.55)["answer"] == "no" and "needed 0.56" in at(0.55)["reason"]


def test_the_rule_is_off_with_fewer_than_two_candidates():
    settings = DiscriminatorSettings(execute=False, contrastive_candidates=0)
    with ScriptedEndpoint(picker) as judge:
        [outcome] = discriminate([row("The function adds up the sides twice.")], judge.client, settings)
        [alone] = discriminate([row("The function adds up the sides twice.", neighbours=[])], judge.client,
                               settings.model_copy(update={"contrastive_candidates": 4}))
        asked = [b for b in judge.bodies if b["messages"][0]["content"] in C.SYSTEMS.values()]
    assert C.RULE not in outcome.rule_verdicts and outcome.verdict == "accepted"
    # nothing to tell it from (no neighbours, no other row): not asked, recorded as n/a
    assert alone.rule_verdicts[C.RULE]["answer"] == "n/a" and alone.verdict == "accepted" and not asked


def test_nearest_neighbours_are_in_the_same_language_nearest_first():
    corpus = pl.DataFrame({"id": ["a", "b", "c", "j"], "language": ["python", "python", "python", "java"],
                           "code": ["A", "B", "C", "J"]})
    embeddings = pl.DataFrame({"id": ["a", "b", "c", "j"], "language": ["python", "python", "python", "java"],
                               "embedding": [[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [1.0, 0.0]]})
    near = C.nearest_neighbours(corpus.filter(pl.col("id") == "a"), embeddings, corpus, 2)
    assert near == {"a": [{"id": "b", "code": "B"}, {"id": "c", "code": "C"}]}


def code_picker(body: dict) -> str:
    """Picks the function whose body the shown text (an instruction's verb, or a translation's code) points at."""
    text = body["messages"][-1]["content"]
    if body["messages"][0]["content"] not in C.SYSTEMS.values():
        yes = {"reason": "it does what was asked", "answer": "yes"}
        return json.dumps({"solution_resolves": yes, "instruction_relevant": yes})
    shown, _, listed = text.partition("Function 1:")
    functions = re.findall(r"Function (\d+):\n```python\n(.*?)```", "Function 1:" + listed, re.S)
    wanted = next(code for verb, code in WHAT.items() if verb in shown or code in shown)
    pick = next(int(n) for n, code in functions if wanted in code)
    return json.dumps({"answer": pick})


def generation(instruction: str, solution: str, **extra) -> dict:
    return row("", task_name="code_generation", instruction=instruction, information="", solution=solution,
               example_id=f"gen-{instruction[:20]}", **extra)


def translation(solution: str) -> dict:
    return row("", task_name="code_translation", target_language="javascript", solution=solution,
               instruction="Translate the following Python function to JavaScript.", example_id=f"tr-{solution[-30:]}")


def test_code_rows_no_test_decided_must_single_out_their_code():
    settings = DiscriminatorSettings(execute=False, judge_few_shot_good=0, judge_few_shot_bad=0, check_rules=[])
    rows = [generation("Write a function `area` that multiplies width and height.", AREA),
            # another problem's solution, renamed to the asked name: the instruction points at its neighbour
            generation("Write a function `area` that adds the sides twice.", AREA),
            translation("function area(width, height) {\n  return width * height;\n}"),
            translation("function area(width, height) {\n  return 2 * (width + height);\n}")]  # of perimeter
    with ScriptedEndpoint(code_picker) as judge:
        right_gen, wrong_gen, right_tr, wrong_tr = discriminate(rows, judge.client, settings)
        asked = [b["messages"][-1]["content"] for b in judge.bodies if b["messages"][0]["content"] in C.SYSTEMS.values()]
    assert right_gen.verdict == "accepted" and right_gen.rule_verdicts["instruction_identifies_code"]["answer"] == "yes"
    assert wrong_gen.failed_rules == ["instruction_identifies_code"]
    assert right_tr.verdict == "accepted" and right_tr.rule_verdicts["translation_identifies_source"]["answer"] == "yes"
    assert wrong_tr.failed_rules == ["translation_identifies_source"]
    assert "did not single out" in wrong_tr.rule_verdicts["translation_identifies_source"]["reason"]
    # names masked alike: the instruction's `area`, the solution's and the translation's own name and parameters
    assert all("area" not in text for text in asked) and any("function f(x1, x2)" in text for text in asked)


def test_a_code_row_whose_tests_ran_is_not_asked():
    settings = DiscriminatorSettings(judge_few_shot_good=0, judge_few_shot_bad=0, check_rules=[])
    tested = generation("Write a function `area` that adds the sides twice.", AREA, tests="assert area(2, 3) == 6")
    with ScriptedEndpoint(code_picker) as judge:
        [outcome] = discriminate([tested], judge.client, settings)
        asked = [b for b in judge.bodies if b["messages"][0]["content"] in C.SYSTEMS.values()]
    assert outcome.rule_verdicts["tests_pass"]["answer"] == "yes" and not asked
    assert "instruction_identifies_code" not in outcome.rule_verdicts
