"""Score intervals and the paired base-vs-fine-tuned test (evaluate/stats.py), against values computed by hand,
and how eval_scores rows carry them (evaluate/run.py)."""

from __future__ import annotations

import polars as pl
import pytest

from wavecoder_assets.evaluate.run import compare_roles, describe_comparison, scores, side_by_side
from wavecoder_assets.evaluate.stats import bootstrap_interval, mcnemar_exact, paired_comparison, wilson_interval


def test_wilson_interval_matches_hand_computed_values():
    # 8/20, z = 1.959964, z^2/n = 0.192073:
    #   centre = (0.4 + z^2/(2n)) / (1 + z^2/n) = 0.496036 / 1.192073 = 0.416114
    #   half   = z / (1 + z^2/n) * sqrt(0.4*0.6/20 + z^2/(4 n^2)) = 1.644166 * sqrt(0.012 + 0.002401) = 0.197308
    assert wilson_interval(8, 20) == pytest.approx((0.2188, 0.6134), abs=1e-4)
    # 0/20: low 0, high = (z^2/n) / (1 + z^2/n) = 0.192073 / 1.192073 = 0.161126; n/n mirrors it
    assert wilson_interval(0, 20) == pytest.approx((0.0, 0.1611), abs=1e-4)
    assert wilson_interval(20, 20) == pytest.approx((0.8389, 1.0), abs=1e-4)
    # 1/1: centre = (1 + z^2/2) / (1 + z^2) = 2.920729 / 4.841459 = 0.603273, half = z*0.5*z / 4.841459 = 0.396727
    assert wilson_interval(1, 1) == pytest.approx((0.2065, 1.0), abs=1e-4)
    assert wilson_interval(0, 0) is None  # no problem: no interval


def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs():
    # b=1 lost, c=6 gained: 7 discordant, two-sided p = 2 * P(X <= 1 | n=7, 1/2) = 2 * (1 + 7) / 2^7 = 0.125
    assert mcnemar_exact(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact(6, 1) == pytest.approx(0.125)  # symmetric
    # 0:5 is the most lopsided split of 5 and still p = 2 / 2^5 = 0.0625: 5 discordant pairs can never reject
    assert mcnemar_exact(0, 5) == pytest.approx(0.0625)
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)  # 0.03125 < 0.05
    assert mcnemar_exact(3, 3) == 1.0 and mcnemar_exact(0, 0) == 1.0  # even split, nothing discordant


def test_bootstrap_interval_is_seeded_and_handles_degenerate_samples():
    values = [0.0, 1.0] * 10  # mean 0.5; normal approximation 0.5 +- 1.96 * sqrt(0.25 / 20) = [0.281, 0.719]
    low, high = bootstrap_interval(values)
    assert low == pytest.approx(0.281, abs=0.04) and high == pytest.approx(0.719, abs=0.04)
    assert bootstrap_interval(values) == (low, high)  # the same seed: the same interval
    assert bootstrap_interval(values, seed=1) != (low, high)
    assert bootstrap_interval([0.0] * 5) == (0.0, 0.0) and bootstrap_interval([1.0] * 5) == (1.0, 1.0)
    assert bootstrap_interval([1.0]) is None and bootstrap_interval([]) is None  # nothing to resample


def ids(n: int) -> list[str]:
    return [f"T/{i}" for i in range(n)]


def test_paired_comparison_of_pass_fail_outcomes():
    # 20 problems: 8 both pass, 5 both fail, 1 lost (T/0), 6 gained (T/1..T/6)
    base = {t: float(t in ids(1) or t in ids(20)[7:15]) for t in ids(20)}
    finetuned = {t: float(t in ids(7)[1:] or t in ids(20)[7:15]) for t in ids(20)}
    c = paired_comparison(base, finetuned)
    assert (c.n, c.n_unpaired, c.lost, c.gained) == (20, 0, ["T/0"], ids(7)[1:])
    assert (c.base, c.finetuned, c.difference) == pytest.approx((9 / 20, 14 / 20, 5 / 20))
    assert c.p_value == pytest.approx(0.125) and c.test == "exact McNemar"
    assert c.verdict == "inconclusive"  # +0.25 is not significant with 7 discordant pairs
    assert c.ci[0] < 0.25 < c.ci[1]
    # 7 lost, none gained: p = 2 / 2^7 = 0.015625 and the fine-tuned model is worse
    worse = paired_comparison({t: 1.0 for t in ids(20)}, {t: float(t not in ids(7)) for t in ids(20)})
    assert worse.p_value == pytest.approx(0.015625) and worse.verdict == "worse" and worse.lost == ids(7)
    assert worse.ci[1] < 0  # the paired interval agrees: every resample loses
    better = paired_comparison({t: float(t not in ids(7)) for t in ids(20)}, {t: 1.0 for t in ids(20)})
    assert better.verdict == "better" and better.gained == ids(7)


def test_paired_comparison_edges():
    same = paired_comparison({t: 1.0 for t in ids(5)}, {t: 1.0 for t in ids(5)})  # all pass both
    assert (same.difference, same.ci, same.p_value, same.verdict) == (0.0, (0.0, 0.0), 1.0, "inconclusive")
    none = paired_comparison({t: 0.0 for t in ids(5)}, {t: 0.0 for t in ids(5)})  # all fail both
    assert (none.base, none.difference, none.lost, none.gained) == (0.0, 0.0, [], [])
    empty = paired_comparison({}, {})
    assert (empty.n, empty.difference, empty.ci, empty.p_value, empty.verdict) == (0, None, None, 1.0, "inconclusive")
    # only the problems both models were scored on are paired
    partial = paired_comparison({"A": 1.0, "B": 0.0}, {"B": 1.0, "C": 1.0})
    assert (partial.n, partial.n_unpaired, partial.gained) == (1, 2, ["B"])
    fractional = paired_comparison({"A": 0.5, "B": 0.0}, {"A": 1.0, "B": 0.0})  # several samples per problem
    assert fractional.test == "exact sign test" and fractional.gained == ["A"]


def samples(outcomes: dict[str, list[bool]], benchmark: str = "humaneval") -> list[dict]:
    return [{"benchmark": benchmark, "language": "python", "task_id": t, "sample": i, "completion": "",
             "passed": p, "result": "passed" if p else "failed"} for t, ps in outcomes.items() for i, p in enumerate(ps)]


def score_frame(rows_by_role: dict[str, list[dict]]) -> pl.DataFrame:
    return pl.DataFrame([{**row, "role": role} for role, rows in rows_by_role.items() for row in rows])


def test_score_rows_carry_their_interval_and_problem_results():
    [greedy] = scores(samples({t: [i < 8] for i, t in enumerate(ids(20))}), [1])
    assert greedy["pass_at_k"] == pytest.approx(0.4) and greedy["ci_method"] == "wilson"
    assert (greedy["ci_low"], greedy["ci_high"]) == pytest.approx((0.2188, 0.6134), abs=1e-4)
    assert greedy["problem_results"][0] == {"task_id": "T/0", "n_samples": 1, "n_passed": 1}
    assert side_by_side(score_frame({"base": [greedy]}))["base"].to_list() == ["0.40 [0.22, 0.61] (n=20)"]
    sampled = scores(samples({t: [i < 8, False] for i, t in enumerate(ids(20))}), [1, 2])
    assert [(r["k"], r["ci_method"]) for r in sampled] == [(1, "bootstrap"), (2, "bootstrap")]
    assert sampled[0]["pass_at_k"] == pytest.approx(0.2) and sampled[0]["ci_low"] < 0.2 < sampled[0]["ci_high"]
    [one] = scores(samples({"T/0": [True, False]}), [1])  # one problem: nothing to resample
    assert (one["pass_at_k"], one["ci_low"], one["ci_method"]) == (0.5, None, None)
    assert side_by_side(score_frame({"finetuned": [one]}))["finetuned"].to_list() == ["0.50 (n=1)"]


def test_compare_roles_pairs_problems_and_describes_the_verdict():
    base = scores(samples({t: [True] for t in ids(20)}) + samples({"M/1": [False], "M/2": [True]}, "mbpp"), [1])
    finetuned = scores(samples({t: [t not in ids(7)] for t in ids(20)})
                       + samples({"M/1": [True], "M/2": [True]}, "mbpp"), [1])
    comparison = compare_roles(score_frame({"base": base, "finetuned": finetuned}))
    assert comparison.select("benchmark", "n", "verdict", "test").rows() == [
        ("humaneval", 20, "worse", "exact McNemar"), ("mbpp", 2, "inconclusive", "exact McNemar")]
    assert comparison["lost"].to_list() == [ids(7), []] and comparison["gained"].to_list() == [[], ["M/1"]]
    assert describe_comparison(comparison).startswith(
        "significantly worse than the base on 1 of 2 benchmark x language x k (exact McNemar, p < 0.05): "
        "humaneval/python pass@1 -0.35, p=0.0156 (n=20)")
    assert describe_comparison(comparison.filter(pl.col("benchmark") == "mbpp")) == (
        "not significantly worse on any of 1 benchmark x language x k (exact McNemar, p < 0.05); "
        "inconclusive (n=2) on 1: mbpp/python pass@1")
    assert describe_comparison(comparison.clear()).startswith("nothing to compare")
