"""The datasketch near dedup that `corpus.filters.near_dedup_rule` replaced, kept as the reference its removals
are checked against (assets_tests/test_minhash.py) and timed against (bench/corpus.py). datasketch is a `dev`
extra, so it is imported inside the functions: importing this module never needs it."""

from __future__ import annotations

import re
import zlib


def reference_shingles(code: str, ngram: int) -> set[bytes]:
    tokens = re.findall(r"\w+", code)
    return {" ".join(tokens[i:i + ngram]).encode() for i in range(max(1, len(tokens) - ngram + 1))}


def datasketch_minhash(code: str, template, ngram: int):
    """The datasketch MinHash of `code`'s shingles, with crc32 shingle hashes and the permutations and scheme of
    `template` (a datasketch MinHash)."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=template.num_perm, hashfunc=zlib.crc32, permutations=template.permutations,
                      scheme=template.scheme)
    minhash.update_batch(list(reference_shingles(code, ngram)))
    return minhash


def datasketch_near_duplicates(codes: list[str], threshold: float = 0.85, num_perm: int = 128,
                               ngram: int = 5) -> list[bool]:
    """The rule as it was: one MinHash per row with crc32 shingle hashes and the permutations of
    MinHash(num_perm, seed=1), MinHashLSH at min(threshold, 0.9), rows in order, a row inserted only when no
    candidate's MinHash estimate reaches the threshold."""
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=min(threshold, 0.9), num_perm=num_perm)
    template = MinHash(num_perm=num_perm, seed=1)
    kept: dict[int, MinHash] = {}
    duplicate = []
    for index, code in enumerate(codes):
        minhash = datasketch_minhash(code, template, ngram)
        duplicate.append(any(minhash.jaccard(kept[c]) >= threshold for c in lsh.query(minhash)))
        if not duplicate[-1]:
            lsh.insert(index, minhash)
            kept[index] = minhash
    return duplicate
