"""KCenterGreedy with triangle-inequality pruning, for clustered data on a CPU.

A row x with nearest center c_x at distance u_x can only come closer to a new center c if
d(c, c_x) < 2 u_x, since d(x, c) >= d(c, c_x) - u_x. Rows are kept in blocks grouped by their nearest center
(re-sorted each time the number of centers doubles, so the blocks stay tight); each block knows its largest u
and the centers its rows belong to, and is skipped as a whole when all those centers are at least 2 max(u) from
the new one. On clustered data most blocks are far from each new center.

The selection is the exact greedy one (same rule and tie-breaking as `kcenter_greedy`; the order can differ
only at float ties). Blocks change every step, which is why this runs in NumPy rather than under jit.
"""

from __future__ import annotations

import numpy as np

from wavecoder_assets.coreset.kcenter import NOISE, TAKEN, coarse_mean

_MARGIN = 1e-5  # skip a block only when the bound clears it by more than float32 rounding
_FIRST_REGROUP = 8  # centers before the first re-sort into blocks
SENTINEL = -1  # "no center" in a block's center list: its distance is +inf


def _sq_dist(x, xx, c, cc):
    d2 = xx - 2.0 * (x @ c) + cc
    return np.where(d2 <= NOISE * (xx + cc), np.float32(0), d2)


class _Blocks:
    """Rows sorted by nearest center; block b is rows [start[b], end[b]) of the sorted copy."""

    def __init__(self, x, xx, u, nearest, n_centers):
        # Sort by (nearest center, row): ties inside a block resolve to the lowest row, like a full scan.
        self.order = np.lexsort((np.arange(len(u)), nearest))
        self.x, self.xx, self.u = x[self.order], xx[self.order], u[self.order]
        self.nearest = nearest[self.order]
        self.position = np.empty_like(self.order)
        self.position[self.order] = np.arange(len(u))
        bounds = np.searchsorted(self.nearest, np.arange(n_centers + 1))
        keep = bounds[1:] > bounds[:-1]  # centers with rows
        self.start, self.end = bounds[:-1][keep], bounds[1:][keep]
        # centers whose rows lie in each block, padded with a sentinel center that is infinitely far
        self.centers = np.full((len(self.start), 4), SENTINEL, dtype=np.int64)
        self.centers[:, 0] = np.flatnonzero(keep)
        self.n_listed = np.ones(len(self.start), dtype=np.int64)
        self.max = np.array([self.u[s:e].max() for s, e in zip(self.start, self.end)], dtype=np.float32)
        self.arg = np.array([self.order[s + np.argmax(self.u[s:e])] for s, e in zip(self.start, self.end)])

    def list_center(self, b, center):
        if self.n_listed[b] == self.centers.shape[1]:
            self.centers = np.pad(self.centers, ((0, 0), (0, self.centers.shape[1])), constant_values=SENTINEL)
        self.centers[b, self.n_listed[b]] = center
        self.n_listed[b] += 1

    def refresh(self, b):
        s, e = self.start[b], self.end[b]
        a = int(np.argmax(self.u[s:e]))
        self.max[b], self.arg[b] = self.u[s + a], self.order[s + a]

    def farthest(self) -> tuple[float, int]:
        best = self.max.max()
        return float(best), int(self.arg[self.max == best].min())

    def unsorted(self):
        u, nearest = np.empty_like(self.u), np.empty_like(self.nearest)
        u[self.order], nearest[self.order] = self.u, self.nearest
        return u, nearest


def kcenter_greedy_pruned(
    embeddings, k: int, *, seed: int = 0, first: int | None = None, already_selected=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Like `kcenter_greedy`, plus scanned[i]: how many rows' distances step i computed (the rest were skipped)."""
    x = np.asarray(embeddings, dtype=np.float32)
    n = x.shape[0]
    selected = np.unique(np.asarray([] if already_selected is None else already_selected, dtype=np.int64))
    if x.ndim != 2 or n == 0 or not 1 <= k <= n - selected.size:
        raise ValueError(f"need a non-empty (N, d) array and 1 <= k <= N - len(already_selected); got {x.shape}, k={k}")
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    x = x - coarse_mean(x)
    xx = np.einsum("ij,ij->i", x, x)

    total = selected.size + k
    center_x = np.zeros((total, x.shape[1]), dtype=np.float32)
    center_xx = np.zeros(total, dtype=np.float32)
    # Before the first center: one block of every row, at infinite distance, listing no center.
    blocks = _Blocks(x, xx, np.full(n, np.inf, np.float32), np.zeros(n, np.int64), 1)
    blocks.centers[:], blocks.n_listed[:] = SENTINEL, 0
    n_centers, regroup_at = 0, _FIRST_REGROUP

    def add_center(idx: int) -> int:
        """Make row idx a center; returns how many rows' distances were computed."""
        nonlocal blocks, n_centers, regroup_at
        c, cc = x[idx], xx[idx]
        new = n_centers
        center_x[new], center_xx[new] = c, cc
        dcc = np.full(total + 1, np.inf, dtype=np.float32)  # the last entry is SENTINEL's
        dcc[:new] = np.sqrt(np.maximum(center_xx[:new] - 2.0 * (center_x[:new] @ c) + cc, 0.0))
        reach = 2.0 * np.sqrt(np.maximum(blocks.max, 0.0)) * (1 + _MARGIN) + _MARGIN
        skip = (dcc[blocks.centers].min(axis=1) >= reach) & np.isfinite(reach)
        home = np.searchsorted(blocks.start, blocks.position[idx], side="right") - 1
        skip[home] = False  # the new center leaves its own block even when nothing else there changes
        scanned = 0
        for b in np.flatnonzero(~skip):
            s, e = blocks.start[b], blocks.end[b]
            d2 = _sq_dist(blocks.x[s:e], blocks.xx[s:e], c, cc)
            closer = d2 < blocks.u[s:e]
            if closer.any():
                blocks.u[s:e][closer] = d2[closer]
                blocks.nearest[s:e][closer] = new
                blocks.list_center(b, new)
            if b == home:
                p = blocks.position[idx]
                blocks.u[p], blocks.nearest[p] = TAKEN, new
            blocks.refresh(b)
            scanned += e - s
        n_centers += 1
        if n_centers >= regroup_at:  # re-sort rows by nearest center so the blocks are tight again
            u, nearest = blocks.unsorted()
            blocks = _Blocks(x, xx, u, nearest, n_centers)
            regroup_at *= 2
        return scanned

    for idx in selected:  # already selected rows are centers before the first pick
        add_center(int(idx))
    indices, radii, scanned = [], [], []
    idx = first if not selected.size else blocks.farthest()[1]
    for _ in range(k):
        scanned.append(add_center(idx))
        indices.append(idx)
        radius, idx = blocks.farthest()
        radii.append(radius)
    return np.array(indices, dtype=np.int64), np.sqrt(np.maximum(np.array(radii, dtype=np.float64), 0.0)), np.array(scanned)
