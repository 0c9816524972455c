"""The lake: Parquet IO manager (atomic writes), DuckDB views by asset name, and the SQL command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from wavecoder_assets.lake import main as lake_main
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource, asset_path, write_parquet_atomic


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
