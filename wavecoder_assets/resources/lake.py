"""The lake: every tabular asset is one Parquet file under the lake root, and a DuckDB view of the same name."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from dagster import ConfigurableIOManager, ConfigurableResource, InputContext, OutputContext

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


class PolarsParquetIOManager(ConfigurableIOManager):
    """Stores each asset's Polars DataFrame as `<base_dir>/<asset name>.parquet`.

    dagster-polars' manager of the same name pins an older dagster, so this is the small one the
    lake needs: atomic writes, row count and schema as output metadata, lazy or eager loading.
    """

    base_dir: str = DEFAULT_LAKE_DIR

    def _path(self, context: OutputContext | InputContext) -> Path:
        return asset_path(self.base_dir, context.asset_key.path[-1])

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        if obj is None:
            return
        if isinstance(obj, pl.LazyFrame):
            obj = obj.collect()
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        path = self._path(context)
        write_parquet_atomic(obj, path)
        context.add_output_metadata(
            {
                "path": str(path),
                "dagster/row_count": obj.height,
                "dagster/column_schema": _table_schema(obj),
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame | pl.LazyFrame:
        path = self._path(context)
        if not path.exists():
            raise FileNotFoundError(f"{context.asset_key.to_user_string()} is not in the lake yet ({path}); materialize it first")
        if context.dagster_type.typing_type is pl.LazyFrame:
            return pl.scan_parquet(path)
        return pl.read_parquet(path)


def _table_schema(frame: pl.DataFrame):
    from dagster import TableColumn, TableSchema

    return TableSchema(columns=[TableColumn(name=n, type=str(t)) for n, t in frame.schema.items()])


def register_lake_views(conn: duckdb.DuckDBPyConnection, base_dir: str) -> list[str]:
    """Create a view per Parquet file in the lake, named after the asset; returns the view names."""
    names = []
    for path in sorted(lake_root(base_dir).glob("*.parquet")):
        name = path.stem
        if not _VIEW_NAME.match(name):
            continue
        conn.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{path.as_posix()}')")
        names.append(name)
    return names


class DuckDBLakeResource(ConfigurableResource):
    """An in-memory DuckDB connection where every lake asset is a view of the same name."""

    base_dir: str = DEFAULT_LAKE_DIR

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        conn = duckdb.connect(":memory:")
        try:
            register_lake_views(conn, self.base_dir)
            yield conn
        finally:
            conn.close()

    def query(self, sql: str) -> pl.DataFrame:
        with self.connect() as conn:
            return conn.sql(sql).pl()
