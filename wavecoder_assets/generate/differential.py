"""Differential testing: a code row runs beside its source, on the same inputs (one whose tests passed too: tests
the generator wrote can agree with a solution to other code).

A generation's instruction was written from its source function, and a translation must do what its source does,
so the source is a reference that needs no expected values: the judge model only writes inputs (the arguments by
name, no results, which a small model gets wrong), both functions run on them in the sandbox, and their results
are compared. Another function renamed to the asked name, a changed constant or condition, a bug left in,
all show as a different result on some input, where the judge reading the code said "yes" to half of them.
Inputs the source itself rejects (it raises) are out of its domain and dropped. One different result rejects the
row; agreeing, it passes only on inputs that tell: at least MIN_INPUTS, and at least 2 of them answered other than
with the source's most common result (five fraction pairs of which one has a whole product, all `false` but one,
told a fraction check from a substring check no better than a coin); else the rule stays "n/a" and the contrastive
and judge rules decide the row. Python, JavaScript and Java run here (Java
arguments are built from the method's declared parameter types). No Dagster here.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections import Counter
from dataclasses import dataclass

from wavecoder_assets.generate.contrastive import defined_name
from wavecoder_assets.generate.execution import run_program, toolchain_missing
from wavecoder_assets.generate.tasks import solution_language, strip_fence
from wavecoder_assets.languages import LANGUAGE_NAMES, descendants, node_text, parameter_names, parse
from wavecoder_assets.llm import ChatRequest

RULE = "behaves_like_source"
RULE_TEXT = ("A generation or translation gives the same results as its source function on inputs the judge wrote "
             "(the source's results are the expected values).")
TASKS = ("code_generation", "code_translation")
LANGUAGES = ("python", "javascript", "java")
INPUTS_ASKED = 6
MIN_INPUTS = 3  # inputs the source returned on, for a "yes"
VARIANTS = 12  # boundary variants of the judge's inputs run beside them (boundary_variants)
MARK = "@@wavecoder-result@@"  # prefixes each result line: the functions may print too


def applies(row: dict) -> bool:
    """A generation or translation whose source and solution languages can run here."""
    target = solution_language(row["task_name"], row["language"], row.get("target_language"))
    return (row["task_name"] in TASKS and row["language"] in LANGUAGES and target in LANGUAGES
            and toolchain_missing(row["language"]) is None and toolchain_missing(target) is None)


def source_name(row: dict) -> str | None:
    """The name of the row's source function (its first)."""
    return defined_name(strip_fence((row["code"] or "").strip()), row["language"])


def inputs_request(row: dict, *, key: str, seed: int, max_tokens: int = 384) -> ChatRequest | None:
    """Ask for inputs to the row's source function, each a JSON object of its arguments by name (asked for as a
    list of arguments, the 1.5B judge wrote a list argument's items as the arguments); None when the source's
    parameters cannot be read (no such function, *args, destructuring)."""
    language, code, name = row["language"], strip_fence((row["code"] or "").strip()), source_name(row)
    names = parameter_names(code, language, name)
    if not names:
        return None
    shown = ", ".join(f'"{n}": ...' for n in names)
    user = (f"```{'js' if language == 'javascript' else language}\n{code}\n```\n\n"
            f"Write {INPUTS_ASKED} different inputs to call `{name}` with: typical cases and the edge cases it is "
            "meant to handle. Each input is a JSON object of the arguments by name (lists as JSON arrays, strings "
            f'in double quotes). Answer in JSON: {{"inputs": [{{{shown}}}, ...]}}.')
    # Any JSON value; an empty schema {} would be an object in llama.cpp's grammar (the judge then nested every
    # argument in one: {"n": {"value": 1}}).
    value = {"type": ["number", "string", "boolean", "array", "null", "object"]}
    argument = {"type": "object", "properties": {n: value for n in names}, "required": names,
                "additionalProperties": False}
    schema = {"type": "object", "properties": {"inputs": {"type": "array", "items": argument, "minItems": MIN_INPUTS,
                                                          "maxItems": INPUTS_ASKED}},
              "required": ["inputs"]}
    return ChatRequest(key=key, messages=[
        {"role": "system", "content": f"You write test inputs for {LANGUAGE_NAMES[language]} functions."},
        {"role": "user", "content": user}], temperature=0.0, max_tokens=max_tokens, seed=seed,
        response_format={"type": "json_object", "schema": schema})


def parse_inputs(text: str, names: list[str]) -> list[list]:
    """The distinct argument lists (in the parameters' order) of the judge's answer, up to where an answer cut by
    the token limit breaks off; ValueError when it holds none with every parameter."""
    out: list[list] = []
    for arguments in _complete_items(text):
        if isinstance(arguments, dict) and set(names) <= set(arguments):
            args = [arguments[n] for n in names]
            if args not in out:
                out.append(args)
    if not out:
        raise ValueError(f"no inputs with every argument in {text[:100]!r}")
    return out


_BETWEEN_ITEMS = re.compile(r"[\s,]*")


def _complete_items(text: str) -> list:
    """The items of the answer's "inputs" array that are whole JSON values."""
    text = text or ""
    try:
        inputs = json.loads(text, strict=False).get("inputs")
        return inputs if isinstance(inputs, list) else []
    except (ValueError, AttributeError):
        pass
    opening = re.search(r'"inputs"\s*:\s*\[', text)
    items, at, decoder = [], opening.end() if opening else len(text), json.JSONDecoder(strict=False)
    while at < len(text):
        try:
            item, at = decoder.raw_decode(text, _BETWEEN_ITEMS.match(text, at).end())
        except ValueError:
            break
        items.append(item)
    return items


def boundary_variants(inputs: list[list], limit: int = VARIANTS) -> list[list]:
    """Inputs the judge did not write: one of its inputs with one argument set to a boundary value of that
    argument's JSON type (type-aware input mutation, as EvalPlus does), new ones only, at most `limit`, the kinds of
    edge in turn (`_boundaries`), each kind over the inputs and their arguments. A small judge writes inputs alike
    (six calls to hls_to_rgb, all with l = 0.5; six suffix replacements, none with an empty suffix), and bugs sit at
    the boundaries: an empty string, a value equal to another argument (a number the size of the radix), 0 or 1 on
    either side of a condition."""
    # The judge's inputs mark a number's domain: 0 or -1 only for a parameter the judge gave that low a value
    # (HumanEvalPack's translations of starts_one_ends(n), "n positive", differ at n = 0).
    lowest = [min((a[p] for a in inputs if _is_number(a[p])), default=0) for p in range(len(inputs[0]))]
    by_kind: list[list[list]] = [[] for _ in range(4)]
    for args in inputs:
        for p, arg in enumerate(args):
            for kind, edges in enumerate(_boundaries(arg, args[:p] + args[p + 1:])):
                by_kind[kind] += [args[:p] + [edge] + args[p + 1:] for edge in edges
                                  if edge != arg and not (_is_number(edge) and lowest[p] > edge <= 0)]
    out: list[list] = []
    for variant in _interleaved(by_kind):
        if len(out) == limit:
            break
        if variant not in inputs and variant not in out:
            out.append(variant)
    return out


def _boundaries(value, others: list) -> list[list]:
    """Boundary values of `value`'s JSON type, by kind: the type's empty or zero value (or the other boolean);
    another argument's value of the same type (small numbers only: a loop bound set to a large one would time
    out); 1, a string's first character, a list's first item alone; -1."""
    if isinstance(value, bool):
        return [[not value], [], [], []]
    if isinstance(value, int | float):
        kind = type(value)
        return [[kind(0)], [o for o in others if type(o) is kind and abs(o) <= 1000], [kind(1)], [kind(-1)]]
    if isinstance(value, str):
        return [[""], [o for o in others if isinstance(o, str)], [value[:1]], []]
    if isinstance(value, list):
        return [[[]], [], [value[:1]], []]
    return [[], [], [], []]


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _interleaved(lists: list[list]) -> list:
    """The lists' items taken in turn: the first of each, then the second of each, ..."""
    return [items[level] for level in range(max(map(len, lists), default=0)) for items in lists if level < len(items)]


# ---------------------------------------------------------------- running a function on the inputs

@dataclass(frozen=True)
class Results:
    """Per input: {"ok": result as JSON} or {"raised": exception name}, None where no result came (the program
    stopped); or, when the program did not run at all, why (`error`)."""
    results: list[dict | None]
    error: str | None = None


def results(language: str, code: str, name: str | None, inputs: list[list], *, timeout_s: float) -> Results:
    """Run `name` of `code` on each input, in one sandboxed program, results printed as JSON lines."""
    code = strip_fence((code or "").strip())
    if name is None:
        return Results([], "has no function to call")
    order = list(range(len(inputs)))
    if language == "java":
        calls = _java_calls(code, name, inputs)
        if isinstance(calls, str):
            return Results([], calls)
        harness, order = calls
        if "import java.util.*;" not in code:  # the harness's types, and the lists its arguments are built as
            code = "import java.util.*;\n" + code
    elif language == "javascript":
        harness = _JS_CALLS.replace("MARK", json.dumps(MARK)).replace("NAME", name).replace("INPUTS", json.dumps(inputs))
    else:
        harness = _PY_CALLS.replace("MARK", repr(MARK)).replace("NAME", name).replace("INPUTS", repr(json.dumps(inputs)))
    run, _, _ = run_program(language, code, harness, timeout_s=timeout_s)
    lines = [line[len(MARK):] for line in run.stdout.splitlines() if line.startswith(MARK)]
    if not lines and run.status != "passed":
        tail = (run.stderr or run.reason or run.status).strip().splitlines()
        return Results([], f"did not run: {tail[-1][:200] if tail else run.status}")
    out: list[dict | None] = [None] * len(inputs)
    for i in set(range(len(inputs))) - set(order):
        out[i] = {"raised": "the input does not fit its parameter types"}
    for i, line in zip(order, lines):
        try:
            out[i] = json.loads(line)
        except ValueError:
            out[i] = {"raised": "unreadable result"}
    return Results(out)


def results_with_variants(language: str, code: str, name: str | None, inputs: list[list], variants: list[list], *,
                          timeout_s: float) -> Results:
    """`results` on the judge's inputs, then on the variants in a program of their own, one list: a variant that
    hangs or crashes the program costs only the variants' results (None), never the judge's inputs'."""
    judged = results(language, code, name, inputs, timeout_s=timeout_s)
    if judged.error or not variants:
        return Results(judged.results + [None] * len(variants), judged.error)
    extra = results(language, code, name, variants, timeout_s=timeout_s)
    return Results(judged.results + (extra.results if not extra.error else [None] * len(variants)))


def defined_names(code: str, language: str) -> list[str]:
    """The functions (Java: methods) the code declares, in order."""
    code = strip_fence((code or "").strip())
    if language == "python":
        try:
            return [n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        except SyntaxError:  # it still runs, to fail with the interpreter's message
            return [defined_name(code, language)] if defined_name(code, language) else []
    if language == "java":
        return [node_text(n.child_by_field_name("name")) for n in descendants(parse(code.encode(), "java").root_node)
                if n.type == "method_declaration"]
    first = defined_name(code, language)
    return [first] if first else []


def callee(code: str, language: str, wanted: str | None) -> str | None:
    """The function of `code` to call for `wanted` (the source's name): that name, or the same up to case and
    underscores (a translation's naming convention), or the code's only function."""
    names = defined_names(code, language)
    if wanted in names:
        return wanted
    plain = lambda name: name.replace("_", "").lower()
    same = [n for n in names if wanted and plain(n) == plain(wanted)]
    return same[0] if same else (names[0] if len(set(names)) == 1 else None)


def verdict(inputs: list[list], source: Results, solution: Results, source_name: str, variants: int = 0) -> dict:
    """behaves_like_source's verdict: "no" when the solution's result differs from the source's on an input the
    source returned on (the first such input is named); "yes" when they agree on inputs that tell (`_telling`);
    else "n/a". The last `variants` inputs are boundary variants of the judge's (`boundary_variants`): they can
    show a difference, but whether agreement tells is judged on the judge's inputs alone."""
    if source.error:
        return {"answer": "n/a", "reason": f"not decided: the source {source.error}"}
    compared = _returned(source)
    if not compared:
        return {"answer": "n/a", "reason": f"not decided: the source returned on none of the {len(inputs)} inputs"}
    if solution.error:
        return {"answer": "no", "reason": f"the solution {solution.error}"}
    # A variant may lie outside the function's domain: only two returned values that differ count there, neither
    # holding NaN, infinity or null (JavaScript answers `compare([], [5])` with NaN where Python raises).
    first_variant = len(inputs) - variants
    differ = [i for i in compared if not _same(source.results[i], solution.results[i])
              and (i < first_variant or "ok" in (solution.results[i] or {}) and _in_domain(source.results[i]["ok"])
                   and _in_domain(solution.results[i]["ok"]))]
    if differ:
        i = differ[0]
        call = f"{source_name}({json.dumps(inputs[i])[1:-1]})"[:200]
        got = solution.results[i]
        shown = "no result (the program stopped)" if got is None else \
            f"raised {got['raised']}" if "raised" in got else json.dumps(got["ok"])[:100]
        return {"answer": "no", "reason": f"{len(differ)} of {len(compared)} inputs differ: {call} gives {shown}, "
                                          f"the source {json.dumps(source.results[i]['ok'])[:100]}"}
    # variants can only show a difference: agreeing on an empty string or on two equal arguments tells little
    judged = [i for i in compared if i < first_variant]
    if not _telling(source, judged):
        return {"answer": "n/a", "reason": f"not decided: the same results on {len(judged)} inputs, too few or "
                                           f"all but {_off_majority(source, judged)} of them one answer"
                                           + (f" (and on {len(compared) - len(judged)} boundary variants)"
                                              if variants else "")}
    return {"answer": "yes", "reason": f"the same results as the source on {len(judged)} inputs "
                                       f"({_off_majority(source, judged)} off its most common result)"
                                       + (f" and on {len(compared) - len(judged)} boundary variants of them"
                                          if variants else "")}


def _in_domain(value) -> bool:
    """No NaN, infinity or null anywhere in a result (as the harnesses write them)."""
    if isinstance(value, list):
        return all(map(_in_domain, value))
    if isinstance(value, dict):
        return all(map(_in_domain, value.values()))
    return value is not None and value not in ("NaN", "Infinity", "-Infinity")


def _returned(source: Results) -> list[int]:
    """The inputs the source returned a result on (the ones compared)."""
    return [i for i, r in enumerate(source.results) if r is not None and "ok" in r]


def _off_majority(source: Results, compared: list[int]) -> int:
    """How many of the compared inputs the source answers other than with its most common result."""
    counts = Counter(json.dumps(source.results[i]["ok"], sort_keys=True) for i in compared)
    return len(compared) - max(counts.values(), default=0)


def _telling(source: Results, compared: list[int]) -> bool:
    """Whether agreeing on these inputs says something: at least MIN_INPUTS of them, and at least 2 answered other
    than with the source's most common result (inputs that all get `false` but one tell a fraction check from a
    substring check no better than a coin: one such row passed that way)."""
    return len(compared) >= MIN_INPUTS and _off_majority(source, compared) >= 2


SUMMARY_RULE = "summary_reproduces_code"
SUMMARY_RULE_TEXT = ("A summary: a function the judge writes from the summary alone (given the signature) gives the "
                     "summarized function's results on most inputs the judge wrote for it.")


def applies_to_summary(row: dict) -> bool:
    """A summary of a function in a language that runs here."""
    return row["task_name"] == "code_summarization" and row["language"] in LANGUAGES \
        and toolchain_missing(row["language"]) is None


def signature(code: str, language: str, name: str) -> str:
    """The declaration of `name` up to its parameter list's close (`def f(a, b)`, `public int f(List<Integer> a)`)."""
    found = re.search(rf"^[^\n]*?\b{re.escape(name)}\b[^)]*\)", code, re.MULTILINE)
    return found.group(0).strip() if found else name


def rewrite_request(row: dict, *, key: str, seed: int, max_tokens: int = 512) -> ChatRequest | None:
    """Ask for the function the summary describes, written from the summary and the signature alone; None when
    the source's parameters cannot be filled by name (no inputs could be asked for either)."""
    language, code, name = row["language"], strip_fence((row["code"] or "").strip()), source_name(row)
    if not parameter_names(code, language, name):
        return None
    user = (f"Write the {LANGUAGE_NAMES[language]} function `{signature(code, language, name)}` that does what this "
            f"description says:\n\n{(row['solution'] or '').strip()}\n\nAnswer with only the code, in one fenced "
            "block.")
    return ChatRequest(key=key, messages=[{"role": "system", "content": "You write code from descriptions."},
                                          {"role": "user", "content": user}],
                       temperature=0.0, max_tokens=max_tokens, seed=seed)


def written_code(answer: str) -> str:
    """The code of a rewrite answer: its first fenced block, or the whole answer when it has none."""
    block = re.search(r"```[\w+#-]*[ \t]*\n(.*?)```", answer or "", re.DOTALL)
    return block.group(1) if block else answer or ""


def summary_verdict(inputs: list[list], source: Results, rewritten: Results, share: float) -> dict:
    """summary_reproduces_code's verdict: "yes" when the function written from the summary gives the source's result
    on at least `share` of the inputs the source returned on, "no" below that; "n/a" on inputs that do not tell
    (`_telling`), or when the written function did not run or failed on every input (the small judge's slip, not
    the summary's)."""
    compared = [] if source.error else _returned(source)
    if not _telling(source, compared):
        return {"answer": "n/a", "reason": f"not decided: the source returned on {len(compared)} inputs, all but "
                                           f"{_off_majority(source, compared)} of them one answer"}
    if rewritten.error:
        return {"answer": "n/a", "reason": f"not decided: the code written from the summary {rewritten.error}"}
    if not any(rewritten.results[i] and "ok" in rewritten.results[i] for i in compared):
        raised = sorted({(rewritten.results[i] or {}).get("raised", "no result") for i in compared})
        return {"answer": "n/a", "reason": "not decided: the code written from the summary failed on every input "
                                           f"({', '.join(raised)[:200]})"}
    agree = [i for i in compared if _same(source.results[i], rewritten.results[i])]
    head = f"code written from the summary gives the source's results on {len(agree)} of {len(compared)} inputs"
    if len(agree) >= share * len(compared):
        return {"answer": "yes", "reason": head}
    return {"answer": "no", "reason": head}


def _same(expected: dict, got: dict | None) -> bool:
    return got is not None and "ok" in got and _equal(expected["ok"], got["ok"])


def _equal(a, b) -> bool:
    """JSON values equal, numbers up to float rounding (2 == 2.0: JavaScript has one number type)."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if number(a) and number(b):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


# Results as JSON the three languages write alike: tuples and arrays as lists, sets sorted, map keys as strings,
# non-finite numbers as strings; each input gets fresh arguments (a function may change its list in place).
_PY_CALLS = '''
import json as _wavecoder_json
def _wavecoder_plain(v):
    if isinstance(v, (set, frozenset)):
        return sorted((_wavecoder_plain(x) for x in v), key=repr)
    if isinstance(v, (list, tuple)) or hasattr(v, "__next__"):
        return [_wavecoder_plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _wavecoder_plain(x) for k, x in v.items()}
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v).replace("inf", "Infinity").replace("nan", "NaN")
    return v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)
for _wavecoder_args in _wavecoder_json.loads(INPUTS):
    try:
        _wavecoder_result = {"ok": _wavecoder_plain(NAME(*_wavecoder_args))}
    except BaseException as _wavecoder_error:
        _wavecoder_result = {"raised": type(_wavecoder_error).__name__}
    print(MARK + _wavecoder_json.dumps(_wavecoder_result), flush=True)
'''

_JS_CALLS = '''
{
const wavecoderPlain = (v) => {
  if (v === undefined) return null;
  if (v instanceof Set) return [...v].map(wavecoderPlain).sort();
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), wavecoderPlain(x)]));
  if (Array.isArray(v)) return v.map(wavecoderPlain);
  if (typeof v === "number" && !Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
  if (typeof v === "bigint") return Number(v);
  if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, wavecoderPlain(x)]));
  return v;
};
for (const wavecoderArgs of INPUTS) {
  let wavecoderResult;
  try { wavecoderResult = {ok: wavecoderPlain(NAME(...wavecoderArgs))}; } catch (error) { wavecoderResult = {raised: (error && error.name) || "Error"}; }
  console.log(MARK + JSON.stringify(wavecoderResult));
}
}
'''

_JAVA_JSON = r'''
class WavecoderJson {
    static String of(Object v) {
        if (v == null) return "null";
        if (v instanceof Optional<?> o) return o.isPresent() ? of(o.get()) : "null";
        if (v instanceof String || v instanceof Character) return quote(String.valueOf(v));
        if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            return Double.isNaN(d) ? "\"NaN\"" : Double.isInfinite(d) ? (d > 0 ? "\"Infinity\"" : "\"-Infinity\"") : Double.toString(d);
        }
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        if (v instanceof Map<?, ?> m) {
            StringBuilder s = new StringBuilder("{");
            for (Map.Entry<?, ?> e : m.entrySet()) s.append(s.length() > 1 ? "," : "").append(quote(String.valueOf(e.getKey()))).append(":").append(of(e.getValue()));
            return s.append("}").toString();
        }
        if (v instanceof Collection<?> c) return list(c.toArray());
        if (v.getClass().isArray()) {
            Object[] items = new Object[java.lang.reflect.Array.getLength(v)];
            for (int i = 0; i < items.length; i++) items[i] = java.lang.reflect.Array.get(v, i);
            return list(items);
        }
        return quote(v.toString());
    }
    static String list(Object[] items) {
        StringBuilder s = new StringBuilder("[");
        for (int i = 0; i < items.length; i++) s.append(i > 0 ? "," : "").append(of(items[i]));
        return s.append("]").toString();
    }
    static String quote(String s) {
        StringBuilder q = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') q.append('\\').append(c);
            else if (c < 0x20) q.append(String.format("\\u%04x", (int) c));
            else q.append(c);
        }
        return q.append("\"").toString();
    }
}
'''


def _java_calls(code: str, name: str, inputs: list[list]) -> tuple[str, list[int]] | str:
    """(a Main class calling `name` on each input that fits its parameter types, and the JSON writer; the inputs'
    indices in the order they are called), or why there is nothing to run."""
    root = parse(code.encode("utf-8", "surrogatepass"), "java").root_node
    method = next((n for n in descendants(root) if n.type == "method_declaration"
                   and node_text(n.child_by_field_name("name")) == name), None)
    if method is None:
        return f"has no method {name}"
    if node_text(method.child_by_field_name("type")) == "void":
        return "is a void method: no result to compare"
    parameters = method.child_by_field_name("parameters")
    if any(p.type == "spread_parameter" for p in parameters.children):
        return "takes varargs (not supported)"
    types = [node_text(p.child_by_field_name("type")) for p in parameters.children if p.type == "formal_parameter"]
    owner = method.parent.parent if method.parent is not None and method.parent.type == "class_body" else None
    static = any(m.type == "static" for c in method.children if c.type == "modifiers" for m in c.children)
    target = "" if owner is None else f"{node_text(owner.child_by_field_name('name'))}." if static else \
        f"new {node_text(owner.child_by_field_name('name'))}()."
    calls, runnable = [], []
    for i, args in enumerate(inputs):
        try:
            if len(args) != len(types):
                raise ValueError("arity")
            literals = [_java_literal(value, kind) for value, kind in zip(args, types)]
        except ValueError:
            continue
        runnable.append(i)
        calls.append(f'        try {{ System.out.println({json.dumps(MARK)} + "{{\\"ok\\":" + WavecoderJson.of('
                     f'{target}{name}({", ".join(literals)})) + "}}"); }} catch (Throwable e) {{ System.out.println('
                     f'{json.dumps(MARK)} + "{{\\"raised\\":\\"" + e.getClass().getSimpleName() + "\\"}}"); }}')
    if not runnable:
        return "fits none of the inputs (its parameter types: " + ", ".join(types) + ")"
    main = "class Main {\n    public static void main(String[] args) {\n" + "\n".join(calls) + "\n    }\n}\n"
    return main + _JAVA_JSON, runnable


_JAVA_BOXED = {"int": "Integer", "long": "Long", "short": "Short", "byte": "Byte", "double": "Double",
               "float": "Float", "boolean": "Boolean", "char": "Character"}


def _java_literal(value, kind: str) -> str:
    """A Java expression of type `kind` for a JSON value; ValueError when it does not fit."""
    kind = re.sub(r"^final\s+", "", kind.strip())
    boxed = {v: k for k, v in _JAVA_BOXED.items()}
    primitive = boxed.get(kind, kind)
    if value is None and kind not in _JAVA_BOXED:
        if kind.startswith("Optional<"):
            return "Optional.empty()"
        raise ValueError("null")
    if primitive in ("int", "long", "short", "byte"):
        if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
            raise ValueError(kind)
        if primitive == "int" and not -2**31 <= value < 2**31:
            raise ValueError(kind)
        return f"{value}L" if primitive == "long" else f"({primitive}) {value}" if primitive in ("short", "byte") \
            else str(value)
    if primitive in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(kind)
        return f"{float(value)!r}" + ("f" if primitive == "float" else "")
    if primitive == "boolean":
        if not isinstance(value, bool):
            raise ValueError(kind)
        return "true" if value else "false"
    if primitive == "char":
        if not isinstance(value, str) or len(value) != 1:
            raise ValueError(kind)
        return "'" + _java_escaped(value, "'") + "'"
    if kind in ("String", "CharSequence"):
        if not isinstance(value, str):
            raise ValueError(kind)
        return '"' + _java_escaped(value, '"') + '"'
    if kind.endswith("[]"):
        element = kind[:-2].strip()
        if not isinstance(value, list):
            raise ValueError(kind)
        return f"new {kind}{{{', '.join(_java_literal(v, element) for v in value)}}}"
    generic = re.fullmatch(r"(\w+)\s*<(.+)>", kind)
    if generic and generic.group(1) in ("List", "ArrayList", "Collection", "Iterable", "LinkedList"):
        element = generic.group(2).strip()
        if not isinstance(value, list) or (element not in {*_JAVA_BOXED.values(), "String"} and "<" not in element):
            raise ValueError(kind)
        items = ", ".join(_java_literal(v, element) for v in value)
        return f"new ArrayList<{element}>(Arrays.<{element}>asList({items}))"
    if generic and generic.group(1) == "Optional":
        return f"Optional.of({_java_literal(value, generic.group(2).strip())})"
    raise ValueError(f"unsupported parameter type {kind}")


def _java_escaped(text: str, quote: str) -> str:
    # Java reads \\uXXXX escapes before it lexes (a \\u000a ends the line): control characters go as octal escapes.
    out = []
    for ch in text:
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20:
            out.append(f"\\{ord(ch):03o}")
        else:
            out.append(ch)
    return "".join(out)
