"""Run-config presets. `default` is every Config class's defaults (minutes on 2 CPU cores);
`paper` sets the sizes of the WaveCoder paper (all of CodeSearchNet, a coreset of 20,000, ...),
for users with the data and GPUs. Each stage adds its own paper overrides here, keyed by asset name."""

from __future__ import annotations

import dagster as dg

from wavecoder_assets.assets.coreset import CoresetConfig
from wavecoder_assets.assets.corpus import FilterConfig, RawCodeConfig
from wavecoder_assets.assets.embed import CodeEmbeddingsConfig
from wavecoder_assets.assets.evaluate import EvalConfig
from wavecoder_assets.assets.generate import GenerateConfig
from wavecoder_assets.assets.strategies import EvolInstructionsConfig, OssInstructionsConfig, StrategyReportConfig
from wavecoder_assets.assets.train import FinetuneConfig

# asset name -> Config instance with the paper's settings
PAPER: dict[str, dg.Config] = {
    # All of CodeSearchNet (original jsonl.gz or Hugging Face parquet layout) from this folder, uncapped.
    "raw_code": RawCodeConfig(source_kind="codesearchnet", paths=["data/codesearchnet"], max_rows_per_language=0),
    "filtered_code": FilterConfig(min_chars=50, max_chars=800),
    # The paper: [CLS] of a pre-trained RoBERTa encoder over every filtered sample (downloads it once), 20,000 centers.
    "code_embeddings": CodeEmbeddingsConfig(model="sentence-transformers/all-roberta-large-v1", pooling="cls", normalize=False,
                                            max_length=512, batch_size=128, max_rows=None, allow_download=True),
    "coreset": CoresetConfig(k=20_000),
    # Every coreset row (-> ~19.9k CodeOcean examples in the paper), the released script's token limits (800 / 500),
    # few-shot examples refreshed over 10 rounds; decontaminated against HumanEval and MBPP (the shipped copies).
    "generated_instructions": GenerateConfig(max_sources=None, rounds=10, generator_max_tokens=800, judge_max_tokens=500),
    # WizardCoder: every CodeOcean instruction, 3 rounds; Magicoder: ~75k snippets, answers up to 2,500 tokens.
    # The judge rates a 2,000-row sample of each for the report's pass rate.
    "evol_instructions": EvolInstructionsConfig(max_seeds=None, rounds=3, judge_equality=True, judge_max_rows=2000,
                                                evolve_max_tokens=1024, answer_max_tokens=2048),
    "oss_instructions": OssInstructionsConfig(n_seeds=75_000, max_tokens=2500, judge_max_rows=2000),
    "strategy_report": StrategyReportConfig(max_embed_rows=20_000, sandbox_max_runs=2000),
    # WaveCoder-DS-6.7B: full fine-tuning, 3 epochs, Adafactor at lr 5e-5 with a linear schedule, global batch 512,
    # 2048 tokens, bf16; FSDP over the 8 GPUs of a node (512 = 4 per micro-batch x 8 GPUs x 16 accumulation steps).
    "finetuned_model": FinetuneConfig(model_name="wavecoder-ds-6.7b", base_model="deepseek-ai/deepseek-coder-6.7b-base", method="full",
                                      max_steps=0, epochs=3, learning_rate=5e-5, optimizer="adafactor", lr_schedule="linear",
                                      global_batch_size=512, micro_batch_size=4, max_length=2048, bf16=True,
                                      gradient_checkpointing=True, num_processes=8, parallelism="fsdp"),
    # The paper's table: greedy pass@1 on all of HumanEval, MBPP (500), HumanEvalFix and HumanEvalExplain in six languages.
    "eval_scores": EvalConfig(benchmarks=["humaneval", "mbpp", "humanevalfix", "humanevalexplain"],
                              languages=["python", "js", "go", "java", "cpp", "rust"], limit=0, max_new_tokens=1024),
}


def paper_run_config() -> dg.RunConfig:
    return dg.RunConfig(ops=dict(PAPER))
