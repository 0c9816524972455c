"""Corpus filter throughput at the paper's scale: 2,000,000 CodeSearchNet-shaped rows through the length
rule, the blacklist and exact dedup (target: <= 60 s on 2 cores), against a plain-Python reference of the
same rules on a subset; then near dedup (MinHash LSH) on 1,200,000 rows (the paper's filtered corpus; target:
<= 30 s on 2 cores) against the datasketch reference on a subset, with the removals of both compared there.

    python bench/corpus.py [--rows 2000000] [--reference-rows 100000] [--near-rows 1200000]
                           [--near-reference-rows 20000]
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wavecoder_assets.corpus import (  # noqa: E402
    BLACKLIST,
    apply_rules,
    blacklist_rule,
    default_roots,
    exact_dedup_rule,
    harvest_trees,
    length_rule,
    near_dedup_rule,
)
from wavecoder_assets.corpus.filters import blacklist_pattern  # noqa: E402
from wavecoder_assets.testing.reference import datasketch_near_duplicates  # noqa: E402

TARGET_S = 60.0
NEAR_TARGET_S = 30.0
PAPER_FILTERED_ROWS = 1_200_000


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
    parser.add_argument("--near-rows", type=int, default=PAPER_FILTERED_ROWS)
    parser.add_argument("--near-reference-rows", type=int, default=20_000)
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

    near_dedup(result.kept, args.near_rows, args.near_reference_rows)


def near_dedup(kept: pl.DataFrame, rows: int, reference_rows: int) -> None:
    """The vectorized rule on the first `rows` filtered rows (all of them when the filters kept fewer, projected
    to the paper's 1.2M), the datasketch reference on the first `reference_rows`; removals compared row by row
    on that shared subset."""
    subset = kept.head(reference_rows).with_row_index("position")
    started = time.perf_counter()
    reference = datasketch_near_duplicates(subset["code"].to_list())
    reference_rate = subset.height / (time.perf_counter() - started)
    near_dedup_rule(subset.head(100))  # compiles the numba loops (cached on disk after the first run)
    started = time.perf_counter()
    _, removed = near_dedup_rule(subset)
    subset_rate = subset.height / (time.perf_counter() - started)
    reference_positions = [position for position, duplicate in enumerate(reference) if duplicate]
    identical = removed["position"].to_list() == reference_positions
    print(f"near dedup on the first {subset.height:,} filtered rows: datasketch {reference_rate:,.0f} rows/s, "
          f"vectorized {subset_rate:,.0f} rows/s ({subset_rate / reference_rate:.1f}x); removed "
          f"{len(reference_positions):,} vs {removed.height:,}, identical removals: {'YES' if identical else 'NO'}")

    near_input = kept.head(rows)
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM, this process's peak RSS (Linux)
    rss_before = _status_kib("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    _, removed = near_dedup_rule(near_input)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_growth = (_status_kib("VmHWM") - rss_before) / 2**20
    rate = near_input.height / seconds
    projected = PAPER_FILTERED_ROWS / rate
    # CPU seconds next to wall seconds: on a shared machine the wall clock also counts other people's work.
    print(f"near dedup (MinHash LSH, 128 perms, 5-grams, Jaccard 0.85): {near_input.height:,} rows in {seconds:.1f}s "
          f"({cpu_seconds:.1f} CPU s) = {rate:,.0f} rows/s ({rate / reference_rate:.0f}x datasketch), "
          f"{removed.height:,} removed, peak RSS +{peak_growth:.2f} GiB; {PAPER_FILTERED_ROWS:,} rows: "
          f"{projected:.1f}s ({projected / NEAR_TARGET_S:.2f}x the {NEAR_TARGET_S:.0f} s target: "
          f"{'PASS' if projected <= NEAR_TARGET_S else 'FAIL'}; datasketch: {PAPER_FILTERED_ROWS / reference_rate:.0f}s)")


def _status_kib(field: str) -> int:
    return int(re.search(rf"{field}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1))


def _quiet():
    import logging

    logger = logging.getLogger("bench.corpus.skips")
    logger.setLevel(logging.ERROR)
    return logger


if __name__ == "__main__":
    main()
