"""The generator–discriminator loop (WaveCoder Fig. 2), round by round.

Sources are split into `rounds` chunks in coreset rank order. In each round the generator writes one example
per source for its assigned task, with few-shot examples (good and bad) drawn per candidate from the example
store; an answer that does not parse is asked again once, sampled, with other few-shot examples (an answer cut off
inside its tests keeps its complete test lines); the discriminator (code checks,
execution, LLM judge) decides each example; the judged examples go into the store for the next round.
An example rejected only because its tests do not parse or compile (a generator's slip, not its code's) goes back
once for new tests (`regenerate_broken_tests`); its code is kept and it is judged again with them.
With `revise_rejected`, an example rejected by code (checks or execution: a syntax error, a missing import, a
failing test) goes back to the generator once with the rejection's reasons, and the revised answer is judged like a
new one (off by default: with the embedded 0.5B generator no revision passed).
Every source ends in exactly one judged row: accepted, rejected (failed rules and reasons) or failed (error).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import typing
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wavecoder_assets.codefacts import runs_alone, uses_plain_values
from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.bugs import InjectedBug, inject_bug
from wavecoder_assets.generate.discriminator import CODE_RULES, DiscriminatorSettings, discriminate, outcome_columns
from wavecoder_assets.generate.examples import ExampleStore
from wavecoder_assets.generate.execution import tests_requirement, uncompilable_tests
from wavecoder_assets.generate.tasks import (
    LINE_TESTS,
    PAPER_TASK_MIX,
    PROMPT_VERSION,
    TASKS,
    Rejected,
    assign_tasks,
    close_cut_tests,
    example_id,
    generator_messages,
    given_code,
    max_tokens_for,
    output_schema,
    parse_generation,
    pick_target_language,
    solution_language,
    summary_of,
    wants_tests,
)
from wavecoder_assets.languages import LANGUAGES
from wavecoder_assets.llm import ChatRequest

log = logging.getLogger(__name__)

RETRY_TEMPERATURE = 0.7  # the retry of an unparseable answer samples, so it can differ from the first answer
# Rejections the generator can fix when told why; a raw input that is not code is the source's problem, not its.
REVISABLE_RULES = CODE_RULES - {"input_is_code"}
REVISION_REASON_CHARS = 600  # sandbox output can be long; the head says what went wrong


@dataclass(frozen=True, kw_only=True)
class PlannedExample:
    """One source's example as planned: its task, target language, round, and the code the generator is given."""

    example_id: str
    source_id: str
    task_name: str
    language: str
    target_language: str | None  # a translation's
    code: str
    given: dict[str, str] | None  # a repair's buggy code and its fix ({"information", "solution"})
    summary: str | None  # the docstring's prose
    round: int
    with_tests: bool
    # The few-shot examples the answer was written after (the copy check compares with them): drawn per round,
    # set by generate_round and revise_round.
    few_shot: list[dict] = dataclasses.field(default_factory=list)
    # The source's nearest corpus functions ({"id", "code"}), a summary's hard negatives (contrastive.py).
    neighbours: list[dict] = dataclasses.field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class GeneratedRow:
    """A row of generated_instructions; the fields are its columns, in order."""

    example_id: str
    source_id: str
    task_name: str
    language: str
    target_language: str | None
    instruction: str | None
    information: str | None
    solution: str | None
    tests: str | None
    status: str  # ok | unparseable | failed
    error: str | None
    generator_model: str | None
    prompt_version: str
    round: int
    attempts: int  # generator calls: a retry or a revision adds one
    raw_output: str | None
    tests_regenerated: int = 0  # 1: the first tests did not parse or compile; these are the generator's second


@dataclass(frozen=True, kw_only=True)
class JudgedRow(GeneratedRow):
    """A row of judged_instructions: the generated row (its tests: the ones that ran) and the discriminator's
    verdict. The defaults are what a row has before any rule decided it."""

    verdict: str  # accepted | rejected | failed
    rule_verdicts: str = "{}"  # JSON
    reasons: str = ""
    judge_model: str | None = None
    sandbox_status: str | None = None
    copied_reasons: int = 0
    first_rejection: str | None = None  # the reasons of the answer a revision replaced
    discriminator: str  # the discriminator's settings version: which settings judged the row


_POLARS_TYPES = {str: pl.String, int: pl.Int64}


def _schema(row_type: type) -> dict[str, type[pl.DataType]]:
    """A table schema from a row dataclass: its fields in order, str and int (or either | None) as String and
    Int64."""
    hints = typing.get_type_hints(row_type)
    schema = {}
    for f in dataclasses.fields(row_type):
        (python_type,) = set(typing.get_args(hints[f.name]) or [hints[f.name]]) - {type(None)}
        schema[f.name] = _POLARS_TYPES[python_type]
    return schema


GENERATED_SCHEMA = _schema(GeneratedRow)
JUDGED_SCHEMA = _schema(JudgedRow)


class LoopSettings(BaseModel):
    """The generator's side of the loop; the discriminator's settings are its own (DiscriminatorSettings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    # Equal shares: the paper's mix (PAPER_TASK_MIX, the paper preset) is 57% code generation, the task the embedded
    # 0.5B generator fails most often.
    task_mix: dict[str, float] = Field(default_factory=lambda: {task: 0.25 for task in PAPER_TASK_MIX},
                                       description="task -> share of the sources (shares sum to 1)")
    seed: int = Field(default=0, description="task assignment, target languages, few-shot draws, request seeds")
    rounds: int = Field(default=2, ge=1, description="generator-discriminator rounds; later rounds draw few-shot "
                                                     "examples (good and bad) from the judged ones")
    few_shot_good: int = Field(default=1, ge=0)
    few_shot_bad: int = Field(default=1, ge=0)
    json_mode: bool = Field(default=True, description='response_format={"type": "json_object", "schema": ...}; '
                                                      "off: plain prompts and the tolerant parser only")
    ask_for_tests: bool = Field(default=True, description="ask for tests with every code solution (in its "
                                                          "language); the sandbox runs them")
    # Python and JavaScript: 3 of 3 of the embedded 0.5B generator's Java translations did not parse.
    translation_targets: list[str] = Field(default_factory=lambda: ["python", "javascript"],
                                           description="languages code is translated into (ones with a toolchain "
                                                       "run their tests)")
    generator_max_tokens: int | None = Field(default=None, ge=16, description="empty: per task, enough for the "
                                                                               "answer schema's capped fields")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    max_code_chars: int = Field(default=1200, ge=1, description="raw code longer than this is clipped in prompts")
    retry_unparseable: bool = Field(default=True, description="ask once more, with another seed, when an answer "
                                                              "does not parse")
    regenerate_broken_tests: bool = Field(default=True, description="an example rejected only because its tests do "
                                          "not parse or compile gets new tests once (its code kept) and is judged "
                                          "again")
    revise_rejected: bool = Field(default=False, description="send an example rejected by code (checks, "
                                  "execution) back to the generator once with the reasons; the revision is judged "
                                  "anew (off: the embedded 0.5B generator revised 17 rejected examples and none "
                                  "passed; 11 answered with a few-shot example)")

    @field_validator("task_mix")
    @classmethod
    def _known_tasks(cls, mix: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(mix) - set(TASKS))
        if unknown or any(share < 0 for share in mix.values()) or abs(sum(mix.values()) - 1) > 1e-6:
            raise ValueError(f"task_mix: shares >= 0 of the tasks {sorted(TASKS)} summing to 1, not {mix}"
                             + (f" (unknown: {unknown})" if unknown else ""))
        return mix

    @field_validator("translation_targets")
    @classmethod
    def _known_languages(cls, targets: list[str]) -> list[str]:
        if not targets or set(targets) - set(LANGUAGES):
            raise ValueError(f"translation_targets: one or more of {sorted(LANGUAGES)}, not {targets}")
        return targets


def ranked_sources(coreset: pl.DataFrame, max_sources: int | None) -> pl.DataFrame:
    """The coreset rows the loop takes: best rank first, at most `max_sources` (None: all)."""
    if coreset.is_empty():
        raise ValueError("generated_instructions: the coreset is empty; materialize it first")
    sources = coreset.sort("rank") if "rank" in coreset.columns else coreset
    return sources if max_sources is None else sources.head(max_sources)


def testability(code: str, language: str) -> int:
    """2: a function a test can call with literals, 1: one that runs alone, 0: neither (codefacts.py)."""
    if not runs_alone(code, language):
        return 0
    return 2 if uses_plain_values(code, language) else 1


def plan_examples(sources: pl.DataFrame, settings: LoopSettings,
                  neighbours: dict[str, list[dict]] | None = None) -> list[PlannedExample]:
    """One planned example per source (id, language, code, docstring; in rank order when there is a rank):
    its task (the most testable code goes to the tasks that run it), target language, example id and round, and
    its `neighbours` (source id -> nearest corpus functions), if given."""
    if "rank" in sources.columns:
        sources = sources.sort("rank")
    docstrings = sources["docstring"].to_list() if "docstring" in sources.columns else [None] * sources.height
    rows = sources.select("id", "language", "code").with_columns(
        summary=pl.Series([summary_of(d) for d in docstrings], dtype=pl.String))
    rows = rows.to_dicts()
    unknown = sorted({r["language"] for r in rows} - set(LANGUAGES))
    if unknown:
        raise ValueError(f"sources in languages without a task definition: {unknown}; known: {list(LANGUAGES)}")
    tested = [testability(r["code"], r["language"]) for r in rows]
    tasks = assign_tasks([r["id"] for r in rows], settings.task_mix, settings.seed, testability=tested)
    bugs = [inject_bug(given_code("code_repair", r["code"], r["language"]), r["language"], r["id"], settings.seed)
            for r in rows]
    _give_repairs_a_bug(tasks, bugs, tested)
    plan = []
    for i, (row, task) in enumerate(zip(rows, tasks)):
        target = (pick_target_language(row["id"], row["language"], settings.seed, tuple(settings.translation_targets))
                  if task == "code_translation" else None)
        plan.append(PlannedExample(
            example_id=example_id(row["id"], task, PROMPT_VERSION), source_id=row["id"], task_name=task,
            language=row["language"], target_language=target, code=given_code(task, row["code"], row["language"]),
            given={"information": bugs[i].buggy, "solution": bugs[i].fixed} if TASKS[task].bug_given else None,
            summary=row["summary"], round=i * settings.rounds // max(1, len(rows)),
            with_tests=wants_tests(task, row["language"], target, settings.ask_for_tests),
            neighbours=(neighbours or {}).get(row["id"], [])))
    return plan


def _give_repairs_a_bug(tasks: list[str], bugs: list[InjectedBug | None], tested: list[int]) -> None:
    """A repair needs code with a place for a bug (an operator or a literal): one assigned to code without any
    trades tasks with the first source in plan order that has one, no repair and at least its testability; with
    none left it becomes a summary, which any code can take. Changes `tasks` in place; the other quotas stay."""
    for i, task in enumerate(tasks):
        if task != "code_repair" or bugs[i] is not None:
            continue
        j = next((j for j in range(len(tasks)) if tasks[j] != "code_repair" and bugs[j] is not None
                  and tested[j] >= tested[i]), None)
        if j is None:
            j = next((j for j in range(len(tasks)) if tasks[j] != "code_repair" and bugs[j] is not None), None)
        if j is None:
            log.warning("no source left with a place for a bug: a planned repair becomes a summary")
            tasks[i] = "code_summarization"
        else:
            tasks[i], tasks[j] = tasks[j], tasks[i]


def _few_shot(item: PlannedExample, store: ExampleStore, settings: LoopSettings,
              attempt: int) -> tuple[list[dict], list[dict]]:
    key = item.example_id + (f"#{attempt}" if attempt else "")
    return store.sample(item.task_name, settings.few_shot_good, settings.few_shot_bad, seed=settings.seed,
                        key=key, language=item.target_language or item.language)  # the answer's (written_in)


def _generation_request(item: PlannedExample, store: ExampleStore, settings: LoopSettings,
                        attempt: int) -> ChatRequest:
    """The generator's request; a retry (attempt 1) draws other few-shot examples and samples at RETRY_TEMPERATURE
    at least: at temperature 0 another seed gives the same answer again."""
    good, bad = _few_shot(item, store, settings, attempt)
    with_tests = item.with_tests
    tests = (tests_requirement(solution_language(item.task_name, item.language, item.target_language))
             if with_tests else None)
    messages = generator_messages(item.task_name, item.code, item.language, item.target_language,
                                  good=good, bad=bad, tests_instruction=tests, max_code_chars=settings.max_code_chars,
                                  summary=item.summary, given=item.given)
    response_format = ({"type": "json_object", "schema": output_schema(item.task_name, with_tests)}
                       if settings.json_mode else None)
    max_tokens = settings.generator_max_tokens or max_tokens_for(item.task_name, with_tests)
    temperature = max(settings.temperature, RETRY_TEMPERATURE) if attempt else settings.temperature
    return ChatRequest(key=item.example_id, messages=messages, temperature=temperature,
                       max_tokens=max_tokens, seed=settings.seed + attempt, response_format=response_format)


def _generated_row(item: PlannedExample, result, attempts: int) -> GeneratedRow:
    def row(status: str, error: str | None = None, **answer) -> GeneratedRow:
        answer = {"instruction": None, "information": None, "solution": None, "tests": None} | answer
        return GeneratedRow(example_id=item.example_id, source_id=item.source_id, task_name=item.task_name,
                            language=item.language, target_language=item.target_language, **answer, status=status,
                            error=error, generator_model=result.model, prompt_version=PROMPT_VERSION,
                            round=item.round, attempts=attempts, raw_output=result.text)

    if result.error is not None:
        return row("failed", f"generator: {result.error}")
    text = result.text
    if result.finish_reason == "length":  # cut off by the token budget: never half an answer
        language = solution_language(item.task_name, item.language, item.target_language)
        text = close_cut_tests(text) if item.with_tests and language in LINE_TESTS else None
        if text is None:
            return row("unparseable", "the answer was cut off at the token limit")
    try:
        fields = parse_generation(text, item.task_name, item.code, item.given)
    except Rejected as why:
        return row("unparseable", str(why))
    del fields["task_name"]  # the assigned task is kept; models name tasks loosely
    if item.with_tests and not fields["tests"]:
        return row("unparseable", "no tests, though the prompt asked for them")
    return row("ok", **fields)


def generate_round(items: list[PlannedExample], store: ExampleStore, generator, settings: LoopSettings, *,
                   logger=None) -> list[GeneratedRow]:
    """One generated row per item; an unparseable answer is asked once more with another seed (both tries
    count in `attempts`; the first error is kept when the retry parses neither). Sets each item's `few_shot` (in
    `items`, in place) to the examples its kept answer was written after. The client's progress and failures go
    to `logger`."""
    logger = logger or log
    # Sent grouped by task and languages: consecutive prompts then share the task definition and requirements
    # (and, while the store holds only the seed examples, the few-shot examples too), a prefix the llama.cpp
    # server keeps in its KV cache instead of reading it again.
    order = sorted(range(len(items)), key=lambda i: (items[i].task_name, items[i].language,
                                                     items[i].target_language or "", i))
    sent = generator.run([_generation_request(items[i], store, settings, 0) for i in order], logger=logger)
    results = [None] * len(items)
    for i, result in zip(order, sent):
        results[i] = result
    generated = [_generated_row(item, result, 1) for item, result in zip(items, results)]
    for i, item in enumerate(items):  # what the answer was written after (the copy check compares with it)
        items[i] = dataclasses.replace(item, few_shot=sum(_few_shot(item, store, settings, 0), []))
    retry = [i for i, row in enumerate(generated) if row.status == "unparseable"] if settings.retry_unparseable else []
    if retry:
        again = generator.run([_generation_request(items[i], store, settings, 1) for i in retry], logger=logger)
        for i, result in zip(retry, again):
            second = _generated_row(items[i], result, 2)
            first_error = generated[i].error
            if second.status == "ok":
                items[i] = dataclasses.replace(items[i], few_shot=sum(_few_shot(items[i], store, settings, 1), []))
            generated[i] = second if second.status == "ok" else dataclasses.replace(
                second, status="unparseable", error=f"{first_error}; retry: {second.error}")
    return generated


def judge_round(items: list[PlannedExample], generated: list[GeneratedRow], store: ExampleStore, judge,
                discriminator: DiscriminatorSettings, *, logger=None) -> list[JudgedRow]:
    """The discriminator's verdict for every generated row; judged examples join the store. The judge
    client's progress and failures go to `logger`."""
    logger = logger or log
    version = discriminator.version()
    judged: list[JudgedRow | None] = [None] * len(generated)
    ok = [i for i, row in enumerate(generated) if row.status == "ok"]
    for i, row in enumerate(generated):
        if row.status == "failed":
            judged[i] = JudgedRow(**dataclasses.asdict(row), verdict="failed", discriminator=version)
        elif row.status == "unparseable":
            verdicts = {"parse": {"answer": "no", "reason": row.error}}
            judged[i] = JudgedRow(**dataclasses.asdict(row), verdict="rejected", rule_verdicts=json.dumps(verdicts),
                                  reasons=row.error, discriminator=version)
    candidates = [dataclasses.asdict(generated[i]) | {"code": items[i].code, "few_shot": items[i].few_shot,
                                                      "neighbours": items[i].neighbours}
                  for i in ok]
    outcomes = discriminate(candidates, judge, discriminator, store=store, logger=logger)
    for i, outcome in zip(ok, outcomes):
        # The tests that ran replace the generated ones; an ok row has no error, so a failed judgment's is its own.
        row = dataclasses.replace(generated[i], tests=outcome.tests, error=outcome.error)
        judged[i] = JudgedRow(**dataclasses.asdict(row), **outcome_columns(outcome), discriminator=version)
        if outcome.verdict != "failed":
            store.add(dataclasses.asdict(row) | {"code": items[i].code, "summary": items[i].summary,
                                                 "accepted": outcome.verdict == "accepted",
                                                 "reasons": outcome.reasons or "All rules met.",
                                                 "rule_verdicts": outcome.rule_verdicts})
    return judged


def _revisable(row: JudgedRow) -> bool:
    """Rejected by code alone, for reasons the generator can fix (once: not after new tests)."""
    failed = J.failed_rules(json.loads(row.rule_verdicts)) if row.verdict == "rejected" else []
    return row.status == "ok" and bool(failed) and set(failed) <= REVISABLE_RULES and not row.tests_regenerated


def _tests_broken(row: JudgedRow) -> bool:
    """Rejected only because its tests do not parse or compile (a repair's fix then cannot show it fixes the bug)."""
    if row.verdict != "rejected" or row.status != "ok":
        return False
    verdicts = json.loads(row.rule_verdicts)
    failed = set(J.failed_rules(verdicts))
    return bool(failed) and failed <= {"tests_pass", "repair_fixes_bug"} and uncompilable_tests(verdicts["tests_pass"])


def retest_round(items: list[PlannedExample], generated: list[GeneratedRow], judged: list[JudgedRow],
                 store: ExampleStore, generator, judge, settings: LoopSettings, discriminator: DiscriminatorSettings,
                 *, logger=None) -> dict[str, float]:
    """Ask the generator once for new tests for each example rejected only because its tests do not parse or
    compile (told the error); its instruction and solution are kept, only the new tests are taken, and it is
    judged again (the first rejection kept in `first_rejection`). An answer without tests leaves the row as it was.
    Changes `generated` and `judged` in place; returns the seconds spent generating and judging."""
    logger = logger or log
    redo = [i for i, row in enumerate(judged) if _tests_broken(row)]
    if not redo:
        return {"generating": 0.0, "judging": 0.0}
    started = time.perf_counter()
    sent = generator.run([_retest_request(items[i], judged[i], store, settings) for i in redo], logger=logger)
    retested = {}
    for i, result in zip(redo, sent):
        answer = _generated_row(items[i], result, generated[i].attempts + 1)
        generated[i] = dataclasses.replace(generated[i], attempts=answer.attempts)
        judged[i] = dataclasses.replace(judged[i], attempts=answer.attempts)
        if answer.status == "ok" and answer.tests:
            retested[i] = dataclasses.replace(generated[i], tests=answer.tests, tests_regenerated=1)
    generating = time.perf_counter() - started
    logger.info(f"new tests asked for {len(redo)} example(s) whose tests did not compile; {len(retested)} answered")
    started = time.perf_counter()
    rejudged = judge_round([items[i] for i in retested], list(retested.values()), store, judge, discriminator,
                           logger=logger)
    for i, row in zip(retested, rejudged):
        generated[i] = retested[i]
        judged[i] = dataclasses.replace(row, first_rejection=judged[i].reasons)
    return {"generating": generating, "judging": time.perf_counter() - started}


def _retest_request(item: PlannedExample, rejected: JudgedRow, store: ExampleStore,
                    settings: LoopSettings) -> ChatRequest:
    """The generation request again, then the rejected answer and its tests' error."""
    error = json.loads(rejected.rule_verdicts)["tests_pass"]["reason"]
    feedback = (f"The tests in that answer do not compile: {error[:REVISION_REASON_CHARS]}\n"
                "Write the whole JSON answer again, with the same solution and new tests that compile.")
    request = _sent_back(item, rejected, store, settings, feedback, seed=settings.seed + 3)
    return dataclasses.replace(request, key=f"{item.example_id}#tests")


def _revision_request(item: PlannedExample, rejected: JudgedRow, store: ExampleStore,
                      settings: LoopSettings) -> ChatRequest:
    """The generation request again, then the rejected answer and why it was rejected."""
    feedback = (f"That answer was rejected: {rejected.reasons[:REVISION_REASON_CHARS]}\n"
                "Write the whole JSON answer again with this fixed.")
    return _sent_back(item, rejected, store, settings, feedback, seed=settings.seed + 2)


def _sent_back(item: PlannedExample, rejected: JudgedRow, store: ExampleStore, settings: LoopSettings,
               feedback: str, *, seed: int) -> ChatRequest:
    """The generation request again, then the rejected answer and `feedback` as the next user turn."""
    request = _generation_request(item, store, settings, 0)
    messages = request.messages + [{"role": "assistant", "content": rejected.raw_output},
                                   {"role": "user", "content": feedback}]
    return dataclasses.replace(request, messages=messages, seed=seed)


def revise_round(items: list[PlannedExample], generated: list[GeneratedRow], judged: list[JudgedRow],
                 store: ExampleStore, generator, judge, settings: LoopSettings, discriminator: DiscriminatorSettings,
                 *, logger=None) -> dict[str, float]:
    """Send each example rejected by code back to the generator once with its reasons; a revision that parses is
    judged and replaces the example (the first rejection kept in `first_rejection`), one that does not leaves it
    as it was. Changes `items` (their few_shot), `generated` and `judged` in place; returns the seconds spent
    generating and judging."""
    redo = [i for i, row in enumerate(judged) if _revisable(row)]
    if not redo:
        return {"generating": 0.0, "judging": 0.0}
    started = time.perf_counter()
    for i in redo:  # the store has grown since the first answer: the revision is written after these
        items[i] = dataclasses.replace(items[i], few_shot=sum(_few_shot(items[i], store, settings, 0), []))
    sent = generator.run([_revision_request(items[i], judged[i], store, settings) for i in redo], logger=logger)
    revised = {i: _generated_row(items[i], result, generated[i].attempts + 1) for i, result in zip(redo, sent)}
    generating = time.perf_counter() - started
    for i in redo:  # every revision was asked for, whether or not it replaces the example
        generated[i] = dataclasses.replace(generated[i], attempts=revised[i].attempts)
        judged[i] = dataclasses.replace(judged[i], attempts=revised[i].attempts)
    parsed = [i for i in redo if revised[i].status == "ok"]
    started = time.perf_counter()
    rejudged = judge_round([items[i] for i in parsed], [revised[i] for i in parsed], store, judge, discriminator,
                           logger=logger)
    for i, row in zip(parsed, rejudged):
        generated[i] = revised[i]
        judged[i] = dataclasses.replace(row, first_rejection=judged[i].reasons)
    return {"generating": generating, "judging": time.perf_counter() - started}


def run_generator_discriminator(sources: pl.DataFrame, generator, judge, settings: LoopSettings,
                                discriminator: DiscriminatorSettings | None = None, *, store: ExampleStore | None = None,
                                neighbours: dict[str, list[dict]] | None = None,
                                logger=None) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, float]]:
    """(generated_instructions, judged_instructions, seconds spent generating and judging) for every source;
    `neighbours`: source id -> its nearest corpus functions (a summary's hard negatives). See the module docstring."""
    logger = logger or log
    discriminator = discriminator or DiscriminatorSettings()
    store = store if store is not None else ExampleStore()
    plan = plan_examples(sources, settings, neighbours)
    generated, judged, seconds = [], [], {"generating": 0.0, "judging": 0.0}
    for r in range(settings.rounds):
        items = [item for item in plan if item.round == r]
        if not items:
            continue
        started = time.perf_counter()
        g = generate_round(items, store, generator, settings, logger=logger)
        seconds["generating"] += time.perf_counter() - started
        started = time.perf_counter()
        j = judge_round(items, g, store, judge, discriminator, logger=logger)
        seconds["judging"] += time.perf_counter() - started
        if settings.regenerate_broken_tests:
            spent = retest_round(items, g, j, store, generator, judge, settings, discriminator, logger=logger)
            seconds = {k: seconds[k] + spent[k] for k in seconds}
        if settings.revise_rejected:
            spent = revise_round(items, g, j, store, generator, judge, settings, discriminator, logger=logger)
            seconds = {k: seconds[k] + spent[k] for k in seconds}
        generated += g
        judged += j
        counts = {v: sum(row.verdict == v for row in j) for v in ("accepted", "rejected", "failed")}
        revised = sum(row.first_rejection is not None for row in j)
        logger.info(f"round {r}: {len(items)} examples, {counts} ({revised} after a revision); store has "
                    f"{len(store.good)} good, {len(store.bad)} bad")
    frames = (pl.DataFrame([dataclasses.asdict(row) for row in generated], schema=GENERATED_SCHEMA),
              pl.DataFrame([dataclasses.asdict(row) for row in judged], schema=JUDGED_SCHEMA))
    return *frames, seconds


def failure_summary(judged: pl.DataFrame, first: int = 5) -> dict:
    """How many candidates failed (no verdict: the generator's or the judge's call still failed after the
    client's retries), at which step, their share of all candidates, and the first `first` reasons
    ("<example_id>: <error>")."""
    failed = judged.filter(pl.col("verdict") == "failed")
    at_generator = failed.filter(pl.col("status") == "failed").height
    return {
        "candidates": judged.height,
        "failed": failed.height,
        "failed_at_generator": at_generator,
        "failed_at_judge": failed.height - at_generator,
        "failure_rate": round(failed.height / judged.height, 3) if judged.height else 0.0,
        "first_reasons": [f"{row['example_id']}: {row['error']}" for row in failed.head(first).iter_rows(named=True)],
    }


def quality_metrics(judged: pl.DataFrame) -> dict:
    """The loop's measured quality, for the UI: unparseable answers (after the retry, and on the first try),
    acceptance, execution of accepted code rows, and judge reasons copied word for word from a few-shot example."""
    n = max(1, judged.height)
    unparseable = judged.filter(pl.col("status") == "unparseable").height
    retried = judged.filter(pl.col("attempts") > 1).height
    accepted = judged.filter(pl.col("verdict") == "accepted")
    code_rows = accepted.filter(pl.col("task_name") != "code_summarization")
    executed = code_rows.filter(pl.col("sandbox_status").is_in(["passed", "failed", "timeout", "error"]))
    llm_judged = judged.filter(pl.col("judge_model").is_not_null())
    llm_reasons = sum(len(set(json.loads(text)) - CODE_RULES) for text in llm_judged["rule_verdicts"])
    return {
        "candidates": judged.height,
        "unparseable_rate": round(unparseable / n, 3),
        "unparseable_first_try_rate": round(retried / n, 3),
        "acceptance_rate": round(accepted.height / n, 3),
        "revised": judged.filter(pl.col("first_rejection").is_not_null() & (pl.col("tests_regenerated") == 0)).height,
        "accepted_after_revision": accepted.filter(pl.col("first_rejection").is_not_null()
                                                   & (pl.col("tests_regenerated") == 0)).height,
        "tests_regenerated": judged.filter(pl.col("tests_regenerated") == 1).height,
        "accepted_with_regenerated_tests": accepted.filter(pl.col("tests_regenerated") == 1).height,
        "accepted_code_rows": code_rows.height,
        "accepted_code_rows_executed": executed.height,
        "accepted_code_rows_not_executed": code_rows.height - executed.height,
        # None, not 0.0, where no accepted code row ran (a shard that accepted only summaries)
        "execution_pass_rate": round(executed.filter(pl.col("sandbox_status") == "passed").height
                                     / executed.height, 3) if executed.height else None,
        "llm_judged": llm_judged.height,
        "verbatim_reason_rate": round(int(llm_judged["copied_reasons"].sum() or 0) / max(1, llm_reasons), 3),
    }


@dataclass(frozen=True)
class FailureVerdict:
    """What the step does with the failed candidates of its shards: log `warning` (failures kept as rows), and
    fail with `failure` and `metadata`, writing nothing, when a shard is over max_failure_rate."""
    warning: str | None
    failure: str | None
    metadata: dict


def failure_verdict(judged_by_shard: dict[str, pl.DataFrame], max_failure_rate: float) -> FailureVerdict:
    """Shards whose failed share is at most `max_failure_rate` keep their failed rows (a warning); any shard over
    it fails the step, so a rerun pays only for the failed requests (answers are cached)."""
    within, over = {}, {}
    for shard, judged in judged_by_shard.items():
        failures = failure_summary(judged)
        if failures["failed"]:
            (within if failures["failed"] <= max_failure_rate * failures["candidates"] else over)[shard] = judged
    warning = failure = None
    if within:
        counts, first, _ = _failure_counts(within)
        warning = (f"{counts}; within max_failure_rate={max_failure_rate}, recorded as failed rows. First reasons:\n"
                   f"{first}")
    if not over:
        return FailureVerdict(warning, None, {})
    counts, first, failures = _failure_counts(over)
    failure = (f"{counts}: more than max_failure_rate={max_failure_rate}, so nothing was written and the previous "
               "rows of these shards of generated_instructions and judged_instructions stay. The run's log has a "
               "warning per failed request. Fix the endpoint and rerun the shards (answered requests are cached, so "
               f"only the failed ones are paid again), or raise max_failure_rate. First reasons:\n{first}")
    metadata = {"shards": ", ".join(over), "max_failure_rate": max_failure_rate, "first_reasons": first,
                **{k: failures[k] for k in ("candidates", "failed", "failed_at_generator", "failed_at_judge",
                                            "failure_rate")}}
    return FailureVerdict(warning, failure, metadata)


def _failure_counts(judged_by_shard: dict[str, pl.DataFrame]) -> tuple[str, str, dict]:
    """("shard(s) ...: F of N candidates failed (...)", the first reasons as a markdown list, failure_summary)."""
    failures = failure_summary(pl.concat(judged_by_shard.values()))
    counts = (f"shard(s) {', '.join(judged_by_shard)}: {failures['failed']} of {failures['candidates']} candidates "
              f"failed (at the generator: {failures['failed_at_generator']}, at the judge: "
              f"{failures['failed_at_judge']})")
    return counts, "\n".join(f"- {reason}" for reason in failures["first_reasons"]), failures


def failed_rules(judged: pl.DataFrame) -> pl.DataFrame:
    """Rejections per rule (rule, rejections), for the UI."""
    counts: dict[str, int] = {}
    for text in judged.filter(pl.col("verdict") == "rejected")["rule_verdicts"]:
        for rule in J.failed_rules(json.loads(text)):
            counts[rule] = counts.get(rule, 0) + 1
    return pl.DataFrame({"rule": list(counts), "rejections": list(counts.values())},
                        schema={"rule": pl.String, "rejections": pl.Int64}).sort("rule")
