"""Read CodeSearchNet from a local path, in either published layout, into raw_code rows.

- original: `{lang}/final/jsonl/{split}/*.jsonl.gz` with code, docstring, func_name, repo, path, language,
  url, sha, partition (plain `.jsonl` is read too);
- Hugging Face parquet: repository_name, func_path_in_repository, func_name, whole_func_string,
  func_code_string, func_documentation_string, language, split_name, func_code_url.

Bad input never stops the read: a malformed, undecodable or enormous line, an empty or corrupt file,
a row missing its code or docstring is skipped with a counted reason, and the rows around it are kept.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import polars as pl

from wavecoder_assets.corpus.records import SkipLog, make_row, rows_frame
from wavecoder_assets.languages import LANGUAGES

SOURCE = "codesearchnet"
HF_COLUMNS = ["repository_name", "func_path_in_repository", "func_name", "whole_func_string", "func_code_string",
              "func_documentation_string", "language", "split_name", "func_code_url"]
_SHA_IN_URL = re.compile(r"/blob/([0-9a-f]{40})/")


def codesearchnet_files(root: str | Path) -> list[Path]:
    root = Path(root)
    if root.is_file():
        return [root]
    files = sorted(p for pattern in ("*.jsonl.gz", "*.jsonl", "*.parquet") for p in root.rglob(pattern))
    if not files:
        raise FileNotFoundError(f"no CodeSearchNet files under {root}: expected {{lang}}/final/jsonl/{{split}}/*.jsonl.gz "
                                "(original layout) or *.parquet (Hugging Face layout)")
    return files


def read_codesearchnet(paths: list[str | Path], *, languages: tuple[str, ...] = LANGUAGES, max_rows_per_language: int = 0,
                       max_line_bytes: int = 1 << 20, logger=None) -> tuple[pl.DataFrame, SkipLog]:
    """raw_code rows from every CodeSearchNet file under `paths` (sorted), with the skip report.

    `max_rows_per_language` (0 = all) stops taking a language once it has that many rows.
    """
    skips = SkipLog(SOURCE, **({"logger": logger} if logger is not None else {}))
    frames = [rows_frame([])]  # one frame per file: 2M rows never sit in memory as Python dicts
    counts = dict.fromkeys(languages, 0)
    files = [f for p in paths for f in codesearchnet_files(p)]
    for file in files:
        if max_rows_per_language and all(n >= max_rows_per_language for n in counts.values()):
            break
        if file.stat().st_size == 0:
            skips.add(str(file), "empty_file", "0 bytes")
            continue
        records = _parquet_records(file, skips) if file.suffix == ".parquet" else _jsonl_records(file, skips, max_line_bytes)
        rows = []
        for line, record in records:
            row = _to_row(record, str(file), line, skips)
            if row is None or row["language"] not in counts:
                continue
            if max_rows_per_language and counts[row["language"]] >= max_rows_per_language:
                continue
            rows.append(row)
            counts[row["language"]] += 1
        frames.append(rows_frame(rows))
    return pl.concat(frames), skips


def _jsonl_records(file: Path, skips: SkipLog, max_line_bytes: int) -> Iterator[tuple[int, dict]]:
    opener = gzip.open if file.name.endswith(".gz") else open
    line_no = 0
    try:
        with opener(file, "rb") as stream:
            for line_no, raw in _bounded_lines(stream, max_line_bytes):
                if raw is None:
                    skips.add(str(file), "enormous_line", f"over {max_line_bytes} bytes", line_no)
                    continue
                if not raw.strip():
                    continue
                try:
                    record = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError as error:
                    skips.add(str(file), "invalid_utf8", str(error), line_no)
                    continue
                except json.JSONDecodeError as error:
                    skips.add(str(file), "malformed_json", str(error), line_no)
                    continue
                if not isinstance(record, dict):
                    skips.add(str(file), "malformed_json", f"a JSON {type(record).__name__}, not an object", line_no)
                    continue
                yield line_no, record
        if line_no == 0:
            skips.add(str(file), "empty_file", "no lines")
    except (OSError, EOFError, zlib.error) as error:  # a corrupt or truncated gzip: keep what came before
        skips.add(str(file), "corrupt_file", f"{type(error).__name__}: {error}", line_no + 1)


def _bounded_lines(stream: IO[bytes], max_line_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """Lines of a binary stream; a line longer than the bound is read past in chunks and given as None."""
    line_no = 0
    while raw := stream.readline(max_line_bytes + 1):
        line_no += 1
        if len(raw) > max_line_bytes and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):
                raw = stream.readline(1 << 20)
            yield line_no, None
        else:
            yield line_no, raw


def _parquet_records(file: Path, skips: SkipLog) -> Iterator[tuple[int, dict]]:
    try:
        schema = pl.read_parquet_schema(file)
        missing = [c for c in ("func_documentation_string", "language") if c not in schema]
        if missing or not {"whole_func_string", "func_code_string"} & set(schema):
            skips.add(str(file), "missing_columns", f"not the Hugging Face CodeSearchNet layout: lacks {missing or 'code'}")
            return
        frame = pl.read_parquet(file, columns=[c for c in HF_COLUMNS if c in schema])
    except Exception as error:  # polars raises several error types for a corrupt file
        skips.add(str(file), "corrupt_file", f"{type(error).__name__}: {error}")
        return
    if frame.height == 0:
        skips.add(str(file), "empty_file", "no rows")
    for index, record in enumerate(frame.iter_rows(named=True)):
        if (record := _decoded(record, str(file), index, skips)) is None:
            continue
        yield index, {
            "repo": record.get("repository_name"),
            "path": record.get("func_path_in_repository"),
            "func_name": record.get("func_name"),
            "code": record.get("whole_func_string") or record.get("func_code_string"),
            "docstring": record.get("func_documentation_string"),
            "language": record.get("language"),
            "partition": record.get("split_name"),
            "url": record.get("func_code_url"),
        }


def _decoded(record: dict, file: str, index: int, skips: SkipLog) -> dict | None:
    """Binary parquet columns hold bytes; a row whose bytes are not UTF-8 is skipped, not the file."""
    try:
        return {k: v.decode("utf-8") if isinstance(v, bytes) else v for k, v in record.items()}
    except UnicodeDecodeError as error:
        skips.add(file, "invalid_utf8", str(error), index)
        return None


def _to_row(record: dict, file: str, line: int, skips: SkipLog) -> dict | None:
    code, docstring, language = record.get("code"), record.get("docstring"), record.get("language")
    if not isinstance(code, str) or not code.strip():
        skips.add(file, "missing_field", "no code", line)
        return None
    if not isinstance(docstring, str) or not docstring.strip():
        skips.add(file, "missing_field", "no docstring", line)
        return None
    if language not in LANGUAGES:
        skips.add(file, "unknown_language", repr(language), line)
        return None
    url = record.get("url") if isinstance(record.get("url"), str) else None
    sha = record.get("sha") if isinstance(record.get("sha"), str) else None
    if sha is None and url and (match := _SHA_IN_URL.search(url)):
        sha = match.group(1)
    return make_row(source=SOURCE, repo=str(record.get("repo") or ""), path=str(record.get("path") or ""),
                    func_name=str(record.get("func_name") or ""), language=language, code=code,
                    docstring=docstring.strip(), url=url, sha=sha,
                    partition=record.get("partition") if isinstance(record.get("partition"), str) else None)
