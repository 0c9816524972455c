"""Execution as evidence: a generated code solution runs against its generated tests in the sandbox.

A judge model reading code guesses whether it works; running it knows. For every solution language with a
toolchain on the machine (Python always; JavaScript, Java, Go, PHP, Ruby where node, javac + java, go, php,
ruby are installed) the generator is asked for tests in that language (`tests_requirement`), and here solution
+ tests are assembled into one program and run with nothing but the standard toolchain. `execution_verdicts`
turns the runs into rule verdicts: `tests_pass`, and for code repair `repair_fixes_bug` (the buggy input fails
the same tests, the fix passes them). A run that could not happen (no toolchain, no tests) is "n/a" with its
reason, never a pass. No Dagster here.
"""

from __future__ import annotations

import ast
import json
import math
import re
import shutil
from dataclasses import dataclass

from wavecoder_assets.generate.tasks import solution_language, strip_fence
from wavecoder_assets.languages import LANGUAGE_NAMES, descendants, parse
from wavecoder_assets.sandbox import SandboxLimits, SandboxResult, run_command, run_python

# How the generator writes tests: plain checks that fail loudly, runnable with the bare toolchain (no test
# framework to install). One short sentence each: it goes into a prompt for a 0.5B model.
EXECUTION_RULES: dict[str, str] = {
    "tests_pass": "The solution passes the generator's tests in the sandbox (translation: target-language tests).",
    "repair_fixes_bug": "Repair: the buggy input fails the tests that the fixed solution passes.",
}
NOT_EXECUTED = "not executed"  # how an "n/a" verdict's reason starts when a run could not happen

TEST_STYLES = {
    "python": "a few Python assert statements that check the solution.",
    "javascript": "a few checks with Node's assert module, like "
                  "`const assert = require('assert'); assert.strictEqual(add(1, 2), 3);`.",
    "java": "a `public class Main` whose `public static void main(String[] args)` calls the solution's static "
            "methods and checks them like `if (add(1, 2) != 3) throw new AssertionError(\"add(1, 2)\");` "
            "(the solution's own class is not named Main).",
    "go": "a Go `func main()` that calls the solution's functions and checks them like "
          "`if Add(1, 2) != 3 { panic(\"Add(1, 2) != 3\") }` (the solution has no main).",
    "php": "a few PHP assert calls like `assert(add(1, 2) === 3);`.",
    "ruby": "a few Ruby checks like `raise \"add(1, 2) != 3\" unless add(1, 2) == 3`.",
}

# Programs the sandbox needs on PATH, per language (Python runs in the sandbox's own interpreter). Compiled
# languages run their binary under coreutils `timeout`, so compiling does not eat the program's time limit.
TOOLCHAINS = {"python": (), "javascript": ("node",), "java": ("javac", "java", "timeout"), "go": ("go", "timeout"),
              "php": ("php",), "ruby": ("ruby",)}
COMPILE_S = {"java": 20.0, "go": 60.0}  # wall seconds allowed for compiling, on top of timeout_s (go: cold cache)
# Short-lived JVMs (javac too) start about twice as fast with the C1 compiler only and the serial collector.
JVM_FLAGS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"


@dataclass(frozen=True)
class ExecutionResult:
    status: str  # passed | failed | timeout | not_executed (no toolchain or no tests) | error (the sandbox failed)
    reason: str  # why it did not pass, short; "" when passed
    duration_s: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def tests_requirement(language: str) -> str:
    """The generator's requirement line for tests in this language. A small model asked for "a few" tests loops on
    one assert until the token limit; three, each on its own line, it stops after."""
    return f"Also give the key tests, at most three checks, each on its own line: {TEST_STYLES[language]}"


def toolchain_missing(language: str) -> str | None:
    """None when code in this language can run here, else why not (looked up on the PATH the sandbox gets)."""
    if language not in TOOLCHAINS:
        return f"no runner for {LANGUAGE_NAMES.get(language, language)}"
    missing = [tool for tool in TOOLCHAINS[language] if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed" if missing else None


def run_tests(language: str, solution: str, tests: str | None, *, timeout_s: float) -> ExecutionResult:
    """Run solution + tests as one program in the sandbox; it passes when it exits 0 without a failed check."""
    if not (tests or "").strip():
        return ExecutionResult("not_executed", "no tests")
    if why := toolchain_missing(language):
        return ExecutionResult("not_executed", why)
    run, program, compile_s = run_program(language, strip_fence(solution.strip()), strip_fence(tests.strip()),
                                          timeout_s=timeout_s)
    # 124: coreutils `timeout` stopped the binary; 137: it had to SIGKILL one that ignored SIGTERM.
    if run.status == "timeout" or (compile_s and run.returncode in (124, 137) and run.duration_s >= timeout_s):
        return ExecutionResult("timeout", f"time limit of {timeout_s:g}s exceeded", run.duration_s)
    if run.status == "error":
        return ExecutionResult("error", run.reason, run.duration_s)
    if language == "javascript" and (failed := _console_assert(run.stderr)):  # console.assert only prints
        return ExecutionResult("failed", failed, run.duration_s)
    if run.status == "passed":
        return ExecutionResult("passed", "", run.duration_s)
    return ExecutionResult("failed", _failure_reason(language, run, program), run.duration_s)


def run_program(language: str, solution: str, tests: str, *, timeout_s: float) -> tuple[SandboxResult, str, float]:
    """Solution + tests assembled into one program of the language (`_assemble`) and run in the sandbox: (the run,
    the program, the seconds allowed for compiling on top of timeout_s)."""
    program, filename, argv, compile_s = _assemble(language, solution, tests, timeout_s)
    wall = timeout_s + compile_s
    limits = SandboxLimits(cpu_s=math.ceil(wall) + 1, max_processes=64 if language == "python" else 256)
    if language == "python":
        return run_python(program, timeout_s=wall, limits=limits), program, compile_s
    # compilers and JVMs run many threads, and the process limit counts them
    return run_command(argv, {filename: program}, timeout_s=wall, limits=limits), program, compile_s


def execution_verdicts(row: dict, *, timeout_s: float) -> tuple[dict[str, dict], str | None]:
    """Rule verdicts ({"answer": "yes" | "no" | "n/a", "reason"}) from running one generated row, and the status
    of its solution + tests run (None when nothing ran). "n/a" means not executed; the caller decides whether
    that rejects. code_translation's tests are in the target language, as its solution is."""
    rules = ["tests_pass"] + (["repair_fixes_bug"] if row["task_name"] == "code_repair" else [])
    language = solution_language(row["task_name"], row["language"], row.get("target_language"))
    if language is None:
        return {rule: _verdict("n/a", "the solution is text: nothing to execute") for rule in rules}, None
    tests, cut = without_cut_lines(row.get("tests"), language)
    row = row | {"tests": tests}
    fixed = run_tests(language, row["solution"], tests, timeout_s=timeout_s)
    if fixed.status in ("not_executed", "error"):
        why = f"{NOT_EXECUTED}: " + (fixed.reason if fixed.status == "not_executed" else f"sandbox error: {fixed.reason}")
        return {rule: _verdict("n/a", why) for rule in rules}, fixed.status
    # No duration in the reason: the same row must give the same verdict text (and table data version) on a rerun.
    verdicts = {"tests_pass": _verdict("yes", "solution + tests pass") if fixed.passed
                else _verdict("no", f"tests {fixed.status}: {fixed.reason}")}
    if row["task_name"] == "code_repair":
        verdicts["repair_fixes_bug"] = _repair_verdict(language, row, fixed, timeout_s)
    if cut:
        verdicts["tests_pass"]["reason"] = f"{verdicts['tests_pass']['reason']} ({cut} {CUT_LINES_NOTE})"[:300]
    return verdicts, fixed.status


# How the toolchains report code that does not parse or compile. A row's solution parsed (solution_is_code) before
# it ran, so such a failure is its tests' (Python, Node, javac, go build).
_DOES_NOT_COMPILE = re.compile(r"\b(SyntaxError|IndentationError|TabError)\b|\.java:\d+: error:|\.go:\d+:\d+: ")


def uncompilable_tests(tests_pass: dict) -> bool:
    """Whether a tests_pass verdict says the tests failed to parse or compile (not that an assertion failed)."""
    return tests_pass.get("answer") == "no" and bool(_DOES_NOT_COMPILE.search(tests_pass.get("reason") or ""))


CUT_LINES_NOTE = "cut test line(s) dropped"
# How Python reports source that ends inside an expression or a string: a line cut at the token limit.
_CUT_AT_END = re.compile(r"was never closed|unexpected EOF|unterminated (triple-quoted )?string|expected an indented")


def without_cut_lines(tests: str | None, language: str) -> tuple[str | None, int]:
    """Python tests whose last lines were cut mid-expression (an answer that ran into the token limit, "'(' was
    never closed"): those lines dropped, so the complete checks decide and a correct solution is not failed by a
    half-written one. (tests, lines dropped); other languages and tests that parse come back as they are."""
    if language != "python" or not (tests or "").strip():
        return tests, 0
    lines = strip_fence(tests.strip()).splitlines()
    for kept in range(len(lines), 0, -1):
        try:
            ast.parse("\n".join(lines[:kept]))
        except SyntaxError as error:
            if not _CUT_AT_END.search(str(error.msg)):
                return tests, 0  # a real syntax error: the tests fail on it
            continue
        return (tests, 0) if kept == len(lines) else ("\n".join(lines[:kept]), len(lines) - kept)
    return tests, 0


def _repair_verdict(language: str, row: dict, fixed: ExecutionResult, timeout_s: float) -> dict:
    """A fix is shown by the tests: the buggy input fails them and the fixed code passes them."""
    buggy_code = strip_fence((row.get("information") or "").strip())
    if not buggy_code:
        return _verdict("n/a", f"{NOT_EXECUTED}: no buggy input")
    if _code_only(row["solution"]) == _code_only(buggy_code):
        return _verdict("no", "the fix is the buggy input unchanged (comments aside)")
    if not fixed.passed:
        return _verdict("no", f"the fix does not pass the tests ({fixed.status}: {fixed.reason})")
    buggy = run_tests(language, buggy_code, row.get("tests"), timeout_s=timeout_s)
    if buggy.status == "error":
        return _verdict("n/a", f"{NOT_EXECUTED}: sandbox error on the buggy input: {buggy.reason}")
    if buggy.passed:
        return _verdict("no", "the buggy input passes the same tests: they do not catch the bug")
    return _verdict("yes", f"the buggy input fails the tests ({buggy.status}: {buggy.reason}); the fix passes")


def _verdict(answer: str, reason: str) -> dict:
    return {"answer": answer, "reason": reason[:300]}


def _code_only(code: str) -> str:
    """The code without whole-line comments and whitespace (the repair's solution opens with a comment)."""
    lines = strip_fence(code.strip()).splitlines()
    kept = [line for line in lines if not line.strip().startswith(("#", "//", "/*", "*"))]
    return re.sub(r"\s+", "", "".join(kept))


# ---------------------------------------------------------------- assembling one program per language

def _assemble(language: str, solution: str, tests: str, timeout_s: float) -> tuple[str, str, list[str], float]:
    """(program, its file name, argv, seconds allowed for compiling)."""
    t = f"{timeout_s:g}"
    if language == "python":
        return solution + "\n\n" + tests + "\n", "main.py", [], 0.0
    if language == "javascript":
        # ES-module `export` is a syntax error in a CommonJS script; the tests get a block of their own, so
        # their `const assert = require('assert')` cannot clash with a declaration of the solution.
        solution = re.sub(r"^export\s+(default\s+)?(?=(async\s+)?(function|class|const|let|var)\b)", "", solution,
                          flags=re.MULTILINE)
        if re.search(r"\bassert\b", tests) and not _DEFINES_ASSERT.search(solution + "\n" + tests):
            tests = "const assert = require('assert');\n" + tests  # the test style asked for; models forget the line
        return solution + "\n\n{\n" + tests + "\n}\n", "main.js", ["node", "main.js"], 0.0
    if language == "java":
        program, main = _java_program(solution, tests)
        javac = " ".join(f"-J{flag}" for flag in JVM_FLAGS.split())
        command = f"javac {javac} Main.java && exec timeout -k 1 {t} java {JVM_FLAGS} -ea {main}"
        return program, "Main.java", ["sh", "-c", command], COMPILE_S["java"]
    if language == "go":
        # Offline: never fetch a toolchain or module; the build cache is the run's fresh HOME.
        command = f"GOTOOLCHAIN=local GOPROXY=off go build -o main main.go && exec timeout -k 1 {t} ./main"
        return _go_program(solution, tests), "main.go", ["sh", "-c", command], COMPILE_S["go"]
    if language == "php":
        tag = re.compile(r"^\s*<\?php\b|\?>\s*$")
        program = "<?php\n" + tag.sub("", solution) + "\n\n" + tag.sub("", tests) + "\n"
        flags = ["-d", "zend.assertions=1", "-d", "assert.exception=1", "-d", "display_errors=stderr"]
        return program, "main.php", ["php", *flags, "main.php"], 0.0
    if language == "ruby":
        return solution + "\n\n" + tests + "\n", "main.rb", ["ruby", "main.rb"], 0.0
    raise ValueError(f"no runner for {language!r}")


@dataclass
class _TopLevel:
    imports: list[str]
    body: str  # everything else, package line dropped
    names: dict[str, str]  # declared name -> its text (Java: types, Go: functions)


_JAVA_TYPES = {"class_declaration", "interface_declaration", "enum_declaration", "record_declaration",
               "annotation_type_declaration"}
_JAVA_MAIN = re.compile(r"\bstatic\s+void\s+main\s*\(")
_DEFINES_ASSERT = re.compile(r"""require\(\s*['"](node:)?assert(/strict)?['"]\s*\)|\bimport\b[^;\n]*\bassert\b""")


def _top_level(source: str, language: str) -> _TopLevel:
    """Split a Java or Go source at its top level (tree-sitter): imports must lead the merged file, and in Java
    a `public` type must match the file's name, so top-level types lose `public` (one file holds them all)."""
    data = source.encode("utf-8", "surrogatepass")
    imports, pieces, names = [], [], {}
    text_of = lambda start, end: data[start:end].decode("utf-8", "replace")
    for node in parse(data, language).root_node.children:
        text = text_of(node.start_byte, node.end_byte)
        if node.type in ("package_declaration", "package_clause"):
            continue
        if node.type == "import_declaration":
            specs = [n for n in descendants(node) if n.type == "import_spec"] if language == "go" else [node]
            imports += [text_of(n.start_byte, n.end_byte) for n in specs]
            continue
        if language == "java" and node.type in _JAVA_TYPES:
            modifiers = [m for c in node.children if c.type == "modifiers" for m in c.children]
            if public := next((m for m in modifiers if m.type == "public"), None):
                text = text_of(node.start_byte, public.start_byte) + text_of(public.end_byte, node.end_byte)
        name = node.child_by_field_name("name")
        if name is not None and node.type in _JAVA_TYPES | {"function_declaration"}:
            names[text_of(name.start_byte, name.end_byte)] = text
        pieces.append(text)
    return _TopLevel(imports, "\n".join(pieces), names)


def _java_program(solution: str, tests: str) -> tuple[str, str]:
    """Main.java holding the solution's types and the tests' class, and the class to run: the tests' class with
    a main method, or bare test statements wrapped into one. A solution that is only methods (as CodeSearchNet's
    Java functions are) becomes static members of the class the tests run in, so the tests can call them."""
    sol, test = _top_level(solution, "java"), _top_level(tests, "java")
    members = _java_static_members(sol.body) if not sol.names else None
    main = next((name for name, text in test.names.items() if _JAVA_MAIN.search(text)), None)
    body = test.body
    if main is None:
        # Bare checks are often written as in Python, `assert x == y` with no semicolon: that one is added.
        body = re.sub(r"^(\s*assert\b[^;\n]*[^;\s{}])\s*$", r"\1;", body, flags=re.MULTILINE)
        main = "TestMain" if "Main" in sol.names else "Main"
        body = f"class {main} {{\n    public static void main(String[] args) throws Exception {{\n{body}\n    }}\n}}"
    solution_body = sol.body
    if main in sol.names:
        # Both bring a class of that name (the tests' holds main; "class Main is already defined"): one class,
        # the solution's with the tests' members added, so tests that call its methods unqualified still compile.
        tests_class, solution_class = test.names[main], sol.names[main]
        added = tests_class[tests_class.index("{") + 1:tests_class.rindex("}")]
        solution_body = sol.body.replace(solution_class, solution_class[:solution_class.rindex("}")] + added + "}")
        body = body.replace(tests_class, "")
    if members is not None:
        opening = re.search(rf"\bclass\s+{main}\b[^{{]*\{{", body)
        body = body[:opening.end()] + "\n" + members + "\n" + body[opening.end():]
        solution_body = ""
    imports = "\n".join(dict.fromkeys(sol.imports + test.imports))
    return f"{imports}\n\n{solution_body}\n\n{body}\n", main


def _java_static_members(source: str) -> str | None:
    """Methods (and fields) declared outside any class, made static members of a class body: `static` added where
    missing, `@Override` dropped (nothing is overridden any more); None when the source is not only members."""
    prefix = "class Members {\n"
    data = (prefix + source + "\n}").encode("utf-8", "surrogatepass")
    root = parse(data, "java").root_node
    body = root.children[0].child_by_field_name("body") if root.children else None
    if root.has_error or body is None:
        return None
    members = [c for c in body.children if c.type in ("method_declaration", "field_declaration")]
    if not any(m.type == "method_declaration" for m in members):
        return None
    edits = []  # (start, end, replacement) in bytes
    for member in members:
        modifiers = next((c for c in member.children if c.type == "modifiers"), None)
        words = [c for c in modifiers.children] if modifiers is not None else []
        edits += [(w.start_byte, w.end_byte, b"") for w in words
                  if w.type == "marker_annotation" and data[w.start_byte:w.end_byte] == b"@Override"]
        if not any(w.type == "static" for w in words):
            at = modifiers.end_byte if modifiers is not None else member.start_byte
            edits.append((at, at, b" static" if modifiers is not None else b"static "))
    for start, end, replacement in sorted(edits, reverse=True):
        data = data[:start] + replacement + data[end:]
    return data.decode("utf-8", "replace")[len(prefix):-2]


def _go_program(solution: str, tests: str) -> str:
    """One main.go: package main, the merged imports, the solution (its own main renamed: the tests' main
    runs), then the tests' main (bare test statements are wrapped into one)."""
    sol, test = _top_level(solution, "go"), _top_level(tests, "go")
    body = test.body if "main" in test.names else f"func main() {{\n{test.body}\n}}"
    sol_body = re.sub(r"\bfunc\s+main\s*\(\s*\)", "func solutionMain()", sol.body)
    imports = list(dict.fromkeys(sol.imports + test.imports))
    import_block = "import (\n" + "\n".join(f"\t{spec}" for spec in imports) + "\n)\n\n" if imports else ""
    return f"package main\n\n{import_block}{sol_body}\n\n{body}\n"


# ---------------------------------------------------------------- why a run failed, in one line

# Per language: the stderr line that says what went wrong (None: the sandbox's last line), where the program's
# line number appears, and whether the innermost frame is listed last (Python) or first (the others).
_FAILURE_LINES = {
    "python": (None, re.compile(r'File "main\.py", line (\d+)'), True),
    "javascript": (re.compile(r"^\w*(Error|Exception)\b"), re.compile(r"main\.js:(\d+)"), False),
    "java": (re.compile(r"^(Exception in thread|\S*Main\.java:\d+: error:|Error:)"), re.compile(r"Main\.java:(\d+)"),
             False),
    "go": (re.compile(r"^(panic:|fatal error:|\S*main\.go:\d+:\d+:)"), re.compile(r"main\.go:(\d+)"), False),
    "php": (re.compile(r"(Fatal error|Parse error|Warning):"), re.compile(r"main\.php(?:\(| on line |:)(\d+)"), False),
    "ruby": (re.compile(r"main\.rb:\d+:"), re.compile(r"main\.rb:(\d+)"), False),
}


_NODE_FOOTER = re.compile(r"^(Node\.js v|\(Use `node --trace)")


def _failure_reason(language: str, run: SandboxResult, program: str) -> str:
    """The error line (with the next line when it ends in ':', as Node's assertion messages do) and the
    program's line where it happened, e.g. "AssertionError (line 9: assert add(1, 2) == 4)"."""
    headline_pattern, location, innermost_last = _FAILURE_LINES[language]
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    headline = run.reason  # the sandbox's: the last stderr line, a signal or an exit code
    if _NODE_FOOTER.match(headline):  # Node ends with its version; what was thrown comes before
        headline = next((line.strip() for line in reversed(lines) if not _NODE_FOOTER.match(line)), headline)
    for i, line in enumerate(lines):
        if headline_pattern is not None and headline_pattern.search(line):
            detail = lines[i + 1].strip() if line.rstrip().endswith(":") and i + 1 < len(lines) else ""
            headline = f"{line.strip()} {detail}".strip()
            break
    headline = re.sub(r"\S*/(main\.\w+|Main\.java)\b", r"\1", headline)  # the sandbox's temp dir says nothing
    headline = headline.removeprefix('Exception in thread "main" ')
    numbers = location.findall(run.stderr)
    if numbers:
        lineno = int(numbers[-1] if innermost_last else numbers[0])
        source = program.splitlines()[lineno - 1].strip() if 0 < lineno <= len(program.splitlines()) else ""
        if source and source not in headline:
            headline += f" (line {lineno}: {source})"
    return headline[:300]


def _console_assert(stderr: str) -> str | None:
    return next((line.strip()[:300] for line in stderr.splitlines() if line.startswith("Assertion failed")), None)


# ---------------------------------------------------------------- expected values from the reference code

# Runs in the sandbox: the Python reference code, then each test line's checked expression evaluated against it;
# prints JSON {"tests": [line or null], "computed": [its expected value is the reference's], "why": [reason or null]}. A line that does not parse (a cut answer) or whose
# expression raises is dropped with its reason, and so is a value that does not read back as itself (Python: its
# repr; JavaScript: JSON). JavaScript checks are `assert.<equal>(CALL, EXPECTED)` lines whose CALL is Python too
# once true/false/null are spelled the Python way (literal arguments); others are kept as written.
_GROUNDING_PROGRAM = '''
import ast, io, json, math, re, tokenize
reference, lines, test_language = {reference!r}, {lines!r}, {test_language!r}
namespace = {{"__name__": "reference"}}
exec(compile(reference, "reference.py", "exec"), namespace)
JS_CHECK = re.compile(r"\\s*assert\\.(?:deepStrictEqual|strictEqual|deepEqual|equal)\\((.*)\\)\\s*;?\\s*$")
JS_WORDS = {{"true": "True", "false": "False", "null": "None"}}

def first_argument(text):
    depth, quote = 0, None
    for i, c in enumerate(text):
        if quote:
            quote = None if c == quote and text[i - 1] != "\\\\" else quote
        elif c in "\\"'`":
            quote = c
        elif c in "([{{":
            depth += 1
        elif c in ")]}}":
            depth -= 1
        elif c == "," and depth == 0:
            return text[:i].strip()
    return None

def as_python(js):
    tokens = tokenize.generate_tokens(io.StringIO(js).readline)
    return tokenize.untokenize((t.type, JS_WORDS.get(t.string, t.string)) if t.type == tokenize.NAME else t[:2]
                               for t in tokens)

def value_of(expression):
    return eval(compile(ast.Expression(expression), "test", "eval"), namespace)

def python_check(line):
    statement = ast.parse(line).body
    if len(statement) != 1 or not isinstance(statement[0], ast.Assert):
        return line, False  # setup (an import, an assignment) is kept as written
    test = statement[0].test
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Eq, ast.Is)):
        checked = test.left
    elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        checked = test.operand
    elif isinstance(test, ast.Compare):
        return line, False  # <, in, !=: kept as written
    else:
        checked = test
    value = value_of(checked)
    text = repr(value)
    if type(ast.literal_eval(text)) is not type(value) or ast.literal_eval(text) != value:
        raise ValueError(f"the value {{text[:60]}} is no literal")
    return f"assert {{ast.unparse(checked)}} == {{text}}", True

def javascript_check(line):
    match = JS_CHECK.match(line)
    call = first_argument(match.group(1)) if match else None
    if call is None:
        return line, False
    value = value_of(ast.parse(as_python(call).strip(), mode="eval").body)
    text = json.dumps(value, allow_nan=False)
    if json.loads(text) != value and not isinstance(value, tuple):
        raise ValueError(f"the value {{text[:60]}} is no JSON")
    return f"assert.deepStrictEqual({{call}}, {{text}});", True

check = python_check if test_language == "python" else javascript_check
tests, computed, why = [], [], []
for line in lines:
    try:
        test, from_reference = check(line)
        tests.append(test); computed.append(from_reference); why.append(None)
    except SyntaxError as e:
        tests.append(None); computed.append(False); why.append(f"does not parse: {{e.msg}}")
    except Exception as e:
        tests.append(None); computed.append(False); why.append(f"{{type(e).__name__}} on the reference: {{str(e)[:80]}}")
print(json.dumps({{"tests": tests, "computed": computed, "why": why}}))
'''
GROUNDED_LANGUAGES = ("python", "javascript")  # test languages whose expected values a Python reference can give


@dataclass(frozen=True)
class GroundedTests:
    tests: str | None  # the test lines with expected values from the reference; None: none could be computed
    computed: int  # checks whose expected value comes from the reference
    rewritten: int  # of those, checks whose expected value (or form) changed
    dropped: list[str]  # "line: why" for each test line left out


def ground_tests(reference: str, tests: str, *, test_language: str = "python", timeout_s: float) -> GroundedTests:
    """Tests whose expected values are what the Python `reference` returns (code known to be right: a repair's
    fix that is the original function, the Python source of a translation): a small model's guessed values are
    often wrong where its code is right. Python: each `assert EXPR == VALUE` (also `is`, a bare `assert EXPR` or
    `assert not EXPR`) becomes `assert EXPR == <EXPR on the reference>`; JavaScript: `assert.strictEqual(CALL, X)`
    and its kin become `assert.deepStrictEqual(CALL, <CALL on the reference, as JSON>)`. Other lines are kept as
    written. Runs in the sandbox."""
    if test_language not in GROUNDED_LANGUAGES:
        raise ValueError(f"no expected values for tests in {test_language}; only {GROUNDED_LANGUAGES}")
    lines = [line for line in strip_fence(tests.strip()).splitlines() if line.strip()]
    program = _GROUNDING_PROGRAM.format(reference=strip_fence(reference.strip()), lines=lines,
                                        test_language=test_language)
    run = run_python(program, timeout_s=timeout_s)
    if run.status != "passed":
        return GroundedTests(None, 0, 0, [f"the reference did not run: {run.reason}"])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    kept = [t for t in result["tests"] if t is not None]
    computed = sum(result["computed"])
    rewritten = sum(c and t != line for t, c, line in zip(result["tests"], result["computed"], lines))
    dropped = [f"{line}: {why}" for line, why in zip(lines, result["why"]) if why is not None]
    return GroundedTests("\n".join(kept) if computed else None, computed, rewritten, dropped)
