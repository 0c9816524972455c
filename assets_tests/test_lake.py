"""The lake: Delta tables per asset (a version per materialization, time travel, restore, vacuum), content data
versions, the IO manager (column schema, the upstream version read), DuckDB views by asset name (AS OF a version),
concurrent readers and writers, and the lake command."""
# No `from __future__ import annotations` here: Dagster reads the Config annotations when the asset is defined.

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import polars as pl
import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.assets import corpus as corpus_assets
from wavecoder_assets.lake import main as lake_main
from wavecoder_assets.lakefiles import (
    RUN_ID_KEY,
    TableVersionError,
    commit_metadata,
    content_version,
    read_table,
    register_lake_views,
    restore_table,
    scan_table,
    table_history,
    table_path,
    vacuum_tables,
    write_shards,
    write_table,
)
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource

DATA_VERSION_TAG = "dagster/data_version"


@dg.asset
def languages() -> pl.DataFrame:
    return pl.DataFrame({"language": ["python", "go", "python"], "n": [1, 2, 3]})


@dg.asset
def doubled(languages: pl.DataFrame) -> pl.DataFrame:
    return languages.with_columns(pl.col("n") * 2)


@dg.asset
def lazily_read(languages: pl.LazyFrame) -> pl.DataFrame:
    return languages.filter(pl.col("language") == "go").collect()


def test_materialize_writes_delta_tables_and_duckdb_sees_views(lake_dir):
    result = dg.materialize([languages, doubled, lazily_read], resources=resources_for("local", lake_dir=lake_dir))
    assert result.success
    assert read_table(lake_dir, "doubled")["n"].to_list() == [2, 4, 6]
    assert read_table(lake_dir, "lazily_read").height == 1
    files = [p for p in table_path(lake_dir, "doubled").rglob("*") if p.is_file()]
    assert files and all(p.stat().st_mode & 0o044 == 0o044 for p in files), "others can read the lake"
    meta = result.asset_materializations_for_node("doubled")[0].metadata
    assert meta["dagster/row_count"].value == 3
    assert meta["table_version"].value == 0 and meta["table_uri"].value == str(table_path(lake_dir, "doubled"))

    counts = DuckDBLakeResource(base_dir=lake_dir).query("SELECT language, sum(n) AS n FROM doubled GROUP BY 1 ORDER BY 1")
    assert counts.to_dicts() == [{"language": "go", "n": 4}, {"language": "python", "n": 8}]


def test_missing_upstream_is_a_clear_error(lake_dir):
    result = dg.materialize(
        [doubled, languages], selection=[doubled], resources=resources_for("local", lake_dir=lake_dir), raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "not in the lake yet" in str(failure.step_failure_data.error)
    assert str(table_path(lake_dir, "languages")) in str(failure.step_failure_data.error)


def test_a_writer_killed_mid_write_leaves_the_last_version(lake_dir):
    """A writer SIGKILLed while it streams a new version into the table: no commit, so readers keep the old version;
    vacuum then deletes whatever data files the dead write left."""
    path = table_path(lake_dir, "asset")
    write_table(pl.DataFrame({"a": [1]}), path)
    writer = textwrap.dedent(f"""
        import sys, time
        import polars as pl, pyarrow as pa
        from wavecoder_assets import lakefiles
        real = lakefiles.write_deltalake
        def slow(target, data, **kwargs):  # streams batches, slowly: the kill lands mid-write
            table = pa.table(data)
            def batches():
                for batch in table.to_batches(max_chunksize=10_000):
                    yield batch
                    print("batch", flush=True)
                    time.sleep(0.2)
            return real(target, pa.RecordBatchReader.from_batches(table.schema, batches()), **kwargs)
        lakefiles.write_deltalake = slow
        lakefiles.write_table(pl.DataFrame({{"a": list(range(1_000_000))}}), {str(path)!r})
        print("committed", flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", writer], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "batch"
        proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert read_table(lake_dir, "asset")["a"].to_list() == [1]
    assert [h["version"] for h in table_history(lake_dir, "asset")] == [0]
    vacuum_tables(lake_dir, retention_hours=0)
    assert read_table(lake_dir, "asset")["a"].to_list() == [1]
    assert len(list(path.glob("*.parquet"))) == 1, "the dead write's files were vacuumed"


def test_unknown_environment_is_rejected():
    with pytest.raises(ValueError, match="WAVECODER_ENV"):
        resources_for("staging")


def test_sql_command_prints_query_result(lake_dir, capsys):
    write_table(pl.DataFrame({"language": ["go", "go", "ruby"]}), table_path(lake_dir, "filtered_code"))
    assert lake_main(["--lake", lake_dir, "sql", "SELECT language, count(*) AS n FROM filtered_code GROUP BY 1 ORDER BY 1"]) == 0
    out = capsys.readouterr().out
    assert "go" in out and "ruby" in out and "2" in out

    lake_main(["--lake", lake_dir, "summary"])
    assert "filtered_code" in capsys.readouterr().out


def test_duckdb_filters_string_columns_of_plain_and_sharded_tables(lake_dir):
    """DuckDB pushes a WHERE on a string column down into the Arrow dataset (Arrow has no such kernel for polars'
    string_view, the layout polars hands over by default)."""
    frame = pl.DataFrame({"language": ["go", "go", "ruby"], "shard": ["0", "1", "1"]})
    write_table(frame.drop("shard"), table_path(lake_dir, "plain"))
    write_shards(frame, table_path(lake_dir, "sharded"), shards=["0", "1"], shard_count=2)
    conn = duckdb.connect(":memory:")
    register_lake_views(conn, lake_dir)
    for table in ("plain", "sharded"):
        assert conn.execute(f"SELECT count(*) FROM {table} WHERE language = 'go'").fetchone()[0] == 2


def test_sql_command_as_a_module(lake_dir):
    write_table(pl.DataFrame({"x": [1, 2, 3]}), table_path(lake_dir, "numbers"))
    out = subprocess.run(
        [sys.executable, "-m", "wavecoder_assets.lake", "--lake", lake_dir, "sql", "SELECT sum(x) AS total FROM numbers"],
        capture_output=True, text=True, check=True, env={**os.environ},
    ).stdout
    assert "6" in out


# --- the lake command from anywhere: clear errors, no tracebacks, no Dagster -------------------------------------

def _lake_cmd(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m wavecoder_assets.lake ...` as a user runs it: its own process, its own working directory."""
    environ = {k: v for k, v in os.environ.items() if k != "WAVECODER_LAKE_DIR"}
    return subprocess.run([sys.executable, "-m", "wavecoder_assets.lake", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=120, env={**environ, **(env or {})})


def _corrupt_table(path: Path, how: str = "data") -> None:
    """A real Delta table, broken: its data file cut in half (footer gone, as after a crash mid-copy), or its log
    entry overwritten with garbage."""
    write_table(pl.DataFrame({"x": list(range(1000)), "s": [f"row {i}" for i in range(1000)]}), path)
    if how == "data":
        data_file = next(path.glob("*.parquet"))
        data = data_file.read_bytes()
        data_file.write_bytes(data[: len(data) // 2])
    else:
        (path / "_delta_log" / f"{0:020d}.json").write_text("{not json\n")


def test_summary_outside_the_repo_says_where_it_looked(tmp_path):
    done = _lake_cmd("summary", cwd=tmp_path)
    assert done.returncode != 0
    assert done.stdout == ""
    assert "no lake found" in done.stderr and str(tmp_path / "data_lake") in done.stderr
    assert "Traceback" not in done.stderr

    missing = tmp_path / "elsewhere"
    done = _lake_cmd("summary", cwd=tmp_path, env={"WAVECODER_LAKE_DIR": str(missing)})
    assert done.returncode != 0 and str(missing) in done.stderr and "WAVECODER_LAKE_DIR" in done.stderr


def test_summary_of_an_empty_lake_is_an_error(tmp_path, lake_dir):
    done = _lake_cmd("--lake", lake_dir, "summary", cwd=tmp_path)
    assert done.returncode != 0
    assert "no tables" in done.stderr and lake_dir in done.stderr


def test_sql_errors_are_one_line_without_traceback(tmp_path, lake_dir):
    write_table(pl.DataFrame({"x": [1, 2, 3]}), table_path(lake_dir, "numbers"))
    write_table(pl.DataFrame({"y": [1]}), table_path(lake_dir, "other"))

    bad = _lake_cmd("--lake", lake_dir, "sql", "SELEC x FROM numbers", cwd=tmp_path)
    assert bad.returncode != 0 and bad.stdout == ""
    assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "Traceback" not in bad.stderr and "syntax error" in bad.stderr.lower()

    missing = _lake_cmd("--lake", lake_dir, "sql", "SELECT * FROM filtered_code", cwd=tmp_path)
    assert missing.returncode != 0 and missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    assert "filtered_code" in missing.stderr and "numbers, other" in missing.stderr
    assert "Traceback" not in missing.stderr

    ok = _lake_cmd("--lake", lake_dir, "sql", "SELECT sum(x) AS total FROM numbers", cwd=tmp_path)
    assert ok.returncode == 0 and "6" in ok.stdout and ok.stderr == ""


def test_lake_command_does_not_import_dagster(tmp_path, lake_dir):
    write_table(pl.DataFrame({"x": [1]}), table_path(lake_dir, "numbers"))
    code = ("import sys\nfrom wavecoder_assets.lake import main\n"
            f"assert main(['--lake', {lake_dir!r}, 'summary']) == 0\n"
            f"assert main(['--lake', {lake_dir!r}, 'sql', 'SELECT * FROM numbers']) == 0\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster')\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("how", ["data", "log"])
def test_a_corrupt_table_does_not_break_the_others(tmp_path, lake_dir, how):
    write_table(pl.DataFrame({"x": [1, 2, 3]}), table_path(lake_dir, "numbers"))
    broken_path = table_path(lake_dir, "broken_asset")
    _corrupt_table(broken_path, how)
    with pytest.raises(BaseException):  # noqa: B017  (really unreadable; polars may panic, a BaseException)
        read_table(lake_dir, "broken_asset")

    conn = duckdb.connect(":memory:")
    views = register_lake_views(conn, lake_dir)
    assert views.views == ["numbers"]
    assert [(b.name, b.path) for b in views.broken] == [("broken_asset", broken_path)]
    assert views.broken[0].reason
    assert conn.execute("SELECT sum(x) FROM numbers").fetchone()[0] == 6
    conn.close()
    assert DuckDBLakeResource(base_dir=lake_dir).query("SELECT count(*) AS n FROM numbers")["n"].to_list() == [3]

    summary = _lake_cmd("--lake", lake_dir, "summary", cwd=tmp_path)
    assert summary.returncode != 0, "a broken table fails the summary"
    table = summary.stdout
    numbers_line = next(line for line in table.splitlines() if "numbers" in line)
    broken_line = next(line for line in table.splitlines() if "broken_asset" in line)
    assert "3" in numbers_line and "null" in numbers_line
    assert views.broken[0].reason[:30] in broken_line
    assert "broken_asset" in summary.stderr and str(broken_path) in summary.stderr

    ok = _lake_cmd("--lake", lake_dir, "sql", "SELECT sum(x) AS total FROM numbers", cwd=tmp_path)
    assert ok.returncode == 0 and "6" in ok.stdout
    assert "broken_asset" in ok.stderr and str(broken_path) in ok.stderr  # a warning, not a failure

    query_broken = _lake_cmd("--lake", lake_dir, "sql", "SELECT * FROM broken_asset", cwd=tmp_path)
    assert query_broken.returncode != 0 and len(query_broken.stderr.strip().splitlines()) == 1
    assert "broken" in query_broken.stderr and str(broken_path) in query_broken.stderr


# --- column descriptions in the materialization's column schema -------------------------------------------------

@dg.asset(metadata={"dagster/column_schema": dg.TableSchema(columns=[
    dg.TableColumn("a", "int", description="how many widgets"),
    dg.TableColumn("gone", "string", description="declared but not in the frame"),
])})
def described() -> pl.DataFrame:
    return pl.DataFrame({"a": [1, 2], "b": ["x", "y"], "language": ["python", "go"]})


def test_column_schema_carries_declared_descriptions(lake_dir):
    from wavecoder_assets.columns import COLUMN_DESCRIPTIONS

    result = dg.materialize([described], resources=resources_for("local", lake_dir=lake_dir))
    assert result.success
    schema = result.asset_materializations_for_node("described")[0].metadata["dagster/column_schema"].schema
    columns = {c.name: c for c in schema.columns}
    assert list(columns) == ["a", "b", "language"], "the columns the frame really has"
    assert columns["a"].description == "how many widgets"
    assert columns["a"].type == "Int64", "types from the frame, not the declaration"
    assert columns["b"].description is None and columns["b"].type == "String"
    assert columns["language"].description == COLUMN_DESCRIPTIONS["language"], "undeclared: the lake's glossary"


# --- versions: every materialization a Delta version, readable, restorable, with its run and data version ---------

class WordsConfig(dg.Config):
    words: list[str]


@dg.asset
def words(config: WordsConfig) -> dg.Output[pl.DataFrame]:
    frame = pl.DataFrame({"word": config.words, "length": [len(w) for w in config.words]})
    return dg.Output(frame, data_version=dg.DataVersion(content_version(frame)))


@dg.asset
def long_words(words: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    frame = words.filter(pl.col("length") > 3).collect()
    return dg.Output(frame, data_version=dg.DataVersion(content_version(frame)))


def _materialize_words(lake_dir: str, items: list[str], instance: dg.DagsterInstance,
                       assets: list | None = None) -> dg.ExecuteInProcessResult:
    result = dg.materialize(assets or [words], resources=resources_for("local", lake_dir=lake_dir), instance=instance,
                            run_config=dg.RunConfig(ops={"words": WordsConfig(words=items)}))
    assert result.success
    return result


def _data_version(result: dg.ExecuteInProcessResult, node: str) -> str:
    return result.asset_materializations_for_node(node)[0].tags[DATA_VERSION_TAG]


def test_each_materialization_is_a_version_readable_and_restorable(lake_dir):
    instance = dg.DagsterInstance.ephemeral()
    first = _materialize_words(lake_dir, ["a", "bb", "ccc"], instance)
    second = _materialize_words(lake_dir, ["dddd", "a"], instance)
    assert [first.asset_materializations_for_node("words")[0].metadata["table_version"].value,
            second.asset_materializations_for_node("words")[0].metadata["table_version"].value] == [0, 1]

    assert read_table(lake_dir, "words")["word"].to_list() == ["dddd", "a"]
    assert read_table(lake_dir, "words", version=0)["word"].to_list() == ["a", "bb", "ccc"]
    assert scan_table(lake_dir, "words", version=0).select(pl.len()).collect().item() == 3
    with pytest.raises(TableVersionError, match="no version 5"):
        read_table(lake_dir, "words", version=5)

    history = table_history(lake_dir, "words")
    assert [(h["version"], h["operation"], h["rows"], h["run_id"]) for h in history] == [
        (1, "WRITE", 2, second.run_id), (0, "WRITE", 3, first.run_id)]
    assert [h["data_version"] for h in history] == [_data_version(second, "words"), _data_version(first, "words")]
    assert commit_metadata(table_path(lake_dir, "words"), 0)[RUN_ID_KEY] == first.run_id

    assert restore_table(lake_dir, "words", 0) == 2
    assert read_table(lake_dir, "words")["word"].to_list() == ["a", "bb", "ccc"]
    restored = table_history(lake_dir, "words")[0]
    assert (restored["operation"], restored["restored_from"], restored["rows"]) == ("RESTORE", 0, 3)
    assert restored["data_version"] == _data_version(first, "words")


def test_data_versions_follow_the_content(lake_dir):
    instance = dg.DagsterInstance.ephemeral()
    first = _materialize_words(lake_dir, ["a", "bb", "ccc"], instance)
    same = _materialize_words(lake_dir, ["ccc", "a", "bb"], instance)  # same rows, another order
    changed = _materialize_words(lake_dir, ["a", "bb", "cccc"], instance)
    assert _data_version(first, "words") == _data_version(same, "words") != _data_version(changed, "words")
    assert _data_version(first, "words") == content_version(read_table(lake_dir, "words", version=0))
    record = instance.get_latest_data_version_record(dg.AssetKey("words"))
    assert record.event_log_entry.tags[DATA_VERSION_TAG] == _data_version(changed, "words")
    assert table_history(lake_dir, "words")[0]["data_version"] == _data_version(changed, "words")


def test_downstream_records_the_upstream_version_it_read(lake_dir):
    instance = dg.DagsterInstance.ephemeral()
    _materialize_words(lake_dir, ["a", "bbbb"], instance)
    run = _materialize_words(lake_dir, ["a", "bbbb", "ccccc"], instance, assets=[words, long_words])
    loaded = next(e for e in run.all_events if e.event_type_value == "LOADED_INPUT" and e.step_key == "long_words")
    metadata = loaded.event_specific_data.metadata
    assert metadata["table_version"].value == 1
    assert metadata["table_uri"].value == str(table_path(lake_dir, "words"))
    assert metadata["table_written_by_run"].value == run.run_id
    assert metadata["table_data_version"].value == _data_version(run, "words")
    observed = [e.asset_observation_data.asset_observation for e in run.all_events
                if e.event_type_value == "ASSET_OBSERVATION"]
    assert [(o.asset_key, o.metadata["table_version"].value) for o in observed] == [(dg.AssetKey("words"), 1)]
    materialization = run.asset_materializations_for_node("long_words")[0]
    assert materialization.tags["dagster/input_data_version/words"] == _data_version(run, "words")
    assert read_table(lake_dir, "long_words")["word"].to_list() == ["bbbb", "ccccc"]


def test_real_corpus_assets_version_their_tables(tmp_path, lake_dir):
    """raw_code and the filtered_code + filtered_out multi-asset on a small tree: an unchanged rerun keeps every data
    version, a changed source file changes raw_code's and the filtered tables'; each table gets its own version."""
    tree = tmp_path / "tree"
    tree.mkdir()
    source = tree / "calc.py"
    source.write_text('def add_numbers(a, b):\n    """Add two numbers and return the sum."""\n    return a + b\n\n\n'
                      'def sub_numbers(a, b):\n    """Subtract b from a and return it."""\n    return a - b\n')
    instance = dg.DagsterInstance.ephemeral()

    def run() -> dg.ExecuteInProcessResult:
        result = dg.materialize(
            [corpus_assets.raw_code, corpus_assets.filter_code], instance=instance,
            resources=resources_for("local", lake_dir=lake_dir),
            run_config=dg.RunConfig(ops={"raw_code": corpus_assets.RawCodeConfig(paths=[str(tree)]),
                                         "filtered_code": corpus_assets.FilterConfig(min_chars=20, require_plain_values=False)}))
        assert result.success
        return result

    def data_versions(result: dg.ExecuteInProcessResult) -> dict[str, str]:
        return {e.materialization.asset_key.path[-1]: e.materialization.tags[DATA_VERSION_TAG]
                for e in result.get_asset_materialization_events()}

    first, again = run(), run()
    assert data_versions(first) == data_versions(again), "an unchanged rerun keeps every data version"
    assert set(data_versions(first)) == {"raw_code", "filtered_code", "filtered_out"}
    source.write_text(source.read_text().replace("return a + b", "return b + a"))
    changed = run()
    before, after = data_versions(first), data_versions(changed)
    assert after["raw_code"] != before["raw_code"] and after["filtered_code"] != before["filtered_code"]
    assert after["filtered_out"] == before["filtered_out"], "nothing removed either time: same content"
    for name, version in after.items():
        history = table_history(lake_dir, name)
        assert [h["run_id"] for h in history] == [changed.run_id, again.run_id, first.run_id]
        assert history[0]["data_version"] == version
    assert read_table(lake_dir, "raw_code", version=0)["code"].str.contains("a \\+ b").any()
    assert read_table(lake_dir, "raw_code")["code"].str.contains("b \\+ a").any()


def test_content_version_is_stable_order_free_and_content_bound(tmp_path):
    frame = pl.DataFrame({
        "id": ["a", "b", "c"], "score": [0.5, float("nan"), None], "blob": [b"\x00\xff", b"", None],
        "tags": [["x"], [], None], "embedding": np.arange(12, dtype=np.float32).reshape(3, 4),
    }).with_columns(pl.col("embedding").cast(pl.Array(pl.Float32, 4)))
    version = content_version(frame)
    assert len(version) == 16
    assert content_version(frame.reverse()) == version, "row order does not matter"
    assert content_version(frame.select(reversed(frame.columns))) == version, "column order does not matter"
    assert content_version(frame.lazy()) == version
    assert content_version(pl.concat([frame, frame.head(1)])) != version, "duplicate rows count"
    assert content_version(frame.with_columns(pl.col("score").fill_nan(None))) != version, "NaN is not null"
    changed = frame.with_columns(pl.when(pl.col("id") == "c").then(pl.col("embedding") * 2)
                                 .otherwise(pl.col("embedding")).alias("embedding"))
    assert content_version(changed) != version
    assert content_version(frame.rename({"id": "key"})) != version
    assert content_version(frame.head(0)) != content_version(frame.head(0).drop("id"))
    # the same in a fresh process (Polars' own row hashes are seeded per process; these are not), and the same as
    # when this test was written: a Polars upgrade that changed it would change every asset's data version once
    frame.write_ipc(tmp_path / "frame.arrow")
    code = ("import polars as pl\nfrom wavecoder_assets.lakefiles import content_version\n"
            f"print(content_version(pl.read_ipc({str(tmp_path / 'frame.arrow')!r})))\n")
    fresh = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert fresh.stdout.strip() == version, fresh.stderr
    assert version == "58eb8db74f11b26c"


def test_types_delta_cannot_store_come_back_as_written(lake_dir):
    frame = pl.DataFrame({
        "embedding": pl.Series([[1.5, 2.0], [3.0, 4.0]], dtype=pl.Array(pl.Float32, 2)),
        "count": pl.Series([200, 1], dtype=pl.UInt8), "big": pl.Series([2**64 - 1, 0], dtype=pl.UInt64),
        "len": pl.Series([3, 4], dtype=pl.UInt32), "kind": pl.Series(["q", "r"], dtype=pl.Categorical),
        "nothing": pl.Series([None, None], dtype=pl.Null), "nested": [{"u": 1, "v": [1, 2]}, None],
    })
    write_table(frame, table_path(lake_dir, "typed"))
    back = read_table(lake_dir, "typed")
    assert back.schema == frame.schema
    assert back.drop("kind").equals(frame.drop("kind")) and back["kind"].to_list() == ["q", "r"]
    assert scan_table(lake_dir, "typed").collect_schema() == frame.schema
    conn = duckdb.connect(":memory:")
    register_lake_views(conn, lake_dir)
    assert conn.execute("SELECT max(big) FROM typed").fetchone()[0] == 2**64 - 1


# --- DuckDB views on Delta tables, AS OF a version -----------------------------------------------------------------

def test_duckdb_views_at_the_latest_version_or_as_of_one(lake_dir):
    path = table_path(lake_dir, "numbers")
    write_table(pl.DataFrame({"x": [1, 2, 3]}), path)
    write_table(pl.DataFrame({"x": [10, 20]}), path)
    write_table(pl.DataFrame({"y": ["other"]}), table_path(lake_dir, "other"))
    conn = duckdb.connect(":memory:")
    views = register_lake_views(conn, lake_dir)
    assert views.views == ["numbers", "other"] and views.versions == {"numbers": 1, "other": 0}
    assert conn.execute("SELECT sum(x) FROM numbers").fetchall() == [(30,)]
    views = register_lake_views(conn, lake_dir, as_of={"numbers": 0})
    assert views.versions["numbers"] == 0 and conn.execute("SELECT sum(x) FROM numbers").fetchall() == [(6,)]
    with pytest.raises(TableVersionError, match="no version 7"):
        register_lake_views(conn, lake_dir, as_of={"numbers": 7})
    with pytest.raises(FileNotFoundError, match="missing_table"):
        register_lake_views(conn, lake_dir, as_of={"missing_table": 0})
    conn.close()


# --- concurrent readers and writers ------------------------------------------------------------------------------

def _rows(i: int) -> pl.DataFrame:
    n = 20_000 + (i % 7) * 5_000
    return pl.DataFrame({"write": [i] * n, "x": list(range(n)), "s": [f"row {j} of write {i}" for j in range(n)]})


def _rewrite_forever(path: str, started, stop) -> None:
    i = 1
    while not stop.is_set():
        write_table(_rows(i), Path(path))
        started.set()
        i += 1


def test_reads_during_a_rewrite_loop_never_fail_or_tear(lake_dir):
    """Another process overwrites the table as fast as it can while this one reads it 200 times: every read is one
    whole version (plain Parquet replaced in place failed 38 of 5,490 such reads, some with a PanicException)."""
    path = table_path(lake_dir, "busy")
    write_table(_rows(0), path)
    spawn = multiprocessing.get_context("spawn")
    started, stop = spawn.Event(), spawn.Event()
    writer = spawn.Process(target=_rewrite_forever, args=(str(path), started, stop))
    writer.start()
    failures, torn, seen = [], 0, set()
    try:
        assert started.wait(120), "the writer never committed"
        for i in range(200):
            try:
                frame = (read_table(lake_dir, "busy") if i % 2 else scan_table(lake_dir, "busy").collect())
            except BaseException as error:  # noqa: BLE001  (a pyo3 PanicException is a BaseException)
                if isinstance(error, KeyboardInterrupt):
                    raise
                failures.append(f"{type(error).__name__}: {error}")
                continue
            write = frame["write"][0]
            seen.add(write)
            torn += frame["write"].n_unique() != 1 or frame.height != _rows(write).height
    finally:
        stop.set()
        writer.join(timeout=120)
    assert not failures, failures[:3]
    assert torn == 0
    assert len(seen) > 5, f"the reads saw only versions {sorted(seen)}: the writer was not writing meanwhile"
    assert len(table_history(lake_dir, "busy")) > 5


def test_two_writers_of_one_table_both_commit(lake_dir):
    path = table_path(lake_dir, "contended")
    write_table(_rows(0), path)
    code = ("import sys\nfrom pathlib import Path\nfrom assets_tests.test_lake import _rows\n"
            "from wavecoder_assets.lakefiles import write_table\n"
            "for i in range(10):\n    write_table(_rows(int(sys.argv[1]) + i), Path(sys.argv[2]))\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(k * 100), str(path)], cwd=REPO_ROOT,
                              stderr=subprocess.PIPE, text=True) for k in (1, 2)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    assert len(table_history(lake_dir, "contended")) == 21
    assert read_table(lake_dir, "contended")["write"].n_unique() == 1


# --- the lake command: history, sql --as-of, restore, vacuum --------------------------------------------------------

def test_history_sql_as_of_restore_and_vacuum_commands(tmp_path, lake_dir):
    instance = dg.DagsterInstance.ephemeral()
    first = _materialize_words(lake_dir, ["a", "bb", "ccc"], instance)
    second = _materialize_words(lake_dir, ["dddd"], instance)
    write_table(pl.DataFrame({"n": [1]}), table_path(lake_dir, "numbers"))
    write_table(pl.DataFrame({"n": [2]}), table_path(lake_dir, "numbers"))

    history = _lake_cmd("--lake", lake_dir, "history", "words", cwd=tmp_path)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    row = {v: next(line for line in lines if line.startswith(f"│ {v} ")) for v in (0, 1)}
    assert first.run_id in row[0] and _data_version(first, "words") in row[0] and "WRITE" in row[0]
    assert second.run_id in row[1] and _data_version(second, "words") in row[1]
    assert "┆ 3    ┆" in row[0] and "┆ 1    ┆" in row[1], "rows per version"

    def sql(*args: str) -> subprocess.CompletedProcess:
        return _lake_cmd("--lake", lake_dir, "sql", *args, cwd=tmp_path)

    latest = sql("SELECT count(*) AS n, max(length) AS longest FROM words")
    assert latest.returncode == 0 and "│ 1   ┆ 4 " in latest.stdout, latest.stdout
    past = sql("--as-of", "0", "SELECT count(*) AS n FROM words, numbers WHERE numbers.n = 1")
    assert past.returncode == 0 and "│ 3   │" in past.stdout, past.stdout + past.stderr
    one = sql("--as-of", "words=0", "SELECT count(*) AS n FROM words, numbers WHERE numbers.n = 2")
    assert one.returncode == 0 and "│ 3   │" in one.stdout, one.stdout + one.stderr
    mixed = sql("--as-of", "1", "--as-of", "words=0", "SELECT count(*) AS n FROM words, numbers WHERE numbers.n = 2")
    assert mixed.returncode == 0 and "│ 3   │" in mixed.stdout, mixed.stdout + mixed.stderr
    for bad in (sql("--as-of", "9", "SELECT * FROM words"), sql("--as-of", "nope=0", "SELECT 1"),
                sql("--as-of", "words=x", "SELECT 1")):
        assert bad.returncode != 0 and bad.stdout == "" and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
        assert "Traceback" not in bad.stderr

    restored = _lake_cmd("--lake", lake_dir, "restore", "words", "0", cwd=tmp_path)
    assert restored.returncode == 0 and "version 2" in restored.stdout, restored.stderr
    assert read_table(lake_dir, "words")["word"].to_list() == ["a", "bb", "ccc"]
    assert _lake_cmd("--lake", lake_dir, "restore", "words", "9", cwd=tmp_path).returncode != 0
    assert _lake_cmd("--lake", lake_dir, "history", "nope", cwd=tmp_path).returncode != 0

    kept = _lake_cmd("--lake", lake_dir, "vacuum", cwd=tmp_path)  # the default: a week of versions kept
    assert kept.returncode == 0 and "retention 168 hours" in kept.stdout and "words: deleted 0 file(s)" in kept.stdout
    env_kept = _lake_cmd("--lake", lake_dir, "vacuum", "--dry-run", cwd=tmp_path,
                         env={"WAVECODER_LAKE_RETENTION_HOURS": "0"})
    assert "retention 0 hours" in env_kept.stdout and "words: would delete 1 file(s)" in env_kept.stdout
    assert read_table(lake_dir, "words", version=1).height == 1, "a dry run deletes nothing"
    vacuumed = _lake_cmd("--lake", lake_dir, "vacuum", "--retention-hours", "0", cwd=tmp_path)
    assert vacuumed.returncode == 0 and "words: deleted 1 file(s)" in vacuumed.stdout
    assert "numbers: deleted 1 file(s)" in vacuumed.stdout
    assert read_table(lake_dir, "words")["word"].to_list() == ["a", "bb", "ccc"], "the latest version stays"
    gone = sql("--as-of", "words=1", "SELECT * FROM words")
    assert gone.returncode != 0 and "cannot be read" in gone.stderr and "Traceback" not in gone.stderr


def test_a_parquet_file_from_before_delta_is_named_in_the_missing_table_error(lake_dir):
    pl.DataFrame({"language": ["go"], "n": [1]}).write_parquet(Path(lake_dir) / "languages.parquet")
    result = dg.materialize([doubled, languages], selection=[doubled],
                            resources=resources_for("local", lake_dir=lake_dir), raise_on_error=False)
    error = str(next(e for e in result.all_events if e.is_step_failure).step_failure_data.error)
    assert "not in the lake yet" in error and "languages.parquet" in error and "before" in error
