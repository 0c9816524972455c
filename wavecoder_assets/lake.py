"""Query the lake from the shell: every asset is a Delta table and a DuckDB view by its name.

    python -m wavecoder_assets.lake sql "SELECT language, count(*) FROM filtered_code GROUP BY 1"
    python -m wavecoder_assets.lake sql --as-of 3 "SELECT count(*) FROM raw_code"     (every table it names)
    python -m wavecoder_assets.lake sql --as-of raw_code=3 --as-of filtered_code=2 "SELECT ..."
    python -m wavecoder_assets.lake summary
    python -m wavecoder_assets.lake history raw_code       versions, run ids, data versions, times, rows
    python -m wavecoder_assets.lake restore raw_code 3     version 3's content as a new latest version
    python -m wavecoder_assets.lake vacuum --retention-hours 24

The lake is --lake, else $WAVECODER_LAKE_DIR, else ./data_lake (relative to the current directory).
vacuum keeps what the versions of the last --retention-hours need (default $WAVECODER_LAKE_RETENTION_HOURS,
else 168); older versions are no longer readable after it. No Dagster here: deltalake and DuckDB over the lake.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
import polars as pl
from deltalake.exceptions import DeltaError

from wavecoder_assets.lakefiles import (
    DEFAULT_LAKE_DIR,
    LakeViews,
    TableMissing,
    TableVersionError,
    first_line,
    lake_root,
    quote_identifier,
    register_lake_views,
    restore_table,
    table_history,
    table_names,
    table_path,
    vacuum_tables,
)

DEFAULT_RETENTION_HOURS = 168


class LakeError(Exception):
    """A problem worth one line on stderr and a non-zero exit, not a traceback."""


def summary(conn: duckdb.DuckDBPyConnection, views: LakeViews) -> pl.DataFrame:
    """One row per table in the lake: its name, rows, columns and latest version, and why it is broken (null when
    it is not)."""
    rows = []
    for name in views.views:
        version = views.versions.get(name)
        try:
            n_rows = conn.execute(f"SELECT count(*) FROM {quote_identifier(name)}").fetchone()[0]
            n_cols = len(conn.execute(f"DESCRIBE {quote_identifier(name)}").fetchall())
            rows.append({"asset": name, "rows": n_rows, "columns": n_cols, "version": version, "broken": None})
        except duckdb.Error as error:
            rows.append({"asset": name, "rows": None, "columns": None, "version": version,
                         "broken": first_line(error)})
    rows += [{"asset": b.name, "rows": None, "columns": None, "version": None, "broken": b.reason}
             for b in views.broken]
    rows.sort(key=lambda r: r["asset"])
    return pl.DataFrame(rows, schema={"asset": pl.String, "rows": pl.Int64, "columns": pl.Int64,
                                      "version": pl.Int64, "broken": pl.String})


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


def history(lake_dir: str, name: str) -> pl.DataFrame:
    """The table's versions, newest first."""
    return pl.DataFrame(table_history(lake_dir, name), schema={
        "version": pl.Int64, "timestamp": pl.Datetime("ms", "UTC"), "operation": pl.String, "rows": pl.Int64,
        "run_id": pl.String, "data_version": pl.String, "restored_from": pl.Int64})


def as_of_versions(conn: duckdb.DuckDBPyConnection, query: str, specs: list[str],
                   lake_tables: list[str]) -> dict[str, int]:
    """`--as-of` values as table -> version: `TABLE=VERSION` for that table, a bare `VERSION` for every lake table
    the query names (a `TABLE=VERSION` wins over it)."""
    every, tables = None, {}
    for spec in specs:
        name, _, version = spec.rpartition("=")
        try:
            number = int(version)
        except ValueError:
            raise LakeError(f"--as-of {spec!r}: expected VERSION or TABLE=VERSION (a version is a number)") from None
        if not name:
            if every is not None and every != number:
                raise LakeError(f"--as-of given two versions for every table ({every} and {number}); "
                                "use TABLE=VERSION for different ones")
            every = number
        else:
            tables[name] = number
    if every is not None:
        try:
            named = conn.get_table_names(query)
        except duckdb.Error as error:
            raise LakeError(first_line(error)) from None
        tables = {name: every for name in sorted(named) if name in lake_tables} | tables
    return tables


def _lake_dir(args: argparse.Namespace) -> tuple[str, str]:
    """The lake folder and where that choice came from, for messages."""
    if args.lake is not None:
        return args.lake, "--lake"
    if os.environ.get("WAVECODER_LAKE_DIR"):
        return os.environ["WAVECODER_LAKE_DIR"], "WAVECODER_LAKE_DIR"
    return DEFAULT_LAKE_DIR, f"the default ./{DEFAULT_LAKE_DIR} in the current directory {Path.cwd()}"


def _retention_hours(args: argparse.Namespace) -> int:
    if args.retention_hours is not None:
        hours, source = args.retention_hours, "--retention-hours"
    elif os.environ.get("WAVECODER_LAKE_RETENTION_HOURS"):
        hours, source = os.environ["WAVECODER_LAKE_RETENTION_HOURS"], "WAVECODER_LAKE_RETENTION_HOURS"
    else:
        return DEFAULT_RETENTION_HOURS
    try:
        value = int(hours)
    except ValueError:
        raise LakeError(f"{source} must be a whole number of hours, not {hours!r}") from None
    if value < 0:
        raise LakeError(f"{source} must be >= 0, not {hours}")
    return value


def _known_table(lake_dir: str, name: str) -> None:
    names = table_names(lake_dir)
    if name not in names:
        raise LakeError(f"no table {name!r} in the lake at {lake_root(lake_dir)} "
                        f"(tables: {', '.join(names) or '(none)'})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wavecoder_assets.lake", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", default=None,
                        help=f"lake folder (default: $WAVECODER_LAKE_DIR, else ./{DEFAULT_LAKE_DIR})")
    sub = parser.add_subparsers(dest="command", required=True)
    sql = sub.add_parser("sql", help="run a SQL query over the lake's views and print the result")
    sql.add_argument("--as-of", action="append", default=[], metavar="[TABLE=]VERSION",
                     help="query a table as it was at a version: VERSION for every table the query names, "
                          "TABLE=VERSION for one (repeatable)")
    sql.add_argument("query")
    sub.add_parser("summary", help="rows, columns and version of every table in the lake; broken tables with the "
                                   "reason")
    hist = sub.add_parser("history", help="a table's versions: time, operation, rows, Dagster run id, data version")
    hist.add_argument("asset")
    restore = sub.add_parser("restore", help="make an earlier version's content the latest again (a new version)")
    restore.add_argument("asset")
    restore.add_argument("version", type=int)
    vacuum = sub.add_parser("vacuum", help="delete the files that only versions older than the retention need")
    vacuum.add_argument("--retention-hours", default=None,
                        help="keep what the last H hours of versions need (default: "
                             f"$WAVECODER_LAKE_RETENTION_HOURS, else {DEFAULT_RETENTION_HOURS})")
    vacuum.add_argument("--dry-run", action="store_true", help="list the files, delete nothing")
    args = parser.parse_args(argv)

    lake_dir, source = _lake_dir(args)
    root = lake_root(lake_dir)
    views = None
    try:
        if not root.is_dir():
            raise LakeError(f"no lake found at {root} (from {source}); run from the repo root, "
                            "or pass --lake DIR / set WAVECODER_LAKE_DIR")
        if args.command == "history":
            _known_table(lake_dir, args.asset)
            result = history(lake_dir, args.asset)
        elif args.command == "restore":
            _known_table(lake_dir, args.asset)
            new_version = restore_table(lake_dir, args.asset, args.version)
        elif args.command == "vacuum":
            hours = _retention_hours(args)
            removed = vacuum_tables(lake_dir, hours, dry_run=args.dry_run)
        else:
            with duckdb.connect(":memory:") as conn:
                as_of = (as_of_versions(conn, args.query, args.as_of, table_names(lake_dir))
                         if args.command == "sql" else {})
                views = register_lake_views(conn, lake_dir, as_of=as_of)
                if args.command == "summary":
                    if not views.views and not views.broken:
                        raise LakeError(f"no tables in the lake at {root} (from {source}); materialize assets "
                                        "first (make run)")
                    result = summary(conn, views)
                else:
                    result = run_sql(conn, views, args.query)
    except (TableMissing, TableVersionError, DeltaError, OSError) as error:
        print(f"error: {first_line(error)}", file=sys.stderr)
        return 1
    except LakeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if args.command == "history":
        print(f"{args.asset}: {table_path(lake_dir, args.asset)}")
        _print(result)
        return 0
    if args.command == "restore":
        print(f"restored {args.asset} to version {args.version}'s content as version {new_version} "
              f"({table_path(lake_dir, args.asset)}); Dagster still shows its last materialization: "
              "rematerialize downstream assets to use it")
        return 0
    if args.command == "vacuum":
        verb = "would delete" if args.dry_run else "deleted"
        print(f"lake: {root}; retention {hours} hours")
        for name, files in removed.items():
            print(f"{name}: {verb} {len(files)} file(s)")
        return 0
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
              + "; ".join(f"{name} ({paths.get(name, table_path(lake_dir, name))})" for name in broken),
              file=sys.stderr)
        return 1
    return 0


def _print(frame: pl.DataFrame) -> None:
    with pl.Config(tbl_rows=100, tbl_cols=30, fmt_str_lengths=100, tbl_width_chars=200):
        print(frame)


if __name__ == "__main__":
    sys.exit(main())
