"""The loss-curve plot and the model card (README.md) saved beside a fine-tuned model."""

from __future__ import annotations

import json

from wavecoder_assets import CITATION
from wavecoder_assets.plots import line_plot_png
from wavecoder_assets.train.data import PROMPT_NO_INPUT, PROMPT_WITH_INPUT
from wavecoder_assets.train.finetune import Hyperparameters, TrainResult


def loss_curve_png(losses: list[float], title: str = "training loss") -> bytes:
    return line_plot_png(losses, xlabel="optimizer step", ylabel="loss (response tokens)", title=title)


def model_card(
    *,
    model_name: str,
    base_model: str,
    base_gguf_file: str | None,
    hp: Hyperparameters,
    result: TrainResult,
    train_rows: int,
    skipped: dict[str, int],
    data_version: str,
    task_counts: dict[str, int],
    gguf_name: str | None,
) -> str:
    hyperparameters = json.dumps(hp.recipe(), indent=2)
    tasks = "\n".join(f"| {task} | {n} |" for task, n in sorted(task_counts.items()))
    losses = ", ".join(f"{x:.4f}" for x in result.losses)
    gguf = f" (weights dequantized from `{base_gguf_file}`)" if base_gguf_file else ""
    processes = (f"{result.world_size} processes ({hp.parallelism}), examples per rank: {result.rank_examples}."
                 if result.world_size > 1 else "One process.")
    return f"""---
library_name: transformers
base_model: {base_model}
tags: [code, wavecoder, instruction-tuning, {hp.method}]
---
# {model_name}

`{base_model}`{gguf} fine-tuned on CodeOcean-style instruction data made by the WaveCoder pipeline
(Generator-Discriminator instructions from a diverse coreset of open-source code). The adapters, if any, are
merged: this folder loads with `AutoModelForCausalLM.from_pretrained`.

## Data
- CodeOcean data version: `{data_version}`
- rows in the training set: {train_rows}; skipped: {dict(skipped) or "none"}

| task | rows |
|---|---|
{tasks}

## Training
Method `{hp.method}`, {len(result.losses)} optimizer steps of {hp.global_batch_size} examples, {sum(result.step_tokens)} tokens, {result.tokens_per_second:.1f} tokens/s,
final loss {result.losses[-1]:.4f}. Loss on response tokens only. {processes}

```json
{hyperparameters}
```

![loss curve](loss_curve.png)

Loss per step: {losses}

{_running_it(model_name, gguf_name)}

## Prompt format (Alpaca)
With an input:
```
{PROMPT_WITH_INPUT}```
Without:
```
{PROMPT_NO_INPUT}```

## Intended use
Research on instruction tuning of code LLMs: code generation, summarization, translation and repair, and
comparing data-generation strategies. Generated code is untrusted; run it only in a sandbox. A model trained
for a few steps on a CPU (the pipeline's default) is a smoke test of the pipeline, not a useful model.

## Citation
```bibtex
{CITATION}
```
"""


def _running_it(model_name: str, gguf_name: str | None) -> str:
    """How to run the GGUF beside the weights with llama.cpp, llama-cpp-python and Ollama."""
    if gguf_name is None:
        return ("## GGUF\nNo GGUF was written: the base model was not a GGUF to take the tokenizer from. Convert this "
                "folder with llama.cpp's `convert_hf_to_gguf.py`.")
    return f"""## Running it with llama.cpp or Ollama
`{gguf_name}` in this folder is the same merged model as GGUF, with the base GGUF's tokenizer and chat template:

```bash
llama-cli -m {gguf_name} -p "Write a Python function that reverses a string." -n 256    # llama.cpp
python -m llama_cpp.server --model {gguf_name} --port 8000    # an OpenAI-compatible endpoint (llama-cpp-python)
printf 'FROM ./{gguf_name}\n' > Modelfile && ollama create {model_name} -f Modelfile && ollama run {model_name}
```

For the answers the evaluation scored, send the Alpaca prompt below as a plain completion, not a chat."""
