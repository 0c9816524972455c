"""One fine-tuning run end to end: load the base, tokenize CodeOcean, train, merge, save with a model card.
The finetuned_model asset wires this to the lake and shows its `FinetuneRun` in the UI."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from wavecoder_assets.train.card import loss_curve_png, model_card
from wavecoder_assets.train.data import tokenize_code_ocean
from wavecoder_assets.train.finetune import (
    Hyperparameters,
    TrainResult,
    load_base_model,
    merged,
    prepare_for_training,
    save_model_atomic,
    train,
    weights_dtype,
)

MODEL_ROW_SCHEMA = {"model_name": pl.String, "model_dir": pl.String, "base_model": pl.String,
                    "base_gguf_file": pl.String, "method": pl.String, "train_rows": pl.Int64, "steps": pl.Int64,
                    "final_loss": pl.Float64, "code_ocean_data_version": pl.String}


@dataclass
class FinetuneRun:
    model_dir: Path
    base_gguf_file: str | None
    train_rows: int
    skipped: dict[str, int]
    result: TrainResult
    loss_png: bytes
    parameters: int
    trainable_parameters: int
    load_seconds: float
    save_seconds: float

    def row(self, model_name: str, base_model: str, hp: Hyperparameters, data_version: str) -> pl.DataFrame:
        """The finetuned_model table: one row naming the saved folder and what made it."""
        return pl.DataFrame([{"model_name": model_name, "model_dir": str(self.model_dir), "base_model": base_model,
                              "base_gguf_file": self.base_gguf_file, "method": hp.method, "train_rows": self.train_rows,
                              "steps": len(self.result.losses), "final_loss": self.result.losses[-1],
                              "code_ocean_data_version": data_version}], schema=MODEL_ROW_SCHEMA)


def finetune(code_ocean: pl.DataFrame, *, model_name: str, base_model: str, hp: Hyperparameters, model_dir: Path,
             data_version: str, log: Callable[[str], object] = print) -> FinetuneRun:
    """Fine-tune `base_model` on CodeOcean (instruction + information -> solution) and save the merged model, its
    card and loss curve under `model_dir` (atomically). Raises ValueError when no row is usable."""
    if code_ocean.height == 0:
        raise ValueError("code_ocean has no rows; materialize it first")
    started = time.perf_counter()
    base = load_base_model(base_model, weights_dtype(hp))
    load_seconds = time.perf_counter() - started
    examples, skipped = tokenize_code_ocean(code_ocean, base.tokenizer, hp.max_length)
    if not examples:
        raise ValueError(f"every code_ocean row was skipped: {dict(skipped)}")
    if skipped:
        log(f"skipped code_ocean rows: {dict(skipped)}")
    model = prepare_for_training(base.model, hp)
    parameters = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = train(model, base.tokenizer, examples, hp, log=log)

    started = time.perf_counter()
    png = loss_curve_png(result.losses, title=f"{model_name}: training loss")
    base_gguf_file = str(base.gguf_file) if base.gguf_file else None
    card = model_card(model_name=model_name, base_model=base_model, base_gguf_file=base_gguf_file, hp=hp,
                      result=result, train_rows=len(examples), skipped=dict(skipped), data_version=data_version,
                      task_counts=dict(code_ocean.group_by("task_name").len().iter_rows()))
    saved = save_model_atomic(merged(model), base.tokenizer, model_dir, {"README.md": card, "loss_curve.png": png})
    return FinetuneRun(model_dir=saved, base_gguf_file=base_gguf_file, train_rows=len(examples), skipped=dict(skipped),
                       result=result, loss_png=png, parameters=parameters, trainable_parameters=trainable,
                       load_seconds=load_seconds, save_seconds=time.perf_counter() - started)


def weights_digest(model_dir: Path) -> str:
    """The saved weights' sha256 (first 32 hex digits): what evaluation downstream depends on."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        with path.open("rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
    return digest.hexdigest()[:32]
