"""Evol-Instruct, OSS-Instruct and the strategy report: pure parts, runs against the local OpenAI-compatible
test server, real materializations with the embedded model (marked llm), and the report on fixture frames."""

import json
import random
import re
from collections import Counter
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_tests.scripted_endpoint import ScriptedEndpoint
from assets_tests.test_partitions import all_shards
from wavecoder_assets.assets import strategies
from wavecoder_assets.benchmark_data import MBPP_DIR
from wavecoder_assets.lakefiles import read_table, table_path, write_table
from wavecoder_assets.llm import ChatClient
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource
from wavecoder_assets.strategies import compare, evol, oss
from wavecoder_assets.testing.openai_server import ThreadedServer

PARENT = "Write a Python function that returns the arithmetic mean of a non-empty list of numbers."


# ---------------------------------------------------------------- Evol-Instruct: heuristics and elimination

def test_heuristic_draw_is_reproducible_per_seed_and_independent_of_row_order():
    ids = [f"seed-{i}" for i in range(200)]
    first = [evol.draw_heuristic(0, 1, i) for i in ids]
    assert first == [evol.draw_heuristic(0, 1, i) for i in ids]
    assert dict(zip(reversed(ids), [evol.draw_heuristic(0, 1, i) for i in reversed(ids)])) == dict(zip(ids, first))
    assert first != [evol.draw_heuristic(1, 1, i) for i in ids]  # another seed
    assert first != [evol.draw_heuristic(0, 2, i) for i in ids]  # another round
    counts = Counter(first)
    assert set(counts) == set(evol.HEURISTICS) and min(counts.values()) >= 20  # uniform over the five


def test_evolution_prompt_is_wizardcoders_template():
    [message] = evol.evolve_messages(PARENT, "erroneous_code")
    assert message["content"].startswith("Please increase the difficulty of the given programming test question a bit.")
    assert "Provide a piece of erroneous code as a reference to increase misdirection.\n\n" + PARENT in message["content"]


@pytest.mark.parametrize("evolved, rule", [
    ("Write code fast.", "too_short"),
    ("#Rewritten Prompt#: Write a Python function that returns the mean of a list and raises on empty input.",
     "copied_prompt"),
    ("Please increase the difficulty of the given programming test question: write a Python function for the mean.",
     "copied_prompt"),
    ("Sure! Here is the solution you asked for, computing the mean in Python:\n```python\ndef mean(xs):\n"
     "    return sum(xs) / len(xs)\n```", "not_a_question"),
    ("I'm sorry, but I cannot make this programming question any harder than it already is.", "not_a_question"),
    ("```python\ndef mean(values):\n    total = sum(values)\n    return total / len(values)\n```", "not_a_question"),
    ("The arithmetic mean of numbers is their sum divided by their count, as every pupil learns at school.",
     "not_a_question"),
    (PARENT, "no_new_information"),
    (PARENT.replace("non-empty", "nonempty"), "no_new_information"),
    ("Write a Python function that returns the arithmetic mean of a non-empty list of numbers numbers.",
     "no_new_information"),
])
def test_each_elimination_rule_catches_its_failure(evolved, rule):
    found = evol.eliminate(evolved, PARENT)
    assert found is not None and found.rule == rule, found
    assert found.reason


def test_a_real_evolution_survives_and_a_phrase_from_the_parent_is_not_a_copy():
    harder = (PARENT + " Ignore None values, and return the mean rounded to two decimals without using sum() or "
              "statistics.")
    assert evol.eliminate(harder, PARENT) is None
    parent = "Explain the original problem with this Java loop and fix it."
    assert evol.eliminate("Explain the original problem with this Java loop, fix it, and make it run in O(n) time "
                          "using a single pass.", parent) is None


def test_short_apology_answer_is_eliminated_and_equality_answers_parse():
    assert evol.answer_refused("I'm sorry, I can't help with that.").rule == "answer_refused"
    assert evol.answer_refused("def mean(xs):\n    return sum(xs) / len(xs)") is None
    assert evol.parse_equality("Not Equal") is False
    assert evol.parse_equality("Equal.") is True
    assert evol.parse_equality("They differ in depth.") is None


def test_question_is_cut_out_of_a_wrapped_answer():
    text = ("To increase the difficulty, here's a revised version:\n\n**Question:**\n\nWrite a Python function that "
            "returns the mean of a list, rounded to 2 decimals.\n\n**Erroneous Code:**\n```python\ndef mean(xs):\n"
            "    return sum(xs) / (len(xs) - 1)\n```\n\n**Solution:**\n```python\ndef mean(xs): ...\n```\n\n"
            "### Explanation\nIt divides.")
    question = evol.extract_question(text)
    assert question.startswith("Write a Python function that returns the mean")
    assert "Erroneous Code" in question and "(len(xs) - 1)" in question  # part of the question for that heuristic
    assert "Solution" not in question and "It divides" not in question
    plain = "Write a Go function that merges two sorted slices in O(n) time."
    assert evol.extract_question(plain) == plain


def test_alpaca_seed_file_is_read_and_bad_records_are_refused(tmp_path):
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([
        {"instruction": "Write a function that adds two numbers.", "input": "", "output": "def add(a, b): return a + b"},
        {"instruction": "Translate to Python.", "input": "int x = 1;", "output": "x = 1"},
    ]))
    seeds = evol.seeds_from_alpaca(path, max_seeds=None, seed=0)
    assert seeds.height == 2 and set(seeds["round"]) == {0} and set(seeds["status"]) == {"ok"}
    assert (seeds["seed_id"] == seeds["example_id"]).all()
    assert seeds.filter(pl.col("information") == "int x = 1;")["solution"].to_list() == ["x = 1"]
    path.write_text(json.dumps([{"input": "x", "output": "y"}]))
    with pytest.raises(ValueError, match="record 0"):
        evol.seeds_from_alpaca(path, max_seeds=None, seed=0)


def _seeds(n: int) -> pl.DataFrame:
    rows = [{"example_id": f"ex{i}", "source_id": f"src{i}", "task_name": "code_generation", "language": "python",
             "instruction": f"Write a Python function number {i} that sorts a list of integers in place.",
             "information": "", "solution": f"def f{i}(xs):\n    xs.sort()", "generator_model": "m",
             "prompt_version": "v"} for i in range(n)]
    return evol.seeds_from_code_ocean(pl.DataFrame(rows), max_seeds=None, seed=0)


def test_merged_output_keeps_every_seed_and_tags_rounds_and_heuristics():
    seeds = _seeds(4)
    # One seed's evolution always fails at the endpoint: it must be recorded, not lost.
    seeds = seeds.with_columns(pl.when(pl.col("example_id") == "ex3").then(
        pl.col("instruction") + " FAULTS=500,500,500,500,500,500,500,500").otherwise(pl.col("instruction")))
    with ThreadedServer() as server:
        client = ChatClient(server.base_url, "test-model", max_retries=1, backoff_base_s=0.01, backoff_max_s=0.02)
        out = evol.evolve(seeds, client, None, evol.EvolSettings(rounds=2, seed=5))
    assert out.height == 4 * 3
    assert out.filter(pl.col("round") == 0)["example_id"].sort().to_list() == ["ex0", "ex1", "ex2", "ex3"]
    assert out.filter(pl.col("round") == 0)["status"].to_list() == ["ok"] * 4
    evolved = out.filter(pl.col("round") > 0)
    assert all(h == evol.draw_heuristic(5, r, s) for h, r, s in evolved.select("heuristic", "round", "seed_id").iter_rows())
    # The echo server repeats the prompt: every rewrite copies the template and is eliminated with its reason.
    ok_lineages = evolved.filter(pl.col("seed_id") != "ex3")
    assert set(ok_lineages["status"]) == {"eliminated"} and set(ok_lineages["rule"]) == {"copied_prompt"}
    # An eliminated lineage evolves again from its last survivor (the seed) in the next round.
    assert set(ok_lineages["parent_id"]) == {"ex0", "ex1", "ex2"}
    failed = evolved.filter(pl.col("seed_id") == "ex3")
    assert set(failed["status"]) == {"failed"} and all("HTTP 500" in r for r in failed["reason"])
    assert out["example_id"].n_unique() == out.height


def test_seeds_come_from_the_seed_file_else_code_ocean_and_code_ocean_seeds_keep_their_verdict(tmp_path):
    code_ocean = _seeds(2).select("example_id", "source_id", "task_name", "language", "instruction", "information",
                                  "solution", "generator_model", "prompt_version").with_columns(judge_model=pl.lit("j"))
    path = tmp_path / "alpaca.json"
    path.write_text(json.dumps([{"instruction": "Write a function that adds two numbers.", "output": "def add(a, b): ..."}]))
    assert evol.draw_seeds(code_ocean, path, max_seeds=None, seed=0)["source_id"].to_list() == ["alpaca.json:0"]
    seeds = evol.draw_seeds(code_ocean, None, max_seeds=None, seed=0)
    assert seeds["example_id"].to_list() == ["ex0", "ex1"]
    with ThreadedServer() as server:
        client = ChatClient(server.base_url, "test-model", max_retries=0)
        out = evol.evolve(seeds, client, None, evol.EvolSettings(rounds=1), verdicts=evol.code_ocean_verdicts(code_ocean))
    assert out.columns == [*evol.EVOL_SCHEMA, *compare.VERDICT_SCHEMA]
    assert out.filter(pl.col("round") == 0).select("verdict", "judge_model").rows() == [("accepted", "j")] * 2
    assert out.filter(pl.col("round") == 1)["verdict"].is_null().all()  # evolutions are judged anew


def test_equality_judge_eliminates_an_unchanged_rewrite_and_code_ocean_verdicts_still_join():
    """The paper job's path: the equality judge on, the seeds' verdicts joined on."""
    code_ocean = _seeds(2).select("example_id", "source_id", "task_name", "language", "instruction", "information",
                                  "solution", "generator_model", "prompt_version").with_columns(judge_model=pl.lit("j"))
    seeds = evol.draw_seeds(code_ocean, None, max_seeds=None, seed=0)

    def generator(body):
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Please increase the difficulty"):
            number = re.search(r"number (\d+)", prompt).group(1)
            return (f"Write a Python function number {number} that sorts a list of integers in place without the "
                    "built-in sort, and returns how many swaps it made.")
        return "def f(xs):\n    swaps = 0\n    return swaps"

    def equality_judge(body):  # seed 0's rewrite is judged Equal (eliminated), seed 1's Not Equal
        return "Equal" if "number 0 that sorts a list of integers in place without" in body["messages"][-1]["content"] \
            else "Not Equal"

    with ScriptedEndpoint(generator) as gen, ScriptedEndpoint(equality_judge) as judge:
        out = evol.evolve(seeds, gen.client, judge.client, evol.EvolSettings(rounds=1, judge_equality=True),
                          verdicts=evol.code_ocean_verdicts(code_ocean))
    evolved = {r["seed_id"]: r for r in out.filter(pl.col("round") == 1).iter_rows(named=True)}
    assert (evolved["ex0"]["status"], evolved["ex0"]["rule"]) == ("eliminated", "no_new_information")
    assert evolved["ex1"]["status"] == "ok" and evolved["ex1"]["solution"].startswith("def f(xs)")
    assert len(judge.bodies) == 2
    assert out.filter(pl.col("round") == 0)["verdict"].to_list() == ["accepted"] * 2


# ---------------------------------------------------------------- OSS-Instruct

CODE = "\n".join(f"line_{i} = {i}" if i % 7 else "" for i in range(60)) + "\n"


def test_snippet_windows_are_1_to_15_consecutive_lines_and_seeded():
    lines = CODE.splitlines(keepends=True)
    draws = [oss.draw_snippet(CODE, random.Random(f"s/{i}")) for i in range(300)]
    for d in draws:
        assert 1 <= d.n_lines <= 15 and d.text == "".join(lines[d.start_line : d.start_line + d.n_lines])
        assert lines[d.start_line].strip()  # never starts on a blank line
    assert {d.n_lines for d in draws} >= {1, 15}
    assert draws == [oss.draw_snippet(CODE, random.Random(f"s/{i}")) for i in range(300)]
    with pytest.raises(ValueError):
        oss.draw_snippet("\n\n", random.Random(0))


def test_seed_plan_is_reproducible_cycles_samples_and_seeds_requests():
    coreset = pl.DataFrame({"id": ["a", "b"], "language": ["python", "go"], "code": [CODE, CODE], "rank": [1, 0]})
    plan = oss.plan_seeds(coreset, n_seeds=5, seed=976)
    assert [p["source_id"] for p in plan] == ["b", "a", "b", "a", "b"]  # rank order, cycling
    assert [p["request_seed"] for p in plan] == [976, 977, 978, 979, 980]
    assert plan == oss.plan_seeds(coreset, n_seeds=5, seed=976)
    assert [p["seed_snippet"] for p in plan] != [p["seed_snippet"] for p in oss.plan_seeds(coreset, n_seeds=5, seed=1)]
    assert len({p["example_id"] for p in plan}) == 5


@pytest.mark.parametrize("text, expected", [
    ("[Problem Description]\nWrite f.\n\n[Solution]\n```python\ndef f(): pass\n```", ("Write f.", "```python\ndef f(): pass\n```")),
    ("Here you go.\n## Problem Description\nSum a list.\n**Solution:**\nsum(xs)", ("Sum a list.", "sum(xs)")),
    ("[Problem Description]: Inline problem.\n[Solution]: inline()", ("Inline problem.", "inline()")),
    ("[Solution]\nx = 1\n[Problem Description]\nSet x.", None),  # out of order
    ("[Problem Description]\nOnly a problem.", None),
    ("[Problem Description]\n\n[Solution]\nanswer", None),  # empty problem
    ("Some prose without sections.", None),
])
def test_problem_solution_parser(text, expected):
    assert oss.parse_problem_solution(text) == expected


def _coreset(n: int = 3) -> pl.DataFrame:
    codes = ["def add(a, b):\n    return a + b\n", "func Max(a, b int) int {\n\tif a > b {\n\t\treturn a\n\t}\n\treturn b\n}\n",
             "def is_even(n):\n    \"\"\"True for even n.\"\"\"\n    return n % 2 == 0\n"]
    return pl.DataFrame({"id": [f"c{i}" for i in range(n)], "language": ["python", "go", "python"][:n],
                         "code": codes[:n], "docstring": [""] * n, "repo": ["r"] * n, "path": ["p"] * n,
                         "func_name": ["f"] * n, "rank": list(range(n)), "radius": [1.0] * n})


@pytest.mark.parametrize("n_seeds", range(8))
def test_shard_shares_together_draw_what_one_run_over_the_coreset_would(n_seeds):
    coreset = _coreset().with_columns(rank=pl.Series([2, 0, 1]))  # c0 ranks last
    shards = [coreset.filter(pl.col("id") == "c0"), coreset.filter(pl.col("id") != "c0")]
    settings = [oss.shard_settings(coreset, rows, oss.OssSettings(n_seeds=n_seeds, seed=7)) for rows in shards]
    drawn = [p["example_id"] for rows, shard in zip(shards, settings) if shard
             for p in oss.plan_seeds(rows, n_seeds=shard.n_seeds, seed=7)]
    assert sorted(drawn) == sorted(p["example_id"] for p in oss.plan_seeds(coreset, n_seeds=n_seeds, seed=7))
    assert (settings[0] is None) == (n_seeds < 3)  # c0 is drawn only once the seeds reach it
    assert oss.shard_settings(coreset, shards[0], oss.OssSettings(n_seeds=None)).n_seeds is None


def test_oss_materialization_keeps_fingerprint_and_sends_seeded_requests(lake_dir):
    write_table(_coreset(), table_path(lake_dir, "coreset"))
    with ThreadedServer() as server:
        endpoint = LLMEndpoint(base_url=server.base_url, model="test-model", max_retries=0)
        resources = resources_for("local", lake_dir=lake_dir) | {
            "llm": LLMResource(generator=endpoint, judge=endpoint, cache_path=str(Path(lake_dir) / ".llm_cache.sqlite"))}
        run = dg.materialize([dg.AssetSpec("coreset"), strategies.oss_instructions], selection=[strategies.oss_instructions],
                             resources=resources, tags=all_shards(), run_config=dg.RunConfig(
            ops={"oss_instructions": strategies.OssInstructionsConfig(n_seeds=4, seed=7, judge_max_rows=0)}))
        bodies = [a["body"] for calls in server.stats()["by_messages"].values() for a in calls]
    assert run.success
    out = read_table(lake_dir, "oss_instructions")
    assert out.height == 4 and set(out["system_fingerprint"]) == {"fp_test"}
    # The shards together draw the snippets one run over the whole coreset would (4 seeds from 3 samples: the
    # best-ranked sample twice); each shard seeds its requests seed + its own index.
    assert sorted(out["example_id"]) == sorted(p["example_id"] for p in oss.plan_seeds(_coreset(), n_seeds=4, seed=7))
    shard_sizes = Counter(out["shard"])
    assert sorted(b["seed"] for b in bodies) == sorted(7 + i for n in shard_sizes.values() for i in range(n))
    assert all(b["messages"][0]["content"] == oss.SYSTEM for b in bodies)
    assert set(out["status"]) <= {"ok", "unparseable"} and out["verdict"].is_null().all()


def test_evol_materialization_from_an_alpaca_file_judges_and_accounts_for_every_row(lake_dir, tmp_path):
    seed_file = tmp_path / "code_alpaca.json"
    seed_file.write_text(json.dumps([
        {"instruction": "Write a Python function that reverses a list in place.", "input": "",
         "output": "```python\ndef rev(xs):\n    xs.reverse()\n```"},
        {"instruction": "Explain what this Go function does.", "input": "func id(x int) int { return x }",
         "output": "It returns its argument."},
    ]))
    write_table(_code_ocean_fixture().head(0), table_path(lake_dir, "code_ocean"))
    with ThreadedServer() as server:
        endpoint = LLMEndpoint(base_url=server.base_url, model="test-model", max_retries=0)
        resources = resources_for("local", lake_dir=lake_dir) | {
            "llm": LLMResource(generator=endpoint, judge=endpoint, cache_path=str(Path(lake_dir) / ".llm_cache.sqlite"))}
        config = strategies.EvolInstructionsConfig(seed_file=str(seed_file), max_seeds=None, rounds=2, judge_max_rows=None)
        run = dg.materialize([dg.AssetSpec("code_ocean"), strategies.evol_instructions],
                             selection=[strategies.evol_instructions], resources=resources, tags=all_shards(),
                             run_config=dg.RunConfig(ops={"evol_instructions": config}))
    assert run.success
    out = read_table(lake_dir, "evol_instructions")
    assert out.height == 2 * 3  # two seeds, each with an evolution in rounds 1 and 2
    assert sorted(out.filter(pl.col("round") == 0)["source_id"]) == ["code_alpaca.json:0", "code_alpaca.json:1"]
    # Only ok rows are judged: the two seeds (the echo server's evolutions all copy the prompt). The Python seed
    # is judged (its language read from the code fence) and fails on the echo's non-verdict; the Go seed with
    # a prose answer has no known language and is recorded as not judged.
    assert out.filter(pl.col("status") != "ok")["verdict"].is_null().all()
    seeds = {r["source_id"]: r for r in out.filter(pl.col("round") == 0).iter_rows(named=True)}
    assert seeds["code_alpaca.json:0"]["verdict"] == "failed" and "judge" in seeds["code_alpaca.json:0"]["reasons"]
    assert seeds["code_alpaca.json:0"]["judge_model"] == "test-model"
    assert seeds["code_alpaca.json:1"]["reasons"].startswith("not judged")
    metadata = run.asset_materializations_for_node("evol_instructions")[0].metadata
    assert metadata["eliminated"].value == 4 and metadata["seed_source"].value == str(seed_file)
    assert metadata["llm_judge_requests"].value == 1


# ---------------------------------------------------------------- the strategy report on fixture frames

LEAKED = ("Given a positive floating point number, it can be decomposed into and integer part (largest integer "
          "smaller than given number) and decimals (leftover part always smaller than 1). Return the decimal part.")


def _code_ocean_fixture() -> pl.DataFrame:
    rows = [
        ("co0", "code_generation", "python", "Write a Python function add that sums two numbers.", "",
         "def add(a, b):\n    return a + b\n\nassert add(1, 2) == 3"),
        ("co1", "code_generation", "python", "Write a Python function sub that subtracts b from a.", "",
         "def sub(a, b):\n    return a + b\n\nassert sub(3, 1) == 2"),  # wrong: its assert fails in the sandbox
        ("co2", "code_summarization", "java", "Summarize what the following Java method does.",
         "int twice(int x) { return 2 * x; }", "It returns twice its argument."),
        ("co3", "code_generation", "python", "Write a Python function for this. " + LEAKED, "",
         "def truncate_number(number):\n    return number % 1.0"),
    ]
    return pl.DataFrame([dict(zip(["example_id", "task_name", "language", "instruction", "information", "solution"], r))
                         | {"source_id": r[0], "generator_model": "g", "judge_model": "j", "prompt_version": "v"}
                         for r in rows])


def _evol_fixture() -> pl.DataFrame:
    rows = [
        ("co0", "co0", None, 0, None, "Write a Python function add that sums two numbers.", "ok", None, "accepted"),
        ("e1", "co0", "co0", 1, "add_constraints", "Write a Python function add that sums two numbers and rejects "
         "booleans with a TypeError.", "ok", None, "accepted"),
        ("e2", "co0", "e1", 2, "complexity", "Write a python function to remove first and last occurrence of a "
         "given character from the string in O(n) time.", "ok", None, "rejected"),  # MBPP/11, nearly verbatim
        ("e3", "co0", "e2", 3, "erroneous_code", "Please increase the difficulty.", "eliminated", "copied_prompt", None),
    ]
    keys = ["example_id", "seed_id", "parent_id", "round", "heuristic", "instruction", "status", "rule", "verdict"]
    return pl.DataFrame([dict(zip(keys, r)) | {"information": "", "task_name": "code_generation", "language": "python",
                                               "solution": "```python\nprint('ok')\n```"} for r in rows])


def _oss_fixture() -> pl.DataFrame:
    same = "Write a Python function that checks whether a number is even."
    rows = [
        ("o1", same, "```python\ndef is_even(n):\n    return n % 2 == 0\n\nassert is_even(4)\n```", "ok"),
        ("o2", same, "```python\ndef is_even(n) return n % 2 == 0\n```", "ok"),  # does not parse
        ("o3", None, None, "unparseable"),
    ]
    return pl.DataFrame([dict(zip(["example_id", "instruction", "solution", "status"], r))
                         | {"information": "", "task_name": "code_generation", "language": "python", "verdict": None}
                         for r in rows], schema_overrides={"verdict": pl.String})


def test_nearest_distances_and_diversity_match_brute_force():
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    full = np.linalg.norm(a[:, None, :].astype(np.float64) - a[None, :, :], axis=2)
    np.fill_diagonal(full, np.inf)
    assert np.allclose(compare.nearest_distances(a, a, exclude_self=True, block=64), full.min(1), atol=1e-4)
    cross = np.linalg.norm(np.concatenate([a, b])[:, None, :].astype(np.float64) - b[None, :, :], axis=2)
    measures = compare.diversity({"a": a, "b": b, "none": np.zeros((0, 8), np.float32)})
    assert measures["b"]["coverage_radius"] == pytest.approx(cross.min(1).max(), abs=1e-4)
    assert measures["a"]["mean_nn_distance"] == pytest.approx(full.min(1).mean(), abs=1e-4)
    assert measures["a"]["coverage_radius"] < measures["b"]["coverage_radius"]  # 300 points cover more than 50
    assert measures["none"] == {"coverage_radius": None, "mean_nn_distance": None}


def test_strategy_report_on_fixture_frames(lake_dir):
    for name, frame in [("code_ocean", _code_ocean_fixture()), ("evol_instructions", _evol_fixture()),
                        ("oss_instructions", _oss_fixture())]:
        write_table(frame, table_path(lake_dir, name))
    upstream = [dg.AssetSpec("code_ocean"), dg.AssetSpec("coreset"), strategies.evol_instructions,
                strategies.oss_instructions]
    config = strategies.StrategyReportConfig(mbpp_path=str(MBPP_DIR / "mbpp.jsonl"))
    run = dg.materialize([*upstream, strategies.strategy_report], selection=[strategies.strategy_report],
                         resources=resources_for("local", lake_dir=lake_dir),
                         run_config=dg.RunConfig(ops={"strategy_report": config}))
    assert run.success
    report = read_table(lake_dir, "strategy_report")
    by = {r["strategy"]: r for r in report.to_dicts()}
    co, merged, evolved, oss_row = (by["wavecoder (code_ocean)"], by["evol_instruct (seeds + evolutions)"],
                                    by["evol_instruct (evolutions only)"], by["oss_instruct"])
    assert [co["rows"], merged["rows"], evolved["rows"], oss_row["rows"]] == [4, 3, 2, 2]
    # Sandbox: co0's assert passes, co1's fails; co2 is a summary; co3 has no asserts to run.
    assert (co["python_rows"], co["python_parsed"], co["python_run"], co["python_passed"]) == (3, 3, 2, 1)
    assert co["sandbox_pass_rate"] == 0.5
    assert (oss_row["python_rows"], oss_row["python_parsed"], oss_row["python_run"], oss_row["python_passed"]) == (2, 1, 1, 1)
    # Judge: CodeOcean is accepted by construction; evolutions 1 of 2; OSS rows were not judged.
    assert co["judge_pass_rate"] == 1.0 and evolved["judge_pass_rate"] == 0.5 and evolved["judged_rows"] == 2
    assert oss_row["judged_rows"] == 0 and oss_row["judge_pass_rate"] is None
    # Overlap: co3 copies HumanEval/2's docstring.
    assert co["benchmark_overlap_rows"] == 1 and co["benchmark_overlap"] == "HumanEval: 1"
    assert merged["benchmark_overlap"] == evolved["benchmark_overlap"] == "MBPP: 1"
    assert oss_row["benchmark_overlap_rows"] == 0
    # Diversity: OSS holds one instruction twice, so its nearest neighbour is at distance 0.
    assert oss_row["mean_nn_distance"] == pytest.approx(0.0, abs=1e-3)
    assert co["mean_nn_distance"] > 0.1 and all(r["coverage_radius"] >= 0 for r in by.values())
    # The merged Evol set contains the evolutions, so it covers the pooled space at least as well.
    assert merged["coverage_radius"] <= evolved["coverage_radius"] + 1e-6
    assert co["tokens"] > co["rows"] * 10 and co["tokens_per_row"] == co["tokens"] / 4
    metadata = run.asset_materializations_for_node("strategy_report")[0].metadata
    assert "| strategy |" in metadata["report"].value and "oss_instruct" in metadata["report"].value


# ---------------------------------------------------------------- real runs with the embedded model

@pytest.mark.llm
def test_evol_and_oss_materialize_with_the_embedded_model_and_rerun_from_cache(lake_dir):
    write_table(_code_ocean_fixture().head(2), table_path(lake_dir, "code_ocean"))
    write_table(_coreset(2), table_path(lake_dir, "coreset"))
    resources = resources_for("local", lake_dir=lake_dir)
    # One model for both roles: the judge path runs without loading the 1.5B judge.
    resources["llm"] = LLMResource(judge=LLMEndpoint(local_model=resources["llm"].generator.local_model),
                                   cache_path=resources["llm"].cache_path)
    assets = [dg.AssetSpec("code_ocean"), dg.AssetSpec("coreset"), strategies.evol_instructions,
              strategies.oss_instructions]
    config = dg.RunConfig(ops={
        "evol_instructions": strategies.EvolInstructionsConfig(max_seeds=2, rounds=1, answer_max_tokens=256),
        "oss_instructions": strategies.OssInstructionsConfig(n_seeds=2, max_tokens=512, judge_max_rows=1)})
    runs = [dg.materialize(assets, selection=assets[2:], resources=resources, run_config=config, tags=all_shards())
            for _ in range(2)]
    assert all(run.success for run in runs)

    out = read_table(lake_dir, "evol_instructions")
    assert out.filter(pl.col("round") == 0)["example_id"].sort().to_list() == ["co0", "co1"]
    evolved = out.filter(pl.col("round") == 1)
    assert evolved.height == 2 and set(evolved["status"]) <= {"ok", "eliminated"}
    assert all(h == evol.draw_heuristic(0, 1, s) for h, s in evolved.select("heuristic", "seed_id").iter_rows())
    for row in evolved.iter_rows(named=True):
        assert row["raw_output"] and row["generator_model"] == "qwen2.5-coder-0.5b-instruct"
        if row["status"] == "ok":
            assert len(row["instruction"].split()) >= 8 and row["solution"]
        else:
            assert row["rule"] in set(evol.RULES) | {"answer_refused"} and row["reason"]

    oss_out = read_table(lake_dir, "oss_instructions").sort("example_id")
    assert oss_out.height == 2 and set(oss_out["request_seed"]) <= {976, 977}  # seed + index within the shard
    codes = dict(zip(_coreset(2)["id"], _coreset(2)["code"]))
    assert all(s in codes[i] for s, i in zip(oss_out["seed_snippet"], oss_out["source_id"]))
    for row in oss_out.iter_rows(named=True):
        assert (row["status"] == "ok") == (row["instruction"] is not None and row["error"] is None), row
    judged = oss_out.filter(pl.col("verdict").is_not_null())
    # judge_max_rows=1 per shard: one ok row of each shard that has one
    assert judged.height == oss_out.filter(pl.col("status") == "ok")["shard"].n_unique()
    assert set(judged["verdict"]) <= {"accepted", "rejected", "failed"}

    for name in ("evol_instructions", "oss_instructions"):  # unchanged rerun: everything from the cache
        metadata = runs[1].asset_materializations_for_node(name)[0].metadata
        assert metadata["llm_generator_endpoint_calls"].value == 0
        assert metadata["llm_generator_requests"].value > 0
    assert read_table(lake_dir, "oss_instructions").sort("example_id").equals(oss_out)
