"""The lake as Dagster sees it: the Delta Lake IO manager and a DuckDB resource over the lake's views."""

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
    DATA_VERSION_KEY,
    DEFAULT_LAKE_DIR,
    RUN_ID_KEY,
    LakeViews,
    TableMissing,
    first_line,
    register_lake_views,
    scan_table_path,
    table_path,
    write_table,
)

_log = logging.getLogger(__name__)


class PolarsDeltaIOManager(ConfigurableIOManager):
    """Stores each asset's Polars DataFrame as the Delta table `<base_dir>/<asset name>/`, one version per
    materialization.

    Each write is one atomic Delta commit whose custom metadata names the Dagster run and the content version of
    the table (`lakefiles.content_version`: the data version every asset reports, but finetuned_model, whose
    data version is its weights digest); the output metadata has the
    new `table_version`, the `table_uri`, the row count and the column schema. An input is read at exactly one
    version, the latest when the step loads it (recorded as the input's `table_version`), so a writer that
    commits meanwhile cannot change or tear what the step reads. dagster-deltalake-polars is not used: it keeps
    tables under a schema folder, writes one fixed commit metadata, and neither pins nor records the version read.
    """

    base_dir: str = DEFAULT_LAKE_DIR

    def _path(self, context: OutputContext | InputContext) -> Path:
        return table_path(self.base_dir, context.asset_key.path[-1])

    def handle_output(self, context: OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        if obj is None:
            return
        if isinstance(obj, pl.LazyFrame):
            obj = obj.collect()
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(f"{context.asset_key.to_user_string()}: expected a polars DataFrame, got {type(obj).__name__}")
        path = self._path(context)
        version = write_table(obj, path, metadata={RUN_ID_KEY: context.run_id,
                                                   "dagster.asset_key": context.asset_key.to_user_string()})
        context.add_output_metadata(
            {
                "path": str(path),
                "table_uri": str(path),
                "table_version": version,
                "dagster/row_count": obj.height,
                "dagster/column_schema": _table_schema(obj, _declared_schema(context)),
            }
        )

    def load_input(self, context: InputContext) -> pl.DataFrame | pl.LazyFrame:
        path = self._path(context)
        try:
            frame, version, commit = scan_table_path(path)
        except TableMissing:
            legacy = path.with_suffix(".parquet")
            hint = f"; {legacy} is from before the lake kept Delta tables" if legacy.is_file() else ""
            raise FileNotFoundError(f"{context.asset_key.to_user_string()} is not in the lake yet ({path}); "
                                    f"materialize it first{hint}") from None
        context.add_input_metadata({
            "table_version": version,
            "table_uri": str(path),
            "table_data_version": commit.get(DATA_VERSION_KEY) or "unknown",
            "table_written_by_run": commit.get(RUN_ID_KEY) or "not Dagster",
        })
        if context.dagster_type.typing_type is pl.LazyFrame:
            return frame
        return frame.collect()




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
