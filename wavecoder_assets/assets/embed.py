"""code_embeddings: one vector per filtered code sample (transformers encoder, [CLS] or mean pooling), in shards."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations when the asset is defined.
import time
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import counts_md
from wavecoder_assets.assets.settings import SHARDS, rows_in_shards, sharded
from wavecoder_assets.assets.wiring import per_shard, versioned
from wavecoder_assets.embed import EMBEDDED_MODEL, Encoder
from wavecoder_assets.embed.step import ToEmbed, embed_rows, embedding_table, rows_to_embed
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.lakefiles import lake_root
from wavecoder_assets.resources import GPU_STEP
from wavecoder_assets.resources.lake import DuckDBLakeResource


class CodeEmbeddingsConfig(dg.Config):
    model: str = Field(default=EMBEDDED_MODEL, description="Hub id or local folder of a transformers encoder; the default is embedded (no download)")
    pooling: Literal["auto", "cls", "mean"] = Field(
        default="auto", description="auto: the model's own sentence-transformers pooling if it has one, else [CLS] (the paper)"
    )
    normalize: bool | None = Field(default=None, description="L2-normalize the vectors; None: as the model's sentence-transformers config says")
    max_length: int = Field(default=256, ge=1, description="tokens per snippet (longer ones are truncated)")
    batch_size: int = Field(default=32, ge=1)
    max_rows: int | None = Field(
        default=2000, ge=1, description="embed a seeded random sample of this many rows of all shards (None: all); each "
        "shard embeds its part of the same sample; keeps the default run to minutes on a CPU"
    )
    sample_seed: int = 0
    chunk_rows: int = Field(default=512, ge=1, description="rows per resumable chunk written under "
                            "<lake>/.work/code_embeddings/shard-<i>-of-<n>")
    allow_download: bool = Field(default=False, description="let transformers download the model from the Hub")
    device: str | None = Field(default=None, pattern=r"^(cpu|cuda(:\d+)?|mps)$",
                               description="torch device (cpu, cuda, cuda:<n>, mps); None: cuda when available, else cpu")


@dg.asset(group_name="embed", code_version=code_version("2", "wavecoder_assets.embed"), compute_kind="transformers",
          deps=["embedded_models"], op_tags=GPU_STEP, **sharded("id"))
def code_embeddings(
    context: dg.AssetExecutionContext, config: CodeEmbeddingsConfig, lake: DuckDBLakeResource, filtered_code: pl.DataFrame
) -> dg.Output[pl.DataFrame]:
    """A vector per filtered code sample (the WaveCoder paper embeds each sample before the k-center coreset),
    one shard of the rows (by id) per partition.

    Finished chunks are kept under `<lake>/.work/code_embeddings/shard-<i>-of-<n>/<settings hash>/`, keyed by row
    id, so an interrupted or repeated run embeds only what no chunk holds yet.
    """
    to_embed = rows_to_embed(filtered_code, config.max_rows, seed=config.sample_seed)
    # The cap's sample is drawn from all rows, so the shards together embed what one unsharded run would.
    shards = sorted(context.partition_keys)
    rows = rows_in_shards(to_embed.rows, "id", shards).sort("id")
    encoder = Encoder(config.model, pooling=None if config.pooling == "auto" else config.pooling,
                      normalize=config.normalize, max_length=config.max_length, batch_size=config.batch_size,
                      device=config.device, local_files_only=not config.allow_download)
    work_dir = lake_root(lake.base_dir) / ".work" / "code_embeddings"
    started = time.perf_counter()
    # A work folder per shard: shards embedded at the same time never share chunk files.
    parts = per_shard(context, rows, "id", lambda shard, part: embed_rows(
        part, encoder, work_dir / f"shard-{shard}-of-{len(SHARDS.get_partition_keys())}", chunk_rows=config.chunk_rows,
        progress=lambda done, total: context.log.info(f"shard {shard}: embedded {done}/{total} new rows")))
    seconds = time.perf_counter() - started
    out = embedding_table(rows, [frame for frame, _ in parts.values()], encoder.dim, config.model)
    reused = sum(n for _, n in parts.values())
    return versioned(out, _embedding_metadata(config, encoder, to_embed, out, reused, seconds, shards,
                                              rows_in=filtered_code.height))


def _embedding_metadata(config: CodeEmbeddingsConfig, encoder: Encoder, to_embed: ToEmbed, out: pl.DataFrame,
                        reused: int, seconds: float, shards: list[str], rows_in: int) -> dict:
    embedded = out.height - reused
    return {
        "shards": ", ".join(shards),
        "rows_in": rows_in,
        "rows_embedded": embedded,
        "rows_from_earlier_chunks": reused,
        "skipped_blank_code": to_embed.blank,
        "dropped_duplicate_ids": to_embed.duplicate_ids,
        "capped_at": config.max_rows if config.max_rows is not None else -1,
        "model": config.model,
        "pooling": encoder.pooling,
        "normalized": encoder.normalize,
        "dim": encoder.dim,
        "device": str(encoder.device),
        "seconds": round(seconds, 2),
        "snippets_per_s": round(embedded / seconds, 1) if embedded and seconds > 0 else 0.0,
        "per_language": counts_md(out, ["language"]),
    }
