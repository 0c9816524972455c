"""KCenterGreedy: same picks as a plain NumPy reference, radii, already_selected, sharding, pruning, the asset."""

import json
import os
import subprocess
import sys
import textwrap

import dagster as dg
import numpy as np
import polars as pl
import pytest

from wavecoder_assets.assets.coreset import CoresetConfig, coreset
from wavecoder_assets.coreset import kcenter_greedy
from wavecoder_assets.coreset.kcenter import coarse_mean
from wavecoder_assets.coreset.projected import kcenter_greedy_projected
from wavecoder_assets.coreset.pruned import kcenter_greedy_pruned
from wavecoder_assets.coreset.select import select_coreset
from wavecoder_assets.lakefiles import read_table, table_path, write_table
from wavecoder_assets.resources import resources_for


def reference_kcenter(x, k, first=None, already_selected=()):
    """google/active-learning's kcenter_greedy, written out: exact float64 distances to the newest center,
    running minimum, argmax (lowest index on ties). Chosen rows are never picked again."""
    x = np.asarray(x, dtype=np.float64)
    min_d = np.full(len(x), np.inf)
    chosen = np.zeros(len(x), dtype=bool)
    for c in already_selected:
        min_d = np.minimum(min_d, np.sqrt(((x - x[c]) ** 2).sum(axis=1)))
        chosen[c] = True
    nxt = first if len(already_selected) == 0 else int(np.argmax(np.where(chosen, -1, min_d)))
    indices, radii = [], []
    for _ in range(k):
        min_d = np.minimum(min_d, np.sqrt(((x - x[nxt]) ** 2).sum(axis=1)))
        chosen[nxt] = True
        indices.append(nxt)
        candidates = np.where(chosen, -1, min_d)
        radii.append(candidates.max())
        nxt = int(np.argmax(candidates))
    return np.array(indices), np.array(radii)


def grid_with_duplicates(seed, n=240, d=3):
    """Integer points on a 3^d grid: many exact distance ties and exact duplicate rows."""
    return np.random.default_rng(seed).integers(0, 3, size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_matches_reference_on_random_data(seed):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(400, 24)) + 3.0).astype(np.float32)  # an offset: the norm expansion must not cancel
    first = int(rng.integers(len(x)))
    indices, radii = kcenter_greedy(x, 60, first=first)
    ref_indices, ref_radii = reference_kcenter(x, 60, first=first)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [10, 27, 40])  # 27 = every distinct grid point; 40 goes on into duplicates
def test_matches_reference_with_ties(seed, k):
    x = grid_with_duplicates(seed)
    first = seed * 7
    indices, radii = kcenter_greedy(x, k, first=first)
    ref_indices, ref_radii = reference_kcenter(x, k, first=first)
    np.testing.assert_array_equal(indices, ref_indices)  # ties go to the lowest index, exactly like the reference
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-6, atol=0)
    assert len(set(indices.tolist())) == k


def test_radii_non_increasing_and_seeded_first_center():
    x = np.random.default_rng(5).normal(size=(1000, 16)).astype(np.float32)
    indices, radii = kcenter_greedy(x, 100, seed=11)
    assert np.all(np.diff(radii) <= 0)
    again, _ = kcenter_greedy(x, 100, seed=11)
    np.testing.assert_array_equal(indices, again)
    firsts = {int(kcenter_greedy(x, 1, seed=s)[0][0]) for s in range(6)}
    assert len(firsts) > 1  # the seed draws the first center (the paper's script always started at row 0)
    # radii[i] is the true coverage radius after i+1 picks
    dist = np.sqrt(((x[:, None, :].astype(np.float64) - x[indices[:10]][None]) ** 2).sum(-1))
    np.testing.assert_allclose(radii[9], dist.min(axis=1).max(), rtol=1e-5)


def test_already_selected_is_honoured():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 12)).astype(np.float32)
    already = [3, 17, 250, 499]
    indices, radii = kcenter_greedy(x, 40, already_selected=already)
    ref_indices, ref_radii = reference_kcenter(x, 40, already_selected=already)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-4)
    assert not set(indices.tolist()) & set(already)
    # every radius counts the already selected centers: below the radius of those centers alone
    alone = np.sqrt(((x[:, None, :] - x[already][None]) ** 2).sum(-1)).min(axis=1).max()
    assert radii[0] < alone


def test_already_selected_in_several_blocks(monkeypatch):
    """Many already selected centers are folded in block by block (the last block padded)."""
    from wavecoder_assets.coreset import kcenter as kcenter_module

    x = np.random.default_rng(8).normal(size=(501, 6)).astype(np.float32)
    already = list(range(0, 501, 12))  # 42 centers in blocks of 16: 3 blocks, the last one padded
    monkeypatch.setattr(kcenter_module, "_BLOCK_ELEMS", 501 * 16)
    indices, radii = kcenter_greedy(x, 30, already_selected=already)
    ref_indices, ref_radii = reference_kcenter(x, 30, already_selected=already)
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-4)


def test_bad_input_is_refused():
    x = np.zeros((10, 4), np.float32)
    with pytest.raises(ValueError, match="k must be"):
        kcenter_greedy(x, 11)
    with pytest.raises(ValueError, match="k must be"):
        kcenter_greedy(x, 8, already_selected=[0, 1, 2])
    with pytest.raises(ValueError, match="NaN"):
        kcenter_greedy(np.full((4, 2), np.nan, np.float32), 2)
    with pytest.raises(ValueError, match="outside"):
        kcenter_greedy(x, 2, already_selected=[10])


@pytest.mark.parametrize("variant", [kcenter_greedy, kcenter_greedy_projected, kcenter_greedy_pruned])
@pytest.mark.parametrize("bad", [[np.inf], [-np.inf], [np.inf, -np.inf], [np.nan]])
def test_nan_and_inf_are_refused_by_every_variant(variant, bad):
    """The finiteness check is the mean's pass: +inf and -inf in one column (a NaN mean) are caught too."""
    x = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)
    x[[7, 31][: len(bad)], 2] = bad
    with pytest.raises(ValueError, match="NaN or inf"):
        variant(x, 3, seed=0)


@pytest.mark.parametrize("n, n_devices", [(1003, 4), (50, 4), (700, 1), (10, 3)])
def test_centred_columns_hold_each_devices_rows_as_aligned_columns(n, n_devices):
    from wavecoder_assets.coreset.kcenter import centred_columns

    x = np.random.default_rng(n).normal(size=(n, 5)).astype(np.float32)
    mean = coarse_mean(x)
    columns, xx = centred_columns(x, mean, n_devices)
    n_local = columns.shape[2]
    assert columns.shape == (n_devices, 5, n_local) and n_local % 16 == 0 and n_devices * n_local >= n
    rows = columns.transpose(0, 2, 1).reshape(-1, 5)  # back to one row per line, blocks in device order
    np.testing.assert_array_equal(rows[:n], x - mean)
    assert not rows[n:].any()  # padding rows are zeros
    np.testing.assert_allclose(xx[:n], ((x - mean).astype(np.float64) ** 2).sum(1), rtol=1e-6)
    assert len(xx) == n_devices * n_local and not xx[n:].any()
    assert all(block.ctypes.data % 64 == 0 for block in columns)  # so no device's block needs a copy


def test_centred_columns_reach_the_cpu_device_without_a_copy():
    """On the CPU backend the aligned host buffer is the device buffer (one copy of the rows in memory, not two)."""
    import jax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from wavecoder_assets.coreset.kcenter import AXIS, centred_columns

    x = np.random.default_rng(0).normal(size=(1001, 7)).astype(np.float32)
    columns, _ = centred_columns(x, coarse_mean(x), 1)
    mesh = Mesh(np.array(jax.devices("cpu")[:1]), (AXIS,))
    on_device = jax.device_put(columns, NamedSharding(mesh, P(AXIS, None, None)))
    assert on_device.addressable_data(0).unsafe_buffer_pointer() == columns.ctypes.data


def test_sharded_over_fake_devices_matches_one_device():
    """Rows sharded over 4 host devices (N not a multiple of 4: padding rows) pick what one device picks."""
    script = textwrap.dedent(
        """
        import json, jax, numpy as np
        from wavecoder_assets.coreset import kcenter_greedy
        assert len(jax.devices()) == 4, jax.devices()
        x = np.random.default_rng(0).normal(size=(1003, 16)).astype(np.float32)
        grid = np.random.default_rng(1).integers(0, 3, size=(301, 3)).astype(np.float32)
        out = {}
        for name, kwargs in [("seeded", dict(seed=3)), ("already", dict(already_selected=[0, 500, 1002]))]:
            one = kcenter_greedy(x, 50, devices=jax.devices()[:1], **kwargs)
            four = kcenter_greedy(x, 50, **kwargs)
            out[name] = [one[0].tolist(), four[0].tolist(), float(np.abs(one[1] - four[1]).max())]
        out["grid"] = [kcenter_greedy(grid, 30, first=2, devices=jax.devices()[:1])[0].tolist(), kcenter_greedy(grid, 30, first=2)[0].tolist(), 0.0]
        print(json.dumps(out))
        """
    )
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    for name, (one, four, radius_gap) in out.items():
        assert one == four, name
        assert radius_gap < 1e-5, name
    grid = np.random.default_rng(1).integers(0, 3, size=(301, 3)).astype(np.float32)
    assert out["grid"][1] == reference_kcenter(grid, 30, first=2)[0].tolist()


@pytest.mark.parametrize("seed", [0, 1])
def test_pruned_variant_picks_the_same_and_skips_work(seed):
    rng = np.random.default_rng(seed)
    grid = grid_with_duplicates(seed)
    np.testing.assert_array_equal(kcenter_greedy_pruned(grid, 40, first=4)[0], reference_kcenter(grid, 40, first=4)[0])
    # clustered data: 20 tight clusters apart (norms ~7x the cluster radius: float32 keeps ~1e-5 of the radius)
    centers = rng.normal(size=(20, 32)) * 3
    x = (centers[rng.integers(0, 20, 3000)] + rng.normal(size=(3000, 32)) * 0.3).astype(np.float32)
    indices, radii, scanned = kcenter_greedy_pruned(x, 120, seed=seed, already_selected=[1, 2])
    ref_indices, ref_radii = reference_kcenter(x, 120, first=None, already_selected=[1, 2])
    assert set(indices.tolist()) == set(ref_indices.tolist())
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-4)
    assert scanned[60:].mean() < 0.5 * len(x)  # once every cluster has a center, most blocks are skipped


@pytest.mark.parametrize("seed", [0, 1])
def test_projected_bound_variant_picks_the_same_and_skips_work(seed):
    grid = grid_with_duplicates(seed)
    np.testing.assert_array_equal(kcenter_greedy_projected(grid, 40, first=4)[0], reference_kcenter(grid, 40, first=4)[0])
    # unclustered, low-rank-ish data: most variance in a few directions, so the projected bound decides most rows
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(2000, 8)) @ rng.normal(size=(8, 48)) + 0.05 * rng.normal(size=(2000, 48))).astype(np.float32)
    indices, radii, scanned = kcenter_greedy_projected(x, 100, seed=seed, already_selected=[5], dims=12)
    ref_indices, ref_radii = reference_kcenter(x, 100, already_selected=[5])
    np.testing.assert_array_equal(indices, ref_indices)
    np.testing.assert_allclose(radii, ref_radii, rtol=1e-4)
    assert scanned[50:].mean() < 0.5 * len(x)


def _lake_with_embeddings(lake_dir, n=60, d=8):
    rng = np.random.default_rng(0)
    langs = ["python", "java", "go"]
    code = pl.DataFrame(
        {
            "id": [f"id{i:03d}" for i in range(n)],
            "source": "test",
            "repo": [f"org/repo{i % 4}" for i in range(n)],
            "path": [f"src/f{i}.x" for i in range(n)],
            "func_name": [f"fn{i}" for i in range(n)],
            "language": [langs[i % 3] for i in range(n)],
            "code": [f"def fn{i}(): return {i}" for i in range(n)],
            "docstring": [f"Return {i}." for i in range(n)],
            "url": None,
            "sha": None,
            "partition": None,
        }
    )
    vectors = rng.normal(size=(n, d)).astype(np.float32)
    vectors[: n // 3] += 4.0  # two blobs, so the picks are not just random
    embeddings = pl.DataFrame(
        {"id": code["id"], "language": code["language"], "embedding": vectors, "model": "fixture"},
        schema={"id": pl.String, "language": pl.String, "embedding": pl.Array(pl.Float32, d), "model": pl.String},
    )
    write_table(code, table_path(lake_dir, "filtered_code"))
    write_table(embeddings, table_path(lake_dir, "code_embeddings"))
    return code, vectors


def test_select_coreset_picks_among_the_embedded_rows_with_code_in_id_order():
    ids = [f"id{i:02d}" for i in range(10)]
    vectors = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    embeddings = pl.DataFrame({"id": ids, "embedding": vectors},
                              schema={"id": pl.String, "embedding": pl.Array(pl.Float32, 4)})
    # id08 and id09 have no code row; id00 has two (the first counts)
    code = pl.DataFrame({"id": ids[:8] + ["id00"], "code": [f"c{i}" for i in range(9)]})
    picked = select_coreset(embeddings.reverse(), code, 5, seed=1)  # shards stored in any order pick the same
    expected, radii = kcenter_greedy(vectors[:8], 5, seed=1)
    assert picked.selected["id"].to_list() == [ids[i] for i in expected]
    assert picked.selected.columns == ["id", "code", "rank", "radius"]
    assert picked.selected["rank"].to_list() == list(range(5))
    np.testing.assert_allclose(picked.radii, radii)
    assert picked.candidates["id"].to_list() == ids[:8] and picked.candidates["code"][0] == "c0"
    assert select_coreset(embeddings, code, 50, algorithm="pruned").selected.height == 8  # k clamped
    with pytest.raises(ValueError, match="no embedded rows match filtered_code"):
        select_coreset(embeddings, code.clear(), 5)


@pytest.mark.parametrize("algorithm", ["scan", "projected", "pruned"])
def test_coreset_asset_materializes_selected_rows(lake_dir, algorithm):
    code, vectors = _lake_with_embeddings(lake_dir)
    result = dg.materialize(
        [dg.AssetSpec("filtered_code"), dg.AssetSpec("code_embeddings"), coreset],
        resources=resources_for("local", lake_dir=lake_dir),
        run_config=dg.RunConfig({"coreset": CoresetConfig(k=12, seed=4, algorithm=algorithm)}),
        selection=["coreset"],
    )
    assert result.success
    out = read_table(lake_dir, "coreset")
    assert out.columns == ["id", "language", "code", "docstring", "repo", "path", "func_name", "rank", "radius"]
    assert out["rank"].to_list() == list(range(12))
    expected, radii = kcenter_greedy(vectors, 12, seed=4)
    assert out["id"].to_list() == code["id"][expected.tolist()].to_list()  # the selected rows, not the first N
    np.testing.assert_allclose(out["radius"].to_numpy(), radii, rtol=1e-5)
    assert out.join(code, on="id").filter(pl.col("code") != pl.col("code_right")).height == 0

    meta = result.get_asset_materialization_events()[0].materialization.metadata
    assert meta["radius_vs_k"].value.startswith("![radius vs k](data:image/png;base64,")
    assert "| python | 20 |" in meta["per_language"].value
    assert meta["k"].value == 12 and meta["candidates"].value == 60


def test_coreset_asset_clamps_k_to_the_rows_there_are(lake_dir):
    _lake_with_embeddings(lake_dir, n=7)
    result = dg.materialize(
        [dg.AssetSpec("filtered_code"), dg.AssetSpec("code_embeddings"), coreset],
        resources=resources_for("local", lake_dir=lake_dir),
        run_config=dg.RunConfig({"coreset": CoresetConfig(k=40)}),
        selection=["coreset"],
    )
    out = read_table(lake_dir, "coreset")
    assert sorted(out["id"].to_list()) == [f"id{i:03d}" for i in range(7)]
    assert out["radius"][-1] == 0.0  # every row is a center
    assert result.get_asset_materialization_events()[0].materialization.metadata["k_requested"].value == 40
