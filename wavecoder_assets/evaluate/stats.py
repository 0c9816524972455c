"""How sure a benchmark score is, and whether fine-tuning changed it: intervals and a paired test (scipy).

A score is a mean over a benchmark's problems, so its uncertainty is that of which problems were asked: with
20 problems, 8 solved is anywhere from 0.22 to 0.61 at 95%. The base and the fine-tuned model answer the same
problems, so they are compared problem by problem (a paired test), which is far sharper than two overlapping
intervals: only the problems where the two models differ carry information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05  # a difference with p below this is called significant
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed, so an unchanged evaluation gives the same table (and data version)


def wilson_interval(passed: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """The Wilson score interval of a pass rate passed/n (one pass/fail outcome per problem); None when n = 0.
    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0/n or n/n."""
    if n == 0:
        return None
    ci = stats.binomtest(passed, n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def bootstrap_interval(values, confidence: float = CONFIDENCE, resamples: int = BOOTSTRAP_RESAMPLES,
                       seed: int = BOOTSTRAP_SEED) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of per-problem values (problems resampled with replacement,
    seeded); None with fewer than two values, where resampling says nothing."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return None
    # Percentile, not BCa: BCa is undefined (NaN) when every value is the same, e.g. a model that solves nothing.
    ci = stats.bootstrap((values,), np.mean, n_resamples=resamples, confidence_level=confidence,
                         method="percentile", rng=seed).confidence_interval
    return float(ci.low), float(ci.high)


def mcnemar_exact(lost: int, gained: int) -> float:
    """Two-sided p of the exact McNemar test: of the lost + gained problems whose outcome differs between the
    two models, is the split lost:gained further from even than chance (binomial, p = 1/2)? 1.0 when none differ."""
    discordant = lost + gained
    return 1.0 if discordant == 0 else float(stats.binomtest(lost, discordant, 0.5).pvalue)


@dataclass(frozen=True)
class PairedComparison:
    n: int  # problems scored for both models
    n_unpaired: int  # problems scored for one model only (e.g. skipped for the other), left out
    base: float | None  # mean per-problem score over the paired problems
    finetuned: float | None
    difference: float | None  # finetuned - base
    ci: tuple[float, float] | None  # paired bootstrap interval of the difference
    p_value: float
    test: str  # "exact McNemar" (pass/fail per problem) or "exact sign test" (fractional per-problem scores)
    lost: list[str]  # problems the fine-tuned model scores lower on (pass/fail: base passed, fine-tuned failed)
    gained: list[str]  # problems it scores higher on (base failed, fine-tuned passed)

    @property
    def verdict(self) -> str:
        """worse or better (significant at SIGNIFICANCE), else inconclusive: the test cannot tell."""
        if self.difference is None or self.p_value >= SIGNIFICANCE:
            return "inconclusive"
        return "worse" if self.difference < 0 else "better"


def paired_comparison(base: Mapping[str, float], finetuned: Mapping[str, float]) -> PairedComparison:
    """Compare two models' per-problem scores (task id -> pass@k of that problem) on the problems both have.

    With pass/fail scores the test is the exact McNemar test on the discordant problems; with fractional
    scores (several samples per problem) the same binomial test on the problems where the scores differ is
    the exact sign test, of which McNemar is the pass/fail case."""
    paired = sorted(base.keys() & finetuned.keys())
    unpaired = len(base.keys() ^ finetuned.keys())
    b = np.array([base[t] for t in paired], dtype=float)
    f = np.array([finetuned[t] for t in paired], dtype=float)
    lost = [t for t, x, y in zip(paired, b, f) if y < x]
    gained = [t for t, x, y in zip(paired, b, f) if y > x]
    binary = bool(np.isin(np.concatenate([b, f]), [0.0, 1.0]).all())
    mean = lambda x: float(x.mean()) if len(x) else None
    return PairedComparison(
        n=len(paired), n_unpaired=unpaired, base=mean(b), finetuned=mean(f),
        difference=mean(f - b), ci=bootstrap_interval(f - b), p_value=mcnemar_exact(len(lost), len(gained)),
        test="exact McNemar" if binary else "exact sign test", lost=lost, gained=gained)
