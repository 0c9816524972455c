"""The six CodeSearchNet languages, their display names, and their tree-sitter grammars: one source of truth
for every stage (the corpus harvest, the generation tasks, the discriminator's code checks)."""

from __future__ import annotations

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
