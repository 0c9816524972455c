"""The vectorized MinHash LSH near dedup against datasketch, the reference it replaced: the same permutations,
band split, signatures and removals, on real harvested code and on crafted near-duplicates."""

from __future__ import annotations

import random
import re

import numpy as np
import polars as pl
import pytest
from datasketch import MinHash, MinHashLSH

from wavecoder_assets.corpus import default_roots, harvest_trees, near_dedup_rule
from wavecoder_assets.corpus.filters import lsh_bands, minhash_permutations, minhash_signatures
from wavecoder_assets.testing.reference import datasketch_minhash, datasketch_near_duplicates

# Tokenizer edges: no tokens, fewer tokens than the n-gram, characters Python's \w and Rust's / Unicode's word
# class disagree on (superscripts, vulgar fractions, combining marks, connector punctuation, circled letters),
# 2-, 3- and 4-byte UTF-8, letters and digits of other scripts.
UNICODE_EDGES = ["", "   \n\t", "x", "a b c", "a_b + c_d", "grüße(ß²) -> ½ + x\u0301y", "naïve‿name = Ⓐ + ①",
                 "// 中文注释 计算 总和\nfunction 合计(数组) { return 数组.length; }",
                 "def 𝔘𝔫𝔦(x): return x + 1  # 😀 emoji 😀", "total = ٣ + ४ + 7  # Arabic and Devanagari digits",
                 "s = 'Ελληνικά κείμενο εδώ και Кириллица тоже'  # mixed scripts in a string literal"]


@pytest.fixture(scope="module")
def harvested() -> pl.DataFrame:
    rows, _ = harvest_trees(default_roots(), max_rows_per_language=1500)
    assert rows.height >= 1000 and rows["language"].n_unique() >= 2
    return rows


def crafted_near_duplicates(bases: list[str], seed: int = 0) -> list[str]:
    """Each base with edited copies (a renamed identifier, a changed literal, an appended comment, a dropped
    line, two lines swapped, one token inserted), shuffled so a copy often comes before its base."""
    rng = random.Random(seed)
    rows = []
    for base in bases:
        lines = base.splitlines()
        words = re.findall(r"[A-Za-z_]\w*", base)
        renamed = words[rng.randrange(len(words))]
        swap = rng.randrange(len(lines) - 1)
        rows += [
            base,
            re.sub(rf"\b{re.escape(renamed)}\b", renamed + "_renamed", base, count=1),
            re.sub(r"\d+", "42", base, count=1),
            base + "\n# checked again",
            "\n".join(lines[:-2] + lines[-1:]),
            "\n".join(lines[:swap] + [lines[swap + 1], lines[swap]] + lines[swap + 2:]),
            base.replace(" ", " extra ", 1),
        ]
    rng.shuffle(rows)
    return rows


def test_permutations_and_band_split_are_datasketchs():
    for num_perm in (2, 16, 128, 256):
        np.testing.assert_array_equal(minhash_permutations(num_perm), MinHash(num_perm=num_perm, seed=1).permutations)
    for num_perm in (4, 16, 64, 128):
        for threshold in [t / 20 for t in range(1, 19)] + [0.33, 0.85, 0.87]:
            try:
                lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
            except ValueError:  # datasketch refuses a single band (few permutations, high threshold)
                with pytest.raises(ValueError, match="one band"):
                    lsh_bands(threshold, num_perm)
                continue
            assert lsh_bands(threshold, num_perm) == (lsh.b, lsh.r), (threshold, num_perm)


@pytest.mark.parametrize(("num_perm", "ngram"), [(128, 5), (64, 3), (16, 1)])
def test_signatures_equal_datasketch_hashvalues(harvested, num_perm, ngram):
    codes = harvested["code"].to_list() + UNICODE_EDGES
    template = MinHash(num_perm=num_perm, seed=1)
    expected = np.array([datasketch_minhash(code, template, ngram).hashvalues for code in codes])
    signatures = minhash_signatures(pl.Series(codes), num_perm, ngram)
    assert signatures.dtype == np.uint32 and signatures.shape == (len(codes), num_perm)
    mismatched = [codes[i][:80] for i in np.flatnonzero((signatures != expected).any(axis=1))]
    assert not mismatched


def test_signatures_of_a_sliced_chunked_or_empty_column(harvested):
    codes = harvested["code"].head(300)
    whole = minhash_signatures(codes)
    np.testing.assert_array_equal(minhash_signatures(codes.slice(7, 50)), whole[7:57])
    chunked = pl.concat([codes.slice(0, 100), codes.slice(100, 200)], rechunk=False)
    assert chunked.n_chunks() == 2
    np.testing.assert_array_equal(minhash_signatures(chunked), whole)
    np.testing.assert_array_equal(minhash_signatures(chunked, chunk_rows=64), whole)  # slices across chunks
    assert minhash_signatures(codes.clear()).shape == (0, 128)
    kept, removed = near_dedup_rule(harvested.clear())
    assert kept.height == removed.height == 0


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.85, 0.95, 1.0])
def test_removals_equal_datasketch_on_harvested_code(harvested, threshold):
    frame = pl.concat([harvested, harvested.head(len(UNICODE_EDGES)).with_columns(code=pl.Series(UNICODE_EDGES))])
    frame = frame.with_row_index("position")
    expected = datasketch_near_duplicates(frame["code"].to_list(), threshold)
    kept, removed = near_dedup_rule(frame, threshold=threshold)
    assert sum(expected) > 0
    assert removed["position"].to_list() == [i for i, duplicate in enumerate(expected) if duplicate]
    assert kept["position"].to_list() == [i for i, duplicate in enumerate(expected) if not duplicate]
    assert set(removed["rule"]) == {"near_dup"}


@pytest.mark.parametrize(("threshold", "num_perm", "ngram"), [(0.5, 128, 5), (0.8, 128, 5), (0.85, 128, 5),
                                                              (0.9, 128, 5), (0.97, 128, 5), (0.8, 64, 3)])
def test_removals_equal_datasketch_on_crafted_near_duplicates(harvested, threshold, num_perm, ngram):
    bases = (harvested.filter(pl.col("code").str.len_chars().is_between(200, 800)
                              & (pl.col("code").str.count_matches("\n") >= 4))
             .sample(150, seed=1)["code"].to_list())
    codes = crafted_near_duplicates(bases)
    expected = datasketch_near_duplicates(codes, threshold, num_perm, ngram)
    frame = pl.DataFrame({"code": codes}).with_row_index("position")
    _, removed = near_dedup_rule(frame, threshold=threshold, num_perm=num_perm, ngram=ngram)
    assert removed["position"].to_list() == [i for i, duplicate in enumerate(expected) if duplicate]
    # Six copies per base: each threshold here removes more than one of them on average, never all.
    assert len(bases) < removed.height < 6 * len(bases)


def test_rejects_bad_parameters_and_null_code():
    frame = pl.DataFrame({"code": ["def f(x): return x + 1", None]})
    for threshold in (0.0, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            near_dedup_rule(frame.head(1), threshold=threshold)
    with pytest.raises(ValueError, match="num_perm"):
        near_dedup_rule(frame.head(1), num_perm=1)
    with pytest.raises(ValueError, match="nulls"):
        near_dedup_rule(frame)
