"""Fine-tuning stage: Alpaca prompts, response-only loss, full or LoRA training, merged save with a model card.

No Dagster here; `wavecoder_assets.assets.train` wires it to the lake.
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
