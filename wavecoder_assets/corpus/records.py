"""The raw_code row schema, its content-hash id, and the skip report every reader returns."""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

RAW_CODE_SCHEMA = {
    "id": pl.String,
    "source": pl.String,
    "repo": pl.String,
    "path": pl.String,
    "func_name": pl.String,
    "language": pl.String,
    "code": pl.String,
    "docstring": pl.String,
    "url": pl.String,
    "sha": pl.String,
    "partition": pl.String,
}

SKIP_SCHEMA = {"source": pl.String, "path": pl.String, "line": pl.Int64, "reason": pl.String, "detail": pl.String}

log = logging.getLogger("wavecoder_assets.corpus")


def content_id(language: str, code: str, docstring: str) -> str:
    """Stable id from the content alone, so the same pair gets the same id from any source or run."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (language, code, docstring):
        digest.update(part.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def make_row(*, source: str, repo: str, path: str, func_name: str, language: str, code: str, docstring: str,
             url: str | None = None, sha: str | None = None, partition: str | None = None) -> dict:
    return {
        "id": content_id(language, code, docstring),
        "source": source, "repo": repo, "path": path, "func_name": func_name, "language": language,
        "code": code, "docstring": docstring, "url": url, "sha": sha, "partition": partition,
    }


def rows_frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=RAW_CODE_SCHEMA)


@dataclass
class SkipLog:
    """What a reader skipped and why: one record and one log line per skip, nothing dropped silently."""

    source: str
    logger: logging.Logger | logging.LoggerAdapter | object = field(default=log, repr=False)
    records: list[dict] = field(default_factory=list)

    def add(self, path: str, reason: str, detail: str = "", line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else path
        self.logger.warning(f"skipped {where} [{reason}] {detail}".rstrip())
        self.records.append({"source": self.source, "path": str(path), "line": line, "reason": reason, "detail": detail})

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(r["reason"] for r in self.records).items()))

    def frame(self) -> pl.DataFrame:
        return pl.DataFrame(self.records, schema=SKIP_SCHEMA)
