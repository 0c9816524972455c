"""Contrastive verification of summaries: does the summary single out its own code among similar functions?

An open "does this summary describe this code?" gets a small judge's "yes" for nearly anything that sounds right.
Multiple choice is a task small models do far better: the judge sees the summary, with the function's own name
masked, and K functions, the summarized one and K-1 hard negatives (its nearest neighbours in the embedding space,
in the same language; other rows of the batch where there are too few), every one renamed `f`, in a seeded order,
and answers with the number of the function the summary describes (a JSON schema that allows only those
numbers). The row passes only when the judge picks its own code, in every ask (each ask another order). A summary
of other code points at that code; a vague summary fits every candidate, and the pick is a guess. The embedded 1.5B
judge leans to the last position (4 in 24 of 46 asks with K=4), which a seeded order spreads over rows but does
not remove. Offered a 0 for "none of them", it never answered 0 in 46 asks, so there is none.

The same question checks code rows no test decided (no toolchain, tests that could not run): a generation's
instruction must single out its solution among the source's neighbours (instruction_identifies_code), and a
translation must single out its source among the source's neighbours (translation_identifies_source): a solution
to another problem, or a translation of other code renamed to the asked name, points elsewhere.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from wavecoder_assets.generate.tasks import strip_fence, without_lone_surrogates
from wavecoder_assets.hashing import stable_hash
from wavecoder_assets.languages import LANGUAGE_NAMES
from wavecoder_assets.llm import ChatRequest

RULE = "summary_identifies_code"
# task -> (rule id, rule text). Summaries always; generations and translations when no test decided them.
RULES = {
    "code_summarization": (RULE, "Shown the summary (the function's name masked) and the summarized function among "
                                 "its nearest neighbours, all renamed f, in a seeded order, the judge picks the "
                                 "summarized one (every ask)."),
    "code_generation": ("instruction_identifies_code", "Where no test decided it: shown the instruction (names "
                                                       "masked) and the solution among the source's nearest "
                                                       "neighbours, all renamed f, the judge picks the solution."),
    "code_translation": ("translation_identifies_source", "Where no test decided it: shown the translation and its "
                                                          "source among the source's nearest neighbours, all renamed "
                                                          "f, the judge picks the source."),
}
RULE_TEXTS = dict(RULES.values())
MASK = "f"
REASON_MAX_CHARS = 200

# Per task: what is matched, in the words of the question (the summaries' wording is the one measured first).
SYSTEMS = {
    "code_summarization": "You match a summary of code to the function it describes. Names are hidden: every "
                          "function is called f. Compare what each function does with what the summary says, then "
                          "pick one.",
    "code_generation": "You match a coding instruction to the function that does what it asks. Names are hidden: "
                       "every function is called f. Compare what each function does with what the instruction asks, "
                       "then pick one.",
    "code_translation": "You match a translated function to the function it was translated from. Names are hidden: "
                        "every function is called f. Compare what each function does with what the translation "
                        "does, then pick one.",
}

# Where a function's own name is declared, per language (the first match is the function's).
_DEFINED_NAME = {
    "python": re.compile(r"^\s*(?:async\s+)?def\s+(\w+)", re.MULTILINE),
    "javascript": re.compile(r"function\s*\*?\s*(\w+)|(\w+)\s*[:=]\s*(?:async\s*)?(?:function\b|\([^)]*\)\s*=>)|"
                             r"^\s*(?:async\s+|static\s+)*(\w+)\s*\([^)]*\)\s*\{", re.MULTILINE),
    "java": re.compile(r"\b(\w+)\s*\([^)]*\)\s*(?:throws\s[^{;]*)?\{"),
    "go": re.compile(r"\bfunc\s+(?:\([^)]*\)\s*)?(\w+)"),
    "php": re.compile(r"\bfunction\s+&?\s*(\w+)"),
    "ruby": re.compile(r"\bdef\s+(?:self\.)?(\w+[?!]?)"),
}
_NOT_NAMES = {"if", "for", "while", "switch", "catch", "return", "function"}


def defined_name(code: str, language: str) -> str | None:
    """The name the code's (first) function is declared with."""
    for match in _DEFINED_NAME[language].finditer(code or ""):
        name = next((g for g in match.groups() if g), None)
        if name and name not in _NOT_NAMES:
            return name
    return None


def masked(text: str, name: str | None) -> str:
    """`text` with the identifier `name` (as a whole word) replaced by MASK."""
    return re.sub(rf"(?<![\w$]){re.escape(name)}(?![\w$])", MASK, text) if name else text


@dataclass(frozen=True)
class Candidate:
    id: str
    code: str


def own_code(row: dict) -> str:
    """The function a row's text must single out: a generation's solution, else its input code (the summarized or
    translated function)."""
    return row["solution"] if row["task_name"] == "code_generation" else row["code"]


def candidates_for(row: dict, pool: list[Candidate], k: int, seed: int, key: str) -> list[Candidate]:
    """The row's own code and K-1 others: its neighbours first (row["neighbours"], nearest first), then a seeded draw
    from `pool` (other rows of the batch in the same language), never the same code twice (nor the source of a
    generation, which answers its instruction too)."""
    own = Candidate(str(row.get("source_id") or row.get("id") or key), own_code(row))
    chosen, seen = [own], {_normalized(own.code), _normalized(row["code"])}
    drawn = list(pool)
    random.Random(stable_hash(seed, "contrastive-pool", key)).shuffle(drawn)
    for other in [Candidate(str(n["id"]), n["code"]) for n in row.get("neighbours") or []] + drawn:
        if len(chosen) == k:
            break
        if _normalized(other.code) not in seen:
            chosen.append(other)
            seen.add(_normalized(other.code))
    return chosen


def _normalized(code: str) -> str:
    return re.sub(r"\s+", " ", code or "").strip()


def orders(n: int, asks: int, seed: int, key: str) -> list[list[int]]:
    """One order of the n candidates per ask, seeded by the row's key; a second ask shows another order (the
    candidates' positions bias a small model, so a right pick must survive a reshuffle)."""
    out: list[list[int]] = []
    for ask in range(asks):
        for attempt in range(10):
            order = list(range(n))
            random.Random(stable_hash(seed, "contrastive-order", key, ask, attempt)).shuffle(order)
            if order not in out or n < 2:
                break
        out.append(order)
    return out


def _fence(language: str) -> str:
    return "js" if language == "javascript" else language


def _text_and_question(row: dict) -> tuple[str, str]:
    """What the judge matches (names masked) and the question, per task."""
    language, task = row["language"], row["task_name"]
    if task == "code_translation":
        target = row["target_language"]
        return (f"A {LANGUAGE_NAMES[target]} function:\n```{_fence(target)}\n{_as_f(row['solution'], target)}\n```",
                f"Which {LANGUAGE_NAMES[language]} function is it a translation of?")
    names = {defined_name(row["code"], language), defined_name(row["solution"], language)} - {None}
    if task == "code_generation":
        instruction = row["instruction"] or ""
        for name in names:
            instruction = masked(instruction, name)
        return f"Instruction:\n{instruction.strip()}", "Which function does the instruction ask for?"
    summary = masked(row["solution"] or "", defined_name(row["code"], language))
    return (f"Summary of a {LANGUAGE_NAMES[language]} function:\n{summary.strip()}",
            "Which function does the summary describe?")


def request(row: dict, candidates: list[Candidate], order: list[int], *, key: str, seed: int,
            max_tokens: int) -> ChatRequest:
    """The multiple-choice question: the row's masked text (RULES: a summary, an instruction or a translation)
    and the candidates in `order`, numbered from 1."""
    language = row["language"]
    shown = "\n\n".join(f"Function {position}:\n```{_fence(language)}\n{_as_f(candidates[i].code, language)}\n```"
                        for position, i in enumerate(order, 1))
    text, question = _text_and_question(row)
    user = (f"{text}\n\n{shown}\n\n{question} Answer in JSON: a short reason, then the function's number (1 to "
            f"{len(order)}).")
    schema = {"type": "object", "properties": {
        "reason": {"type": "string", "maxLength": REASON_MAX_CHARS},
        "answer": {"type": "integer", "enum": list(range(1, len(order) + 1))}},
        "required": ["reason", "answer"]}
    return ChatRequest(key=key, messages=[{"role": "system", "content": SYSTEMS[row["task_name"]]},
                                          {"role": "user", "content": user}],
                       temperature=0.0, max_tokens=max_tokens, seed=seed,
                       response_format={"type": "json_object", "schema": schema})


def _as_f(code: str, language: str) -> str:
    code = strip_fence((code or "").strip())
    return masked(code, defined_name(code, language))


def parse_pick(text: str, n: int) -> tuple[int, str]:
    """(the picked position, 1-based; the reason) from the judge's JSON answer; ValueError when it is not one."""
    try:
        answer = json.loads(text, strict=False)  # a reason may hold a raw newline or tab: still the answer
        pick = int(answer["answer"])
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a pick: {error}") from None
    if not 1 <= pick <= n:
        raise ValueError(f"pick {pick} is not one of 1..{n}")
    return pick, without_lone_surrogates(str(answer.get("reason") or ""))[:REASON_MAX_CHARS]


def verdict(candidates: list[Candidate], asked: list[tuple[list[int], int, str]]) -> dict:
    """The rule's verdict from the asks ((order, picked position, reason) each): yes when every ask picked the
    row's own code (candidate 0). The reason records the candidates' ids, each order and pick."""
    ids = [c.id for c in candidates]
    picked_own = all(order[pick - 1] == 0 for order, pick, _ in asked)
    asks = "; ".join(f"order {[ids[i] for i in order]} -> {ids[order[pick - 1]]}" for order, pick, _ in asked)
    why = asked[-1][2] if asked else ""
    head = "picked its own code" if picked_own else "picked other code"
    return {"answer": "yes" if picked_own else "no",
            "reason": f"{head} among {len(ids)} ({asks}): {why}"[:600]}


def nearest_neighbours(sources: pl.DataFrame, embeddings: pl.DataFrame, corpus: pl.DataFrame, k: int
                       ) -> dict[str, list[dict]]:
    """source id -> its k nearest other corpus functions in the same language ({"id", "code"}, nearest first), by
    cosine similarity of their embeddings; sources without an embedding get none."""
    if k < 1 or embeddings.is_empty():
        return {}
    code_of = dict(zip(corpus["id"].to_list(), corpus["code"].to_list()))
    out: dict[str, list[dict]] = {}
    for (language,), group in embeddings.filter(pl.col("id").is_in(list(code_of))).group_by("language"):
        ids = group["id"].to_list()
        vectors = np.asarray(group["embedding"].to_list(), dtype=np.float32)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        row_of = {i: n for n, i in enumerate(ids)}
        for source_id in sources.filter(pl.col("language") == language)["id"].to_list():
            if source_id not in row_of:
                continue
            similarity = vectors @ vectors[row_of[source_id]]
            similarity[row_of[source_id]] = -np.inf
            nearest = np.argsort(-similarity, kind="stable")[:k]
            out[source_id] = [{"id": ids[n], "code": code_of[ids[n]]} for n in nearest]
    return out
