"""Training throughput: tokens/s and model FLOPs utilization of wavecoder_assets.train's loop, against a bare
transformers forward/backward/step loop on the same model, optimizer and batches in the same run.

    python bench/train.py --seq-len 256                                    # CPU, the embedded 0.5B, LoRA
    python bench/train.py --method full --micro-batch 8 --seq-len 2048 --steps 10 --rounds 3 --peak-tflops 989   # H100 SXM bf16
    torchrun --nproc-per-node 8 bench/train.py --method full --optimizer adafactor --parallelism fsdp \
        --micro-batch 4 --seq-len 2048 --steps 10 --peak-tflops 989       # the paper's recipe on a node's 8 GPUs

Under torchrun there is no reference loop: the figures are the whole group's (tokens/s of all ranks, MFU against
the peak of all GPUs) over one run of warm-up + rounds x steps steps.

MFU = 6 * N * tokens/s / peak FLOP/s, N = parameters without the input embedding (a lookup, no matmul); the
6N convention counts weight gradients that LoRA skips, so LoRA's MFU reads high by up to 1/3. Sequences are
fixed-length random tokens with every token a target: throughput does not depend on the text. One untimed
warm-up step (allocation, kernel selection) comes first; figures are medians over steps.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from wavecoder_assets.train import (
    Hyperparameters,
    TokenizedExample,
    collate,
    load_base_model,
    prepare_for_training,
    train,
    weights_dtype,
)
from wavecoder_assets.train.distributed import join_world, leave_world
from wavecoder_assets.train.finetune import make_optimizer


def bare_loop(model, batches: list[dict], hp: Hyperparameters, steps: int) -> list[float]:
    """The reference: HF's own loss, backward, optimizer step; no schedule, clipping or accounting."""
    device = next(model.parameters()).device
    optimizer = make_optimizer([p for p in model.parameters() if p.requires_grad], hp, device)
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=hp.bf16 and device.type == "cuda")
    accumulation = hp.grad_accum_steps(1)
    seconds = []
    for step in range(steps):
        t0 = time.perf_counter()
        for batch in batches[step * accumulation : (step + 1) * accumulation]:
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast:
                loss = model(**batch).loss / accumulation
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t0)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--method", choices=["lora", "full"], default="lora")
    parser.add_argument("--optimizer", choices=["adamw", "adafactor"], default="adamw")
    parser.add_argument("--parallelism", choices=["fsdp", "ddp"], default="fsdp", help="under torchrun")
    parser.add_argument("--steps", type=int, default=2, help="optimizer steps per loop and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (ours, reference)")
    parser.add_argument("--micro-batch", type=int, default=1, help="examples per forward pass of one process")
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--no-bf16", action="store_true", help="GPU: train in fp32 instead of bf16 autocast")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the device's peak dense TFLOP/s in the training dtype (H100 SXM bf16: 989)")
    parser.add_argument("--skip-reference", action="store_true", help="only our loop")
    args = parser.parse_args()

    world = join_world()
    say = print if world.is_main else (lambda *_: None)
    hp = Hyperparameters(method=args.method, max_steps=args.steps, learning_rate=1e-5, optimizer=args.optimizer,
                         micro_batch_size=args.micro_batch, global_batch_size=args.micro_batch * args.grad_accum * world.size,
                         max_length=args.seq_len, warmup_ratio=0.0, bf16=not args.no_bf16, parallelism=args.parallelism,
                         gradient_checkpointing=args.gradient_checkpointing, lora_dropout=0.0)
    t0 = time.perf_counter()
    with world.main_first():
        base = load_base_model(args.base_model, weights_dtype(hp))
    say(f"loaded {args.base_model} in {time.perf_counter() - t0:.1f} s")
    model = prepare_for_training(base.model, hp)
    n = sum(p.numel() for p in model.parameters()) - model.get_input_embeddings().weight.numel()
    device = world.device.type
    say(f"device {torch.cuda.get_device_name() if device == 'cuda' else f'cpu ({torch.get_num_threads()} threads)'} x {world.size}"
        f"{f' ({args.parallelism})' if world.size > 1 else ''}, N = {n / 1e6:.1f}M non-embedding parameters, method {args.method}, "
        f"optimizer {args.optimizer}, micro-batch {args.micro_batch} x accum {args.grad_accum} x {args.seq_len} tokens per process")

    generator = torch.Generator().manual_seed(0)
    n_examples = args.steps * hp.global_batch_size
    ids = torch.randint(0, len(base.tokenizer), (n_examples, args.seq_len), generator=generator).tolist()
    examples = [TokenizedExample(input_ids=x, labels=x) for x in ids]

    batches = [collate(examples[i : i + hp.micro_batch_size], base.tokenizer.pad_token_id) for i in range(0, n_examples, hp.micro_batch_size)]

    def quiet(_: str) -> None:
        pass

    def report(name: str, seconds: list[float]) -> float:
        tokens_per_s = hp.global_batch_size * args.seq_len / statistics.median(seconds)
        peak = args.peak_tflops * 1e12 * world.size if args.peak_tflops else None
        mfu = f"{6 * n * tokens_per_s / peak:.1%}" if peak else "n/a (pass --peak-tflops)"
        say(f"{name:>10}: {statistics.median(seconds):.2f} s/step (median of {len(seconds)}), {tokens_per_s:,.1f} tokens/s, "
            f"{6 * n * tokens_per_s / 1e12:.4f} TFLOP/s model, MFU {mfu}")
        return tokens_per_s

    if world.size > 1:  # train() wraps (FSDP: shards) the model once: one run, its first step the warm-up
        seconds = train(model, base.tokenizer, examples, hp.model_copy(update={"max_steps": 1 + args.rounds * args.steps}), log=quiet).step_seconds
        report("ours", seconds[1:])
        leave_world()
        return
    train(model, base.tokenizer, examples[: hp.global_batch_size], hp.model_copy(update={"max_steps": 1}), log=quiet)  # warm-up, not timed
    # Rounds alternate the two loops, so load from other processes falls on both alike.
    ours, reference = [], []
    for round in range(args.rounds):
        ours += train(model, base.tokenizer, examples, hp, log=quiet).step_seconds
        if not args.skip_reference:
            reference += bare_loop(model, batches, hp, args.steps)
        print(f"round {round + 1}/{args.rounds}: ours {statistics.median(ours):.2f} s/step" + (f", reference {statistics.median(reference):.2f} s/step" if reference else ""))

    ours_tps = report("ours", ours)
    if reference:
        print(f"ratio ours / reference tokens/s: {ours_tps / report('reference', reference):.2f} (target >= 0.95)")


if __name__ == "__main__":
    main()
