"""The paper's raw-code filters, each a small rule on a Polars frame of raw_code rows.

A rule returns (kept, removed); removed rows carry a `rule` column naming the rule, so nothing leaves
the corpus without a reason. `apply_rules` chains rules in order and counts the funnel per language.
"""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numba
import numpy as np
import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from wavecoder_assets.codefacts import runs_alone, takes_plain_values

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


def code_predicate_rule(frame: pl.DataFrame, keep: Callable[[str, str], bool]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Keep the rows whose (code, language) `keep` accepts, e.g. `codefacts.runs_alone` (see filter_rules)."""
    kept = [keep(code, language) for code, language in zip(frame["code"], frame["language"])]
    return split_by(frame, ~pl.Series(kept, dtype=pl.Boolean), "code_predicate")


# --- near dedup: MinHash LSH over the whole column at once -------------------------------------------------------
# The answer is datasketch's (MinHash(num_perm, seed=1, hashfunc=zlib.crc32), scheme affine32, MinHashLSH with its
# own band split, keep-first inserts, the MinHash estimate confirming each candidate), bit for bit; the work is two
# compiled loops instead of a Python loop with a NumPy call per row. wavecoder_assets/testing/reference.py holds datasketch
# as the reference.

_MASK32 = np.uint64(0xFFFFFFFF)
_EMPTY_SLOT = np.uint32(0xFFFFFFFF)  # a MinHash slot before any shingle


@functools.cache
def _word_characters() -> np.ndarray:
    """is_word[code point]: exactly the characters Python's `re` calls \\w (the reference tokenizes with it)."""
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    is_word = np.zeros(sys.maxunicode + 1, dtype=np.bool_)
    is_word[[match.start() for match in re.finditer(r"\w", everything)]] = True
    return is_word


def _crc32_table() -> np.ndarray:
    """zlib's CRC-32 (reflected polynomial 0xEDB88320), one byte at a time."""
    table = np.arange(256, dtype=np.uint64)
    for _ in range(8):
        table = np.where(table & 1, (table >> np.uint64(1)) ^ np.uint64(0xEDB88320), table >> np.uint64(1))
    return table


_CRC32_TABLE = _crc32_table()


def minhash_permutations(num_perm: int, seed: int = 1) -> np.ndarray:
    """datasketch's affine32 permutations h -> a*h + b mod 2**32 (a odd), drawn as MinHash(num_perm, seed) does;
    shape (2, num_perm), uint32."""
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return np.array([a, b])


@functools.cache
def lsh_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """(bands, rows per band) as datasketch's MinHashLSH picks them: the grid point minimizing the mean of the
    false-positive and false-negative areas under the S-curve 1-(1-s^r)^b. That curve is a polynomial of degree
    b*r <= num_perm, so Gauss-Legendre with num_perm//2+1 nodes integrates it exactly. One band is refused, as
    datasketch refuses it."""
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=float)

    def collision_probability(s: np.ndarray) -> np.ndarray:  # (pairs, nodes)
        return 1.0 - (1.0 - s[None, :] ** pairs[:, 1:2]) ** pairs[:, 0:1]

    below = threshold / 2 * (nodes + 1)
    above = threshold + (1 - threshold) / 2 * (nodes + 1)
    false_positive = threshold / 2 * collision_probability(below) @ weights
    false_negative = (1 - threshold) / 2 * (1.0 - collision_probability(above)) @ weights
    best = int(np.argmin(0.5 * false_positive + 0.5 * false_negative))  # the first minimum, as datasketch's loop
    bands, rows = int(pairs[best, 0]), int(pairs[best, 1])
    if bands < 2:
        raise ValueError(f"MinHash LSH at threshold {threshold} with num_perm={num_perm} would use one band of "
                         f"{rows}; use more permutations")
    return bands, rows


@numba.njit(parallel=True, cache=True)
def _signatures(data, offsets, is_word, crc_table, ngram, a, b, out):
    """out[row] = MinHash of the row's set of token n-grams: tokens are runs of word characters in the UTF-8
    bytes; an n-gram is its tokens joined by one space, hashed with CRC-32, pre-mixed with the MurmurHash3
    finalizer, then permuted. Fewer than `ngram` tokens make one shingle of them all (none: the empty one)."""
    for row in numba.prange(offsets.size - 1):
        start, end = offsets[row], offsets[row + 1]
        token_start = np.empty(end - start, np.int64)
        token_end = np.empty(end - start, np.int64)
        tokens = 0
        in_token = False
        i = start
        while i < end:
            lead = np.int64(data[i])
            if lead < 0x80:
                code_point, width = lead, 1
            elif lead < 0xE0:
                code_point, width = ((lead & 0x1F) << 6) | (data[i + 1] & 0x3F), 2
            elif lead < 0xF0:
                code_point, width = ((lead & 0x0F) << 12) | ((data[i + 1] & 0x3F) << 6) | (data[i + 2] & 0x3F), 3
            else:
                code_point = (((lead & 0x07) << 18) | ((data[i + 1] & 0x3F) << 12) | ((data[i + 2] & 0x3F) << 6)
                              | (data[i + 3] & 0x3F))
                width = 4
            if is_word[code_point]:
                if not in_token:
                    token_start[tokens] = i
                    in_token = True
            elif in_token:
                token_end[tokens] = i
                tokens += 1
                in_token = False
            i += width
        if in_token:
            token_end[tokens] = end
            tokens += 1

        signature = out[row]
        signature[:] = _EMPTY_SLOT
        for first in range(max(1, tokens - ngram + 1)):
            crc = np.uint64(0xFFFFFFFF)
            for token in range(first, min(first + ngram, tokens)):
                if token > first:
                    crc = crc_table[(crc ^ np.uint64(0x20)) & np.uint64(0xFF)] ^ (crc >> np.uint64(8))
                for byte in range(token_start[token], token_end[token]):
                    crc = crc_table[(crc ^ np.uint64(data[byte])) & np.uint64(0xFF)] ^ (crc >> np.uint64(8))
            h = crc ^ _MASK32
            h ^= h >> np.uint64(16)
            h = (h * np.uint64(0x85EBCA6B)) & _MASK32
            h ^= h >> np.uint64(13)
            h = (h * np.uint64(0xC2B2AE35)) & _MASK32
            h ^= h >> np.uint64(16)
            for k in range(signature.size):
                permuted = np.uint32((a[k] * h + b[k]) & _MASK32)
                if permuted < signature[k]:
                    signature[k] = permuted


def minhash_signatures(codes: pl.Series, num_perm: int = 128, ngram: int = 5,
                       chunk_rows: int = 65_536) -> np.ndarray:
    """(rows, num_perm) uint32: each row's MinHash over its token n-grams, equal to datasketch's hashvalues.
    Rows go through in chunks: the UTF-8 copy the loop reads is one chunk's, not the column's."""
    if codes.null_count():
        raise ValueError("near dedup needs code in every row; got nulls")
    a, b = minhash_permutations(num_perm).astype(np.uint64)
    out = np.empty((codes.len(), num_perm), dtype=np.uint32)
    for first in range(0, codes.len(), chunk_rows):
        array = codes.slice(first, chunk_rows).rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
        _, offsets, data = array.buffers()  # large_string: int64 offsets into UTF-8 bytes
        offsets = np.frombuffer(offsets, dtype=np.int64)[array.offset:array.offset + len(array) + 1]
        data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
        _signatures(data, offsets, _word_characters(), _CRC32_TABLE, ngram, a, b, out[first:first + len(array)])
    return out


@numba.njit(cache=True)
def _band_keys(signatures, bands, rows):
    """A 64-bit key per (row, band) from the band's values; equal bands get equal keys (a collision of unequal
    ones is caught by the exact comparison in _keep_first)."""
    keys = np.empty((signatures.shape[0], bands), np.uint64)
    for i in range(signatures.shape[0]):
        for band in range(bands):
            key = np.uint64(band)
            for k in range(band * rows, (band + 1) * rows):
                key = (key ^ np.uint64(signatures[i, k])) * np.uint64(0x100000001B3)
                key ^= key >> np.uint64(29)
            keys[i, band] = key
    return keys


@numba.njit(cache=True)
def _keep_first(signatures, buckets, bucket_count, rows, threshold):
    """Rows in order: a row is a duplicate when a kept row shares one of its bands exactly and their MinHash
    estimate (equal slots / num_perm) is >= threshold; otherwise it is kept and indexed under its buckets."""
    n, bands = buckets.shape
    num_perm = signatures.shape[1]
    newest = np.full(bucket_count, -1, np.int64)  # the newest kept row per bucket ...
    older = np.full((n, bands), -1, np.int64)  # ... and, per kept row and band, the kept row before it
    compared_with = np.full(n, -1, np.int64)  # a candidate found in two bands is estimated once
    duplicate = np.zeros(n, np.bool_)
    for i in range(n):
        for band in range(bands):
            j = newest[buckets[i, band]]
            while j >= 0 and not duplicate[i]:
                if compared_with[j] != i:
                    same_band = True
                    for k in range(band * rows, (band + 1) * rows):
                        if signatures[i, k] != signatures[j, k]:
                            same_band = False
                            break
                    if same_band:
                        compared_with[j] = i
                        equal = 0
                        for k in range(num_perm):
                            equal += signatures[i, k] == signatures[j, k]
                        duplicate[i] = equal / num_perm >= threshold
                j = older[j, band]
            if duplicate[i]:
                break
        if not duplicate[i]:
            for band in range(bands):
                older[i, band] = newest[buckets[i, band]]
                newest[buckets[i, band]] = i
    return duplicate


def near_duplicates(signatures: np.ndarray, threshold: float) -> np.ndarray:
    """Boolean per row: a near duplicate of an earlier kept row (MinHash LSH banded for min(threshold, 0.9),
    candidates confirmed by the estimate at `threshold`)."""
    # datasketch cannot band for thresholds near 1; LSH at 0.9 finds a superset, the estimate decides.
    bands, rows = lsh_bands(min(threshold, 0.9), signatures.shape[1])
    keys = _band_keys(signatures, bands, rows)
    buckets = np.empty(keys.shape, dtype=np.int64)
    bucket_count = 0
    for band in range(bands):
        distinct, inverse = np.unique(keys[:, band], return_inverse=True)
        buckets[:, band] = inverse.reshape(-1) + bucket_count
        bucket_count += distinct.size
    return _keep_first(signatures, buckets, bucket_count, rows, threshold)


def near_dedup_rule(frame: pl.DataFrame, threshold: float = 0.85, num_perm: int = 128,
                    ngram: int = 5) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Drop a row when an earlier kept row's code has estimated Jaccard similarity >= threshold over
    token n-grams (MinHash LSH finds the candidates; the MinHash estimate confirms them)."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"near-dup threshold must be in (0, 1], not {threshold}")
    if num_perm < 2 or ngram < 1:
        raise ValueError(f"near dedup needs num_perm >= 2 and ngram >= 1, not {num_perm} and {ngram}")
    duplicate = near_duplicates(minhash_signatures(frame["code"], num_perm, ngram), threshold)
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


# The raw_code columns the blacklist can search.
TEXT_COLUMNS = ("code", "docstring", "func_name", "path", "repo")


# --- the filters as the filtered_code step runs them -------------------------------------------------------------

class FilterSettings(BaseModel):
    """Which filters run, and their settings (filter_rules)."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    min_chars: int = Field(default=50, ge=0, description="shortest code kept (characters)")
    max_chars: int = Field(default=800, ge=1, description="longest code kept (characters; >= min_chars)")
    blacklist: list[str] = Field(default_factory=lambda: list(BLACKLIST), description="whole words, case-insensitive")
    blacklist_fields: list[str] = Field(default_factory=lambda: ["code", "docstring"],
                                        description=f"any of {list(TEXT_COLUMNS)}")
    exact_dedup: bool = True
    near_dedup: bool = True
    near_dup_threshold: float = Field(default=0.85, gt=0.0, le=1.0,
                                      description="MinHash-estimated Jaccard of token 5-grams")
    num_perm: int = Field(default=128, ge=1)
    ngram: int = Field(default=5, ge=1)
    require_runs_alone: bool = Field(default=False, description="keep only functions that could run alone (no "
                                     "self/this, Java static, no undeclared names), so code tasks can be executed; "
                                     "not the paper's filter (require_plain_values implies it)")
    # On by default: the embedded default harvests the machine's source trees, mostly methods and functions of
    # frames, sockets or files, which the embedded 0.5B generator's tests cannot call (nearly every code example
    # failed the execution gate). Off in the paper preset.
    require_plain_values: bool = Field(default=True, description="keep only functions that run alone and take and "
                                       "return plain values (strings, numbers, lists, maps; nothing of the machine), "
                                       "so a generator's tests can call them with literals; not the paper's filter")

    @field_validator("blacklist_fields")
    @classmethod
    def _text_columns(cls, fields: list[str]) -> list[str]:
        unknown = sorted(set(fields) - set(TEXT_COLUMNS))
        if unknown:
            raise ValueError(f"not text columns of raw_code: {unknown}; known: {list(TEXT_COLUMNS)}")
        return fields

    @model_validator(mode="after")
    def _length_bounds(self) -> FilterSettings:
        if self.min_chars > self.max_chars:
            raise ValueError(f"min_chars ({self.min_chars}) must be <= max_chars ({self.max_chars})")
        return self


def filter_rules(settings: FilterSettings) -> list[tuple[str, Rule]]:
    """(name, rule) in the order apply_rules runs them: code length, the blacklist, exact dedup, near dedup, then
    (not the paper's) functions that run alone, then ones that take plain values."""
    rules = [("length", functools.partial(length_rule, min_chars=settings.min_chars, max_chars=settings.max_chars)),
             ("blacklist", functools.partial(blacklist_rule, words=settings.blacklist,
                                             fields=settings.blacklist_fields))]
    if settings.exact_dedup:
        rules.append(("exact_dup", exact_dedup_rule))
    if settings.near_dedup:
        rules.append(("near_dup", functools.partial(near_dedup_rule, threshold=settings.near_dup_threshold,
                                                    num_perm=settings.num_perm, ngram=settings.ngram)))
    # last: they parse every row, the cheap rules thin them first
    if settings.require_runs_alone or settings.require_plain_values:
        rules.append(("runs_alone", functools.partial(code_predicate_rule, keep=runs_alone)))
    if settings.require_plain_values:
        rules.append(("plain_values", functools.partial(code_predicate_rule, keep=takes_plain_values)))
    return rules
