"""The house rules, read from the code itself: stages free of Dagster, arrows pointing downstream, nothing read
from outside the repository, nothing outside the tests using a test module, a description for every lake column
in its table."""

from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from assets_tests.conftest import REPO_ROOT

# Plain packages and modules: usable without Dagster (the stages, and what they share).
PLAIN = ["wavecoder_assets.corpus", "wavecoder_assets.embed", "wavecoder_assets.coreset", "wavecoder_assets.generate",
         "wavecoder_assets.strategies", "wavecoder_assets.train", "wavecoder_assets.evaluate",
         "wavecoder_assets.publish", "wavecoder_assets.llm", "wavecoder_assets.lakefiles", "wavecoder_assets.languages",
         "wavecoder_assets.codefacts", "wavecoder_assets.hashing", "wavecoder_assets.sandbox",
         "wavecoder_assets.benchmark_data",
         "wavecoder_assets.columns", "wavecoder_assets.lake", "wavecoder_assets.fingerprints",
         "wavecoder_assets.testing"]


def _submodules(package: str) -> list[str]:
    path = REPO_ROOT / package.replace(".", "/")
    if path.is_dir():
        return [package] + [f"{package}.{p.stem}" for p in sorted(path.glob("*.py"))
                            if p.stem not in ("__init__", "__main__")]
    return [package]


@pytest.mark.parametrize("package", PLAIN)
def test_stage_imports_no_dagster(package):
    modules = _submodules(package)
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]", f"{package} pulls in Dagster: {out.stdout[:300]}"


def _python_files() -> list:
    return sorted(p for d in ("wavecoder_assets", "bench") for p in (REPO_ROOT / d).rglob("*.py"))


def _imports(path) -> list[tuple[str, list[str]]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [(node.module or "", [a.name for a in node.names]) for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)] + [(a.name, []) for node in ast.walk(tree)
                                                     if isinstance(node, ast.Import) for a in node.names]


def test_no_private_cross_module_imports_and_nothing_from_a_main():
    offences = []
    for path in _python_files():
        for module, names in _imports(path):
            if not module.startswith("wavecoder_assets"):
                continue
            offences += [f"{path.relative_to(REPO_ROOT)}: {name} from {module}" for name in names
                         if name.startswith("_") and not name.startswith("__")]
            if module.endswith("__main__"):
                offences.append(f"{path.relative_to(REPO_ROOT)}: imports {module}")
    assert not offences, offences


def test_arrows_point_downstream():
    """Nothing below resources/ imports it (or the assets); stages never import a later stage. Entry points
    (definitions, presets, the run and calibrate CLIs, the run coordinator) sit on top and may import anything."""
    order = ["corpus", "embed", "coreset", "generate", "strategies", "publish", "train", "evaluate"]
    offences = []
    for path in (REPO_ROOT / "wavecoder_assets").rglob("*.py"):
        parts = path.relative_to(REPO_ROOT / "wavecoder_assets").parts
        layer = parts[0] if len(parts) > 1 else path.stem
        if layer in ("assets", "resources", "definitions", "presets", "run", "calibrate", "launch_validation"):
            continue
        for module, _ in _imports(path):
            target = module.split(".")[1] if module.startswith("wavecoder_assets.") else None
            if target in ("assets", "resources", "definitions", "presets"):
                offences.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
            if layer in order and target in order and order.index(target) > order.index(layer):
                offences.append(f"{path.relative_to(REPO_ROOT)} (stage {layer}) imports the later stage {module}")
    assert not offences, offences


def test_nothing_outside_the_tests_imports_them_and_bench_runs_none():
    """bench/ shares the test server and the reference implementations with the tests through
    wavecoder_assets.testing: no import of assets_tests outside it, and no bench script naming a test module or
    path to run (`python -m assets_tests.x`, `pytest assets_tests/...`)."""
    offences = [f"{path.relative_to(REPO_ROOT)} imports {module}" for path in _python_files()
                for module, _ in _imports(path) if module.split(".")[0] == "assets_tests"]
    runs = re.compile(r"(^|-m\s+)assets_tests\b")  # a module or path argument, not a mention in prose
    for path in sorted((REPO_ROOT / "bench").rglob("*.py")):
        offences += [f"{path.relative_to(REPO_ROOT)}:{node.lineno} runs {node.value!r}"
                     for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Constant)
                     and isinstance(node.value, str) and runs.search(node.value.strip())]
    for path in sorted((REPO_ROOT / "bench").rglob("*.sh")):
        offences += [f"{path.relative_to(REPO_ROOT)}:{i}" for i, line in enumerate(path.read_text().splitlines(), 1)
                     if "assets_tests" in line.split("#")[0]]
    assert not offences, offences


# A path into the steering folder that sits beside the developers' clone (a user's clone has none): its name
# joined as a parent-relative path, or as a quoted path part.
SHARED_PATH = re.compile(r"""\.\./shared\b|["']shared["']\s*/|/\s*["']shared["']|parent\s*/\s*["']shared""")


def test_nothing_reads_the_shared_folder_beside_the_clone():
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO_ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
    offences = []
    for name in tracked:
        path = REPO_ROOT / name
        if path.suffix in (".py", ".sh", ".yaml", ".toml", ".cfg") or path.name in ("Makefile", "run"):
            if path == REPO_ROOT / "assets_tests" / "test_layout.py" or not path.is_file():
                continue
            offences += [f"{name}:{i}" for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
                         if SHARED_PATH.search(line)]
    assert not offences, f"code paths naming the shared folder: {offences}"


def _lake_tables() -> dict[str, list[str]]:
    """Every lake table's columns, from the schemas the code writes them with."""
    from wavecoder_assets.assets.coreset import CODE_COLUMNS
    from wavecoder_assets.corpus.records import RAW_CODE_SCHEMA
    from wavecoder_assets.evaluate.run import SCORE_SCHEMA
    from wavecoder_assets.generate.calibration import CALIBRATION_SCHEMA
    from wavecoder_assets.generate.loop import GENERATED_SCHEMA, JUDGED_SCHEMA
    from wavecoder_assets.generate.ocean import OCEAN_COLUMNS, REJECTED_SCHEMA
    from wavecoder_assets.publish.release import HUB_ROW_SCHEMA
    from wavecoder_assets.strategies.compare import REPORT_SCHEMA, VERDICT_SCHEMA
    from wavecoder_assets.strategies.evol import EVOL_SCHEMA
    from wavecoder_assets.strategies.oss import OSS_SCHEMA
    from wavecoder_assets.train.run import MODEL_ROW_SCHEMA

    return {
        "raw_code": list(RAW_CODE_SCHEMA), "filtered_code": list(RAW_CODE_SCHEMA),
        "filtered_out": [*RAW_CODE_SCHEMA, "rule"],
        "code_embeddings": ["id", "language", "embedding", "model"],  # built in embed/step.py
        "coreset": [*CODE_COLUMNS, "rank", "radius"],
        "generated_instructions": list(GENERATED_SCHEMA), "judged_instructions": list(JUDGED_SCHEMA),
        "code_ocean": OCEAN_COLUMNS, "code_ocean_rejected": list(REJECTED_SCHEMA),
        "judge_calibration": list(CALIBRATION_SCHEMA),
        "code_ocean_hub": list(HUB_ROW_SCHEMA),
        "evol_instructions": [*EVOL_SCHEMA, *VERDICT_SCHEMA], "oss_instructions": [*OSS_SCHEMA, *VERDICT_SCHEMA],
        "strategy_report": list(REPORT_SCHEMA), "finetuned_model": list(MODEL_ROW_SCHEMA),
        "eval_scores": list(SCORE_SCHEMA),
    }


def test_every_lake_column_has_a_description_for_its_table():
    from wavecoder_assets.columns import TABLE_COLUMN_DESCRIPTIONS, column_description

    tables = _lake_tables()
    undocumented = [f"{table}.{c}" for table, columns in tables.items() for c in columns
                    if not column_description(table, c)]
    assert not undocumented, undocumented
    # An override for a table or column that does not exist describes nothing (a typo, or a renamed column).
    stray = [f"{table}.{c}" for table, columns in TABLE_COLUMN_DESCRIPTIONS.items() for c in columns
             if c not in tables.get(table, [])]
    assert not stray, stray


def test_a_column_that_means_something_else_in_a_table_is_described_there():
    from wavecoder_assets.columns import COLUMN_DESCRIPTIONS, column_description

    assert "labelled" in column_description("judge_calibration", "id")
    assert column_description("raw_code", "id") == COLUMN_DESCRIPTIONS["id"]
    assert column_description("code_embeddings", "model") != column_description("eval_scores", "model")


def test_asset_configs_inherit_stage_settings_instead_of_copying_their_fields():
    """A setting is declared once: an asset's Config takes its stage's settings model by inheriting it
    (`class GenerateConfig(dg.Config, LoopSettings)`), never by declaring fields of the same names itself."""
    import importlib
    import inspect

    import dagster as dg
    import pydantic

    def classes(module: str, base: type) -> list[type]:
        return [c for c in vars(importlib.import_module(module)).values()
                if inspect.isclass(c) and issubclass(c, base) and c.__module__ == module]

    offences = []
    # Within a stage (assets/<stage>.py against the package wavecoder_assets/<stage>/): another stage's settings are
    # not the asset's to inherit. `seed` is not compared: each step seeds its own draws (a sample, a few-shot order).
    for path in sorted((REPO_ROOT / "wavecoder_assets" / "assets").glob("*.py")):
        if not (REPO_ROOT / "wavecoder_assets" / path.stem).is_dir():
            continue
        settings = [s for module in _submodules(f"wavecoder_assets.{path.stem}")
                    for s in classes(module, pydantic.BaseModel) if not issubclass(s, dg.Config)]
        for config in classes(f"wavecoder_assets.assets.{path.stem}", dg.Config):
            own = set(inspect.get_annotations(config)) - {"seed"}  # declared here, not inherited
            offences += [f"{config.__name__} declares {sorted(own & set(s.model_fields))} of {s.__name__}"
                         for s in settings if own & set(s.model_fields)]
    assert not offences, offences


# Asset bodies longer than ASSET_BODY_MAX_LINES, each with why it is longer.
LONG_ASSET_BODIES: dict[str, str] = {}
ASSET_BODY_MAX_LINES = 30


def test_assets_are_wiring():
    """An asset or check body (docstring aside) reads its inputs, calls a stage function and returns a versioned
    output with metadata: ASSET_BODY_MAX_LINES lines at most, unless listed with a reason."""
    long = {}
    for path in sorted((REPO_ROOT / "wavecoder_assets" / "assets").glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(ast.unparse(d).startswith("dg.") for d in node.decorator_list):
                body = node.body[1:] if ast.get_docstring(node) else node.body
                lines = body[-1].end_lineno - body[0].lineno + 1
                if lines > ASSET_BODY_MAX_LINES:
                    long[f"{path.name}:{node.name}"] = lines
    assert set(long) == set(LONG_ASSET_BODIES), long
