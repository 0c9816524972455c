"""Embed a table in chunks that are written as they finish, so an interrupted run keeps its work.

Chunks live in `<work_dir>/<fingerprint>/chunk-*.parquet`, where the fingerprint names the model and every
setting that changes the vectors; rows are keyed by id (a content hash), so a rerun embeds only the ids no
chunk holds yet.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from wavecoder_assets.embed.encoder import Encoder
from wavecoder_assets.lakefiles import write_parquet_atomic


def encoder_fingerprint(encoder: Encoder) -> str:
    settings = {
        "model": encoder.name,
        "pooling": encoder.pooling,
        "normalize": encoder.normalize,
        "max_length": encoder.max_length,
        "dtype": str(encoder.model.dtype),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _embedding_frame(ids: list[str], vectors: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame(
        {"id": ids, "embedding": vectors},
        schema={"id": pl.String, "embedding": pl.Array(pl.Float32, vectors.shape[1])},
    )


def embed_resumable(
    ids: list[str],
    texts: list[str],
    encoder: Encoder,
    work_dir: Path,
    *,
    chunk_rows: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[pl.DataFrame, int]:
    """(id, embedding) for every id, in the order given, and how many rows came from earlier chunks.

    Ids must be unique. Each chunk of `chunk_rows` new rows is written atomically once embedded.
    """
    if len(set(ids)) != len(ids):
        raise ValueError("embed_resumable: ids must be unique")
    chunk_dir = Path(work_dir) / encoder_fingerprint(encoder)
    chunk_dir.mkdir(parents=True, exist_ok=True)
    existing = sorted(chunk_dir.glob("chunk-*.parquet"))
    done = pl.concat([pl.read_parquet(p) for p in existing]) if existing else _embedding_frame([], np.zeros((0, encoder.dim), np.float32))
    done = done.unique("id", keep="first").filter(pl.col("id").is_in(ids))
    reused = done.height
    have = set(done["id"].to_list())
    todo = [i for i, id_ in enumerate(ids) if id_ not in have]
    next_chunk = max((int(p.stem.split("-")[1]) for p in existing), default=-1) + 1
    parts = [done]
    for start in range(0, len(todo), chunk_rows):
        rows = todo[start : start + chunk_rows]
        chunk = _embedding_frame([ids[i] for i in rows], encoder.encode([texts[i] for i in rows]))
        write_parquet_atomic(chunk, chunk_dir / f"chunk-{next_chunk:06d}.parquet")
        next_chunk += 1
        parts.append(chunk)
        if progress:
            progress(min(start + chunk_rows, len(todo)), len(todo))
    by_id = pl.concat(parts)
    ordered = pl.DataFrame({"id": ids}).join(by_id, on="id", how="left", maintain_order="left")
    return ordered, reused
