"""Harvest (docstring, function) pairs from local source trees with tree-sitter.

The six CodeSearchNet languages; a function counts when it carries a docstring (Python) or a leading
doc comment (`/** */` in Java, JavaScript and PHP; `//` lines in Go; `#` lines in Ruby). Vendored,
generated, minified, binary and undecodable files are skipped with a counted reason. A root may be a
directory or a zip of sources (the JDK ships its library source as `lib/src.zip`).
"""

from __future__ import annotations

import ast
import glob
import inspect
import os
import re
import sysconfig
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import polars as pl
import tree_sitter as ts

from wavecoder_assets.corpus.records import LANGUAGES, SkipLog, make_row, rows_frame

SOURCE = "local_tree"

EXTENSIONS = {
    ".py": "python", ".java": "java", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".go": "go", ".php": "php", ".rb": "ruby",
}
# Third-party code copied into a tree; pruned below the root (a root may itself be one of these).
VENDORED_DIRS = {"node_modules", "vendor", "third_party", "thirdparty", "site-packages", "dist-packages",
                 "bower_components", "external", "extern"}
# Never source: pruned without a record.
NOT_SOURCE_DIRS = {".git", ".hg", ".svn", "__pycache__", ".tox", ".venv", ".mypy_cache", ".pytest_cache"}
GENERATED_NAME = re.compile(r"(\.min\.js|[._-]pb2?\.(py|go)|_pb2_grpc\.py|\.generated\.\w+|_generated\.\w+|\.bundle\.js)$")
GENERATED_HEADER = re.compile(rb"@generated|do not edit|auto-?generated|automatically generated|(file|code) (is |was )?generated",
                              re.IGNORECASE)
HEADER_BYTES = 1024


def _grammar(language: str):
    if language == "python":
        import tree_sitter_python as m
    elif language == "java":
        import tree_sitter_java as m
    elif language == "javascript":
        import tree_sitter_javascript as m
    elif language == "go":
        import tree_sitter_go as m
    elif language == "ruby":
        import tree_sitter_ruby as m
    elif language == "php":
        import tree_sitter_php as m

        return m.language_php()  # PHP mixed with HTML, as real .php files are
    else:
        raise ValueError(f"unknown language {language!r}; known: {LANGUAGES}")
    return m.language()


# language -> (tree-sitter query capturing function nodes as @fn, doc kind, line-comment marker);
# doc kind: "docstring" (Python), "block" (a /** */ comment in front), "line" (a run of line comments in front).
SPECS = {
    "python": ("(function_definition) @fn", "docstring", ""),
    "java": ("[(method_declaration) (constructor_declaration)] @fn", "block", ""),
    "javascript": ("[(function_declaration) (generator_function_declaration) (method_definition)"
                   " (function_expression) (arrow_function)] @fn", "block", ""),
    "go": ("[(function_declaration) (method_declaration)] @fn", "line", "//"),
    "php": ("[(function_definition) (method_declaration)] @fn", "block", ""),
    "ruby": ("[(method) (singleton_method)] @fn", "line", "#"),
}

# Nodes that wrap a function without being the thing a doc comment sits in front of.
WRAPPERS = {"decorated_definition", "variable_declarator", "lexical_declaration", "variable_declaration",
            "assignment_expression", "expression_statement", "export_statement", "pair", "field_definition",
            "public_field_definition"}
CLASS_NODES = {"class_definition", "class_declaration", "interface_declaration", "enum_declaration",
               "record_declaration", "trait_declaration", "class", "module"}


@cache
def _parser_and_query(language: str) -> tuple[ts.Parser, ts.Query, str, str]:
    query, doc, prefix = SPECS[language]
    lang = ts.Language(_grammar(language))
    return ts.Parser(lang), ts.Query(lang, query), doc, prefix


def extract_functions(source: bytes, language: str, *, path: str = "<memory>", max_line_chars: int = 1000,
                      skips: SkipLog | None = None) -> list[tuple[str, str, str]]:
    """(func_name, code, docstring) for every documented function in one file's source.

    A file whose tree has syntax errors keeps its error-free functions; the dropped ones are counted
    in `skips` as one `parse_error` record for the file.
    """
    parser, query, doc_kind, line_prefix = _parser_and_query(language)
    tree = parser.parse(source)
    nodes = ts.QueryCursor(query).captures(tree.root_node).get("fn", [])
    out, broken, enormous = [], 0, 0
    for node in sorted(nodes, key=lambda n: n.start_byte):
        anchor = _anchor(node)
        if doc_kind == "docstring":
            docstring = _python_docstring(node)
        else:
            docstring = _leading_comment(anchor, block=doc_kind == "block", line_prefix=line_prefix)
        if not docstring:
            continue
        if node.has_error:
            broken += 1
            continue
        # A JavaScript function expression reads best with the statement that names it (`const f = ...`).
        code = _node_code(source, anchor if language == "javascript" else node)
        if max(map(len, code.splitlines()), default=0) > max_line_chars:
            enormous += 1
            continue
        out.append((_func_name(node, anchor), code, docstring))
    if skips is not None and tree.root_node.has_error:
        skips.add(path, "parse_error", f"syntax errors in the tree; kept {len(out)} functions, dropped {broken}")
    if skips is not None and enormous:
        skips.add(path, "enormous_line", f"dropped {enormous} functions with a line over {max_line_chars} chars")
    return out


def _anchor(node: ts.Node) -> ts.Node:
    while node.parent is not None and node.parent.type in WRAPPERS:
        node = node.parent
    return node


def _python_docstring(fn: ts.Node) -> str:
    body = fn.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    if first is None or first.type != "expression_statement" or not first.named_children:
        return ""
    string = first.named_children[0]
    if string.type != "string":
        return ""
    text = string.text.decode("utf-8", "replace")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = re.sub(r"^[rRuU]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", text)
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def _leading_comment(anchor: ts.Node, *, block: bool, line_prefix: str) -> str:
    """The doc comment right in front of a definition: one `/** */` block, or a run of line comments."""
    # Ruby puts the comments in front of a body's first statement outside the body node.
    while anchor.prev_sibling is None and anchor.parent is not None and anchor.parent.start_byte == anchor.start_byte:
        anchor = anchor.parent
    lines: list[str] = []
    next_row = anchor.start_point.row
    sibling = anchor.prev_sibling
    while sibling is not None and "comment" in sibling.type and sibling.end_point.row >= next_row - 1:
        text = sibling.text.decode("utf-8", "replace")
        if block:
            if not text.startswith("/**"):
                return ""
            body = re.sub(r"^/\*\*+|\*+/$", "", text)
            return inspect.cleandoc("\n".join(re.sub(r"^\s*\*\s?", "", ln) for ln in body.splitlines())).strip()
        if not text.startswith(line_prefix):
            break
        lines.insert(0, text[len(line_prefix):])
        next_row = sibling.start_point.row
        sibling = sibling.prev_sibling
    # Tool directives (//go:generate, # rubocop:disable, # frozen_string_literal) are not documentation.
    lines = [ln for ln in lines if not re.match(r"\s*(go:|nolint|rubocop:|frozen_string_literal|-\*-)", ln)]
    return inspect.cleandoc("\n".join(lines)).strip() if lines else ""


def _node_code(source: bytes, node: ts.Node) -> str:
    """The function's text, dedented as if it stood at the top level."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    indent = re.sub(rb"\S", b" ", source[line_start:node.start_byte])
    text = (indent + source[node.start_byte:node.end_byte]).decode("utf-8", "replace")
    return textwrap.dedent(text).strip("\n")


def _func_name(fn: ts.Node, anchor: ts.Node) -> str:
    name = None
    node = fn
    while name is None:
        name = node.child_by_field_name("name") or node.child_by_field_name("left") or node.child_by_field_name("key")
        if node == anchor or node.parent is None:
            break
        node = node.parent
    base = name.text.decode("utf-8", "replace") if name is not None else "<anonymous>"
    receiver = fn.child_by_field_name("receiver")  # Go methods
    if receiver is not None:
        match = re.search(rb"(\w+)\s*(?:\[[^\]]*\])?\s*\)$", receiver.text)
        return f"{match.group(1).decode()}.{base}" if match else base
    parent = anchor.parent
    while parent is not None:
        if parent.type in CLASS_NODES and parent.child_by_field_name("name") is not None:
            return f"{parent.child_by_field_name('name').text.decode('utf-8', 'replace')}.{base}"
        parent = parent.parent
    return base


# ---------------------------------------------------------------------------------------------- files


def source_files(root: Path, skips: SkipLog, languages: tuple[str, ...] = LANGUAGES) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(relative path, language, read()) for every source file under a directory or in a zip, sorted by path."""
    wanted = {ext for ext, lang in EXTENSIONS.items() if lang in languages}
    if root.is_file() and zipfile.is_zipfile(root):
        with zipfile.ZipFile(root) as archive:
            vendored = set()
            for name in sorted(archive.namelist()):
                parts = name.split("/")
                if os.path.splitext(name)[1] not in wanted or name.endswith("/"):
                    continue
                if any(p in NOT_SOURCE_DIRS for p in parts[:-1]):
                    continue
                hit = next((i for i, p in enumerate(parts[:-1]) if p in VENDORED_DIRS), None)
                if hit is not None:  # members are listed flat: one record per vendored folder
                    folder = "/".join(parts[:hit + 1])
                    if folder not in vendored:
                        vendored.add(folder)
                        skips.add(folder, "vendored", "directory not read")
                    continue
                yield name, EXTENSIONS[os.path.splitext(name)[1]], lambda n=name: archive.read(n)
        return
    if root.is_file():  # a single source file
        if root.suffix in wanted:
            yield root.name, EXTENSIONS[root.suffix], root.read_bytes
        else:
            skips.add(str(root), "unsupported_file", "not a source file of the selected languages, nor a zip")
        return
    for dirpath, dirnames, filenames in os.walk(root):
        kept = []
        for d in sorted(dirnames):
            if d in NOT_SOURCE_DIRS:
                continue
            if d in VENDORED_DIRS:
                skips.add(str(Path(dirpath, d).relative_to(root)), "vendored", "directory not walked")
                continue
            kept.append(d)
        dirnames[:] = kept
        for name in sorted(filenames):
            ext = os.path.splitext(name)[1]
            if ext in wanted:
                full = Path(dirpath, name)
                yield str(full.relative_to(root)), EXTENSIONS[ext], full.read_bytes


def worth_parsing(rel: str, data: bytes, skips: SkipLog, *, max_file_bytes: int) -> bool:
    """True for a UTF-8 source file worth parsing; otherwise False and a skip record."""
    reason = detail = None
    if not data.strip():
        reason, detail = "empty_file", f"{len(data)} bytes"
    elif len(data) > max_file_bytes:
        reason, detail = "too_large", f"{len(data)} bytes > {max_file_bytes}"
    elif b"\x00" in data[:8192]:
        reason, detail = "binary", "NUL byte in the first 8 KiB"
    elif GENERATED_NAME.search(rel) or GENERATED_HEADER.search(data[:HEADER_BYTES]):
        reason, detail = "generated", "generated-file name or header marker"
    else:
        lines = data.count(b"\n") + 1
        if rel.endswith((".js", ".mjs", ".cjs")) and len(data) / lines > 200:
            reason, detail = "minified", f"{len(data) / lines:.0f} chars per line"
    if reason is None:
        try:
            data.decode("utf-8")
            return True
        except UnicodeDecodeError as error:
            reason, detail = "invalid_utf8", str(error)
    skips.add(rel, reason, detail)
    return False


def harvest_trees(roots: list[str | Path], *, languages: tuple[str, ...] = LANGUAGES, max_rows_per_language: int = 0,
                  max_files: int = 0, max_file_bytes: int = 2_000_000, max_line_chars: int = 1000,
                  logger=None) -> tuple[pl.DataFrame, SkipLog]:
    """raw_code rows from every root, in sorted path order; caps of 0 mean no cap.

    `max_rows_per_language` stops taking a language once it has that many rows; `max_files` caps the
    files read per root.
    """
    skips = SkipLog(SOURCE, **({"logger": logger} if logger is not None else {}))
    rows: list[dict] = []
    counts = dict.fromkeys(languages, 0)
    for root in map(Path, roots):
        if not root.exists():
            raise FileNotFoundError(f"source root {root} does not exist")
        files_read = 0
        for rel, language, read in source_files(root, skips, tuple(languages)):
            if max_rows_per_language and counts[language] >= max_rows_per_language:
                if all(n >= max_rows_per_language for n in counts.values()):
                    break
                continue
            if max_files and files_read >= max_files:
                break
            files_read += 1
            try:
                data = read()
            except OSError as error:
                skips.add(rel, "unreadable", str(error))
                continue
            if not worth_parsing(rel, data, skips, max_file_bytes=max_file_bytes):
                continue
            found = extract_functions(data, language, path=rel, max_line_chars=max_line_chars,
                                      skips=skips)
            for func_name, code, docstring in found:
                if max_rows_per_language and counts[language] >= max_rows_per_language:
                    break
                rows.append(make_row(source=SOURCE, repo=str(root), path=rel, func_name=func_name,
                                     language=language, code=code, docstring=docstring))
                counts[language] += 1
    return rows_frame(rows), skips


def default_roots() -> list[str]:
    """Real open-source trees on this machine: the running Python's standard library always, plus
    whatever JavaScript, Go, Ruby, PHP and Java library sources are installed."""
    roots = [sysconfig.get_paths()["stdlib"]]
    candidates = [
        "/usr/lib/node_modules/npm/node_modules",  # npm's bundled, documented dependencies
        "/usr/share/nodejs",
        *sorted(glob.glob("/usr/lib/go*/src")), "/usr/local/go/src",
        *sorted(glob.glob("/usr/lib/ruby/[0-9]*")),
        "/usr/share/php",
    ]
    roots += [c for c in candidates if os.path.isdir(c)]
    jdk_sources = sorted({os.path.realpath(p) for p in glob.glob("/usr/lib/jvm/*/lib/src.zip") if os.path.isfile(p)})
    return roots + jdk_sources[:1]  # one JDK is enough: the others repeat the same library
