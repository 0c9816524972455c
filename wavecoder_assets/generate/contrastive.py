"""Contrastive verification of summaries: does the summary single out its own code among similar functions?

An open "does this summary describe this code?" gets a small judge's "yes" for nearly anything that sounds right.
Multiple choice is a task small models do far better: the judge sees the summary and K functions, the summarized one
and K-1 hard negatives (its nearest neighbours in the embedding space, in the same language; other rows of the batch
where there are too few), in a seeded order, and answers with the number of the function the summary describes (a
JSON schema that allows only those numbers). Every function is renamed `f` and its parameters x1, x2, ..., and the
summary's mentions of the function's name and parameters alike: a summary that repeats the code's names picked its
code out by them, whatever it said the code does (22 of the semantic set's 24 summaries, right and wrong, open with
"It takes <the code's parameters> and ...").

The answer is read as probabilities, not as one pick: the log-probabilities of the numbers at the answer token. The
1.5B judge leans to the last position (with no summary at all it gives position 4 of 4 about 0.6). By default it is
asked twice about two functions, the row's own and its nearest neighbour, in both orders (each order a rotation of a
seeded shuffle): each candidate sits at each position once, so the lean weighs on both alike and the mean of the own
code's probability over the asks needs no correction, and a row's verdict does not hang on the other rows of its
batch. The row passes when that mean is at least `contrastive_min_lift` times chance (1/K): a summary of other code
points elsewhere, and a vague one spreads its probability over both. With fewer asks than candidates, each position's
probability is divided by that position's mean over the batch's other asks of the same task (batch calibration, Zhou
et al. 2023: the summarized function sits at a seeded, uniform position, so the mean is the lean); with too few other
asks to measure the lean (MIN_LEAN_ASKS), the row passes when its own code is the likeliest, as a pick would. An
endpoint that sends no log-probabilities gives the pick alone (probability 1).

The same question checks code rows no test or run decided (no toolchain, tests that could not run): a generation's
instruction must single out its solution among the source's neighbours (instruction_identifies_code), and a
translation must single out its source among the source's neighbours (translation_identifies_source): a solution
to another problem, or a translation of other code renamed to the asked name, points elsewhere.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass

import numpy as np
import polars as pl

from wavecoder_assets.generate.tasks import strip_fence
from wavecoder_assets.hashing import stable_hash
from wavecoder_assets.languages import LANGUAGE_NAMES, parameter_names
from wavecoder_assets.llm import ChatRequest, ChatResult

RULE = "summary_identifies_code"
# task -> (rule id, rule text). Summaries always; generations and translations when no test decided them.
_PASSES = "position-calibrated probability of at least contrastive_min_lift times chance"
RULES = {
    "code_summarization": (RULE, "Shown the summary (names masked) and the summarized function among its nearest "
                                 "neighbours, all renamed f, in a seeded order, the judge gives the summarized one a "
                                 f"{_PASSES}."),
    "code_generation": ("instruction_identifies_code", "Where no test or run decided it: shown the instruction "
                                                       "(names masked) and the solution among the source's nearest "
                                                       "neighbours, all renamed f, the judge gives the solution a "
                                                       f"{_PASSES}."),
    "code_translation": ("translation_identifies_source", "Where no test or run decided it: shown the translation "
                                                          "and its source among the source's nearest neighbours, all "
                                                          f"renamed f, the judge gives the source a {_PASSES}."),
}
RULE_TEXTS = dict(RULES.values())
MASK = "f"
TOP_LOGPROBS = 20  # alternatives asked per answer token (OpenAI's maximum); the K numbers are among them
SPARE_NEIGHBOURS = 4  # neighbours fetched beyond K-1: candidates_for skips copies and overloads of the function
MIN_LEAN_ASKS = 3  # other asks of the same task to estimate the judge's lean from (6 left the tiny paper gate uncalibrated)

# Per task: what is matched, in the words of the question (the summaries' wording is the one measured first).
SYSTEMS = {
    "code_summarization": "You match a summary of code to the function it describes. Names are hidden: every "
                          "function is called f and its parameters x1, x2, ... Compare what each function does with "
                          "what the summary says, then pick one.",
    "code_generation": "You match a coding instruction to the function that does what it asks. Names are hidden: "
                       "every function is called f and its parameters x1, x2, ... Compare what each function does "
                       "with what the instruction asks, then pick one.",
    "code_translation": "You match a translated function to the function it was translated from. Names are hidden: "
                        "every function is called f and its parameters x1, x2, ... Compare what each function does "
                        "with what the translation does, then pick one.",
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
PARAMETER_LANGUAGES = ("python", "javascript", "java")  # where tree-sitter reads a function's parameters


def defined_name(code: str, language: str) -> str | None:
    """The name the code's (first) function is declared with."""
    for match in _DEFINED_NAME[language].finditer(code or ""):
        name = next((g for g in match.groups() if g), None)
        if name and name not in _NOT_NAMES:
            return name
    return None


def renamed(text: str, names: dict[str, str]) -> str:
    """`text` with each identifier in `names` (as a whole word) replaced by its new name, all at once; not after a
    dot, where it is another object's member (`Math.scalb` inside `scalb`: masked, it hid what the code calls)."""
    if not names:
        return text
    pattern = "|".join(re.escape(old) for old in sorted(names, key=len, reverse=True))
    return re.sub(rf"(?<![\w$.])(?:{pattern})(?![\w$])", lambda m: names[m.group(0)], text)


def masks(code: str, language: str) -> dict[str, str]:
    """The function's name -> MASK and its parameters -> x1, x2, ... (where tree-sitter reads them)."""
    name = defined_name(code, language)
    if name is None:
        return {}
    parameters = parameter_names(code, language, name) if language in PARAMETER_LANGUAGES else None
    return {name: MASK} | {p: f"x{n}" for n, p in enumerate(parameters or [], 1) if p != name}


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
    from `pool` (other rows of the batch in the same language), never code that reads the same once names are
    masked (nor the source of a generation, which answers its instruction too), nor a function of the own code's
    name: an overload or a copy is the same function to a summary (`negateExact(long)` beside `negateExact(int)`
    got 0.51 whatever it said)."""
    language = row["language"]
    own = Candidate(str(row.get("source_id") or row.get("id") or key), own_code(row))
    chosen, seen = [own], {_as_judged(own.code, language), _as_judged(row["code"], language)}
    own_name = defined_name(strip_fence(own.code or ""), language)
    drawn = list(pool)
    random.Random(stable_hash(seed, "contrastive-pool", key)).shuffle(drawn)
    for other in [Candidate(str(n["id"]), n["code"]) for n in row.get("neighbours") or []] + drawn:
        if len(chosen) == k:
            break
        shown = _as_judged(other.code, language)
        if shown not in seen and (own_name is None or defined_name(other.code, language) != own_name):
            chosen.append(other)
            seen.add(shown)
    return chosen


def _as_judged(code: str, language: str) -> str:
    """The code as the judge sees it (names masked), whitespace collapsed: two functions that differ only in their
    names read the same (`copyValueOf` and `valueOf`, both `new String(x1, x2, x3)`)."""
    return re.sub(r"\s+", " ", _as_f(code, language)).strip()


def orders(n: int, asks: int, seed: int, key: str) -> list[list[int]]:
    """One order of the n candidates per ask: a seeded shuffle (by the row's key), then its rotations, so that
    with as many asks as candidates each candidate sits at each position once and the judge's lean cancels."""
    first = list(range(n))
    random.Random(stable_hash(seed, "contrastive-order", key, 0, 0)).shuffle(first)  # (0, 0): the first ask's order as before
    return [first[ask % n:] + first[:ask % n] for ask in range(asks)]


def balanced(orders: list[list[int]]) -> bool:
    """Whether every candidate sits at every position equally often over the asks: the judge's lean to positions
    then weighs on every candidate alike, and the mean over the asks needs no calibration."""
    n = len(orders[0]) if orders else 0
    return n > 0 and len(orders) % n == 0 and all(
        sorted(order.index(c) for order in orders) == sorted(list(range(n)) * (len(orders) // n)) for c in range(n))


def _fence(language: str) -> str:
    return "js" if language == "javascript" else language


def _text_and_question(row: dict) -> tuple[str, str]:
    """What the judge matches (names masked) and the question, per task."""
    language, task = row["language"], row["task_name"]
    if task == "code_translation":
        target = row["target_language"]
        return (f"A {LANGUAGE_NAMES[target]} function:\n```{_fence(target)}\n{_as_f(row['solution'], target)}\n```",
                f"Which {LANGUAGE_NAMES[language]} function is it a translation of?")
    if task == "code_generation":
        names = masks(strip_fence(row["code"] or ""), language) | masks(strip_fence(row["solution"] or ""), language)
        return (f"Instruction:\n{renamed(row['instruction'] or '', names).strip()}",
                "Which function does the instruction ask for?")
    summary = renamed(row["solution"] or "", masks(strip_fence(row["code"] or ""), language))
    return (f"Summary of a {LANGUAGE_NAMES[language]} function:\n{summary.strip()}",
            "Which function does the summary describe?")


def request(row: dict, candidates: list[Candidate], order: list[int], *, key: str, seed: int) -> ChatRequest:
    """The multiple-choice question: the row's masked text (RULES: a summary, an instruction or a translation)
    and the candidates in `order`, numbered from 1; the answer is the number alone, with its log-probabilities."""
    language = row["language"]
    shown = "\n\n".join(f"Function {position}:\n```{_fence(language)}\n{_as_f(candidates[i].code, language)}\n```"
                        for position, i in enumerate(order, 1))
    text, question = _text_and_question(row)
    user = f"{text}\n\n{shown}\n\n{question} Answer in JSON with the function's number (1 to {len(order)})."
    schema = {"type": "object", "properties": {"answer": {"type": "integer", "enum": list(range(1, len(order) + 1))}},
              "required": ["answer"]}
    return ChatRequest(key=key, messages=[{"role": "system", "content": SYSTEMS[row["task_name"]]},
                                          {"role": "user", "content": user}],
                       temperature=0.0, max_tokens=16, seed=seed, top_logprobs=TOP_LOGPROBS,
                       response_format={"type": "json_object", "schema": schema})


def _as_f(code: str, language: str) -> str:
    code = strip_fence((code or "").strip())
    return renamed(code, masks(code, language))


def position_probabilities(result: ChatResult, n: int) -> list[float]:
    """The probability of each of the n positions from the judge's answer: the numbers' log-probabilities at the
    answer token, renormalized over 1..n; the pick alone (probability 1) where the endpoint sent none. ValueError
    when the answer is not a pick."""
    try:
        pick = int(json.loads(result.text, strict=False)["answer"])
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"not a pick: {error}") from None
    if not 1 <= pick <= n:
        raise ValueError(f"pick {pick} is not one of 1..{n}")
    answer = next((top for token, top in reversed(result.token_logprobs or ()) if token.strip() == str(pick)), None)
    numbers = {str(p): [lp for token, lp in (answer or {}).items() if token.strip() == str(p)] for p in range(1, n + 1)}
    if not numbers[str(pick)]:
        return [float(p == pick) for p in range(1, n + 1)]
    weights = [math.exp(max(numbers[str(p)])) if numbers[str(p)] else 0.0 for p in range(1, n + 1)]
    return [w / sum(weights) for w in weights]


def position_lean(probabilities: list[list[float]]) -> list[float] | None:
    """The judge's lean to each position: the mean of other asks' position probabilities (the asked function's
    position is seeded and uniform, so what remains is the lean); None from fewer than MIN_LEAN_ASKS asks, whose mean
    is more their own answers than a lean."""
    if len(probabilities) < MIN_LEAN_ASKS:
        return None
    return [sum(column) / len(probabilities) for column in zip(*probabilities)]


def calibrated(probabilities: list[float], lean: list[float]) -> list[float]:
    """Position probabilities divided by the judge's lean to each position, renormalized."""
    weights = [p / max(q, 1e-9) for p, q in zip(probabilities, lean)]
    return [w / sum(weights) for w in weights] if sum(weights) > 0 else probabilities


def verdict(candidates: list[Candidate], asked: list[tuple[list[int], list[float]]], lean: list[float] | None,
            min_lift: float) -> dict:
    """The rule's verdict from the asks ((order, position probabilities) each): yes when the row's own code
    (candidate 0) has, on average over the asks, at least `min_lift` times chance (1/K) of the probability, where
    the judge's lean to positions is taken out: by the asks themselves when they are balanced (each candidate at
    each position equally often), else by calibrating with `lean`; with neither, yes when its own code is the
    likeliest, as a pick would be. The reason records the candidates' ids, each order and the probabilities."""
    ids = [c.id for c in candidates]
    cancels = balanced([order for order, _ in asked])
    if lean is not None and not cancels:
        asked = [(order, calibrated(p, lean)) for order, p in asked]
    mean = [sum(p[order.index(c)] for order, p in asked) / len(asked) for c in range(len(ids))]
    if cancels or lean is not None:
        needed = min(1.0, min_lift / len(ids))
        passed = mean[0] >= needed
        how = (f"each candidate asked at each position, so the judge's lean to positions cancels; needed {needed:.2f}"
               if cancels else f"calibrated for the judge's lean to positions; needed {needed:.2f}")
    else:
        needed = max(mean[1:], default=0.0)
        passed = mean[0] > needed
        how = "too few asks to measure the judge's lean to positions: it must be the likeliest"
    asks = "; ".join(f"order {[ids[i] for i in order]}: " + ", ".join(f"{p[k]:.2f}" for k in range(len(order)))
                     for order, p in asked)
    head = "singled out its own code" if passed else "did not single out its own code"
    return {"answer": "yes" if passed else "no",
            "reason": f"{head}: probability {mean[0]:.3f} ({how}) among {len(ids)} ({asks})"[:600]}


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
