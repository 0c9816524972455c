"""Where to set contrastive_min_lift: the own code's probability per summary, per labelled set, from the calibrate
CLI's output, and each bound's balanced accuracy pooled and chosen on all sets but one (measured on that one).

    for s in calibration semantic heldout; do
        python -m wavecoder_assets.calibrate wavecoder_assets/benchmark_data/judge_$s.jsonl > /tmp/$s.out
    done
    python bench/contrastive_bound.py wavecoder_assets/benchmark_data/judge_{calibration,semantic,heldout}.jsonl \
        --outputs /tmp/{calibration,semantic,heldout}.out

Counted: the summaries the rule was asked about (a code check rejects some first), right ones and the ones wrong in
what they say (broken_rule solution_resolves). The rule alone: the yes/no judge after it is not counted. Pooled, the
balanced accuracy is over all sets' summaries together.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

RULE = "summary_identifies_code"
BOUNDS = [round(0.50 + 0.01 * i, 2) for i in range(16)]  # of 2 candidates: 1.00 to 1.30 times chance


def probabilities(labelled: str, output: str) -> list[tuple[str, float]]:
    """(label, the own code's probability) of each summary the rule was asked about."""
    rows = {r["id"]: r for r in map(json.loads, Path(labelled).read_text().splitlines())}
    out = []
    for line in map(json.loads, Path(output).read_text().splitlines()):
        verdict = (line.get("rule_verdicts") or {}).get(RULE)
        row = rows.get(line.get("id"))
        if verdict is None or row is None or (row["label"] == "rejected"
                                              and row.get("broken_rule") != "solution_resolves"):
            continue
        found = re.search(r"probability ([0-9.]+)", verdict["reason"])
        if found:
            out.append((row["label"], float(found.group(1))))
    return out


def balanced_accuracy(scored: list[tuple[str, float]], bound: float) -> float:
    """The mean of the true accept and true reject rates, of those the rows have (a code check rejects every wrong
    summary of the shipped set before the rule: there it is the true accept rate)."""
    right = [p >= bound for label, p in scored if label == "accepted"]
    wrong = [p < bound for label, p in scored if label == "rejected"]
    rates = [sum(side) / len(side) for side in (right, wrong) if side]
    return sum(rates) / len(rates)


def best(scored: list[tuple[str, float]]) -> float:
    return max(BOUNDS, key=lambda b: balanced_accuracy(scored, b))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("labelled", nargs="+")
    parser.add_argument("--outputs", nargs="+", required=True, help="the calibrate CLI's output per labelled file")
    args = parser.parse_args()
    if len(args.outputs) != len(args.labelled):
        parser.error("one output per labelled file")
    sets = {path: probabilities(path, output) for path, output in zip(args.labelled, args.outputs)}
    for path in [path for path, scored in sets.items() if not scored]:
        print(f"{path}: no summary the rule was asked about (is the output the calibrate CLI's, with rule_verdicts?)")
        del sets[path]
    if not sets:
        raise SystemExit("nothing to measure")
    for path, scored in sets.items():
        for label in ("accepted", "rejected"):
            ps = [p for lab, p in scored if lab == label]
            if ps:
                print(f"{path}: {label} {len(ps)}: min {min(ps):.3f} median {statistics.median(ps):.3f} "
                      f"max {max(ps):.3f}")
    pooled = [s for scored in sets.values() for s in scored]
    print("pooled balanced accuracy per bound:", {b: round(balanced_accuracy(pooled, b), 3) for b in BOUNDS})
    print(f"pooled best bound: {best(pooled)}")
    for left, scored in sets.items():
        chosen = best([s for path, other in sets.items() if path != left for s in other])
        print(f"chosen without {left}: {chosen}; on it {balanced_accuracy(scored, chosen):.3f} "
              f"(at 0.60: {balanced_accuracy(scored, 0.60):.3f})")


if __name__ == "__main__":
    main()
