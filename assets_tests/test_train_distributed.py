"""Fine-tuning in 2 torchrun processes (gloo on the CPU) on test_train's tiny Qwen2: the asset's own launch path
with FSDP and Adafactor (the paper's recipe), the launcher with DDP and LoRA, each against one process on the same
data. Each launch starts two Python workers (about 15 s on 2 cores)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from assets_tests import test_train
from assets_tests.test_train import code_ocean_fixture, code_ocean_frame
from wavecoder_assets.assets.train import FinetuneConfig, finetuned_model
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource
from wavecoder_assets.train import PAPER_RECIPE, Hyperparameters, format_prompt
from wavecoder_assets.train.run import FinetuneJob, finetune, finetune_with_torchrun

tiny_model_dir = test_train.tiny_model_dir  # the fixture: test_train's tiny random Qwen2

# 4 steps of a global batch of 4 (the 4 rows), 1 example per micro-batch: 2 ranks x 2 accumulated micro-batches.
SETTINGS = dict(max_steps=4, global_batch_size=4, micro_batch_size=1, max_length=256, warmup_ratio=0.0, bf16=False)


def logits(model_dir, tokenizer_dir: str) -> torch.Tensor:
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    ids = tokenizer(format_prompt("Write a Python function that adds two numbers."), return_tensors="pt")["input_ids"]
    with torch.no_grad():
        return AutoModelForCausalLM.from_pretrained(model_dir).eval()(input_ids=ids).logits


def one_process(base_model: str, out: Path, hp: Hyperparameters):
    return finetune(code_ocean_frame(), model_name="one", base_model=base_model, hp=hp, model_dir=out,
                    data_version="v", log=lambda _: None)


def test_materialize_finetuned_model_with_two_fsdp_processes(tiny_model_dir, lake_dir, tmp_path):
    config = FinetuneConfig(model_name="tiny-fsdp", base_model=tiny_model_dir, method="full", optimizer="adafactor",
                            lr_schedule="linear", learning_rate=1e-2, num_processes=2, parallelism="fsdp", **SETTINGS)
    result = dg.materialize([code_ocean_fixture, finetuned_model], resources=resources_for("local", lake_dir=lake_dir),
                            run_config=dg.RunConfig({"finetuned_model": config}))
    assert result.success
    metadata = result.asset_materializations_for_node("finetuned_model")[0].metadata
    assert metadata["processes"].value == 2
    assert metadata["examples_per_rank"].value == [8, 8]  # 4 steps x 4 examples, half on each rank
    row = DuckDBLakeResource(base_dir=lake_dir).query("SELECT * FROM finetuned_model").row(0, named=True)
    assert (row["method"], row["train_rows"], row["steps"]) == ("full", 4, 4)
    card = (Path(row["model_dir"]) / "README.md").read_text()
    assert "2 processes (fsdp), examples per rank: [8, 8]" in card and '"optimizer": "adafactor"' in card

    # The same recipe in one process: the same losses, and the same weights once FSDP's shards are gathered.
    hp = Hyperparameters(method="full", optimizer="adafactor", lr_schedule="linear", learning_rate=1e-2, **SETTINGS)
    reference = one_process(tiny_model_dir, tmp_path / "one", hp)
    assert metadata["final_loss"].value < metadata["first_loss"].value - 0.5
    assert (metadata["first_loss"].value, metadata["final_loss"].value) == pytest.approx(
        (reference.result.losses[0], reference.result.losses[-1]), rel=1e-4)
    trained = logits(row["model_dir"], tiny_model_dir)
    assert torch.allclose(trained, logits(reference.model_dir, tiny_model_dir), atol=1e-3)
    assert not torch.allclose(trained, logits(tiny_model_dir, tiny_model_dir), atol=1e-1)


def test_ddp_lora_in_two_processes_matches_one_process(tiny_model_dir, tmp_path):
    hp = Hyperparameters(method="lora", optimizer="adamw", lr_schedule="cosine", learning_rate=3e-2, lora_dropout=0.0,
                         parallelism="ddp", **SETTINGS)
    lines = []
    run = finetune_with_torchrun(code_ocean_frame(), num_processes=2, model_name="tiny-ddp", base_model=tiny_model_dir,
                                 hp=hp, model_dir=tmp_path / "ddp", data_version="v", log=lines.append)
    assert any(line.startswith("rank 1/2 on cpu") for line in lines)  # the workers' output, streamed
    assert any(line.startswith("step 4/4: loss") for line in lines)
    assert (run.result.world_size, run.result.rank_examples) == (2, [8, 8])
    reference = one_process(tiny_model_dir, tmp_path / "one", hp)
    assert run.result.losses == pytest.approx(reference.result.losses, rel=1e-4)
    assert run.result.step_tokens == reference.result.step_tokens

    trained = logits(run.model_dir, tiny_model_dir)  # adapters merged: a plain model
    assert not any("lora" in name for name in AutoModelForCausalLM.from_pretrained(run.model_dir).state_dict())
    assert torch.allclose(trained, logits(reference.model_dir, tiny_model_dir), atol=1e-3)
    assert not torch.allclose(trained, logits(tiny_model_dir, tiny_model_dir), atol=1e-1)


def test_a_global_batch_that_does_not_split_over_the_processes_fails_before_launch(tmp_path):
    hp = Hyperparameters(method="full", **{**SETTINGS, "global_batch_size": 3})
    with pytest.raises(ValueError, match="not a multiple of micro_batch_size 1 x 2 process"):
        finetune_with_torchrun(code_ocean_frame(), num_processes=2, model_name="x", base_model="never-loaded", hp=hp,
                               model_dir=tmp_path / "x", data_version="v")


def test_a_job_file_fills_missing_hyperparameters_from_the_paper_recipe(tmp_path):
    """The multi-node job file (README): what it leaves out of `hyperparameters` is the paper's, not the 2-core run's."""
    path = tmp_path / "job.json"
    path.write_text('{"code_ocean": "x", "model_name": "m", "base_model": "b", "model_dir": "d", "data_version": "v", '
                    '"hyperparameters": {"epochs": 1}, "result": "r"}')
    assert FinetuneJob.read(path).hp() == Hyperparameters(**(PAPER_RECIPE | {"epochs": 1}))
