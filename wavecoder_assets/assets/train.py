"""finetuned_model: a causal LM fine-tuned on CodeOcean (Alpaca prompts, response-only loss, full or LoRA), in
this process or in `num_processes` torchrun workers (FSDP or DDP), saved merged under <lake>/models/<model_name>/
with a model card, the loss curve, the data version it saw and (for a GGUF base) a GGUF of the merged model."""

import dagster as dg
import polars as pl
from pydantic import Field, model_validator

from wavecoder_assets.assets.metadata import counts_md, png_md, table_md
from wavecoder_assets.fingerprints import code_version
from wavecoder_assets.lakefiles import content_version, lake_root
from wavecoder_assets.resources.lake import DuckDBLakeResource
from wavecoder_assets.train import Hyperparameters, format_prompt
from wavecoder_assets.train.run import FinetuneRun, finetune_in_processes, weights_digest

DATA_VERSION_TAG = "dagster/data_version"  # the tag Dagster writes on every materialization


class FinetuneConfig(dg.Config, Hyperparameters):
    """The hyperparameters (Hyperparameters) and the model and processes they train. Defaults: a few LoRA steps on
    the embedded Qwen2.5-Coder-0.5B-Instruct in this process, minutes on 2 CPU cores. presets.PAPER holds the
    paper's recipe (PAPER_RECIPE) on the 8 GPUs of a node with FSDP: each GPU holds 1/8 of the fp32 weights,
    gradients and optimizer state (~54 GB in all for 6.7B) and trains on 1/8 of every batch."""

    model_name: str = Field(default="wavecoder-qwen2.5-coder-0.5b-lora", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                            description="folder under <lake>/models/: a plain folder name (letters, digits, . _ -)")
    base_model: str = Field(
        default="qwen2.5-coder-0.5b-instruct",
        description="hub id, local folder, local .gguf file, or an embedded GGUF name (dequantized on load)")
    num_processes: int = Field(
        default=1, ge=1, description="1: train in the run's own process; more: that many torchrun workers on this "
                                     "machine (one per GPU; gloo on CPUs). global_batch_size must be a multiple of "
                                     "micro_batch_size x num_processes")

    @model_validator(mode="after")
    def _batch_splits_over_processes(self) -> "FinetuneConfig":
        self.grad_accum_steps(self.num_processes)
        return self


def upstream_data_version(context: dg.AssetExecutionContext, frame: pl.DataFrame, key: dg.AssetKey) -> tuple[str, str]:
    """The data version Dagster recorded for the upstream's latest materialization; for a file that reached the
    lake without Dagster, the content version code_ocean itself records. Returns (version, where it came from)."""
    record = context.instance.get_latest_data_version_record(key)
    version = record.event_log_entry.tags.get(DATA_VERSION_TAG) if record else None
    if version:
        return version, "dagster"
    return content_version(frame), "content hash (no Dagster materialization of code_ocean recorded)"


@dg.asset(group_name="train", code_version=code_version("2", "wavecoder_assets.train"), compute_kind="pytorch",
          deps=["embedded_models"], op_tags={"dagster-ray/config": '{"num_cpus": 1, "num_gpus": 1}'})  # resources.GPU_STEP
def finetuned_model(
    context: dg.AssetExecutionContext, config: FinetuneConfig, code_ocean: pl.DataFrame, lake: DuckDBLakeResource
) -> dg.Output[pl.DataFrame]:
    """The base model fine-tuned on CodeOcean (instruction + information -> solution), adapters merged, saved
    with save_pretrained: one row naming the folder, the base, the method, the steps, the final loss, the
    CodeOcean data version and the GGUF file beside the weights."""
    data_version, data_version_source = upstream_data_version(context, code_ocean, dg.AssetKey("code_ocean"))
    run = finetune_in_processes(code_ocean, num_processes=config.num_processes, model_name=config.model_name,
                                base_model=config.base_model, hp=config, data_version=data_version, log=context.log.info,
                                model_dir=lake_root(lake.base_dir) / "models" / config.model_name)
    return dg.Output(run.row(config.model_name, config.base_model, config, data_version),
                     data_version=dg.DataVersion(weights_digest(run.model_dir)),
                     metadata=_finetune_metadata(run, config, code_ocean, data_version, data_version_source))


def _finetune_metadata(run: FinetuneRun, config: FinetuneConfig, code_ocean: pl.DataFrame, data_version: str,
                       data_version_source: str) -> dict:
    losses, sample = run.result.losses, code_ocean.row(0, named=True)
    metadata = {
        "model_dir": dg.MetadataValue.path(str(run.model_dir)),
        "train_rows": run.train_rows,
        "skipped_rows": sum(run.skipped.values()),
        "examples_seen": len(losses) * config.global_batch_size,
        "epochs_seen": round(len(losses) * config.global_batch_size / run.train_rows, 3),
        "steps": len(losses),
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "loss_curve": png_md(run.loss_png, "training loss"),
        "tokens_trained": sum(run.result.step_tokens),
        "tokens_per_second": round(run.result.tokens_per_second, 2),
        "seconds_per_step": round(sum(run.result.step_seconds) / len(run.result.step_seconds), 2),
        "load_seconds": round(run.load_seconds, 1),
        "save_seconds": round(run.save_seconds, 1),
        "gguf_path": dg.MetadataValue.path(run.gguf_path) if run.gguf_path else "none: the base is not a GGUF",
        "gguf_seconds": round(run.gguf_seconds, 1),
        "parameters": run.parameters,
        "trainable_parameters": run.trainable_parameters,
        "processes": run.result.world_size,
        "examples_per_rank": dg.MetadataValue.json(run.result.rank_examples),
        "code_ocean_data_version": data_version,
        "code_ocean_data_version_source": data_version_source,
        "per_task": counts_md(code_ocean, ["task_name"]),
        "hyperparameters": dg.MetadataValue.json(config.recipe()),
        "sample_prompt": dg.MetadataValue.md(f"```\n{format_prompt(sample['instruction'], sample['information'])}\n```"),
    }
    if run.skipped:
        metadata["skipped"] = table_md(pl.DataFrame({"reason": list(run.skipped), "rows": list(run.skipped.values())})
                                       .sort("reason"))
    return metadata
