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
"""

from __future__ import annotations

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


def _sq_dist(x, xx, c, cc):
    """Squared distances of the rows of x to center(s) c (a vector, or a (m, d) block) by the norm expansion."""
    dot = jnp.matmul(x, c.T if c.ndim == 2 else c, precision=jax.lax.Precision.HIGHEST)
    if c.ndim == 2:
        xx, cc = xx[:, None], cc[None, :]
    d2 = xx - 2.0 * dot + cc
    return jnp.where(d2 <= NOISE * (xx + cc), 0.0, d2)


def _kcenter_shard(x, init, centers, first, *, k: int, n_centers: int):
    """Body run on each device's block of (centred) rows; returns (indices, squared radii), the same on every
    device."""
    n_local = x.shape[0]
    offset = jax.lax.axis_index(AXIS) * n_local
    xx = jnp.sum(x * x, axis=1)

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
            return jnp.minimum(min_d, jnp.min(_sq_dist(x, xx, c, cc), axis=1))

        min_d = jax.lax.fori_loop(0, n_blocks, add_block, min_d)
    min_d = jnp.where(init < 0, TAKEN, min_d)

    def farthest(min_d):
        """Global (max, argmax) with the lowest index on ties: devices hold consecutive row blocks in order."""
        local = jnp.argmax(min_d)
        maxes = jax.lax.all_gather(min_d[local], AXIS)
        owners = jax.lax.all_gather(local + offset, AXIS)
        best = jnp.argmax(maxes)
        return maxes[best], owners[best]

    def center_row(idx):
        """The row `idx` and its squared norm, from the device that holds it (others add zeros: exact)."""
        local = idx - offset
        mine = (local >= 0) & (local < n_local)
        safe = jnp.clip(local, 0, n_local - 1)
        row = jax.lax.psum(jnp.where(mine, x[safe], 0.0), AXIS)
        norm = jax.lax.psum(jnp.where(mine, xx[safe], 0.0), AXIS)
        return row, norm, mine, safe

    def step(t, state):
        min_d, idx, indices, radii = state
        c, cc, mine, local = center_row(idx)
        min_d = jnp.where(min_d < 0, TAKEN, jnp.minimum(min_d, _sq_dist(x, xx, c, cc)))
        min_d = min_d.at[local].set(jnp.where(mine, TAKEN, min_d[local]))
        radius, nxt = farthest(min_d)
        return min_d, nxt, indices.at[t].set(idx), radii.at[t].set(radius)

    start = first if not n_centers else farthest(min_d)[1]
    state = (min_d, jnp.asarray(start, jnp.int32), jnp.zeros(k, jnp.int32), jnp.zeros(k, jnp.float32))
    _, _, indices, radii = jax.lax.fori_loop(0, k, step, state)
    return indices, radii


@partial(jax.jit, static_argnames=("k", "n_centers", "mesh"))
def _kcenter(x, init, centers, first, *, k: int, n_centers: int, mesh: Mesh):
    body = partial(_kcenter_shard, k=k, n_centers=n_centers)
    return jax.shard_map(
        body,
        mesh=mesh,
        in_specs=(P(AXIS, None), P(AXIS), P(), P()),
        out_specs=(P(), P()),
        check_vma=False,  # the outputs are replicated by construction (all_gather / psum)
    )(x, init, centers, first)


def coarse_mean(x: np.ndarray) -> np.ndarray:
    mean = x.mean(axis=0, dtype=np.float64)
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
    if not np.isfinite(x).all():
        raise ValueError("embeddings contain NaN or inf")
    if first is None:
        first = int(np.random.default_rng(seed).integers(n))
    elif not 0 <= first < n:
        raise ValueError(f"first must be in [0, {n}), got {first}")

    devices = list(devices or jax.devices())
    mesh = Mesh(np.array(devices), (AXIS,))
    n_pad = -(-n // len(devices)) * len(devices)
    init = np.full(n_pad, np.inf, dtype=np.float32)
    init[n:] = TAKEN
    init[selected] = TAKEN
    # Centre on the host into one padded buffer, so the devices hold N*d floats and no second copy.
    centred = np.zeros((n_pad, x.shape[1]), dtype=np.float32)
    np.subtract(x, coarse_mean(x), out=centred[:n])
    indices, radii = _kcenter(
        jax.device_put(centred, NamedSharding(mesh, P(AXIS, None))),
        jax.device_put(init, NamedSharding(mesh, P(AXIS))),
        jnp.asarray(centred[selected] if selected.size else np.zeros((1, x.shape[1]), np.float32)),
        jnp.asarray(first, jnp.int32),
        k=k,
        n_centers=int(selected.size),
        mesh=mesh,
    )
    return np.asarray(indices, dtype=np.int64), np.sqrt(np.maximum(np.asarray(radii, dtype=np.float64), 0.0))  # 0 once every row is a center
