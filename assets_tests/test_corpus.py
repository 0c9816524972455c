"""Corpus stage: tree-sitter harvest, both CodeSearchNet layouts, the paper's filters and their funnel,
bad input, and a real materialization into a tmp lake read back through DuckDB."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wavecoder_assets.assets import corpus as corpus_assets
from wavecoder_assets.codefacts import runs_alone
from wavecoder_assets.corpus import (
    FilterSettings,
    apply_rules,
    blacklist_rule,
    code_predicate_rule,
    default_roots,
    exact_dedup_rule,
    filter_rules,
    harvest_trees,
    length_rule,
    near_dedup_rule,
    read_codesearchnet,
)
from wavecoder_assets.corpus.records import RAW_CODE_SCHEMA, make_row, rows_frame
from wavecoder_assets.resources import resources_for
from wavecoder_assets.resources.lake import DuckDBLakeResource

# One file per language: documented functions (expected) next to undocumented ones (not expected).
SOURCES = {
    "pkg/calc.py": '''
import os

@staticmethod
def add_numbers(a, b):
    """Add two numbers.

    Returns their sum."""
    return a + b

def no_doc(x):
    return x

class Box:
    def open_lid(self, force=False):
        r"""Open the lid of the box."""
        return not force
''',
    "src/Calc.java": '''
package demo;

public class Calc {
    /**
     * Adds two ints.
     * @param a the first
     */
    @Deprecated
    public int add(int a, int b) { return a + b; }

    // a line comment is not javadoc
    int sub(int a, int b) { return a - b; }
}
''',
    "web/calc.js": '''
/**
 * Multiplies two numbers.
 */
function multiply(a, b) { return a * b; }

/** Halves a number. */
const half = (x) => x / 2;

class Counter {
  /** Adds one to the count. */
  increment() { this.count += 1; }
}

function undocumented() { return 0; }
''',
    "cmd/calc.go": '''package calc

// Divide divides a by b.
// It panics when b is zero.
func Divide(a, b int) int { return a / b }

// Area returns the rectangle's area.
func (r *Rect) Area() int { return r.w * r.h }

func hidden() {}
''',
    "lib/calc.php": '''<?php
/**
 * Concatenates two strings.
 */
function concat_strings($a, $b) { return $a . $b; }

class Greeter {
    /** Says hello. */
    public function hello($name) { return "Hello " . $name; }
}
''',
    "lib/calc.rb": '''# frozen_string_literal: true

module Shapes
  class Square
    # Area of the square.
    # Side times side.
    def area
      @side * @side
    end

    # Builds a unit square.
    def self.unit
      new(1)
    end

    def undocumented; end
  end
end
''',
}

EXPECTED = {
    ("python", "add_numbers", "Add two numbers.\n\nReturns their sum."),
    ("python", "Box.open_lid", "Open the lid of the box."),
    ("java", "Calc.add", "Adds two ints.\n@param a the first"),
    ("javascript", "multiply", "Multiplies two numbers."),
    ("javascript", "half", "Halves a number."),
    ("javascript", "Counter.increment", "Adds one to the count."),
    ("go", "Divide", "Divide divides a by b.\nIt panics when b is zero."),
    ("go", "Rect.Area", "Area returns the rectangle's area."),
    ("php", "concat_strings", "Concatenates two strings."),
    ("php", "Greeter.hello", "Says hello."),
    ("ruby", "Square.area", "Area of the square.\nSide times side."),
    ("ruby", "Square.unit", "Builds a unit square."),
}


def write_tree(root: Path, files: dict[str, str | bytes]) -> Path:
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


def test_harvest_extracts_documented_functions_in_all_six_languages(tmp_path):
    rows, skips = harvest_trees([write_tree(tmp_path, SOURCES)])
    assert set(rows.select("language", "func_name", "docstring").iter_rows()) == EXPECTED
    assert skips.records == []
    add = rows.filter(pl.col("func_name") == "add_numbers").row(0, named=True)
    assert add["code"].startswith("def add_numbers(a, b):") and add["code"].endswith("return a + b")
    assert add["path"] == "pkg/calc.py" and add["source"] == "local_tree"
    # The method is dedented as if it stood at the top level; JS keeps the statement that names the arrow.
    assert rows.filter(pl.col("func_name") == "Box.open_lid")["code"][0].startswith("def open_lid(self")
    assert rows.filter(pl.col("func_name") == "half")["code"][0] == "const half = (x) => x / 2;"
    # Same content, same id: ids are content hashes, not row positions.
    again, _ = harvest_trees([tmp_path])
    assert again["id"].to_list() == rows["id"].to_list()
    assert rows["id"].n_unique() == rows.height


def test_harvest_skips_bad_files_with_counted_reasons_and_keeps_good_rows(tmp_path):
    good_py = '''def fine(a):
    """A fine function."""
    return a
'''
    broken_py = good_py + '''
def broken(:
    """Broken signature."""
    return (

def also_fine(b):
    """Still parsed."""
    return b
'''
    huge_line = '''def wide():
    """Has an enormous line."""
    return "''' + "x" * 2000 + '''"

def narrow():
    """Next to it."""
    return 1
'''
    doc_js = "/** Documented. */\nfunction vendored() { return 1; }\n"
    root = write_tree(tmp_path, {
        "good.py": good_py,
        "broken.py": broken_py,
        "wide.py": huge_line,
        "empty.py": "",
        "blank.rb": "\n\n",
        "binary.py": b"\x00\x01\x02" + good_py.encode(),
        "latin1.py": "# caf\xe9\n".encode("latin-1") + good_py.encode(),
        "app.min.js": doc_js,
        "bundle.js": "/** Documented. */ function f(){return 1}" + ";var a=1" * 500,
        "gen.go": "// Code generated by stringer. DO NOT EDIT.\npackage x\n\n// Doc.\nfunc G() {}\n",
        "node_modules/dep/index.js": doc_js,
        "third_party/lib.py": good_py,
    })
    rows, skips = harvest_trees([root])
    counts = skips.counts()
    assert counts == {"binary": 1, "empty_file": 2, "enormous_line": 1, "generated": 2, "invalid_utf8": 1,
                      "minified": 1, "parse_error": 1, "vendored": 2}
    assert sorted(rows["func_name"]) == ["also_fine", "fine", "fine", "narrow"]
    assert set(rows["path"]) == {"good.py", "broken.py", "wide.py"}
    parse_error = next(r for r in skips.records if r["reason"] == "parse_error")
    assert parse_error["path"] == "broken.py" and "dropped 1" in parse_error["detail"]
    assert set(skips.frame().columns) == {"source", "path", "line", "reason", "detail"}
    small_rows, capped = harvest_trees([root], max_file_bytes=60)
    too_large = {r["path"] for r in capped.records if r["reason"] == "too_large"}
    assert too_large == {p.name for p in root.glob("*.*") if p.stat().st_size > 60}
    assert small_rows["path"].to_list() == ["good.py"]
    single, notes = harvest_trees([root / "good.py", root / "empty.py", tmp_path / "gen.go"], languages=("python",))
    assert single["func_name"].to_list() == ["fine"] and notes.counts() == {"empty_file": 1, "unsupported_file": 1}


def test_harvest_reads_a_source_zip_like_the_jdk_src_zip(tmp_path):
    archive = tmp_path / "src.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("java.base/demo/Calc.java", SOURCES["src/Calc.java"])
        z.writestr("java.base/demo/vendor/Dep.java", SOURCES["src/Calc.java"])
        z.writestr("java.base/demo/vendor/Other.java", SOURCES["src/Calc.java"])
        z.writestr("java.base/demo/Empty.java", "")
        z.writestr("README.txt", "not source")
    rows, skips = harvest_trees([archive])
    assert rows.select("path", "func_name").rows() == [("java.base/demo/Calc.java", "Calc.add")]
    assert rows["repo"][0] == str(archive)
    assert skips.counts() == {"empty_file": 1, "vendored": 1}


def test_harvest_caps_rows_per_language_and_default_roots_hold_real_code():
    roots = default_roots()
    assert Path(roots[0], "os.py").exists()  # the running Python's standard library
    rows, _ = harvest_trees(roots[:1], languages=("python",), max_rows_per_language=50)
    assert rows.height == 50 and set(rows["language"]) == {"python"}
    assert rows["docstring"].str.len_chars().min() > 0


# ------------------------------------------------------------------------------------- CodeSearchNet


def csn_record(i: int, language: str = "python", split: str = "train") -> dict:
    return {
        "repo": f"owner/repo{i}", "path": f"src/mod{i}.py", "func_name": f"func_{i}", "language": language,
        "code": f"def func_{i}(x):\n    \"\"\"Return x plus {i}.\"\"\"\n    return x + {i}\n",
        "docstring": f"Return x plus {i}.", "url": f"https://github.com/owner/repo{i}/blob/{'a' * 40}/src/mod{i}.py#L1-L3",
        "sha": "a" * 40, "partition": split,
    }


def write_jsonl_gz(path: Path, lines: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        f.write(b"".join(line + b"\n" for line in lines))


def test_codesearchnet_original_layout_with_bad_lines(tmp_path):
    enc = lambda r: json.dumps(r).encode()
    train = tmp_path / "python" / "final" / "jsonl" / "train" / "python_train_0.jsonl.gz"
    write_jsonl_gz(train, [
        enc(csn_record(0)),
        b'{"code": "def broken(', # malformed JSON
        enc(csn_record(1)),
        b'{"code": "\xff\xfe", "docstring": "x", "language": "python"}',  # invalid UTF-8
        enc(csn_record(2) | {"code": "x" * 5000}),  # enormous line (over the bound below)
        enc(csn_record(3)),
        enc(csn_record(4) | {"docstring": ""}),  # no docstring
        b"[1, 2, 3]",  # JSON, but not an object
        enc(csn_record(5) | {"language": "cobol"}),
        enc(csn_record(6)),
    ])
    java = tmp_path / "java" / "final" / "jsonl" / "test" / "java_test_0.jsonl.gz"
    write_jsonl_gz(java, [enc(csn_record(7, "java", "test"))])
    (tmp_path / "java" / "final" / "jsonl" / "valid").mkdir(parents=True)
    (tmp_path / "java" / "final" / "jsonl" / "valid" / "java_valid_0.jsonl.gz").write_bytes(b"")  # empty file
    truncated = gzip.compress(b"".join(enc(csn_record(i, "go")) + b"\n" for i in range(8, 200)))
    (tmp_path / "go" / "final" / "jsonl" / "train").mkdir(parents=True)
    (tmp_path / "go" / "final" / "jsonl" / "train" / "go_train_0.jsonl.gz").write_bytes(truncated[: len(truncated) // 2])

    rows, skips = read_codesearchnet([tmp_path], max_line_bytes=4000)
    counts = skips.counts()
    assert {k: counts[k] for k in ("malformed_json", "invalid_utf8", "enormous_line", "missing_field",
                                   "unknown_language", "empty_file", "corrupt_file")} == {
        "malformed_json": 2, "invalid_utf8": 1, "enormous_line": 1, "missing_field": 1, "unknown_language": 1,
        "empty_file": 1, "corrupt_file": 1}
    python = rows.filter(pl.col("language") == "python")
    assert python["func_name"].to_list() == ["func_0", "func_1", "func_3", "func_6"]  # neighbours of bad lines kept
    assert rows.filter(pl.col("language") == "java").row(0, named=True)["partition"] == "test"
    go = rows.filter(pl.col("language") == "go")
    assert 0 < go.height < 192 and go["func_name"][0] == "func_8"  # rows before the truncation kept
    first = python.row(0, named=True)
    assert first["source"] == "codesearchnet" and first["sha"] == "a" * 40 and first["repo"] == "owner/repo0"
    bad_json = next(r for r in skips.records if r["reason"] == "malformed_json")
    assert bad_json["line"] == 2 and bad_json["path"].endswith("python_train_0.jsonl.gz")
    assert rows.schema == pl.Schema(RAW_CODE_SCHEMA)


def test_codesearchnet_hugging_face_parquet_layout(tmp_path):
    records = [csn_record(i, "ruby" if i % 2 else "php", "validation") for i in range(6)]
    table = pa.table({
        "repository_name": [r["repo"] for r in records],
        "func_path_in_repository": [r["path"] for r in records],
        "func_name": [r["func_name"] for r in records],
        "whole_func_string": [r["code"] for r in records],
        "language": [r["language"] for r in records],
        "func_code_string": [r["code"] for r in records],
        "func_code_tokens": [r["code"].split() for r in records],
        "func_documentation_string": [None if i == 3 else r["docstring"] for i, r in enumerate(records)],
        "func_documentation_tokens": [r["docstring"].split() for r in records],
        "split_name": [r["partition"] for r in records],
        "func_code_url": [r["url"] for r in records],
    })
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "validation-00000-of-00001.parquet")
    (tmp_path / "data" / "train-00000-of-00001.parquet").write_bytes(b"PAR1 this is not parquet")
    pq.write_table(pa.table({"text": ["not codesearchnet"]}), tmp_path / "data" / "unrelated.parquet")

    rows, skips = read_codesearchnet([tmp_path / "data"], languages=("php", "ruby"))
    assert rows["func_name"].to_list() == ["func_0", "func_1", "func_2", "func_4", "func_5"]
    assert set(rows["partition"]) == {"validation"} and set(rows["sha"]) == {"a" * 40}
    assert rows.row(0, named=True)["url"].startswith("https://github.com/owner/repo0/blob/")
    assert skips.counts() == {"corrupt_file": 1, "missing_columns": 1, "missing_field": 1}
    # The same pair from the other layout gets the same id.
    jsonl = tmp_path / "orig" / "php" / "final" / "jsonl" / "valid" / "php_valid_0.jsonl.gz"
    write_jsonl_gz(jsonl, [json.dumps(records[0]).encode()])
    orig, _ = read_codesearchnet([tmp_path / "orig"])
    assert orig["id"][0] == rows["id"][0]


def test_codesearchnet_without_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no CodeSearchNet files"):
        read_codesearchnet([tmp_path])


# ------------------------------------------------------------------------------------------- filters

LONG_BODY = "\n".join(f"    total = total + values[{i}] * weight_{i}" for i in range(12))


def pair(name: str, code: str, docstring: str = "Compute a value.", language: str = "python") -> dict:
    return make_row(source="test", repo="r", path="p.py", func_name=name, language=language, code=code,
                    docstring=docstring)


def funnel_fixture() -> pl.DataFrame:
    base = f"def weighted(values):\n    total = 0\n{LONG_BODY}\n    return total"
    return rows_frame([
        pair("short", "def f(): pass"),  # length
        pair("long", "def g():\n" + "    x = 1\n" * 100),  # length
        pair("drawer", "def draw_box(self):\n    return self.canvas.rectangle(0, 0, 10, 10)\n",
             "Draw a box."),  # blacklist via docstring
        pair("pics", "def load(self):\n    return [load(p) for p in self.Images]  # many\n"),  # blacklist via code
        pair("navigate", "def nav(self, page):\n    return self.go  to(page) or self.jump(page)\n"),  # "go  to"
        pair("ok_words", "def profile_mapping(filename):\n    return {'Mapping': filename.upper()}\n"),  # no whole word
        pair("weighted", base),
        pair("weighted_copy", base.replace("\n", "\n\n").replace("    ", "\t")),  # exact dup after normalizing
        pair("weighted_near", base.replace("return total", "return total2")),  # near dup
        pair("js_fn", "function sum(a, b) {\n  return a + b + extraValue + anotherValue;\n}", language="javascript"),
        pair("js_fn_again", "function sum(a, b) {\n    return a + b + extraValue + anotherValue;\n}",
             language="javascript"),  # exact dup
    ])


RULES = [("length", length_rule), ("blacklist", blacklist_rule), ("exact_dup", exact_dedup_rule),
         ("near_dup", near_dedup_rule)]


def test_funnel_counts_on_a_fixture_with_a_known_answer():
    frame = funnel_fixture()
    result = apply_rules(frame, RULES)
    removed = dict(result.removed.select("func_name", "rule").iter_rows())
    assert removed == {"short": "length", "long": "length", "drawer": "blacklist", "pics": "blacklist",
                       "navigate": "blacklist", "weighted_copy": "exact_dup", "js_fn_again": "exact_dup",
                       "weighted_near": "near_dup"}
    assert sorted(result.kept["func_name"]) == ["js_fn", "ok_words", "weighted"]
    funnel = {row["language"]: row for row in result.funnel.iter_rows(named=True)}
    assert funnel["python"] == {"language": "python", "rows_in": 9, "length": 2, "blacklist": 3, "exact_dup": 1,
                                "near_dup": 1, "rows_out": 2}
    assert funnel["javascript"] == {"language": "javascript", "rows_in": 2, "length": 0, "blacklist": 0,
                                    "exact_dup": 1, "near_dup": 0, "rows_out": 1}
    assert funnel["all"]["rows_in"] == frame.height == funnel["all"]["rows_out"] + result.removed.height
    assert set(result.removed.columns) == set(frame.columns) | {"rule"}


def test_rules_are_configurable():
    frame = funnel_fixture()
    kept, removed = length_rule(frame, min_chars=10, max_chars=2000)
    assert removed.height == 0 and kept.height == frame.height
    kept, removed = blacklist_rule(frame, words=["mapping"], fields=["code"])
    assert removed["func_name"].to_list() == ["ok_words"] and set(removed["rule"]) == {"blacklist"}
    _, strict = near_dedup_rule(frame.filter(pl.col("func_name").str.starts_with("weighted")), threshold=0.99)
    assert strict["func_name"].to_list() == ["weighted_copy"]  # same tokens: Jaccard 1.0; the near copy: 0.97
    _, loose = near_dedup_rule(frame.filter(pl.col("func_name").str.starts_with("weighted")), threshold=0.8)
    assert loose["func_name"].to_list() == ["weighted_copy", "weighted_near"]
    # not the paper's: functions that could run alone (weighted reads weight_0.., js_fn extraValue.., drawer self)
    kept, removed = code_predicate_rule(frame.filter(pl.col("func_name").is_in(["ok_words", "weighted", "js_fn",
                                                                                "drawer"])), keep=runs_alone)
    assert kept["func_name"].to_list() == ["ok_words"]
    assert sorted(removed["func_name"]) == ["drawer", "js_fn", "weighted"]


def test_filter_rules_follow_the_settings_in_order():
    def names(**settings) -> list[str]:
        return [name for name, _ in filter_rules(FilterSettings(**settings))]

    assert names() == ["length", "blacklist", "exact_dup", "near_dup", "runs_alone", "plain_values"]
    assert names(exact_dedup=False, near_dedup=False, require_plain_values=False) == ["length", "blacklist"]
    assert names(require_runs_alone=True, require_plain_values=False)[-1] == "runs_alone"
    settings = FilterSettings(max_chars=5000, blacklist=["mapping"], near_dedup=False, require_plain_values=False)
    removed = dict(apply_rules(funnel_fixture(), filter_rules(settings)).removed.select("func_name", "rule").iter_rows())
    assert removed == {"short": "length", "ok_words": "blacklist", "weighted_copy": "exact_dup",
                       "js_fn_again": "exact_dup"}


# --------------------------------------------------------------------------------- materialization


def test_materialize_corpus_into_a_tmp_lake_and_query_it_with_duckdb(tmp_path, lake_dir):
    tree = write_tree(tmp_path / "tree", SOURCES | {
        "pkg/dup.py": SOURCES["pkg/calc.py"],  # every python pair again: exact duplicates
        "pkg/image.py": 'def show_image(img):\n    """Show the image on screen."""\n    return viewer.display(img)\n',
        "pkg/empty.py": "",
    })
    result = dg.materialize(
        [corpus_assets.raw_code, corpus_assets.filter_code],
        resources=resources_for("local", lake_dir=lake_dir),
        run_config=dg.RunConfig(ops={
            "raw_code": corpus_assets.RawCodeConfig(paths=[str(tree)]),
            "filtered_code": corpus_assets.FilterConfig(min_chars=20, require_plain_values=False),
        }),
    )
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 3 and all(c.passed for c in checks)

    lake = DuckDBLakeResource(base_dir=lake_dir)
    raw = lake.query("SELECT count(*) AS n FROM raw_code")["n"][0]
    per_language = dict(lake.query("SELECT language, count(*) AS n FROM filtered_code GROUP BY 1").iter_rows())
    rules = dict(lake.query("SELECT rule, count(*) AS n FROM filtered_out GROUP BY 1").iter_rows())
    assert raw == len(EXPECTED) + 3  # two python pairs twice, plus show_image
    assert per_language == {"python": 2, "java": 1, "javascript": 3, "go": 2, "php": 2, "ruby": 2}
    assert rules == {"exact_dup": 2, "blacklist": 1}
    assert lake.query("SELECT count(DISTINCT id) = count(*) AS ok FROM filtered_code")["ok"][0]

    raw_meta = result.asset_materializations_for_node("raw_code")[0].metadata
    assert "empty_file" in raw_meta["skipped"].value and raw_meta["rows"].value == raw
    funnel_md = next(m for m in result.get_asset_materialization_events()
                     if m.asset_key == dg.AssetKey("filtered_code")).materialization.metadata["funnel"].value
    assert "| python" in funnel_md and "exact_dup" in funnel_md


def test_materialize_codesearchnet_source(tmp_path, lake_dir):
    train = tmp_path / "csn" / "python" / "final" / "jsonl" / "train" / "python_train_0.jsonl.gz"
    write_jsonl_gz(train, [json.dumps(csn_record(i)).encode() for i in range(5)] + [b"not json"])
    result = dg.materialize(
        [corpus_assets.raw_code, corpus_assets.filter_code],
        resources=resources_for("local", lake_dir=lake_dir),
        run_config=dg.RunConfig(ops={
            "raw_code": corpus_assets.RawCodeConfig(source_kind="codesearchnet", paths=[str(tmp_path / "csn")]),
            "filtered_code": corpus_assets.FilterConfig(require_plain_values=False),
        }),
    )
    assert result.success
    lake = DuckDBLakeResource(base_dir=lake_dir)
    assert lake.query("SELECT count(*) AS n FROM filtered_code")["n"][0] == 5
    assert "malformed_json" in result.asset_materializations_for_node("raw_code")[0].metadata["skipped"].value
