"""Fine-tuning stage: Alpaca prompts, response-only loss, full or LoRA training, merged save with a model card.

No Dagster here; `wavecoder_assets.assets.train` wires it to the lake.

One process trains on one device (`run.finetune`). Several train one model under torch.distributed
(`distributed`): FSDP (FSDP2's fully_shard: weights, gradients and optimizer state sharded) or DDP (a replica
each), nccl on GPUs and gloo on CPUs; each rank takes its share of every global batch, gradients are accumulated
up to the global batch, and rank 0 gathers the full weights and saves them with the card. The finetuned_model
asset launches one node's workers itself (`num_processes`: `python -m torch.distributed.run --standalone
--nproc-per-node N -m wavecoder_assets.train.worker JOB.json`) and reads rank 0's result back.

Several nodes: put the lake and a job file (`run.FinetuneJob` as JSON; missing hyperparameters take the paper's
recipe) on storage every node sees, then start the same worker on every node with torchrun (by hand, from
Slurm's srun, or a Kubernetes job)::

    {"code_ocean": "/mnt/lake/data_lake/code_ocean", "model_name": "wavecoder-ds-6.7b",
     "base_model": "deepseek-ai/deepseek-coder-6.7b-base", "model_dir": "/mnt/lake/data_lake/models/wavecoder-ds-6.7b",
     "data_version": "<code_ocean's data version>", "hyperparameters": {"epochs": 1},
     "result": "/mnt/lake/runs/wavecoder-ds-6.7b.json"}

    torchrun --nnodes 4 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HEAD_HOST:29500 \
        --rdzv-id wavecoder-ds-6.7b -m wavecoder_assets.train.worker /mnt/lake/runs/job.json

With Ray Train instead, each Ray worker runs `worker.run_job` (Ray makes the process group)::

    from ray.train import ScalingConfig
    from ray.train.torch import TorchTrainer
    from wavecoder_assets.train.worker import run_job

    TorchTrainer(lambda: run_job("/mnt/lake/runs/job.json"),
                 scaling_config=ScalingConfig(num_workers=32, use_gpu=True)).fit()

Either way the run happens outside Dagster: the model folder and result file are written, but no finetuned_model
materialization is recorded.
"""

from wavecoder_assets.train.card import loss_curve_png, model_card
from wavecoder_assets.train.data import (
    IGNORE_INDEX,
    TokenizedExample,
    collate,
    format_prompt,
    tokenize_code_ocean,
    tokenize_example,
)
from wavecoder_assets.train.finetune import (
    PAPER_RECIPE,
    BaseModel,
    Hyperparameters,
    TrainResult,
    load_base_model,
    merged,
    prepare_for_training,
    save_model_atomic,
    train,
    weights_dtype,
)

__all__ = [
    "IGNORE_INDEX",
    "PAPER_RECIPE",
    "BaseModel",
    "Hyperparameters",
    "TokenizedExample",
    "TrainResult",
    "collate",
    "format_prompt",
    "load_base_model",
    "loss_curve_png",
    "merged",
    "model_card",
    "prepare_for_training",
    "save_model_atomic",
    "tokenize_code_ocean",
    "tokenize_example",
    "train",
    "weights_dtype",
]
