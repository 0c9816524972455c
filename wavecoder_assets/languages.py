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


def node_text(node: ts.Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None else ""


def parameter_names(code: str, language: str, name: str | None) -> list[str] | None:
    """The parameter names of function `name` in `code` (tree-sitter), or None where they cannot be read: no such
    function, or parameters a list of arguments cannot fill by name (*args, **kwargs, rest, destructuring)."""
    if name is None:
        return None
    root = parse((code or "").encode("utf-8", "surrogatepass"), language).root_node
    for node in descendants(root):
        named = node_text(node.child_by_field_name("name")) == name
        if language == "python" and node.type == "function_definition" and named:
            return _names(node.child_by_field_name("parameters"), {"identifier"}, {
                "typed_parameter": None, "default_parameter": "name", "typed_default_parameter": "name"}, "self")
        if language == "java" and node.type == "method_declaration" and named:
            return _names(node.child_by_field_name("parameters"), set(), {"formal_parameter": "name"})
        if language == "javascript" and named and node.type in ("function_declaration", "variable_declarator",
                                                                "method_definition", "pair"):
            function = node if node.type in ("function_declaration", "method_definition") else \
                node.child_by_field_name("value")
            if function is None:
                continue
            if (single := function.child_by_field_name("parameter")) is not None:  # x => ...
                return [node_text(single)]
            if (listed := function.child_by_field_name("parameters")) is not None:
                return _names(listed, {"identifier"}, {"assignment_pattern": "left"})
    return None


def _names(parameters, plain: set[str], wrapped: dict[str, str | None], skip: str | None = None) -> list[str] | None:
    """Parameter names from a parameter-list node: `plain` node types are the name; `wrapped` ones hold it in a
    field (None: their first identifier child); anything else (a splat, a pattern) makes the list unreadable."""
    if parameters is None:
        return None
    names = []
    for child in parameters.named_children:
        if child.type == "comment":
            continue
        if child.type in plain:
            names.append(node_text(child))
        elif child.type in wrapped:
            field = wrapped[child.type]
            inner = child.child_by_field_name(field) if field else \
                next((c for c in child.named_children if c.type == "identifier"), None)
            if inner is None or inner.type != "identifier":
                return None
            names.append(node_text(inner))
        else:
            return None
    return [n for n in names if n != skip]
