"""finetuned_model: a causal LM fine-tuned on CodeOcean (Alpaca prompts, response-only loss, full or LoRA),
saved merged under <lake>/models/<model_name>/ with a model card, the loss curve and the data version it saw."""

import hashlib
import re
import time
from dataclasses import asdict, fields
from typing import Literal

import dagster as dg
import polars as pl
from pydantic import Field

from wavecoder_assets.assets.metadata import counts_md, png_md, table_md
from wavecoder_assets.generate.ocean import content_version
from wavecoder_assets.resources.lake import DuckDBLakeResource, lake_root
from wavecoder_assets.train import (
    Hyperparameters,
    format_prompt,
    load_base_model,
    loss_curve_png,
    merged,
    model_card,
    prepare_for_training,
    save_model_atomic,
    tokenize_code_ocean,
    train,
    weights_dtype,
)

DATA_VERSION_TAG = "dagster/data_version"  # the tag Dagster writes on every materialization
_FOLDER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class FinetuneConfig(dg.Config):
    """Defaults: a few LoRA steps on the embedded Qwen2.5-Coder-0.5B-Instruct, minutes on 2 CPU cores.
    presets.PAPER holds the paper's settings (full fine-tuning, 3 epochs, global batch 512, 2048 tokens, bf16).
    Training runs in one process on one device: full fine-tuning of a 6.7B model (~110 GB of fp32 weights,
    gradients and AdamW state) needs more than one 80 GB GPU, where method=lora fits."""

    model_name: str = Field(default="wavecoder-qwen2.5-coder-0.5b-lora", description="folder under <lake>/models/")
    base_model: str = Field(
        default="qwen2.5-coder-0.5b-instruct",
        description="hub id, local folder, local .gguf file, or an embedded GGUF name (dequantized on load)")
    method: Literal["lora", "full"] = "lora"
    epochs: int = Field(default=3, description="passes over CodeOcean when max_steps <= 0")
    max_steps: int = Field(default=4, description="optimizer steps; <= 0: run `epochs` epochs")
    learning_rate: float = Field(default=2e-4, description="peak lr (the paper, full fine-tuning: 2e-5 or 5e-5)")
    global_batch_size: int = Field(default=1, description="examples per optimizer step (the paper: 256 or 512)")
    micro_batch_size: int = Field(default=1, description="examples per forward pass; gradient accumulation makes up the rest")
    max_length: int = Field(default=512, description="tokens per example (the paper: 2048)")
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    bf16: bool = Field(default=True, description="bf16 autocast on GPU; CPUs train in fp32")
    gradient_checkpointing: bool = False
    seed: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: str = Field(default="all-linear", description='peft target_modules: "all-linear" or a regex')

    def hyperparameters(self) -> Hyperparameters:
        return Hyperparameters(**{f.name: getattr(self, f.name) for f in fields(Hyperparameters)})


def upstream_data_version(context: dg.AssetExecutionContext, frame: pl.DataFrame, key: dg.AssetKey) -> tuple[str, str]:
    """The data version Dagster recorded for the upstream's latest materialization; for a file that reached the
    lake without Dagster, the content version code_ocean itself records. Returns (version, where it came from)."""
    record = context.instance.get_latest_data_version_record(key)
    version = record.event_log_entry.tags.get(DATA_VERSION_TAG) if record else None
    if version:
        return version, "dagster"
    return content_version(frame), "content hash (no Dagster materialization of code_ocean recorded)"


def weights_version(model_dir) -> dg.DataVersion:
    """The saved weights' sha256: downstream evaluation goes stale exactly when the weights change."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.glob("*.safetensors")):
        with path.open("rb") as f:
            while block := f.read(1 << 24):
                digest.update(block)
    return dg.DataVersion(digest.hexdigest()[:32])


@dg.asset(group_name="train", code_version="1", compute_kind="pytorch")
def finetuned_model(
    context: dg.AssetExecutionContext, config: FinetuneConfig, code_ocean: pl.DataFrame, lake: DuckDBLakeResource
) -> dg.Output[pl.DataFrame]:
    """The base model fine-tuned on CodeOcean (instruction + information -> solution), adapters merged, saved
    with save_pretrained: one row naming the folder, the base, the method, the steps, the final loss and the
    CodeOcean data version."""
    if not _FOLDER_NAME.match(config.model_name):
        raise ValueError(f"model_name {config.model_name!r} must be a plain folder name (letters, digits, . _ -)")
    if code_ocean.height == 0:
        raise ValueError("finetuned_model: code_ocean has no rows; materialize it first")
    hp = config.hyperparameters()
    data_version, data_version_source = upstream_data_version(context, code_ocean, dg.AssetKey("code_ocean"))

    started = time.perf_counter()
    base = load_base_model(config.base_model, weights_dtype(hp))
    load_seconds = time.perf_counter() - started
    examples, skipped = tokenize_code_ocean(code_ocean, base.tokenizer, hp.max_length)
    if not examples:
        raise ValueError(f"finetuned_model: every code_ocean row was skipped: {dict(skipped)}")
    if skipped:
        context.log.warning(f"skipped code_ocean rows: {dict(skipped)}")
    model = prepare_for_training(base.model, hp)
    n_params = sum(p.numel() for p in model.parameters())
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    result = train(model, base.tokenizer, examples, hp, log=context.log.info)

    started = time.perf_counter()
    task_counts = dict(code_ocean.group_by("task_name").len().iter_rows())
    png = loss_curve_png(result.losses, title=f"{config.model_name}: training loss")
    base_gguf_file = str(base.gguf_file) if base.gguf_file else None
    card = model_card(
        model_name=config.model_name, base_model=config.base_model, base_gguf_file=base_gguf_file, hp=hp, result=result,
        train_rows=len(examples), skipped=dict(skipped), data_version=data_version, task_counts=task_counts,
    )
    model_dir = save_model_atomic(
        merged(model), base.tokenizer, lake_root(lake.base_dir) / "models" / config.model_name,
        {"README.md": card, "loss_curve.png": png},
    )
    save_seconds = time.perf_counter() - started

    row = pl.DataFrame(
        {
            "model_name": [config.model_name],
            "model_dir": [str(model_dir)],
            "base_model": [config.base_model],
            "base_gguf_file": [base_gguf_file],
            "method": [hp.method],
            "train_rows": [len(examples)],
            "steps": [len(result.losses)],
            "final_loss": [result.losses[-1]],
            "code_ocean_data_version": [data_version],
        },
        schema_overrides={"base_gguf_file": pl.String},
    )
    sample = code_ocean.row(0, named=True)
    metadata = {
        "model_dir": dg.MetadataValue.path(str(model_dir)),
        "train_rows": len(examples),
        "skipped_rows": sum(skipped.values()),
        "examples_seen": len(result.losses) * hp.global_batch_size,
        "epochs_seen": round(len(result.losses) * hp.global_batch_size / len(examples), 3),
        "steps": len(result.losses),
        "first_loss": result.losses[0],
        "final_loss": result.losses[-1],
        "loss_curve": png_md(png, "training loss"),
        "tokens_trained": sum(result.step_tokens),
        "tokens_per_second": round(result.tokens_per_second, 2),
        "seconds_per_step": round(sum(result.step_seconds) / len(result.step_seconds), 2),
        "load_seconds": round(load_seconds, 1),
        "save_seconds": round(save_seconds, 1),
        "parameters": n_params,
        "trainable_parameters": n_trainable,
        "code_ocean_data_version": data_version,
        "code_ocean_data_version_source": data_version_source,
        "per_task": counts_md(code_ocean, ["task_name"]),
        "hyperparameters": dg.MetadataValue.json(asdict(hp)),
        "sample_prompt": dg.MetadataValue.md(f"```\n{format_prompt(sample['instruction'], sample['information'])}\n```"),
    }
    if skipped:
        metadata["skipped"] = table_md(pl.DataFrame({"reason": list(skipped), "rows": list(skipped.values())}).sort("reason"))
    return dg.Output(row, data_version=weights_version(model_dir), metadata=metadata)
