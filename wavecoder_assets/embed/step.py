"""The code_embeddings step: which rows it embeds, one shard's vectors and the table of all shards. No Dagster here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from wavecoder_assets.embed.encoder import Encoder
from wavecoder_assets.embed.resumable import embed_resumable


@dataclass(frozen=True)
class ToEmbed:
    rows: pl.DataFrame  # id, language, code
    blank: int  # rows skipped for blank code
    duplicate_ids: int  # rows dropped for an id an earlier row has


def rows_to_embed(code: pl.DataFrame, max_rows: int | None, seed: int = 0) -> ToEmbed:
    """The rows with code, the first of each id, and of more than max_rows (None: no cap) a seeded sample."""
    rows = code.select("id", "language", "code")
    is_blank = pl.col("code").is_null() | (pl.col("code").str.strip_chars() == "")
    blank = rows.filter(is_blank).height
    rows = rows.filter(~is_blank)
    duplicate_ids = rows.height - rows["id"].n_unique()
    rows = rows.unique("id", keep="first", maintain_order=True)
    if max_rows is not None and rows.height > max_rows:
        rows = rows.sample(n=max_rows, seed=seed)
    return ToEmbed(rows, blank, duplicate_ids)


def embed_rows(rows: pl.DataFrame, encoder: Encoder, work_dir: Path, *, chunk_rows: int,
               progress: Callable[[int, int], None] | None = None) -> tuple[pl.DataFrame, int]:
    """(id, language, embedding) of the rows in their order, and how many vectors came from the chunks an earlier
    run left in work_dir (see embed_resumable)."""
    vectors, reused = embed_resumable(rows["id"].to_list(), rows["code"].to_list(), encoder, work_dir,
                                      chunk_rows=chunk_rows, progress=progress)
    return rows.select("id", "language").with_columns(vectors["embedding"]), reused


def embedding_table(rows: pl.DataFrame, parts: list[pl.DataFrame], dim: int, model: str) -> pl.DataFrame:
    """The shards' tables (embed_rows) one after the other, with the model's name; with none, no row of `rows`."""
    if not parts:
        parts = [rows.clear().select("id", "language").with_columns(
            pl.Series("embedding", [], dtype=pl.Array(pl.Float32, dim)))]
    return pl.concat(parts).with_columns(pl.lit(model, dtype=pl.String).alias("model"))
