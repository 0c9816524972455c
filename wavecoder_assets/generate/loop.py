"""The generator–discriminator loop (WaveCoder Fig. 2), round by round.

Sources are split into `rounds` chunks in coreset rank order. In each round the generator writes one example
per source for its assigned task, with few-shot examples drawn from the example store; the static checks and
the judge decide each example; the judged examples (good and bad) go into the store for the next round.
Every source ends in exactly one judged row: accepted, rejected (failed rules and reasons) or failed (error).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field

import polars as pl

from wavecoder_assets.generate import judge as J
from wavecoder_assets.generate.examples import ExampleStore
from wavecoder_assets.generate.tasks import (
    PAPER_TASK_MIX,
    PROMPT_VERSION,
    Rejected,
    assign_tasks,
    example_id,
    generator_messages,
    output_schema,
    parse_generation,
    pick_target_language,
    wants_tests,
)
from wavecoder_assets.languages import LANGUAGES
from wavecoder_assets.llm import ChatRequest

log = logging.getLogger(__name__)

GENERATED_SCHEMA = {
    "example_id": pl.String, "source_id": pl.String, "task_name": pl.String, "language": pl.String,
    "target_language": pl.String, "instruction": pl.String, "information": pl.String, "solution": pl.String,
    "tests": pl.String, "status": pl.String, "error": pl.String, "generator_model": pl.String,
    "prompt_version": pl.String, "round": pl.Int64, "raw_output": pl.String,
}
JUDGED_SCHEMA = GENERATED_SCHEMA | {
    "verdict": pl.String, "rule_verdicts": pl.String, "reasons": pl.String, "judge_model": pl.String,
    "sandbox_status": pl.String,
}


@dataclass(frozen=True)
class LoopSettings:
    task_mix: dict[str, float] = field(default_factory=lambda: dict(PAPER_TASK_MIX))
    seed: int = 0
    rounds: int = 1
    few_shot_good: int = 1
    few_shot_bad: int = 1
    json_mode: bool = True  # response_format={"type": "json_object", "schema": ...}
    ask_for_tests: bool = True
    require_tests_pass: bool = False
    sandbox_timeout_s: float = 10.0
    rules: list[dict] = field(default_factory=lambda: list(J.DEFAULT_RULES))
    generator_max_tokens: int = 384
    judge_max_tokens: int = 256
    temperature: float = 0.0
    max_code_chars: int = 1200


def plan_examples(sources: pl.DataFrame, settings: LoopSettings) -> list[dict]:
    """One planned example per source (id, language, code; in rank order when there is a rank):
    its task, target language, example id and round."""
    if "rank" in sources.columns:
        sources = sources.sort("rank")
    rows = sources.select("id", "language", "code").to_dicts()
    unknown = sorted({r["language"] for r in rows} - set(LANGUAGES))
    if unknown:
        raise ValueError(f"sources in languages without a task definition: {unknown}; known: {list(LANGUAGES)}")
    tasks = assign_tasks([r["id"] for r in rows], settings.task_mix, settings.seed)
    plan = []
    for i, (row, task) in enumerate(zip(rows, tasks)):
        target = pick_target_language(row["id"], row["language"], settings.seed) if task == "code_translation" else None
        plan.append({"example_id": example_id(row["id"], task, PROMPT_VERSION), "source_id": row["id"],
                     "task_name": task, "language": row["language"], "target_language": target, "code": row["code"],
                     "round": i * settings.rounds // max(1, len(rows))})
    return plan


def _generation_request(item: dict, store: ExampleStore, settings: LoopSettings) -> ChatRequest:
    good, bad = store.sample(item["task_name"], settings.few_shot_good, settings.few_shot_bad, seed=settings.seed,
                             key=f"gen:{item['round']}:{item['task_name']}")
    with_tests = wants_tests(item["task_name"], item["language"], item["target_language"], settings.ask_for_tests)
    messages = generator_messages(item["task_name"], item["code"], item["language"], item["target_language"],
                                  good=good, bad=bad, ask_for_tests=settings.ask_for_tests,
                                  max_code_chars=settings.max_code_chars)
    response_format = {"type": "json_object", "schema": output_schema(item["task_name"], with_tests)} if settings.json_mode else None
    return ChatRequest(key=item["example_id"], messages=messages, temperature=settings.temperature,
                       max_tokens=settings.generator_max_tokens, seed=settings.seed, response_format=response_format)


def _generated_row(item: dict, result) -> dict:
    row = {k: item[k] for k in ("example_id", "source_id", "task_name", "language", "target_language", "round")}
    row |= {"instruction": None, "information": None, "solution": None, "tests": None, "generator_model": result.model,
            "prompt_version": PROMPT_VERSION, "raw_output": result.text, "error": None}
    if result.error is not None:
        return row | {"status": "failed", "error": f"generator: {result.error}"}
    try:
        fields = parse_generation(result.text, item["task_name"], item["code"])
    except Rejected as why:
        return row | {"status": "unparseable", "error": str(why)}
    del fields["task_name"]  # the assigned task is kept; models name tasks loosely
    return row | fields | {"status": "ok"}


def _verdict(row: dict, verdict: str, rule_verdicts: dict, reasons: str, judge_model: str | None,
             sandbox_status: str | None = None) -> dict:
    return row | {"verdict": verdict, "rule_verdicts": json.dumps(rule_verdicts, ensure_ascii=False),
                  "reasons": reasons, "judge_model": judge_model, "sandbox_status": sandbox_status}


def run_round(items: list[dict], store: ExampleStore, generator, judge, settings: LoopSettings,
              run_python) -> tuple[list[dict], list[dict]]:
    """Generate, check and judge one round; returns (generated rows, judged rows), grouped by task.

    Few-shot examples are drawn once per (round, task) and requests go out grouped by task, so consecutive
    prompts share their long prefix and a llama.cpp server reuses its KV cache for it (3-5x less prompt work
    on a CPU than drawing examples per request as the released script did)."""
    rules = J.rules_from_dicts(settings.rules)
    items = sorted(items, key=lambda i: (i["task_name"], i["language"], i["target_language"] or ""))
    results = generator.run([_generation_request(item, store, settings) for item in items])
    generated = [_generated_row(item, result) for item, result in zip(items, results)]

    judged: dict[str, dict] = {}
    to_judge: list[tuple[dict, dict, dict, str | None]] = []
    for item, row in zip(items, generated):
        if row["status"] == "failed":
            judged[row["example_id"]] = _verdict(row, "failed", {}, "", None)
        elif row["status"] == "unparseable":
            judged[row["example_id"]] = _verdict(row, "rejected", {"parse": {"answer": "no", "reason": row["error"]}},
                                                 row["error"], None)
        else:
            static, sandbox_status = J.static_checks(row, run_python, timeout_s=settings.sandbox_timeout_s,
                                                     require_tests_pass=settings.require_tests_pass)
            failed = J.failed_rules(static)
            if failed:  # no judge call for what a parser or a test run already rejects
                reasons = "; ".join(static[r]["reason"] for r in failed)
                judged[row["example_id"]] = _verdict(row, "rejected", static, reasons, None, sandbox_status)
            else:
                to_judge.append((item, row, static, sandbox_status))

    requests = []
    for item, row, _, _ in to_judge:
        good, bad = store.sample(row["task_name"], settings.few_shot_good, settings.few_shot_bad, seed=settings.seed,
                                 key=f"judge:{row['round']}:{row['task_name']}")
        requests.append(ChatRequest(
            key=row["example_id"], messages=J.judge_messages(row | {"code": item["code"]}, rules, good=good, bad=bad,
                                                              show_format=not settings.json_mode),
            temperature=0.0, max_tokens=settings.judge_max_tokens, seed=settings.seed,
            response_format={"type": "json_object", "schema": J.verdict_schema(J.applicable(rules, row["task_name"]))}
            if settings.json_mode else None))
    for (item, row, static, sandbox_status), result in zip(to_judge, judge.run(requests)):
        outcome = J.judge_outcome(result, rules, row["task_name"], static)
        error = outcome.pop("error")
        judged[row["example_id"]] = row | ({"error": error} if error else {}) | outcome | {
            "sandbox_status": sandbox_status}

    out = [judged[row["example_id"]] for row in generated]
    for item, row in zip(items, out):
        if row["verdict"] != "failed" and row["instruction"] is not None:
            store.add(row | {"code": item["code"], "accepted": row["verdict"] == "accepted",
                             "reasons": row["reasons"] or "All rules met."})
    return generated, out


def run_generator_discriminator(sources: pl.DataFrame, generator, judge, settings: LoopSettings, run_python, *,
                                store: ExampleStore | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(generated_instructions, judged_instructions) for every source; see the module docstring."""
    store = store if store is not None else ExampleStore()
    plan = plan_examples(sources, settings)
    generated, judged = [], []
    for r in range(settings.rounds):
        items = [item for item in plan if item["round"] == r]
        if not items:
            continue
        g, j = run_round(items, store, generator, judge, settings, run_python)
        generated += g
        judged += j
        counts = {v: sum(row["verdict"] == v for row in j) for v in ("accepted", "rejected", "failed")}
        log.info(f"round {r}: {len(items)} examples, {counts}; store has {len(store.good)} good, {len(store.bad)} bad")
    generated_df = pl.DataFrame(generated, schema=GENERATED_SCHEMA)
    judged_df = pl.DataFrame(judged, schema=JUDGED_SCHEMA)
    return generated_df, judged_df
