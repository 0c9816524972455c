"""The discriminator: code checks, then execution, then the LLM judge, each recorded per rule.

A candidate (task_name, language, target_language, code, instruction, information, solution, tests) is
1. checked by code (`checks.py`: is the input code, is the language named, is the solution only code / a summary
   prose, does it import what it uses, is it needlessly complex, does a repair change code, is a translation in
   the target language; and is the solution one of the few-shot examples its generator was shown, copied); a
   failed check rejects it with the parser's reason, no LLM call;
2. run (`execution.py`): solution + tests in the sandbox, and for repairs the buggy input must fail the tests the
   fix passes; a failing or non-running example is rejected with the sandbox's reason; a missing toolchain is
   recorded as "n/a: not executed", never as a pass; where Python code known to be right is at hand (a repair's
   fix that is the source function, a translation's Python source), the tests' expected values come from it; a
   repair whose tests did not run is rejected (reject_untested_repairs);
3. for a generation or translation that passed its tests or that no test decided, run beside its source on inputs
   the judge writes (`differential.py`, behaves_like_source): a different result rejects it (the generator's own
   tests can agree with a solution to other code), agreement on inputs that tell results apart decides it; with
   summary_rewrite_share set, a summary likewise through code the judge writes from it (summary_reproduces_code);
4. for a summary, and for a generation or translation still undecided, matched by the LLM against its own code and
   its nearest neighbours (`contrastive.py`: summary_identifies_code, instruction_identifies_code,
   translation_identifies_source): it passes only when the judge's answers, asked in orders that put each candidate
   at each position alike (else calibrated for the judge's lean to positions), give its own code at least
   contrastive_min_lift times chance;
5. judged by the LLM on the semantic rules only (`judge.py`; not solution_resolves where behaves_like_source said
   yes: running it beside its source answered that), with few-shot examples (good and bad, each with
   its per-rule analysis) drawn per candidate from the example store, seeded by the candidate's key.
Every rule's answer and reason lands in `rule_verdicts`; `verdict` is accepted only when no rule said no.
"""

from __future__ import annotations

import json
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wavecoder_assets.codefacts import code_tokens
from wavecoder_assets.generate import contrastive, differential
from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.checks import CHECK_RULES, CheckSettings, as_rule_verdicts, run_checks
from wavecoder_assets.generate.differential import VARIANTS
from wavecoder_assets.generate.examples import ExampleStore, copied_example, written_in
from wavecoder_assets.generate.execution import (
    EXECUTION_RULES,
    GROUNDED_LANGUAGES,
    NOT_EXECUTED,
    execution_verdicts,
    ground_tests,
)
from wavecoder_assets.generate.tasks import TASKS, solution_language
from wavecoder_assets.hashing import hex_id, stable_hash
from wavecoder_assets.languages import parameter_names
from wavecoder_assets.llm import ChatRequest

log = logging.getLogger(__name__)

COPY_RULE = "not_a_few_shot_copy"
# Decided without an LLM: the code checks, execution, and whether the answer copies a few-shot example.
CODE_RULE_TEXTS = CHECK_RULES | EXECUTION_RULES | {differential.RULE: differential.RULE_TEXT,
                                                    differential.SUMMARY_RULE: differential.SUMMARY_RULE_TEXT} | {
    COPY_RULE: "The solution (and a generation's or repair's instruction) is not a shown few-shot example's "
               "copied (up to whitespace)."}
CODE_RULES = frozenset(CODE_RULE_TEXTS)
# What decides a rule, as the published data names it: users filter on it (e.g. only rows whose tests ran).
RULE_KINDS = ("code_check", "execution", "contrastive", "judge")


def rule_kind(rule: str) -> str:
    """Which part of the discriminator answers `rule`: one of RULE_KINDS (parsing counts as a code check)."""
    if rule in EXECUTION_RULES or rule in (differential.RULE, differential.SUMMARY_RULE):
        return "execution"
    if rule in contrastive.RULE_TEXTS:
        return "contrastive"
    return "code_check" if rule in CODE_RULES or rule == "parse" else "judge"


class DiscriminatorSettings(BaseModel):
    """The one declaration of the discriminator: generated_instructions, judge_calibration, the strategies' judge
    and the calibrate CLI all take it (as the `discriminator` resource, which is this model), so the gate measures
    what built the data."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    rules: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(r) for r in J.SEMANTIC_RULES],
        description="what the LLM judge checks (the paper's semantic rules): {id, text, tasks} each, tasks [] for "
                    "all; the mechanical rules are code checks and execution")
    judge_max_tokens: int = Field(default=256, ge=16, description="two capped reasons and answers fit in ~150 tokens")
    seed: int = Field(default=0, description="few-shot draws and their order, request seeds")
    # Measured on the calibration set, the 1.5B judge with only a good example accepts nearly everything (caught 0
    # of 13 unresolved solutions); with a bad one too it catches most of them, at the price of some good rows
    # rejected on the example's pattern.
    judge_few_shot_good: int = Field(default=1, ge=0, description="accepted examples shown to the judge with their "
                                                                  "analysis")
    judge_few_shot_bad: int = Field(default=1, ge=0, description="rejected examples shown to the judge (0: the 1.5B "
                                                                 "judge then accepts nearly everything)")
    json_mode: bool = Field(default=True, description='the judge answers with response_format={"type": '
                                                      '"json_object", "schema": ...}')
    execute: bool = Field(default=True, description="run solution + tests in the sandbox; failing rows are rejected")
    reject_unexecuted: bool = Field(default=False, description="also reject code rows whose language has no "
                                                               "toolchain here (else recorded as not executed)")
    reject_untested_repairs: bool = Field(default=True, description="reject a repair whose tests did not run: only "
                                                                    "the tests show that it fixes a bug")
    sandbox_timeout_s: float = Field(default=10.0, gt=0)
    check_rules: list[str] | None = Field(default=None, description="the code checks to run (empty: all)")
    differential: bool = Field(default=True, description="run a generation or translation no test decided beside "
                                                         "its source on inputs the judge writes; a different result "
                                                         "rejects it (behaves_like_source)")
    boundary_variants: int = Field(
        default=VARIANTS, ge=0, le=50, description="with differential: also run the judge's inputs with one argument "
                                                   "set to a boundary value (0, 1, -1, \"\", [], another argument's "
                                                   "value), at most this many; 0: the judge's inputs only")
    differential_after_tests: bool = Field(
        default=True, description="with differential: also run a generation or translation whose tests passed beside "
                                  "its source (the generator's own tests can agree with a solution to other code)")
    summary_rewrite_share: float = Field(
        default=0.0, ge=0.0, le=1.0, description="the judge writes code from a summary, run beside the summarized "
                                                 "function on inputs the judge writes: it must give the same results "
                                                 "on at least this share of them (summary_reproduces_code); 0: off")
    contrastive_candidates: int = Field(
        default=2, ge=0, le=8, description="contrastive rules: functions a summary (or an untested generation's "
                                           "instruction, or translation) is matched against (its own and its nearest "
                                           "neighbours); 0 or 1: the rules are off")
    contrastive_asks: int = Field(default=2, ge=1, le=8, description="asks, each order a rotation of the first: "
                                  "the summarized function's probability is their mean (as many asks as candidates "
                                  "put each at each position once, and the judge's lean to positions cancels)")
    # 1.12 (0.56 of 2): the best balanced accuracy of the two-way rule on the three labelled sets' 63 summaries
    # pooled; chosen on any two sets, the bound (0.56 to 0.59) did as well as 1.2 or better on the third.
    contrastive_min_lift: float = Field(
        default=1.12, gt=0, description="contrastive rules: the row's own code needs at least this many times "
                                        "chance (1/K) of the judge's probability, its lean to positions taken out")

    @field_validator("rules")
    @classmethod
    def _known_rule_shape(cls, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        J.rules_from_dicts(rules)  # unique ids, an id and a text each
        return rules

    def settings(self) -> DiscriminatorSettings:
        """These settings alone (from a resource or Config built on this model), e.g. to narrow with model_copy."""
        return DiscriminatorSettings(**self.model_dump(include=set(DiscriminatorSettings.model_fields)))

    def version(self) -> str:
        """A short hash of the settings: judged rows and the calibration table record it, so the gate can tell
        whether it measured the discriminator that built the data."""
        return hex_id(json.dumps(self.settings().model_dump(), sort_keys=True), length=12)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """The discriminator's decision on one row."""

    verdict: str  # accepted | rejected | failed
    failed_rules: list[str]
    rule_verdicts: dict[str, dict[str, str]]  # {rule: {"answer": "yes"|"no"|"n/a", "reason"}}
    reasons: str  # "rule: reason" of each failed rule, "; "-joined; "" when accepted or failed
    judge_model: str | None
    sandbox_status: str | None
    error: str | None  # why judging failed
    copied_reasons: int  # LLM reasons that repeat a few-shot example's word for word
    # The tests that ran: expected values from a Python repair's fix or a translation's Python source, where they
    # are known right; else the row's own.
    tests: str | None


def _key(row: dict, i: int) -> str:
    return str(row.get("example_id") or row.get("id") or i)


def _outcome(rule_verdicts: dict, tests: str | None, *, judge_model: str | None = None,
             sandbox_status: str | None = None, error: str | None = None, copied_reasons: int = 0) -> Outcome:
    failed = J.failed_rules(rule_verdicts)
    if error:
        verdict, reasons = "failed", ""
    else:
        verdict = "rejected" if failed else "accepted"
        reasons = "; ".join(f"{rule}: {rule_verdicts[rule]['reason']}" for rule in failed)
    return Outcome(verdict=verdict, failed_rules=failed, rule_verdicts=rule_verdicts, reasons=reasons,
                   judge_model=judge_model, sandbox_status=sandbox_status, error=error,
                   copied_reasons=copied_reasons, tests=tests)


def discriminate(rows: list[dict], judge, settings: DiscriminatorSettings | None = None, *,
                 store: ExampleStore | None = None, logger=None) -> list[Outcome]:
    """One Outcome per row, same order (a row's `few_shot`, if any: the examples its generator was shown).
    `judge` is a ChatClient, or None to decide by code checks and execution alone."""
    logger = logger or log
    settings = settings or DiscriminatorSettings()
    store = store if store is not None else ExampleStore()
    out: list[Outcome | None] = [None] * len(rows)
    verdicts: dict[int, dict] = {}
    tests_run: dict[int, str] = {}

    def tests(i: int) -> str | None:
        return tests_run.get(i, rows[i].get("tests"))

    for i, row in enumerate(rows):
        verdicts[i] = as_rule_verdicts(run_checks(row, CheckSettings(), settings.check_rules))
        if (copy := _copied_field(row)) is not None:
            field_name, example = copy
            verdicts[i][COPY_RULE] = {"answer": "no", "reason": f"the {field_name} is a shown few-shot example's "
                                      f"({example['task_name']}, {written_in(example)}) copied"}
        if J.failed_rules(verdicts[i]):
            out[i] = _outcome(verdicts[i], tests(i))

    survivors = [i for i in range(len(rows)) if out[i] is None]
    sandbox: dict[int, str | None] = {}
    if settings.execute and survivors:
        def run(i: int):
            row, note = _with_expected_values_from_the_source(rows[i], settings.sandbox_timeout_s)
            executed, status = execution_verdicts(row, timeout_s=settings.sandbox_timeout_s)
            if note:
                executed["tests_pass"]["reason"] = f"{executed['tests_pass']['reason']} ({note})"[:300]
            return row["tests"], executed, status

        with ThreadPoolExecutor(max_workers=2) as pool:  # sandboxed runs wait on subprocesses
            for i, (tests_run[i], executed, status) in zip(survivors, pool.map(run, survivors)):
                if settings.reject_unexecuted or (settings.reject_untested_repairs
                                                  and rows[i]["task_name"] == "code_repair"):
                    executed = {rule: v | {"answer": "no"} if v["reason"].startswith(NOT_EXECUTED) else v
                                for rule, v in executed.items()}
                verdicts[i] |= executed
                sandbox[i] = status
                if J.failed_rules(executed):
                    out[i] = _outcome(verdicts[i], tests(i), sandbox_status=status)
        survivors = [i for i in survivors if out[i] is None]

    if judge is None:
        for i in survivors:
            out[i] = _outcome(verdicts[i], tests(i), sandbox_status=sandbox.get(i))
        return out
    if settings.execute and (settings.differential or settings.summary_rewrite_share):
        for i, (rule, compared, model) in _differential(rows, survivors, verdicts, judge, settings, logger).items():
            verdicts[i][rule] = compared
            if compared["answer"] == "no":
                out[i] = _outcome(verdicts[i], tests(i), judge_model=model, sandbox_status=sandbox.get(i))
        survivors = [i for i in survivors if out[i] is None]
    if settings.contrastive_candidates > 1:
        for i, (picked, model, error) in _contrastive(rows, survivors, verdicts, judge, settings, logger).items():
            if error:
                out[i] = _outcome(verdicts[i], tests(i), judge_model=model, sandbox_status=sandbox.get(i),
                                  error=f"judge: {error}")
                continue
            verdicts[i][contrastive.RULES[rows[i]["task_name"]][0]] = picked
            if picked["answer"] == "no":
                out[i] = _outcome(verdicts[i], tests(i), judge_model=model, sandbox_status=sandbox.get(i))
        survivors = [i for i in survivors if out[i] is None]
    all_rules = J.rules_from_dicts(settings.rules)
    # A solution that gave its source's results on inputs that tell results apart does what the source does: the
    # judge is not asked again whether it does (its reading is the weaker evidence; on the semantic set it said no to
    # 2 of 8 right generations that had matched their source). It still judges whether the instruction fits.
    rules = {i: [r for r in all_rules if not (r.id == "solution_resolves"
                                              and verdicts[i].get(differential.RULE, {}).get("answer") == "yes")]
             for i in survivors}
    answered = _judge(rows, survivors, judge, rules, settings, store, logger, attempt=0)
    # A reason copied word for word from a few-shot example says nothing about this row: ask once more, with other
    # examples and another seed; the second answer stands (its copies are counted).
    again = [i for i in survivors if answered[i]["copied"]]
    if again:
        answered |= _judge(rows, again, judge, rules, settings, store, logger, attempt=1)
    for i in survivors:
        answer = answered[i]
        if answer["error"]:
            out[i] = _outcome(verdicts[i], tests(i), judge_model=answer["model"], sandbox_status=sandbox.get(i),
                              error=f"judge: {answer['error']}")
            continue
        out[i] = _outcome(verdicts[i] | answer["verdicts"], tests(i), judge_model=answer["model"],
                          sandbox_status=sandbox.get(i), copied_reasons=answer["copied"])
    return out


def _contrastive(rows: list[dict], indices: list[int], verdicts: dict[int, dict], judge,
                 settings: DiscriminatorSettings, logger) -> dict[int, tuple[dict | None, str | None, str | None]]:
    """index -> (the contrastive rule's verdict, the judge model, an error) for each summary among `indices`, and
    each generation or translation no test or run decided: contrastive.py asks the judge which of K candidates the
    row's text is about, contrastive_asks times; where the orders do not put each candidate at each position alike,
    each answer's position probabilities are calibrated by the judge's lean in the batch's other asks of the task."""
    matched = [i for i in indices if rows[i]["task_name"] == "code_summarization"
               or rows[i]["task_name"] in contrastive.RULES and not _tests_decided(verdicts[i])]
    asked: dict[int, list[contrastive.Candidate]] = {}
    out: dict[int, tuple[dict | None, str | None, str | None]] = {}
    requests = []
    for i in matched:
        row, key = rows[i], _key(rows[i], i)
        pool = [contrastive.Candidate(str(r.get("source_id") or r.get("id") or n), r["code"])
                for n, r in enumerate(rows) if n != i and r["language"] == row["language"]]
        candidates = contrastive.candidates_for(row, pool, settings.contrastive_candidates, settings.seed, key)
        if len(candidates) < 2:
            out[i] = ({"answer": "n/a", "reason": "no other function to tell it from"}, None, None)
            continue
        asked[i] = candidates
        requests += [(i, order, contrastive.request(row, candidates, order, key=f"{key}#contrastive{ask}",
                                                    seed=settings.seed))
                     for ask, order in enumerate(contrastive.orders(len(candidates), settings.contrastive_asks,
                                                                    settings.seed, key))]
    results = judge.run([r for _, _, r in requests], logger=logger) if requests else []
    answered: list[tuple[int, list[int], list[float]]] = []
    model: dict[int, str] = {}
    for (i, order, _), result in zip(requests, results):
        model[i] = result.model
        if i in out:
            continue
        try:
            if result.error:
                raise ValueError(result.error)
            answered.append((i, order, contrastive.position_probabilities(result, len(order))))
        except ValueError as error:
            out[i] = (None, result.model, f"{contrastive.RULES[rows[i]['task_name']][0]}: {error}")
    answered = [a for a in answered if a[0] not in out]  # a row with a failed ask is recorded by its error
    for i in {i for i, _, _ in answered}:
        # The lean from the other rows' asks: a row's own answer is not the judge's lean.
        lean = contrastive.position_lean([p for j, order, p in answered if j != i and len(order) == len(asked[i])
                                          and rows[j]["task_name"] == rows[i]["task_name"]])
        own = [(order, p) for j, order, p in answered if j == i]
        out[i] = (contrastive.verdict(asked[i], own, lean, settings.contrastive_min_lift), model[i], None)
    return out


def _differential(rows: list[dict], indices: list[int], verdicts: dict[int, dict], judge,
                  settings: DiscriminatorSettings, logger) -> dict[int, tuple[str, dict, str | None]]:
    """index -> (rule, verdict, the judge model) for the rows among `indices` whose code runs beside their source
    (differential.py): a generation or translation that passed its tests (differential_after_tests) or that no test
    decided (behaves_like_source: the solution), and a summary when summary_rewrite_share is set
    (summary_reproduces_code: code the judge writes from it). The judge writes the inputs, and a summary's code."""
    code_rows = [i for i in indices if settings.differential and differential.applies(rows[i])
                 and (settings.differential_after_tests or not _tests_decided(verdicts[i]))]
    summaries = [i for i in indices if settings.summary_rewrite_share and differential.applies_to_summary(rows[i])]
    requests = {(i, "inputs"): differential.inputs_request(rows[i], key=f"{_key(rows[i], i)}#inputs",
                                                           seed=settings.seed) for i in code_rows + summaries}
    requests |= {(i, "rewrite"): differential.rewrite_request(rows[i], key=f"{_key(rows[i], i)}#rewrite",
                                                              seed=settings.seed) for i in summaries}
    asked = [k for k, request in requests.items() if request is not None]
    answers = dict(zip(asked, judge.run([requests[k] for k in asked], logger=logger))) if asked else {}

    def compare(i: int) -> tuple[str, dict, str | None]:
        row = rows[i]
        rule = differential.SUMMARY_RULE if i in summaries else differential.RULE
        name, answer = differential.source_name(row), answers.get((i, "inputs"))
        if answer is None:
            return rule, {"answer": "n/a", "reason": "not decided: the source's parameters cannot be filled by "
                                                    "name"}, None
        try:
            if answer.error:
                raise ValueError(answer.error)
            inputs = differential.parse_inputs(answer.text, parameter_names(row["code"], row["language"], name))
        except ValueError as why:
            return rule, {"answer": "n/a", "reason": f"not decided: the judge wrote no inputs ({str(why)[:200]})"}, \
                answer.model
        # a summary's share was measured on the judge's inputs alone
        variants = differential.boundary_variants(inputs, settings.boundary_variants) if rule == differential.RULE \
            else []
        run = lambda code, language: differential.results_with_variants(
            language, code, differential.callee(code, language, name), inputs, variants,
            timeout_s=settings.sandbox_timeout_s)
        source = run(row["code"], row["language"])
        if rule == differential.SUMMARY_RULE:
            rewrite = answers[(i, "rewrite")]
            written = run(differential.written_code(rewrite.text), row["language"]) if rewrite.error is None else \
                differential.Results([], f"was not written ({rewrite.error[:200]})")
            return rule, differential.summary_verdict(inputs, source, written, settings.summary_rewrite_share), \
                answer.model
        language = solution_language(row["task_name"], row["language"], row.get("target_language"))
        return rule, differential.verdict(inputs + variants, source, run(row["solution"], language), name or "f",
                                          len(variants)), answer.model

    undecided = code_rows + summaries
    with ThreadPoolExecutor(max_workers=2) as pool:  # sandboxed runs wait on subprocesses
        return dict(zip(undecided, pool.map(compare, undecided)))


def _tests_decided(verdicts: dict) -> bool:
    """Whether running code decided the row: its tests, or its results beside its source's."""
    return any(verdicts.get(rule, {}).get("answer") in ("yes", "no") for rule in ("tests_pass", differential.RULE))


def _copied_field(row: dict) -> tuple[str, dict] | None:
    """(field, example) when the row's solution, or an instruction that describes the code, is a shown few-shot
    example's. A summary's or translation's instruction only points at the given code ("Summarize what the
    following Python function does."), so it may well read like an example's; a generation's or repair's says what
    the code does (a 0.5B generator answered repairs of other functions with the seed's "..., which should return
    the mean of a list.")."""
    shown = row.get("few_shot") or []
    fields = ["solution"] + ([] if TASKS[row["task_name"]].information_is_input else ["instruction"])
    for field_name in fields:
        if (example := copied_example(row.get(field_name), shown, field_name)) is not None:
            return field_name, example
    return None


def _with_expected_values_from_the_source(row: dict, timeout_s: float) -> tuple[dict, str | None]:
    """Tests whose expected values come from Python code known to be right (execution.ground_tests): the small
    generator guesses them wrong more often than not. That code is a Python repair's fix when it is the source
    function itself (a bug put in by code: comments aside, the same tokens), the Python source of a translation
    into JavaScript, or the Python source of a code generation whose solution has the source's name (its
    instruction was written from the source's summary and signature, so it asks for what the source does).
    (row, a note for the tests_pass reason); other rows come back as they are."""
    task, tests = row["task_name"], (row.get("tests") or "").strip()
    if not tests or row["language"] != "python":
        return row, None
    if task == "code_repair" and code_tokens(row["solution"], "python") == code_tokens(row["code"], "python"):
        reference, test_language, source = row["solution"], "python", "the fix"
    elif task == "code_translation" and row.get("target_language") in GROUNDED_LANGUAGES:
        reference, test_language, source = row["code"], row["target_language"], "the Python source"
    elif task == "code_generation" and (name := contrastive.defined_name(row["code"], "python")) is not None \
            and name == contrastive.defined_name(row["solution"], "python"):
        reference, test_language, source = row["code"], "python", "the source function"
    else:
        return row, None
    grounded = ground_tests(reference, tests, test_language=test_language, timeout_s=timeout_s)
    if grounded.tests is None:
        return row, None
    return row | {"tests": grounded.tests}, (f"expected values from {source}: {grounded.computed} computed, "
                                             f"{grounded.rewritten} of them changed, {len(grounded.dropped)} "
                                             "test line(s) dropped")


def _judge(rows: list[dict], indices: list[int], judge, rules: dict[int, list[J.Rule]], settings: DiscriminatorSettings,
           store: ExampleStore, logger, *, attempt: int) -> dict[int, dict]:
    """index -> {"model", "verdicts", "copied", "error"}: the judge's answers to the row's rules (`rules[index]`)
    and how many of their reasons repeat a shown example's word for word, or the error (the call failed, or its
    answer did not parse)."""
    requests, shown, answered = {}, {}, {}
    for i in indices:
        row = rows[i]
        if not J.applicable(rules[i], row["task_name"]):  # running code answered every rule it had
            answered[i] = {"model": None, "verdicts": {}, "copied": 0, "error": None}
            continue
        key = _key(row, i) + (f"#{attempt}" if attempt else "")
        good, bad = store.sample_judged(row["task_name"], settings.judge_few_shot_good, settings.judge_few_shot_bad,
                                        rule_ids=[r.id for r in J.applicable(rules[i], row["task_name"])],
                                        seed=settings.seed, key=key, language=written_in(row))
        examples = good + bad
        # In a seeded order per candidate: always shown last, the bad example's "no" led the 1.5B judge to reject good
        # rows on its pattern (7 of 20 good Python generations, "..., not the mean asked"); the position of
        # few-shot examples biases small models (Zhao et al. 2021, "Calibrate Before Use").
        random.Random(stable_hash(settings.seed, "judge-order", key)).shuffle(examples)
        shown[i] = {J.normalized_reason(v["reason"]) for e in examples for v in e["rule_verdicts"].values()}
        schema = J.verdict_schema(J.applicable(rules[i], row["task_name"]))
        requests[i] = ChatRequest(
            key=key, messages=J.judge_messages(row, rules[i], examples, show_format=not settings.json_mode),
            temperature=0.0, max_tokens=settings.judge_max_tokens, seed=settings.seed + attempt,
            response_format={"type": "json_object", "schema": schema} if settings.json_mode else None)
    # Requests showing the same few-shot turns (same-task candidates draw the same examples while the store is small)
    # go one after another: their prompts share everything but the data, a prefix the llama.cpp server keeps in its
    # KV cache instead of reading it again.
    order = sorted(requests, key=lambda i: (rows[i]["task_name"], rows[i]["language"],
                                            json.dumps(requests[i].messages[:-1]), i))
    for i, result in zip(order, judge.run([requests[i] for i in order], logger=logger) if order else []):
        answer = {"model": result.model, "verdicts": {}, "copied": 0, "error": result.error}
        if result.error is None:
            try:
                answer["verdicts"] = J.parse_verdict(result.text, rules[i], rows[i]["task_name"])
            except ValueError as why:
                answer["error"] = f"{why}: {result.text[:300]}"
            answer["copied"] = sum(J.normalized_reason(v["reason"]) in shown[i]
                                   for v in answer["verdicts"].values() if v["reason"])
        answered[i] = answer
    return answered


def outcome_columns(outcome: Outcome) -> dict:
    """An outcome as table columns (rule_verdicts as JSON)."""
    return {"verdict": outcome.verdict, "rule_verdicts": json.dumps(outcome.rule_verdicts, ensure_ascii=False),
            "reasons": outcome.reasons, "judge_model": outcome.judge_model,
            "sandbox_status": outcome.sandbox_status, "copied_reasons": outcome.copied_reasons}
