"""Facts read off code (codefacts.py, and languages.python_docstring): one docstring detection for the harvest,
the generation tasks and the checks, and the testability heuristics the corpus filters and the planner use."""

from __future__ import annotations

import ast

import pytest

from wavecoder_assets.codefacts import code_tokens, runs_alone, takes_plain_values
from wavecoder_assets.corpus.harvest import extract_functions
from wavecoder_assets.generate.tasks import given_code
from wavecoder_assets.languages import parse, python_docstring


@pytest.mark.parametrize("body", [
    '"""Half of x."""\n    return x / 2',
    'r"""Half of x."""\n    return x / 2',
    '"Half " "of x."\n    return x / 2',  # implicit concatenation: one str
    '# halves\n    """Half of x."""\n    return x / 2',  # a comment is no statement
    'f"""Half of {x}."""\n    return x / 2',  # an f-string is no docstring
    'b"""Half of x."""\n    return x / 2',  # nor is bytes
    'y = "Half of x."\n    return y',
    'return x / 2\n    "Half of x."',
])
def test_python_docstring_is_what_python_calls_one(body):
    code = f"def half(x):\n    {body}\n"
    fn = next(n for n in parse(code, "python").root_node.named_children if n.type == "function_definition")
    assert (python_docstring(fn) is not None) == (ast.get_docstring(ast.parse(code).body[0]) is not None)


def test_the_harvest_the_tasks_and_the_checks_see_the_same_docstring():
    code = 'def half(x):\n    # halves\n    "Half of x."\n    return x / 2'
    assert [doc for _, _, doc in extract_functions(code.encode(), "python")] == ["Half of x."]
    assert given_code("code_repair", code, "python") == "def half(x):\n    # halves\n    return x / 2"
    assert '"Half of x."' not in code_tokens(code, "python")
    f_string = code.replace('"Half', 'f"Half')
    assert extract_functions(f_string.encode(), "python") == []
    assert given_code("code_repair", f_string, "python") == f_string
    assert 'f"Half of x."' in code_tokens(f_string, "python")


@pytest.mark.parametrize("language, code, alone", [
    ("python", "def mean(values):\n    return statistics.fmean(values)", True),  # a module it can import
    ("python", "def area(self):\n    return self.w * self.h", False),
    ("python", "def scaled(x):\n    return x * FACTOR", False),
    ("java", "public static int twice(int x) {\n    return 2 * x;\n}", True),
    ("java", "public int twice(int x) {\n    return 2 * x;\n}", False),  # an instance method
    ("java", "public static Foo make() {\n    return this.copy();\n}", False),
    ("javascript", "function twice(xs) {\n  return xs.map((x) => 2 * Math.abs(x));\n}", True),
    ("javascript", "function has(name) {\n  return this.headers.has(name);\n}", False),
    ("javascript", "function check(a) {\n  webidl.argumentLengthCheck(a, 2);\n}", False),
    ("go", "func Twice(x int) int {\n\treturn 2 * x\n}", True),
    ("go", "func (c *Counter) Inc() {\n\tc.n++\n}", False),
    ("python", "def broken(:\n    pass", False),
])
def test_runs_alone(language, code, alone):
    assert runs_alone(code, language) is alone


@pytest.mark.parametrize("language, code, plain", [
    ("python", "def _is_single_bit(num):\n    num &= num - 1\n    return num == 0", True),
    ("python", "def replace(text, *pairs):\n    return pairs[1].join(text.split(pairs[0]))", True),  # str methods
    ("python", "def getlineno(frame):\n    return frame.f_lineno", False),  # a frame: no literal makes one
    ("python", "def ispackage(path):\n    return os.path.isdir(path)", False),  # the file system
    ("python", "def stamp(x):\n    import time\n    return (x, time.time())", False),  # the clock
    ("python", "def reset(xs):\n    xs.clear()", False),  # returns nothing to compare
    ("python", "def answer():\n    return 42", False),  # nothing to vary
    ("python", "def area(self):\n    return self.w * self.h", False),  # does not run alone
    ("java", "public static float ulp(float f) {\n    return Math.ulp(f);\n}", True),
    ("java", "static boolean isHigh(int cp) {\n    return cp >= Character.MIN_SUPPLEMENTARY_CODE_POINT;\n}", True),
    ("java", "static Optional<ProcessHandle> of(long pid) {\n    return ProcessHandle.of(pid);\n}", False),
    ("java", "static CallerFinder finder(StackWalker w) {\n    return new CallerFinder(w);\n}", False),
    ("java", "static int twice(int x) {\n    return LIMIT * x;\n}", False),  # a constant of a class not shown
    ("java", "static void log(String s) {\n    System.out.println(s);\n}", False),  # void
    ("javascript", "function twice(xs) {\n  return xs.map((x) => 2 * x).slice(0, xs.length);\n}", True),
    ("javascript", "function segment(s, segmenter) {\n  return Array.from(segmenter.segment(s));\n}", False),
    ("javascript", "function noop(x) {\n  console.log(x);\n}", False),  # returns nothing
    ("go", "func Twice(x int) int {\n\treturn 2 * x\n}", False),  # not judged for other languages
])
def test_takes_plain_values(language, code, plain):
    assert takes_plain_values(code, language) is plain
