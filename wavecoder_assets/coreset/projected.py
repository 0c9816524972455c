"""KCenterGreedy that skips rows with a low-dimensional lower bound, for embeddings on a CPU.

Projecting onto orthonormal directions never lengthens a vector, so ||P(x - c)|| <= ||x - c||: when the
projected distance of a row to the new center is already at least its current distance to its nearest center,
the center cannot come closer and the row's full d-dimensional distance is never computed. With P the top
principal directions (dims of d), each step reads dims/d of the data in one BLAS pass, then a compiled (numba)
loop computes full distances for the undecided rows only. Unlike the triangle inequality (pruned.py), this works
when the coverage radius stays above half the distance between centers, as it does for sentence embeddings of code.

Exact greedy selection, same rule and tie-breaking as `kcenter_greedy` (order can differ only at float ties)."""

from __future__ import annotations

import numba
import numpy as np

from wavecoder_assets.coreset.kcenter import NOISE, TAKEN, coarse_mean

_MARGIN = 1e-5  # a bound decides a row only when it clears the row's distance by more than float32 rounding
_PCA_SAMPLE = 20_000  # rows the principal directions are estimated from


@numba.njit(cache=True, fastmath={"reassoc", "contract"})  # reassociation lets the dot products vectorize
def _update_undecided(x, xx, dots, shift, half, half_at_zero, u, idx):
    """Full distances to center idx for the rows its projected bound leaves undecided, min-updated into u;
    returns how many rows that was."""
    c, cc = x[idx], xx[idx]
    scanned = 0
    for i in range(x.shape[0]):
        if dots[i] - shift > half[i]:
            scanned += 1
            d2 = xx[i] - 2.0 * np.dot(x[i], c) + cc
            if d2 <= NOISE * (xx[i] + cc):
                d2 = 0.0
            if d2 < u[i]:
                u[i] = d2
                half[i] = half_at_zero[i] - d2 * ((1 + _MARGIN) / 2)
    u[idx], half[idx] = TAKEN, np.inf
    return scanned


def kcenter_greedy_projected(
    embeddings, k: int, *, seed: int = 0, first: int | None = None, already_selected=None, dims: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like `kcenter_greedy`, plus scanned[i]: rows whose full distance step i computed. dims: projected
    dimensions (default d // 3)."""
    x = np.asarray(embeddings, dtype=np.float32)
    n, d = x.shape
    selected = np.unique(np.asarray([] if already_selected is None else already_selected, dtype=np.int64))
    if n == 0 or not 1 <= k <= n - selected.size:
        raise ValueError(f"need a non-empty (N, d) array and 1 <= k <= N - len(already_selected); got {x.shape}, k={k}")
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    x = x - coarse_mean(x)
    xx = np.einsum("ij,ij->i", x, x)
    sample = x if n <= _PCA_SAMPLE else x[np.random.default_rng(seed).choice(n, _PCA_SAMPLE, replace=False)]
    # principal directions, largest variance first (any orthonormal basis gives a valid bound; these a tight one)
    directions = np.linalg.eigh((sample.T @ sample).astype(np.float64))[1][:, ::-1]
    px = x @ directions[:, : dims or max(1, d // 3)].astype(np.float32)
    pxx = np.einsum("ij,ij->i", px, px)

    u = np.full(n, np.inf, dtype=np.float32)  # squared distance to the nearest center; TAKEN for centers
    # A row is undecided when its squared projected distance pxx - 2 px.pc + pc.pc falls below its slack
    # limit u (1 + margin) + margin (xx + cc), i.e. when px.pc - (pc.pc - margin cc) / 2 > half, with half kept
    # per row: (pxx - u (1 + margin) - margin xx) / 2. Taken rows get +inf: never undecided.
    half = np.full(n, -np.inf, dtype=np.float32)
    half_at_zero = (pxx - _MARGIN * xx - NOISE) / 2
    dots = np.empty(n, dtype=np.float32)

    def add_center(idx: int) -> int:
        np.matmul(px, px[idx], out=dots)  # the one pass over all rows: dims of d columns, multi-threaded BLAS
        shift = np.float32((px[idx] @ px[idx] - _MARGIN * xx[idx]) / 2)
        return _update_undecided(x, xx, dots, shift, half, half_at_zero, u, idx)

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
