"""The lake: Parquet IO manager (atomic writes, column schema), DuckDB views by asset name, and the lake command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from wavecoder_assets.lake import main as lake_main
from wavecoder_assets.lakefiles import asset_path, register_lake_views, write_parquet_atomic
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource


@dg.asset
def languages() -> pl.DataFrame:
    return pl.DataFrame({"language": ["python", "go", "python"], "n": [1, 2, 3]})


@dg.asset
def doubled(languages: pl.DataFrame) -> pl.DataFrame:
    return languages.with_columns(pl.col("n") * 2)


@dg.asset
def lazily_read(languages: pl.LazyFrame) -> pl.DataFrame:
    return languages.filter(pl.col("language") == "go").collect()


def test_materialize_writes_parquet_and_duckdb_sees_views(lake_dir):
    result = dg.materialize([languages, doubled, lazily_read], resources=resources_for("local", lake_dir=lake_dir))
    assert result.success
    assert pl.read_parquet(asset_path(lake_dir, "doubled"))["n"].to_list() == [2, 4, 6]
    assert pl.read_parquet(asset_path(lake_dir, "lazily_read")).height == 1
    assert asset_path(lake_dir, "doubled").stat().st_mode & 0o044 == 0o044, "others can read the lake"
    meta = result.asset_materializations_for_node("doubled")[0].metadata
    assert meta["dagster/row_count"].value == 3

    counts = DuckDBLakeResource(base_dir=lake_dir).query("SELECT language, sum(n) AS n FROM doubled GROUP BY 1 ORDER BY 1")
    assert counts.to_dicts() == [{"language": "go", "n": 4}, {"language": "python", "n": 8}]


def test_missing_upstream_is_a_clear_error(lake_dir):
    result = dg.materialize(
        [doubled, languages], selection=[doubled], resources=resources_for("local", lake_dir=lake_dir), raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "not in the lake yet" in str(failure.step_failure_data.error)


def test_interrupted_write_leaves_old_file_and_no_temp(tmp_path):
    path = tmp_path / "asset.parquet"
    write_parquet_atomic(pl.DataFrame({"a": [1]}), path)

    class Boom(pl.DataFrame):
        def write_parquet(self, file, **kwargs):  # dies half-way through writing the temp file
            Path(file).write_bytes(b"PAR1 half")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_parquet_atomic(Boom({"a": [2]}), path)
    assert pl.read_parquet(path)["a"].to_list() == [1]
    assert [p.name for p in tmp_path.iterdir()] == ["asset.parquet"]


def test_unknown_environment_is_rejected():
    with pytest.raises(ValueError, match="WAVECODER_ENV"):
        resources_for("staging")


def test_sql_command_prints_query_result(lake_dir, capsys):
    write_parquet_atomic(pl.DataFrame({"language": ["go", "go", "ruby"]}), asset_path(lake_dir, "filtered_code"))
    assert lake_main(["--lake", lake_dir, "sql", "SELECT language, count(*) AS n FROM filtered_code GROUP BY 1 ORDER BY 1"]) == 0
    out = capsys.readouterr().out
    assert "go" in out and "ruby" in out and "2" in out

    lake_main(["--lake", lake_dir, "summary"])
    assert "filtered_code" in capsys.readouterr().out


def test_sql_command_as_a_module(lake_dir):
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), asset_path(lake_dir, "numbers"))
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


def _corrupt_parquet(path: Path) -> None:
    """A real Parquet file cut in half: its footer (schema, row groups) is gone, as after a crash mid-copy."""
    write_parquet_atomic(pl.DataFrame({"x": list(range(1000)), "s": [f"row {i}" for i in range(1000)]}), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


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
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), asset_path(lake_dir, "numbers"))
    write_parquet_atomic(pl.DataFrame({"y": [1]}), asset_path(lake_dir, "other"))

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
    write_parquet_atomic(pl.DataFrame({"x": [1]}), asset_path(lake_dir, "numbers"))
    code = ("import sys\nfrom wavecoder_assets.lake import main\n"
            f"assert main(['--lake', {lake_dir!r}, 'summary']) == 0\n"
            f"assert main(['--lake', {lake_dir!r}, 'sql', 'SELECT * FROM numbers']) == 0\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'dagster')\n"
            "assert not loaded, loaded\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_a_corrupt_table_does_not_break_the_others(tmp_path, lake_dir):
    write_parquet_atomic(pl.DataFrame({"x": [1, 2, 3]}), asset_path(lake_dir, "numbers"))
    broken_path = asset_path(lake_dir, "broken_asset")
    _corrupt_parquet(broken_path)
    with pytest.raises(Exception):
        pl.read_parquet(broken_path)  # really unreadable

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
