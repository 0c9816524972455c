"""The discriminator's mechanical rules (generate/checks.py) on real tree-sitter parses: for each check, good rows
pass and bad rows fail in several languages, and good rows of every task and language pass every check."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.corpus.harvest import EXTENSIONS, extract_functions
from wavecoder_assets.generate import checks as C
from wavecoder_assets.generate import judge as J
from wavecoder_assets.languages import LANGUAGE_NAMES, LANGUAGES

# The same function in every language, so that any pair is a real translation.
COUNT_WORDS = {
    "python": '''def count_words(sentence):
    """Count the words in a sentence."""
    if not sentence or not sentence.strip():
        return 0
    return len(sentence.split())
''',
    "java": '''/** Counts the words in a sentence. */
public static int countWords(String sentence) {
    if (sentence == null || sentence.isBlank()) {
        return 0;
    }
    return sentence.trim().split("\\\\s+").length;
}
''',
    "javascript": '''/** Counts the words in a sentence. */
function countWords(sentence) {
  if (!sentence || sentence.trim() === "") {
    return 0;
  }
  return sentence.trim().split(/\\s+/).length;
}
''',
    "go": '''// CountWords counts the words in a sentence.
func CountWords(sentence string) int {
	if strings.TrimSpace(sentence) == "" {
		return 0
	}
	return len(strings.Fields(sentence))
}
''',
    "php": '''/** Counts the words in a sentence. */
function countWords($sentence) {
    if ($sentence === null || trim($sentence) === '') {
        return 0;
    }
    return count(preg_split('/\\s+/', trim($sentence)));
}
''',
    "ruby": '''# Counts the words in a sentence.
def count_words(sentence)
  return 0 if sentence.nil? || sentence.strip.empty?
  sentence.split.length
end
''',
}
COMMENT = {"python": "#", "ruby": "#"}  # others: //
MAIN_LANGUAGES = ("python", "java", "javascript", "go")
PY_TESTS = "assert count_words('a b  c') == 3\nassert count_words('   ') == 0"


def comment(language: str, text: str) -> str:
    return f"{COMMENT.get(language, '//')} {text}"


def buggy(language: str) -> str:
    """The function with a bug put in: an empty sentence counts one word."""
    return COUNT_WORDS[language].replace("return 0", "return 1")


def make_row(task: str, language: str, *, target: str | None = None, **fields) -> dict:
    """A good candidate of the task; keyword fields override."""
    name = LANGUAGE_NAMES[language]
    code = COUNT_WORDS[language]
    if task == "code_generation":
        base = {"instruction": f"Write a {name} function that counts the words in a sentence.", "information": "",
                "solution": code, "tests": PY_TESTS if language == "python" else None}
    elif task == "code_summarization":
        base = {"instruction": f"Summarize what this {name} function does.", "information": code,
                "solution": "The function counts the words in a sentence. It returns 0 when the sentence is empty "
                            "or holds only whitespace.", "tests": None}
    elif task == "code_repair":
        fixed = comment(language, "Bug: an empty sentence counted as one word; it must count 0.") + "\n" + code
        base = {"instruction": f"Find and fix the bug in this {name} function.", "information": buggy(language),
                "solution": fixed, "tests": PY_TESTS if language == "python" else None}
    else:
        base = {"instruction": f"Translate this {name} function into {LANGUAGE_NAMES[target]}.", "information": code,
                "solution": COUNT_WORDS[target], "tests": PY_TESTS if target == "python" else None}
    return {"task_name": task, "language": language, "target_language": target, "code": code} | base | fields


def verdict(rule: str, row: dict, **settings) -> C.RuleVerdict:
    v = C.CHECKS[rule](row, C.CheckSettings(**settings))
    assert v.rule == rule and v.reason
    return v


def assert_fails(rule: str, row: dict, *reason_parts: str) -> C.RuleVerdict:
    v = verdict(rule, row)
    assert v.status == C.FAILED and not v.passed, v
    for part in reason_parts:
        assert part in v.reason, v.reason
    return v


def assert_passes(rule: str, row: dict) -> C.RuleVerdict:
    v = verdict(rule, row)
    assert v.status == C.PASSED and v.passed, v
    return v


# ---------------------------------------------------------------- no false rejections

def all_good_rows() -> list[dict]:
    rows = []
    for language in LANGUAGES:
        rows += [make_row(task, language) for task in ("code_generation", "code_summarization", "code_repair")]
        rows += [make_row("code_translation", language, target=t) for t in LANGUAGES if t != language]
    return rows


def row_id(row: dict) -> str:
    return "-".join(filter(None, (row["task_name"], row["language"], row["target_language"])))


@pytest.mark.parametrize("row", all_good_rows(), ids=row_id)
def test_good_rows_of_every_task_and_language_pass_every_check(row):
    verdicts = C.run_checks(row)
    assert [v.rule for v in verdicts] == list(C.CHECKS)
    assert C.failed(verdicts) == [], [v.to_dict() for v in C.failed(verdicts)]
    ran = {v.rule for v in verdicts if v.status == C.PASSED}
    assert {"input_is_code", "names_language"} <= ran
    assert ("summary_is_prose" in ran) == (row["task_name"] == "code_summarization")
    assert ("solution_is_code" in ran) == (row["task_name"] != "code_summarization")
    assert ("imports_what_it_uses" in ran) == (C._solution_language(row) == "python")
    assert ("repair_changes_code" in ran) == (row["task_name"] == "code_repair")
    assert ("translation_changes_language" in ran) == (row["task_name"] == "code_translation")


def harvested_functions() -> list[tuple[str, str, str]]:
    """(file, language, code) of every function the corpus harvest takes from the test fixtures (real code)."""
    found = []
    for path in sorted(Path(REPO_ROOT, "assets_tests/fixtures/harvest").iterdir()):
        if path.suffix in EXTENSIONS:
            language = EXTENSIONS[path.suffix]
            found += [(path.name, language, code) for _, code, _ in extract_functions(path.read_bytes(), language)]
    return found


def test_real_functions_of_every_language_pass_as_inputs_and_as_solutions():
    functions = harvested_functions()
    assert {language for _, language, _ in functions} == set(LANGUAGES) and len(functions) > 100
    for name, language, code in functions:
        row = make_row("code_generation", language, code=code, solution=code, tests=None)
        verdicts = C.run_checks(row, rules=["input_is_code", "solution_is_code", "not_needlessly_complex"])
        assert C.failed(verdicts) == [], (name, code, C.failed(verdicts))


def test_registry_verdict_record_and_judge_layout():
    assert list(C.CHECK_RULES) == list(C.CHECKS) and all(C.CHECK_RULES.values())
    assert not set(C.CHECK_RULES) & {r["id"] for r in J.SEMANTIC_RULES}  # code decides these, not the LLM
    bad = make_row("code_generation", "python", instruction="Write a function that counts words.")
    verdicts = C.run_checks(bad)
    assert verdicts[1].to_dict() == {"rule": "names_language", "passed": False, "status": "failed",
                                     "reason": "the instruction does not name Python"}
    answers = C.as_rule_verdicts(verdicts)
    assert "repair_changes_code" not in answers  # not applicable: left out, not a "no"
    assert J.failed_rules(answers) == ["names_language"]
    assert [v.rule for v in C.run_checks(bad, rules=["names_language"])] == ["names_language"]


# ---------------------------------------------------------------- input_is_code

@pytest.mark.parametrize("language", MAIN_LANGUAGES + ("php", "ruby"))
def test_input_is_code_accepts_functions_and_methods(language):
    assert_passes("input_is_code", make_row("code_generation", language))


@pytest.mark.parametrize("language, code", [
    ("java", "public String getName() {\n    return name;\n}"),  # a method without its class
    ("javascript", "toString() {\n  return `${this.x},${this.y}`;\n}"),
    ("javascript", "const double = (x) => x * 2;"),
    ("go", "func (p *Point) Norm() float64 {\n\treturn math.Hypot(p.X, p.Y)\n}"),
    ("php", "public function getName() {\n    return $this->name;\n}"),
    ("python", "    def area(self):\n        return self.w * self.h\n"),  # an indented method
])
def test_input_is_code_accepts_methods_cut_out_of_their_class(language, code):
    assert_passes("input_is_code", make_row("code_generation", language, code=code))


@pytest.mark.parametrize("language, code, why", [
    ("python", "# Count the words in a sentence.\n# Returns an int.\n", "no Python function"),
    ("java", "/** Counts the words in a sentence.\n * @param sentence the text\n */\n", "no Java function"),
    ("javascript", "// Counts the words in a sentence.\n", "no JavaScript function"),
    ("go", "// CountWords counts the words in a sentence.\n", "no Go function"),
    ("python", 'def count_words(sentence):\n    """Count the words in a sentence."""\n', "body is empty"),
    ("python", "def count_words(sentence):\n    # TODO\n    pass\n", "body is empty"),
    ("java", "abstract int countWords(String sentence);", "body is empty"),
    ("javascript", "function countWords(sentence) {\n  // not written yet\n}", "body is empty"),
    ("go", "x := 1\n", "Go"),
    ("python", "   \n", "empty"),
    ("java", "This method counts the words in a sentence and returns how many there are.", "Java"),
])
def test_input_is_code_rejects_comments_stubs_prose_and_empty_inputs(language, code, why):
    assert_fails("input_is_code", make_row("code_generation", language, code=code), why)


# ---------------------------------------------------------------- names_language

@pytest.mark.parametrize("language, instruction", [
    ("python", "Write a python3 function that counts the words in a sentence."),
    ("java", "Implement countWords in Java."),
    ("javascript", "Write a JS function that counts words."),
    ("javascript", "Write a Node.js helper that counts words."),
    ("go", "Write a Go function that counts the words in a sentence."),
    ("go", "In Go, count the words in a sentence."),
    ("go", "Implement word counting in Golang."),
    ("go", "Go function: count the words in a sentence."),
    ("php", "Write a PHP function that counts words."),
    ("ruby", "Write a Ruby method that counts words."),
])
def test_names_language_finds_the_language(language, instruction):
    assert_passes("names_language", make_row("code_generation", language, instruction=instruction))


@pytest.mark.parametrize("language", MAIN_LANGUAGES)
def test_names_language_rejects_an_instruction_without_a_language(language):
    row = make_row("code_generation", language, instruction="Write a function that reverses a list.")
    assert_fails("names_language", row, f"does not name {LANGUAGE_NAMES[language]}")


@pytest.mark.parametrize("instruction", [
    "Go through the list and return the largest value.",
    "Write a function that lets the caller go back to the previous page.",
    "Sort the words. Go on until no two are out of order.",
    "Let's go: write a function that counts the words.",
    "Write a go-to helper that counts words.",
])
def test_go_the_english_verb_is_not_go_the_language(instruction):
    assert_fails("names_language", make_row("code_generation", "go", instruction=instruction), "does not name Go")


@pytest.mark.parametrize("task", ["code_summarization", "code_repair"])
def test_a_summary_or_repair_may_leave_the_language_to_its_code_but_not_name_another(task):
    unnamed = make_row(task, "python", instruction="Briefly explain what this function computes.")
    assert_passes("names_language", unnamed)
    other = make_row(task, "python", instruction="Briefly explain what this Java method computes.")
    assert_fails("names_language", other, "does not name Python", "it names Java")


def test_names_language_wants_both_languages_of_a_translation_and_not_javascript_for_java():
    only_source = make_row("code_translation", "python", target="java", instruction="Translate this Python function.")
    assert_fails("names_language", only_source, "does not name Java")
    javascript = make_row("code_generation", "java", instruction="Write a JavaScript function that counts words.")
    assert_fails("names_language", javascript, "does not name Java", "it names JavaScript")


# ---------------------------------------------------------------- solution_is_code / summary_is_prose

def prose_around(language: str) -> str:
    return (f"Here is the solution:\n```{language}\n{COUNT_WORDS[language]}```\n"
            "This works by splitting the sentence on whitespace and counting the parts.")


@pytest.mark.parametrize("language", MAIN_LANGUAGES + ("php", "ruby"))
def test_solution_is_code_rejects_prose_around_the_code(language):
    row = make_row("code_generation", language, solution=prose_around(language))
    v = assert_fails("solution_is_code", row)
    assert "prose" in v.reason or "not valid Python" in v.reason


@pytest.mark.parametrize("language", MAIN_LANGUAGES + ("ruby",))
def test_solution_is_code_rejects_an_explanation_line_after_the_code(language):
    solution = COUNT_WORDS[language] + "\nThis function splits the sentence and returns the number of parts.\n"
    assert_fails("solution_is_code", make_row("code_generation", language, solution=solution))


@pytest.mark.parametrize("language, tail", [
    ("javascript", "Output: 3"),  # a valid JavaScript label
    ("go", "Output: 3"),  # a valid Go label
    ("ruby", "Example usage:\nputs count_words('a b')"),  # valid Ruby
    ("java", "Time complexity: O(n)."),
])
def test_solution_is_code_rejects_chat_headings_after_the_code(language, tail):
    row = make_row("code_generation", language, solution=COUNT_WORDS[language] + "\n" + tail)
    assert_fails("solution_is_code", row, "prose outside the code")


@pytest.mark.parametrize("language", MAIN_LANGUAGES)
def test_solution_is_code_takes_off_one_surrounding_fence(language):
    row = make_row("code_generation", language, solution=f"```{language}\n{COUNT_WORDS[language]}```")
    assert_passes("solution_is_code", row)


@pytest.mark.parametrize("language, solution", [
    ("python", "def count_words(sentence):\n    return len(sentence.split()\n"),  # unclosed paren
    ("java", "public static int countWords(String s) {\n    return s.split(\" \").length\n"),
    ("javascript", "function countWords(s) {\n  return s.split(' ').length +;\n}"),
    ("go", "func CountWords(s string) int {\n\treturn len(strings.Fields(s)\n}"),
    ("python", ""),
])
def test_solution_is_code_rejects_code_that_does_not_parse(language, solution):
    assert_fails("solution_is_code", make_row("code_generation", language, solution=solution))


def test_solution_is_code_keeps_prose_inside_comments_and_strings():
    for language in MAIN_LANGUAGES:
        note = comment(language, "This works by splitting the sentence on whitespace and counting the parts.")
        assert_passes("solution_is_code", make_row("code_generation", language,
                                                   solution=note + "\n" + COUNT_WORDS[language]))
    go = 'func Greet() string {\n\treturn "This is the greeting that the function returns to the caller."\n}'
    assert_passes("solution_is_code", make_row("code_generation", "go", solution=go))


@pytest.mark.parametrize("language", MAIN_LANGUAGES)
def test_summary_is_prose_rejects_a_summary_that_is_code(language):
    row = make_row("code_summarization", language, solution=COUNT_WORDS[language])
    assert_fails("summary_is_prose", row)
    fenced = make_row("code_summarization", language, solution=f"```\n{COUNT_WORDS[language]}```")
    assert_fails("summary_is_prose", fenced, "code block")


@pytest.mark.parametrize("solution", [
    "return len(sentence.split())",
    "words = sentence.split()\ncount = len(words)\nreturn count",
    "The function counts words:\nwords = sentence.split()\ncount = len(words)\nreturn count",
])
def test_summary_is_prose_rejects_code_lines(solution):
    assert_fails("summary_is_prose", make_row("code_summarization", "python", solution=solution), "look like code")


@pytest.mark.parametrize("solution", [
    "Counts the words in `sentence` by splitting it on whitespace; an empty sentence has 0 words.",
    "This function returns the number of words in a sentence.\nIt returns 0 for None or a blank string.",
    "Splits the input with str.split() and returns len() of the result, i.e. the word count.",
    # one long line with an arrow in it: its function words, counted with repeats, are what makes it English
    "It turns a half-open, 0-based line range [start, stop) into the 1-based 'ed'-style string used in context diffs. "
    "A one-line range gives just that line number, a longer range gives 'first,last' (e.g. (2, 5) -> '3,5'), and an "
    "empty range gives the number of the line just before it (e.g. (4, 4) -> '4').",
])
def test_summary_is_prose_accepts_summaries_that_mention_code(solution):
    assert_passes("summary_is_prose", make_row("code_summarization", "python", solution=solution))
    row = make_row("code_summarization", "python", solution=solution)
    assert verdict("solution_is_code", row).status == C.NOT_APPLICABLE


# ---------------------------------------------------------------- imports_what_it_uses

@pytest.mark.parametrize("solution, names", [
    ("def stamp(event):\n    event['at'] = fastNow()\n    return event\n", "fastNow"),
    ("def config_path(name):\n    return os.path.join(CONFIG_DIR, name)\n", "CONFIG_DIR, os"),
    ("def mean(xs):\n    return statistics.mean(xs)\n", "statistics"),
])
def test_imports_what_it_uses_finds_undefined_names_and_missing_imports(solution, names):
    row = make_row("code_generation", "python", solution=solution, tests=None)
    assert_fails("imports_what_it_uses", row, names)


def test_imports_what_it_uses_accepts_imports_builtins_and_local_definitions():
    solution = ("import os\nfrom functools import reduce\n\nCONFIG_DIR = '/etc'\n\n"
                "def config_path(*names):\n    return reduce(os.path.join, names, CONFIG_DIR)\n\n"
                "def size(xs):\n    try:\n        return len(xs)\n"
                "    except TypeError:\n        return sum(1 for _ in xs)\n")
    assert_passes("imports_what_it_uses", make_row("code_generation", "python", solution=solution,
                                                   tests="assert config_path('a') == '/etc/a'"))


def test_imports_what_it_uses_allows_the_module_names_the_input_uses_but_not_missing_module_imports():
    code = "def slugify(text):\n    return _SLUG.sub('-', text.lower()).strip('-')\n"
    fixed = "def slugify(text):\n    return _SLUG.sub('-', text.strip().lower()).strip('-')\n"
    assert_passes("imports_what_it_uses", make_row("code_repair", "python", code=code, solution=fixed, tests=None))
    assert verdict("imports_what_it_uses", make_row("code_repair", "python", code=code, solution=fixed, tests=None),
                   imports_excuse_input_context=False).status == C.FAILED
    code = "def parse(text):\n    return re.findall(r'\\d+', text)\n"
    assert_fails("imports_what_it_uses", make_row("code_repair", "python", code=code, solution=code, tests=None), "re")


def test_imports_what_it_uses_checks_the_tests_and_skips_other_languages():
    tests_call_another_name = make_row("code_generation", "python", tests="assert word_count('a b') == 2")
    assert_fails("imports_what_it_uses", tests_call_another_name, "the tests use", "word_count")
    assert verdict("imports_what_it_uses", tests_call_another_name, imports_check_tests=False).passed
    translation_to_python = make_row("code_translation", "java", target="python",
                                     solution="def count_words(s):\n    return len(re.split(r'\\s+', s.strip()))\n")
    assert_fails("imports_what_it_uses", translation_to_python, "re")
    for language in ("java", "javascript", "go"):
        assert verdict("imports_what_it_uses", make_row("code_generation", language)).status == C.NOT_APPLICABLE
    broken = make_row("code_generation", "python", solution="def f(:\n    return fastNow()")
    assert verdict("imports_what_it_uses", broken).status == C.NOT_CHECKED


# ---------------------------------------------------------------- not_needlessly_complex

CONVOLUTED = {
    "python": '''def count_words(sentence):
    count = 0
    if sentence is not None:
        if len(sentence) > 0:
            for i, ch in enumerate(sentence):
                if not ch.isspace():
                    if i == 0 or sentence[i - 1].isspace():
                        if True:
                            count += 1
    return count
''',
    "java": '''public static int countWords(String sentence) {
    int count = 0;
    if (sentence != null) {
        if (!sentence.isEmpty()) {
            for (int i = 0; i < sentence.length(); i++) {
                if (!Character.isWhitespace(sentence.charAt(i))) {
                    if (i == 0 || Character.isWhitespace(sentence.charAt(i - 1))) {
                        while (true) { count++; break; }
                    }
                }
            }
        }
    }
    return count;
}
''',
    "javascript": '''function countWords(sentence) {
  let count = 0;
  if (sentence) {
    if (sentence.length > 0) {
      for (let i = 0; i < sentence.length; i++) {
        if (sentence[i] !== " ") {
          if (i === 0 || sentence[i - 1] === " ") {
            try { count++; } catch (e) { count = 0; }
          }
        }
      }
    }
  }
  return count;
}
''',
    "go": '''func CountWords(sentence string) int {
	count := 0
	if sentence != "" {
		if len(sentence) > 0 {
			for i := 0; i < len(sentence); i++ {
				if sentence[i] != ' ' {
					if i == 0 || sentence[i-1] == ' ' {
						switch { default: count++ }
					}
				}
			}
		}
	}
	return count
}
''',
}


@pytest.mark.parametrize("language", MAIN_LANGUAGES)
def test_not_needlessly_complex_rejects_deeply_nested_code(language):
    row = make_row("code_generation", language, solution=CONVOLUTED[language])
    assert_fails("not_needlessly_complex", row, "nested 6 deep (limit 5)")
    assert verdict("not_needlessly_complex", row, max_nesting=8).passed  # thresholds are parameters


def test_not_needlessly_complex_rejects_branchy_and_bloated_code_but_allows_what_the_input_needed():
    branches = "\n".join(f"    {'if' if i == 0 else 'elif'} n == {i} or n == -{i}:\n        return '{i}'"
                         for i in range(10))
    branchy = f"def name(n):\n{branches}\n    return '?'\n"
    row = make_row("code_generation", "python", solution=branchy)
    assert_fails("not_needlessly_complex", row, "cyclomatic complexity 21")
    # the same code as the raw input: the solution needs no less than the input did
    assert_passes("not_needlessly_complex", make_row("code_translation", "python", target="python", code=branchy,
                                                      solution=branchy))
    body = "\n".join(f"    part_{i} = words[{i}:{i + 1}]" for i in range(40))
    bloated = f"def count_words(sentence):\n    words = sentence.split()\n{body}\n    return len(words)\n"
    row = make_row("code_generation", "python", solution=bloated)
    assert_fails("not_needlessly_complex", row, "lines for a 5-line input")
    chain = "".join(f"  {'if' if i == 0 else 'else if'} (s > {90 - 10 * i}) return {i};\n" for i in range(7))
    else_ifs = "function grade(s) {\n" + chain + "  return 9;\n}"  # a chain of branches, not nesting
    assert_passes("not_needlessly_complex", make_row("code_generation", "javascript", solution=else_ifs))


# ---------------------------------------------------------------- repair_changes_code

@pytest.mark.parametrize("language", MAIN_LANGUAGES + ("php", "ruby"))
def test_repair_changes_code_rejects_the_buggy_code_with_a_bug_comment_added(language):
    same = comment(language, "Bug: an empty sentence counted as one word.") + "\n" + buggy(language)
    row = make_row("code_repair", language, solution=same)
    assert_fails("repair_changes_code", row, "only comments or whitespace")
    reformatted = "\n\n".join(buggy(language).splitlines()) + "\n" + comment(language, "fixed")
    assert_fails("repair_changes_code", make_row("code_repair", language, solution=reformatted))
    assert_passes("repair_changes_code", make_row("code_repair", language))


def test_repair_changes_code_ignores_a_changed_python_docstring():
    only_doc = buggy("python").replace("Count the words", "Count the words (fixed)")
    assert_fails("repair_changes_code", make_row("code_repair", "python", solution=only_doc))
    assert verdict("repair_changes_code", make_row("code_repair", "python", information="")).status == C.NOT_CHECKED


# ---------------------------------------------------------------- translation_changes_language

def test_translation_labelled_java_that_is_python_fails():
    row = make_row("code_translation", "python", target="java", solution=COUNT_WORDS["python"])
    assert_fails("translation_changes_language", row, "does not parse as Java", "it parses as Python")
    assert_fails("solution_is_code", row, "Java")


@pytest.mark.parametrize("source, target", [
    (s, t) for s, t in itertools.permutations(MAIN_LANGUAGES + ("php", "ruby"), 2)
])
def test_translation_that_stays_in_the_source_language_fails(source, target):
    row = make_row("code_translation", source, target=target, solution=COUNT_WORDS[source])
    assert_fails("translation_changes_language", row)


@pytest.mark.parametrize("source, target, solution", [
    ("javascript", "java", "stale() {\n    return this.maxAge() <= this.age();\n}"),  # valid Java syntax, read as JS
    ("php", "javascript", "function countWords($s) {\n    return count(explode(' ', trim($s)));\n}"),  # PHP is valid JS
    ("java", "ruby", "void save() {\n    throw new UnsupportedOperationException(\"save\");\n}"),  # Java is valid Ruby
])
def test_translation_that_parses_as_both_is_told_apart(source, target, solution):
    row = make_row("code_translation", source, target=target, solution=solution)
    assert_fails("translation_changes_language", row)


# ---------------------------------------------------------------- names_agree

@pytest.mark.parametrize("text, names", [
    ("Write a Python function `reverse_words(s)` that reverses the words.", {"reverse_words"}),
    ("Write a Java class `Solution` with a method `public String flipCase(String s)`.", {"flipCase"}),
    ("Translate the following Python function into JavaScript, naming it `generateIntegers`.", {"generateIntegers"}),
    ("Write a Python function make_identity_dict(rng) that maps each element to itself.", {"make_identity_dict"}),
    ("The function toUnsignedBigInteger converts a long.", {"toUnsignedBigInteger"}),
    ("It joins them with the function `os.path.join`.", {"join"}),
    ("This function, `foo`, works as follows: it adds.", {"foo"}), ("The method: `bar(x)` returns x.", {"bar"}),
    ("The `parse_args` function reads flags.", {"parse_args"}), ("The `Parser.run` method starts it.", {"run"}),
    # English after "function": no name (reload and checks could be words of the sentence)
    ("The function reload imports a module.", set()), ("The function checks if a patch applies.", set()),
    ("Summarize what the following Java method does.", set()), ("Write a Python function that counts.", set()),
])
def test_named_functions(text, names):
    assert C.named_functions(text) == names


@pytest.mark.parametrize("language", MAIN_LANGUAGES + ("php", "ruby"))
def test_names_agree_wants_the_function_the_instruction_names_in_the_solution(language):
    name = LANGUAGE_NAMES[language]
    for spelling in ("count_words", "countWords", "CountWords"):  # a translation renames by its convention
        row = make_row("code_generation", language, instruction=f"Write a {name} function `{spelling}(sentence)`.")
        assert_passes("names_agree", row)
    other = make_row("code_translation", "python", target=language,
                     instruction=f"Translate the following Python function into {name}, naming it `median`.")
    assert_fails("names_agree", other, "names median", "none of them")
    both = make_row("code_generation", language, instruction=f"Write a {name} function `countWords` that calls "
                                                            "a function `split_words`.")
    assert_passes("names_agree", both)  # one named function is enough: an instruction may name what to call
    assert verdict("names_agree", make_row("code_generation", language)).status == C.NOT_CHECKED


@pytest.mark.parametrize("language", MAIN_LANGUAGES)
def test_names_agree_rejects_a_summary_that_names_a_function_the_code_does_not_have(language):
    ok = make_row("code_summarization", language, solution="The function `count_words` counts the words.")
    assert_passes("names_agree", ok)
    other = make_row("code_summarization", language, solution="The function `is_palindrome` checks a palindrome.")
    assert_fails("names_agree", other, "names is_palindrome", "the code does not have")
    assert verdict("names_agree", make_row("code_summarization", language)).status == C.NOT_CHECKED
    helper = make_row("code_summarization", language, solution="It first calls the helper `split_digits` on s.")
    assert_fails("names_agree", helper, "names split_digits", "the code does not have")
    plain = make_row("code_summarization", language, solution="It returns `None` or a `list` of the words.")
    assert verdict("names_agree", plain).status == C.NOT_CHECKED  # not names written like code


def test_backticked_code_names():
    assert C.backticked_code_names("calls `splitDigits`, then `os.path.join(a, b)` and `len(x)`; returns `None`, "
                                   "`x` or `max_len`") == {"splitDigits", "join", "len", "max_len"}
