"""Code Evol-Instruct (WizardCoder, arXiv 2306.08568): each round rewrites every instruction with one of five
code heuristics, drawn at random per instruction and round from a seeded RNG; failed evolutions are eliminated
with a named rule and reason; the survivors are answered by the generator and evolved again next round.

The evolution prompt is WizardCoder's unified template (Section 3.1). The elimination rules follow WizardLM
(arXiv 2304.12244, Section 3.3): no information gain over the parent, the rewrite copies the prompt's own words,
it is not a question (an answer, a refusal, code only), it is too short, or the answer is a short apology.
Small local models wrap the rewrite in "Here is a revised version: **Question:** ... **Solution:** ...", so
the question is cut out of such a layout first (`extract_question`); the raw output is kept for audit.
"""

from __future__ import annotations

import difflib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, Field

from wavecoder_assets.hashing import hex_id
from wavecoder_assets.llm import ChatRequest

PROMPT_VERSION = "wizardcoder-evol-v1"

# WizardCoder's template and its five code heuristics, verbatim.
EVOL_TEMPLATE = """Please increase the difficulty of the given programming test question a bit.

You can increase the difficulty using, but not limited to, the following methods:
{method}

{question}"""

HEURISTICS = {
    "add_constraints": "Add new constraints and requirements to the original problem, adding approximately 10 "
                       "additional words.",
    "specific_requirement": "Replace a commonly used requirement in the programming task with a less common and "
                            "more specific one.",
    "more_reasoning": "If the original problem can be solved with only a few logical steps, please add more "
                      "reasoning steps.",
    "erroneous_code": "Provide a piece of erroneous code as a reference to increase misdirection.",
    "complexity": "Propose higher time or space complexity requirements, but please refrain from doing so "
                  "frequently.",
}

# WizardLM's equality check (Appendix), asked of the judge when enabled.
EQUALITY_TEMPLATE = """Here are two Instructions to ChatGPT AI, do you think they are equal to each other, which meet the following requirements:
1. They have same constraints and requirments.
2. They have same depth and breadth of the inquiry.
The First Prompt: {first}
The Second Prompt: {second}
Your Judgement (Just answer: Equal or Not Equal. No need to explain the reason.):"""

EVOL_SCHEMA = {
    "example_id": pl.String, "seed_id": pl.String, "parent_id": pl.String, "source_id": pl.String,
    "round": pl.Int64, "heuristic": pl.String, "task_name": pl.String, "language": pl.String,
    "instruction": pl.String, "information": pl.String, "solution": pl.String,
    "status": pl.String, "rule": pl.String, "reason": pl.String,  # status: ok | eliminated | failed
    "generator_model": pl.String, "prompt_version": pl.String, "raw_output": pl.String,
}


def draw_heuristic(seed: int, round_: int, seed_id: str) -> str:
    """The heuristic for one instruction lineage in one round: uniform over the five (as WizardCoder), from an
    RNG keyed by (seed, round, seed id), so a draw depends on neither row order nor how many seeds there are."""
    return random.Random(f"{seed}/{round_}/{seed_id}").choice(sorted(HEURISTICS))


def question_text(instruction: str, information: str | None) -> str:
    """Instruction and input as one question (WizardCoder concatenates Code Alpaca's instruction and input)."""
    return f"{instruction.strip()}\n\n{information.strip()}" if information and information.strip() else instruction.strip()


def evolve_messages(question: str, heuristic: str) -> list[dict]:
    return [{"role": "user", "content": EVOL_TEMPLATE.format(method=HEURISTICS[heuristic], question=question)}]


def equality_messages(parent: str, evolved: str) -> list[dict]:
    return [{"role": "user", "content": EQUALITY_TEMPLATE.format(first=parent, second=evolved)}]


def parse_equality(text: str) -> bool | None:
    """True for "Equal", False for "Not Equal", None when the answer says neither."""
    lowered = text.lower()
    if re.search(r"\bnot\s+equal\b", lowered):
        return False
    return True if re.search(r"\bequal\b", lowered) else None


# ---------------------------------------------------------------- cutting the question out of the output

_HEADER = re.compile(r"^\s*(?:#+\s*|\*\*|__)?\s*\[?\s*(?P<name>[A-Za-z' ]{3,40}?)\s*\]?\s*:?\s*(?:\*\*|__|#+)?\s*:?\s*$")
_QUESTION_HEADER = re.compile(r"^(?:(?:the\s+)?(?:rewritten|revised|new|updated|modified|harder|evolved)\s+)?"
                              r"(?:programming\s+)?(?:test\s+)?(?:question|problem|task|prompt|test)"
                              r"(?:\s+(?:statement|description))?$", re.IGNORECASE)
# Headers of answer parts; "Erroneous Code", "Example" or "Function Implementation" belong to a question.
_ANSWER_HEADER = re.compile(r"^(?:the\s+|my\s+|your\s+)?(?:solution|answer|explanation|corrected|fixed|correct\s+code|"
                            r"implementation|approach|reasoning|additional reasoning|example usage|usage)\b", re.IGNORECASE)


def _header_name(line: str) -> str | None:
    """The name of a markdown-ish header line ("**Question:**", "### Solution", "[Problem]"), else None."""
    if not re.match(r"^\s*(#|\*\*|__|\[)|.*:\s*$", line):
        return None
    match = _HEADER.match(line)
    return match.group("name").strip() if match else None


def extract_question(text: str) -> str:
    """The rewritten question: after a "Question"/"Rewritten Problem" header when there is one, and before the
    first header of an answer part (Solution, Explanation, Corrected Code, ...). Otherwise the text as is."""
    lines = text.strip().splitlines()
    start = 0
    for i, line in enumerate(lines):
        name = _header_name(line)
        if name and _QUESTION_HEADER.match(name):
            start = i + 1
            break
    end = len(lines)
    for i in range(start, len(lines)):
        name = _header_name(lines[i])
        if name and _ANSWER_HEADER.match(name):
            end = i
            break
    return "\n".join(lines[start:end]).strip().strip('"').strip()


# ---------------------------------------------------------------- elimination rules

@dataclass(frozen=True)
class Elimination:
    rule: str
    reason: str


# Words of the evolution prompt that a rewrite should never contain (WizardLM: "given prompt", "#Rewritten Prompt#").
COPIED_PHRASES = (
    "given prompt", "rewritten prompt", "#rewritten", "#given", "rewritten test",
    "given programming test question", "increase the difficulty", "following methods", "to increase misdirection",
    "refrain from doing so frequently", "adding approximately 10 additional words",
    "a less common and more specific one", "original problem",
)
_ANSWER_START = re.compile(r"^\s*(sure|certainly|of course|here'?s?\s+(is\s+)?(the|a|an|my)\s+(solution|code|"
                           r"implementation|answer|function|program)|the solution|to solve)\b", re.IGNORECASE)
_REFUSAL = re.compile(r"\b(i'?m sorry|i am sorry|i cannot|i can'?t|as an ai)\b", re.IGNORECASE)
# A question mark, an imperative verb opening a sentence, or wording that sets a task.
_IMPERATIVE = (r"write|implement|create|design|develop|build|modify|fix|find|explain|summari[sz]e|translate|convert|"
               r"return|compute|calculate|determine|debug|refactor|optimi[sz]e|construct|define|generate|count|sort|"
               r"check|parse|rewrite|extend|add|make|handle|identify|describe|complete|solve|ensure|update|improve")
_TASK_CUE = re.compile(rf"\?|(?:^|[.!:;\n]\s*|\bplease\s+|\bthen\s+|\band\s+)(?:{_IMPERATIVE})\b|\b(should|must|needs? to|"
                       r"is required|are required|your task|you are (?:given|asked)|given an?)\b", re.IGNORECASE)
_FENCE = re.compile(r"```.*?(```|\Z)", re.DOTALL)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_]+", text.lower())


def too_short(evolved: str, parent: str, min_words: int) -> Elimination | None:
    n = len(_words(evolved))
    if n < min_words:
        return Elimination("too_short", f"{n} words; at least {min_words} required")
    return None


def copied_prompt(evolved: str, parent: str, min_words: int) -> Elimination | None:
    lowered = evolved.lower()
    # A phrase the parent already had (a seed about "the original problem") is not copied from the template.
    hits = [p for p in COPIED_PHRASES if p in lowered and p not in parent.lower()]
    if hits:
        return Elimination("copied_prompt", f"copies the evolution prompt's words: {', '.join(hits)}")
    return None


def not_a_question(evolved: str, parent: str, min_words: int) -> Elimination | None:
    prose = _FENCE.sub(" ", evolved)
    if _REFUSAL.search(prose):
        return Elimination("not_a_question", "a refusal, not a question")
    if _ANSWER_START.search(prose):
        return Elimination("not_a_question", "starts like an answer, not a question")
    if len(_words(prose)) < 3:
        return Elimination("not_a_question", "code only, no question around it")
    if not _TASK_CUE.search(prose):
        return Elimination("not_a_question", "neither asks a question nor states a task")
    return None


def no_new_information(evolved: str, parent: str, min_words: int, max_similarity: float = 0.9) -> Elimination | None:
    new, old = _words(evolved), _words(parent)
    if not set(new) - set(old):
        return Elimination("no_new_information", "adds no word that the previous instruction lacks")
    similarity = difflib.SequenceMatcher(None, old, new, autojunk=False).ratio()
    if similarity >= max_similarity:
        return Elimination("no_new_information", f"near copy of the previous instruction (word similarity {similarity:.2f})")
    return None


# In order: the first rule that fires names the elimination.
RULES = {"too_short": too_short, "copied_prompt": copied_prompt, "not_a_question": not_a_question,
         "no_new_information": no_new_information}


def eliminate(evolved: str, parent: str, *, min_words: int = 8) -> Elimination | None:
    for rule in RULES.values():
        found = rule(evolved, parent, min_words)
        if found:
            return found
    return None


def answer_refused(answer: str) -> Elimination | None:
    """WizardLM's second rule: the evolved instruction made the model give up (a short answer with "sorry")."""
    if "sorry" in answer.lower() and len(answer.split()) < 80:
        return Elimination("answer_refused", "the answer is a short apology (< 80 words containing 'sorry')")
    return None


# ---------------------------------------------------------------- seeds

def _seed_frame(rows: list[dict]) -> pl.DataFrame:
    base = {"parent_id": None, "round": 0, "heuristic": None, "status": "ok", "rule": None, "reason": None,
            "raw_output": None}
    return pl.DataFrame([base | r | {"seed_id": r["example_id"]} for r in rows], schema=EVOL_SCHEMA)


def _pick(frame: pl.DataFrame, max_seeds: int | None, seed: int) -> pl.DataFrame:
    frame = frame.sort("example_id")
    if max_seeds is not None and frame.height > max_seeds:
        frame = frame.sample(max_seeds, seed=seed).sort("example_id")
    return frame


def seeds_from_code_ocean(code_ocean: pl.DataFrame, *, max_seeds: int | None, seed: int) -> pl.DataFrame:
    """Round-0 rows from CodeOcean: its instructions with their information and solutions."""
    picked = _pick(code_ocean, max_seeds, seed)
    columns = ("example_id", "source_id", "task_name", "language", "instruction", "information", "solution",
               "generator_model", "prompt_version")
    rows = [{k: r[k] for k in columns} for r in picked.iter_rows(named=True)]
    return _seed_frame(rows)


def seeds_from_alpaca(path: str | Path, *, max_seeds: int | None, seed: int) -> pl.DataFrame:
    """Round-0 rows from a Code Alpaca JSON file: a list of {"instruction", "input", "output"}."""
    records = json.loads(Path(path).read_text())
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of {{instruction, input, output}} objects")
    rows = []
    for i, record in enumerate(records):
        missing = {"instruction", "output"} - (set(record) if isinstance(record, dict) else set())
        if missing or not str(record["instruction"]).strip():
            raise ValueError(f"{path}: record {i} lacks {sorted(missing) or ['a non-empty instruction']}")
        instruction, information = str(record["instruction"]), str(record.get("input") or "")
        rows.append({"example_id": hex_id("alpaca", i, instruction, information), "source_id": f"{Path(path).name}:{i}",
                     "task_name": None, "language": None, "instruction": instruction, "information": information,
                     "solution": str(record["output"]), "generator_model": None, "prompt_version": None})
    if not rows:
        raise ValueError(f"{path}: no records")
    frame = pl.DataFrame(rows, schema={k: EVOL_SCHEMA[k] for k in rows[0]})
    return _seed_frame(_pick(frame, max_seeds, seed).to_dicts())


def draw_seeds(code_ocean: pl.DataFrame, seed_file: str | Path | None, *, max_seeds: int | None,
               seed: int) -> pl.DataFrame:
    """Round-0 rows from the Code Alpaca seed file when one is given, else from CodeOcean."""
    if seed_file:
        return seeds_from_alpaca(seed_file, max_seeds=max_seeds, seed=seed)
    return seeds_from_code_ocean(code_ocean, max_seeds=max_seeds, seed=seed)


def code_ocean_verdicts(code_ocean: pl.DataFrame) -> pl.DataFrame:
    """The verdict columns of CodeOcean's rows by example_id: the generator-discriminator accepted each one, so
    seeds drawn from them need no judging again."""
    return code_ocean.select(
        "example_id", pl.lit("accepted").alias("verdict"), pl.lit("{}").alias("rule_verdicts"),
        pl.lit("CodeOcean row: accepted by the generator-discriminator").alias("reasons"),
        pl.col("judge_model").cast(pl.String))


# ---------------------------------------------------------------- the rounds

class EvolSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    rounds: int = Field(default=1, ge=0, description="evolution rounds (WizardCoder: 3)")
    seed: int = Field(default=0, description="draws the seeds and each instruction's heuristic per round")
    min_words: int = Field(default=8, ge=0, description="rule too_short: an evolved instruction needs this many words")
    judge_equality: bool = Field(
        default=False, description="rule no_new_information also asks the judge WizardLM's Equal / Not Equal question")
    evolve_max_tokens: int = Field(default=256, ge=1)
    answer_max_tokens: int = Field(default=384, ge=1)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)


def evolve(seeds: pl.DataFrame, generator, judge, settings: EvolSettings, *, verdicts: pl.DataFrame | None = None,
           logger=None) -> pl.DataFrame:
    """The seeds (round 0) and every evolution of every round, each row with its status: ok, eliminated (rule
    and reason) or failed (the LLM error). A lineage whose evolution is eliminated evolves again from its last
    surviving version in the next round. `judge` is only used with settings.judge_equality. `verdicts` (by
    example_id, e.g. code_ocean_verdicts) are joined on: the seeds' own; evolutions have none until judged."""
    rows = seeds.to_dicts()
    current = {r["seed_id"]: r for r in rows}  # lineage -> last surviving row
    for round_ in range(1, settings.rounds + 1):
        lineages = list(current)
        heuristics = {s: draw_heuristic(settings.seed, round_, s) for s in lineages}
        parents = {s: question_text(current[s]["instruction"], current[s]["information"]) for s in lineages}
        results = generator.run([
            ChatRequest(key=s, messages=evolve_messages(parents[s], heuristics[s]), temperature=settings.temperature,
                        max_tokens=settings.evolve_max_tokens, seed=settings.seed) for s in lineages], logger=logger)
        new: dict[str, dict] = {}
        for s, result in zip(lineages, results):
            parent = current[s]
            row = {**parent, "example_id": hex_id(parent["example_id"], round_, PROMPT_VERSION), "parent_id":
                   parent["example_id"], "round": round_, "heuristic": heuristics[s], "information": "",
                   "solution": None, "generator_model": result.model, "prompt_version": PROMPT_VERSION,
                   "raw_output": result.text, "status": "ok", "rule": None, "reason": None}
            if result.error is not None:
                new[s] = row | {"instruction": None, "status": "failed", "reason": f"evolve: {result.error}"}
                continue
            row["instruction"] = extract_question(result.text)
            found = eliminate(row["instruction"], parents[s], min_words=settings.min_words)
            new[s] = row | ({"status": "eliminated", "rule": found.rule, "reason": found.reason} if found else {})

        alive = [s for s in lineages if new[s]["status"] == "ok"]
        if settings.judge_equality and alive:
            equalities = judge.run([ChatRequest(key=s, messages=equality_messages(parents[s], new[s]["instruction"]),
                                                max_tokens=8, seed=settings.seed) for s in alive], logger=logger)
            for s, equality in zip(alive, equalities):
                if equality.error is not None:
                    new[s] |= {"status": "failed", "reason": f"equality judge: {equality.error}"}
                elif parse_equality(equality.text):
                    new[s] |= {"status": "eliminated", "rule": "no_new_information",
                               "reason": f"the judge ({equality.model}) found it Equal to the previous instruction"}
            alive = [s for s in alive if new[s]["status"] == "ok"]

        answers = generator.run([
            ChatRequest(key=s, messages=[{"role": "user", "content": new[s]["instruction"]}],
                        temperature=settings.temperature, max_tokens=settings.answer_max_tokens, seed=settings.seed)
            for s in alive], logger=logger)
        for s, answer in zip(alive, answers):
            if answer.error is not None:
                new[s] |= {"status": "failed", "reason": f"answer: {answer.error}"}
            elif found := answer_refused(answer.text):
                new[s] |= {"status": "eliminated", "rule": found.rule, "reason": found.reason, "solution": answer.text}
            else:
                new[s]["solution"] = answer.text.strip()
                current[s] = new[s]
        rows += [new[s] for s in lineages]
    out = pl.DataFrame(rows, schema=EVOL_SCHEMA)
    return out if verdicts is None else out.join(verdicts, on="example_id", how="left", maintain_order="left")
