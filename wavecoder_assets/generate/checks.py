"""The discriminator's mechanical rules, checked by code instead of asked of an LLM judge.

A small judge model answers "is this code?", "does the instruction name the language?" or "is this Python
labelled Java?" no better than chance; a parser answers them the same way every time, in a millisecond or two
per row, and says why. Each check here is a plain function
of one candidate row (task_name, language, target_language, code, instruction, information, solution, tests)
that returns a `RuleVerdict`: the rule id, a status (passed / failed / not_applicable / not_checked) and a
short reason. `run_checks(row)` runs them all; `CHECK_RULES` describes them (dataset card, UI).

Parsing is tree-sitter (`wavecoder_assets.languages`) for every language, plus `ast` and pyflakes for Python.
No Dagster here.
"""

from __future__ import annotations

import ast
import re
import sys
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import tree_sitter as ts
from pyflakes import checker as pyflakes_checker
from pyflakes import messages as pyflakes_messages

from wavecoder_assets.generate.tasks import TASKS, solution_language, strip_fence
from wavecoder_assets.languages import LANGUAGE_NAMES, LANGUAGES, descendants, parse

# ---------------------------------------------------------------- verdict record and settings

PASSED, FAILED, NOT_APPLICABLE, NOT_CHECKED = "passed", "failed", "not_applicable", "not_checked"


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    # PASSED | FAILED | NOT_APPLICABLE (not about this task or language) | NOT_CHECKED (nothing to check: a field
    # is empty, or the code does not parse, which another rule reports)
    status: str
    reason: str

    @property
    def passed(self) -> bool:
        """Only a failed check blocks a candidate; a rule that does not apply, or could not run, does not."""
        return self.status != FAILED

    def to_dict(self) -> dict:
        return {"rule": self.rule, "passed": self.passed, "status": self.status, "reason": self.reason}

    def as_answer(self) -> dict:
        """The judge's verdict layout ({"answer": "yes"|"no", "reason"}), as judge.failed_rules reads it."""
        return {"answer": "yes" if self.passed else "no", "reason": self.reason}


@dataclass(frozen=True)
class CheckSettings:
    # Share of a snippet's non-blank bytes that may sit in tree-sitter ERROR nodes: grammars lag their
    # languages a little, so valid code can leave a stray error node. (A MISSING token is never tolerated.)
    max_error_fraction: float = 0.02
    # not_needlessly_complex: a limit is max(absolute floor, what the raw input itself needed).
    max_nesting: int = 5  # nested control-flow blocks
    nesting_slack: int = 1  # over the input's own depth
    max_complexity: int = 15  # cyclomatic: 1 + decision points
    complexity_factor: float = 2.0  # times the input's
    max_length_ratio: float = 4.0  # solution lines / input lines
    min_lines_for_ratio: int = 30  # below this a solution is never "too long"
    # summary_is_prose: share of a summary's lines that may look like code.
    max_code_line_fraction: float = 0.3
    imports_check_tests: bool = True  # append the generator's tests when looking for undefined names
    # A function cut out of a module uses the module's other names (`Job`, `_PATTERN`); a solution built on
    # it may too. Those are not counted; a module name (`os`, `re`) must always be imported.
    imports_excuse_input_context: bool = True


DEFAULT_SETTINGS = CheckSettings()


def _verdict(rule: str, ok: bool, reason: str) -> RuleVerdict:
    return RuleVerdict(rule, PASSED if ok else FAILED, reason)


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
    """One snippet's best tree-sitter parse and the facts the checks read off it (one walk)."""

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
            best.python_ok = _python_syntax_error(text) is None
        cache[key] = best
    return cache[key]


def _python_syntax_error(source: str) -> str | None:
    try:
        ast.parse(source)
    except (SyntaxError, ValueError) as error:  # ValueError: NUL bytes
        return f"SyntaxError line {getattr(error, 'lineno', '?')}: {getattr(error, 'msg', error)}"
    return None


def _code_lines(p: Parsed) -> list[tuple[int, str]]:
    """(1-based snippet line, text) of every line with comments and strings blanked out."""
    data = bytearray(p.data)
    for start, end in p.blanks:
        data[start:end] = re.sub(rb"[^\n]", b" ", bytes(data[start:end]))
    lines = bytes(data).decode("utf-8", "replace").split("\n")[p.first_line:p.first_line + p.n_lines]
    return [(i + 1, line) for i, line in enumerate(lines)]


# ---------------------------------------------------------------- prose detection

# Words that fill English sentences and rarely stand as bare identifiers in code.
_FUNCTION_WORDS = {"the", "is", "are", "this", "that", "these", "it", "its", "of", "to", "by", "with", "and",
                   "we", "you", "here", "will", "which", "be", "as", "uses", "using", "returns", "solution",
                   "function", "code", "works", "following", "below", "above", "an", "can", "should", "takes",
                   "how", "what", "explanation", "note", "example", "into", "each", "from", "then", "first"}
# A token: a word, or an identifier with its dots and underscores ("self._cache", "Node.js") as one token.
_WORD = re.compile(r"[A-Za-z_$@#][\w'.$-]*\w|[A-Za-z]")
_CODE_PUNCT = re.compile(r"[{}\[\]=<>;$@&|*/\\+^%~]|->|::|\w\(|\)\s*\w")


def reads_as_english(text: str, min_words: int = 3) -> bool:
    """Enough English function words among the tokens ("the", "is", "this", ...), whatever the punctuation."""
    words = [w.lower() for w in _WORD.findall(text)]
    function_words = {w for w in words if w in _FUNCTION_WORDS}
    return len(words) >= min_words and len(function_words) >= 2 and len(function_words) >= 0.2 * len(words)


# The headings a chat model puts around code ("Example usage:", "Output: 3"); a JavaScript or Go label, or a
# Ruby hash key, looks the same but is rarely a capitalized English word like these.
_HEADING = re.compile(r"(?:Example|Examples|Example usage|Usage|Output|Input|Result|Explanation|Note|Notes|Test|Tests"
                      r"|Solution|Answer|Complexity|Time complexity|Space complexity)\s*:(?!:)")


def is_prose_line(line: str) -> bool:
    """A line that reads as an English sentence (or a markdown fence, or a heading), not as code."""
    s = line.strip()
    if s.startswith("```") or _HEADING.match(s):
        return True
    if not s or _CODE_PUNCT.search(s):
        return False
    sentence_like = s[0].isupper() or s[-1] in ".:!?"
    return sentence_like and reads_as_english(s)


def _prose_lines(p: Parsed) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in _code_lines(p) if is_prose_line(line)]


# ---------------------------------------------------------------- the checks

def check_input_is_code(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """The raw input parses in its language and holds a function with a real body."""
    rule, language, code = "input_is_code", row["language"], row.get("code") or ""
    if not code.strip():
        return _verdict(rule, False, "the input is empty")
    p = parse_snippet(code, language)
    name = LANGUAGE_NAMES[language]
    # tree-sitter, not ast, even for Python: inputs may be Python 2 (CodeSearchNet), still real code.
    if p.missing_nodes or p.error_fraction > s.max_error_fraction:
        return _verdict(rule, False, f"does not parse as {name}: {p.syntax_problem()}")
    if not p.functions:
        only = "comments" if p.comments and not _has_code_outside(p) else "code outside any function"
        return _verdict(rule, False, f"no {name} function or method; only {only}")
    if not any(_has_real_body(fn, language) for fn in p.functions):
        return _verdict(rule, False, "the function body is empty or only a docstring/comments")
    return _verdict(rule, True, f"a {name} function that parses")


def _has_code_outside(p: Parsed) -> bool:
    return any(line.strip() for _, line in _code_lines(p))


_FILLER_TOKENS = {"{", "}", ";", ":", "(", ")", "pass", "...", "end", "do", "begin"}


def _has_real_body(fn: ts.Node, language: str) -> bool:
    """A body with some token besides comments, a docstring, `pass`, `...` and braces."""
    body = fn.child_by_field_name("body")
    if body is None:
        return False
    docstring = _docstring(fn) if language == "python" else None
    stack = [body]  # a body may be one expression (`=> undefined`, Ruby's `def ok? = @ok`)
    while stack:
        node = stack.pop()
        if node.type in COMMENT_TYPES or node.type.endswith("comment") or node == docstring:
            continue
        if node.child_count == 0:
            if node.text and node.text.decode("utf-8", "replace").strip() not in _FILLER_TOKENS | {""}:
                return True
            continue
        stack.extend(node.children)
    return False


def _is_docstring(node: ts.Node) -> bool:
    return (node.type == "expression_statement" and node.named_child_count == 1
            and node.named_children[0].type in ("string", "concatenated_string"))


# Language name patterns. "go" is an everyday English verb, so Go counts only as "Golang" or a capitalized "Go"
# that does not open a sentence ("Go through the list ..."), unless a word like "function" follows it.
_LANGUAGE_PATTERNS = {
    "python": re.compile(r"\bpython\s?[23]?\b", re.IGNORECASE),
    "java": re.compile(r"\bjava\b(?!\s*script)", re.IGNORECASE),
    "javascript": re.compile(r"\bjavascript\b|\bjs\b|\bnode\.?js\b|\becmascript\b|\bes6\b", re.IGNORECASE),
    "php": re.compile(r"\bphp\b", re.IGNORECASE),
    "ruby": re.compile(r"\bruby\b", re.IGNORECASE),
}
_GOLANG = re.compile(r"\bgolang\b", re.IGNORECASE)
_GO = re.compile(r"\bGo\b")
_GO_NOUN = re.compile(r"\s*(?:function|func|code|program|method|language|implementation|snippet|routine|struct"
                      r"|package|module|version|equivalent)\b", re.IGNORECASE)


def names_language(text: str, language: str) -> bool:
    """Whether text names the programming language."""
    if language != "go":
        return bool(_LANGUAGE_PATTERNS[language].search(text))
    if _GOLANG.search(text):
        return True
    for match in _GO.finditer(text):
        before = text[:match.start()].rstrip()
        opens_sentence = not before or before[-1] in ".!?:\n\"'("
        if not opens_sentence or _GO_NOUN.match(text, match.end()):
            return True
    return False


def check_names_language(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """The instruction names the programming language (translation: source and target)."""
    rule, instruction = "names_language", (row.get("instruction") or "").strip()
    wanted = [row["language"]]
    if row["task_name"] == "code_translation" and row.get("target_language"):
        wanted.append(row["target_language"])
    missing = [LANGUAGE_NAMES[lang] for lang in wanted if not names_language(instruction, lang)]
    if missing:
        named = [LANGUAGE_NAMES[lang] for lang in LANGUAGES if names_language(instruction, lang)]
        also = f" (it names {', '.join(named)})" if named else ""
        return _verdict(rule, False, f"the instruction does not name {' or '.join(missing)}{also}")
    return _verdict(rule, True, f"names {' and '.join(LANGUAGE_NAMES[lang] for lang in wanted)}")


def _solution_language(row: dict) -> str | None:
    return solution_language(row["task_name"], row["language"], row.get("target_language"))


def _solution_code(row: dict) -> str:
    """The solution with one surrounding markdown fence taken off (prose around a fence stays: it fails)."""
    return strip_fence((row.get("solution") or "").strip())


def check_solution_is_code(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A code solution parses in its language and holds no prose outside comments and strings."""
    rule, language = "solution_is_code", _solution_language(row)
    if language is None:
        return RuleVerdict(rule, NOT_APPLICABLE, f"{row['task_name']} solutions are text")
    code = _solution_code(row)
    if not code.strip():
        return _verdict(rule, False, "the solution is empty")
    p = parse_snippet(code, language)
    prose = [] if p.python_ok else _prose_lines(p)  # what CPython parses holds no prose outside strings
    if prose:
        n, line = prose[0]
        return _verdict(rule, False, f"prose outside the code, line {n}: {line[:60]!r}")
    name = LANGUAGE_NAMES[language]
    if language == "python" and not p.python_ok:
        return _verdict(rule, False, f"not valid Python: {_python_syntax_error(textwrap.dedent(code).strip())}")
    if not p.parses(s.max_error_fraction):
        return _verdict(rule, False, f"does not parse as {name}: {p.syntax_problem()}")
    return _verdict(rule, True, f"{name} code only")


_CODE_LINE = re.compile(
    r"[{};]\s*$|^\s*[})\]]|=>|->|::|\w\([^)]*\)\s*[:{]\s*$"  # braces, statement ends, arrows, `f(x):` headers
    r"|^\s*(?:def|class|function|func|import|from\s+\S+\s+import|package|public|private|protected|static|const"
    r"|let|var)\b(?=\s+[\w$*]|\s*\()|^\s*(?:#include|<\?php|end\s*$)"
    r"|^\s*[\w.\[\]$]+\s*[-+*/%]?=(?!=)\s*\S"  # an assignment
    r"|^\s*return\b(?!s).*[^.\s]\s*$"  # a return statement (not "Returns the ...", not a sentence)
)


def check_summary_is_prose(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A summarization's solution is natural language, not code."""
    rule = "summary_is_prose"
    if TASKS[row["task_name"]].solution_is_code:
        return RuleVerdict(rule, NOT_APPLICABLE, f"{row['task_name']} solutions are code")
    text = (row.get("solution") or "").strip()
    if not text:
        return _verdict(rule, False, "the summary is empty")
    if "```" in text:
        return _verdict(rule, False, "the summary holds a code block")
    function = _error_free_function(text, row["language"])
    if function:
        name = LANGUAGE_NAMES[row["language"]]
        return _verdict(rule, False, f"the summary holds a {name} function: {function[:60]!r}")
    lines = [line for line in text.splitlines() if line.strip()]
    code_lines = [line for line in lines if _CODE_LINE.search(line) and not reads_as_english(line)]
    if len(code_lines) > s.max_code_line_fraction * len(lines):
        first = code_lines[0].strip()[:60]
        return _verdict(rule, False, f"{len(code_lines)} of {len(lines)} lines look like code: {first!r}")
    if len(_WORD.findall(text)) < 2:
        return _verdict(rule, False, "the summary is a single word")
    return _verdict(rule, True, "natural-language text")


def _error_free_function(text: str, language: str) -> str | None:
    """The first line of a whole, error-free function definition in text, if there is one (prose that names
    a function is no definition: it leaves tree-sitter errors in what it reads as one)."""
    p = parse_snippet(text, language)
    for fn in p.functions:
        whole = fn.child_by_field_name("body") is not None and fn.start_point[0] < fn.end_point[0]
        if whole and not fn.has_error:
            return fn.text.decode("utf-8", "replace").splitlines()[0]
    return None


def undefined_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every name a Python source uses but never defines, imports or gets from builtins
    (pyflakes); raises SyntaxError when it does not parse."""
    tree = ast.parse(source)
    found = pyflakes_checker.Checker(tree, filename="<solution>")
    return sorted((m.lineno, m.message_args[0]) for m in found.messages
                  if isinstance(m, pyflakes_messages.UndefinedName))


def check_imports_what_it_uses(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """Python: every name the solution (and its tests) uses is defined, imported or a builtin."""
    rule = "imports_what_it_uses"
    if _solution_language(row) != "python":
        return RuleVerdict(rule, NOT_APPLICABLE, "checked for Python solutions only (others: by compiling)")
    code = textwrap.dedent(_solution_code(row))
    try:
        missing = undefined_names(code)
    except (SyntaxError, ValueError):
        return RuleVerdict(rule, NOT_CHECKED, "the solution does not parse (see solution_is_code)")
    if s.imports_excuse_input_context and missing:
        context = _input_context_names(row)
        missing = [(line, name) for line, name in missing if name not in context or name in sys.stdlib_module_names]
    if missing:
        names = ", ".join(sorted({name for _, name in missing}))
        return _verdict(rule, False, f"uses undefined name(s) {names} (line {missing[0][0]}): a missing import "
                                     "or definition")
    tests = (row.get("tests") or "").strip()
    if s.imports_check_tests and tests:
        # The tests run appended to the solution: a name they call must come from it (or from themselves).
        n_lines = code.count("\n") + 1
        try:
            in_tests = {name for line, name in undefined_names(code + "\n\n" + strip_fence(tests)) if line > n_lines}
        except (SyntaxError, ValueError):
            in_tests = set()  # broken tests are the sandbox's finding, not this rule's
        if in_tests:
            names = ", ".join(sorted(in_tests))
            return _verdict(rule, False, f"the tests use name(s) {names} that neither they nor the solution define")
    return _verdict(rule, True, "every name used is defined, imported or builtin")


# Tokens of code that needs the object or class around it (a receiver, instance fields, the superclass).
_CONTEXT_TOKENS = {"python": {"self", "cls", "super"}, "java": {"this", "super"}, "javascript": {"this", "super"},
                   "go": set(), "php": {"$this", "self", "parent"}, "ruby": {"self", "super"}}
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


def runs_alone(code: str, language: str) -> bool:
    """Whether a function could run with nothing around it: no receiver or instance state (`self`, `this`, a Go
    method's receiver), a Java method that is static, and for Python and JavaScript no name it neither declares
    nor imports (a Python standard-library module counts as importable). Code tasks whose solutions are run
    (generation, repair, translation) go to such sources first: a method of a class rarely makes a runnable task."""
    p = parse_snippet(code, language)
    if not p.parses(DEFAULT_SETTINGS.max_error_fraction) or not p.functions:
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


def _input_context_names(row: dict) -> set[str]:
    """The names a Python input uses without defining them: its module's, outside the snippet."""
    if row["language"] != "python":
        return set()
    try:
        return {name for _, name in undefined_names(textwrap.dedent(row.get("code") or ""))}
    except (SyntaxError, ValueError):
        return set()


def check_not_needlessly_complex(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """The solution's nesting, cyclomatic complexity and length stay within what the input needed."""
    rule, language = "not_needlessly_complex", _solution_language(row)
    if language is None:
        return RuleVerdict(rule, NOT_APPLICABLE, f"{row['task_name']} solutions are text")
    code, source = _solution_code(row), row.get("code") or ""
    if not code.strip():
        return RuleVerdict(rule, NOT_CHECKED, "the solution is empty")
    p = parse_snippet(code, language)
    q = parse_snippet(source, row["language"]) if source.strip() else None
    nesting_limit = max(s.max_nesting, (q.max_nesting + s.nesting_slack) if q else 0)
    complexity_limit = max(s.max_complexity, int(s.complexity_factor * q.complexity) if q else 0)
    lines, input_lines = _count_lines(code), _count_lines(source)
    length_limit = max(s.min_lines_for_ratio, int(s.max_length_ratio * input_lines))
    if p.max_nesting > nesting_limit:
        return _verdict(rule, False, f"control flow nested {p.max_nesting} deep (limit {nesting_limit})")
    if p.complexity > complexity_limit:
        return _verdict(rule, False, f"cyclomatic complexity {p.complexity} (limit {complexity_limit})")
    if lines > length_limit:
        return _verdict(rule, False, f"{lines} lines for a {input_lines}-line input (limit {length_limit})")
    return _verdict(rule, True, f"nesting {p.max_nesting}, complexity {p.complexity}, {lines} lines")


def _count_lines(code: str) -> int:
    return sum(1 for line in code.splitlines() if line.strip())


def code_tokens(source: str, language: str) -> list[str]:
    """The snippet's tokens (a string literal is one token) without comments, whitespace or Python docstrings."""
    p = parse_snippet(source, language)
    docstrings = {_docstring(fn) for fn in p.functions} if language == "python" else set()
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


def _docstring(fn: ts.Node) -> ts.Node | None:
    body = fn.child_by_field_name("body")
    first = body.named_children[0] if body is not None and body.named_children else None
    return first if first is not None and _is_docstring(first) else None


def check_repair_changes_code(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A repair's fixed code differs from the buggy code in more than comments and whitespace."""
    rule = "repair_changes_code"
    if row["task_name"] != "code_repair":
        return RuleVerdict(rule, NOT_APPLICABLE, "repairs only")
    buggy, fixed = strip_fence((row.get("information") or "").strip()), _solution_code(row)
    if not buggy.strip() or not fixed.strip():
        return RuleVerdict(rule, NOT_CHECKED, "the buggy code or the fix is empty")
    if code_tokens(buggy, row["language"]) == code_tokens(fixed, row["language"]):
        return _verdict(rule, False, "the fix is the buggy code again (only comments or whitespace differ)")
    return _verdict(rule, True, "the fix changes the code")


# Cheap tells of a language, for a translation that parses as both its target and its source language:
# Ruby's grammar accepts most C-like code, JavaScript accepts PHP without its tag, and Java accepts a JavaScript
# `function f() {...}` (a method whose return type is named "function").
_LANGUAGE_TELLS = {
    "python": re.compile(r"^\s*def \w+\(.*\)[^{]*:\s*$|^\s*(?:elif|from \S+ import)\b|\bself\.|\bNone\b",
                         re.MULTILINE),
    "java": re.compile(r"\b(?:public|private|protected|static|final|void)\s+(?!function\b)[\w<>\[\]]+\s+\w+\s*\("
                       r"|^\s*(?:void|int|long|boolean|String|double)\s+\w+\s*\(|@Override|\bSystem\.|\bthrows\b"
                       r"|\bnew\s+[A-Z]\w*(?:<[^>]*>)?\(|\b(?:int|long|double|boolean|String|final)\s+\w+\s*[=;,)]",
                       re.MULTILINE),
    "javascript": re.compile(r"\b(?:const|let|var)\s+\w+\s*=|=>|===|!==|\bconsole\.|\bthis\.#|\brequire\("
                             r"|\bundefined\b|\bfunction\s*\w*\s*\((?![^)]*\$)"),
    "go": re.compile(r"^\s*func\b|:=|^\s*package\s+\w+|\berr != nil\b|\bfmt\.", re.MULTILINE),
    "php": re.compile(r"<\?php|\$\w+|->\w+|\b(?:public|private|protected|static)\s+(?:static\s+)?function\b"),
    "ruby": re.compile(r"^\s*end\s*$|\bdo\s*\|\w+|^\s*def \w+[^:{]*$|\bputs\b|\belsif\b|\bnil\b|@[a-z_]\w*",
                       re.MULTILINE),
}


def check_translation_changes_language(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A translation parses as the target language, and not better as the source language."""
    rule, source, target = "translation_changes_language", row["language"], row.get("target_language")
    if row["task_name"] != "code_translation" or not target:
        return RuleVerdict(rule, NOT_APPLICABLE, "translations only")
    code = _solution_code(row)
    if not code.strip():
        return RuleVerdict(rule, NOT_CHECKED, "the solution is empty")
    as_target, as_source = parse_snippet(code, target), parse_snippet(code, source)
    t_name, s_name = LANGUAGE_NAMES[target], LANGUAGE_NAMES[source]
    if not as_target.parses(s.max_error_fraction) or not as_target.functions:
        fits = [LANGUAGE_NAMES[lang] for lang in LANGUAGES
                if parse_snippet(code, lang).parses(s.max_error_fraction) and parse_snippet(code, lang).functions]
        hint = f"; it parses as {' / '.join(fits)}" if fits else ""
        what = "does not parse as" if not as_target.parses(s.max_error_fraction) else "defines no function in"
        return _verdict(rule, False, f"{what} {t_name}{hint}")
    if as_source.parses(s.max_error_fraction) and as_source.functions:  # both: fewer errors, then tells decide
        if as_source.error_fraction < as_target.error_fraction:
            return _verdict(rule, False, f"parses better as {s_name}, the source language, than as {t_name}")
        t_tells, s_tells = len(_LANGUAGE_TELLS[target].findall(code)), len(_LANGUAGE_TELLS[source].findall(code))
        if s_tells > t_tells:
            return _verdict(rule, False, f"parses as both; reads as {s_name} ({s_tells} {s_name} tells, "
                                         f"{t_tells} {t_name})")
    return _verdict(rule, True, f"{t_name} code, not {s_name}")


# A function a text names: after "function", "method", "named", "naming it" or "called", either in backticks
# (`name`, `name(x)`, a signature `public int name(int x)`: the identifier before the parenthesis) or written like
# code (`name(` / snake_case / camelCase): "the function reload" or "the function checks" could be English.
_DOTTED_NAME = r"[A-Za-z_$][\w$.]*"
_NAMING = re.compile(rf"\b(?:function|method|named|naming it|called)\s+(?:`([^`\n]{{1,160}})`|({_DOTTED_NAME})(\s*\()?)",
                     re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_CALLED = re.compile(r"([A-Za-z_$][\w$]*)\s*\(")


def _looks_like_code(name: str) -> bool:
    return "_" in name or "$" in name or bool(re.search(r"[a-z][A-Z]", name))


def named_functions(text: str) -> set[str]:
    """The function names a sentence gives (see _NAMING), last dotted part (`os.path.join` -> join)."""
    names = set()
    for match in _NAMING.finditer(text or ""):
        quoted, bare, paren = match.groups()
        if quoted is not None:
            called = _CALLED.search(quoted)
            whole = quoted.strip().removesuffix("()")
            name = called.group(1) if called else (whole if re.fullmatch(_DOTTED_NAME, whole) else None)
        else:
            name = bare if paren or _looks_like_code(bare.split(".")[-1]) else None
        if name:
            names.add(name.split(".")[-1])
    return names


def _name_key(name: str) -> str:
    """snake_case, camelCase and PascalCase spellings of a name compare equal (a translation renames by its
    language's convention)."""
    return name.replace("_", "").replace("$", "").lower()


def check_names_agree(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A function the instruction names is in the code solution; a function the summary names is in the code."""
    rule, language = "names_agree", _solution_language(row)
    if language is None:
        named, where, code, code_language = named_functions(row.get("solution")), "summary", row["code"], row["language"]
    else:
        named, where, code, code_language = named_functions(row.get("instruction")), "instruction", \
            _solution_code(row), language
    if not named:
        return RuleVerdict(rule, NOT_CHECKED, f"the {where} names no function")
    if not code.strip():
        return RuleVerdict(rule, NOT_CHECKED, "nothing to compare with")
    present = {_name_key(t) for t in code_tokens(code, code_language) if _IDENTIFIER.fullmatch(t)}
    found = sorted(n for n in named if _name_key(n) in present)
    listed = ", ".join(sorted(named))
    if language is None:  # every function a summary names must be in its code: one that is not is other code
        missing = sorted(named - set(found))
        if missing:
            return _verdict(rule, False, f"the summary names {', '.join(missing)}, which the code does not have")
        return _verdict(rule, True, f"the summary names {listed}, which the code has")
    if not found:  # an instruction may also name a function to call, so one of its names is enough
        return _verdict(rule, False, f"the instruction names {listed}; the solution has none of them")
    return _verdict(rule, True, f"the instruction names {', '.join(found)}, which the solution has")


# ---------------------------------------------------------------- registry and entry point

CHECKS: dict[str, Callable[[dict, CheckSettings], RuleVerdict]] = {
    "input_is_code": check_input_is_code,
    "names_language": check_names_language,
    "solution_is_code": check_solution_is_code,
    "summary_is_prose": check_summary_is_prose,
    "imports_what_it_uses": check_imports_what_it_uses,
    "not_needlessly_complex": check_not_needlessly_complex,
    "repair_changes_code": check_repair_changes_code,
    "translation_changes_language": check_translation_changes_language,
    "names_agree": check_names_agree,
}
CHECK_RULES: dict[str, str] = {rule: " ".join(fn.__doc__.split()) for rule, fn in CHECKS.items()}


def run_checks(row: dict, settings: CheckSettings = DEFAULT_SETTINGS,
               rules: list[str] | None = None) -> list[RuleVerdict]:
    """Every check (or those named in `rules`) on one candidate row, in CHECKS order."""
    return [CHECKS[rule](row, settings) for rule in (CHECKS if rules is None else rules)]


def failed(verdicts: list[RuleVerdict]) -> list[RuleVerdict]:
    return [v for v in verdicts if not v.passed]


def as_rule_verdicts(verdicts: list[RuleVerdict]) -> dict[str, dict]:
    """The checks that ran, in the judge's layout {rule: {"answer", "reason"}} (judge.failed_rules reads it);
    rules that do not apply or could not run are left out."""
    return {v.rule: v.as_answer() for v in verdicts if v.status in (PASSED, FAILED)}
