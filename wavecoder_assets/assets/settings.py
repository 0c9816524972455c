"""The shards: the partitions of the embedding and LLM assets, whose rows are split by a stable hash of their
source id (hashing.shard_of), so each shard is computed, rerun and versioned on its own."""

from __future__ import annotations

import os
from collections.abc import Sequence

import dagster as dg
import polars as pl
from dagster._core.definitions.data_version import SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD

from wavecoder_assets.hashing import shard_of
from wavecoder_assets.resources.lake import SHARD_BY_METADATA

SHARDS_ENV = "WAVECODER_SHARDS"
DEFAULT_SHARDS = 4


def shard_count() -> int:
    """$WAVECODER_SHARDS, else DEFAULT_SHARDS: read when the definitions load (the partitions are part of them).
    Below Dagster's SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD (100): from that many upstream partitions on,
    Dagster stops checking the edge, and an unpartitioned reader (coreset, code_ocean) would never turn stale."""
    text = os.environ.get(SHARDS_ENV, str(DEFAULT_SHARDS))
    if not text.isdigit() or not 1 <= int(text) < SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD:
        raise ValueError(f"{SHARDS_ENV} must be a whole number from 1 to "
                         f"{SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD - 1}, not {text!r} (from "
                         f"{SKIP_PARTITION_DATA_VERSION_DEPENDENCY_THRESHOLD} shards on Dagster no longer marks "
                         "the readers of all shards stale)")
    return int(text)


SHARDS = dg.StaticPartitionsDefinition([str(i) for i in range(shard_count())])


def sharded(source_id_column: str) -> dict:
    """The keyword arguments that shard an @asset by `source_id_column`: the SHARDS partitions, one run per shard in
    a backfill (a failed shard fails, and reruns, alone), and the column the IO manager assigns rows by."""
    return {"partitions_def": SHARDS, "backfill_policy": dg.BackfillPolicy.multi_run(1),
            "metadata": {SHARD_BY_METADATA: source_id_column}}


def rows_in_shards(frame: pl.DataFrame, source_id_column: str, shards: Sequence[str]) -> pl.DataFrame:
    """The rows whose source id falls in one of `shards`."""
    count = len(SHARDS.get_partition_keys())
    keys = set(shards)
    return frame.filter(pl.Series([shard_of(v, count) in keys for v in frame[source_id_column].to_list()],
                                  dtype=pl.Boolean))
