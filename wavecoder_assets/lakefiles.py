"""Lake files, no Dagster: where each tabular asset lives, atomic Parquet writes, DuckDB views by asset name."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

DEFAULT_LAKE_DIR = "data_lake"
_VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UMASK = os.umask(0)
os.umask(_UMASK)


def lake_root(base_dir: str) -> Path:
    return Path(base_dir).expanduser().resolve()


def asset_path(base_dir: str, asset_name: str) -> Path:
    """Where a tabular asset lives: `<lake>/<asset>.parquet`."""
    return lake_root(base_dir) / f"{asset_name}.parquet"


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """Write to a temp file in the same folder, then rename: readers never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; the lake is for every user's DuckDB queries
    try:
        frame.write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass(frozen=True)
class BrokenTable:
    """A Parquet file in the lake that DuckDB cannot read: no view was made for it."""

    name: str
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.path}): {self.reason}"


@dataclass
class LakeViews:
    """What `register_lake_views` made: the views by asset name, and the tables it could not register."""

    root: Path
    views: list[str] = field(default_factory=list)
    broken: list[BrokenTable] = field(default_factory=list)

    def missing_table_hint(self) -> str:
        """One line for a query that named a table the lake does not have: the tables it does have."""
        hint = f"tables in {self.root}: {', '.join(self.views) or '(none)'}"
        if self.broken:
            hint += "; broken (no view): " + "; ".join(str(b) for b in self.broken)
        return hint


def first_line(error: BaseException) -> str:
    """An exception's message without DuckDB's multi-line context (LINE 1: ..., caret, hints)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def register_lake_views(conn: duckdb.DuckDBPyConnection, base_dir: str) -> LakeViews:
    """Create a view per Parquet file in the lake, named after the asset.

    Each table is registered on its own: a file DuckDB cannot read (corrupt, truncated, not Parquet) gets no
    view and is listed in the result's `broken` with its path and the reason; the other views are made.
    """
    result = LakeViews(root=lake_root(base_dir))
    for path in sorted(result.root.glob("*.parquet")):
        name = path.stem
        if not _VIEW_NAME.match(name):
            continue
        literal = path.as_posix().replace("'", "''")
        try:
            conn.execute(f"CREATE OR REPLACE VIEW {quote_identifier(name)} AS SELECT * FROM read_parquet('{literal}')")
        except duckdb.Error as error:
            result.broken.append(BrokenTable(name=name, path=path, reason=first_line(error)))
        else:
            result.views.append(name)
    return result
