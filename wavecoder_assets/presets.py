"""Run-config presets. `default` is every Config class's defaults (minutes on 2 CPU cores);
`paper` sets the sizes of the WaveCoder paper (all of CodeSearchNet, a coreset of 20,000, ...),
for users with the data and GPUs. Each stage adds its own paper overrides here, keyed by asset name."""

from __future__ import annotations

import dagster as dg

from wavecoder_assets.assets.corpus import FilterConfig, RawCodeConfig
from wavecoder_assets.assets.coreset import CoresetConfig
from wavecoder_assets.assets.embed import CodeEmbeddingsConfig

# asset name -> Config instance with the paper's settings
PAPER: dict[str, dg.Config] = {
    # All of CodeSearchNet (original jsonl.gz or Hugging Face parquet layout) from this folder, uncapped.
    "raw_code": RawCodeConfig(source_kind="codesearchnet", paths=["data/codesearchnet"], max_rows_per_language=0),
    "filtered_code": FilterConfig(min_chars=50, max_chars=800),
    # The paper: [CLS] of a pre-trained RoBERTa encoder over every filtered sample (downloads it once), 20,000 centers.
    "code_embeddings": CodeEmbeddingsConfig(model="sentence-transformers/all-roberta-large-v1", pooling="cls", normalize=False,
                                            max_length=512, batch_size=128, max_rows=None, allow_download=True),
    "coreset": CoresetConfig(k=20_000),
}


def paper_run_config() -> dg.RunConfig:
    return dg.RunConfig(ops=dict(PAPER))
