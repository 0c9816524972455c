"""Query the lake from the shell: every asset is a DuckDB view by its name.

    python -m wavecoder_assets.lake sql "SELECT language, count(*) FROM filtered_code GROUP BY 1"
    python -m wavecoder_assets.lake summary

The lake is --lake, else $WAVECODER_LAKE_DIR, else ./data_lake (relative to the current directory).
No Dagster here: plain DuckDB over the lake's Parquet files.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import polars as pl

from wavecoder_assets.lakefiles import (
    DEFAULT_LAKE_DIR,
    LakeViews,
    first_line,
    lake_root,
    quote_identifier,
    register_lake_views,
)


class LakeError(Exception):
    """A problem worth one line on stderr and a non-zero exit, not a traceback."""


def summary(conn: duckdb.DuckDBPyConnection, views: LakeViews) -> pl.DataFrame:
    """One row per table in the lake: its name, rows and columns, and why it is broken (null when it is not)."""
    rows = []
    for name in views.views:
        try:
            n_rows = conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0]
            n_cols = len(conn.execute(f"DESCRIBE {quote_identifier(name)}").fetchall())
            rows.append({"asset": name, "rows": n_rows, "columns": n_cols, "broken": None})
        except duckdb.Error as error:
            rows.append({"asset": name, "rows": None, "columns": None, "broken": first_line(error)})
    rows += [{"asset": b.name, "rows": None, "columns": None, "broken": b.reason} for b in views.broken]
    rows.sort(key=lambda r: r["asset"])
    return pl.DataFrame(rows, schema={"asset": pl.String, "rows": pl.Int64, "columns": pl.Int64, "broken": pl.String})


def run_sql(conn: duckdb.DuckDBPyConnection, views: LakeViews, query: str) -> pl.DataFrame | None:
    """The query's result (None for a statement without one); a DuckDB error becomes one LakeError line."""
    try:
        relation = conn.sql(query)
        return relation.pl() if relation is not None else None
    except duckdb.CatalogException as error:
        message = first_line(error)
        if "does not exist" in message:
            message += f" ({views.missing_table_hint()})"
        raise LakeError(message) from None
    except duckdb.Error as error:
        raise LakeError(first_line(error)) from None


def _lake_dir(args: argparse.Namespace) -> tuple[str, str]:
    """The lake folder and where that choice came from, for messages."""
    if args.lake is not None:
        return args.lake, "--lake"
    if os.environ.get("WAVECODER_LAKE_DIR"):
        return os.environ["WAVECODER_LAKE_DIR"], "WAVECODER_LAKE_DIR"
    return DEFAULT_LAKE_DIR, f"the default ./{DEFAULT_LAKE_DIR} in the current directory {Path.cwd()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.lake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=None,
                        help=f"lake folder (default: $WAVECODER_LAKE_DIR, else ./{DEFAULT_LAKE_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)
    sql = sub.add_parser("sql", help="run a SQL query over the lake's views and print the result")
    sql.add_argument("query")
    sub.add_parser("summary", help="rows and columns of every table in the lake; broken tables with the reason")
    args = parser.parse_args(argv)

    lake_dir, source = _lake_dir(args)
    root = lake_root(lake_dir)
    try:
        if not root.is_dir():
            raise LakeError(f"no lake found at {root} (from {source}); run from the repo root, "
                            "or pass --lake DIR / set WAVECODER_LAKE_DIR")
        with duckdb.connect(":memory:") as conn:
            views = register_lake_views(conn, lake_dir)
            if args.command == "summary":
                if not views.views and not views.broken:
                    raise LakeError(f"no tables in the lake at {root} (from {source}); materialize assets first "
                                    "(make run)")
                result = summary(conn, views)
            else:
                result = run_sql(conn, views, args.query)
    except LakeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if args.command == "sql":
        if result is not None:
            _print(result)
        if views.broken:
            print("warning: broken tables, no view: " + "; ".join(str(b) for b in views.broken), file=sys.stderr)
        return 0

    print(f"lake: {root}")
    _print(result)
    broken = result.filter(pl.col("broken").is_not_null())["asset"].to_list()
    if broken:
        paths = {b.name: b.path for b in views.broken}
        print(f"error: {len(broken)} broken table(s): "
              + "; ".join(f"{name} ({paths.get(name, root / f'{name}.parquet')})" for name in broken), file=sys.stderr)
        return 1
    return 0


def _print(frame: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=100, tbl_cols=30, fmt_str_lengths=100, tbl_width_chars=200):
        print(frame)


if __name__ == "__main__":
    sys.exit(main())
