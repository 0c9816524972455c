"""coreset: the diverse subset of filtered code picked by greedy k-center over the embeddings."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations when the asset is defined.
import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import png_md, samples_md, table_md
from wavecoder_assets.assets.wiring import versioned
from wavecoder_assets.coreset.select import Algorithm, Selection, select_coreset
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.plots import line_plot_png
from wavecoder_assets.resources import GPU_STEP

CODE_COLUMNS = ["id", "language", "code", "docstring", "repo", "path", "func_name"]


class CoresetConfig(dg.Config):
    # 64: generated_instructions takes 60 of them by default.
    k: int = Field(default=64, ge=1, description="rows to select (the paper: 20,000); more than there are selects them all")
    seed: int = Field(default=0, description="draws the first center")
    algorithm: Algorithm = Field(
        default="scan",
        description="scan: every row per step in JAX (CPU or GPU, sharded over devices); "
        "projected: CPU (BLAS + numba), skips rows whose distance in the top principal directions already rules "
        "the new center out (86-96% of them on MiniLM code embeddings, yet no faster than the scan on 2 cores: "
        "0.96x at 5,000 rows, 0.77x at 120,000, bench/coreset.py --real); "
        "pruned: NumPy with triangle-inequality pruning, which skips work only on tightly clustered data "
        "(coverage radius below half the center-to-center distances; MiniLM code embeddings are not). Same selection.",
    )


def _before_after(candidates: pl.DataFrame, selected: pl.DataFrame) -> pl.DataFrame:
    before = candidates.group_by("language").len("before")
    after = selected.group_by("language").len("after")
    return before.join(after, on="language", how="left").fill_null(0).sort("language")


@dg.asset(group_name="coreset", code_version=code_version("3", "wavecoder_assets.coreset"), compute_kind="jax",
          op_tags=GPU_STEP)
def coreset(config: CoresetConfig, code_embeddings: pl.DataFrame,
            filtered_code: pl.DataFrame) -> dg.Output[pl.DataFrame]:
    """The rows chosen by KCenterGreedy (Euclidean, seeded first center) over the embeddings of every shard, in
    selection order, with each row's rank and the coverage radius after it was picked."""
    picked = select_coreset(code_embeddings, filtered_code.select(CODE_COLUMNS), config.k, seed=config.seed,
                            algorithm=config.algorithm)
    return versioned(picked.selected, _coreset_metadata(picked, config, embedded=code_embeddings.height))


def _coreset_metadata(picked: Selection, config: CoresetConfig, embedded: int) -> dict:
    radii = picked.radii
    return {
        "k": picked.selected.height,
        "k_requested": config.k,
        "candidates": picked.candidates.height,
        "embeddings_without_code_row": embedded - picked.candidates.height,
        "algorithm": config.algorithm,
        "final_radius": float(radii[-1]),
        "first_radius": float(radii[0]),
        "seconds": round(picked.seconds, 2),
        "radius_vs_k": png_md(line_plot_png(radii, xlabel="k (centers chosen)", ylabel="coverage radius",
                                            title="KCenterGreedy: radius vs k"), "radius vs k"),
        "per_language": table_md(_before_after(picked.candidates, picked.selected)),
        "sample": samples_md(picked.selected, ["rank", "language", "func_name", "radius", "repo"], n=5),
    }
