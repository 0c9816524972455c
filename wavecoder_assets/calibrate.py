"""Judge a labelled set with the configured discriminator and say how often it agrees with the labels.

    python -m wavecoder_assets.calibrate wavecoder_assets/benchmark_data/judge_calibration.jsonl
    python -m wavecoder_assets.calibrate LABELLED.jsonl --no-llm --limit 20
    python -m wavecoder_assets.calibrate LABELLED.jsonl -c run_config.yaml

The discriminator is the one the assets use: DiscriminatorSettings' defaults (the `discriminator` resource's), or
the `resources: discriminator: config:` block of a run config file (-c, the file `python -m wavecoder_assets.run
-c` takes), so what is calibrated here is what builds CodeOcean with that file.

LABELLED.jsonl: one JSON object per line with id, label ("accepted" | "rejected"), task_name, language,
target_language, code, instruction, information, solution and tests (null allowed); broken_rule (the one rule a
rejected row breaks) is optional. Prints one JSON line per row, {"id", "verdict", "failed_rules", "rule_verdicts"}
(each rule's answer and reason: the contrastive rules' probabilities, the differing input), then one
summary line: {"summary": true, "n", "balanced_accuracy", "true_accept_rate", "true_reject_rate", "n_failed",
"per_rule": {rule: {"accuracy", "n", ...}}, "per_task": [...], "confusion": {...}, "judge_model", "llm"}.
Progress goes to stderr. Exit 0 when judged (whatever the accuracy), 2 for a bad input file.

The judge is WAVECODER_ENV's: local (default) starts the embedded llama.cpp judge model; production uses
WAVECODER_JUDGE_BASE_URL, WAVECODER_JUDGE_MODEL and OPENAI_API_KEY. Answers are cached in the lake's request
cache (--lake, else $WAVECODER_LAKE_DIR, else ./data_lake), so a rerun on the same rows makes no calls.
--no-llm runs the code checks and the sandboxed tests only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

import pydantic
import yaml

from wavecoder_assets.generate.calibration import as_candidates, calibration_report, judge_decided, load_labelled
from wavecoder_assets.generate.discriminator import DiscriminatorSettings, discriminate
from wavecoder_assets.lakefiles import DEFAULT_LAKE_DIR

log = logging.getLogger("wavecoder_assets.calibrate")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.calibrate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelled", help="labelled JSON-lines file")
    parser.add_argument("--no-llm", action="store_true", help="code checks and execution only, no LLM judge")
    parser.add_argument("-c", "--config", metavar="FILE", help="run config YAML whose resources.discriminator.config "
                                                               "sets the discriminator (default: its defaults)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="judge only the first N rows")
    parser.add_argument("--lake", default=None, metavar="DIR",
                        help=f"lake folder holding the LLM request cache (default: $WAVECODER_LAKE_DIR, else "
                             f"./{DEFAULT_LAKE_DIR})")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        rows = load_labelled(args.labelled)
        discriminator = discriminator_from(args.config)
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    rows = rows[: args.limit] if args.limit is not None else rows
    candidates = as_candidates(rows)

    llm = judge = None
    progress = logging.StreamHandler(sys.stderr)  # stdout holds only the JSON lines
    log.addHandler(progress)
    log.setLevel(logging.INFO)
    try:
        if not args.no_llm:
            # Imported here: the resource pulls in Dagster, which --no-llm does not need.
            from wavecoder_assets.resources.llm import llm_resource_for

            lake_dir = args.lake or os.environ.get("WAVECODER_LAKE_DIR") or DEFAULT_LAKE_DIR
            llm = llm_resource_for(os.environ.get("WAVECODER_ENV", "local"), lake_dir)
            judge = llm.client("judge")
        how = "code checks and execution only" if judge is None else "with the LLM judge"
        log.info(f"judging {len(rows)} rows from {args.labelled} ({how})")
        verdicts = discriminate(candidates, judge, discriminator, logger=log)
    finally:
        log.removeHandler(progress)
        if llm is not None:
            llm.close()

    for row, verdict in zip(rows, verdicts):
        print(json.dumps({"id": row["id"], "verdict": verdict.verdict, "failed_rules": verdict.failed_rules,
                          "rule_verdicts": verdict.rule_verdicts}, ensure_ascii=False))
    report = calibration_report(rows, verdicts)
    models = sorted({v.judge_model for v in verdicts if v.judge_model})
    alone = judge_decided(rows, verdicts)
    summary = {"summary": True, **report.to_dict(), "judge_model": ", ".join(models) or None, "llm": judge is not None,
               "discriminator": discriminator.version(),
               # the rows no code check, test or run beside the source decided: the judge's own accuracy
               "judge_only": {k: v for k, v in calibration_report(*alone).to_dict().items()
                              if k in ("n", "true_accept_rate", "true_reject_rate", "balanced_accuracy")}}
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def discriminator_from(run_config_path: str | None) -> DiscriminatorSettings:
    """The discriminator a run config file sets (its resources.discriminator.config), else the defaults."""
    if not run_config_path:
        return DiscriminatorSettings()
    with open(run_config_path) as f:
        run_config = yaml.safe_load(f) or {}
    values = ((run_config.get("resources") or {}).get("discriminator") or {}).get("config") or {}
    try:
        return DiscriminatorSettings(**values)
    except pydantic.ValidationError as error:
        raise ValueError(f"{run_config_path}: resources.discriminator.config: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
