"""Harvest (docstring, function) pairs from local source trees with tree-sitter.

The six CodeSearchNet languages; a function counts when it carries a docstring (Python) or a doc comment in
front of the statement that holds it:

- JavaScript: a `/** */` block in front of a function declaration (generators, `export`, `export default`
  included), of a statement or declaration assigning a function expression or arrow function (`const f = ...`,
  `res.send = function send() {}`, `module.exports = ...`, `exports.x = ...`, `Foo.prototype.x = ...`), of an
  object-literal method or `key: function`/`key: () =>` pair, of a class method (static, get/set, async,
  generator, `#private`) or of a class field holding a function. Decorators in between are skipped.
- Java: a `/** */` Javadoc in front of a method, constructor or compact record constructor with a body (in
  classes, interfaces, enums, records); annotations between the Javadoc and the method belong to the method.
- PHP: a `/** */` PHPDoc in front of a function, a class/trait/interface/enum method with a body, or a
  statement assigning a closure or arrow function (`$f = function () {};`, `$f = fn ($x) => ...;`);
  attributes between the PHPDoc and the method belong to the method.
- Go: a run of `//` lines right above a function, a method, or a package-level `var f = func(...) {...}`
  (also one spec of a `var (...)` group).
- Ruby: a run of `#` lines (or an `=begin`/`=end` block) right above `def`, `def self.x`, a `def` inside
  `class << self`, or a `def` wrapped in a visibility call (`private def x`).
- Python: the docstring inside the body of a function or method (async and decorated ones included).

A `/** */` comment may be separated from its statement by at most one blank line (the Express style); a run
of line comments must touch the function, and each of its comments must start its line (a comment trailing
code is not documentation). Tool directives (`//go:noinline`, `# rubocop:disable`,
`// eslint-disable-next-line`) are neither documentation nor a separation. A file's licence or overview
header (its first comment, naming a copyright, licence or `@fileoverview`) is never a function's doc
comment. Bodiless declarations (abstract, interface and native methods) are skipped.

Function names:
- a declared function, method or class member: `Class.member` inside a class (Python, Java, PHP, Ruby: the
  nearest enclosing named class or module; JavaScript: direct members of a class body only), else its own
  name; a Go method is `Receiver.Name`;
- an assigned function: the target it is assigned to, as written without whitespace (`res.send`,
  `exports.parse`, `module.exports`, `Router.prototype.route`, `$formatPrice`); of a chain such as
  `var proto = module.exports = function ...`, the innermost target (`module.exports`);
- a function in a variable declaration: the variable (`half`, Go's `var normalize = func ...`);
- an object-literal member: its key, quotes stripped (`caseSensitive`, `query parser`);
- `export default function () {}`: `default`.

Vendored, generated, minified, binary and undecodable files are skipped with a counted reason, and so is
anything that is not a regular file (a FIFO, socket or device named `*.py` would block a read forever). Source
is UTF-8, or the encoding its byte-order mark (UTF-16, UTF-32) or its coding declaration on line 1 or 2 (PEP 263
`# -*- coding: latin-1 -*-`, Ruby's `# encoding: ...`) names; other undecodable files are skipped, saying which
byte failed. A root may be a directory or a zip of sources (the JDK ships its library source as `lib/src.zip`).
"""

from __future__ import annotations

import ast
import codecs
import errno
import glob
import inspect
import os
import re
import stat
import sysconfig
import textwrap
import zipfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path

import polars as pl
import tree_sitter as ts

from wavecoder_assets.corpus.records import SkipLog, make_row, rows_frame
from wavecoder_assets.languages import LANGUAGES, node_text, python_docstring, tree_sitter_language

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
# Byte-order marks, longest first (a UTF-32-LE mark starts with the UTF-16-LE one).
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
# PEP 263 (and Ruby's magic comment): a `#` comment on line 1 or 2 naming the file's encoding.
CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")

# language -> (node types captured as functions, doc kind, line-comment marker). Node types the installed
# grammar does not know (names that changed between grammar versions) are left out of the query. Doc kind:
# "docstring" (Python), "block" (a /** */ comment in front), "line" (a run of line comments in front).
SPECS = {
    "python": (("function_definition",), "docstring", ""),
    "java": (("method_declaration", "constructor_declaration", "compact_constructor_declaration"), "block", ""),
    "javascript": (("function_declaration", "generator_function_declaration", "method_definition",
                    "function_expression", "function", "generator_function", "arrow_function"), "block", ""),
    "go": (("function_declaration", "method_declaration", "func_literal"), "line", "//"),
    "php": (("function_definition", "method_declaration", "anonymous_function",
             "anonymous_function_creation_expression", "arrow_function"), "block", ""),
    "ruby": (("method", "singleton_method"), "line", "#"),
}

# Nodes that wrap a Python function without being the thing that names it.
WRAPPERS = {"decorated_definition"}
CLASS_NODES = {"class_definition", "class_declaration", "interface_declaration", "enum_declaration",
               "record_declaration", "trait_declaration", "class", "module"}
CLOSURES = {"func_literal", "anonymous_function", "anonymous_function_creation_expression", "arrow_function"}
JS_DECLARATIONS = {"lexical_declaration", "variable_declaration"}
# Blank lines allowed between a /** */ doc comment and its statement.
BLOCK_DOC_MAX_BLANK_LINES = 1
# Comments that instruct a tool (matched after the comment marker): not documentation, and skipped between a
# doc comment and its function.
DIRECTIVE = re.compile(r"\s*(go:|nolint|rubocop:|frozen_string_literal|encoding:|-\*-|eslint|jshint|jscs:|"
                       r"istanbul |c8 |@ts-|prettier-ignore|noinspection|NOSONAR|phpcs:|@phpstan-|@psalm-)")
FILE_HEADER = re.compile(r"copyright|\blicen[cs]ed?\b|@license|@preserve|@fileoverview|@file\b|SPDX-License",
                         re.IGNORECASE)
FILE_START = {"php_tag", "text", "hash_bang_line", "shebang"}
RUBY_VISIBILITY = {"private", "protected", "public", "private_class_method", "public_class_method",
                   "module_function"}


@cache
def _parser_and_query(language: str) -> tuple[ts.Parser, ts.Query, str, str]:
    if language not in SPECS:
        raise ValueError(f"unknown language {language!r}; known: {LANGUAGES}")
    kinds, doc, prefix = SPECS[language]
    lang = tree_sitter_language(language)
    known = [k for k in kinds if lang.id_for_node_kind(k, True)]
    return ts.Parser(lang), ts.Query(lang, "[" + " ".join(f"({k})" for k in known) + "] @fn"), doc, prefix


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
        located = _locate(node, language)
        if located is None:
            continue
        anchor, name, code_node = located
        if doc_kind == "docstring":
            docstring = _python_docstring(node)
        elif doc_kind == "block":
            docstring = _block_doc(anchor)
        else:
            docstring = _line_doc(anchor, line_prefix)
        if not docstring:
            continue
        if code_node.has_error:
            broken += 1
            continue
        code = _node_code(source, code_node)
        if max(map(len, code.splitlines()), default=0) > max_line_chars:
            enormous += 1
            continue
        out.append((name, code, docstring))
    if skips is not None and tree.root_node.has_error:
        skips.add(path, "parse_error", f"syntax errors in the tree; kept {len(out)} functions, dropped {broken}")
    if skips is not None and enormous:
        skips.add(path, "enormous_line", f"dropped {enormous} functions with a line over {max_line_chars} chars")
    return out


# ------------------------------------------------------------------------------------ function forms


def _locate(fn: ts.Node, language: str) -> tuple[ts.Node, str, ts.Node] | None:
    """(anchor, name, code node) of a captured function, or None when it is no harvested form.

    The anchor is the statement the doc comment sits in front of; the code node is the text the row keeps
    (for a function expression, the statement that names it: `const half = (x) => x / 2;`).
    """
    if language == "javascript":
        return _js_locate(fn)
    if fn.type in CLOSURES:
        return _assigned_closure(fn, language)
    if language in ("java", "php") and fn.child_by_field_name("body") is None:
        return None  # abstract, interface and native methods: no code to pair with the doc
    anchor = fn
    if language == "python":
        while anchor.parent is not None and anchor.parent.type in WRAPPERS:
            anchor = anchor.parent
    elif language == "ruby" and fn.parent is not None and fn.parent.type == "argument_list":
        call = fn.parent.parent  # `private def x ... end`
        if call is None or call.type != "call" or call.child_by_field_name("receiver") is not None:
            return None
        if node_text(call.child_by_field_name("method")) not in RUBY_VISIBILITY or len(fn.parent.named_children) != 1:
            return None
        anchor = call
    return anchor, _func_name(fn, anchor), fn


def _target_name(node: ts.Node | None) -> str:
    """An assignment target as written, without whitespace: `res.send`, `Foo.prototype.bar`, `$handler`."""
    return re.sub(r"\s+", "", node_text(node))


def _is_field(parent: ts.Node, field: str, child: ts.Node) -> bool:
    value = parent.child_by_field_name(field)
    return value is not None and value.id == child.id


def _assigned_closure(fn: ts.Node, language: str) -> tuple[ts.Node, str, ts.Node] | None:
    """A Go package-level `var f = func ...`, or a PHP `$f = function ...;` statement."""
    parent = fn.parent
    if parent is None:
        return None
    if language == "go":
        # func_literal <- expression_list <- var_spec <- var_declaration, or <- var_spec_list <- var_declaration
        spec = parent.parent if parent.type == "expression_list" and len(parent.named_children) == 1 else None
        if spec is None or spec.type != "var_spec" or spec.child_by_field_name("name") is None:
            return None
        if spec.parent is not None and spec.parent.type == "var_declaration":
            anchor = declaration = spec.parent
        elif spec.parent is not None and spec.parent.type == "var_spec_list":
            anchor, declaration = spec, spec.parent.parent
        else:
            return None
        if declaration is None or declaration.parent is None or declaration.parent.type != "source_file":
            return None
        return anchor, node_text(spec.child_by_field_name("name")), anchor
    if language == "php":
        if parent.type != "assignment_expression" or not _is_field(parent, "right", fn):
            return None
        statement = parent.parent
        if statement is None or statement.type != "expression_statement":
            return None
        return statement, _target_name(parent.child_by_field_name("left")), statement
    return None


def _js_statement(node: ts.Node) -> ts.Node:
    return node.parent if node.parent is not None and node.parent.type == "export_statement" else node


def _js_key(key: ts.Node | None) -> str:
    if key is None:
        return "<anonymous>"
    return node_text(key)[1:-1] if key.type == "string" else node_text(key)


def _js_class_name(body: ts.Node) -> str:
    """The name of the class a class_body belongs to; an anonymous class expression takes its target's name."""
    cls = body.parent
    if cls is None:
        return ""
    name = cls.child_by_field_name("name")
    if name is not None:
        return node_text(name)
    holder = cls.parent
    if holder is not None and holder.type == "variable_declarator":
        return node_text(holder.child_by_field_name("name"))
    if holder is not None and holder.type == "assignment_expression":
        return _target_name(holder.child_by_field_name("left"))
    return ""


def _js_member(node: ts.Node, name: str) -> str:
    """`Class.name` for a direct member of a class body, `name` for an object-literal member."""
    body = node.parent
    cls = _js_class_name(body) if body is not None and body.type == "class_body" else ""
    return f"{cls}.{name}" if cls else name


def _js_declaration(declarator: ts.Node) -> ts.Node | None:
    """The statement holding a declarator when that is the declaration's first declarator (the one a doc
    comment in front of the statement describes)."""
    declaration = declarator.parent
    if declaration is None or declaration.type not in JS_DECLARATIONS:
        return None
    first = next((c for c in declaration.named_children if c.type == "variable_declarator"), None)
    return _js_statement(declaration) if first is not None and first.id == declarator.id else None


def _js_locate(fn: ts.Node) -> tuple[ts.Node, str, ts.Node] | None:
    if fn.type in ("function_declaration", "generator_function_declaration"):
        anchor = _js_statement(fn)
        return anchor, node_text(fn.child_by_field_name("name")), anchor
    if fn.type == "method_definition":
        return fn, _js_member(fn, _js_key(fn.child_by_field_name("name"))), fn
    parent = fn.parent  # a function expression, generator expression or arrow function
    if parent is None:
        return None
    if parent.type == "assignment_expression" and _is_field(parent, "right", fn):
        name = _target_name(parent.child_by_field_name("left"))
        top = parent  # `a = b = function ...`: the innermost target names it, the outermost statement holds it
        while (top.parent is not None and top.parent.type == "assignment_expression"
               and _is_field(top.parent, "right", top)):
            top = top.parent
        holder = top.parent
        if holder is not None and holder.type == "expression_statement":
            return holder, name, holder
        if holder is not None and holder.type == "variable_declarator" and _is_field(holder, "value", top):
            anchor = _js_declaration(holder)
            return (anchor, name, anchor) if anchor is not None else None
        return None  # an assignment inside a call, a condition, a sequence...
    if parent.type == "variable_declarator" and _is_field(parent, "value", fn):
        target = parent.child_by_field_name("name")
        anchor = _js_declaration(parent)
        if anchor is None or target is None or target.type != "identifier":
            return None  # a later declarator, or a destructuring pattern
        return anchor, node_text(target), anchor
    if parent.type == "pair" and _is_field(parent, "value", fn):
        return parent, _js_key(parent.child_by_field_name("key")), parent
    if parent.type in ("field_definition", "public_field_definition") and _is_field(parent, "value", fn):
        key = parent.child_by_field_name("property") or parent.child_by_field_name("name")
        return parent, _js_member(parent, _js_key(key)), parent
    if parent.type == "export_statement":  # export default function () {}
        return parent, "default", parent
    return None  # a callback argument, an IIFE, a returned function...


# -------------------------------------------------------------------------------------- doc comments


def _python_docstring(fn: ts.Node) -> str:
    """The function's docstring as text, indentation cleaned (Python 2 literals that do not evaluate: unquoted)."""
    statement = python_docstring(fn)
    if statement is None:
        return ""
    text = statement.named_children[0].text.decode("utf-8", "replace")
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        value = re.sub(r"^[rRuU]*('''|\"\"\"|'|\")|('''|\"\"\"|'|\")$", "", text)
    return inspect.cleandoc(value) if isinstance(value, str) else ""


def _climb_to_body_start(anchor: ts.Node) -> ts.Node:
    # Ruby puts the comments in front of a body's first statement outside the body node.
    while anchor.prev_sibling is None and anchor.parent is not None and anchor.parent.start_byte == anchor.start_byte:
        anchor = anchor.parent
    return anchor


def _starts_line(node: ts.Node) -> bool:
    """No code in front of the node on its line (a comment trailing a statement is not documentation)."""
    previous = node.prev_sibling
    return previous is None or previous.end_point.row < node.start_point.row


def _is_directive(comment: ts.Node) -> bool:
    text = node_text(comment)
    return not text.startswith("/**") and DIRECTIVE.match(re.sub(r"^(//+|#|/\*+)", "", text)) is not None


def _at_file_start(comment: ts.Node) -> bool:
    """Nothing but other comments (or a PHP open tag, a shebang) in front of a top-level comment."""
    if comment.parent is not None and comment.parent.parent is not None:
        return False
    previous = comment.prev_sibling
    while previous is not None and (previous.type in FILE_START or "comment" in previous.type):
        previous = previous.prev_sibling
    return previous is None


def _is_file_header(comment: ts.Node, text: str | None = None) -> bool:
    """A comment at the top of a file naming a copyright, licence or file overview."""
    return _at_file_start(comment) and FILE_HEADER.search(node_text(comment) if text is None else text) is not None


def _clean_block(text: str) -> str:
    body = re.sub(r"^/\*\*+|\*+/$", "", text)
    return inspect.cleandoc("\n".join(re.sub(r"^\s*\*\s?", "", ln) for ln in body.splitlines())).strip()


def _block_doc(anchor: ts.Node) -> str:
    """The `/** */` comment right in front of a statement (tool directives and one blank line allowed
    between), or ''."""
    for child in anchor.children:  # a doc comment written between a JavaScript member's decorators and it
        if child.type == "decorator":
            continue
        if "comment" in child.type and node_text(child).startswith("/**"):
            return _clean_block(node_text(child))
        break
    anchor = _climb_to_body_start(anchor)
    next_row = anchor.start_point.row
    sibling = anchor.prev_sibling
    while sibling is not None and "comment" in sibling.type and _is_directive(sibling):
        next_row, sibling = sibling.start_point.row, sibling.prev_sibling
    if sibling is None or "comment" not in sibling.type:
        return ""
    if sibling.end_point.row < next_row - 1 - BLOCK_DOC_MAX_BLANK_LINES:
        return ""  # far above: a detached comment
    text = node_text(sibling)
    if not text.startswith("/**") or text.startswith("/**/") or _is_file_header(sibling):
        return ""
    return _clean_block(text)


def _line_doc(anchor: ts.Node, line_prefix: str) -> str:
    """The run of line comments touching a definition (or a Ruby `=begin`/`=end` block), or ''."""
    anchor = _climb_to_body_start(anchor)
    lines: list[str] = []
    next_row = anchor.start_point.row
    sibling = anchor.prev_sibling
    earliest = None
    while sibling is not None and "comment" in sibling.type and sibling.end_point.row >= next_row - 1:
        text = node_text(sibling)
        if not _starts_line(sibling):
            break
        if line_prefix == "#" and text.startswith("=begin"):
            block = text.splitlines()[1:]
            lines[:0] = block[:-1] if block and block[-1].startswith("=end") else block
        elif text.startswith(line_prefix):
            lines.insert(0, text[len(line_prefix):])
        else:
            break
        next_row, earliest = sibling.start_point.row, sibling
        sibling = sibling.prev_sibling
    if earliest is not None and _is_file_header(earliest, "\n".join(lines)):
        return ""
    # Tool directives (//go:generate, # rubocop:disable, # frozen_string_literal) are not documentation.
    lines = [ln for ln in lines if not DIRECTIVE.match(ln)]
    return inspect.cleandoc("\n".join(lines)).strip() if lines else ""


def _node_code(source: bytes, node: ts.Node) -> str:
    """The function's text, dedented as if it stood at the top level."""
    line_start = source.rfind(b"\n", 0, node.start_byte) + 1
    # The line's own indentation: a node starting mid-line (`private def x`) reads as if it began the line.
    indent = re.match(rb"[ \t]*", source[line_start:node.start_byte]).group()
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


class NotRegularFile(OSError):
    """A path that is no regular file (FIFO, socket, device): reading it could block forever."""


_FILE_KINDS = ((stat.S_ISFIFO, "FIFO (named pipe)"), (stat.S_ISSOCK, "socket"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISDIR, "directory"))


def _file_kind(mode: int) -> str | None:
    """What a non-regular file is, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _FILE_KINDS if test(mode)), f"not a regular file (mode {mode:o})")


def read_regular_file(path: str | Path) -> bytes:
    """The bytes of a regular file (symlinks followed). Anything else raises NotRegularFile without blocking:
    the file is opened non-blocking (a FIFO with no writer opens at once) and checked on the open descriptor,
    so a file swapped for a FIFO after the directory listing is caught too."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as error:
        if error.errno == errno.ENXIO:  # a unix socket cannot be opened
            raise NotRegularFile(errno.ENXIO, "socket", str(path)) from None
        raise
    try:
        kind = _file_kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise NotRegularFile(errno.EINVAL, kind, str(path))
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def source_files(root: Path, skips: SkipLog, languages: tuple[str, ...] = LANGUAGES) -> Iterator[tuple[str, str, Callable[[], bytes]]]:
    """(relative path, language, read()) for every source file under a directory or in a zip, sorted by path.

    Only regular files (and symlinks to them) are listed from a directory; a FIFO, socket or device file with a
    source extension is a `not_regular_file` skip, a dangling symlink an `unreadable` one."""
    wanted = {ext for ext, lang in EXTENSIONS.items() if lang in languages}
    try:
        root_kind = _file_kind(root.stat().st_mode)
    except OSError as error:
        skips.add(str(root), "unreadable", str(error))
        return
    if root_kind not in (None, "directory"):  # never open it: is_zipfile() would block on a FIFO
        skips.add(str(root), "not_regular_file", f"{root_kind}; not read")
        return
    if root_kind is None and zipfile.is_zipfile(root):
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
    if root_kind is None:  # a single source file
        if root.suffix in wanted:
            yield root.name, EXTENSIONS[root.suffix], lambda: read_regular_file(root)
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
            if ext not in wanted:
                continue
            full = Path(dirpath, name)
            rel = str(full.relative_to(root))
            try:
                kind = _file_kind(full.stat().st_mode)  # follows symlinks; never opens the file
            except OSError as error:
                skips.add(rel, "unreadable", str(error))
                continue
            if kind is not None:
                skips.add(rel, "not_regular_file", f"{kind}; not read")
                continue
            yield rel, EXTENSIONS[ext], lambda f=full: read_regular_file(f)


def declared_encoding(data: bytes) -> str | None:
    """The encoding name a coding declaration on line 1 or 2 gives (PEP 263, Ruby's magic comment), as
    written, or None."""
    for line in data.split(b"\n", 2)[:2]:
        if match := CODING.match(line):
            return match.group(1).decode("ascii", "replace")
    return None


def _text_codec(name: str) -> str | None:
    """Python's name for a text encoding, or None (unknown, or a bytes codec such as zlib or rot13)."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        return None
    return codec.name if getattr(codec, "_is_text_encoding", True) else None


def decode_source(rel: str, data: bytes, skips: SkipLog, *, max_file_bytes: int) -> bytes | None:
    """A source file's text as UTF-8 bytes, worth parsing; or None and a skip record.

    UTF-8 is the default; a byte-order mark (UTF-16, UTF-32) or a coding declaration on line 1 or 2 names
    another encoding, which is decoded. Files that are none of these are skipped, naming the byte that failed."""
    reason = detail = None
    if not data.strip():
        reason, detail = "empty_file", f"{len(data)} bytes"
    elif len(data) > max_file_bytes:
        reason, detail = "too_large", f"{len(data)} bytes > {max_file_bytes}"
    if reason is None:
        bom = next((codec for mark, codec in BOMS if data.startswith(mark)), None)
        if bom is not None:
            try:
                data = data.decode(bom).encode("utf-8")
            except UnicodeError as error:
                reason, detail = "invalid_encoding", f"{bom} byte-order mark, but {error}"
    if reason is None:
        if b"\x00" in data[:8192]:
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
            return data
        except UnicodeDecodeError as error:
            utf8_error = error
        declared = declared_encoding(data)
        codec = _text_codec(declared) if declared is not None else None
        if codec is not None:
            try:
                return data.decode(codec).encode("utf-8")
            except (UnicodeError, LookupError) as error:
                reason, detail = "invalid_encoding", f"declared {codec}, but {error}"
        elif declared is not None:
            reason, detail = "invalid_encoding", f"declares {declared!r}, which is no text encoding Python knows"
        else:
            line = data.count(b"\n", 0, utf8_error.start) + 1
            reason = "invalid_utf8"
            detail = (f"byte 0x{data[utf8_error.start]:02x} at offset {utf8_error.start} (line {line}) is not UTF-8, "
                      "and no byte-order mark or coding declaration (e.g. `# -*- coding: latin-1 -*-`) names "
                      "another encoding")
    skips.add(rel, reason, detail)
    return None


def worth_parsing(rel: str, data: bytes, skips: SkipLog, *, max_file_bytes: int) -> bool:
    """True for a source file worth parsing (see decode_source); otherwise False and a skip record."""
    return decode_source(rel, data, skips, max_file_bytes=max_file_bytes) is not None


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
            except NotRegularFile as error:
                skips.add(rel, "not_regular_file", f"{error.strerror}; not read")
                continue
            except OSError as error:
                skips.add(rel, "unreadable", str(error))
                continue
            data = decode_source(rel, data, skips, max_file_bytes=max_file_bytes)
            if data is None:
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
