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

from wavecoder_assets.columns import column_description
from wavecoder_assets.hashing import shard_of
from wavecoder_assets.lakefiles import (
    DATA_VERSION_KEY,
    DEFAULT_LAKE_DIR,
    RUN_ID_KEY,
    SHARD_COLUMN,
    SHARD_COUNT_KEY,
    LakeViews,
    TableMissing,
    first_line,
    register_lake_views,
    scan_table_path,
    table_path,
    write_shards,
    write_table,
)

_log = logging.getLogger(__name__)
# Definition metadata of a partitioned (sharded) asset: the column holding each row's source id, whose stable hash
# (hashing.shard_of) is the row's shard.
SHARD_BY_METADATA = "wavecoder/shard_by"


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

    A partitioned asset's partitions are shards: its table is partitioned by a `shard` column, each row's shard is
    the stable hash of the source id in the column its SHARD_BY_METADATA names, and a write replaces only the
    shards of the step's partitions (`lakefiles.write_shards`). A partitioned input gets its partitions' shards, an
    unpartitioned reader the whole table; either way without the `shard` column, so a reader sees the rows an
    unsharded table would hold.
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
        commit = {RUN_ID_KEY: context.run_id, "dagster.asset_key": context.asset_key.to_user_string()}
        if context.has_asset_partitions:
            version = self._write_shards(context, obj, path, commit)
        else:
            version = write_table(obj, path, metadata=commit)
        context.add_output_metadata(
            {
                "path": str(path),
                "table_uri": str(path),
                "table_version": version,
                "dagster/row_count": obj.height,
                "dagster/column_schema": _table_schema(obj, path.name, _declared_schema(context)),
            }
        )

    def _write_shards(self, context: OutputContext, frame: pl.DataFrame, path: Path, commit: dict) -> int:
        name = context.asset_key.to_user_string()
        column = (context.definition_metadata or {}).get(SHARD_BY_METADATA)
        column = getattr(column, "value", column)
        if not isinstance(column, str) or column not in frame.columns:
            raise ValueError(f"{name} is partitioned by shard, so its definition metadata must name its source-id "
                             f"column as {SHARD_BY_METADATA!r} (got {column!r}; columns: {frame.columns})")
        count = len(context.asset_partitions_def.get_partition_keys())
        keys = sorted(context.asset_partition_keys)
        shards = pl.Series(SHARD_COLUMN, [shard_of(v, count) for v in frame[column].to_list()], dtype=pl.String)
        stray = sorted(set(shards.unique().to_list()) - set(keys))
        if stray:
            raise ValueError(f"{name}: rows of shard(s) {stray} (by {column}) in the output for shard(s) {keys}; "
                             "the asset must keep only its partitions' rows")
        return write_shards(frame.with_columns(shards), path, shards=keys, shard_count=count, metadata=commit)

    def load_input(self, context: InputContext) -> pl.DataFrame | pl.LazyFrame:
        path = self._path(context)
        name = context.asset_key.to_user_string()
        try:
            frame, version, commit = scan_table_path(path)
        except TableMissing:
            legacy = path.with_suffix(".parquet")
            hint = f"; {legacy} is from before the lake kept Delta tables" if legacy.is_file() else ""
            raise FileNotFoundError(f"{name} is not in the lake yet ({path}); materialize it first{hint}") from None
        written_for = commit.get(SHARD_COUNT_KEY)
        metadata = {
            "table_version": version,
            "table_uri": str(path),
            "table_data_version": commit.get(DATA_VERSION_KEY) or "unknown",
            "table_written_by_run": commit.get(RUN_ID_KEY) or "not Dagster",
        }
        if context.has_asset_partitions:
            keys = sorted(context.asset_partition_keys)
            every = context.asset_partitions_def.get_partition_keys()
            if written_for is not None and int(written_for) != len(every):
                raise ValueError(f"{name} in the lake is split into {written_for} shards, the definitions into "
                                 f"{len(every)} (WAVECODER_SHARDS): materialize all of its shards again")
            if len(keys) < len(every):
                if written_for is None:
                    raise ValueError(f"{name} in the lake is not sharded ({path}); materialize it by shards "
                                     f"before reading shard(s) {keys} of it")
                frame = frame.filter(pl.col(SHARD_COLUMN).is_in(keys))
            metadata["shards_read"] = ", ".join(keys) if len(keys) < len(every) else "all"
        if written_for is not None:
            frame = frame.drop(SHARD_COLUMN)
        if context.has_asset_partitions and len(context.asset_partition_keys) > 1:
            # Dagster 1.13 keeps input metadata as an observation of one partition; for a read of several
            # shards the run's log has it.
            context.log.info(f"read {name}: " + ", ".join(f"{k} {v}" for k, v in metadata.items()))
        else:
            context.add_input_metadata(metadata)
        if context.dagster_type.typing_type is pl.LazyFrame:
            return frame
        return frame.collect()



def _declared_schema(context: OutputContext) -> TableSchema | None:
    """The asset's own `dagster/column_schema` (definition metadata), where its columns are described."""
    declared = (context.definition_metadata or {}).get("dagster/column_schema")
    if isinstance(declared, TableSchemaMetadataValue):
        declared = declared.schema
    return declared if isinstance(declared, TableSchema) else None


def _table_schema(frame: pl.DataFrame, table: str, declared: TableSchema | None = None) -> TableSchema:
    """The frame's columns and types; each column's description (and constraints) from the declared schema, or
    else from the lake's glossary for that table (`wavecoder_assets.columns`)."""
    described = {c.name: c for c in declared.columns} if declared else {}
    columns = []
    for name, dtype in frame.schema.items():
        spec = described.get(name)
        description = (spec.description if spec else None) or column_description(table, name)
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
