"""OSS-Instruct (Magicoder, arXiv 2312.02120): a seed of 1-15 consecutive lines drawn from a code sample
inspires an LLM to write a self-contained problem and its solution, in two sections.

As in Magicoder's generate_data.py: the snippet's start line and length are drawn with a seeded RNG, each
request carries its own seed (seed + index), the answer is split at "[Problem Description]" and "[Solution]",
and an answer cut off by the token limit is dropped. The endpoint's system_fingerprint is kept per row.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wavecoder_assets.hashing import hex_id
from wavecoder_assets.llm import ChatRequest

PROMPT_VERSION = "magicoder-oss-v1"

# Magicoder's system message and prompt (data/prompt.txt), verbatim.
SYSTEM = "You are exceptionally skilled at crafting high-quality programming problems and offering precise solutions."
OSS_TEMPLATE = """Please gain inspiration from the following random code snippet to create a high-quality programming problem. Present your output in two distinct sections: [Problem Description] and [Solution].

Code snippet for inspiration:
```
{code}
```

Guidelines for each section:

1. [Problem Description]: This should be **completely self-contained**, providing all the contextual information one needs to understand and solve the problem. Assume common programming knowledge, but ensure that any specific context, variables, or code snippets pertinent to this problem are explicitly included.

2. [Solution]: Offer a comprehensive, **correct** solution that accurately addresses the [Problem Description] you provided."""

OSS_SCHEMA = {
    "example_id": pl.String, "source_id": pl.String, "task_name": pl.String, "language": pl.String,
    "seed_snippet": pl.String, "seed_start_line": pl.Int64, "seed_n_lines": pl.Int64,
    "instruction": pl.String, "information": pl.String, "solution": pl.String,
    "status": pl.String, "error": pl.String,  # status: ok | unparseable | failed
    "generator_model": pl.String, "prompt_version": pl.String, "request_seed": pl.Int64,
    "system_fingerprint": pl.String, "finish_reason": pl.String, "raw_output": pl.String,
}


@dataclass(frozen=True)
class Snippet:
    start_line: int  # 0-based
    n_lines: int
    text: str


def draw_snippet(code: str, rng: random.Random, *, min_lines: int = 1, max_lines: int = 15) -> Snippet:
    """min_lines..max_lines consecutive lines (fewer at the end of the code) from a start drawn among the
    non-blank lines (Magicoder draws among all lines; a blank start line wastes a seed)."""
    if not 1 <= min_lines <= max_lines:
        raise ValueError(f"need 1 <= min_lines <= max_lines, got {min_lines}, {max_lines}")
    lines = code.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if line.strip()]
    if not starts:
        raise ValueError("code has no non-blank line")
    start = rng.choice(starts)
    chunk = lines[start : start + rng.randint(min_lines, max_lines)]
    return Snippet(start, len(chunk), "".join(chunk))


def plan_seeds(coreset: pl.DataFrame, *, n_seeds: int | None, seed: int, min_lines: int = 1,
               max_lines: int = 15) -> list[dict]:
    """One seed per index i < n_seeds (default: one per sample), from sample i mod N in coreset rank order, so
    more seeds than samples draw further windows from the same samples. The window RNG is keyed by
    (seed, sample id, draw), the request seed is seed + i (as Magicoder)."""
    samples = coreset.sort("rank").select("id", "language", "code").to_dicts()
    if not samples:
        return []
    plan = []
    for i in range(len(samples) if n_seeds is None else n_seeds):
        sample, draw = samples[i % len(samples)], i // len(samples)
        snippet = draw_snippet(sample["code"], random.Random(f"{seed}/{sample['id']}/{draw}"),
                               min_lines=min_lines, max_lines=max_lines)
        key = f"{sample['id']}\x1f{snippet.start_line}\x1f{snippet.n_lines}\x1f{draw}\x1f{PROMPT_VERSION}"
        plan.append({"example_id": hex_id(key), "source_id": sample["id"],
                     "language": sample["language"], "seed_snippet": snippet.text,
                     "seed_start_line": snippet.start_line, "seed_n_lines": snippet.n_lines, "request_seed": seed + i})
    return plan


def oss_messages(snippet: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": OSS_TEMPLATE.format(code=snippet)}]


_SECTION = re.compile(r"\[\s*(problem description|solution)\s*\]", re.IGNORECASE)
_MARKUP = re.compile(r"[#*_:\s\[\]]+")


def _section_of(line: str) -> tuple[str, str] | None:
    """("problem" | "solution", text after the header on the same line) for a section header line, else None.
    Magicoder's form is a line containing "[Problem Description]" / "[Solution]"; markdown headers without the
    brackets ("## Problem Description", "**Solution:**") are accepted too."""
    match = _SECTION.search(line)
    if match:
        name, rest = match.group(1).lower(), line[match.end():].strip(" *_:#")
    elif re.match(r"^\s*(#|\*\*|__)", line) or line.rstrip().endswith(":"):
        name, rest = _MARKUP.sub(" ", line).strip().lower(), ""
    else:
        return None
    if name in ("problem description", "problem"):
        return "problem", rest
    return ("solution", rest) if name == "solution" else None


def parse_problem_solution(text: str) -> tuple[str, str] | None:
    """(problem, solution) from the two sections, or None when a section is missing, empty or out of order."""
    lines = text.splitlines()
    found: dict[str, tuple[int, str]] = {}
    for i, line in enumerate(lines):
        section = _section_of(line)
        if section and section[0] not in found:
            found[section[0]] = (i, section[1])
    if set(found) != {"problem", "solution"} or found["problem"][0] >= found["solution"][0]:
        return None
    (p, p_rest), (s, s_rest) = found["problem"], found["solution"]
    problem = "\n".join([p_rest, *lines[p + 1 : s]]).strip()
    solution = "\n".join([s_rest, *lines[s + 1 :]]).strip()
    return (problem, solution) if problem and solution else None


class OssSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    # One snippet: the default run's minutes go to the WaveCoder candidates.
    n_seeds: int | None = Field(
        default=1, ge=0, description="snippets drawn; more than coreset rows draws further windows from the same "
                                     "samples; None: one per coreset row (Magicoder: ~75k)")
    seed: int = Field(default=976, description="window RNG and request seeds (seed + index); 976 is Magicoder's")
    min_lines: int = Field(default=1, ge=1)
    max_lines: int = Field(default=15, ge=1)
    max_tokens: int = Field(default=768, ge=1, description="Magicoder: 2500")
    temperature: float = Field(default=0.0, ge=0.0, le=2.0, description="0.0: Magicoder's default")
    drop_truncated: bool = Field(default=True, description="an answer cut off at max_tokens is unparseable (Magicoder)")

    @model_validator(mode="after")
    def _line_bounds(self) -> OssSettings:
        if self.min_lines > self.max_lines:
            raise ValueError(f"min_lines ({self.min_lines}) must be <= max_lines ({self.max_lines})")
        return self


def shard_settings(coreset: pl.DataFrame, shard_rows: pl.DataFrame, settings: OssSettings) -> OssSettings | None:
    """The settings for one shard's rows of the coreset: its share of settings.n_seeds, so that the shards together
    draw the (sample, draw) pairs one run over the whole coreset would: seed i takes sample i mod N in rank order,
    so each sample is drawn n_seeds // N times, and the first n_seeds mod N samples once more. None when the
    shard draws no seed."""
    if settings.n_seeds is None or coreset.is_empty():
        return settings
    rounds, extra = divmod(settings.n_seeds, coreset.height)
    first = coreset.sort("rank").head(extra)
    n_seeds = rounds * shard_rows.height + first.filter(pl.col("id").is_in(shard_rows["id"].implode())).height
    return settings.model_copy(update={"n_seeds": n_seeds}) if n_seeds else None


def oss_instruct(coreset: pl.DataFrame, generator, settings: OssSettings, *, logger=None) -> pl.DataFrame:
    """One row per planned seed: ok (problem and solution), unparseable (why) or failed (the LLM error)."""
    plan = plan_seeds(coreset, n_seeds=settings.n_seeds, seed=settings.seed, min_lines=settings.min_lines,
                      max_lines=settings.max_lines)
    results = generator.run([
        ChatRequest(key=item["example_id"], messages=oss_messages(item["seed_snippet"]),
                    temperature=settings.temperature, max_tokens=settings.max_tokens, seed=item["request_seed"])
        for item in plan], logger=logger)
    rows = []
    for item, result in zip(plan, results):
        row = item | {"task_name": "code_generation", "instruction": None, "information": "", "solution": None,
                      "status": "ok", "error": None, "generator_model": result.model, "prompt_version": PROMPT_VERSION,
                      "system_fingerprint": result.system_fingerprint, "finish_reason": result.finish_reason,
                      "raw_output": result.text}
        if result.error is not None:
            row |= {"status": "failed", "error": result.error}
        elif settings.drop_truncated and result.finish_reason not in (None, "stop"):
            row |= {"status": "unparseable", "error": f"answer cut off (finish_reason={result.finish_reason})"}
        elif (parsed := parse_problem_solution(result.text)) is None:
            row |= {"status": "unparseable", "error": "no [Problem Description] section followed by a [Solution] section"}
        else:
            row |= {"instruction": parsed[0], "solution": parsed[1]}
        rows.append(row)
    return pl.DataFrame(rows, schema=OSS_SCHEMA)
