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


def shard_of(source_id: object, shards: int) -> str:
    """The shard ("0".."shards-1") a row belongs to, from its source id alone: the same id lands in the same shard
    on every machine and run, whatever else is in the table."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, not {shards}")
    return str(stable_hash("shard", source_id) % shards)
