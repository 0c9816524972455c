"""Query the lake from the shell: every asset is a DuckDB view by its name.

    python -m wavecoder_assets.lake sql "SELECT language, count(*) FROM filtered_code GROUP BY 1"
    python -m wavecoder_assets.lake summary
"""

from __future__ import annotations

import argparse
import os
import sys

import polars as pl

from wavecoder_assets.resources.lake import DEFAULT_LAKE_DIR, DuckDBLakeResource


def summary(lake: DuckDBLakeResource) -> pl.DataFrame:
    """One row per asset view: its name, rows and columns."""
    with lake.connect() as conn:
        views = [r[0] for r in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1").fetchall()]
        rows = []
        for name in views:
            n_rows = conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            n_cols = len(conn.execute(f"DESCRIBE {name}").fetchall())
            rows.append({"asset": name, "rows": n_rows, "columns": n_cols})
    return pl.DataFrame(rows, schema={"asset": pl.String, "rows": pl.Int64, "columns": pl.Int64})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.lake", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=os.environ.get("WAVECODER_LAKE_DIR", DEFAULT_LAKE_DIR), help="lake folder (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    sql = sub.add_parser("sql", help="run a SQL query over the lake's views and print the result")
    sql.add_argument("query")
    sub.add_parser("summary", help="rows and columns of every asset in the lake")
    args = parser.parse_args(argv)

    lake = DuckDBLakeResource(base_dir=args.lake)
    result = lake.query(args.query) if args.command == "sql" else summary(lake)
    with pl.Config(tbl_rows=100, tbl_cols=30, fmt_str_lengths=80, tbl_width_chars=200):
        print(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
