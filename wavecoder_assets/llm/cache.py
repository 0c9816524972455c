"""Persistent LLM request cache: one sqlite file (by default `<lake>/.llm_cache.sqlite`).

A result is written the moment it arrives (one small transaction each, WAL journal), so a run killed
half-way keeps everything it already paid for. Only successful answers are stored: failures are retried
by the next run. Several processes may share the file.

The same file records the Batch API jobs in flight (`batch_jobs`, `batch_requests`): each batch id with the
cache keys it answers, written before its first poll and closed once its results are collected, so a run
killed while a batch runs resumes by polling that batch instead of paying for a new one.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wavecoder_assets.llm.client import ChatResult

# Bump when the key recipe or the stored fields change: old entries then simply stop matching.
CACHE_KEY_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_results (
    cache_key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response_model TEXT,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    system_fingerprint TEXT,
    finish_reason TEXT,
    created_at REAL NOT NULL,
    token_logprobs TEXT
)
"""

# A batch's requests are recorded per key, not as one set: a rerun may need only some of them (others were
# cached meanwhile, or belong to another batch of the same run), and still adopts every batch that answers them.
_BATCH_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS batch_jobs (
        batch_id TEXT PRIMARY KEY,
        base_url TEXT NOT NULL,
        created_at REAL NOT NULL,
        collected_at REAL
    )""",
    """CREATE TABLE IF NOT EXISTS batch_requests (
        batch_id TEXT NOT NULL,
        cache_key TEXT NOT NULL,
        PRIMARY KEY (batch_id, cache_key)
    )""",
    "CREATE INDEX IF NOT EXISTS batch_requests_by_key ON batch_requests (cache_key)",
]


def cache_key(model: str, messages: list[dict], temperature: float, max_tokens: int, seed: int | None,
              response_format: dict | None, stop: list[str] | str | None, top_logprobs: int | None = None) -> str:
    """sha256 of everything that determines an answer; the endpoint's URL and key are deliberately not in it."""
    recipe = [CACHE_KEY_VERSION, model, messages, float(temperature), int(max_tokens), seed, response_format, stop]
    if top_logprobs is not None:  # appended only when asked, so the keys cached before it existed still match
        recipe.append({"top_logprobs": top_logprobs})
    payload = json.dumps(recipe, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class RequestCache:
    """Maps a cache key to a stored answer (a dict of the chat_results columns)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across a killed process
        for statement in [_SCHEMA, *_BATCH_SCHEMA]:
            self._db.execute(statement)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(chat_results)")}
        if "token_logprobs" not in columns:  # a cache file written before answers carried log-probabilities
            try:
                self._db.execute("ALTER TABLE chat_results ADD COLUMN token_logprobs TEXT")
            except sqlite3.OperationalError as error:  # another process sharing the file added it first
                if "duplicate column" not in str(error):
                    raise

    def get_many(self, keys: list[str]) -> dict[str, dict]:
        found: dict[str, dict] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):  # stay under sqlite's bound-parameter limit
            batch = unique[start : start + 500]
            rows = self._db.execute(
                f"SELECT * FROM chat_results WHERE cache_key IN ({','.join('?' * len(batch))})", batch
            )
            names = [d[0] for d in rows.description]
            found.update({row[0]: dict(zip(names, row)) for row in rows})
        return found

    def put_result(self, key: str, model: str, result: ChatResult) -> None:
        """Store one successful ChatResult under `key` (`model`: the model's name in cache keys)."""
        logprobs = None if result.token_logprobs is None else json.dumps(result.token_logprobs, ensure_ascii=False)
        self._db.execute(
            "INSERT OR REPLACE INTO chat_results (cache_key, model, response_model, text, prompt_tokens, "
            "completion_tokens, system_fingerprint, finish_reason, created_at, token_logprobs) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, model, result.model, result.text, result.prompt_tokens, result.completion_tokens,
             result.system_fingerprint, result.finish_reason, time.time(), logprobs),
        )

    def add_batch(self, batch_id: str, base_url: str, keys: list[str]) -> None:
        """Record a submitted batch and the cache keys it answers, in one transaction."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("INSERT INTO batch_jobs VALUES (?, ?, ?, NULL)", (batch_id, base_url, time.time()))
            self._db.executemany("INSERT OR IGNORE INTO batch_requests VALUES (?, ?)",
                                 [(batch_id, key) for key in keys])
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def open_batches(self, base_url: str, keys: list[str]) -> dict[str, list[str]]:
        """Batches at `base_url` not yet collected that answer any of `keys`: batch id -> all the keys it answers."""
        found: set[str] = set()
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self._db.execute(
                "SELECT DISTINCT j.batch_id FROM batch_jobs j JOIN batch_requests r USING (batch_id) "
                f"WHERE j.collected_at IS NULL AND j.base_url = ? AND r.cache_key IN ({','.join('?' * len(chunk))})",
                [base_url, *chunk],
            )
            found.update(row[0] for row in rows)
        return {batch_id: [row[0] for row in self._db.execute(
                    "SELECT cache_key FROM batch_requests WHERE batch_id = ?", (batch_id,))]
                for batch_id in sorted(found)}

    def close_batch(self, batch_id: str) -> None:
        """Mark a batch collected: its answers are cached and its failures handed back to the caller."""
        self._db.execute("UPDATE batch_jobs SET collected_at = ? WHERE batch_id = ?", (time.time(), batch_id))

    def __len__(self) -> int:
        return self._db.execute("SELECT count(*) FROM chat_results").fetchone()[0]

    def close(self) -> None:
        self._db.close()
