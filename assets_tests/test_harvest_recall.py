"""Recall of the tree-sitter harvest, per language, against an independent scanner.

The fixtures under fixtures/harvest/ are realistic source files (an Express-style router, a Go proxy, a Java
service, a PHP controller, a Ruby model, Python utilities), each with documented functions of many forms,
undocumented ones, and comments that are not doc comments. The scanner below knows nothing of tree-sitter
or of harvest.py: it reads lines with regular expressions (and Python with the `ast` module), finds each
function-bearing line and decides from the lines above it whether it is documented, naming functions by the
convention in harvest.py's module docstring. The harvester must find >= 95% of the documented functions
in each language and nothing undocumented.
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from wavecoder_assets.corpus.harvest import extract_functions, harvest_trees

FIXTURES = Path(__file__).parent / "fixtures" / "harvest"
FILES = {
    "router.js": "javascript", "format.mjs": "javascript", "server.go": "go", "Service.java": "java",
    "Controller.php": "php", "model.rb": "ruby", "utils.py": "python",
}
MIN_RECALL = 0.95

# --------------------------------------------------------------------------------- the independent scanner

# Comments that instruct a tool: neither documentation nor a separation.
DIRECTIVE = re.compile(r"^(//|#)\s*(go:|nolint|rubocop:|frozen_string_literal|eslint|@ts-|prettier-ignore)")
HEADER_WORDS = re.compile(r"copyright|licen[cs]e|@fileoverview", re.IGNORECASE)


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip())


class Scopes:
    """Enclosing classes by indentation: a class lasts until a line indented no deeper than its own line."""

    def __init__(self) -> None:
        self.stack: list[list] = []  # [name, indent, member indent]
        self.in_embedded_doc = False  # inside Ruby's =begin ... =end

    def see(self, line: str) -> None:
        stripped = line.strip()
        if line.startswith(("=begin", "=end")):
            self.in_embedded_doc = line.startswith("=begin")
            return
        if self.in_embedded_doc or not stripped or stripped == "{" or stripped.startswith(("*", "/*")):
            return
        while self.stack and indent_of(line) <= self.stack[-1][1]:
            self.stack.pop()
        if self.stack and self.stack[-1][2] is None:
            self.stack[-1][2] = indent_of(line)

    def push(self, name: str, line: str) -> None:
        self.stack.append([name, indent_of(line), None])

    def innermost(self) -> str | None:
        return self.stack[-1][0] if self.stack else None

    def direct_member(self, line: str) -> str | None:
        """The class whose body holds `line` directly (JavaScript prefixes only those)."""
        return self.stack[-1][0] if self.stack and self.stack[-1][2] == indent_of(line) else None


def at_file_top(lines: list[str], end: int) -> bool:
    return all(not ln.strip() or ln.strip().startswith(("<?php", "/*", "*", "//", "#")) for ln in lines[:end])


def block_doc_above(lines: list[str], i: int, skip: re.Pattern) -> bool:
    """A `/** */` comment above line i: decorators/annotations/attributes and tool directives skipped, at most
    one blank line between, not the file's licence header."""
    j = i - 1
    while j >= 0 and (skip.match(lines[j].strip()) or DIRECTIVE.match(lines[j].strip())):
        j -= 1
    blanks = 0
    while j >= 0 and not lines[j].strip():
        blanks, j = blanks + 1, j - 1
    if j < 0 or blanks > 1 or not lines[j].rstrip().endswith("*/"):
        return False
    start = j
    while start >= 0 and "/*" not in lines[start]:
        start -= 1
    if start < 0 or not lines[start].strip().startswith("/**"):
        return False
    text = "\n".join(lines[start:j + 1])
    return not (at_file_top(lines, start) and HEADER_WORDS.search(text))


def line_doc_above(lines: list[str], i: int, marker: str) -> bool:
    """A run of whole-line comments (or a Ruby =begin/=end block) touching line i, with some text that is not
    a tool directive, and not the file's licence header."""
    j, text = i - 1, []
    while j >= 0:
        stripped = lines[j].strip()
        if stripped.startswith(marker):
            text.append(stripped)
            j -= 1
        elif marker == "#" and lines[j].startswith("=end"):
            while j >= 0 and not lines[j].startswith("=begin"):
                text.append(lines[j])
                j -= 1
            j -= 1
        else:
            break
    if at_file_top(lines, j + 1) and HEADER_WORDS.search("\n".join(text)):
        return False
    return any(not DIRECTIVE.match(t) and t.strip(marker + " =").strip() for t in text if not t.startswith("=end"))


JS_VALUE = r"(?:async\s+)?(?:function\b|(?:\([^()]*\)|[\w$]+)\s*=>)"
JS_DECLARED = re.compile(r"^(?:export\s+(?:default\s+)?)?(?:async\s+)?function\s*\*?\s*([\w$]+)\s*\(")
JS_DEFAULT = re.compile(r"^export\s+default\s+(?:async\s+)?function\s*\*?\s*\(")
JS_VARIABLE = re.compile(rf"^(?:export\s+)?(?:const|let|var)\s+([\w$]+)\s*=\s*((?:[\w$.]+\s*=\s*)*){JS_VALUE}")
JS_ASSIGNED = re.compile(rf"^((?:[\w$.]+\s*=\s*)+){JS_VALUE}")
JS_FIELD = re.compile(rf"^(?:static\s+)?(#?[\w$]+)\s*=\s*{JS_VALUE}")
JS_PAIR = re.compile(rf"^(['\"]?)([\w$ -]+)\1\s*:\s*{JS_VALUE}")
JS_METHOD = re.compile(r"^(?:static\s+)?(?:async\s+)?(?:[gs]et\s+)?\*?\s*(#?[\w$]+)\s*\([^()]*\)\s*\{")
JS_CLASS = re.compile(r"^(?:export\s+(?:default\s+)?)?class\s+([\w$]+)")
KEYWORDS = {"if", "for", "while", "switch", "catch", "function", "return", "with", "do", "else", "new", "throw",
            "this", "super", "try", "case", "yield", "assert", "await"}


def last_target(chain: str) -> str:
    return [t.strip() for t in chain.split("=") if t.strip()][-1]


def scan_javascript(lines: list[str]) -> list[tuple[str, bool]]:
    found, scopes, i = [], Scopes(), 0
    while i < len(lines):
        line, first = lines[i], i
        scopes.see(line)
        statement = line.strip()
        while statement.endswith("=") and i + 1 < len(lines):  # `res.contentType =\nres.type = function`
            i += 1
            statement += " " + lines[i].strip()
        name = None
        member = scopes.direct_member(line)
        if m := JS_CLASS.match(statement):
            scopes.push(m.group(1), line)
        elif m := JS_DECLARED.match(statement):
            name = m.group(1)
        elif JS_DEFAULT.match(statement):
            name = "default"
        elif m := JS_VARIABLE.match(statement):
            name = last_target(m.group(2)) if m.group(2) else m.group(1)
        elif member and (m := JS_FIELD.match(statement)):
            name = f"{member}.{m.group(1)}"
        elif m := JS_ASSIGNED.match(statement):
            name = last_target(m.group(1))
        elif m := JS_PAIR.match(statement):
            name = m.group(2)
        elif (m := JS_METHOD.match(statement)) and m.group(1) not in KEYWORDS:
            name = f"{member}.{m.group(1)}" if member else m.group(1)
        if name is not None:
            found.append((name, block_doc_above(lines, first, re.compile(r"^@[\w$.]+(\(.*\))?$"))))
        i += 1
    return found


JAVA_CLASS = re.compile(r"^(?:(?:public|protected|private|static|final|abstract|sealed|strictfp)\s+)*"
                        r"(?:class|interface|enum|record|@interface)\s+(\w+)")
JAVA_METHOD = re.compile(r"^(?:(?:public|protected|private|static|final|abstract|synchronized|native|default|"
                         r"strictfp)\s+)*(?:<[^>]*>\s+)?(?:[\w$.<>\[\]?, ]+?\s+)?(\w+)\s*\([^;{]*\)\s*"
                         r"(?:throws\s+[\w., ]+)?([{;])\s*$")
JAVA_COMPACT_CONSTRUCTOR = re.compile(r"^(?:(?:public|protected|private)\s+)?(\w+)\s*\{$")


def scan_java(lines: list[str]) -> list[tuple[str, bool]]:
    found, scopes = [], Scopes()
    for i, line in enumerate(lines):
        scopes.see(line)
        statement = line.strip()
        if m := JAVA_CLASS.match(statement):
            scopes.push(m.group(1), line)
            continue
        m = JAVA_METHOD.match(statement)
        if m and m.group(1) not in KEYWORDS and statement.split()[0] not in KEYWORDS:
            if m.group(2) == ";":  # abstract, interface or native: no body, not harvested
                continue
            name = m.group(1)
        elif (m := JAVA_COMPACT_CONSTRUCTOR.match(statement)) and m.group(1) == scopes.innermost():
            name = m.group(1)
        else:
            continue
        owner = scopes.innermost()
        found.append((f"{owner}.{name}" if owner else name, block_doc_above(lines, i, re.compile(r"^@\w+"))))
    return found


PHP_CLASS = re.compile(r"^(?:(?:abstract|final|readonly)\s+)*(?:class|interface|trait|enum)\s+(\w+)")
PHP_FUNCTION = re.compile(r"^(?:(?:public|protected|private|static|abstract|final)\s+)*function\s+&?(\w+)\s*\(")
PHP_CLOSURE = re.compile(r"^(\$\w+)\s*=\s*(?:static\s+)?(?:function|fn)\b")


def scan_php(lines: list[str]) -> list[tuple[str, bool]]:
    found, scopes = [], Scopes()
    for i, line in enumerate(lines):
        scopes.see(line)
        statement = line.strip()
        if m := PHP_CLASS.match(statement):
            scopes.push(m.group(1), line)
            continue
        if (m := PHP_FUNCTION.match(statement)) and not statement.endswith(";"):
            owner = scopes.innermost()
            name = f"{owner}.{m.group(1)}" if owner else m.group(1)
        elif m := PHP_CLOSURE.match(statement):
            name = m.group(1)
        else:
            continue
        found.append((name, block_doc_above(lines, i, re.compile(r"^#\["))))
    return found


GO_FUNC = re.compile(r"^func\s+(?:\(\s*(?:\w+\s+)?\*?(\w+)(?:\[[^\]]*\])?\s*\)\s*)?(\w+)\s*[\[(]")
GO_VAR_FUNC = re.compile(r"^(?:var\s+)?(\w+)\s*=\s*func\b")


def scan_go(lines: list[str]) -> list[tuple[str, bool]]:
    found, in_var_group = [], False
    for i, line in enumerate(lines):
        if line.startswith("var ("):
            in_var_group = True
        elif line.startswith(")"):
            in_var_group = False
        if m := GO_FUNC.match(line):
            name = f"{m.group(1)}.{m.group(2)}" if m.group(1) else m.group(2)
        elif (line.startswith("var ") or (in_var_group and indent_of(line) == 1)) and (
                m := GO_VAR_FUNC.match(line.strip())):
            name = m.group(1)
        else:
            continue
        found.append((name, line_doc_above(lines, i, "//")))
    return found


RUBY_SCOPE = re.compile(r"^(?:class|module)\s+([A-Z][\w:]*)")
RUBY_DEF = re.compile(r"^(?:(?:private|protected|public|private_class_method|module_function)\s+)?def\s+(?:self\.)?"
                      r"([A-Za-z_]\w*[?!=]?|===?|<=>|\[\]=?|[-+*/%<>]=?)")


def scan_ruby(lines: list[str]) -> list[tuple[str, bool]]:
    found, scopes = [], Scopes()
    for i, line in enumerate(lines):
        scopes.see(line)
        statement = line.strip()
        if m := RUBY_SCOPE.match(statement):
            scopes.push(m.group(1), line)
        elif m := RUBY_DEF.match(statement):
            owner = scopes.innermost()
            found.append((f"{owner}.{m.group(1)}" if owner else m.group(1), line_doc_above(lines, i, "#")))
    return found


def scan_python(text: str) -> list[tuple[str, bool]]:
    found = []

    def visit(node: ast.AST, owner: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, child.name)
                continue
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{owner}.{child.name}" if owner else child.name
                found.append((name, bool(ast.get_docstring(child))))
            visit(child, owner)

    visit(ast.parse(text), None)
    return found


SCANNERS = {"javascript": scan_javascript, "java": scan_java, "php": scan_php, "go": scan_go, "ruby": scan_ruby}


def scan(text: str, language: str) -> tuple[Counter, Counter]:
    """(documented, undocumented) function names in one file, by the independent scanner."""
    found = scan_python(text) if language == "python" else SCANNERS[language](text.splitlines())
    return Counter(n for n, doc in found if doc), Counter(n for n, doc in found if not doc)


# ------------------------------------------------------------------------------------------- the report


def recall_by_language(extract: Callable = extract_functions) -> dict[str, dict]:
    """Per language: documented (scanner), harvested, found, missed and unexpected names."""
    report: dict[str, dict] = {}
    for file, language in FILES.items():
        text = (FIXTURES / file).read_text()
        documented, undocumented = scan(text, language)
        harvested = Counter(name for name, _, _ in extract(text.encode(), language))
        entry = report.setdefault(language, {k: Counter() for k in
                                             ("documented", "undocumented", "harvested")})
        entry["documented"] += documented
        entry["undocumented"] += undocumented
        entry["harvested"] += harvested
    for entry in report.values():
        found = entry["documented"] & entry["harvested"]
        entry["recall"] = found.total() / entry["documented"].total()
        entry["missed"] = sorted((entry["documented"] - entry["harvested"]).elements())
        entry["unexpected"] = sorted((entry["harvested"] - entry["documented"]).elements())
    return report


def format_report(report: dict[str, dict]) -> str:
    rows = [f"{lang:10s} recall {e['recall']:6.1%} ({(e['documented'] & e['harvested']).total()}/"
            f"{e['documented'].total()}); missed {e['missed']}; unexpected {e['unexpected']}"
            for lang, e in sorted(report.items())]
    return "\n" + "\n".join(rows)


@pytest.fixture(scope="module")
def harvested() -> dict[str, dict[str, tuple[str, str]]]:
    """file -> name -> (code, docstring), first of each name."""
    out = {}
    for file, language in FILES.items():
        rows = extract_functions((FIXTURES / file).read_bytes(), language, path=file)
        out[file] = {}
        for name, code, doc in rows:
            out[file].setdefault(name, (code, doc))
    return out


# ------------------------------------------------------------------------------------------------ tests


def test_the_fixtures_hold_documented_and_undocumented_functions():
    report = recall_by_language()
    assert set(report) == {"python", "java", "javascript", "go", "php", "ruby"}
    for language, entry in report.items():
        assert 20 <= entry["documented"].total() <= 60 * len([f for f, lang in FILES.items() if lang == language]), (
            language, entry["documented"])
        assert entry["undocumented"].total() >= 3, (language, entry["undocumented"])


def test_recall_per_language_and_nothing_undocumented():
    report = recall_by_language()
    message = format_report(report)
    assert all(e["recall"] >= MIN_RECALL for e in report.values()), message
    assert all(not e["unexpected"] for e in report.values()), message


def test_docstrings_are_clean_text(harvested):
    for file, rows in harvested.items():
        for name, (code, doc) in rows.items():
            assert doc and doc == doc.strip(), (file, name)
            assert not re.search(r"^\s*(/\*\*|\*/|\* |//|# )", doc, re.MULTILINE), (file, name, doc)
            assert code and code == code.strip("\n") and not code.startswith((" ", "\t")), (file, name, code)


def test_javascript_forms(harvested):
    router, esm = harvested["router.js"], harvested["format.mjs"]
    code, doc = router["res.send"]
    assert code.startswith("res.send = function send(body) {") and code.endswith("};")
    assert doc.startswith("Send a response.\n\nExamples:")
    assert "@param {string|number|boolean|object|Buffer} body" in doc
    assert "    res.send({ some: 'json' });" in doc  # indentation inside the comment is kept
    assert router["exports.parse"][0].startswith("exports.parse = (str) => str.split(',')")
    assert router["exports.compileETag"][0].startswith("exports.compileETag = async (val) => {")
    assert router["module.exports"][1].startswith("Initialize a new `Router`")  # var proto = module.exports = ...
    assert router["res.type"][0].startswith("res.contentType =\nres.type = function contentType(type) {")
    count_doc = router["Inspector.prototype.count"][1]
    assert count_doc == "Count the layers of the inspected stack.\n\n@return {number}\n@public"
    assert router["Inspector.prototype.find"][0] == "Inspector.prototype.find = (name) => undefined;"
    assert router["caseSensitive"][0].startswith("caseSensitive() {")  # object-literal method
    assert router["onerror"][0].startswith("onerror: function (env) {")  # key: function pair
    assert router["query parser"][0].startswith("'query parser': (str) =>")
    assert router["Layer.arity"][0].startswith("get arity() {")
    assert router["Layer.catchAll"][0].startswith("static catchAll(fn) {")
    assert router["Layer.describe"][0].startswith("describe = () =>")  # class field arrow
    assert router["walkLayers"][0].startswith("function* walkLayers(stack) {")
    assert router["app.lazyrouter"][1].startswith("Lazily create the base router.")  # nested in a function
    assert router["extname"][1].startswith("Extract the extension")  # eslint directive in between
    # A `//` comment is not JSDoc; a JSDoc above a call with a callback documents no function.
    for name in ("proto.route", "subdomainOffset", "trustProxy", "res.clearCookie", "router", "next", "wetag"):
        assert name not in router, name
    assert esm["timed"][0].startswith("export default function timed(fn) {")
    assert esm["etag"][0].startswith("export const etag = (body) =>")
    assert esm["lines"][0].startswith("export function* lines(text) {")
    assert esm["Formatter.#pick"][1].startswith("Pick the handler")
    assert esm["Formatter.quoteAll"][0].startswith("static quoteAll = (params) =>")
    assert esm["Formatter.reset"][0].startswith("@bound\nreset() {")  # JSDoc above the decorator
    assert esm["Formatter.unregister"][1].startswith("Drop the handler")  # JSDoc between decorator and method
    assert "Formatter.size" not in esm and "escapeHtml" not in esm


def test_go_java_php_ruby_python_forms(harvested):
    go = harvested["server.go"]
    assert go["Pool.Add"][1] == "Add registers a backend with the pool. A backend added twice\nis only kept once."
    assert go["Backend.MarkDown"][1] == "MarkDown takes the backend out of rotation."  # //go:noinline dropped
    assert go["Set.Has"][0].startswith("func (s Set[T]) Has(v T) bool {")
    assert go["normalizePath"][0].startswith("var normalizePath = func(path string) string {")
    assert go["sortByWeight"][0].startswith("sortByWeight = func(bs []*Backend) {")
    for name in ("unusedHelper", "bump", "Dump", "sortByName", "init", "Pool.snapshot"):
        assert name not in go, name

    java = harvested["Service.java"]
    transfer_code = java["Service.transfer"][0]  # the annotations between the Javadoc and the method are kept
    assert transfer_code.startswith('@Transactional\n@SuppressWarnings("unchecked")\npublic synchronized')
    assert java["Account.Account"][0].startswith("public Account {")  # compact record constructor
    assert java["Clock.millis"][0].startswith("default long millis() {")
    assert java["Kind.parse"][1].startswith("Parses a kind case-insensitively.")
    for name in ("Clock.now", "FeeRule.fee", "FeeRule.nativeHook", "Service.require", "Service.size"):
        assert name not in java, name

    php = harvested["Controller.php"]
    assert php["ArticleController.show"][0].startswith("#[Route('/articles/{id}', methods: ['GET'])]\n#[Cache")
    assert php["$formatPrice"][0].startswith("$formatPrice = function (int $cents): string {")
    assert php["$roundTo"][1] == "Round a number to the nearest step."
    assert php["dd"][1].startswith("Dump the values and stop.")
    assert php["RendersJson.json"][1].startswith("Create a JSON response.")
    for name in ("Handler.handle", "Controller.resource", "Controller.authorize", "$noDoc", "array_get", "$slugger"):
        assert name not in php, name

    ruby = harvested["model.rb"]
    assert ruby["Model.attribute"][1].startswith("Declares attributes on the model.")  # class << self
    assert ruby["Model.from_h"][0].startswith("def self.from_h(hash)")
    assert ruby["Model.reset!"][0] == "def reset!\n  @errors = nil\nend"  # private def
    assert ruby["Helpers.is_blank"][1] == "Tells whether the value is blank."  # rubocop directive dropped
    assert ruby["Helpers.truncate"][1].startswith("Truncates text to the given length")  # =begin/=end
    for name in ("Model.limit", "Model.validations", "Model.hash", "Model.log", "main"):
        assert name not in ruby, name

    python = harvested["utils.py"]
    assert python["gather_limited"][0].startswith("async def gather_limited(")
    assert python["parse_duration"][1].startswith("Parse '1h30m', '45s' or '2m' into seconds.")
    assert python["Stats.success_rate"][1] == "The share of successful runs, 0.0 to 1.0."
    assert "flatten" not in python and "wrapper" not in python


def test_harvest_trees_reads_the_fixture_tree_without_skips():
    rows, skips = harvest_trees([FIXTURES])
    assert skips.records == []
    expected = sum(len(extract_functions((FIXTURES / f).read_bytes(), lang)) for f, lang in FILES.items())
    assert rows.height == expected
    assert rows["id"].n_unique() == rows.height
