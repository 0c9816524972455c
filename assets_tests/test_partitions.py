"""Shards: the embedding and LLM assets are partitioned by a stable hash of each row's source id.

Shard assignment; the sharded Delta table (a write replaces only its shards, and its commit carries the whole
table's content version, also when writers of other shards race it); real per-shard materializations of
code_embeddings and the LLM stage into tmp lakes with an ephemeral instance (each shard's data version is its
rows' content version; a failed shard reruns alone and the others keep their versions; unpartitioned readers see
every shard); what Dagster 1.13 marks stale with partitions; and `python -m wavecoder_assets.run`, the
one command that runs the graph shard by shard (`make run`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest
import yaml
from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView
from dagster._core.definitions.data_version import CachingStaleStatusResolver
from dagster._core.instance.ref import InstanceRef

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.assets import generate as gen_assets
from wavecoder_assets.assets.coreset import CoresetConfig, coreset
from wavecoder_assets.assets.corpus import FilterConfig
from wavecoder_assets.assets.embed import CodeEmbeddingsConfig, code_embeddings
from wavecoder_assets.assets.settings import SHARDS, SHARDS_ENV, rows_in_shards, shard_count
from wavecoder_assets.codefacts import takes_plain_values
from wavecoder_assets.definitions import defs
from wavecoder_assets.hashing import shard_of
from wavecoder_assets.lakefiles import (
    DATA_VERSION_KEY,
    SHARD_COLUMN,
    SHARDS_KEY,
    commit_metadata,
    content_version,
    read_table,
    table_history,
    table_path,
    write_shards,
    write_table,
)
from wavecoder_assets.resources import resources_for
from wavecoder_assets.run import RUN_GROUP_TAG, shard_phases

KEYS = SHARDS.get_partition_keys()
DATA_VERSION_TAG = "dagster/data_version"
EMBEDDINGS = dg.AssetKey("code_embeddings")


def all_shards() -> dict[str, str]:
    """Run tags for one run over every shard (each shard then gets the run's one data version)."""
    return {"dagster/asset_partition_range_start": KEYS[0], "dagster/asset_partition_range_end": KEYS[-1]}


def ids_in_shard(shard: str, count: int, prefix: str = "src") -> list[str]:
    """`count` source ids that hash into `shard`."""
    found, i = [], 0
    while len(found) < count:
        if shard_of(f"{prefix}-{i}", len(KEYS)) == shard:
            found.append(f"{prefix}-{i}")
        i += 1
    return found


# --------------------------------------------------------------------------------- assignment


def test_shard_of_is_stable_and_spreads_ids_evenly(monkeypatch):
    # The same id lands in the same shard on every machine and Python (sha256, not the seeded hash()).
    assert [shard_of(i, 4) for i in ("a", "b", "raw-0001", "hello")] == ["3", "3", "2", "1"]
    assert shard_of("raw-0001", 7) == "6"
    counts = Counter(shard_of(f"id{i}", 4) for i in range(4000))
    assert sorted(counts) == ["0", "1", "2", "3"] and all(900 < n < 1100 for n in counts.values())
    with pytest.raises(ValueError):
        shard_of("a", 0)
    frame = pl.DataFrame({"id": [f"id{i}" for i in range(50)], "x": range(50)})
    parts = [rows_in_shards(frame, "id", [k]) for k in KEYS]
    assert sum(p.height for p in parts) == 50 and pl.concat(parts).sort("x").equals(frame)
    monkeypatch.setenv(SHARDS_ENV, "100")  # Dagster stops checking staleness across >= 100 upstream partitions
    with pytest.raises(ValueError, match="from 1 to 99"):
        shard_count()
    monkeypatch.setenv(SHARDS_ENV, "8")
    assert shard_count() == 8


# --------------------------------------------------------------------------------- the sharded table


def _rows(ids: list[str], shard: str, value: float) -> pl.DataFrame:
    return pl.DataFrame({"id": ids, "embedding": np.full((len(ids), 3), value, np.float32),
                         SHARD_COLUMN: [shard] * len(ids)}).with_columns(pl.col("embedding").cast(pl.Array(pl.Float32, 3)))


def test_a_shard_write_replaces_only_its_shards_and_versions_the_whole_table(tmp_path):
    path = tmp_path / "lake" / "emb"
    write_shards(pl.concat([_rows(["a", "b"], "0", 0.0), _rows(["c"], "1", 1.0)]), path, shards=["0", "1"],
                 shard_count=2)
    shard_1 = read_table(tmp_path / "lake", "emb").filter(pl.col(SHARD_COLUMN) == "1")
    version = write_shards(_rows(["a"], "0", 5.0), path, shards=["0"], shard_count=2)
    table = read_table(tmp_path / "lake", "emb").sort("id")
    assert table["id"].to_list() == ["a", "c"] and table.filter(pl.col(SHARD_COLUMN) == "1").equals(shard_1)
    assert table.schema["embedding"] == pl.Array(pl.Float32, 3)  # the Polars type, as written
    commit = commit_metadata(path, version)
    # The whole table's content version, the shard column left out; the shard's own version beside it.
    assert commit[DATA_VERSION_KEY] == content_version(table.drop(SHARD_COLUMN))
    assert json.loads(commit[SHARDS_KEY]) == {"0": content_version(_rows(["a"], "0", 5.0).drop(SHARD_COLUMN))}
    assert table_history(tmp_path / "lake", "emb")[0]["shards"] == json.loads(commit[SHARDS_KEY])

    write_shards(_rows([], "1", 0.0), path, shards=["1"], shard_count=2)  # a shard without rows is emptied
    assert read_table(tmp_path / "lake", "emb")["id"].to_list() == ["a"]
    write_shards(_rows(["z"], "2", 0.0), path, shards=["2"], shard_count=3)  # rows assigned by another count
    assert read_table(tmp_path / "lake", "emb")["id"].to_list() == ["z"]
    with pytest.raises(ValueError, match=r"rows of shard\(s\) \['1'\]"):
        write_shards(_rows(["q"], "1", 0.0), path, shards=["0"], shard_count=3)


def test_racing_shard_writers_never_commit_a_stale_whole_table_version(tmp_path):
    """Two writers of different shards at once: Delta would rebase one commit onto the other's version, keeping a
    whole-table content version computed before it; write_shards retries instead, so every version's commit
    has its own table's content version and no write is lost."""
    lake, path = tmp_path / "lake", tmp_path / "lake" / "emb"
    errors = []

    def writer(shard: str) -> None:
        try:
            for i in range(3):  # each write loses at most 3 times to the other writer: within its attempts
                write_shards(_rows([f"{shard}-row"], shard, float(i)), path, shards=[shard], shard_count=2)
        except Exception as error:  # surfaced in the main thread's assertion
            errors.append(error)

    write_shards(pl.concat([_rows(["0-row"], "0", -1.0), _rows(["1-row"], "1", -1.0)]), path, shards=["0", "1"],
                 shard_count=2)
    threads = [threading.Thread(target=writer, args=(shard,)) for shard in "01"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    history = table_history(lake, "emb")
    assert len(history) == 7  # 1 + 2 x 3 writes, none lost
    for entry in history:
        version_rows = read_table(lake, "emb", entry["version"]).drop(SHARD_COLUMN)
        assert entry["data_version"] == content_version(version_rows), entry["version"]
    final = read_table(lake, "emb").sort("id")
    assert final["embedding"].to_list() == [[2.0] * 3, [2.0] * 3]


# --------------------------------------------------------------------------------- Dagster: embeddings by shard


def _filtered_code(n: int) -> pl.DataFrame:
    funcs = [f"def f{i}(x):\n    \"\"\"Return x plus {i}.\"\"\"\n    return x + {i} * {i % 7}" for i in range(n)]
    return pl.DataFrame({"id": [f"row-{i:03d}" for i in range(n)], "language": ["python"] * n, "code": funcs,
                         "docstring": [f"Return x plus {i}." for i in range(n)], "repo": ["r"] * n,
                         "path": ["p.py"] * n, "func_name": [f"f{i}" for i in range(n)]})


class Embeddings:
    """filtered_code in a tmp lake (written as the corpus stage would), code_embeddings by shard, coreset."""

    def __init__(self, lake_dir: str):
        self.lake = lake_dir
        self.instance = dg.DagsterInstance.ephemeral()
        self.assets = [dg.AssetSpec("filtered_code"), code_embeddings, coreset]
        self.resources = resources_for("local", lake_dir=lake_dir)

    def embed(self, shard: str, assets=None, **config) -> str:
        result = dg.materialize(assets or self.assets, selection=[EMBEDDINGS], partition_key=shard,
                                instance=self.instance, resources=self.resources,
                                run_config=dg.RunConfig({"code_embeddings": CodeEmbeddingsConfig(**config)}))
        assert result.success
        (event,) = result.get_asset_materialization_events()
        assert event.partition == shard
        return event.materialization.tags[DATA_VERSION_TAG]

    def coreset(self) -> dg.ExecuteInProcessResult:
        result = dg.materialize(self.assets, selection=[dg.AssetKey("coreset")], instance=self.instance,
                                resources=self.resources, run_config=dg.RunConfig({"coreset": CoresetConfig(k=5)}))
        assert result.success
        return result

    def resolver(self, assets=None) -> CachingStaleStatusResolver:
        view = AssetGraphView.for_test(dg.Definitions(assets=assets or self.assets, resources=self.resources),
                                       self.instance)
        return CachingStaleStatusResolver(self.instance, view.asset_graph, view)

    def status(self, key: str, partition: str | None = None, assets=None) -> tuple[str, list[tuple]]:
        resolver = self.resolver(assets)
        asset = dg.AssetKey(key)
        return (resolver.get_status(asset, partition).value,
                [(c.asset_key.to_user_string(), c.partition_key, c.category.value, c.reason,
                  c.dependency.asset_key.to_user_string() if c.dependency else None,
                  c.dependency_partition_key) for c in resolver.get_stale_causes(asset, partition)])


@pytest.mark.timeout(600)
def test_embeddings_by_shard_versions_per_shard_coreset_reads_all_and_staleness(lake_dir):
    filtered = _filtered_code(24)
    write_table(filtered, table_path(lake_dir, "filtered_code"))
    run = Embeddings(lake_dir)
    versions = {shard: run.embed(shard) for shard in KEYS}
    table = read_table(lake_dir, "code_embeddings")
    assert sorted(table["id"]) == sorted(filtered["id"])  # every row, each in its own shard
    for shard in KEYS:
        rows = table.filter(pl.col(SHARD_COLUMN) == shard)
        assert rows["id"].to_list() == rows_in_shards(filtered, "id", [shard])["id"].sort().to_list()
        # a shard's data version is its rows' content version, as the lake's commit for that shard says
        assert versions[shard] == content_version(rows.drop(SHARD_COLUMN))
    last = [e for e in table_history(lake_dir, "code_embeddings") if e["shards"]][0]
    assert last["shards"] == {KEYS[-1]: versions[KEYS[-1]]}

    result = run.coreset()
    metadata = result.get_asset_materialization_events()[0].materialization.metadata
    assert metadata["candidates"].value == filtered.height  # the unpartitioned reader sees every shard
    assert read_table(lake_dir, "coreset").columns[:2] == ["id", "language"]  # no shard column leaks downstream
    fresh = ("FRESH", [])
    assert run.status("coreset") == fresh and all(run.status("code_embeddings", k) == fresh for k in KEYS)

    # An unchanged rerun of one shard: the same data version, so the coreset stays fresh.
    assert run.embed(KEYS[1]) == versions[KEYS[1]]
    assert run.status("coreset") == fresh

    # New rows in one shard's part of filtered_code: that shard gets a new version and the coreset (which read
    # every shard) is stale because of that shard alone. The other shards were not rerun and keep theirs.
    extra = pl.DataFrame({"id": ids_in_shard(KEYS[2], 2, "new"), "language": ["python"] * 2,
                          "code": ["def g(a, b):\n    return a * b - 1", "def h(s):\n    return s[::-1].upper()"],
                          "docstring": ["Multiply.", "Reverse."], "repo": ["r"] * 2, "path": ["q.py"] * 2,
                          "func_name": ["g", "h"]})
    write_table(pl.concat([filtered, extra]), table_path(lake_dir, "filtered_code"))
    changed = run.embed(KEYS[2])
    assert changed != versions[KEYS[2]]
    status, causes = run.status("coreset")
    assert status == "STALE"
    assert causes == [("coreset", None, "DATA", "has a new dependency data version", "code_embeddings", KEYS[2])]
    others = [k for k in KEYS if k != KEYS[2]]
    latest = {k: run.resolver().get_current_data_version(EMBEDDINGS, k).value for k in KEYS}
    assert {k: latest[k] for k in others} == {k: versions[k] for k in others} and latest[KEYS[2]] == changed

    # What the UI shows for a sharded asset as a whole: Dagster 1.13 answers FRESH with no causes for a
    # partitioned asset asked without a partition (there is no UNKNOWN status); only each shard has a status.
    edited = code_embeddings.map_asset_specs(lambda spec: spec.replace_attributes(code_version="edited"))
    assets = [dg.AssetSpec("filtered_code"), edited, coreset]
    assert run.status("code_embeddings", assets=assets) == fresh
    assert run.status("code_embeddings", KEYS[0], assets=assets) == (
        "STALE", [("code_embeddings", KEYS[0], "CODE", "has a new code version", None, None)])
    # ... and the reader of all shards is not marked stale by a shard's code change until that shard is rerun
    # (Dagster does not pass staleness on).
    run.coreset()
    assert run.status("coreset", assets=assets) == fresh
    assert run.embed(KEYS[0], assets=assets) == versions[KEYS[0]]  # same rows from the "edited" code
    assert run.status("coreset", assets=assets) == fresh


def test_a_run_over_every_shard_gives_them_one_data_version(lake_dir):
    """The limit behind BackfillPolicy.multi_run(1): Dagster 1.13 records one data version per output, so a run
    over a range of shards gives each shard the content version of all the rows it wrote."""
    filtered = _filtered_code(12)
    write_table(filtered, table_path(lake_dir, "filtered_code"))
    run = Embeddings(lake_dir)
    result = dg.materialize(run.assets, selection=[EMBEDDINGS], instance=run.instance, resources=run.resources,
                            tags=all_shards())
    assert result.success
    versions = {e.partition: e.materialization.tags[DATA_VERSION_TAG] for e in result.get_asset_materialization_events()}
    assert sorted(versions) == KEYS
    assert set(versions.values()) == {content_version(read_table(lake_dir, "code_embeddings").drop(SHARD_COLUMN))}


# --------------------------------------------------------------------------------- Dagster: the LLM stage by shard


@pytest.mark.timeout(600)
def test_a_failed_llm_shard_reruns_alone_and_the_others_keep_their_versions(lake_dir):
    """generated_instructions + judged_instructions as a backfill runs them: one run per shard. One shard's
    endpoint calls fail (3 attempts each); its run fails and writes nothing, the others succeed. Rerun alone
    (with more retries, as after fixing an endpoint), it succeeds; the other shards were not touched, and
    code_ocean, reading every shard, accounts for every candidate."""
    from assets_tests.test_generate import (
        DOUBLE,
        _discriminator,
        _generate_config,
        _judged,
        _llm,
        _spec,
        _write_coreset,
    )
    from wavecoder_assets.testing.openai_server import ThreadedServer

    failing = KEYS[1]
    sources = {}
    for shard in KEYS:
        for source_id in ids_in_shard(shard, 2):
            faults = "  # FAULTS=500,500,500" if shard == failing else ""
            sources[source_id] = _spec(f"Write a Python function that doubles a number ({source_id}).", DOUBLE) + faults
    _write_coreset(lake_dir, sources)
    instance = dg.DagsterInstance.ephemeral()
    generation = [dg.AssetSpec("coreset"), gen_assets.generator_discriminator]
    config = dg.RunConfig(ops={"generated_instructions": _generate_config()})

    def run_shard(shard: str, llm) -> dg.ExecuteInProcessResult:
        return dg.materialize(generation, selection=generation[1:], partition_key=shard, instance=instance,
                              raise_on_error=False, run_config=config,
                              resources=resources_for("local", lake_dir=lake_dir) | {"llm": llm,
                                                                                     "discriminator": _discriminator()})

    with ThreadedServer() as server:
        runs = {shard: run_shard(shard, _llm(server.base_url, lake_dir)) for shard in KEYS}
        assert {shard: run.success for shard, run in runs.items()} == {k: k != failing for k in KEYS}
        (failure,) = [e for e in runs[failing].all_events if e.is_step_failure]
        assert f"shard(s) {failing}: 2 of 2 candidates failed" in str(failure.step_failure_data.error)
        judged = read_table(lake_dir, "judged_instructions")
        assert sorted(set(judged[SHARD_COLUMN])) == [k for k in KEYS if k != failing]
        before = {k: judged.filter(pl.col(SHARD_COLUMN) == k).sort("example_id") for k in KEYS if k != failing}
        versions = {k: _judged(runs[k]).tags[DATA_VERSION_TAG] for k in before}

        rerun = run_shard(failing, _llm(server.base_url, lake_dir, max_retries=4))
        assert rerun.success
    judged = read_table(lake_dir, "judged_instructions")
    assert judged.height == len(sources) and set(judged["verdict"]) == {"accepted"}
    for shard, rows in before.items():
        assert judged.filter(pl.col(SHARD_COLUMN) == shard).sort("example_id").equals(rows)
    records = {k: instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("judged_instructions"), asset_partitions=[k]), limit=10).records
        for k in KEYS}
    assert {k: len(r) for k, r in records.items()} == {k: 1 for k in KEYS}  # each shard materialized once
    for shard, version in versions.items():
        assert records[shard][0].event_log_entry.asset_materialization.tags[DATA_VERSION_TAG] == version

    ocean = dg.materialize([dg.AssetSpec("judged_instructions"), gen_assets.code_ocean_tables,
                            gen_assets.candidates_accounted], selection=[gen_assets.code_ocean_tables,
                                                                         gen_assets.candidates_accounted],
                           instance=instance, resources=resources_for("local", lake_dir=lake_dir))
    assert ocean.success and ocean.get_asset_check_evaluations()[0].passed
    assert read_table(lake_dir, "code_ocean").height == len(sources)


# --------------------------------------------------------------------------------- the one command


def test_the_project_job_runs_in_groups_a_backfill_would():
    groups = [(sorted(k.to_user_string() for k in keys), sharded)
              for keys, sharded in shard_phases(defs.resolve_job_def("wavecoder"))]
    assert groups == [
        (["benchmark_files", "corpus_sources", "embedded_models", "filtered_code", "filtered_out", "judge_calibration",
          "raw_code"], False),
        (["code_embeddings"], True),
        (["coreset"], False),
        (["generated_instructions", "judged_instructions", "oss_instructions"], True),
        (["code_ocean", "code_ocean_hub", "code_ocean_rejected", "eval_scores",
          "finetuned_model"], False),
        (["evol_instructions"], True),
        (["strategy_report"], False),
    ]
    graph = defs.resolve_asset_graph()
    sharded = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).is_partitioned}
    assert sharded == {"code_embeddings", "generated_instructions", "judged_instructions", "oss_instructions",
                       "evol_instructions"}
    for key in sharded:
        assert graph.get(dg.AssetKey(key)).backfill_policy == dg.BackfillPolicy.multi_run(1)


def small_tree(root: Path) -> Path:
    """Six Python functions to harvest (raw_code -> filtered_code -> code_embeddings)."""
    bodies = {"area": "return width * height", "perimeter": "return 2 * (width + height)",
              "diagonal": "return (width ** 2 + height ** 2) ** 0.5", "ratio": "return width / height",
              "square": "return width == height", "scale": "return width * 2, height * 2"}
    source = "\n\n".join(f'def {name}(width, height):\n    """Compute the {name} of a rectangle from its sides."""\n'
                         f"    {body}\n" for name, body in bodies.items())
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "shapes.py").write_text(source)
    return root


def run_corpus_to_embeddings(tmp_path: Path, extra_env: dict[str, str], timeout_s: float) -> dict:
    """`python -m wavecoder_assets.run` over corpus_sources -> raw_code -> filtered_code -> code_embeddings,
    2 shards, in a fresh process with its own DAGSTER_HOME and lake; returns what the instance recorded."""
    home, lake = tmp_path / "dagster_home", tmp_path / "data_lake"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    tree = small_tree(tmp_path / "tree")
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"ops": {
        "raw_code": {"config": {"paths": [str(tree)]}},
        "filtered_code": {"config": {"min_chars": 20, "near_dedup": False}},
        "code_embeddings": {"config": {"max_rows": None}},
    }}))
    env = {**os.environ, "DAGSTER_HOME": str(home), "WAVECODER_LAKE_DIR": str(lake), SHARDS_ENV: "2",
           "WAVECODER_CORPUS_PATHS": str(tree), **extra_env}
    done = subprocess.run(
        [sys.executable, "-m", "wavecoder_assets.run", "wavecoder", "-c", str(config),
         "--select", "corpus_sources,raw_code,filtered_code,filtered_out,code_embeddings"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout_s)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        runs = instance.get_runs()
        materialized = {}
        for key in ("raw_code", "filtered_code", "filtered_out", "code_embeddings"):
            for record in instance.fetch_materializations(dg.AssetKey(key), limit=10).records:
                event = record.event_log_entry
                materialized[(key, event.asset_materialization.partition)] = {
                    "data_version": event.asset_materialization.tags[DATA_VERSION_TAG],
                    "input_versions": {t.split("/")[-1]: v for t, v in event.asset_materialization.tags.items()
                                       if t.startswith("dagster/input_data_version/")},
                    "run_id": event.run_id}
        observed = instance.fetch_observations(dg.AssetKey("corpus_sources"), limit=10).records
        return {"stdout": done.stdout, "lake": str(lake), "instance_runs": runs, "materialized": materialized,
                "observed": [r.event_log_entry.asset_observation.tags[DATA_VERSION_TAG] for r in observed],
                "run_ids": {r.run_id: r for r in runs}}


def check_corpus_to_embeddings(result: dict) -> None:
    """Three runs of one group (the corpus; each of the 2 shards), each shard's data version its rows' content
    version, and lineage: raw_code read the observed corpus, each shard read filtered_code's version."""
    runs = result["instance_runs"]
    assert len(runs) == 3 and all(r.is_success for r in runs), [(r.run_id, r.status) for r in runs]
    assert len({r.tags[RUN_GROUP_TAG] for r in runs}) == 1
    assert sorted(r.tags.get("dagster/partition", "-") for r in runs) == ["-", "0", "1"]
    materialized = result["materialized"]
    assert sorted(materialized) == [("code_embeddings", "0"), ("code_embeddings", "1"), ("filtered_code", None),
                                    ("filtered_out", None), ("raw_code", None)]
    table = read_table(result["lake"], "code_embeddings")
    filtered = read_table(result["lake"], "filtered_code")
    assert sorted(table["id"]) == sorted(filtered["id"]) and filtered.height == 6
    for shard in ("0", "1"):
        rows = table.filter(pl.col(SHARD_COLUMN) == shard).drop(SHARD_COLUMN)
        assert rows.height > 0, f"shard {shard} is empty: the tiny corpus should fill both"
        entry = materialized[("code_embeddings", shard)]
        assert entry["data_version"] == content_version(rows)
        assert entry["input_versions"]["filtered_code"] == materialized[("filtered_code", None)]["data_version"]
        assert result["run_ids"][entry["run_id"]].tags["dagster/partition"] == shard
    assert materialized[("raw_code", None)]["input_versions"]["corpus_sources"] == result["observed"][0]
    assert materialized[("filtered_code", None)]["data_version"] == content_version(filtered)


@pytest.mark.timeout(900)
def test_the_one_command_runs_the_graph_shard_by_shard_in_process(tmp_path):
    result = run_corpus_to_embeddings(tmp_path, {}, timeout_s=840)
    check_corpus_to_embeddings(result)
    assert "ok     code_embeddings [shard 1]" in result["stdout"]


@pytest.mark.timeout(600)
def test_the_one_command_applies_the_jobs_own_config_to_every_run(tmp_path):
    """Without -c the runs get the Config defaults, as the UI's Materialize does (filtered_code keeps functions that
    take plain values): the main job has no config of its own."""
    home, lake = tmp_path / "dagster_home", tmp_path / "data_lake"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "WAVECODER_LAKE_DIR": str(lake), SHARDS_ENV: "2"}
    done = subprocess.run(
        [sys.executable, "-m", "wavecoder_assets.run", "wavecoder",
         "--select", "corpus_sources,raw_code,filtered_code,filtered_out"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=540)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    assert FilterConfig().require_plain_values
    removed = read_table(str(lake), "filtered_out")
    kept = read_table(str(lake), "filtered_code")
    assert removed.filter(pl.col("rule") == "runs_alone").height > 0 and kept.height > 0
    assert removed.filter(pl.col("rule") == "plain_values").height > 0
    assert all(takes_plain_values(code, language) for code, language in zip(kept["code"][:200], kept["language"][:200]))
