"""Corpus filter throughput at the paper's scale: 2,000,000 CodeSearchNet-shaped rows through the length
rule, the blacklist and exact dedup (target: <= 60 s on 2 cores), against a plain-Python reference of the
same rules on a subset; then near dedup (MinHash LSH) rows/s on a subset.

    python bench/corpus.py [--rows 2000000] [--reference-rows 100000] [--near-rows 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time

import polars as pl

from wavecoder_assets.corpus import (
    BLACKLIST,
    apply_rules,
    blacklist_rule,
    default_roots,
    exact_dedup_rule,
    harvest_trees,
    length_rule,
    near_dedup_rule,
)
from wavecoder_assets.corpus.filters import blacklist_pattern

TARGET_S = 60.0


def synthesize(seed_rows: pl.DataFrame, n: int) -> pl.DataFrame:
    """n rows replicated from harvested code: every 10th replica of a row is a whitespace-only copy of the
    one before (an exact duplicate after normalizing); the others carry a distinct trailing comment."""
    replicas = n // seed_rows.height + 1
    comment = pl.when(pl.col("language").is_in(["python", "ruby"])).then(pl.lit("\n# variant ")).otherwise(pl.lit("\n// variant "))
    frame = (
        pl.concat([seed_rows.with_columns(replica=pl.lit(r, pl.Int64)) for r in range(replicas)])
        .head(n)
        .with_columns(variant=pl.when(pl.col("replica") % 10 == 9).then(pl.col("replica") - 1).otherwise(pl.col("replica")))
    )
    code = pl.col("code") + comment + pl.col("variant").cast(pl.String)
    return frame.with_columns(
        code=pl.when(pl.col("replica") % 10 == 9).then(code.str.replace_all("\n", "\n\n", literal=True)).otherwise(code),
        repo=pl.lit("owner/") + pl.col("replica").cast(pl.String),
        url=pl.lit("https://github.com/owner/repo/blob/") + pl.col("path"),
        partition=pl.lit("train"),
    ).with_columns(id=pl.concat_str("language", "code", "docstring").hash().cast(pl.String)).drop("replica", "variant")


def python_reference(frame: pl.DataFrame, min_chars=50, max_chars=800) -> int:
    """The same three rules as a plain loop: re + hashlib + a set."""
    blacklisted = re.compile(blacklist_pattern(BLACKLIST))
    seen, kept = set(), 0
    for code, doc in zip(frame["code"], frame["docstring"]):
        if not min_chars <= len(code) <= max_chars or blacklisted.search(code) or blacklisted.search(doc or ""):
            continue
        key = hashlib.blake2b(" ".join(code.split()).encode(), digest_size=8).digest()
        if key not in seen:
            seen.add(key)
            kept += 1
    return kept


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--near-rows", type=int, default=20_000)
    args = parser.parse_args()

    started = time.perf_counter()
    seed_rows, _ = harvest_trees(default_roots(), max_rows_per_language=10_000, logger=_quiet())
    print(f"harvested {seed_rows.height} seed rows {dict(seed_rows.group_by('language').len().iter_rows())} "
          f"in {time.perf_counter() - started:.1f}s")
    frame = synthesize(seed_rows, args.rows)
    print(f"synthesized {frame.height:,} rows, {frame['code'].str.len_bytes().sum() / 1e6:.0f} MB of code")

    rules = [("length", length_rule), ("blacklist", blacklist_rule), ("exact_dup", exact_dedup_rule)]
    started = time.perf_counter()
    result = apply_rules(frame, rules)
    seconds = time.perf_counter() - started
    rate = frame.height / seconds
    print(result.funnel)
    print(f"filter + exact dedup: {frame.height:,} rows in {seconds:.1f}s = {rate:,.0f} rows/s "
          f"({seconds / TARGET_S:.2f}x the {TARGET_S:.0f} s target: {'PASS' if seconds <= TARGET_S else 'FAIL'})")

    subset = frame.head(args.reference_rows)
    started = time.perf_counter()
    reference_kept = python_reference(subset)
    reference_rate = subset.height / (time.perf_counter() - started)
    polars_kept = apply_rules(subset, rules).kept.height
    print(f"plain-Python reference on {subset.height:,} rows: {reference_rate:,.0f} rows/s; "
          f"Polars is {rate / reference_rate:.1f}x faster (kept {polars_kept} vs reference {reference_kept})")

    near_input = result.kept.head(args.near_rows)
    started = time.perf_counter()
    _, near_removed = near_dedup_rule(near_input)
    near_seconds = time.perf_counter() - started
    near_rate = near_input.height / near_seconds
    print(f"near dedup (MinHash LSH, 128 perms, 5-grams, Jaccard 0.85): {near_input.height:,} rows in {near_seconds:.1f}s "
          f"= {near_rate:,.0f} rows/s, {near_removed.height} removed; "
          f"all {result.kept.height:,} kept rows would take ~{result.kept.height / near_rate / 60:.0f} min")


def _quiet():
    import logging

    logger = logging.getLogger("bench.corpus.skips")
    logger.setLevel(logging.ERROR)
    return logger


if __name__ == "__main__":
    main()
