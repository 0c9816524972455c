"""Stable hashes of parts (ids, seeded draws): the same parts give the same value on every machine and run."""

from __future__ import annotations

import hashlib


def _digest(parts: tuple[object, ...]) -> bytes:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).digest()


def stable_hash(*parts: object) -> int:
    """A 64-bit integer, for seeded orderings and draws."""
    return int.from_bytes(_digest(parts)[:8], "big")


def hex_id(*parts: object, length: int = 16) -> str:
    """A hex id of `length` characters, for row ids."""
    return _digest(parts).hex()[:length]
