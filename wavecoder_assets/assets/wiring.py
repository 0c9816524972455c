"""Wiring every asset shares: a table output versioned by its content, and the loop over a step's shards."""

from collections.abc import Callable
from typing import TypeVar

import dagster as dg
import polars as pl

from wavecoder_assets.assets.settings import rows_in_shards
from wavecoder_assets.lakefiles import content_version

T = TypeVar("T")


def versioned(frame: pl.DataFrame, metadata: dict | None = None, *, output_name: str = "result") -> dg.Output:
    """The table as an output whose data version is its content hash: an unchanged rerun keeps its version, so
    what reads it stays fresh."""
    return dg.Output(frame, output_name=output_name, data_version=dg.DataVersion(content_version(frame)),
                     metadata=metadata or {})


def per_shard(context: dg.AssetExecutionContext, rows: pl.DataFrame, id_column: str,
              run: Callable[[str, pl.DataFrame], T]) -> dict[str, T]:
    """{shard: run(shard, its rows)} for each shard of this step that has rows (by `id_column`), in shard order."""
    out = {}
    for shard in sorted(context.partition_keys):
        part = rows_in_shards(rows, id_column, [shard])
        context.log.info(f"shard {shard}: {part.height} of the {rows.height} rows")
        if not part.is_empty():
            out[shard] = run(shard, part)
    return out
