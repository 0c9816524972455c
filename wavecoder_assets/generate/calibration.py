"""How well the discriminator's verdicts agree with human labels: load a labelled set, score verdicts against it.

A labelled row is a candidate example (task_name, language, target_language, code, instruction, information,
solution, tests) with an `id`, a `label` ("accepted" or "rejected") and, optionally, the one rule a rejected row
breaks (`broken_rule`). The shipped set is `benchmark_data/judge_calibration.jsonl` (built by
bench/build_calibration_set.py); `python -m wavecoder_assets.calibrate FILE` judges a set and prints this report.

The measures (`calibration_report`):
- true-accept rate: accepted rows the discriminator accepted; true-reject rate: rejected rows it rejected;
  balanced accuracy: their mean (0.5 for a judge that accepts everything). Rows whose judgment failed (verdict
  "failed": the judge's answer could not be read) are left out of the rates and counted in n_failed.
- per rule: over the rows where the rule gave a yes/no, the accuracy of "the rule fails iff it is the row's
  broken_rule", counting only accepted rows (the rule should pass) and rows broken on that rule (it should fail):
  a row broken on another rule says nothing about this one. Without broken_rule (a labelled file that does not
  name it) only the accepted rows count, and `caught_any_rule_rate` says how often some rule failed on a rejected
  row.
- a confusion table (label x verdict, "failed" a column of its own) and balanced accuracy per (task, language).

No Dagster here: plain Python, with Polars frames for the UI.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from wavecoder_assets.generate import contrastive, differential
from wavecoder_assets.generate.tasks import TASKS
from wavecoder_assets.languages import LANGUAGES

if TYPE_CHECKING:  # scoring verdicts needs no discriminator (its checks and sandbox)
    from wavecoder_assets.generate.discriminator import Outcome

CANDIDATE_KEYS = ("task_name", "language", "target_language", "code", "instruction", "information", "solution",
                  "tests")
LABELLED_KEYS = ("id", "label") + CANDIDATE_KEYS  # every line must have these; broken_rule and note are optional


def as_candidates(rows: list[dict]) -> list[dict]:
    """Labelled rows as the discriminator gets them: the id and CANDIDATE_KEYS only, so no label, broken_rule or
    note reaches the judge."""
    return [{"id": row["id"], **{k: row[k] for k in CANDIDATE_KEYS}} for row in rows]
LABELS = ("accepted", "rejected")
VERDICTS = ("accepted", "rejected", "failed")


# ---------------------------------------------------------------- loading

def load_labelled(path: str | Path) -> list[dict]:
    """The rows of a labelled JSON-lines file, validated; raises ValueError naming the file and line of the first
    problem (bad JSON, a missing key, a bad label, task or language, a duplicate id). Blank lines are skipped.
    `tests` may be null; a null `information` becomes ""; `broken_rule` (absent = null) must be null on accepted
    rows."""
    path = Path(path)
    rows: list[dict] = []
    seen: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line.rstrip("\r\n"))
            except json.JSONDecodeError as error:
                raise ValueError(f"{where}: not valid JSON ({error.msg}, column {error.colno})") from None
            rows.append(_validated(row, where))
            key = str(rows[-1]["id"])
            if key in seen:
                raise ValueError(f"{where}: duplicate id {key!r} (first on line {seen[key]})")
            seen[key] = number
    if not rows:
        raise ValueError(f"{path}: no rows")
    return rows


def _validated(row: object, where: str) -> dict:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [k for k in LABELLED_KEYS if k not in row]
    if missing:
        raise ValueError(f"{where}: missing key(s) {', '.join(missing)}")
    row = dict(row)
    if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool) or row["id"] == "":
        raise ValueError(f"{where}: id must be a non-empty string or an integer, got {row['id']!r}")
    if row["label"] not in LABELS:
        raise ValueError(f"{where}: label must be 'accepted' or 'rejected', got {row['label']!r}")
    if row["task_name"] not in TASKS:
        raise ValueError(f"{where}: unknown task_name {row['task_name']!r}; one of {sorted(TASKS)}")
    if row["language"] not in LANGUAGES:
        raise ValueError(f"{where}: unknown language {row['language']!r}; one of {list(LANGUAGES)}")
    target = row["target_language"]
    if target is not None and target not in LANGUAGES:
        raise ValueError(f"{where}: unknown target_language {target!r}; one of {list(LANGUAGES)} or null")
    if row["task_name"] == "code_translation" and target is None:
        raise ValueError(f"{where}: code_translation needs a target_language")
    for key in ("code", "instruction", "solution"):
        if not isinstance(row[key], str):
            raise ValueError(f"{where}: {key} must be a string, got {type(row[key]).__name__}")
    for key in ("information", "tests"):
        if row[key] is not None and not isinstance(row[key], str):
            raise ValueError(f"{where}: {key} must be a string or null, got {type(row[key]).__name__}")
    row["information"] = row["information"] or ""
    broken = row.setdefault("broken_rule", None)
    if broken is not None and (not isinstance(broken, str) or not broken):
        raise ValueError(f"{where}: broken_rule must be a rule id or null, got {broken!r}")
    if broken is not None and row["label"] == "accepted":
        raise ValueError(f"{where}: an accepted row breaks no rule, but broken_rule is {broken!r}")
    return row


# ---------------------------------------------------------------- the report

@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What the report scores of a discriminator Outcome, as a calibration table keeps it (`verdicts_of`)."""

    verdict: str  # accepted | rejected | failed
    failed_rules: list[str]
    rule_verdicts: dict[str, dict[str, str]]  # {rule: {"answer", "reason"}}


@dataclass(frozen=True)
class RuleAccuracy:
    rule: str
    n: int  # rows counted: n_accepted + n_broken
    accuracy: float | None  # (n_accepted - false_fails + caught) / n; None when n is 0
    n_accepted: int  # accepted rows where the rule gave a yes/no
    false_fails: int  # ... of them where it said no
    n_broken: int  # rows whose broken_rule is this rule, where the rule gave a yes/no
    caught: int  # ... of them where it said no
    broken_not_applied: int  # rows broken on this rule where the rule gave no yes/no (not run, n/a)


@dataclass(frozen=True)
class GroupAccuracy:
    task_name: str
    language: str
    n: int
    n_accepted: int  # rows labelled accepted
    n_rejected: int
    n_failed: int  # judgments that failed (not in the rates)
    true_accept_rate: float | None
    true_reject_rate: float | None
    balanced_accuracy: float | None


@dataclass(frozen=True)
class CalibrationReport:
    n: int
    n_accepted: int  # rows labelled accepted
    n_rejected: int
    n_failed: int  # verdict "failed": left out of the rates
    true_accept_rate: float | None  # accepted rows accepted / accepted rows judged
    true_reject_rate: float | None
    balanced_accuracy: float | None  # mean of the two (the one defined, when only one is)
    caught_any_rule_rate: float | None  # rejected rows judged with at least one failed rule / rejected rows judged
    per_rule: tuple[RuleAccuracy, ...]
    confusion: dict[tuple[str, str], int]  # (label, verdict) -> rows, every pair present
    per_task: tuple[GroupAccuracy, ...]

    def per_rule_frame(self) -> pl.DataFrame:
        schema = {"rule": pl.String, "n": pl.Int64, "accuracy": pl.Float64, "n_accepted": pl.Int64,
                  "false_fails": pl.Int64, "n_broken": pl.Int64, "caught": pl.Int64, "broken_not_applied": pl.Int64}
        return pl.DataFrame([asdict(r) for r in self.per_rule], schema=schema, orient="row")

    def confusion_frame(self) -> pl.DataFrame:
        rows = [{"label": label, "verdict": verdict, "rows": count}
                for (label, verdict), count in self.confusion.items()]
        return pl.DataFrame(rows, schema={"label": pl.String, "verdict": pl.String, "rows": pl.Int64}, orient="row")

    def per_task_frame(self) -> pl.DataFrame:
        schema = {"task_name": pl.String, "language": pl.String, "n": pl.Int64, "n_accepted": pl.Int64,
                  "n_rejected": pl.Int64, "n_failed": pl.Int64, "true_accept_rate": pl.Float64,
                  "true_reject_rate": pl.Float64, "balanced_accuracy": pl.Float64}
        return pl.DataFrame([asdict(g) for g in self.per_task], schema=schema, orient="row")

    def as_frames(self) -> dict[str, pl.DataFrame]:
        """The report's tables for the UI: per_rule, confusion, per_task."""
        return {"per_rule": self.per_rule_frame(), "confusion": self.confusion_frame(),
                "per_task": self.per_task_frame()}

    def as_frame(self, table: str) -> pl.DataFrame:
        frames = self.as_frames()
        if table not in frames:
            raise ValueError(f"unknown table {table!r}; one of {sorted(frames)}")
        return frames[table]

    def to_dict(self) -> dict:
        """The whole report as plain JSON-able values (rates rounded to 4 places)."""
        return {
            "n": self.n, "n_accepted": self.n_accepted, "n_rejected": self.n_rejected, "n_failed": self.n_failed,
            "true_accept_rate": _round(self.true_accept_rate), "true_reject_rate": _round(self.true_reject_rate),
            "balanced_accuracy": _round(self.balanced_accuracy),
            "caught_any_rule_rate": _round(self.caught_any_rule_rate),
            "per_rule": {r.rule: {k: _round(v) for k, v in asdict(r).items() if k != "rule"} for r in self.per_rule},
            "confusion": {label: {verdict: self.confusion[label, verdict] for verdict in VERDICTS} for label in LABELS},
            "per_task": [{k: _round(v) for k, v in asdict(g).items()} for g in self.per_task],
        }


def _round(value):
    return round(value, 4) if isinstance(value, float) else value


def rule_answers(verdict: Verdict | Outcome) -> dict[str, str]:
    """rule id -> "yes" | "no" | "n/a" for one verdict; a rule in failed_rules without an answer counts as "no"."""
    answers = {}
    for rule, item in verdict.rule_verdicts.items():
        answer = item.get("answer")
        answers[rule] = str(answer).strip().lower() if answer is not None else "n/a"
    for rule in verdict.failed_rules:
        if answers.get(rule) not in ("yes", "no"):
            answers[rule] = "no"
    return answers


def _rate(hits: int, n: int) -> float | None:
    return hits / n if n else None


def _rates(pairs: list[tuple[dict, Verdict | Outcome]]) -> tuple[float | None, float | None, float | None, int]:
    """(true-accept, true-reject, balanced accuracy, failed) over (row, verdict) pairs. A failed judgment is a
    miss for either label (a judge that cannot answer has not got it right), and balanced accuracy needs both
    labels."""
    accepted = [v.verdict for r, v in pairs if r["label"] == "accepted"]
    rejected = [v.verdict for r, v in pairs if r["label"] == "rejected"]
    tar = _rate(sum(v == "accepted" for v in accepted), len(accepted))
    trr = _rate(sum(v == "rejected" for v in rejected), len(rejected))
    balanced = (tar + trr) / 2 if tar is not None and trr is not None else None
    return tar, trr, balanced, sum(v.verdict == "failed" for _, v in pairs)


def calibration_report(rows: list[dict], verdicts: list[Verdict | Outcome]) -> CalibrationReport:
    """Score discriminator verdicts (one per row, same order: the discriminator's Outcomes, or the Verdicts of a
    calibration table) against the rows' labels; see the module doc."""
    if len(rows) != len(verdicts):
        raise ValueError(f"{len(rows)} labelled rows but {len(verdicts)} verdicts: need one verdict per row")
    for i, (row, verdict) in enumerate(zip(rows, verdicts)):
        if row.get("label") not in LABELS:
            raise ValueError(f"row {i} ({row.get('id')}): label must be one of {LABELS}, got {row.get('label')!r}")
        if verdict.verdict not in VERDICTS:
            raise ValueError(f"verdict {i} ({row.get('id')}): must be one of {VERDICTS}, got {verdict.verdict!r}")
    pairs = list(zip(rows, verdicts))
    answers = [rule_answers(v) for v in verdicts]
    tar, trr, balanced, n_failed = _rates(pairs)

    rules = sorted({rule for a in answers for rule in a} | {r["broken_rule"] for r in rows if r.get("broken_rule")})
    per_rule = []
    for rule in rules:
        n_accepted = false_fails = n_broken = caught = not_applied = 0
        for row, a in zip(rows, answers):
            answer = a.get(rule)
            applied = answer in ("yes", "no")
            if row["label"] == "accepted" and applied:
                n_accepted += 1
                false_fails += answer == "no"
            elif row["label"] == "rejected" and row.get("broken_rule") == rule:
                if applied:
                    n_broken += 1
                    caught += answer == "no"
                else:
                    not_applied += 1
        n = n_accepted + n_broken
        per_rule.append(RuleAccuracy(rule, n, _rate(n_accepted - false_fails + caught, n), n_accepted, false_fails,
                                     n_broken, caught, not_applied))

    rejected_judged = [a for (row, v), a in zip(pairs, answers)
                       if row["label"] == "rejected" and v.verdict != "failed"]
    caught_any = _rate(sum(any(x == "no" for x in a.values()) for a in rejected_judged), len(rejected_judged))

    confusion = {(label, verdict): 0 for label in LABELS for verdict in VERDICTS}
    for row, verdict in pairs:
        confusion[row["label"], verdict.verdict] += 1

    groups: dict[tuple[str, str], list[tuple[dict, Verdict | Outcome]]] = {}
    for row, verdict in pairs:
        groups.setdefault((row["task_name"], row["language"]), []).append((row, verdict))
    per_task = []
    for (task, language), members in sorted(groups.items()):
        g_tar, g_trr, g_balanced, g_failed = _rates(members)
        per_task.append(GroupAccuracy(task, language, len(members), sum(r["label"] == "accepted" for r, _ in members),
                                      sum(r["label"] == "rejected" for r, _ in members), g_failed, g_tar, g_trr,
                                      g_balanced))

    return CalibrationReport(
        n=len(rows), n_accepted=sum(r["label"] == "accepted" for r in rows),
        n_rejected=sum(r["label"] == "rejected" for r in rows), n_failed=n_failed, true_accept_rate=tar,
        true_reject_rate=trr, balanced_accuracy=balanced, caught_any_rule_rate=caught_any, per_rule=tuple(per_rule),
        confusion=confusion, per_task=tuple(per_task))


# ---------------------------------------------------------------- copied reasons

def stratified_sample(rows: list[dict], n: int | None, seed: int = 0) -> list[dict]:
    """At most n rows, drawn round-robin over (label, task_name) groups by a seeded shuffle, so a small sample
    still holds both labels and every task; n None (or >= len): all rows, in file order."""
    if n is None or n >= len(rows):
        return rows
    groups: dict[tuple, list[int]] = {}
    for i, row in enumerate(rows):
        groups.setdefault((row["label"], row["task_name"]), []).append(i)
    rng = random.Random(seed)
    queues = [rng.sample(members, len(members)) for _, members in sorted(groups.items())]
    picked: list[int] = []
    while len(picked) < n:
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    return [rows[i] for i in sorted(picked)]


CALIBRATION_SCHEMA = {"id": pl.String, "task_name": pl.String, "language": pl.String, "label": pl.String,
                      "broken_rule": pl.String, "verdict": pl.String, "failed_rules": pl.String,
                      "rule_verdicts": pl.String, "reasons": pl.String, "judge_model": pl.String,
                      "discriminator": pl.String, "labelled_set": pl.String}

def calibration_table(rows: list[dict], outcomes: list[Outcome], discriminator_version: str,
                      labelled_set: str) -> pl.DataFrame:
    """One row per labelled example: its label and the discriminator's verdict (which settings judged it:
    `discriminator_version`; which labelled file it came from: `labelled_set`, the file's stem), in the columns
    judge_is_calibrated scores with `verdicts_of`."""
    return pl.DataFrame([{"id": row["id"], "task_name": row["task_name"], "language": row["language"],
                          "label": row["label"], "broken_rule": row.get("broken_rule"), "verdict": o.verdict,
                          "failed_rules": json.dumps(o.failed_rules),
                          "rule_verdicts": json.dumps(o.rule_verdicts, ensure_ascii=False),
                          "reasons": o.reasons or o.error, "judge_model": o.judge_model,
                          "discriminator": discriminator_version, "labelled_set": labelled_set}
                         for row, o in zip(rows, outcomes)], schema=CALIBRATION_SCHEMA)


def verdicts_of(table: pl.DataFrame) -> tuple[list[dict], list[Verdict]]:
    """(labelled rows, verdicts) back from a calibration_table, for calibration_report."""
    rows = table.to_dicts()
    return rows, [Verdict(verdict=r["verdict"], failed_rules=json.loads(r["failed_rules"]),
                          rule_verdicts=json.loads(r["rule_verdicts"])) for r in rows]


def judge_only_report(table: pl.DataFrame) -> CalibrationReport | None:
    """The report over a calibration table's rows that only the LLM judge decided (`judge_decided`, as the calibrate
    CLI's `judge_only`); None when those rows do not hold both labels (no balanced accuracy to claim)."""
    report = calibration_report(*judge_decided(*verdicts_of(table)))
    return report if report.n_accepted and report.n_rejected else None


def accuracy_by_set(table: pl.DataFrame) -> pl.DataFrame:
    """One row per labelled set of a calibration table: its rows and the discriminator's balanced accuracy, true
    accept and reject rates on them, and the same over the rows only the judge decided (null where undefined)."""
    rows = []
    for (name,), part in sorted(table.group_by("labelled_set"), key=lambda group: group[0]):
        labelled, verdicts = verdicts_of(part)
        report, alone = calibration_report(labelled, verdicts), calibration_report(*judge_decided(labelled, verdicts))
        rows.append({"labelled_set": name, "rows": report.n, "balanced_accuracy": report.balanced_accuracy,
                     "true_accept_rate": report.true_accept_rate, "true_reject_rate": report.true_reject_rate,
                     "judge_only_rows": alone.n, "judge_only_balanced_accuracy": alone.balanced_accuracy})
    return pl.DataFrame(rows, schema={"labelled_set": pl.String, "rows": pl.Int64, "balanced_accuracy": pl.Float64,
                                      "true_accept_rate": pl.Float64, "true_reject_rate": pl.Float64,
                                      "judge_only_rows": pl.Int64, "judge_only_balanced_accuracy": pl.Float64})


@dataclass(frozen=True)
class GateResult:
    passed: bool
    description: str
    metadata: dict


def calibration_gate(report: CalibrationReport, threshold: float, *, measured: list[str], built_by: list[str],
                     judge_report: CalibrationReport | None = None, judge_threshold: float = 0.0,
                     judge_min_rows: int = 0) -> GateResult:
    """Does the discriminator that built the data (`built_by`: the settings versions of the judged rows) reach
    `threshold` balanced accuracy on the labelled sets, and `judge_threshold` on the rows only its judge decides
    (`judge_report`, held to it from `judge_min_rows` rows: one row of five moves it by 0.1 or more)? Only when the
    calibration measured those same settings (`measured`): a gate that measured other settings says nothing about
    the data."""
    accuracy = report.balanced_accuracy
    judge_accuracy = judge_report.balanced_accuracy if judge_report is not None else None
    metadata = {"balanced_accuracy": accuracy if accuracy is not None else float("nan"), "threshold": threshold,
                "judge_balanced_accuracy": judge_accuracy if judge_accuracy is not None else float("nan"),
                "judge_threshold": judge_threshold, "rows": report.n,
                "measured_discriminator": ", ".join(measured), "data_built_by_discriminator": ", ".join(built_by)}
    unmeasured = sorted(set(built_by) - set(measured))
    if unmeasured:
        return GateResult(False, f"judge_calibration measured discriminator {', '.join(measured) or 'none'}, but "
                                 f"judged_instructions was built by {', '.join(unmeasured)}: materialize "
                                 "judge_calibration with the same discriminator settings", metadata)
    passed = accuracy is not None and accuracy >= threshold
    if judge_report is not None and judge_report.n < judge_min_rows:
        judged_alone = (f"; the judge alone {judge_accuracy} on {judge_report.n} rows, too few to hold to its "
                        f"threshold {judge_threshold} (from {judge_min_rows} rows)")
    elif judge_report is not None:  # a threshold of 0 asks nothing of it, not even an accuracy to claim
        passed = passed and (judge_threshold == 0 or judge_accuracy is not None and judge_accuracy >= judge_threshold)
        judged_alone = f"; the judge alone {judge_accuracy} (threshold {judge_threshold}) on {judge_report.n} rows"
    else:
        judged_alone = "; the judge alone not measured (the rows only it decided do not hold both labels)"
    return GateResult(passed, f"balanced accuracy {accuracy} (threshold {threshold}) on {report.n} rows"
                              + judged_alone, metadata)


# Rules the LLM answers (the judge's and the contrastive ones); the others decide without it: a row they decided (a
# check said no, or tests ran) is not the judge's.
_DECIDED_BY_LLM = {"solution_resolves", "instruction_relevant", *contrastive.RULE_TEXTS}
_DECIDED_BY_RUNNING = {"tests_pass", "repair_fixes_bug", differential.RULE, differential.SUMMARY_RULE}


def judge_decided(rows: list[dict], verdicts: list[Verdict | Outcome]) -> tuple[list[dict], list]:
    """The rows (and their verdicts) that only the LLM judge decided: no code check failed and no tests ran (a
    test pass or fail, or a result beside the source's, is the sandbox's decision, not the judge's)."""
    kept = [(row, v) for row, v in zip(rows, verdicts)
            if not any(answer["answer"] in ("yes", "no") if rule in _DECIDED_BY_RUNNING
                       else answer["answer"] == "no" and rule not in _DECIDED_BY_LLM
                       for rule, answer in v.rule_verdicts.items())]
    return [row for row, _ in kept], [v for _, v in kept]
