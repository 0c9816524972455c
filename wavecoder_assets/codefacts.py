"""Facts about a code snippet, read off its tree-sitter parse (plus `ast` and pyflakes for Python): its parse and
syntax errors, functions, nesting and decision points, tokens, the names it uses without defining them, and
whether a function could be tested alone (`runs_alone`, `takes_plain_values`).

Shared by the corpus filters and the discriminator's code checks (`generate/checks.py`, the rules on top of
these facts). It is fingerprinted apart from those rules, so a rule's edit leaves filtered_code's code version
alone. No Dagster here.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
import threading
from dataclasses import dataclass, field

import tree_sitter as ts
from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from wavecoder_assets.languages import descendants, parse, python_docstring

# Share of a snippet's non-blank bytes that may sit in tree-sitter ERROR nodes: grammars lag their languages a
# little, so valid code can leave a stray error node. (A MISSING token is never tolerated.)
MAX_ERROR_FRACTION = 0.02


# ---------------------------------------------------------------- parsing

# Snippets are functions cut out of files: a Java or JavaScript method needs its class around it (a JavaScript
# `key: (x) => ...` its object), PHP needs its opening tag. Each wrapper is (prefix, suffix) of whole lines; the
# best-parsing one is kept.
WRAPPERS = {
    "java": (("", ""), ("class W_ {\n", "\n}")),
    "javascript": (("", ""), ("class W_ {\n", "\n}"), ("w_ = {\n", "\n};")),
    "php": (("<?php\n", ""), ("<?php\nclass W_ {\n", "\n}")),
}
COMMENT_TYPES = {"comment", "line_comment", "block_comment"}
STRING_TYPES = {"string", "string_literal", "character_literal", "text_block", "template_string", "regex",
                "interpreted_string_literal", "raw_string_literal", "rune_literal", "encapsed_string", "heredoc",
                "nowdoc", "heredoc_body", "concatenated_string", "subshell"}
FUNCTION_TYPES = {
    "python": {"function_definition"},
    "java": {"method_declaration", "constructor_declaration", "compact_constructor_declaration"},
    "javascript": {"function_declaration", "generator_function_declaration", "method_definition",
                   "function_expression", "arrow_function"},
    "go": {"function_declaration", "method_declaration", "func_literal"},
    "php": {"function_definition", "method_declaration", "anonymous_function", "anonymous_function_creation_expression",
            "arrow_function"},
    "ruby": {"method", "singleton_method"},
}
# Control flow that opens a nested block (nesting depth).
NESTING_TYPES = {
    "python": {"if_statement", "for_statement", "while_statement", "try_statement", "with_statement",
               "match_statement"},
    "java": {"if_statement", "for_statement", "enhanced_for_statement", "while_statement", "do_statement",
             "try_statement", "switch_expression", "synchronized_statement"},
    "javascript": {"if_statement", "for_statement", "for_in_statement", "while_statement", "do_statement",
                   "try_statement", "switch_statement"},
    "go": {"if_statement", "for_statement", "expression_switch_statement", "type_switch_statement",
           "select_statement"},
    "php": {"if_statement", "for_statement", "foreach_statement", "while_statement", "do_statement",
            "try_statement", "switch_statement"},
    "ruby": {"if", "unless", "while", "until", "for", "case", "begin", "do_block", "block"},
}
# Decision points (cyclomatic complexity); && / || count through BOOLEAN_OPERATORS.
DECISION_TYPES = {
    "python": {"if_statement", "elif_clause", "for_statement", "while_statement", "except_clause",
               "conditional_expression", "boolean_operator", "if_clause", "case_clause"},
    "java": {"if_statement", "for_statement", "enhanced_for_statement", "while_statement", "do_statement",
             "catch_clause", "ternary_expression", "switch_label"},
    "javascript": {"if_statement", "for_statement", "for_in_statement", "while_statement", "do_statement",
                   "catch_clause", "ternary_expression", "switch_case"},
    "go": {"if_statement", "for_statement", "expression_case", "type_case", "communication_case"},
    "php": {"if_statement", "else_if_clause", "for_statement", "foreach_statement", "while_statement",
            "do_statement", "catch_clause", "conditional_expression", "case_statement"},
    "ruby": {"if", "elsif", "unless", "while", "until", "for", "when", "rescue", "conditional", "if_modifier",
             "unless_modifier", "while_modifier", "until_modifier"},
}
BOOLEAN_OPERATORS = {"&&", "||", "??", "and", "or"}


@dataclass
class Parsed:
    """One snippet's best tree-sitter parse and the facts read off it (one walk)."""

    language: str
    data: bytes  # what was parsed, wrapper included
    tree: ts.Tree
    first_line: int  # wrapper lines before the snippet
    n_lines: int  # the snippet's lines
    start: int  # the snippet's byte range in data
    end: int
    code_bytes: int  # non-blank bytes of the snippet
    error_bytes: int = 0
    error_nodes: int = 0
    missing_nodes: int = 0  # tokens the parser had to invent (an unclosed paren): always a real syntax error
    functions: list[ts.Node] = field(default_factory=list)
    blanks: list[tuple[int, int]] = field(default_factory=list)  # comment and string byte ranges
    comments: list[tuple[int, int]] = field(default_factory=list)
    max_nesting: int = 0
    decisions: int = 0
    python_ok: bool | None = None  # Python only: ast.parse accepts it (the real parser has the last word)

    @property
    def error_fraction(self) -> float:
        """Share of the snippet's non-blank bytes in tree-sitter ERROR nodes."""
        return self.error_bytes / max(1, self.code_bytes)

    def parses(self, max_error_fraction: float) -> bool:
        """Whether it is valid code: for Python what ast says (the solution will run on CPython), else at
        most max_error_fraction of it in tree-sitter errors (grammars lag their languages a little)."""
        if self.python_ok is not None:
            return self.python_ok
        return self.missing_nodes == 0 and self.error_fraction <= max_error_fraction

    def syntax_problem(self) -> str:
        if self.missing_nodes:
            return f"{self.missing_nodes} missing token(s), {self.error_fraction:.0%} of it in syntax errors"
        return f"{self.error_fraction:.0%} of it in syntax errors"

    @property
    def complexity(self) -> int:
        return 1 + self.decisions


def _walk(p: Parsed) -> None:
    functions, decisions, nesting = FUNCTION_TYPES[p.language], DECISION_TYPES[p.language], NESTING_TYPES[p.language]
    stack = [(p.tree.root_node, 0)]
    while stack:
        node, depth = stack.pop()
        kind = node.type
        if node.is_missing:
            p.missing_nodes += 1
            continue
        if kind == "ERROR":
            p.error_nodes += 1
            p.error_bytes += _nonblank(p.data[max(node.start_byte, p.start):min(node.end_byte, p.end)])
            continue  # nested errors are inside this range already
        if kind in COMMENT_TYPES or kind.endswith("comment"):
            p.blanks.append((node.start_byte, node.end_byte))
            p.comments.append((node.start_byte, node.end_byte))
            continue
        if kind in STRING_TYPES and not node.has_error:
            p.blanks.append((node.start_byte, node.end_byte))
            continue
        if not node.is_named:  # a keyword token: Ruby's `if` node starts with an `if` token of the same name
            continue
        if kind in functions and not _lowercase_constructor(node):
            p.functions.append(node)
        if kind in decisions or (kind in ("binary_expression", "binary") and _operator(node) in BOOLEAN_OPERATORS):
            p.decisions += 1
        if kind in nesting and not _is_else_if(node):
            depth += 1
            p.max_nesting = max(p.max_nesting, depth)
        stack.extend((child, depth) for child in node.children)


def _is_else_if(node: ts.Node) -> bool:
    """An `else if` is a sibling branch of its `if`, not one level deeper (Java and Go hang it on the `if` as its
    alternative; JavaScript and PHP put it in an else clause)."""
    parent = node.parent
    if node.type != "if_statement" or parent is None:
        return False
    if parent.type == "else_clause":
        return True
    return parent.type == "if_statement" and parent.child_by_field_name("alternative") == node


def _lowercase_constructor(node: ts.Node) -> bool:
    """A Java "constructor" not named in capitals is a JavaScript method read as Java (`stale() {...}` parses
    as both); Java constructors carry their class's capitalized name."""
    if node.type != "constructor_declaration":
        return False
    name = node.child_by_field_name("name")
    return name is not None and not name.text[:1].isupper()


def _nonblank(data: bytes) -> int:
    return len(data.translate(None, b" \t\n\r\f\v"))


def _operator(node: ts.Node) -> str | None:
    op = node.child_by_field_name("operator")
    return op.type if op is not None else None


def _parse_once(source: str, language: str, prefix: str, suffix: str) -> Parsed:
    data = (prefix + source + suffix).encode("utf-8", "surrogatepass")
    start = len(prefix.encode())
    end = len(data) - len(suffix.encode())
    p = Parsed(language, data, parse(data, language), first_line=prefix.count("\n"), n_lines=source.count("\n") + 1,
               start=start, end=end, code_bytes=_nonblank(data[start:end]))
    _walk(p)
    return p


_memo = threading.local()  # trees are not thread-safe: each thread keeps its own few recent parses


def parse_snippet(source: str, language: str) -> Parsed:
    """The parse of a code snippet with the fewest error bytes over its language's wrappers (memoized)."""
    if not hasattr(_memo, "cache"):
        _memo.cache = {}
    cache = _memo.cache
    key = (source, language)
    if key not in cache:
        if len(cache) > 64:
            cache.clear()
        text = textwrap.dedent(source).strip("\n")
        best = None
        for prefix, suffix in WRAPPERS.get(language, (("", ""),)):
            p = _parse_once(text, language, prefix, suffix)
            if best is None or (p.error_bytes, p.missing_nodes) < (best.error_bytes, best.missing_nodes):
                best = p
            if p.error_bytes == p.missing_nodes == 0:
                break
        if language == "python":
            best.python_ok = python_syntax_error(text) is None
        cache[key] = best
    return cache[key]


def python_syntax_error(source: str) -> str | None:
    """What CPython says is wrong with a source's syntax, or None when it parses."""
    try:
        ast.parse(source)
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
        return f"SyntaxError line {getattr(error, 'lineno', '?')}: {getattr(error, 'msg', error)}"
    return None


def code_lines(p: Parsed) -> list[tuple[int, str]]:
    """(1-based snippet line, text) of every line with comments and strings blanked out."""
    data = bytearray(p.data)
    for start, end in p.blanks:
        data[start:end] = re.sub(rb"[^\n]", b" ", bytes(data[start:end]))
    lines = bytes(data).decode("utf-8", "replace").split("\n")[p.first_line:p.first_line + p.n_lines]
    return [(i + 1, line) for i, line in enumerate(lines)]


def code_tokens(source: str, language: str) -> list[str]:
    """The snippet's tokens (a string literal is one token) without comments, whitespace or Python docstrings."""
    p = parse_snippet(source, language)
    docstrings = {python_docstring(fn) for fn in p.functions} if language == "python" else set()
    tokens, stack = [], [p.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in COMMENT_TYPES or node.type.endswith("comment") or node in docstrings:
            continue
        if node.child_count == 0 or node.type in STRING_TYPES:
            if p.start <= node.start_byte < p.end:  # not the wrapper's
                tokens.append(node.text.decode("utf-8", "replace"))
            continue
        stack.extend(reversed(node.children))
    return tokens


# ---------------------------------------------------------------- names

def undefined_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every name a Python source uses but never defines, imports or gets from builtins
    (pyflakes); raises SyntaxError when it does not parse."""
    tree = ast.parse(source)
    found = pyflakes_checker.Checker(tree, filename="<solution>")
    return sorted((m.lineno, m.message_args[0]) for m in found.messages
                  if isinstance(m, pyflakes_messages.UndefinedName))


# Globals a JavaScript function may use without declaring them (Node's and the language's own).
_JS_GLOBALS = frozenset(
    "Array ArrayBuffer BigInt Boolean Buffer DataView Date Error Infinity JSON Map Math NaN Number Object Promise "
    "Proxy Reflect RegExp Set String Symbol TypeError RangeError Uint8Array WeakMap WeakSet arguments clearTimeout "
    "console decodeURIComponent encodeURIComponent globalThis isFinite isNaN parseFloat parseInt process require "
    "setTimeout undefined".split())


def _javascript_free_names(p: Parsed) -> set[str]:
    """Identifiers a JavaScript snippet reads but never declares (parameters, variables, functions, classes,
    catch clauses), other than the language's and Node's globals."""
    declared, used, stack = set(), set(), [p.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "identifier":
            name, parent = node.text.decode(), node.parent
            declaring = parent is not None and (
                parent.type in {"formal_parameters", "catch_clause", "rest_pattern", "assignment_pattern",
                                "array_pattern", "shorthand_property_identifier_pattern"}
                or (parent.type in {"variable_declarator", "function_declaration", "function_expression",
                                    "class_declaration", "generator_function_declaration"}
                    and parent.child_by_field_name("name") == node)
                or (parent.type == "arrow_function" and parent.child_by_field_name("parameter") == node))
            (declared if declaring else used).add(name)
        elif node.type == "shorthand_property_identifier_pattern":
            declared.add(node.text.decode())
        stack.extend(node.children)
    return used - declared - _JS_GLOBALS


# ---------------------------------------------------------------- testability

# Tokens of code that needs the object or class around it (a receiver, instance fields, the superclass).
_CONTEXT_TOKENS = {"python": {"self", "cls", "super"}, "java": {"this", "super"}, "javascript": {"this", "super"},
                   "go": set(), "php": {"$this", "self", "parent"}, "ruby": {"self", "super"}}


def runs_alone(code: str, language: str) -> bool:
    """Whether a function could run with nothing around it: no receiver or instance state (`self`, `this`, a Go
    method's receiver), a Java method that is static, and for Python and JavaScript no name it neither declares
    nor imports (a Python standard-library module counts as importable). Code tasks whose solutions are run
    (generation, repair, translation) go to such sources first: a method of a class rarely makes a runnable task."""
    p = parse_snippet(code, language)
    if not p.parses(MAX_ERROR_FRACTION) or not p.functions:
        return False
    tokens = set(code_tokens(code, language))
    if tokens & _CONTEXT_TOKENS[language]:
        return False
    fn = p.functions[0]
    if language == "java":
        modifiers = next((c for c in fn.children if c.type == "modifiers"), None)
        return fn.type == "method_declaration" and modifiers is not None and b"static" in modifiers.text.split()
    if language == "go":
        return fn.type == "function_declaration"
    if language == "python":
        try:
            missing = undefined_names(textwrap.dedent(code))
        except (SyntaxError, ValueError):
            return False
        return all(name in sys.stdlib_module_names for _, name in missing)
    if language == "javascript":
        return not _javascript_free_names(p)
    return True


# What a test can call with literals: attributes of Python's value types, properties and methods of JavaScript's
# strings, arrays, numbers and plain objects, and Java's value classes.
_PYTHON_VALUE_ATTRS = frozenset().union(*(dir(t) for t in (str, bytes, int, float, complex, list, tuple, dict, set,
                                                              frozenset)))
# Modules whose results depend on the machine, the clock or chance: a test cannot state what they return.
_PYTHON_ENVIRONMENT_MODULES = frozenset(
    "asyncio ctypes gc glob inspect io logging multiprocessing os pathlib random select shutil signal socket ssl "
    "subprocess sys tempfile threading time traceback warnings weakref".split())
_JS_VALUE_PROPERTIES = frozenset(
    "at charAt charCodeAt codePointAt concat endsWith entries every fill filter find findIndex findLast flat flatMap "
    "forEach includes indexOf join keys lastIndexOf length localeCompare map match matchAll normalize padEnd padStart "
    "pop push reduce reduceRight repeat replace replaceAll reverse search shift slice some sort splice split "
    "startsWith substr substring toFixed toLowerCase toPrecision toString toUpperCase trim trimEnd trimStart "
    "unshift values hasOwnProperty".split())
_JAVA_VALUE_TYPES = frozenset(
    "Arrays ArrayList BigDecimal BigInteger Boolean Byte CharSequence Character Collection Collections Deque Double "
    "Float HashMap HashSet Integer Iterable LinkedList List Long Map Math Number Object Objects Set Short String "
    "StringBuilder TreeMap TreeSet".split())


def takes_plain_values(code: str, language: str) -> bool:
    """Whether a function that runs alone (`runs_alone`) can also be tested with literals: it takes parameters,
    returns a value, and uses its parameters only as values (strings, numbers, lists, maps; no frames, sockets or
    domain objects) and nothing of the machine (files, clock, randomness). Its code tasks are the ones a generator's
    tests can check, so they go to such sources first. A heuristic on the source alone; Python, JavaScript and Java
    (other languages: False)."""
    return runs_alone(code, language) and uses_plain_values(code, language)


def uses_plain_values(code: str, language: str) -> bool:
    """`takes_plain_values` for a function already known to run alone."""
    if language == "python":
        return _python_takes_plain_values(textwrap.dedent(code))
    if language in ("javascript", "java"):
        fn = parse_snippet(code, language).functions[0]
        params = fn.child_by_field_name("parameters")
        if params is None or not params.named_children:
            return False
        if language == "java":
            return _java_uses_value_types(fn)
        names = {n.text.decode() for n in descendants(params) if n.type == "identifier"}
        return _returns_value(fn, "return_statement") and all(
            m.child_by_field_name("property").text.decode() in _JS_VALUE_PROPERTIES
            for m in descendants(fn) if m.type == "member_expression"
            and m.child_by_field_name("object").type == "identifier"
            and m.child_by_field_name("object").text.decode() in names)
    return False


def _returns_value(fn: ts.Node, return_type: str) -> bool:
    return any(n.type == return_type and n.named_child_count > 0 for n in descendants(fn))


def _python_takes_plain_values(code: str) -> bool:
    fn = next((n for n in ast.walk(ast.parse(code)) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if fn is None or isinstance(fn, ast.AsyncFunctionDef):
        return False
    params = {a.arg for a in fn.args.posonlyargs + fn.args.args + fn.args.kwonlyargs}
    params |= {a.arg for a in (fn.args.vararg, fn.args.kwarg) if a is not None}
    if not params or not any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn)):
        return False
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in params and node.attr not in _PYTHON_VALUE_ATTRS:
                return False
        imported = ([a.name for a in node.names] if isinstance(node, ast.Import)
                    else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        if isinstance(node, ast.Name) and node.id in _PYTHON_ENVIRONMENT_MODULES | {"open", "input"}:
            return False
        if any(name.partition(".")[0] in _PYTHON_ENVIRONMENT_MODULES for name in imported):
            return False
    return True


def _java_uses_value_types(fn: ts.Node) -> bool:
    """A Java method that returns a value and names no class but Java's value classes (a domain type it takes,
    returns or calls does not compile without its class)."""
    returned = fn.child_by_field_name("type")
    if returned is None or returned.type == "void_type":
        return False
    for node in descendants(fn):
        name = node.text.decode()
        if node.type == "type_identifier" and name not in _JAVA_VALUE_TYPES:
            return False
        if node.type == "identifier" and name[:1].isupper() and name not in _JAVA_VALUE_TYPES:
            # allowed only as a member's name (Character.MIN_VALUE), not as a class or a bare constant
            parent = node.parent
            member = parent is not None and parent.type in ("field_access", "method_invocation") and \
                parent.child_by_field_name("object") != node
            if not member:
                return False
    return True
