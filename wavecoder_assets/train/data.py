"""Alpaca-style prompts, tokenization with the loss on response tokens only, and padded batches.

A CodeOcean row maps to Alpaca's fields as instruction -> instruction, information -> input, solution -> output.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import polars as pl
import torch

IGNORE_INDEX = -100  # label value that torch's cross_entropy skips

# The Alpaca templates (tatsu-lab/stanford_alpaca), with a newline after "### Response:" so the answer starts on
# its own line. Evaluation of a fine-tuned model must build its prompts with `format_prompt` as well.
PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


def format_prompt(instruction: str, input: str | None = None) -> str:
    """The Alpaca prompt; the input section is left out when there is no input."""
    if input and input.strip():
        return PROMPT_WITH_INPUT.format(instruction=instruction.strip(), input=input.strip())
    return PROMPT_NO_INPUT.format(instruction=instruction.strip())


@dataclass(frozen=True)
class TokenizedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX on prompt tokens; the response tokens (and EOS) otherwise


def tokenize_example(tokenizer, prompt: str, response: str, max_length: int) -> TokenizedExample | None:
    """Prompt and response are tokenized apart and concatenated, so the prompt/response boundary is exact.

    Too long: the response is cut at max_length. Returns None when the prompt alone leaves no room for a
    response token (such an example has nothing to learn from; the caller counts it as skipped).
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    if len(prompt_ids) >= max_length:
        return None
    input_ids = (prompt_ids + response_ids)[:max_length]
    labels = [IGNORE_INDEX] * len(prompt_ids) + input_ids[len(prompt_ids) :]
    return TokenizedExample(input_ids=input_ids, labels=labels)


def tokenize_code_ocean(frame: pl.DataFrame, tokenizer, max_length: int) -> tuple[list[TokenizedExample], Counter]:
    """CodeOcean rows -> training examples, and the rows skipped, counted by reason."""
    examples, skipped = [], Counter()
    for row in frame.select("instruction", "information", "solution").iter_rows(named=True):
        if not (row["instruction"] or "").strip() or not (row["solution"] or "").strip():
            skipped["empty instruction or solution"] += 1
            continue
        example = tokenize_example(tokenizer, format_prompt(row["instruction"], row["information"]), row["solution"], max_length)
        if example is None:
            skipped[f"prompt longer than max_length {max_length}"] += 1
            continue
        examples.append(example)
    return examples, skipped


def collate(examples: list[TokenizedExample], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-pad to the longest example; padding is masked out of attention and loss."""
    width = max(len(e.input_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), width), dtype=torch.long)
    for i, e in enumerate(examples):
        n = len(e.input_ids)
        input_ids[i, :n] = torch.tensor(e.input_ids)
        labels[i, :n] = torch.tensor(e.labels)
        attention_mask[i, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}
