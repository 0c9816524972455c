"""Stage 3: a diverse subset by greedy k-center (KCenterGreedy) over the embeddings. No Dagster here."""

from wavecoder_assets.coreset.kcenter import kcenter_greedy

__all__ = ["kcenter_greedy"]
