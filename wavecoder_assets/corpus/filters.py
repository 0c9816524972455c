"""The paper's raw-code filters, each a small rule on a Polars frame of raw_code rows.

A rule returns (kept, removed); removed rows carry a `rule` column naming the rule, so nothing leaves
the corpus without a reason. `apply_rules` chains rules in order and counts the funnel per language.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
from datasketch import MinHash, MinHashLSH

# Code Alpaca's blacklist (WaveCoder, Sec. 3.1): tasks an LLM cannot do in text.
BLACKLIST = ("image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
             "plot", "go to", "video", "audio", "music", "flowchart", "diagram")

Rule = Callable[[pl.DataFrame], "tuple[pl.DataFrame, pl.DataFrame]"]


def split_by(frame: pl.DataFrame, drop: pl.Expr, rule: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(rows where `drop` is false, rows where it is true tagged with `rule`)."""
    flagged = frame.with_columns(drop.fill_null(False).alias("_drop"))
    kept = flagged.filter(~pl.col("_drop")).drop("_drop")
    removed = flagged.filter(pl.col("_drop")).drop("_drop").with_columns(rule=pl.lit(rule))
    return kept, removed


def length_rule(frame: pl.DataFrame, min_chars: int = 50, max_chars: int = 800) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep code of min_chars..max_chars characters (inclusive)."""
    n = pl.col("code").str.len_chars()
    return split_by(frame, (n < min_chars) | (n > max_chars), "length")


def blacklist_pattern(words: Sequence[str]) -> str:
    """One case-insensitive regex matching any of the words as a whole word ("go to" also as "go  to")."""
    alternatives = sorted((r"\s+".join(map(re.escape, w.split())) for w in words), key=len, reverse=True)
    return r"(?i)\b(?:" + "|".join(alternatives) + r")\b"


def blacklist_rule(frame: pl.DataFrame, words: Sequence[str] = BLACKLIST,
                   fields: Sequence[str] = ("code", "docstring")) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop rows where any of `fields` contains a blacklisted word."""
    if not words or not fields:
        return frame, frame.clear().with_columns(rule=pl.lit("blacklist"))
    pattern = blacklist_pattern(words)
    return split_by(frame, pl.any_horizontal([pl.col(f).str.contains(pattern) for f in fields]), "blacklist")


def normalized_code() -> pl.Expr:
    """Code with every whitespace run made one space: reformatting alone does not make a new sample."""
    return pl.col("code").str.replace_all(r"\s+", " ").str.strip_chars()


def exact_dedup_rule(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the first row of each normalized code (by its hash: a 64-bit key sorts and groups fast)."""
    return split_by(frame, ~normalized_code().hash(seed=0).is_first_distinct(), "exact_dup")


def shingles(code: str, ngram: int) -> set[bytes]:
    tokens = re.findall(r"\w+", code)
    return {" ".join(tokens[i:i + ngram]).encode() for i in range(max(1, len(tokens) - ngram + 1))}


def near_dedup_rule(frame: pl.DataFrame, threshold: float = 0.85, num_perm: int = 128,
                    ngram: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop a row when an earlier kept row's code has estimated Jaccard similarity >= threshold over
    token n-grams (MinHash LSH finds the candidates; the MinHash estimate confirms them)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-dup threshold must be in (0, 1], not {threshold}")
    # datasketch cannot band for thresholds near 1; LSH at 0.9 finds a superset, the estimate decides.
    lsh = MinHashLSH(threshold=min(threshold, 0.9), num_perm=num_perm)
    # One set of permutations for all rows (datasketch draws them per MinHash otherwise); crc32 is a
    # deterministic shingle hash several times faster than the default sha1.
    template = MinHash(num_perm=num_perm, seed=1)
    kept_hashes: dict[int, MinHash] = {}
    duplicate = []
    for index, code in enumerate(frame["code"]):
        minhash = MinHash(num_perm=num_perm, hashfunc=zlib.crc32, permutations=template.permutations,
                          scheme=template.scheme)
        minhash.update_batch(list(shingles(code, ngram)))
        if any(minhash.jaccard(kept_hashes[c]) >= threshold for c in lsh.query(minhash)):
            duplicate.append(True)
            continue
        duplicate.append(False)
        lsh.insert(index, minhash)
        kept_hashes[index] = minhash
    return split_by(frame, pl.Series(duplicate, dtype=pl.Boolean), "near_dup")


@dataclass
class FilterResult:
    kept: pl.DataFrame
    removed: pl.DataFrame  # input columns + rule
    funnel: pl.DataFrame  # language, rows_in, one column per rule, rows_out; last row "all"


def apply_rules(frame: pl.DataFrame, rules: Sequence[tuple[str, Rule]]) -> FilterResult:
    """Run rules in order on what the previous ones kept; each removed row carries the first rule that hit it."""
    kept, removed = frame, []
    for name, rule in rules:
        kept, dropped = rule(kept)
        removed.append(dropped.with_columns(rule=pl.lit(name)))
    removed_frame = pl.concat(removed) if removed else frame.clear().with_columns(rule=pl.lit(""))
    return FilterResult(kept, removed_frame, funnel(frame, removed_frame, kept, [n for n, _ in rules]))


def funnel(rows_in: pl.DataFrame, removed: pl.DataFrame, rows_out: pl.DataFrame, rules: Sequence[str]) -> pl.DataFrame:
    """Per language: rows in, rows removed by each rule, rows out; plus an `all` row."""
    per_language = rows_in.group_by("language").len("rows_in")
    for rule in rules:
        hits = removed.filter(pl.col("rule") == rule).group_by("language").len(rule)
        per_language = per_language.join(hits, on="language", how="left")
    per_language = (per_language.join(rows_out.group_by("language").len("rows_out"), on="language", how="left")
                    .fill_null(0).sort("language"))
    total = per_language.drop("language").sum().with_columns(language=pl.lit("all")).select(per_language.columns)
    return pl.concat([per_language, total.cast(per_language.schema)])
