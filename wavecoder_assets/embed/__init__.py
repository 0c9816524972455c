"""Stage 2: code embeddings (transformers encoder, [CLS] or mean pooling), resumable in chunks. No Dagster here."""

from wavecoder_assets.embed.encoder import EMBEDDED_MODEL, Encoder, embedded_minilm_dir, resolve_model, sentence_config
from wavecoder_assets.embed.resumable import embed_resumable, encoder_fingerprint

__all__ = ["EMBEDDED_MODEL", "Encoder", "embed_resumable", "embedded_minilm_dir", "encoder_fingerprint", "resolve_model", "sentence_config"]
