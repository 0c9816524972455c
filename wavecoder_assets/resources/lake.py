"""The lake as Dagster sees it: the Parquet IO manager and a DuckDB resource over the lake's views."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from dagster import (
    ConfigurableIOManager,
    ConfigurableResource,
    InputContext,
    OutputContext,
    TableColumn,
    TableSchema,
    TableSchemaMetadataValue,
)

from wavecoder_assets.columns import COLUMN_DESCRIPTIONS
from wavecoder_assets.lakefiles import (
    DEFAULT_LAKE_DIR,
    LakeViews,
    asset_path,
    first_line,
    register_lake_views,
    write_parquet_atomic,
)

_log = logging.getLogger(__name__)


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
                "dagster/column_schema": _table_schema(obj, _declared_schema(context)),
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame | pl.LazyFrame:
        path = self._path(context)
        if not path.exists():
            raise FileNotFoundError(f"{context.asset_key.to_user_string()} is not in the lake yet ({path}); materialize it first")
        if context.dagster_type.typing_type is pl.LazyFrame:
            return pl.scan_parquet(path)
        return pl.read_parquet(path)


def _declared_schema(context: OutputContext) -> TableSchema | None:
    """The asset's own `dagster/column_schema` (definition metadata), where its columns are described."""
    declared = (context.definition_metadata or {}).get("dagster/column_schema")
    if isinstance(declared, TableSchemaMetadataValue):
        declared = declared.schema
    return declared if isinstance(declared, TableSchema) else None


def _table_schema(frame: pl.DataFrame, declared: TableSchema | None = None) -> TableSchema:
    """The frame's columns and types; each column's description (and constraints) from the declared schema, or
    else from the lake's glossary (`wavecoder_assets.columns`)."""
    described = {c.name: c for c in declared.columns} if declared else {}
    columns = []
    for name, dtype in frame.schema.items():
        spec = described.get(name)
        description = (spec.description if spec else None) or COLUMN_DESCRIPTIONS.get(name)
        columns.append(TableColumn(name=name, type=str(dtype), description=description,
                                   constraints=spec.constraints if spec else None,
                                   tags=spec.tags if spec else None))
    return TableSchema(columns=columns)


class DuckDBLakeResource(ConfigurableResource):
    """An in-memory DuckDB connection where every lake asset is a view of the same name.

    A table DuckDB cannot read gets no view (logged as a warning); the others are there.
    """

    base_dir: str = DEFAULT_LAKE_DIR

    @contextmanager
    def _open(self) -> Iterator[tuple[duckdb.DuckDBPyConnection, LakeViews]]:
        conn = duckdb.connect(":memory:")
        try:
            views = register_lake_views(conn, self.base_dir)
            for broken in views.broken:
                _log.warning("broken lake table, no view for it: %s", broken)
            yield conn, views
        finally:
            conn.close()

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._open() as (conn, _):
            yield conn

    def query(self, sql: str) -> pl.DataFrame:
        with self._open() as (conn, views):
            try:
                return conn.sql(sql).pl()
            except duckdb.CatalogException as error:
                if "does not exist" not in first_line(error):
                    raise
                raise duckdb.CatalogException(f"{first_line(error)} ({views.missing_table_hint()})") from error
