"""pass@k with the unbiased estimator of the Codex paper (Chen et al., 2021)."""

from __future__ import annotations

import numpy as np


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that k of n samples, c of them correct, hold a correct one.

    Computed as a product, as in the paper, so large n does not overflow the binomials."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def mean_pass_at_k(n_and_c: list[tuple[int, int]], k: int) -> float | None:
    """The benchmark score: pass@k averaged over problems; None when some problem has fewer than k samples."""
    if not n_and_c or any(n < k for n, _ in n_and_c):
        return None
    return float(np.mean([pass_at_k(n, c, k) for n, c in n_and_c]))
