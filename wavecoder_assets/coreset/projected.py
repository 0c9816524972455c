"""KCenterGreedy that skips rows with a low-dimensional lower bound, for embeddings on a CPU.

Projecting onto orthonormal directions never lengthens a vector, so ||P(x - c)|| <= ||x - c||: when the
projected distance of a row to the new center is already at least its current distance to its nearest center,
the center cannot come closer and the row's full d-dimensional distance is never computed. With P the top
principal directions (dims of d) most rows are decided by reading dims/d of their data. Unlike the triangle
inequality (pruned.py), this works when the coverage radius stays above half the distance between centers,
as it does for sentence embeddings of code.

Exact greedy selection, same rule and tie-breaking as `kcenter_greedy` (order can differ only at float ties).
"""

from __future__ import annotations

import numpy as np

from wavecoder_assets.coreset.kcenter import _NOISE, _TAKEN, _coarse_mean
from wavecoder_assets.coreset.pruned import _sq_dist

_MARGIN = 1e-5  # a bound decides a row only when it clears the row's distance by more than float32 rounding
_PCA_SAMPLE = 20_000  # rows the principal directions are estimated from


def kcenter_greedy_projected(
    embeddings, k: int, *, seed: int = 0, first: int | None = None, already_selected=None, dims: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like `kcenter_greedy`, plus scanned[i]: rows whose full distance step i computed. dims: projected
    dimensions (default d // 4)."""
    x = np.asarray(embeddings, dtype=np.float32)
    n, d = x.shape
    selected = np.unique(np.asarray([] if already_selected is None else already_selected, dtype=np.int64))
    if n == 0 or not 1 <= k <= n - selected.size:
        raise ValueError(f"need a non-empty (N, d) array and 1 <= k <= N - len(already_selected); got {x.shape}, k={k}")
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    x = x - _coarse_mean(x)
    xx = np.einsum("ij,ij->i", x, x)
    sample = x[np.random.default_rng(seed).choice(n, min(n, _PCA_SAMPLE), replace=False)]
    basis = np.linalg.svd(sample, full_matrices=False)[2][: dims or max(1, d // 4)].T.copy()  # (d, dims)
    px = x @ basis
    pxx = np.einsum("ij,ij->i", px, px)

    u = np.full(n, np.inf, dtype=np.float32)  # squared distance to the nearest center; _TAKEN for centers

    def add_center(idx: int) -> int:
        c, cc, pc = x[idx], xx[idx], px[idx]
        bound = pxx - 2.0 * (px @ pc) + pc @ pc  # squared projected distance <= squared distance
        rows = np.flatnonzero(bound < u * (1 + _MARGIN) + _MARGIN * (xx + cc) + _NOISE)
        d2 = _sq_dist(x[rows], xx[rows], c, cc)
        closer = d2 < u[rows]
        u[rows[closer]] = d2[closer]
        u[idx] = _TAKEN
        return rows.size

    for idx in selected:
        add_center(int(idx))
    indices, radii, scanned = [], [], []
    idx = first if not selected.size else int(np.argmax(u))
    for _ in range(k):
        scanned.append(add_center(idx))
        indices.append(idx)
        idx = int(np.argmax(u))
        radii.append(u[idx])
    return np.array(indices, dtype=np.int64), np.sqrt(np.maximum(np.array(radii, dtype=np.float64), 0.0)), np.array(scanned)
