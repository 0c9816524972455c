"""The coreset step: KCenterGreedy over the embedded rows that have code, in selection order. No Dagster here."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import numpy as np
import polars as pl

from wavecoder_assets.coreset.kcenter import kcenter_greedy
from wavecoder_assets.coreset.projected import kcenter_greedy_projected
from wavecoder_assets.coreset.pruned import kcenter_greedy_pruned

Algorithm = Literal["scan", "projected", "pruned"]


@dataclass(frozen=True)
class Selection:
    selected: pl.DataFrame  # the code's columns, rank and radius, in selection order
    candidates: pl.DataFrame  # the embedded rows that have code (id, embedding, the code's columns), in id order
    radii: np.ndarray  # the coverage radius after each pick
    seconds: float  # the k-center search alone


def select_coreset(embeddings: pl.DataFrame, code: pl.DataFrame, k: int, *, seed: int = 0,
                   algorithm: Algorithm = "scan") -> Selection:
    """The min(k, candidates) rows KCenterGreedy (Euclidean, seeded first center) picks among the `embeddings` rows
    (id, embedding) whose id has a `code` row (the first one of an id); each row has its rank and the coverage
    radius after it was picked. Raises ValueError when no embedded row has code."""
    code = code.unique("id", keep="first")
    # In id order: the seeded first center (and so the selection) does not depend on how the shards were stored.
    candidates = embeddings.select("id", "embedding").sort("id").join(code, on="id", how="inner", maintain_order="left")
    if candidates.height == 0:
        raise ValueError("coreset: no embedded rows match filtered_code; materialize code_embeddings first")
    k = min(k, candidates.height)
    started = time.perf_counter()
    vectors = candidates["embedding"].to_numpy()
    if algorithm == "projected":
        indices, radii, _ = kcenter_greedy_projected(vectors, k, seed=seed)
    elif algorithm == "pruned":
        indices, radii, _ = kcenter_greedy_pruned(vectors, k, seed=seed)
    else:
        indices, radii = kcenter_greedy(vectors, k, seed=seed)
    seconds = time.perf_counter() - started
    selected = candidates.drop("embedding")[indices.tolist()].with_columns(
        pl.Series("rank", np.arange(k), dtype=pl.Int64), pl.Series("radius", radii, dtype=pl.Float64))
    return Selection(selected, candidates, radii, seconds)
