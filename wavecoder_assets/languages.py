"""The six CodeSearchNet languages, their display names, and their tree-sitter grammars: one source of truth
for every stage (the corpus harvest, the generation tasks, the discriminator's code checks), and what a Python
docstring is in their trees."""

from __future__ import annotations

import re
from functools import cache

import tree_sitter as ts

LANGUAGES = ("python", "java", "javascript", "go", "php", "ruby")
LANGUAGE_NAMES = {"python": "Python", "java": "Java", "javascript": "JavaScript", "go": "Go", "php": "PHP",
                  "ruby": "Ruby"}


@cache
def tree_sitter_language(language: str) -> ts.Language:
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

        return ts.Language(m.language_php())  # PHP mixed with HTML, as real .php files are
    else:
        raise ValueError(f"unknown language {language!r}; known: {LANGUAGES}")
    return ts.Language(m.language())


def parse(source: bytes | str, language: str) -> ts.Tree:
    """A tree-sitter tree of `source` (a fresh parser each call: parsers are not thread-safe)."""
    if isinstance(source, str):
        source = source.encode("utf-8", "surrogatepass")
    return ts.Parser(tree_sitter_language(language)).parse(source)


def descendants(node: ts.Node) -> list[ts.Node]:
    """`node` and every node below it, parents before their children."""
    found, stack = [], [node]
    while stack:
        current = stack.pop()
        found.append(current)
        stack.extend(reversed(current.children))
    return found


# A str literal's prefix: an f-string or a bytes literal is no docstring (Python 2's `ur"..."` is).
_STR_LITERAL = re.compile(rb"[rRuU]*['\"]")


def python_docstring(fn: ts.Node) -> ts.Node | None:
    """The statement holding a Python function's docstring, as `ast.get_docstring` finds it: the body's first
    statement (comments do not count) when it is a str literal, implicit concatenations included."""
    body = fn.child_by_field_name("body")
    first = next((n for n in body.named_children if n.type != "comment"), None) if body is not None else None
    if first is None or first.type != "expression_statement" or first.named_child_count != 1:
        return None
    string = first.named_children[0]
    parts = string.named_children if string.type == "concatenated_string" else [string]
    if string.type in ("string", "concatenated_string") and all(
            part.type == "string" and _STR_LITERAL.match(part.text) for part in parts):
        return first
    return None
