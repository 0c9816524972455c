"""Evaluation stage: HumanEval, MBPP and HumanEvalPack loaders, completion backends, sandboxed tests, pass@k.
Plain functions, no Dagster; the eval_scores asset (assets/evaluate.py) wires them to the lake."""
