"""Fine-tuning: Alpaca prompts, response-only loss, real training of a tiny random Qwen2, merged save, and a real
materialization of finetuned_model into a tmp lake. The real 0.5B GGUF base too (about a minute). GGUF export: a tiny
Qwen2 with Qwen's tokenizer, written as GGUF, answers greedily in llama.cpp as it does in transformers, and a
fine-tune from it writes a GGUF of its own."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import dagster as dg
import gguf
import polars as pl
import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from wavecoder_assets.assets.train import FinetuneConfig, finetuned_model
from wavecoder_assets.evaluate.completion import LlamaCppCompleter, Request, TransformersCompleter
from wavecoder_assets.lakefiles import content_version
from wavecoder_assets.llm.models import embedded_gguf_path
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource
from wavecoder_assets.train import (
    IGNORE_INDEX,
    PAPER_RECIPE,
    Hyperparameters,
    TokenizedExample,
    collate,
    format_prompt,
    load_base_model,
    merged,
    prepare_for_training,
    save_model_atomic,
    tokenize_code_ocean,
    tokenize_example,
    train,
)
from wavecoder_assets.train.distributed import World
from wavecoder_assets.train.finetune import dequantized_checkpoint, lr_at, step_batches
from wavecoder_assets.train.gguf_export import write_gguf
from wavecoder_assets.train.run import finetune

CODE_OCEAN_ROWS = [
    ("code_generation", "Write a Python function that adds two numbers.", "", "def add(a, b):\n    return a + b\n"),
    ("code_summarization", "Summarize what this function does.", "def sq(x):\n    return x * x\n", "It returns the square of x."),
    ("code_repair", "Fix the bug in this function.", "def inc(x):\n    return x - 1\n", "def inc(x):\n    return x + 1\n"),
    ("code_translation", "Translate this Python function to JavaScript.", "def neg(x):\n    return -x\n", "function neg(x) {\n  return -x;\n}\n"),
]


def code_ocean_frame() -> pl.DataFrame:
    return pl.DataFrame(
        [
            {"example_id": f"ex{i}", "source_id": f"src{i}", "task_name": task, "language": "python", "instruction": instruction,
             "information": information, "solution": solution, "generator_model": "gen", "judge_model": "judge", "prompt_version": "v1"}
            for i, (task, instruction, information, solution) in enumerate(CODE_OCEAN_ROWS)
        ]
    )


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> str:
    """A randomly initialised 2-layer Qwen2 with a byte-level BPE tokenizer trained here: real classes, tiny sizes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    corpus = [format_prompt(i, x) + s for _, i, x, s in CODE_OCEAN_ROWS] * 5
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|pad|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|pad|>")
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, max_position_embeddings=512, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    path = tmp_path_factory.mktemp("tiny-qwen2")
    Qwen2ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


def tiny_hp(**overrides) -> Hyperparameters:
    settings = dict(method="full", max_steps=3, learning_rate=3e-3, optimizer="adamw", lr_schedule="cosine", global_batch_size=1,
                    micro_batch_size=1, max_length=256, warmup_ratio=0.0, bf16=False)
    return Hyperparameters(**{**settings, **overrides})


def test_alpaca_prompt_with_and_without_input():
    assert format_prompt("Add numbers.", "def f(): pass") == (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nAdd numbers.\n\n### Input:\ndef f(): pass\n\n### Response:\n"
    )
    no_input = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd numbers.\n\n### Response:\n"
    assert format_prompt("Add numbers.", "") == no_input
    assert format_prompt("Add numbers.", None) == no_input
    assert format_prompt("Add numbers.", "  \n") == no_input


def test_loss_is_masked_to_response_tokens(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    prompt, response = format_prompt("Fix the bug.", "def inc(x): return x - 1"), "def inc(x): return x + 1"
    n_prompt = len(tokenizer(prompt)["input_ids"])
    example = tokenize_example(tokenizer, prompt, response, max_length=256)
    assert example.labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
    assert example.labels[n_prompt:] == example.input_ids[n_prompt:]
    assert example.input_ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(example.input_ids[n_prompt:-1]) == response
    assert tokenizer.decode(example.input_ids[:n_prompt]) == prompt

    cut = tokenize_example(tokenizer, prompt, response, max_length=n_prompt + 2)
    assert len(cut.input_ids) == n_prompt + 2 and cut.labels[n_prompt:] == cut.input_ids[n_prompt:]
    assert tokenize_example(tokenizer, prompt, response, max_length=n_prompt) is None  # no room for a response token

    short = tokenize_example(tokenizer, format_prompt("Add.", ""), "1", max_length=256)
    batch = collate([example, short], tokenizer.pad_token_id)
    n_short = len(short.input_ids)
    assert batch["input_ids"].shape == (2, len(example.input_ids))
    assert (batch["labels"][1, n_short:] == IGNORE_INDEX).all() and (batch["attention_mask"][1, n_short:] == 0).all()
    assert (batch["input_ids"][1, n_short:] == tokenizer.pad_token_id).all()
    assert batch["labels"][1, :n_short].tolist() == short.labels


def test_code_ocean_rows_that_cannot_train_are_counted(tiny_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    frame = pl.concat([
        code_ocean_frame(),
        code_ocean_frame().head(1).with_columns(solution=pl.lit("  ")),
        code_ocean_frame().head(1).with_columns(instruction=pl.lit("word " * 400)),
    ])
    examples, skipped = tokenize_code_ocean(frame, tokenizer, max_length=256)
    assert len(examples) == 4
    assert skipped == {"empty instruction or solution": 1, "prompt longer than max_length 256": 1}


def test_training_lowers_the_loss_on_a_repeated_example(tiny_model_dir):
    for method in ("full", "lora"):
        base = load_base_model(tiny_model_dir)
        example = tokenize_example(base.tokenizer, format_prompt(*CODE_OCEAN_ROWS[1][1:3]), CODE_OCEAN_ROWS[1][3], 256)
        hp = tiny_hp(method=method, max_steps=15, learning_rate=1e-2, lora_dropout=0.0)
        result = train(prepare_for_training(base.model, hp), base.tokenizer, [example] * 4, hp, log=lambda _: None)
        assert len(result.losses) == 15
        assert result.losses[-1] < result.losses[0] - 1.0, (method, result.losses)  # from ln(vocab) ~ 6.0
        assert result.tokens_per_second > 0 and result.step_tokens[0] == len(example.input_ids)


def test_adafactor_with_a_linear_schedule_lowers_the_loss(tiny_model_dir):
    """The paper's recipe (PAPER_RECIPE), shrunk: transformers' Adafactor at a fixed lr, linear decay."""
    base = load_base_model(tiny_model_dir)
    example = tokenize_example(base.tokenizer, format_prompt(*CODE_OCEAN_ROWS[1][1:3]), CODE_OCEAN_ROWS[1][3], 256)
    hp = Hyperparameters(**(PAPER_RECIPE | dict(max_steps=15, learning_rate=1e-2, global_batch_size=1, micro_batch_size=1,
                                                max_length=256, warmup_ratio=0.0)))
    assert (hp.method, hp.optimizer, hp.lr_schedule) == ("full", "adafactor", "linear")
    result = train(prepare_for_training(base.model, hp), base.tokenizer, [example] * 4, hp, log=lambda _: None)
    assert result.losses[-1] < result.losses[0] - 1.0, result.losses
    assert result.learning_rates == pytest.approx([1e-2 * (1 - i / 15) for i in range(15)])
    assert (result.world_size, result.rank_examples) == (1, [15])


def test_learning_rate_schedules():
    linear, cosine = (Hyperparameters(learning_rate=1.0, warmup_ratio=0.2, lr_schedule=s) for s in ("linear", "cosine"))
    assert [lr_at(step, 10, linear) for step in range(10)] == pytest.approx([0.5, 1.0, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125])
    assert [lr_at(step, 10, cosine) for step in (0, 1, 2, 6)] == pytest.approx([0.5, 1.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="optimizer"):
        Hyperparameters(optimizer="sgd")
    with pytest.raises(ValueError, match="global_batch_size 3 is not a multiple of micro_batch_size 2"):
        FinetuneConfig(global_batch_size=3, micro_batch_size=2)


def test_each_rank_takes_its_share_of_every_global_batch():
    """Like DistributedSampler: every world_size-th example of the global batch; together, one process's batch."""
    examples = [TokenizedExample(input_ids=[i], labels=[i]) for i in range(6)]
    hp = tiny_hp(global_batch_size=4, micro_batch_size=1)
    ids = lambda batches: [[e.input_ids[0] for micro in next(batches) for e in micro] for _ in range(3)]  # 3 steps, 2 epochs
    one = ids(step_batches(examples, hp, World(rank=0, size=1, device=torch.device("cpu"))))
    ranks = [ids(step_batches(examples, hp, World(rank=r, size=2, device=torch.device("cpu")))) for r in (0, 1)]
    for step in range(3):
        assert ranks[0][step] == one[step][0::2] and ranks[1][step] == one[step][1::2]
    assert sorted(one[0] + one[1][:2]) == list(range(6))  # the first epoch: each example once
    with pytest.raises(ValueError, match="not a multiple of micro_batch_size 1 x 3 process"):
        hp.grad_accum_steps(3)


def test_gradient_accumulation_matches_one_big_batch(tiny_model_dir):
    """Loss over the global batch's response tokens: 1x2 accumulated equals 2x1 padded, step for step."""
    base = load_base_model(tiny_model_dir)
    examples, _ = tokenize_code_ocean(code_ocean_frame(), base.tokenizer, 256)
    runs = {}
    for micro in (1, 2):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
        hp = tiny_hp(max_steps=4, global_batch_size=2, micro_batch_size=micro)
        runs[micro] = train(model, base.tokenizer, examples, hp, log=lambda _: None).losses
    assert runs[1] == pytest.approx(runs[2], rel=1e-4)


def test_lora_training_is_reproducible(tiny_model_dir):
    """Same seed, same losses: adapter init and data order are seeded (the saved weights' hash is the data version)."""
    runs = []
    for _ in range(2):
        base = load_base_model(tiny_model_dir)
        examples, _ = tokenize_code_ocean(code_ocean_frame(), base.tokenizer, 256)
        hp = tiny_hp(method="lora", max_steps=3, global_batch_size=2, learning_rate=1e-2)
        runs.append(train(prepare_for_training(base.model, hp), base.tokenizer, examples, hp, log=lambda _: None).losses)
    assert runs[0] == runs[1]


def test_merged_lora_model_saves_loads_and_generates(tiny_model_dir, tmp_path):
    base = load_base_model(tiny_model_dir)
    examples, _ = tokenize_code_ocean(code_ocean_frame(), base.tokenizer, 256)
    hp = tiny_hp(method="lora", max_steps=3, learning_rate=3e-2, lora_dropout=0.0)
    model = prepare_for_training(base.model, hp)
    train(model, base.tokenizer, examples, hp, log=lambda _: None)
    ids = collate(examples[:1], base.tokenizer.pad_token_id)["input_ids"]
    model.eval()
    with torch.no_grad():
        adapted_logits = model(input_ids=ids).logits
    out = tmp_path / "models" / "tiny-lora"
    for _ in range(2):  # a second save replaces the first atomically
        save_model_atomic(merged(model), base.tokenizer, out, {"README.md": "# card"})
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny-lora"]  # no temp or old folders left
    assert (out / "README.md").read_text() == "# card"

    loaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert not any("lora" in name for name, _ in loaded.named_parameters())
    original = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        assert torch.allclose(loaded(input_ids=ids).logits, adapted_logits, atol=1e-4)
        assert not torch.allclose(original(input_ids=ids).logits, adapted_logits, atol=1e-3)
        generated = loaded.generate(ids, max_new_tokens=5, do_sample=False, pad_token_id=base.tokenizer.pad_token_id)
    assert generated.shape[1] > ids.shape[1]
    assert AutoTokenizer.from_pretrained(out).eos_token == "<|endoftext|>"


@dg.asset(name="code_ocean")
def code_ocean_fixture() -> pl.DataFrame:
    """Stands in for the generation stage's code_ocean: the same columns, written by a real materialization."""
    return code_ocean_frame()


def test_materialize_finetuned_model(tiny_model_dir, lake_dir):
    resources = resources_for("local", lake_dir=lake_dir)
    run_config = dg.RunConfig({"finetuned_model": FinetuneConfig(model_name="tiny-wavecoder", base_model=tiny_model_dir,
                                                                  max_steps=3, learning_rate=3e-2, max_length=256)})
    result = dg.materialize([code_ocean_fixture, finetuned_model], resources=resources, run_config=run_config)
    assert result.success

    upstream = result.asset_materializations_for_node("code_ocean")[0]
    row = DuckDBLakeResource(base_dir=lake_dir).query("SELECT * FROM finetuned_model").row(0, named=True)
    assert row["code_ocean_data_version"] == upstream.tags["dagster/data_version"]
    assert row["model_dir"] == str(Path(lake_dir).resolve() / "models" / "tiny-wavecoder")
    assert (row["base_model"], row["base_gguf_file"], row["method"], row["train_rows"], row["steps"]) == (tiny_model_dir, None, "lora", 4, 3)
    assert row["gguf_path"] is None  # no base GGUF to take the tokenizer from
    assert row["final_loss"] > 0

    model = AutoModelForCausalLM.from_pretrained(row["model_dir"])
    assert model.config.model_type == "qwen2" and getattr(model.config, "quantization_config", None) is None
    card = (Path(row["model_dir"]) / "README.md").read_text()
    assert upstream.tags["dagster/data_version"] in card and "arXiv:2312.14187" in card and "code_repair | 1" in card

    materialization = result.asset_materializations_for_node("finetuned_model")[0]
    metadata = materialization.metadata
    png = re.search(r"base64,([A-Za-z0-9+/=]+)\)", metadata["loss_curve"].value).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG")
    assert metadata["steps"].value == 3 and metadata["tokens_per_second"].value > 0
    assert re.fullmatch(r"[0-9a-f]{32}", materialization.tags["dagster/data_version"])  # the weights' hash

    # A code_ocean file that reached the lake without Dagster: its content version stands in for the data version.
    result = dg.materialize([code_ocean_fixture, finetuned_model], resources=resources_for("local", lake_dir=lake_dir),
                            run_config=run_config, selection=[finetuned_model])
    metadata = result.asset_materializations_for_node("finetuned_model")[0].metadata
    assert metadata["code_ocean_data_version_source"].value.startswith("content hash")
    assert metadata["code_ocean_data_version"].value == content_version(code_ocean_frame())


def test_empty_code_ocean_is_a_clear_error(tiny_model_dir, lake_dir):
    @dg.asset(name="code_ocean")
    def empty_code_ocean() -> pl.DataFrame:
        return code_ocean_frame().clear()

    run_config = dg.RunConfig({"finetuned_model": FinetuneConfig(base_model=tiny_model_dir)})
    with pytest.raises(ValueError, match="code_ocean has no rows"):
        dg.materialize([empty_code_ocean, finetuned_model], resources=resources_for("local", lake_dir=lake_dir), run_config=run_config)


def test_embedded_gguf_base_trains_and_saves(tmp_path):
    base = load_base_model("qwen2.5-coder-0.5b-instruct")
    assert base.gguf_file is not None and "quantization_config" not in base.model.config.to_dict()
    examples, _ = tokenize_code_ocean(code_ocean_frame().head(1), base.tokenizer, 128)
    hp = Hyperparameters(method="lora", max_steps=1, global_batch_size=1, micro_batch_size=1, max_length=128)
    model = prepare_for_training(base.model, hp)
    result = train(model, base.tokenizer, examples, hp, log=lambda _: None)
    assert 0 < result.losses[0] < 10
    out = save_model_atomic(merged(model), base.tokenizer, tmp_path / "qwen", {})
    assert AutoModelForCausalLM.from_pretrained(out).config.model_type == "qwen2"


EMBEDDED_BASE = "qwen2.5-coder-0.5b-instruct"


def greedy_transformers(model, tokenizer, prompt: str, n_tokens: int) -> list[int]:
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.eval().generate(ids, max_new_tokens=n_tokens, do_sample=False, temperature=None, top_p=None,
                                    top_k=None, pad_token_id=tokenizer.pad_token_id)
    return out[0, ids.shape[1]:].tolist()


def greedy_llama_cpp(gguf_path: Path, tokenizer, prompt: str, n_tokens: int) -> list[int]:
    """llama.cpp's greedy tokens, up to n_tokens or the end of sequence (where transformers stops too)."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf_path), n_threads=1, n_ctx=512, verbose=False)
    ids = llm.tokenize(prompt.encode(), special=True)
    assert ids == tokenizer(prompt).input_ids  # the copied tokenizer splits the prompt as transformers' does
    tokens = []
    for token in llm.generate(ids, temp=0.0, top_k=1):
        tokens.append(token)
        if len(tokens) == n_tokens or token == tokenizer.eos_token_id:
            break
    llm.close()
    return tokens


@pytest.fixture(scope="module")
def tiny_gguf_base(tmp_path_factory) -> tuple[Path, torch.nn.Module, object]:
    """A tiny Qwen2 with the embedded base's tokenizer (151,936 tokens), trained on CODE_OCEAN_ROWS until its greedy
    answers are sure (a random model's near-ties would flip under Q8_0 rounding), written as GGUF with the embedded
    base GGUF's tokenizer: (GGUF path, model, tokenizer)."""
    base_gguf = embedded_gguf_path(EMBEDDED_BASE)
    tokenizer = AutoTokenizer.from_pretrained(dequantized_checkpoint(base_gguf))
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False)
    model = Qwen2ForCausalLM(config)
    examples, _ = tokenize_code_ocean(code_ocean_frame(), tokenizer, 256)
    train(model, tokenizer, examples, tiny_hp(max_steps=40, learning_rate=1e-2, global_batch_size=4), log=lambda _: None)
    path = write_gguf(model.eval(), tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2-q8_0.gguf", base_gguf=base_gguf,
                      model_name="tiny-qwen2")
    return path, model, tokenizer


def test_gguf_export_answers_as_transformers_does(tiny_gguf_base):
    path, model, tokenizer = tiny_gguf_base
    reader, base = gguf.GGUFReader(path), gguf.GGUFReader(embedded_gguf_path(EMBEDDED_BASE))
    for key in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "tokenizer.chat_template",
                "tokenizer.ggml.eos_token_id", "tokenizer.ggml.pre"):
        assert reader.fields[key].contents() == base.fields[key].contents(), key
    assert reader.fields["general.name"].contents() == "tiny-qwen2"
    assert (reader.fields["qwen2.block_count"].contents(), reader.fields["qwen2.embedding_length"].contents()) == (2, 64)
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["blk.0.attn_q.bias"] == types["output_norm.weight"] == "F32"
    assert len(types) == len(model.state_dict())

    for _, instruction, information, _ in CODE_OCEAN_ROWS[:3]:
        prompt = format_prompt(instruction, information)
        expected = greedy_transformers(model, tokenizer, prompt, 16)
        assert len(expected) >= 8  # a real answer, not an immediate end of sequence
        assert greedy_llama_cpp(path, tokenizer, prompt, 16) == expected, tokenizer.decode(expected)


def test_finetune_from_a_gguf_base_writes_a_gguf(tiny_gguf_base, tmp_path, monkeypatch):
    """transformers reads the exported GGUF back (dequantized) as a base; the fine-tuned model's own GGUF answers
    in llama.cpp as the saved safetensors do in transformers."""
    monkeypatch.setenv("WAVECODER_MODEL_CACHE", str(tmp_path / "cache"))  # the tiny base's dequantized copy
    path, _, tokenizer = tiny_gguf_base
    run = finetune(code_ocean_frame(), model_name="tiny-from-gguf", base_model=str(path), data_version="v1",
                   hp=tiny_hp(method="lora", max_steps=1, learning_rate=1e-3), model_dir=tmp_path / "tiny-from-gguf",
                   log=lambda _: None)
    assert run.gguf_path == str(tmp_path / "tiny-from-gguf" / "tiny-from-gguf-q8_0.gguf")
    row = run.row("tiny-from-gguf", str(path), tiny_hp(method="lora"), "v1").row(0, named=True)
    assert (row["gguf_path"], row["base_gguf_file"]) == (run.gguf_path, str(path))
    card = (run.model_dir / "README.md").read_text()
    assert "llama-cli -m tiny-from-gguf-q8_0.gguf" in card and "FROM ./tiny-from-gguf-q8_0.gguf" in card

    finetuned = AutoModelForCausalLM.from_pretrained(run.model_dir)
    prompt = format_prompt(*CODE_OCEAN_ROWS[0][1:3])
    expected = greedy_transformers(finetuned, tokenizer, prompt, 16)
    assert len(expected) >= 8 and greedy_llama_cpp(Path(run.gguf_path), tokenizer, prompt, 16) == expected

    # eval_scores' two backends: the GGUF behind llama.cpp's server answers as the folder does in transformers
    requests = [Request(f"r{i}", instruction, information, "", (), "python") for i, (_, instruction, information, _)
                in enumerate(CODE_OCEAN_ROWS[:2])]
    served = LlamaCppCompleter(run.gguf_path, max_new_tokens=12, n_threads=1)
    answers = served.complete(requests)
    assert answers == TransformersCompleter(str(run.model_dir), max_new_tokens=12).complete(requests)
    assert served.generated_tokens > 0 and not served.server.running
