"""The discriminator's mechanical rules, checked by code instead of asked of an LLM judge.

A small judge model answers "is this code?", "does the instruction name the language?" or "is this Python
labelled Java?" no better than chance; a parser answers them the same way every time, in a millisecond or two
per row, and says why. Each check here is a plain function
of one candidate row (task_name, language, target_language, code, instruction, information, solution, tests)
that returns a `RuleVerdict`: the rule id, a status (passed / failed / not_applicable / not_checked) and a
short reason. `run_checks(row)` runs them all; `CHECK_RULES` describes them (dataset card, UI).

The facts the rules read (parses, tokens, undefined names) come from `wavecoder_assets.codefacts`, which the
corpus filters share; the rules themselves live here only, so editing one changes the discriminator's code version
and not the corpus's. No Dagster here.
"""

from __future__ import annotations

import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import tree_sitter as ts

from wavecoder_assets.codefacts import (
    COMMENT_TYPES,
    MAX_ERROR_FRACTION,
    Parsed,
    code_lines,
    code_tokens,
    parse_snippet,
    python_syntax_error,
    undefined_names,
)
from wavecoder_assets.generate.tasks import TASKS, solution_language, strip_fence
from wavecoder_assets.languages import LANGUAGE_NAMES, LANGUAGES, python_docstring

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
    max_error_fraction: float = MAX_ERROR_FRACTION  # share of a snippet in syntax errors that still parses
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
    """Enough English function words among the tokens ("the", "is", "this", ...), whatever the punctuation: two
    different ones, and a fifth of the tokens counted with repeats (counted once each, a long sentence fell below:
    a summary of 47 words with 11 of them, 8 different, read as code)."""
    words = [w.lower() for w in _WORD.findall(text)]
    function_words = [w for w in words if w in _FUNCTION_WORDS]
    return len(words) >= min_words and len(set(function_words)) >= 2 and len(function_words) >= 0.2 * len(words)


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
    return [(n, line.strip()) for n, line in code_lines(p) if is_prose_line(line)]


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
    return any(line.strip() for _, line in code_lines(p))


_FILLER_TOKENS = {"{", "}", ";", ":", "(", ")", "pass", "...", "end", "do", "begin"}


def _has_real_body(fn: ts.Node, language: str) -> bool:
    """A body with some token besides comments, a docstring, `pass`, `...` and braces."""
    body = fn.child_by_field_name("body")
    if body is None:
        return False
    docstring = python_docstring(fn) if language == "python" else None
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


# Tasks whose instruction comes with the code it is about, in the row's language.
CODE_IN_INSTRUCTION_TASKS = ("code_summarization", "code_repair")


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
    """The instruction names the programming language of what it asks for (generation: the language; translation:
    source and target). Where the code comes with the instruction (summary, repair) it shows the language, so
    naming none is enough; naming another language alone is wrong."""
    rule, instruction = "names_language", (row.get("instruction") or "").strip()
    wanted = [row["language"]]
    if row["task_name"] == "code_translation" and row.get("target_language"):
        wanted.append(row["target_language"])
    missing = [LANGUAGE_NAMES[lang] for lang in wanted if not names_language(instruction, lang)]
    if not missing:
        return _verdict(rule, True, f"names {' and '.join(LANGUAGE_NAMES[lang] for lang in wanted)}")
    named = [LANGUAGE_NAMES[lang] for lang in LANGUAGES if names_language(instruction, lang)]
    if not named and row["task_name"] in CODE_IN_INSTRUCTION_TASKS:
        return _verdict(rule, True, "names no language; the code it comes with shows it")
    also = f" (it names {', '.join(named)})" if named else ""
    return _verdict(rule, False, f"the instruction does not name {' or '.join(missing)}{also}")


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
        return _verdict(rule, False, f"not valid Python: {python_syntax_error(textwrap.dedent(code).strip())}")
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
    code_like = [line for line in lines if _CODE_LINE.search(line) and not reads_as_english(line)]
    if len(code_like) > s.max_code_line_fraction * len(lines):
        first = code_like[0].strip()[:60]
        return _verdict(rule, False, f"{len(code_like)} of {len(lines)} lines look like code: {first!r}")
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


# A function a text names: after "function", "method", "named", "naming it" or "called" (an appositive too:
# "This function, `foo`, ..."), either in backticks (`name`, `name(x)`, a signature `public int name(int x)`: the
# identifier before the parenthesis) or written like code (`name(` / snake_case / camelCase): "the function reload"
# or "the function checks" could be English. Before "function" or "method" only in backticks ("The `foo` method").
_DOTTED_NAME = r"[A-Za-z_$][\w$.]*"
_NAMING = re.compile(rf"\b(?:function|method|named|naming it|called)(?:\s*[,:]\s*(?=`)|\s+)"
                     rf"(?:`([^`\n]{{1,160}})`|({_DOTTED_NAME})(\s*\()?)|`([^`\n]{{1,160}})`\s+(?:function|method)\b",
                     re.IGNORECASE)
_IDENTIFIER = re.compile(r"[A-Za-z_$][\w$]*")
_CALLED = re.compile(r"([A-Za-z_$][\w$]*)\s*\(")


def _looks_like_code(name: str) -> bool:
    return "_" in name or "$" in name or bool(re.search(r"[a-z][A-Z]", name))


def named_functions(text: str) -> set[str]:
    """The function names a sentence gives (see _NAMING), last dotted part (`os.path.join` -> join)."""
    names = set()
    for match in _NAMING.finditer(text or ""):
        quoted, bare, paren, quoted_before = match.groups()
        quoted = quoted if quoted is not None else quoted_before
        if quoted is not None:
            called = _CALLED.search(quoted)
            whole = quoted.strip().removesuffix("()")
            name = called.group(1) if called else (whole if re.fullmatch(_DOTTED_NAME, whole) else None)
        else:
            name = bare if paren or _looks_like_code(bare.split(".")[-1]) else None
        if name:
            names.add(name.split(".")[-1])
    return names


# A name in backticks written like code (snake_case, camelCase, a call `name(...)`): a summary that puts one in
# backticks refers to code ("calls the helper `splitDigits`"), which must then be in the summarized code.
_BACKTICKED = re.compile(rf"`({_DOTTED_NAME})(\([^`\n]*\))?`")


def backticked_code_names(text: str) -> set[str]:
    """The code-like names a text puts in backticks (last dotted part); `None`, `x` or `list` are not counted."""
    names = set()
    for match in _BACKTICKED.finditer(text or ""):
        name = match.group(1).split(".")[-1]
        if match.group(2) is not None or _looks_like_code(name):
            names.add(name)
    return names


def _name_key(name: str) -> str:
    """snake_case, camelCase and PascalCase spellings of a name compare equal (a translation renames by its
    language's convention)."""
    return name.replace("_", "").replace("$", "").lower()


def check_names_agree(row: dict, s: CheckSettings = DEFAULT_SETTINGS) -> RuleVerdict:
    """A function the instruction names is in the code solution; a function the summary names is in the code."""
    rule, language = "names_agree", _solution_language(row)
    if language is None:
        named, where, code, code_language = (named_functions(row.get("solution")) | backticked_code_names(
            row.get("solution")), "summary", row["code"], row["language"])
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
