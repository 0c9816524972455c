"""KCenterGreedy (Sener & Savarese 2018) in JAX: pick k centers so the largest distance from any point to its
nearest center is as small as possible, greedily.

Per step, as in google/active-learning's kcenter_greedy: distances of every point to the newest center, a
running minimum, and the point farthest from all centers (lowest index on exact ties) becomes the next center.
Distances use the norm expansion ||x||^2 - 2 x.c + ||c||^2 on mean-centred data (centring shrinks the norms, so
less cancels; the mean is rounded to 8 significant bits so the shift is exact on coarse data such as integers,
whose ties then stay exact ties), matvecs at full float32 precision (no TF32 on GPUs), and results below the rounding noise of the
expansion count as 0, so exact duplicates tie at 0 like in the reference.

Rows are sharded over a 1-D device mesh (`jax.sharding`, `shard_map`): each device scans its own rows and the
devices exchange one (max, index) pair and the new center's row per step, so N can exceed one device's memory.
Each device holds its rows as columns, (d, rows): the per-step product c @ X then streams X with no reduction
along a row, at 1.4x the bandwidth of x @ c over rows on a CPU (XLA's and NumPy's alike; bench/coreset.py).
"""

from __future__ import annotations

import math
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXIS = "rows"
# Expansion results below this fraction of ||x||^2 + ||c||^2 are float32 rounding noise: treat them as 0.
NOISE = 1e-6
# Rows x centers per block when starting from `already_selected` (memory: one block of distances).
_BLOCK_ELEMS = 1 << 24
TAKEN = -1.0  # min-distance marker of chosen centers and padding rows: never picked again
# XLA's CPU client takes a host array this aligned (bytes) as the device buffer itself, without a copy.
_HOST_ALIGN = 64
_HOST_CHUNK = 512  # rows centred and transposed at a time on the host (a chunk stays in cache)


def _sq_dist(x, xx, c, cc):
    """Squared distances of the columns of x (d, n) to center(s) c by the norm expansion: c a (d,) vector gives
    (n,), c an (m, d) block gives (m, n)."""
    dot = jnp.matmul(c, x, precision=jax.lax.Precision.HIGHEST)
    if c.ndim == 2:
        xx, cc = xx[None, :], cc[:, None]
    d2 = xx - 2.0 * dot + cc
    return jnp.where(d2 <= NOISE * (xx + cc), 0.0, d2)


def _kcenter_shard(x, xx, init, centers, first, *, k: int, n_centers: int, n_devices: int):
    """Body run on each device's block of (centred) rows, held as the columns of x (1, d, n_local), with their
    squared norms xx; returns (indices, squared radii), the same on every device."""
    x = x[0]
    n_local = x.shape[1]
    offset = jax.lax.axis_index(AXIS) * n_local

    min_d = init
    if n_centers:  # start from the already selected centers, one block of them at a time
        block = max(1, min(n_centers, _BLOCK_ELEMS // n_local))
        n_blocks = -(-n_centers // block)
        # pad the last block with copies of the first center: a duplicate center changes no minimum
        centers = jnp.concatenate([centers, jnp.repeat(centers[:1], n_blocks * block - n_centers, axis=0)])
        cc_all = jnp.sum(centers * centers, axis=1)

        def add_block(b, min_d):
            c = jax.lax.dynamic_slice_in_dim(centers, b * block, block)
            cc = jax.lax.dynamic_slice_in_dim(cc_all, b * block, block)
            return jnp.minimum(min_d, jnp.min(_sq_dist(x, xx, c, cc), axis=0))

        min_d = jax.lax.fori_loop(0, n_blocks, add_block, min_d)
    min_d = jnp.where(init < 0, TAKEN, min_d)

    rows = jnp.arange(n_local, dtype=jnp.int32)

    def farthest(min_d):
        """Global (max, argmax) with the lowest index on ties: devices hold consecutive row blocks in order.
        The max, then the lowest row holding it: two reductions XLA vectorizes, where its fused argmax is a
        scalar loop (on a CPU 5x the time of both: 0.4 ms of a 5 ms step at N=100k d=384)."""
        local_max = jnp.max(min_d)
        local = jnp.min(jnp.where(min_d == local_max, rows, n_local))
        if n_devices == 1:  # XLA keeps a one-device all_gather, at 30 us a step on a CPU
            return local_max, local
        maxes = jax.lax.all_gather(local_max, AXIS)
        owners = jax.lax.all_gather(local + offset, AXIS)
        best = jnp.argmax(maxes)
        return maxes[best], owners[best]

    def center_row(idx):
        """The row `idx` and its squared norm, from the device that holds it (others add zeros: exact)."""
        local = idx - offset
        mine = (local >= 0) & (local < n_local)
        safe = jnp.clip(local, 0, n_local - 1)
        row = jax.lax.psum(jnp.where(mine, x[:, safe], 0.0), AXIS)
        norm = jax.lax.psum(jnp.where(mine, xx[safe], 0.0), AXIS)
        return row, norm

    def step(t, state):
        min_d, idx, indices, radii = state
        c, cc = center_row(idx)
        # Taken rows stay taken and the new center (a row here or not) becomes taken, in the same fused pass
        # as the update (an in-place write after it costs XLA a second pass).
        taken = (min_d < 0) | (rows == idx - offset)
        min_d = jnp.where(taken, TAKEN, jnp.minimum(min_d, _sq_dist(x, xx, c, cc)))
        radius, nxt = farthest(min_d)
        return min_d, nxt, indices.at[t].set(idx), radii.at[t].set(radius)

    start = first if not n_centers else farthest(min_d)[1]
    state = (min_d, jnp.asarray(start, jnp.int32), jnp.zeros(k, jnp.int32), jnp.zeros(k, jnp.float32))
    _, _, indices, radii = jax.lax.fori_loop(0, k, step, state)
    return indices, radii


@partial(jax.jit, static_argnames=("k", "n_centers", "mesh"))
def kcenter_scan(columns, xx, init, centers, first, *, k: int, n_centers: int, mesh: Mesh):
    """kcenter_greedy's device loop alone. columns: the centred rows as `centred_columns` lays them out, sharded
    over `mesh` by its first axis; xx their squared norms, init their starting squared distances (inf; TAKEN
    for padding and already selected rows), both (n_devices * n_local,) sharded alike; centers the already
    selected rows (n_centers of them, (max(n_centers, 1), d)); first the first center unless there are any.
    Returns (indices, squared radii) as device arrays."""
    body = partial(_kcenter_shard, k=k, n_centers=n_centers, n_devices=mesh.size)
    return jax.shard_map(
        body,
        mesh=mesh,
        in_specs=(P(AXIS, None, None), P(AXIS), P(AXIS), P(), P()),
        out_specs=(P(), P()),
        check_vma=False,  # the outputs are replicated by construction (all_gather / psum)
    )(columns, xx, init, centers, first)


def aligned_empty(shape: tuple[int, ...]) -> np.ndarray:
    """An uninitialised float32 array whose data starts on a _HOST_ALIGN-byte boundary."""
    nbytes = math.prod(shape) * 4
    raw = np.empty(nbytes + _HOST_ALIGN, dtype=np.uint8)
    start = -raw.ctypes.data % _HOST_ALIGN
    return raw[start : start + nbytes].view(np.float32).reshape(shape)


def centred_columns(x: np.ndarray, mean: np.ndarray, n_devices: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, xx): columns[i] holds device i's block of consecutive rows of x - mean as columns, (d, n_local),
    with n_local a multiple of 16 so every block starts aligned; xx the rows' squared norms. Padding rows are 0.
    One pass over x, a cache-sized chunk of rows at a time: centred, their norms taken, written transposed."""
    n, d = x.shape
    n_local = -(-n // (n_devices * 16)) * 16
    columns = aligned_empty((n_devices, d, n_local))
    xx = np.zeros(n_devices * n_local, dtype=np.float32)
    for start in range(0, n, _HOST_CHUNK):
        stop = min(start + _HOST_CHUNK, n)
        chunk = x[start:stop] - mean
        xx[start:stop] = np.einsum("ij,ij->i", chunk, chunk)
        for block in range(start // n_local, (stop - 1) // n_local + 1):  # a chunk can straddle two blocks
            lo, hi = max(start, block * n_local), min(stop, (block + 1) * n_local)
            columns[block, :, lo - block * n_local : hi - block * n_local] = chunk[lo - start : hi - start].T
    for block in range(n_devices):  # padding: the end of the last block holding rows, and any block past them
        columns[block, :, max(0, min(n_local, n - block * n_local)) :] = 0.0
    return columns, xx


def coarse_mean(x: np.ndarray) -> np.ndarray:
    """The column means rounded to 8 significant bits of the largest one. Raises ValueError when x holds NaN or
    inf: a float64 sum of float32 values cannot overflow, so the mean is finite exactly when every entry is, and
    this one pass over x is also the finiteness check."""
    with np.errstate(invalid="ignore"):  # inf - inf: NaN, refused just below
        mean = x.mean(axis=0, dtype=np.float64)
    if not np.isfinite(mean).all():
        raise ValueError("embeddings contain NaN or inf")
    top = np.abs(mean).max()
    if top == 0:
        return mean.astype(np.float32)
    step = 2.0 ** (np.ceil(np.log2(top)) - 8)
    return (np.round(mean / step) * step).astype(np.float32)


def kcenter_greedy(
    embeddings,
    k: int,
    *,
    seed: int = 0,
    first: int | None = None,
    already_selected=None,
    devices: list | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy k-center selection.

    Returns (indices, radii): the k chosen row indices in selection order, and radii[i] = max over rows of the
    Euclidean distance to the nearest center after i+1 picks (already_selected rows count as centers, and are
    never returned). The first center is `first`, else a row drawn with `seed`; with `already_selected` every
    pick is the farthest row. `devices`: the JAX devices to shard rows over (default: all of them).
    """
    x = np.asarray(embeddings, dtype=np.float32)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"embeddings must be a non-empty (N, d) array, got shape {x.shape}")
    n = x.shape[0]
    selected = np.unique(np.asarray([] if already_selected is None else already_selected, dtype=np.int64))
    if selected.size and (selected[0] < 0 or selected[-1] >= n):
        raise ValueError(f"already_selected holds indices outside [0, {n})")
    if not 1 <= k <= n - selected.size:
        raise ValueError(f"k must be in [1, {n - selected.size}] (rows not already selected), got {k}")
    mean = coarse_mean(x)  # refuses NaN and inf
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    elif not 0 <= first < n:
        raise ValueError(f"first must be in [0, {n}), got {first}")

    devices = list(devices or jax.devices())
    mesh = Mesh(np.array(devices), (AXIS,))
    # Centred on the host into one buffer, so the devices hold N*d floats and no second copy; aligned, so that
    # on the CPU backend device_put uses it in place instead of copying it once more.
    columns, xx = centred_columns(x, mean, len(devices))
    init = np.full(len(xx), np.inf, dtype=np.float32)
    init[n:] = TAKEN
    init[selected] = TAKEN
    rows = NamedSharding(mesh, P(AXIS))
    indices, radii = kcenter_scan(
        jax.device_put(columns, NamedSharding(mesh, P(AXIS, None, None))),
        jax.device_put(xx, rows),
        jax.device_put(init, rows),
        jnp.asarray(x[selected] - mean if selected.size else np.zeros((1, x.shape[1]), np.float32)),
        jnp.asarray(first, jnp.int32),
        k=k,
        n_centers=int(selected.size),
        mesh=mesh,
    )
    return np.asarray(indices, dtype=np.int64), np.sqrt(np.maximum(np.asarray(radii, dtype=np.float64), 0.0))  # 0 once every row is a center
