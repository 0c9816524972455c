"""Lake files, no Dagster: every tabular asset is a Delta table `<lake>/<asset>/`, one version per write.

A write is one atomic Delta commit: readers see the old version or the new one, never half a table, and every
earlier version stays readable (until `vacuum_tables` removes its files). Each commit carries custom metadata:
the table's content version (`content_version`), its row count, the Dagster run id when Dagster wrote it, and the
Polars types Delta cannot store (read back as they were written). DuckDB sees each table as a view by name, at
its latest version or `AS OF` an earlier one.

A sharded table (a partitioned asset's) is partitioned by its `shard` column; a write replaces the rows of some
shards and leaves the others (`write_shards`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import CommitFailedError

DEFAULT_LAKE_DIR = "data_lake"
DELTA_LOG = "_delta_log"
# Custom commit metadata keys (Delta's commitInfo): what a version is, who wrote it, how to read it back.
RUN_ID_KEY = "dagster.run_id"
DATA_VERSION_KEY = "wavecoder.data_version"
ROWS_KEY = "wavecoder.rows"
DTYPES_KEY = "wavecoder.polars_dtypes"
RESTORED_FROM_KEY = "wavecoder.restored_from"
COMMIT_ID_KEY = "wavecoder.commit_id"
SHARDS_KEY = "wavecoder.shards"  # a sharded write: {shard: content version} of the shards it replaced
SHARD_COUNT_KEY = "wavecoder.shard_count"  # a sharded table: how many shards its rows were assigned to
SHARD_COLUMN = "shard"  # a sharded table's Delta partition column
_WRITE_ATTEMPTS = 5  # an overwrite that races another writer of the same table is retried on the new version
_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_VIEW_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_UMASK = os.umask(0)
os.umask(_UMASK)


class TableMissing(FileNotFoundError):
    """No Delta table at the path (never written, or not a table)."""


class TableVersionError(ValueError):
    """A version the table does not have, or whose files are gone (vacuumed)."""


def lake_root(base_dir: str) -> Path:
    return Path(base_dir).expanduser().resolve()


def table_path(lake: str | Path, name: str) -> Path:
    """Where a tabular asset lives: the Delta table folder `<lake>/<asset>/`."""
    return lake_root(str(lake)) / name


def is_table(path: Path) -> bool:
    return (Path(path) / DELTA_LOG).is_dir()


def table_names(lake: str | Path) -> list[str]:
    """The Delta tables in the lake (folders with a `_delta_log`), sorted by name."""
    root = lake_root(str(lake))
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and is_table(p))


# --- content versions -------------------------------------------------------------------------------------------

def content_version(frame: pl.DataFrame | pl.LazyFrame) -> str:
    """A data version from the content alone: 16 hex digits of a sha256.

    Each row is hashed on its own (sha256 of its JSON line as Polars writes it, columns in name order; numeric
    fixed-size arrays such as embeddings as their little-endian bytes), and the version is the sha256 of the
    column names and the sorted row digests. So row order and column order do not matter, duplicate rows do,
    and the same content gives the same version in any process (unlike `hash_rows`, which is seeded per
    process and changes between Polars versions). Floats are written as text (NaN, inf apart from null).
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    columns = sorted(frame.columns)
    frame = frame.select(columns)
    raw = [c for c in columns if _numeric_array(frame.schema[c])]
    texts = [c for c in columns if c not in raw]
    digests: list[bytes] = []
    for part in frame.iter_slices(n_rows=20_000):
        lines = _json_lines(part.select(texts)) if texts else [b""] * part.height
        blocks = [_array_bytes(part[c]) for c in raw]
        if any(b is None for b in blocks):  # nulls in an array column: no fixed-size bytes, JSON for every column
            lines, blocks = _json_lines(part), []
        for i, line in enumerate(lines):
            h = hashlib.sha256(line)
            for block in blocks:
                h.update(block[i])
            digests.append(h.digest())
    digests.sort()
    total = hashlib.sha256(json.dumps({"columns": columns, "raw": raw}).encode())
    total.update(b"".join(digests))
    return total.hexdigest()[:16]


def _numeric_array(dtype: pl.DataType) -> bool:
    while isinstance(dtype, pl.Array):
        dtype = dtype.inner
    return dtype.is_numeric() and not dtype.is_decimal()


def _array_bytes(series: pl.Series) -> np.ndarray | None:
    """Rows of a numeric Array column as little-endian bytes, one row per item; None when it has nulls."""
    if series.null_count():
        return None
    values = series.to_numpy()
    if values.dtype == object:  # nulls inside the arrays
        return None
    values = np.ascontiguousarray(values.reshape(series.len(), -1), dtype=values.dtype.newbyteorder("<"))
    return values.view(np.uint8).reshape(series.len(), -1)


def _json_lines(frame: pl.DataFrame) -> list[bytes]:
    """One canonical JSON line per row. Top-level floats as text (keeps NaN and inf apart from null), binary as
    hex; anything Polars cannot write as JSON falls back to Python's json of the row values."""
    canonical = frame.with_columns(
        [pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t.is_float()]
        + [pl.col(c).bin.encode("hex") for c, t in frame.schema.items() if t == pl.Binary])
    try:
        buffer = io.BytesIO()
        canonical.write_ndjson(buffer)
        lines = buffer.getvalue().split(b"\n")
    except BaseException as error:  # pyo3 panics ("not yet implemented") are BaseExceptions
        if isinstance(error, (KeyboardInterrupt, SystemExit)):
            raise
        return [json.dumps(row, sort_keys=True, default=repr, ensure_ascii=False).encode()
                for row in frame.iter_rows(named=True)]
    if lines and lines[-1] == b"":
        lines.pop()
    if len(lines) != frame.height:
        raise ValueError(f"content_version: {len(lines)} JSON lines for {frame.height} rows")
    return lines


# --- types Delta cannot store -----------------------------------------------------------------------------------

def _storage_dtype(dtype: pl.DataType) -> pl.DataType:
    """The type a column is stored as in Delta (which has no unsigned, fixed-size array, categorical, time,
    duration or null types); the same type where Delta has it."""
    if isinstance(dtype, pl.Array):
        return pl.List(_storage_dtype(dtype.inner))
    if isinstance(dtype, pl.List):
        return pl.List(_storage_dtype(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return pl.Struct([pl.Field(f.name, _storage_dtype(f.dtype)) for f in dtype.fields])
    if isinstance(dtype, (pl.Categorical, pl.Enum, pl.Null)):
        return pl.String
    if isinstance(dtype, pl.Datetime) and dtype.time_unit == "ns":
        return pl.Datetime("us", dtype.time_zone)  # Delta timestamps are microseconds
    if isinstance(dtype, (pl.Time, pl.Duration)):
        return pl.Int64
    widened = {pl.UInt8: pl.Int16, pl.UInt16: pl.Int32, pl.UInt32: pl.Int64, pl.UInt64: pl.Decimal(20, 0),
               pl.Int128: pl.Decimal(38, 0), pl.Float16: pl.Float32}
    for narrow, wide in widened.items():
        if dtype == narrow:
            return wide
    if dtype == pl.Object:
        raise TypeError("Object columns cannot be stored in the lake; convert them to a Polars type first")
    return dtype


def _to_storage(frame: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.DataType]]:
    """The frame as Delta stores it, and the original types of the columns that were cast."""
    casts = {c: _storage_dtype(t) for c, t in frame.schema.items()}
    changed = {c: frame.schema[c] for c, t in casts.items() if t != frame.schema[c]}
    if not changed:
        return frame, {}
    return frame.with_columns(pl.col(c).cast(casts[c]) for c in changed), changed


def _arrow(stored: pl.DataFrame) -> pa.Table:
    """The stored frame as Arrow without view types (polars' newest layout writes string_view): DuckDB pushes a
    `WHERE name = 'x'` down into the Arrow dataset, which has no kernel comparing a string_view column."""
    return stored.to_arrow(compat_level=pl.CompatLevel.oldest())


def _encode_dtypes(dtypes: dict[str, pl.DataType]) -> str:
    buffer = io.BytesIO()
    pl.DataFrame(schema=dtypes).write_ipc(buffer)
    return base64.b64encode(buffer.getvalue()).decode()


def _decode_dtypes(text: str | None) -> dict[str, pl.DataType]:
    if not text:
        return {}
    return dict(pl.read_ipc(io.BytesIO(base64.b64decode(text))).schema)


def _restore_types(frame: pl.LazyFrame, commit: dict) -> pl.LazyFrame:
    dtypes = _decode_dtypes(commit.get(DTYPES_KEY))
    present = frame.collect_schema()
    casts = [pl.col(c).cast(t) for c, t in dtypes.items() if c in present and present[c] != t]
    return frame.with_columns(casts) if casts else frame


# --- writing ----------------------------------------------------------------------------------------------------

def write_table(frame: pl.DataFrame, path: str | Path, *, metadata: Mapping[str, object] | None = None) -> int:
    """Write the frame as a new version of the Delta table at `path` (created when missing), in one atomic
    commit, and return that version.

    The commit's custom metadata holds the content version (`wavecoder.data_version`, unless `metadata` gives
    one), the row count, the types Delta cannot store, and `metadata` (values as strings). Columns and types
    may change between versions. An overwrite that loses a race with another writer of the table is retried.
    """
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    path = Path(path)
    stored, originals = _to_storage(frame)
    custom = {DATA_VERSION_KEY: content_version(frame), ROWS_KEY: str(frame.height)}
    if originals:
        custom[DTYPES_KEY] = _encode_dtypes(originals)
    custom.update({k: str(v) for k, v in (metadata or {}).items() if v is not None})
    commit_id = custom[COMMIT_ID_KEY] = uuid.uuid4().hex
    path.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(_WRITE_ATTEMPTS):
        table = DeltaTable(path) if is_table(path) else None
        try:
            # partition_by=[]: a table that was sharded before is rewritten unpartitioned
            write_deltalake(table if table is not None else str(path), _arrow(stored), mode="overwrite", partition_by=[],
                            schema_mode="overwrite", writer_properties=WriterProperties(compression="ZSTD"),
                            commit_properties=CommitProperties(custom_metadata=custom))
            break
        except CommitFailedError:
            if attempt == _WRITE_ATTEMPTS - 1:
                raise
    return _committed_version(path, table, commit_id)


def _committed_version(path: Path, table: DeltaTable | None, commit_id: str) -> int:
    """The version of the commit whose custom metadata has `commit_id`, just written through `table`."""
    if table is not None and _commit_info(path, table.version()).get(COMMIT_ID_KEY) == commit_id:
        return table.version()
    for entry in DeltaTable(path).history(limit=50):  # created here, or a writer got in between
        if entry.get(COMMIT_ID_KEY) == commit_id:
            return int(entry["version"])
    raise RuntimeError(f"wrote {path} but cannot find the commit {commit_id} in its log")


def shard_count_of(path: str | Path, version: int | None = None) -> int | None:
    """How many shards the table's rows were assigned to at the version (the latest when None); None when the
    table is not sharded."""
    count = commit_metadata(path, version).get(SHARD_COUNT_KEY)
    return int(count) if count is not None else None


def write_shards(frame: pl.DataFrame, path: str | Path, *, shards: Sequence[str], shard_count: int,
                 metadata: Mapping[str, object] | None = None) -> int:
    """Replace the rows of `shards` in the sharded table at `path` with the frame's rows, in one atomic commit, and
    return the new version. The frame's SHARD_COLUMN names each row's shard, one of `shards`; a shard of `shards`
    without rows is left empty, and the table's other shards keep their rows.

    A table that is not sharded, or whose rows were assigned to another number of shards, is replaced as a whole
    by the frame (its rows would land in other shards now). So is a table whose columns or types differ from the
    frame's (the other shards' rows are kept, with the new columns null). Like write_table's, the commit's custom
    metadata has the content version and row count of the whole table, SHARD_COLUMN left out (the same rows have
    the same version whatever the shard count), plus the content version of each shard written (SHARDS_KEY) and
    the shard count. A writer of other shards may commit meanwhile: a commit is never rebased onto a newer
    version (its whole-table version would be stale) but fails and is retried on the latest one.
    """
    if SHARD_COLUMN not in frame.columns:
        raise ValueError(f"write_shards: the frame has no {SHARD_COLUMN!r} column")
    written = sorted(set(shards))
    stray = sorted(set(frame[SHARD_COLUMN].unique().to_list()) - set(written))
    if stray:
        raise ValueError(f"write_shards: rows of shard(s) {stray} in a write of shard(s) {written}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame = frame.with_columns(pl.col(SHARD_COLUMN).cast(pl.String))
    per_shard = {k: content_version(frame.filter(pl.col(SHARD_COLUMN) == k).drop(SHARD_COLUMN)) for k in written}
    commit_id = uuid.uuid4().hex
    # An attempt fails only when another writer committed first: with one writer per other shard, each writing
    # once or twice, this many attempts always end in a commit.
    attempts = _WRITE_ATTEMPTS + 2 * shard_count
    for attempt in range(attempts):
        table = DeltaTable(path) if is_table(path) else None
        kept = _rows_of_other_shards(path, table, written, shard_count)
        whole = frame if kept is None else pl.concat([kept, frame], how="diagonal_relaxed")
        stored_whole, originals = _to_storage(whole)
        stored_frame, _ = _to_storage(frame)
        in_place = kept is not None and _stored_schema(table) == dict(stored_frame.schema)
        custom = {DATA_VERSION_KEY: content_version(whole.drop(SHARD_COLUMN)), ROWS_KEY: str(whole.height),
                  SHARDS_KEY: json.dumps(per_shard, sort_keys=True), SHARD_COUNT_KEY: str(shard_count)}
        if originals:
            custom[DTYPES_KEY] = _encode_dtypes(originals)
        custom.update({k: str(v) for k, v in (metadata or {}).items() if v is not None})
        custom[COMMIT_ID_KEY] = commit_id
        shard_list = ", ".join(f"'{k}'" for k in written)
        try:
            write_deltalake(table if table is not None else str(path), _arrow(stored_frame if in_place else stored_whole),
                            mode="overwrite", partition_by=[SHARD_COLUMN],
                            predicate=f"{SHARD_COLUMN} IN ({shard_list})" if in_place else None,
                            schema_mode=None if in_place else "overwrite",
                            writer_properties=WriterProperties(compression="ZSTD"),
                            commit_properties=CommitProperties(custom_metadata=custom, max_commit_retries=0))
            break
        except CommitFailedError:
            if attempt == attempts - 1:
                raise
    return _committed_version(path, table, commit_id)


def _rows_of_other_shards(path: Path, table: DeltaTable | None, written: list[str],
                          shard_count: int) -> pl.DataFrame | None:
    """The rows the table keeps when `written` are replaced, at the table object's version; None when the table
    is to be replaced as a whole (missing, not sharded, or sharded for another count)."""
    if table is None or table.metadata().partition_columns != [SHARD_COLUMN]:
        return None
    if shard_count_of(path, table.version()) != shard_count:
        return None
    frame, _, _ = scan_table_path(path, table.version())
    return frame.filter(~pl.col(SHARD_COLUMN).is_in(written)).collect()


def _stored_schema(table: DeltaTable) -> dict[str, pl.DataType]:
    return dict(pl.scan_delta(table).collect_schema())


def write_parquet_atomic(frame: pl.DataFrame, path: Path) -> None:
    """A plain Parquet file (not a lake table; e.g. resumable work chunks): written to a temp file in the same
    folder, then renamed, so readers never see a half-written file."""
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


# --- reading ----------------------------------------------------------------------------------------------------

def open_table(path: str | Path, version: int | None = None) -> DeltaTable:
    """The Delta table at `path`, at its latest version or at `version`."""
    path = Path(path)
    if not is_table(path):
        raise TableMissing(f"no table at {path}")
    if version is None:
        return DeltaTable(path)
    latest = DeltaTable(path).version()
    if not 0 <= version <= latest:
        raise TableVersionError(f"{path.name} has no version {version} (versions 0..{latest})")
    return DeltaTable(path, version=version)


def _commit_info(path: Path, version: int) -> dict:
    """The commitInfo action of `version` (its custom metadata included), read from the version's log file; {}
    when the log no longer has it. (deltalake's `history()` on a table opened at an earlier version numbers the
    latest commits as if they were that version's, so it is not used here.)"""
    log_file = Path(path) / DELTA_LOG / f"{version:020d}.json"
    try:
        lines = log_file.read_text().splitlines()
    except FileNotFoundError:
        return {}
    for line in lines:
        action = json.loads(line) if line.strip() else {}
        if "commitInfo" in action:
            return {**action["commitInfo"], "version": version}
    return {}


def commit_metadata(path: str | Path, version: int | None = None) -> dict:
    """The version's commit info, with `version` set (the latest version when None)."""
    table = open_table(path, version)
    return {**_commit_info(Path(path), table.version()), "version": table.version()}


def scan_table_path(path: str | Path, version: int | None = None) -> tuple[pl.LazyFrame, int, dict]:
    """A lazy scan of the table at exactly one version (the latest when None), that version and its commit info:
    a writer that commits meanwhile cannot change what the scan reads."""
    table = open_table(path, version)
    version = table.version()
    commit = _commit_info(Path(path), version)
    frame = pl.scan_delta(table)  # the DeltaTable object is pinned to its version
    return _restore_types(frame, commit), version, commit


def scan_table(lake: str | Path, name: str, version: int | None = None) -> pl.LazyFrame:
    """The table `<lake>/<name>` as a LazyFrame, at its latest version or at `version`."""
    return scan_table_path(table_path(lake, name), version)[0]


def read_table(lake: str | Path, name: str, version: int | None = None) -> pl.DataFrame:
    """The table `<lake>/<name>` as a DataFrame, at its latest version or at `version`."""
    return scan_table(lake, name, version).collect()


def table_history(lake: str | Path, name: str) -> list[dict]:
    """Every version of the table, newest first: version, timestamp (UTC), operation, rows, run id, data version,
    the version a restore went back to, and the shards a sharded write replaced ({shard: content version})."""
    path = table_path(lake, name)
    rows = []
    for entry in open_table(path).history():
        metrics = entry.get("operationMetrics") or {}
        rows_written = entry.get(ROWS_KEY)
        if rows_written is None and entry.get("operation") == "WRITE" and "num_added_rows" in metrics:
            rows_written = metrics["num_added_rows"]
        restored = entry.get(RESTORED_FROM_KEY)
        shards = entry.get(SHARDS_KEY)
        rows.append({
            "version": int(entry["version"]),
            "timestamp": _EPOCH + timedelta(milliseconds=entry["timestamp"]),
            "operation": entry.get("operation"),
            "rows": int(rows_written) if rows_written is not None else None,
            "run_id": entry.get(RUN_ID_KEY),
            "data_version": entry.get(DATA_VERSION_KEY),
            "restored_from": int(restored) if restored is not None else None,
            "shards": json.loads(shards) if shards is not None else None,
        })
    return rows


def restore_table(lake: str | Path, name: str, version: int) -> int:
    """Make `version`'s content the table's latest again, as a new version (history is kept); returns it.
    The new commit carries the restored version's content version, rows, types and shard count."""
    path = table_path(lake, name)
    source = commit_metadata(path, version)
    table = open_table(path)
    custom = {k: str(source[k]) for k in (DATA_VERSION_KEY, ROWS_KEY, DTYPES_KEY, SHARD_COUNT_KEY)
              if source.get(k) is not None}
    custom[RESTORED_FROM_KEY] = str(version)
    custom[COMMIT_ID_KEY] = uuid.uuid4().hex
    table.restore(version, commit_properties=CommitProperties(custom_metadata=custom))
    return table.version()


def vacuum_tables(lake: str | Path, retention_hours: int, *, dry_run: bool = False) -> dict[str, list[str]]:
    """Delete the files no version newer than `retention_hours` needs (and files of writes that never committed),
    in every table of the lake; returns the files per table. Versions older than that are no longer readable."""
    removed = {}
    for name in table_names(lake):
        table = DeltaTable(table_path(lake, name))
        removed[name] = table.vacuum(retention_hours=int(retention_hours), dry_run=dry_run,
                                     enforce_retention_duration=False, full=True)
    return removed


# --- DuckDB views -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class BrokenTable:
    """A Delta table in the lake that cannot be read (its log or a data file is broken): no view was made."""

    name: str
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.name} ({self.path}): {self.reason}"


@dataclass
class LakeViews:
    """What `register_lake_views` made: the views by asset name (and the version each one shows), and the
    tables it could not register."""

    root: Path
    views: list[str] = field(default_factory=list)
    broken: list[BrokenTable] = field(default_factory=list)
    versions: dict[str, int] = field(default_factory=dict)

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


def _checked_dataset(table: DeltaTable):
    """The version's Arrow dataset, every data file's footer read once: a missing or truncated file fails here."""
    dataset = table.to_pyarrow_dataset()
    dataset.count_rows()
    return dataset


def register_lake_views(conn: duckdb.DuckDBPyConnection, base_dir: str,
                        as_of: Mapping[str, int] | None = None) -> LakeViews:
    """Make a view per Delta table in the lake, named after the asset: the table's Arrow dataset at its latest
    version, or at the version `as_of` gives for its name.

    Each table is registered on its own: a table that cannot be read (broken log, missing or truncated data
    file) gets no view and is listed in the result's `broken` with its path and the reason; the other views are
    made. A version `as_of` asks for that the table does not have (or whose files were vacuumed) raises
    TableVersionError; `as_of` naming a table the lake does not have raises TableMissing.
    """
    result = LakeViews(root=lake_root(base_dir))
    as_of = dict(as_of or {})
    names = table_names(base_dir)
    unknown = sorted(set(as_of) - set(names))
    if unknown:
        raise TableMissing(f"AS OF names {', '.join(unknown)}: not in the lake "
                           f"(tables in {result.root}: {', '.join(names) or '(none)'})")
    for name in names:
        path = result.root / name
        if not _VIEW_NAME.match(name):
            continue
        version = as_of.get(name)
        try:
            table = open_table(path, version)
            dataset = _checked_dataset(table)
        except TableVersionError:
            raise
        except BaseException as error:  # deltalake raises pyo3 panics (BaseException) on some broken logs
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            if version is not None:
                raise TableVersionError(f"{name} version {version} cannot be read ({path}): {first_line(error)}"
                                        ) from None
            result.broken.append(BrokenTable(name=name, path=path, reason=first_line(error)))
            continue
        conn.register(name, dataset)
        result.views.append(name)
        result.versions[name] = table.version()
    return result
