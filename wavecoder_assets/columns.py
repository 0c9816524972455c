"""What each lake column means: the descriptions the UI shows in every asset's column schema. One glossary for
all tables, since most columns (ids, language, task, verdicts) mean the same wherever they appear, and per table
the columns whose name means something else there (`TABLE_COLUMN_DESCRIPTIONS`); `column_description` picks."""

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # raw_code, filtered_code, filtered_out, coreset
    "id": "content hash of (language, code, docstring): the same pair gets the same id from any source or run",
    "source": "where the pair came from: local_tree (tree-sitter harvest) or codesearchnet",
    "repo": "repository (CodeSearchNet) or source-tree root the function came from",
    "path": "file path inside the repo or root",
    "func_name": "function or method name as written in the source (assignments keep their target, e.g. res.send)",
    "language": "programming language of the code (python, java, javascript, go, php, ruby)",
    "code": "the function's source code, doc comment excluded",
    "docstring": "the function's docstring or leading doc comment, markers stripped",
    "url": "CodeSearchNet: link to the function at its commit; empty for local trees",
    "sha": "CodeSearchNet: commit the function was taken from; empty for local trees",
    "partition": "CodeSearchNet split (train, valid, test); empty for local trees",
    "rule": "the first filter rule that removed the row (length, blacklist, exact_dup, near_dup)",
    "embedding": "the code's embedding vector (float32) from the configured encoder",
    "rank": "order in which KCenterGreedy picked the sample (0 = first center)",
    "radius": "coverage radius after this pick: the largest distance from any sample to its nearest center",
    # generated_instructions, judged_instructions, code_ocean, code_ocean_rejected
    "example_id": "hash of (source id, task, prompt version): one candidate example",
    "source_id": "id of the coreset sample (raw code) the example was generated from",
    "task_name": "WaveCoder task: code_generation, code_summarization, code_repair or code_translation",
    "target_language": "code_translation: the language the solution is written in; empty for other tasks",
    "instruction": "the task instruction the generator wrote",
    "information": "the input that goes with the instruction (code to summarize, repair or translate), if any",
    "solution": "the answer: code, or prose for summarization",
    "tests": "tests the generator wrote for the solution (run in the sandbox), if any",
    "status": "generation outcome: ok, unparseable (answer did not parse), failed (LLM call failed after retries)",
    "error": "why generation or judging failed (after retries), else empty",
    "generator_model": "model that generated the example",
    "prompt_version": "version of the generator prompt templates",
    "round": "generator-discriminator round (later rounds take few-shot examples from earlier verdicts)",
    "raw_output": "the generator's raw answer text, kept for auditing",
    "attempts": "generator answers requested for the example (one more when the first did not parse, and one more "
                "when code rejected it and it was sent back with the reasons)",
    "tests_regenerated": "1 when the example's first tests did not parse or compile and the generator wrote these "
                         "again (its code kept); else 0",
    "first_rejection": "why code rejected the example's first answer, which was sent back to the generator with these "
                       "reasons (empty: judged as first answered)",
    "verdict": "discriminator outcome: accepted, rejected or failed",
    "rule_verdicts": "JSON: per rule, the answer (yes/no) and its reason, from code checks and the LLM judge",
    "reasons": "why the example was rejected (the failed rules' reasons), or the judge's summary",
    "judge_model": "model that judged the example (empty: decided by code checks or execution, no LLM call)",
    "copied_reasons": "LLM judge reasons that repeat a few-shot example's reason word for word",
    "discriminator": "short hash of the discriminator settings (rules, checks, judge) that judged the row: the "
                     "calibration gate checks that judge_calibration measured the ones that built code_ocean",
    "sandbox_status": "outcome of running the solution with its tests in the sandbox (passed, failed, timeout, ...)",
    "outcome": "where the candidate ended: rejected (by a check or the judge) or failed (no answer)",
    "stage": "the pipeline step that stopped the candidate: generator, parse, checks, judge, decontamination or "
             "balance (over its task's share of the configured mix)",
    "failed_rules": "JSON list: the ids of the rules the example failed",
    "tests_passed": "true when the row's tests ran in the sandbox and passed; empty when no tests ran",
    "decided_by": "the rules that answered yes for the row (see rule_verdicts in judged_instructions)",
    "decided_by_kinds": "which parts of the discriminator decided the row: code_check, execution (tests ran), "
                        "contrastive (matched among similar functions) and judge (the LLM's semantic rules)",
    "matched_benchmark": "benchmark the example overlaps with (decontamination), else empty",
    "matched_task_id": "task id of the overlapping benchmark problem, else empty",
    # evol_instructions, oss_instructions
    "seed_id": "evol: the round-0 instruction this lineage started from",
    "parent_id": "evol: the example this one was evolved from (empty for seeds)",
    "heuristic": "evol: the WizardCoder evolution heuristic applied in this round",
    "reason": "evol: why the evolution was eliminated or failed",
    "seed_snippet": "oss: the lines of corpus code that inspired the problem",
    "seed_start_line": "oss: first line of the snippet in its sample (0-based)",
    "seed_n_lines": "oss: number of lines in the snippet",
    "request_seed": "oss: the sampling seed sent with the request",
    "system_fingerprint": "oss: the endpoint's system_fingerprint (backend configuration), if given",
    "finish_reason": "oss: why generation stopped (stop, length)",
    # strategy_report
    "strategy": "instruction strategy: wavecoder (CodeOcean), evol_instruct or oss_instruct",
    "rows": "rows of the strategy's table",
    "tokens": "total tokens of instruction + solution (embedded generator's tokenizer)",
    "tokens_per_row": "mean tokens per row",
    "judged_rows": "rows the WaveCoder judge rated",
    "judge_pass_rate": "share of judged rows the judge accepted",
    "python_rows": "rows whose solution is Python",
    "python_parsed": "Python solutions that parse",
    "python_run": "Python solutions with tests that ran in the sandbox",
    "python_passed": "Python solutions whose tests passed",
    "python_parse_rate": "python_parsed / python_rows",
    "sandbox_pass_rate": "python_passed / python_run",
    "benchmark_overlap_rows": "rows sharing an n-gram with a benchmark prompt or solution",
    "benchmark_overlap": "which benchmarks overlapped, with counts",
    "coverage_radius": "largest distance from a row's embedding to its nearest other row's (diversity)",
    "mean_nn_distance": "mean distance from each row's embedding to its nearest other row's (diversity)",
    "embedded_rows": "rows embedded for the diversity measures (a seeded sample)",
    # code_ocean_hub
    "repo_id": "Hugging Face Hub dataset repo (owner/name)",
    "staged_dir": "local folder staged for the Hub (data/*.parquet and README.md)",
    "data_version": "CodeOcean's content version that was staged/pushed",
    "pushed": "whether the folder was pushed (false in dry run)",
    "commit_url": "the Hub commit of the push, else empty",
    "private": "whether the Hub repo is private",
    "commit_sha": "the Hub commit sha of the push, else empty",
    "tag": "the Hub tag pinning the pushed data: code-ocean-<data version>",
    "tag_url": "the repo's files at that tag",
    "tag_commit": "the commit the tag points to (an earlier push of the same data when the tag already existed)",
    "input_versions": "JSON: each table the card was counted from -> its data version (the row's data version "
                      "hashes these, not the table versions)",
    "input_table_versions": "JSON: each table the card was counted from -> the Delta table version read",
    # finetuned_model
    "model_name": "fine-tuned model's folder name under <lake>/models/",
    "model_dir": "where the merged fine-tuned model is saved",
    "base_model": "the base model that was fine-tuned (hub id, folder or embedded GGUF name)",
    "base_gguf_file": "the GGUF file the base was dequantized from, if any",
    "method": "fine-tuning method: lora (merged after training) or full",
    "train_rows": "CodeOcean rows used for training (after tokenization skips)",
    "steps": "optimizer steps run",
    "final_loss": "training loss of the last step",
    "code_ocean_data_version": "data version of the CodeOcean the model was trained on",
    "gguf_path": "the merged model as a GGUF file (Q8_0) beside the safetensors, for llama.cpp and Ollama; empty when "
                 "the base was not a GGUF (no tokenizer to copy)",
    # eval_scores
    "model": "the model scored (fine-tuned model name, or the base's id)",
    "role": "finetuned or base",
    "benchmark": "humaneval, mbpp, humanevalfix, humanevalexplain or humanevalsynthesize",
    "k": "the k of pass@k",
    "pass_at_k": "unbiased pass@k over the problems run (empty when none ran)",
    "ci_low": "lower end of pass@k's 95% interval over the problems run (see ci_method; empty without a score, "
              "or with one problem and no Wilson interval)",
    "ci_high": "upper end of pass@k's 95% interval (see ci_low)",
    "ci_method": "how the interval was computed: wilson (pass@1, one sample per problem) or bootstrap (percentile, "
                 "2,000 resamples of the problems, seed 0: pass@k > 1 or several samples per problem)",
    "problem_results": "each problem run: task_id, n_samples tested, n_passed (skipped problems left out): base "
                       "and fine-tuned are compared problem by problem from these",
    "n_problems": "problems run",
    "n_samples": "completions tested",
    "n_skipped": "problems skipped (missing toolchain or data), see skip_reason",
    "skip_reason": "why problems were skipped, if any",
    "n_per_problem": "completions generated per problem",
    "temperature": "sampling temperature (0 = greedy)",
    "limit": "problems per benchmark and language (<= 0: all)",
    "backend": "how completions were generated: transformers or llm (an OpenAI-compatible endpoint)",
    "finetuned_model": "the fine-tuned model this evaluation belongs to",
    "sandbox": "the sandbox isolation the generated code ran under",
}


# Where a column name means something else in one table than the glossary says: that table's description.
TABLE_COLUMN_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "code_embeddings": {"model": "the encoder that computed the embedding (hub id or folder)"},
    "judged_instructions": {
        "tests": "the tests that ran with the solution in the sandbox: the generator's, or with expected values "
                 "computed from code known to be right (the tests_pass reason says how many), if any",
    },
    "judge_calibration": {
        "id": "the labelled row's id in the labelled JSON-lines file",
        "label": "the row's label: accepted (a correct row) or rejected (a row that breaks a rule)",
        "broken_rule": "the one rule a rejected row breaks, if the labelled file names it; empty for accepted rows",
        "verdict": "the discriminator's verdict on the row: accepted, rejected or failed (compare with label)",
        "reasons": "why the discriminator rejected the row (the failed rules' reasons), its summary, or why "
                   "judging failed",
        "labelled_set": "the labelled file the row comes from (its stem): judge_calibration (code checks, "
                        "execution and judge) or judge_semantic (semantic errors only the judge can decide)",
    },
    "evol_instructions": {
        "example_id": "round 0: the seed's id (CodeOcean's example_id, or a hash of the Code Alpaca record); "
                      "later rounds: hash of (parent id, round, prompt version)",
        "source_id": "the seed's source: its CodeOcean row's source_id, or <file>:<index> of a Code Alpaca record",
        "round": "evolution round (0 = the seed)",
        "status": "ok, eliminated (see rule and reason) or failed (see reason)",
        "rule": "the elimination rule that stopped the evolution, else empty",
        "verdict": "the WaveCoder discriminator's verdict on the rules that need no raw input, for a seeded sample "
                   "of the ok rows (CodeOcean seeds: accepted); empty: not judged",
    },
    "oss_instructions": {
        "example_id": "hash of (coreset sample id, snippet start and length, draw, prompt version)",
        "verdict": "the WaveCoder discriminator's verdict on the rules that need no raw input, for a seeded sample "
                   "of the ok rows; empty: not judged",
    },
    "code_ocean": {
        "tests": "the tests that ran with the solution in the sandbox and passed; empty where none ran (a summary, or "
                 "a language without its toolchain): then only the code checks, contrastive check and judge decided",
    },
    "code_ocean_hub": {"rows": "CodeOcean rows staged for the Hub (and pushed, unless a dry run)"},
    "eval_scores": {"language": "the benchmark's programming language (HumanEvalPack: python, js, go, java, cpp, "
                                "rust; HumanEval and MBPP: python)"},
}


def column_description(table: str, column: str) -> str | None:
    """What `column` means in the lake table `table`: the table's own description, else the glossary's."""
    return TABLE_COLUMN_DESCRIPTIONS.get(table, {}).get(column) or COLUMN_DESCRIPTIONS.get(column)
