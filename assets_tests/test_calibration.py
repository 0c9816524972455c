"""The discriminator's calibration: the shipped labelled set (rebuilt byte for byte, balanced, every broken-rule
kind in several tasks or languages, accepted rows whose tests really pass in the sandbox and labels the code
checks agree with), the metrics on hand-made verdicts, the loader's errors, and the CLI."""

from __future__ import annotations

import collections
import importlib
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.benchmark_data import CALIBRATION_SET
from wavecoder_assets.generate.calibration import (
    CALIBRATION_SCHEMA,
    CANDIDATE_KEYS,
    LABELLED_KEYS,
    Verdict,
    accuracy_by_set,
    calibration_gate,
    calibration_report,
    judge_decided,
    judge_only_report,
    load_labelled,
    rule_answers,
    stratified_sample,
    verdicts_of,
)
from wavecoder_assets.generate.checks import CHECKS, run_checks
from wavecoder_assets.generate.tasks import solution_language
from wavecoder_assets.sandbox import SandboxLimits, run_command, run_python

SHIPPED = CALIBRATION_SET
BUILDER = REPO_ROOT / "bench" / "build_calibration_set.py"
LANGS = ("python", "javascript", "java")
# A rule a row cannot break alone: a translation in the wrong language is no code in the target language either;
# a translation with prose around it does not parse as the target language as a whole.
ALSO_FAILS = {("code_translation", "translation_changes_language"): {"solution_is_code"},
              ("code_translation", "solution_is_code"): {"translation_changes_language"}}
# names_agree compares the names of two fields: a solution or summary of other code breaks it, and so may prose for
# a solution, an input of comments only or a translation left in its source language.
ALSO_FAILS_ANY_BROKEN_ROW = {"names_agree"}


@pytest.fixture(scope="module")
def shipped() -> list[dict]:
    return load_labelled(SHIPPED)


# ---------------------------------------------------------------- the shipped set

def test_builder_reproduces_the_shipped_file(tmp_path):
    out = tmp_path / "calibration.jsonl"
    run = subprocess.run([sys.executable, str(BUILDER), "--out", str(out)], cwd=REPO_ROOT, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert out.read_bytes() == SHIPPED.read_bytes(), "rebuild the set: python bench/build_calibration_set.py"


def test_every_row_loads_with_its_keys_and_the_labels_balance(shipped):
    raw = [json.loads(line) for line in SHIPPED.read_text(encoding="utf-8").splitlines()]
    assert len(raw) == len(shipped) and 120 <= len(shipped) <= 200
    for row in raw:
        assert set(row) == set(LABELLED_KEYS) | {"broken_rule", "note"}, row["id"]
        assert (row["broken_rule"] is None) == (row["label"] == "accepted"), row["id"]
        assert row["note"] and ("MBPP" in row["note"] or "HumanEvalPack" in row["note"]), row["id"]
    labels = collections.Counter(r["label"] for r in shipped)
    assert abs(labels["accepted"] - labels["rejected"]) <= 0.1 * len(shipped), labels
    for key in ("task_name", "language"):
        for value in {r[key] for r in shipped}:
            assert {r["label"] for r in shipped if r[key] == value} == {"accepted", "rejected"}, value
    assert {r["task_name"] for r in shipped} == {"code_generation", "code_summarization", "code_repair",
                                                   "code_translation"}
    assert {r["language"] for r in shipped} | {r["target_language"] for r in shipped} - {None} == set(LANGS)


def test_each_broken_rule_kind_spans_tasks_or_languages(shipped):
    kinds = collections.defaultdict(set)
    for r in shipped:
        if r["broken_rule"]:
            kinds[r["broken_rule"]].add((r["task_name"], r["language"], r["target_language"]))
    assert {"names_language", "solution_is_code", "solution_resolves", "input_is_code", "repair_changes_code",
            "translation_changes_language", "summary_is_prose", "imports_what_it_uses", "tests_pass"} <= set(kinds)
    for rule, places in kinds.items():
        tasks, languages = {p[0] for p in places}, {p[1] for p in places} | {p[2] for p in places} - {None}
        assert len(tasks) >= 2 or len(languages) >= 2, (rule, places)


def test_tests_are_standalone_programs(shipped):
    for r in shipped:
        if r["tests"] is None:
            continue
        language = solution_language(r["task_name"], r["language"], r["target_language"])
        if language == "javascript":
            assert "require('assert')" in r["tests"] and "console.assert" not in r["tests"], r["id"]
        elif language == "java":
            assert "public class Main" in r["tests"] and "public static void main(String[] args)" in r["tests"], r["id"]
        else:
            assert "assert" in r["tests"], r["id"]


def test_code_checks_agree_with_the_labels(shipped):
    """Accepted rows pass every code check; a rejected row fails at most its own rule (and what that implies), and
    fails it when its rule is a code check. The judge and the sandbox cover the other rules."""
    offences = []
    for r in shipped:
        failed = {v.rule for v in run_checks(r) if not v.passed}
        broken = r["broken_rule"]
        allowed = ({broken} | ALSO_FAILS.get((r["task_name"], broken), set()) | ALSO_FAILS_ANY_BROKEN_ROW
                   if broken else set())
        if failed - allowed:
            offences.append((r["id"], sorted(failed - allowed)))
        if broken in CHECKS and broken not in failed:
            offences.append((r["id"], f"{broken} passed"))
    assert not offences, offences


def _run_tests(code: str, tests: str, language: str):
    program = code.rstrip("\n") + "\n\n" + tests
    if language == "python":
        return run_python(program, timeout_s=30)
    limits = SandboxLimits(cpu_s=30, max_processes=256)  # compilers and JVMs run many threads
    if language == "javascript":
        return run_command(["node", "main.js"], {"main.js": program}, timeout_s=30, limits=limits)
    return run_command(["sh", "-c", "javac Main.java && java -ea Main"], {"Main.java": program}, timeout_s=60,
                       limits=limits)


def test_tests_pass_on_accepted_rows_and_fail_where_labelled_in_the_sandbox(shipped):
    """A labelled "accepted" row whose tests fail would poison calibration: every accepted row's tests pass on its
    solution, and fail on a repair's buggy code; a tests_pass row's fail; a repair_fixes_bug row's pass on its
    'buggy' code."""
    for tool in ("node", "javac", "java"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: the JavaScript / Java rows cannot be checked")
    jobs = []
    for r in shipped:
        if r["tests"] is None:
            continue
        language = solution_language(r["task_name"], r["language"], r["target_language"])
        jobs.append((r["id"], "solution", r["solution"], r["tests"], language,
                     "failed" if r["broken_rule"] == "tests_pass" else "passed"))
        if r["task_name"] == "code_repair" and r["broken_rule"] != "solution_resolves":
            jobs.append((r["id"], "buggy information", r["information"], r["tests"], r["language"],
                         "passed" if r["broken_rule"] == "repair_fixes_bug" else "failed"))
    assert len({j[4] for j in jobs}) == 3 and sum(j[5] == "failed" for j in jobs) >= 10

    def check(job):
        row_id, what, code, tests, language, expected = job
        result = _run_tests(code, tests, language)
        return None if result.status == expected else (row_id, what, f"{result.status}: {result.reason[:200]}")

    with ThreadPoolExecutor(4) as pool:
        wrong = [w for w in pool.map(check, jobs) if w]
    assert not wrong, wrong


# ---------------------------------------------------------------- metrics

def _row(row_id, label, task="code_generation", language="python", broken=None):
    return {"id": row_id, "label": label, "task_name": task, "language": language, "broken_rule": broken}


def _verdict(verdict, answers=None, failed_rules=None):
    answers = answers or {}
    if failed_rules is None:
        failed_rules = [k for k, a in answers.items() if a == "no"]
    return Verdict(verdict=verdict, failed_rules=failed_rules,
                   rule_verdicts={k: {"answer": a, "reason": ""} for k, a in answers.items()})


def _perfect(rows):
    return [_verdict("accepted", {"names_language": "yes", "tests_pass": "yes"}) if r["label"] == "accepted"
            else _verdict("rejected", {r["broken_rule"]: "no"}) for r in rows]


def test_the_gate_asks_the_judge_alone_for_its_own_threshold_and_knows_which_rows_it_decided():
    rows = [_row("a", "accepted"), _row("r", "rejected", broken="solution_resolves")] * 2
    verdicts = [_verdict("accepted", {"tests_pass": "yes"}), _verdict("rejected", {"tests_pass": "no"}),
                _verdict("accepted", {"names_language": "yes", "solution_resolves": "yes"}),  # the judge fooled
                _verdict("accepted", {"names_language": "yes", "solution_resolves": "yes"})]
    overall = calibration_report(rows, verdicts)
    judge = calibration_report(*judge_decided(rows, verdicts))
    assert judge.n == 2 and judge.balanced_accuracy == 0.5  # the rows the tests decided are not the judge's
    gate = calibration_gate(overall, 0.7, measured=["v"], built_by=["v"], judge_report=judge, judge_threshold=0.9)
    assert overall.balanced_accuracy == 0.75 and not gate.passed and "the judge alone 0.5" in gate.description
    assert calibration_gate(overall, 0.7, measured=["v"], built_by=["v"], judge_report=judge).passed
    few = calibration_gate(overall, 0.7, measured=["v"], built_by=["v"], judge_report=judge, judge_threshold=0.9,
                           judge_min_rows=3)  # 2 rows: reported, not held to the bar
    assert few.passed and "the judge alone 0.5 on 2 rows, too few to hold to its threshold 0.9" in few.description
    assert not calibration_gate(overall, 0.7, measured=["v"], built_by=["v"], judge_report=judge, judge_threshold=0.9,
                                judge_min_rows=2).passed

    # The same from judge_calibration's table, as the asset's gate reads it; per set as the metadata and card show it
    table = pl.DataFrame([{**row, "verdict": v.verdict, "failed_rules": json.dumps(v.failed_rules),
                           "rule_verdicts": json.dumps(v.rule_verdicts), "labelled_set": "set_" + "ab"[i // 2]}
                          for i, (row, v) in enumerate(zip(rows, verdicts))], schema=CALIBRATION_SCHEMA)
    assert judge_only_report(table).to_dict() == judge.to_dict()
    assert accuracy_by_set(table).drop("true_accept_rate", "true_reject_rate").rows() == [
        ("set_a", 2, 1.0, 0, None), ("set_b", 2, 0.5, 2, 0.5)]
    one_label = judge_only_report(table.head(3))  # the judge alone decided one accepted row: nothing to claim
    gate = calibration_gate(calibration_report(*verdicts_of(table.head(3))), 0.7, measured=["v"], built_by=["v"],
                            judge_report=one_label, judge_threshold=0.9)
    assert one_label is None and gate.passed and "the judge alone not measured" in gate.description


def test_a_perfect_judge_scores_one_and_accept_all_scores_a_half(shipped):
    perfect = calibration_report(shipped, _perfect(shipped))
    assert perfect.true_accept_rate == perfect.true_reject_rate == perfect.balanced_accuracy == 1.0
    assert perfect.n_failed == 0 and perfect.caught_any_rule_rate == 1.0
    assert {r.rule for r in perfect.per_rule} == {r["broken_rule"] for r in shipped} - {None}
    assert all(r.accuracy == 1.0 for r in perfect.per_rule)
    assert all(g.balanced_accuracy == 1.0 for g in perfect.per_task)

    accept_all = calibration_report(shipped, [_verdict("accepted") for _ in shipped])
    assert (accept_all.true_accept_rate, accept_all.true_reject_rate, accept_all.balanced_accuracy) == (1.0, 0.0, 0.5)
    n_accepted = sum(r["label"] == "accepted" for r in shipped)
    assert accept_all.confusion == {("accepted", "accepted"): n_accepted, ("accepted", "rejected"): 0,
                                    ("accepted", "failed"): 0, ("rejected", "accepted"): len(shipped) - n_accepted,
                                    ("rejected", "rejected"): 0, ("rejected", "failed"): 0}


def _hand_made():
    rows = [_row("a", "accepted"), _row("b", "accepted", language="javascript"),
            _row("c", "rejected", broken="names_language"),
            _row("d", "rejected", task="code_summarization", language="java", broken="summary_is_prose"),
            _row("e", "rejected", broken="solution_resolves"),
            _row("f", "accepted", task="code_summarization", language="java"),
            _row("g", "rejected", broken="tests_pass")]
    verdicts = [
        _verdict("accepted", {"names_language": "yes", "solution_resolves": "yes"}),
        _verdict("rejected", {"names_language": "no", "solution_resolves": "yes"}),  # a false fail
        _verdict("rejected", {"names_language": "no"}),  # caught
        _verdict("accepted", {"summary_is_prose": "yes", "names_language": "yes"}),  # missed
        _verdict("rejected", {"solution_resolves": "no", "names_language": "yes"}),  # caught
        _verdict("failed", {"names_language": "yes"}),  # the judge failed; the code check still answered
        _verdict("rejected", failed_rules=["solution_is_code"]),  # tests_pass not run
    ]
    return rows, verdicts


def test_rates_per_rule_confusion_and_per_task_by_hand():
    report = calibration_report(*_hand_made())
    # a, b, f accepted-labelled (a accepted; f's judgment failed: a miss) and c, d, e, g rejected-labelled (c, e, g
    # rejected)
    assert (report.n, report.n_accepted, report.n_rejected, report.n_failed) == (7, 3, 4, 1)
    assert report.true_accept_rate == pytest.approx(1 / 3) and report.true_reject_rate == 0.75
    assert report.balanced_accuracy == pytest.approx((1 / 3 + 0.75) / 2)
    assert report.caught_any_rule_rate == 0.75  # c, e, g had a failed rule; d none
    rules = {r.rule: r for r in report.per_rule}
    assert set(rules) == {"names_language", "solution_resolves", "summary_is_prose", "solution_is_code", "tests_pass"}
    # names_language: accepted a (yes), b (no), f (yes, from the failed judgment's code check); broken c (no).
    # d and e answered it too, but they break other rules: not counted.
    n = rules["names_language"]
    assert (n.n, n.n_accepted, n.false_fails, n.n_broken, n.caught, n.broken_not_applied) == (4, 3, 1, 1, 1, 0)
    assert n.accuracy == 0.75
    s = rules["solution_resolves"]
    assert (s.n, s.n_accepted, s.false_fails, s.n_broken, s.caught, s.accuracy) == (3, 2, 0, 1, 1, 1.0)
    p = rules["summary_is_prose"]
    assert (p.n, p.n_accepted, p.n_broken, p.caught, p.accuracy) == (1, 0, 1, 0, 0.0)
    t = rules["tests_pass"]
    assert (t.n, t.broken_not_applied, t.accuracy) == (0, 1, None)
    assert rules["solution_is_code"].n == 0 and rules["solution_is_code"].accuracy is None
    assert report.confusion == {("accepted", "accepted"): 1, ("accepted", "rejected"): 1, ("accepted", "failed"): 1,
                                ("rejected", "accepted"): 1, ("rejected", "rejected"): 3, ("rejected", "failed"): 0}
    groups = {(g.task_name, g.language): g for g in report.per_task}
    assert list(groups) == [("code_generation", "javascript"), ("code_generation", "python"),
                            ("code_summarization", "java")]
    assert groups["code_generation", "python"].balanced_accuracy == 1.0
    js = groups["code_generation", "javascript"]
    assert (js.true_accept_rate, js.true_reject_rate, js.balanced_accuracy) == (0.0, None, None)  # one label only
    java = groups["code_summarization", "java"]
    assert (java.n, java.n_failed, java.true_accept_rate, java.true_reject_rate) == (2, 1, 0.0, 0.0)


def test_report_frames_and_dict():
    report = calibration_report(*_hand_made())
    frames = report.as_frames()
    assert set(frames) == {"per_rule", "confusion", "per_task"}
    assert frames["per_rule"].height == 5 and frames["per_rule"]["accuracy"].dtype == pl.Float64
    assert frames["confusion"]["rows"].sum() == 7
    assert frames["per_task"].columns[:3] == ["task_name", "language", "n"]
    assert report.as_frame("per_task").equals(frames["per_task"])
    with pytest.raises(ValueError, match="unknown table"):
        report.as_frame("nope")
    d = json.loads(json.dumps(report.to_dict()))
    assert d["balanced_accuracy"] == 0.5417 and d["per_rule"]["names_language"]["accuracy"] == 0.75
    assert d["confusion"]["rejected"]["rejected"] == 3 and d["n"] == 7


def test_without_broken_rule_only_accepted_rows_count_per_rule(shipped):
    rows = [{k: v for k, v in r.items() if k != "broken_rule"} for r in shipped]
    verdicts = _perfect(shipped)
    report = calibration_report(rows, verdicts)
    assert report.balanced_accuracy == 1.0 and report.caught_any_rule_rate == 1.0
    rules = {r.rule: r for r in report.per_rule}
    n_accepted = sum(r["label"] == "accepted" for r in rows)
    assert rules["names_language"].n == rules["names_language"].n_accepted == n_accepted
    assert rules["input_is_code"].n == 0 and rules["input_is_code"].n_broken == 0


def test_report_input_errors():
    rows, verdicts = _hand_made()
    with pytest.raises(ValueError, match="one verdict per row"):
        calibration_report(rows, verdicts[:-1])
    with pytest.raises(ValueError, match="must be one of"):
        calibration_report(rows, verdicts[:-1] + [_verdict("maybe")])
    assert rule_answers(Verdict(verdict="rejected", rule_verdicts={"x": {"answer": "YES"}}, failed_rules=["y"])) == \
        {"x": "yes", "y": "no"}


def _good_line(**changes) -> str:
    row = {"id": "r1", "task_name": "code_generation", "language": "python", "target_language": None,
           "code": "def f():\n    return 1\n", "instruction": "Write a Python function f returning 1.",
           "information": "", "solution": "def f():\n    return 1\n", "tests": None, "label": "accepted"}
    row.update(changes)
    return json.dumps({k: v for k, v in row.items() if v != "<drop>"})


@pytest.mark.parametrize("bad, message", [
    ("{not json", "not valid JSON"),
    (_good_line(tests="<drop>"), "missing key(s) tests"),
    (_good_line(label="maybe"), "label must be 'accepted' or 'rejected'"),
    (_good_line(language="cobol"), "unknown language 'cobol'"),
    (_good_line(task_name="code_translation"), "code_translation needs a target_language"),
    (_good_line(broken_rule="names_language"), "an accepted row breaks no rule"),
    (_good_line(id="r0"), "duplicate id 'r0' (first on line 1)"),
    ("[1, 2]", "expected a JSON object"),
])
def test_load_errors_name_the_file_and_line(tmp_path, bad, message):
    path = tmp_path / "labelled.jsonl"
    path.write_text(_good_line(id="r0") + "\n\n" + bad + "\n")
    with pytest.raises(ValueError) as error:
        load_labelled(path)
    assert f"{path}:3: " in str(error.value) and message in str(error.value)


def test_load_accepts_null_tests_and_no_broken_rule(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text(_good_line() + "\n" + _good_line(id=2, label="rejected", information=None) + "\n")
    rows = load_labelled(path)
    assert [r["broken_rule"] for r in rows] == [None, None] and rows[1]["information"] == ""
    with pytest.raises(ValueError, match="no rows"):
        (tmp_path / "empty.jsonl").write_text("\n")
        load_labelled(tmp_path / "empty.jsonl")


# ---------------------------------------------------------------- the CLI

def _labelled_file(tmp_path, shipped) -> tuple:
    picked = [next(r for r in shipped if r["label"] == "accepted" and r["language"] == "python" and r["tests"]),
              next(r for r in shipped if r["broken_rule"] == "names_language"),
              next(r for r in shipped if r["broken_rule"] == "summary_is_prose"),
              next(r for r in shipped if r["broken_rule"] == "tests_pass" and r["language"] == "python")]
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "note"}) + "\n" for r in picked))
    return path, picked


@pytest.fixture
def cli_with_fake_discriminator(monkeypatch):
    """wavecoder_assets.calibrate with `discriminate` replaced by a stand-in that fails names_language when the
    instruction has no "Python"/"Java"... (the wiring and the output, not the discriminator, are under test)."""
    from wavecoder_assets.generate.discriminator import Outcome

    cli = importlib.import_module("wavecoder_assets.calibrate")
    seen = []

    def discriminate(rows, judge, settings, logger=None):
        seen.append((rows, judge))
        out = []
        for row in rows:
            ok = any(name in row["instruction"] for name in ("Python", "JavaScript", "Java"))
            answers = {"names_language": {"answer": "yes" if ok else "no", "reason": ""}}
            out.append(Outcome(verdict="accepted" if ok else "rejected", failed_rules=[] if ok else ["names_language"],
                               rule_verdicts=answers, reasons="", judge_model=None, sandbox_status=None, error=None,
                               copied_reasons=0, tests=row["tests"]))
        return out

    monkeypatch.setattr(cli, "discriminate", discriminate)
    return cli, seen


def test_cli_prints_a_line_per_row_and_a_summary(tmp_path, shipped, capsys, cli_with_fake_discriminator):
    cli, seen = cli_with_fake_discriminator
    path, picked = _labelled_file(tmp_path, shipped)
    assert cli.main([str(path), "--no-llm"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["id"] for line in lines[:-1]] == [r["id"] for r in picked]
    assert lines[1] == {"id": picked[1]["id"], "verdict": "rejected", "failed_rules": ["names_language"],
                        "rule_verdicts": {"names_language": {"answer": "no", "reason": ""}}}
    summary = lines[-1]
    assert summary["summary"] is True and summary["n"] == 4 and summary["llm"] is False
    assert summary["true_accept_rate"] == 1.0 and summary["true_reject_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert summary["per_rule"]["names_language"] == {"n": 2, "accuracy": 1.0, "n_accepted": 1, "false_fails": 0,
                                                     "n_broken": 1, "caught": 1, "broken_not_applied": 0}
    rows, judge = seen[0]
    assert judge is None and not any("label" in r or "broken_rule" in r for r in rows)
    assert cli.main([str(path), "--no-llm", "--limit", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_one_discriminator_declaration_reaches_the_cli_and_the_assets(tmp_path, shipped, capsys,
                                                                      cli_with_fake_discriminator, lake_dir):
    """A judge rule changed in a run config's `resources: discriminator:` block: the calibrate CLI (-c) judges with
    it, and so does judge_calibration materialized with that run config; both record the same settings version,
    the one generated_instructions records with it (test_generate's rule-change test)."""
    import dagster as dg
    import yaml

    from wavecoder_assets.assets import generate as gen_assets
    from wavecoder_assets.generate.discriminator import DiscriminatorSettings
    from wavecoder_assets.lakefiles import read_table
    from wavecoder_assets.resources import resources_for

    rules = [dict(r) for r in DiscriminatorSettings().rules]
    rules[0]["text"] += " Be strict."
    changed = DiscriminatorSettings(rules=rules, execute=False)
    run_config = {"resources": {"discriminator": {"config": {"rules": rules, "execute": False}}},
                  "ops": {"judge_calibration": {"config": {"max_rows": 2}}}}
    config_file = tmp_path / "run.yaml"
    config_file.write_text(yaml.safe_dump(run_config))

    cli, seen = cli_with_fake_discriminator
    path, _ = _labelled_file(tmp_path, shipped)
    assert cli.main([str(path), "--no-llm", "-c", str(config_file)]) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["discriminator"] == changed.version() != DiscriminatorSettings().version()
    assert cli.main([str(path), "--no-llm"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["discriminator"] == DiscriminatorSettings().version()

    run = dg.materialize([gen_assets.judge_calibration], resources=resources_for("local", lake_dir=lake_dir),
                         run_config=run_config)
    assert run.success
    assert set(read_table(lake_dir, "judge_calibration")["discriminator"]) == {changed.version()}
    bad = {"resources": {"discriminator": {"config": {"rules": [{"id": "x"}]}}}}
    config_file.write_text(yaml.safe_dump(bad))
    assert cli.main([str(path), "--no-llm", "-c", str(config_file)]) == 2
    assert "resources.discriminator.config" in capsys.readouterr().err


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, cli_with_fake_discriminator):
    cli, seen = cli_with_fake_discriminator
    path = tmp_path / "bad.jsonl"
    path.write_text(_good_line() + "\n" + _good_line(id="r2", label="good") + "\n")
    assert cli.main([str(path), "--no-llm"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and f"{path}:2: label must be" in err
    assert cli.main([str(tmp_path / "missing.jsonl"), "--no-llm"]) == 2
    assert "missing.jsonl" in capsys.readouterr().err and not seen


def _discriminator_missing() -> str | None:
    try:
        importlib.import_module("wavecoder_assets.generate.discriminator")
    except ImportError as error:
        return f"wavecoder_assets.generate.discriminator cannot be imported yet ({error})"
    return None


@pytest.mark.skipif(_discriminator_missing() is not None, reason=str(_discriminator_missing()))
def test_cli_no_llm_with_the_real_discriminator(tmp_path, shipped):
    path, picked = _labelled_file(tmp_path, shipped)
    run = subprocess.run([sys.executable, "-m", "wavecoder_assets.calibrate", str(path), "--no-llm"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert [line["id"] for line in lines[:-1]] == [r["id"] for r in picked]
    by_id = {line["id"]: line for line in lines[:-1]}
    assert by_id[picked[0]["id"]]["verdict"] == "accepted"
    assert "names_language" in by_id[picked[1]["id"]]["failed_rules"]
    assert by_id[picked[1]["id"]]["rule_verdicts"]["names_language"]["answer"] == "no"  # with its reason
    assert by_id[picked[1]["id"]]["rule_verdicts"]["names_language"]["reason"]
    assert "summary_is_prose" in by_id[picked[2]["id"]]["failed_rules"]
    assert "tests_pass" in by_id[picked[3]["id"]]["failed_rules"]
    summary = lines[-1]
    assert summary["n"] == 4 and summary["llm"] is False and summary["true_accept_rate"] == 1.0
    bad = tmp_path / "bad.jsonl"
    bad.write_text("{\n")
    run = subprocess.run([sys.executable, "-m", "wavecoder_assets.calibrate", str(bad), "--no-llm"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and f"{bad}:1:" in run.stderr and run.stdout == ""


@pytest.mark.skipif(_discriminator_missing() is not None, reason=str(_discriminator_missing()))
def test_code_checks_and_execution_alone_never_reject_an_accepted_row_and_catch_their_rules(shipped):
    """The discriminator without a judge, on the whole shipped set: no accepted row rejected, and every row broken
    on a code check or an execution rule caught by that rule. (Rows broken on solution_resolves or
    instruction_relevant need the judge.)"""
    from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate

    candidates = [{k: r[k] for k in ("id", *CANDIDATE_KEYS)} for r in shipped]
    report = calibration_report(shipped, discriminate(candidates, None, DiscriminatorSettings()))
    assert report.n_failed == 0 and report.true_accept_rate == 1.0, report.to_dict()["per_rule"]
    mechanical = set(CHECKS) | {"tests_pass", "repair_fixes_bug"}
    missed = {r.rule: (r.caught, r.n_broken, r.broken_not_applied) for r in report.per_rule
              if r.rule in mechanical and (r.caught < r.n_broken or r.broken_not_applied)}
    assert not missed, missed


def test_a_stratified_sample_keeps_both_labels_and_every_task_and_is_seeded(shipped):
    sample = stratified_sample(shipped, 36, seed=0)
    assert len(sample) == 36 and sample == stratified_sample(shipped, 36, seed=0)
    groups = collections.Counter((row["label"], row["task_name"]) for row in sample)
    assert len(groups) == 8 and max(groups.values()) - min(groups.values()) <= 1  # round-robin over 8 groups
    assert stratified_sample(shipped, 36, seed=1) != sample
    assert stratified_sample(shipped, None) == shipped == stratified_sample(shipped, 10_000)


def test_judge_calibration_asset_and_its_gate_without_the_llm(lake_dir, monkeypatch):
    """The asset on a small sample, judged by code checks and execution only (an endpoint that is down fails
    every LLM call: those rows are recorded as failed, never dropped), and the blocking gate reading it."""
    import dagster as dg

    from wavecoder_assets.assets import generate as gen_assets
    from wavecoder_assets.generate.discriminator import DiscriminatorSettings
    from wavecoder_assets.lakefiles import read_table, table_path, write_table
    from wavecoder_assets.resources import resources_for
    from wavecoder_assets.resources.llm import LLMEndpoint, LLMResource

    down = LLMEndpoint(base_url="http://127.0.0.1:9/v1", model="none", max_retries=0, timeout_s=2)
    resources = resources_for("local", lake_dir=lake_dir) | {"llm": LLMResource(generator=down, judge=down)}
    config = gen_assets.JudgeCalibrationConfig(max_rows=16)
    run = dg.materialize([gen_assets.judge_calibration], resources=resources,
                         run_config=dg.RunConfig(ops={"judge_calibration": config}))
    assert run.success
    table = read_table(lake_dir, "judge_calibration")
    assert table.height == 16 + 40 and set(table["label"]) == {"accepted", "rejected"}  # the semantic set whole
    assert table["labelled_set"].value_counts().sort("labelled_set").rows() == [("judge_calibration", 16),
                                                                                 ("judge_semantic", 40)]
    llm_rows = table.filter(pl.col("verdict") == "failed")
    assert llm_rows.height > 0 and all("connection" in r for r in llm_rows["reasons"])
    meta = run.asset_materializations_for_node("judge_calibration")[0].metadata
    assert meta["judge_failures"].value == llm_rows.height and "| rule |" in meta["per_rule"].value
    assert "| judge_semantic | 40 |" in meta["per_labelled_set"].value
    assert meta["judge_only_balanced_accuracy"].value == 0.0  # every judge call failed: a miss on either label

    def data_built_by(discriminator: DiscriminatorSettings) -> None:
        write_table(pl.DataFrame({"example_id": ["e1"], "discriminator": [discriminator.version()]}),
                    table_path(lake_dir, "judged_instructions"))

    data_built_by(DiscriminatorSettings())  # the resource's defaults, which judge_calibration measured
    gate = dg.materialize([dg.AssetSpec("code_ocean"), gen_assets.judge_calibration, gen_assets.judge_is_calibrated],
                          selection=dg.AssetSelection.checks(gen_assets.judge_is_calibrated), resources=resources,
                          raise_on_error=False,
                          run_config=dg.RunConfig(ops={"code_ocean_judge_is_calibrated": {"config": {
                              "min_balanced_accuracy": 0.0, "min_judge_balanced_accuracy": 0.0}}}))
    evaluation = gate.get_asset_check_evaluations()[0]
    assert evaluation.passed and "balanced accuracy" in evaluation.description
    strict = dg.materialize([dg.AssetSpec("code_ocean"), gen_assets.judge_calibration, gen_assets.judge_is_calibrated],
                            selection=dg.AssetSelection.checks(gen_assets.judge_is_calibrated), resources=resources,
                            raise_on_error=False)  # the default threshold, 0.85
    assert not strict.get_asset_check_evaluations()[0].passed  # every accepted row failed: no accuracy to claim

    # CodeOcean built by another discriminator (one judge rule changed): the gate's number says nothing about it
    rules = [dict(r) for r in DiscriminatorSettings().rules]
    rules[0]["text"] += " Be strict."
    data_built_by(DiscriminatorSettings(rules=rules))
    other = dg.materialize([dg.AssetSpec("code_ocean"), gen_assets.judge_calibration, gen_assets.judge_is_calibrated],
                           selection=dg.AssetSelection.checks(gen_assets.judge_is_calibrated), resources=resources,
                           raise_on_error=False, run_config=dg.RunConfig(ops={"code_ocean_judge_is_calibrated": {
                               "config": {"min_balanced_accuracy": 0.0, "min_judge_balanced_accuracy": 0.0}}}))
    evaluation = other.get_asset_check_evaluations()[0]
    assert not evaluation.passed and "materialize judge_calibration" in evaluation.description


@pytest.mark.parametrize("name", ["judge_heldout", "judge_heldout_stdlib"])
def test_the_held_out_sets_load_and_are_balanced_over_tasks_without_tests(name):
    held_out = load_labelled(REPO_ROOT / "wavecoder_assets" / "benchmark_data" / f"{name}.jsonl")
    assert len(held_out) == 32
    for task in ("code_generation", "code_summarization", "code_translation"):
        labels = collections.Counter(r["label"] for r in held_out if r["task_name"] == task)
        assert labels["accepted"] == labels["rejected"] >= 4, (task, labels)
    assert all(r["tests"] is None for r in held_out)  # only the judge can decide them
