"""One-bug mutations of real code, for code repair.

A 0.5B generator asked to put a bug into code and fix it mostly returned the code unchanged as both (5 of 6 Python
repairs in one run). So the bug is put in here, the way mutation testing does it: one operator or literal of the
function changed (a comparison, an arithmetic or boolean operator, an integer off by one, a boolean flipped, min for
max and the like), chosen by a seeded hash among the changes that still parse (`in` for `not in` is Python's only).
The original function is the fix, its changed line marked with a comment; the generator writes the instruction and
the tests, and the sandbox shows that the buggy code fails them and the fix passes. A change that makes no
difference (`x < lo` for `x <= lo` where both return lo) is caught there: the buggy code passes the tests too, and
`repair_fixes_bug` rejects the example. No Dagster here.
"""

from __future__ import annotations

from dataclasses import dataclass

from wavecoder_assets.codefacts import COMMENT_TYPES, STRING_TYPES, parse_snippet
from wavecoder_assets.hashing import stable_hash

OPERATOR_SWAPS = {"<": "<=", "<=": "<", ">": ">=", ">=": ">", "==": "!=", "!=": "==", "===": "!==", "!==": "===",
                  "+": "-", "-": "+", "*": "/", "//": "/", "%": "/", "and": "or", "or": "and", "&&": "||",
                  "||": "&&", "&": "|", "|": "&", "^": "&", "<<": ">>", ">>": "<<", "in": "not in", "not in": "in",
                  "is": "is not", "is not": "is"}
# Names whose twin does the opposite (or the other end): a call of one becomes a call of the other.
NAME_SWAPS = dict(pair for a, b in [("min", "max"), ("upper", "lower"), ("startswith", "endswith"), ("any", "all"),
                                    ("lstrip", "rstrip"), ("toUpperCase", "toLowerCase"), ("startsWith", "endsWith"),
                                    ("some", "every"), ("floor", "ceil"), ("trimStart", "trimEnd")]
                  for pair in ((a, b), (b, a)))
NAME_NODES = {"python": {"identifier"}, "java": {"identifier"}, "javascript": {"identifier", "property_identifier"},
              "go": {"identifier", "field_identifier"}, "php": {"name"}, "ruby": {"identifier"}}
# Node types whose anonymous operator child can be swapped, per language.
OPERATOR_NODES = {"python": {"comparison_operator", "binary_operator", "boolean_operator", "augmented_assignment"},
                  "java": {"binary_expression", "assignment_expression"},
                  "javascript": {"binary_expression", "augmented_assignment_expression"},
                  "go": {"binary_expression", "assignment_statement"},
                  "php": {"binary_expression", "augmented_assignment_expression"},
                  "ruby": {"binary", "operator_assignment"}}
INTEGER_NODES = {"python": {"integer"}, "java": {"decimal_integer_literal"}, "javascript": {"number"},
                 "go": {"int_literal"}, "php": {"integer"}, "ruby": {"integer"}}
_TRUE_FALSE = {"true": "false", "false": "true"}
BOOLEAN_SWAPS = {"python": {"True": "False", "False": "True"}, "java": _TRUE_FALSE, "javascript": _TRUE_FALSE,
                 "go": _TRUE_FALSE, "php": _TRUE_FALSE, "ruby": _TRUE_FALSE}
COMMENT_PREFIX = {"python": "#", "java": "//", "javascript": "//", "go": "//", "php": "//", "ruby": "#"}
# Augmented assignments keep their "=": `+=` becomes `-=`.
_AUGMENTED = {"+=": "-=", "-=": "+=", "*=": "/=", "/=": "*=", "//=": "/=", "%=": "/=", "&=": "|=", "|=": "&="}


@dataclass(frozen=True)
class InjectedBug:
    buggy: str  # the code with one change
    fixed: str  # the original code, the changed line marked with a comment
    was: str  # the original token
    became: str  # what the bug put in its place
    line: int  # 1-based line of the change


def _mutation_points(code: str, language: str) -> list[tuple[int, int, str, str]]:
    """(start byte, end byte, original token, replacement) in the code's UTF-8 bytes, for every change one bug
    could be."""
    snippet = parse_snippet(code, language)  # Java methods are parsed inside a class
    points, stack = [], [snippet.tree.root_node]
    while stack:
        node = stack.pop()
        if node.type in STRING_TYPES or node.type in COMMENT_TYPES or node.type.endswith("comment"):
            continue
        stack.extend(node.children)
        if not snippet.start <= node.start_byte < snippet.end:
            continue
        text = node.text.decode("utf-8", "replace")
        parent = node.parent
        where = (node.start_byte - snippet.start, node.end_byte - snippet.start)
        if not node.is_named and parent is not None and parent.type in OPERATOR_NODES[language]:
            swap = OPERATOR_SWAPS.get(text) or _AUGMENTED.get(text)
            if swap:
                points.append((*where, text, swap))
        elif node.type in INTEGER_NODES[language] and text.isdigit():
            points.append((*where, text, str(int(text) + 1)))
        elif node.type in NAME_NODES[language] and text in NAME_SWAPS:
            points.append((*where, text, NAME_SWAPS[text]))
        elif node.child_count == 0 and text in BOOLEAN_SWAPS[language]:
            points.append((*where, text, BOOLEAN_SWAPS[language][text]))
    return sorted(points)


def _parses(code: str, language: str) -> bool:
    snippet = parse_snippet(code, language)
    return snippet.parses(0.0)


def inject_bug(code: str, language: str, key: str, seed: int = 0) -> InjectedBug | None:
    """One seeded mutation of the function whose result still parses, or None when it has nothing to change
    (or the language has no mutation rules here)."""
    if language not in OPERATOR_NODES or not _parses(code, language):
        return None
    points = _mutation_points(code, language)
    data = code.encode("utf-8")
    start = stable_hash(seed, "bug", key) % len(points) if points else 0
    for start_byte, end_byte, was, became in points[start:] + points[:start]:
        buggy = (data[:start_byte] + became.encode() + data[end_byte:]).decode("utf-8")
        if not _parses(buggy, language):
            continue
        line = data[:start_byte].count(b"\n")
        lines = code.splitlines()
        marked = lines[:line] + [f'{lines[line]}  {COMMENT_PREFIX[language]} fixed: "{was}", not "{became}"'] + \
            lines[line + 1:]
        fixed = "\n".join(marked)
        if not _parses(fixed, language):  # a line that goes on (a string, a backslash): no comment fits
            fixed = code
        return InjectedBug(buggy=buggy, fixed=fixed, was=was, became=became, line=line + 1)
    return None
