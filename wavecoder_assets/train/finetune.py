"""Supervised fine-tuning of a causal LM on instruction data: full or LoRA, a plain torch loop, in one process or
in each of several (DDP or FSDP, see `distributed`).

The loop in the spirit of nanoGPT's train.py: Adafactor or AdamW, linear warmup then linear or cosine decay,
gradient accumulation up to the global batch, gradient clipping, bf16 autocast on GPU. The loss is the mean over
response tokens of the whole global batch, over all ranks (not a mean of micro-batch or per-rank means), so
neither accumulation nor the number of processes changes the objective.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pydantic
import torch
import torch.nn.functional as F
from pydantic import ConfigDict, Field, model_validator
from torch.nn.parallel import DistributedDataParallel
from transformers import AutoModelForCausalLM, AutoTokenizer

from wavecoder_assets.llm.models import EMBEDDED_GGUF, embedded_gguf_path, model_cache_dir
from wavecoder_assets.train.data import IGNORE_INDEX, TokenizedExample, collate
from wavecoder_assets.train.distributed import Parallelism, World, current_world, wrap_for_training


class Hyperparameters(pydantic.BaseModel):
    """Defaults: the default run's few LoRA steps, minutes on 2 CPU cores; PAPER_RECIPE is the paper's."""

    model_config = ConfigDict(frozen=True, extra="forbid")  # a misspelt setting is an error, not ignored

    method: Literal["lora", "full"] = "lora"
    epochs: int = Field(default=3, ge=1, description="passes over CodeOcean when max_steps <= 0")
    max_steps: int = Field(default=4, description="optimizer steps; <= 0: run `epochs` epochs")
    learning_rate: float = Field(default=2e-4, gt=0, description="peak lr (the paper, full fine-tuning: 5e-5)")
    optimizer: Literal["adamw", "adafactor"] = Field(
        default="adamw", description="adafactor: transformers' Adafactor with a fixed lr, no parameter scaling (the "
                                     "paper); adamw")
    lr_schedule: Literal["cosine", "linear"] = Field(default="cosine", description="decay to 0 after the warmup")
    global_batch_size: int = Field(default=1, ge=1, description="examples per optimizer step, all processes together "
                                                                "(the paper: 256 or 512)")
    micro_batch_size: int = Field(
        default=1, ge=1, description="examples per forward pass of one process; gradient accumulation makes up the rest")
    parallelism: Parallelism = Field(
        default="fsdp", description="with several processes: fsdp shards weights, gradients and optimizer state "
                                    "over the processes; ddp keeps a full replica in each")
    max_length: int = Field(default=512, ge=1, description="tokens per example, prompt + response (the paper: 2048)")
    warmup_ratio: float = Field(default=0.03, ge=0.0, le=1.0, description="fraction of steps with linear warmup")
    weight_decay: float = Field(default=0.0, ge=0.0)
    grad_clip: float = Field(default=1.0, ge=0.0, description="max gradient norm; 0: no clipping")
    bf16: bool = Field(default=True, description="bf16 autocast on GPU; CPUs train in fp32 (bf16 is slower there)")
    gradient_checkpointing: bool = False
    seed: int = 0
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    lora_target_modules: str = Field(default="all-linear", description='peft target_modules: "all-linear" or a regex '
                                                                       "over module names")

    @model_validator(mode="after")
    def _batch_splits(self) -> Hyperparameters:
        self.grad_accum_steps(1)
        return self

    def grad_accum_steps(self, world_size: int) -> int:
        """Micro-batches per optimizer step in each of `world_size` processes."""
        per_step = self.micro_batch_size * world_size
        if self.global_batch_size % per_step:
            raise ValueError(f"global_batch_size {self.global_batch_size} is not a multiple of micro_batch_size "
                             f"{self.micro_batch_size} x {world_size} process(es)")
        return self.global_batch_size // per_step

    def recipe(self) -> dict:
        """The hyperparameters alone, as JSON values: a subclass's own fields (FinetuneConfig's model) left out."""
        return self.model_dump(mode="json", include=set(Hyperparameters.model_fields))


# The WaveCoder paper's recipe: full fine-tuning, 3 epochs, Adafactor at lr 5e-5 with a linear schedule, global batch
# 512, 2048 tokens, bf16; FSDP when on several GPUs. Gradient checkpointing is not the paper's: it trades compute for
# the activation memory of 4 x 2048-token micro-batches of a 6.7B model.
PAPER_RECIPE = {"method": "full", "epochs": 3, "max_steps": 0, "learning_rate": 5e-5, "optimizer": "adafactor",
                "lr_schedule": "linear", "global_batch_size": 512, "micro_batch_size": 4, "max_length": 2048,
                "bf16": True, "parallelism": "fsdp", "gradient_checkpointing": True}


@dataclass
class BaseModel:
    model: torch.nn.Module
    tokenizer: object
    gguf_file: Path | None  # the GGUF the weights were dequantized from, if any


def load_base_model(base_model: str, dtype: torch.dtype = torch.float32) -> BaseModel:
    """A hub id, a local folder, a local .gguf file, or the name of an embedded GGUF (e.g. qwen2.5-coder-0.5b-instruct)."""
    gguf = embedded_gguf_path(base_model) if base_model in EMBEDDED_GGUF else Path(base_model) if base_model.endswith(".gguf") else None
    path = dequantized_checkpoint(gguf) if gguf else base_model
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return BaseModel(model, tokenizer, gguf)


def dequantized_checkpoint(gguf: Path) -> Path:
    """transformers dequantizes a GGUF on every load (a minute or more here): do it once, and keep the fp32
    checkpoint in the model cache."""
    target = model_cache_dir() / f"{gguf.stem}-{gguf.stat().st_size}-dequantized"
    if (target / "config.json").exists():
        return target
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    # The weights are plain tensors now; the leftover GGUF quantizer marks the model untrainable and
    # unsaveable, so drop it from the model and its config.
    model.hf_quantizer = None
    del model.config.quantization_config
    return save_model_atomic(model, tokenizer, target, {})


def weights_dtype(hp: Hyperparameters) -> torch.dtype:
    """LoRA on a GPU with bf16 keeps the frozen base in bf16 (half the memory; peft keeps the adapters in fp32).
    Full fine-tuning keeps fp32 master weights and trains under bf16 autocast."""
    return torch.bfloat16 if hp.method == "lora" and hp.bf16 and torch.cuda.is_available() else torch.float32


def prepare_for_training(model: torch.nn.Module, hp: Hyperparameters) -> torch.nn.Module:
    """Full fine-tuning trains every weight; LoRA wraps the model in low-rank adapters (peft) and freezes the rest."""
    torch.manual_seed(hp.seed)  # the adapters' random init
    if hp.gradient_checkpointing:
        # non-reentrant: the reentrant kind breaks DDP's and FSDP's gradient hooks
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if hp.method == "full":
        return model
    from peft import LoraConfig, get_peft_model

    if hp.gradient_checkpointing:
        model.enable_input_require_grads()  # checkpointed blocks need an input that requires grad
    config = LoraConfig(r=hp.lora_r, lora_alpha=hp.lora_alpha, lora_dropout=hp.lora_dropout, target_modules=hp.lora_target_modules, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def lr_at(step: int, total_steps: int, hp: Hyperparameters) -> float:
    """Linear warmup, then linear (transformers' get_linear_schedule_with_warmup) or cosine (the Alpaca recipe)
    decay to 0."""
    warmup = math.ceil(hp.warmup_ratio * total_steps)
    if step < warmup:
        return hp.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    if hp.lr_schedule == "linear":
        return hp.learning_rate * (1.0 - progress)
    return hp.learning_rate * 0.5 * (1.0 + math.cos(math.pi * progress))


def total_steps(n_examples: int, hp: Hyperparameters) -> int:
    return hp.max_steps if hp.max_steps > 0 else hp.epochs * math.ceil(n_examples / hp.global_batch_size)


def step_batches(examples: list[TokenizedExample], hp: Hyperparameters, world: World):
    """Endless optimizer steps, each this rank's micro-batches. A step's global batch is the next
    global_batch_size examples of a seeded shuffle (reshuffled each epoch, the same on every rank); rank r takes
    every world_size-th of them from the r-th, as torch's DistributedSampler does."""
    rng = random.Random(hp.seed)

    def indices():
        while True:
            order = list(range(len(examples)))
            rng.shuffle(order)
            yield from order

    stream = indices()
    while True:
        mine = [next(stream) for _ in range(hp.global_batch_size)][world.rank :: world.size]
        yield [[examples[j] for j in mine[i : i + hp.micro_batch_size]] for i in range(0, len(mine), hp.micro_batch_size)]


def make_optimizer(params: list[torch.nn.Parameter], hp: Hyperparameters, device: torch.device) -> torch.optim.Optimizer:
    if hp.optimizer == "adafactor":
        from wavecoder_assets.train.adafactor import ShardAwareAdafactor  # transformers.optimization imports peft: ~2 s

        # a fixed lr driven by our schedule: no relative step, no scaling by the parameters' RMS
        return ShardAwareAdafactor(params, lr=hp.learning_rate, scale_parameter=False, relative_step=False,
                                   warmup_init=False, weight_decay=hp.weight_decay)
    return torch.optim.AdamW(params, lr=hp.learning_rate, weight_decay=hp.weight_decay, fused=device.type == "cuda")


@dataclass
class TrainResult:
    losses: list[float]  # mean response-token loss per optimizer step, over the global batch
    learning_rates: list[float]
    step_seconds: list[float]
    step_tokens: list[int]  # non-padding tokens seen per optimizer step, all ranks together
    world_size: int = 1
    rank_examples: list[int] = field(default_factory=list)  # examples each rank trained on, in rank order

    @property
    def tokens_per_second(self) -> float:
        return sum(self.step_tokens) / max(sum(self.step_seconds), 1e-9)


def train(model: torch.nn.Module, tokenizer, examples: list[TokenizedExample], hp: Hyperparameters,
          log: Callable[[str], None] = print) -> TrainResult:
    """Train `model` in place. Under torch.distributed every rank calls this with the same examples; the model is
    wrapped for hp.parallelism (FSDP shards it in place) and each rank trains on its share of every global batch."""
    if not examples:
        raise ValueError("no training examples")
    world = current_world()
    hp.grad_accum_steps(world.size)  # raises unless the global batch splits evenly over the ranks' micro-batches
    torch.manual_seed(hp.seed)
    device = world.device
    bf16 = hp.bf16 and device.type == "cuda" and torch.cuda.is_bf16_supported()
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)
    wrapped = wrap_for_training(model, hp.parallelism, world)
    wrapped.train()
    params = [p for p in wrapped.parameters() if p.requires_grad]
    optimizer = make_optimizer(params, hp, device)
    steps = total_steps(len(examples), hp)
    batches = step_batches(examples, hp, world)
    result = TrainResult([], [], [], [], world_size=world.size)
    rank_examples = 0
    for step in range(steps):
        t0 = time.perf_counter()
        lr = lr_at(step, steps, hp)
        for group in optimizer.param_groups:
            group["lr"] = lr
        micro = [collate(b, tokenizer.pad_token_id) for b in next(batches)]
        # response tokens in the global batch, every rank's: the loss is their mean
        local_targets = sum(int((b["labels"][:, 1:] != IGNORE_INDEX).sum()) for b in micro)
        (n_targets,) = world.sum(local_targets)
        step_loss = 0.0
        for i, batch in enumerate(micro):
            batch = {k: v.to(device) for k, v in batch.items()}
            # DDP: all-reduce once per step, after the last micro-batch. FSDP reduce-scatters every micro-batch,
            # so gradients stay sharded (skipping that would keep whole gradients on every rank).
            sync = i == len(micro) - 1 or not isinstance(wrapped, DistributedDataParallel)
            with contextlib.nullcontext() if sync else wrapped.no_sync():
                with autocast:
                    logits = wrapped(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
                # token t predicts token t+1: shift the labels, not the (large) logits, to avoid copying them
                targets = F.pad(batch["labels"][:, 1:], (0, 1), value=IGNORE_INDEX)
                loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX,
                                       reduction="sum") / n_targets
                # DDP and FSDP average gradients over the ranks; times world size, that average is the sum
                (loss * world.size).backward()
            step_loss += loss.item()
            rank_examples += len(batch["input_ids"])
        if hp.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(params, hp.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()  # kernels run asynchronously; time the step, not its launch
        step_loss, tokens = world.sum(step_loss, sum(int(b["attention_mask"].sum()) for b in micro))
        seconds = time.perf_counter() - t0
        result.losses.append(step_loss)
        result.learning_rates.append(lr)
        result.step_seconds.append(seconds)
        result.step_tokens.append(int(tokens))
        log(f"step {step + 1}/{steps}: loss {step_loss:.4f}, lr {lr:.2e}, {seconds:.1f} s, {tokens / seconds:.0f} tokens/s")
    result.rank_examples = world.gather(rank_examples)
    return result


def merged(model: torch.nn.Module) -> torch.nn.Module:
    """A plain transformers model: LoRA adapters folded into the base weights."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    model.config.use_cache = True
    return model.eval()


def save_model_atomic(model: torch.nn.Module, tokenizer, out_dir: Path, extra_files: dict[str, bytes | str]) -> Path:
    """save_pretrained into a temp folder beside out_dir, then swap it in: readers never see a half-written model."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        for name, content in extra_files.items():
            (tmp / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        old = out_dir.with_name(f".{out_dir.name}.old")
        if out_dir.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
