"""The house rules, read from the code itself: stages free of Dagster, arrows pointing downstream, nothing read
from outside the repository, one glossary entry for every lake column."""

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
         "wavecoder_assets.hashing", "wavecoder_assets.sandbox", "wavecoder_assets.benchmark_data",
         "wavecoder_assets.columns", "wavecoder_assets.lake", "wavecoder_assets.fingerprints"]


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
    (definitions, presets, the calibrate CLI) sit on top and may import anything."""
    order = ["corpus", "embed", "coreset", "generate", "strategies", "publish", "train", "evaluate"]
    offences = []
    for path in (REPO_ROOT / "wavecoder_assets").rglob("*.py"):
        parts = path.relative_to(REPO_ROOT / "wavecoder_assets").parts
        layer = parts[0] if len(parts) > 1 else path.stem
        if layer in ("assets", "resources", "definitions", "presets", "calibrate"):
            continue
        for module, _ in _imports(path):
            target = module.split(".")[1] if module.startswith("wavecoder_assets.") else None
            if target in ("assets", "resources", "definitions", "presets"):
                offences.append(f"{path.relative_to(REPO_ROOT)} imports {module}")
            if layer in order and target in order and order.index(target) > order.index(layer):
                offences.append(f"{path.relative_to(REPO_ROOT)} (stage {layer}) imports the later stage {module}")
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


def test_every_lake_column_has_a_description():
    from wavecoder_assets.columns import COLUMN_DESCRIPTIONS
    from wavecoder_assets.corpus.records import RAW_CODE_SCHEMA
    from wavecoder_assets.evaluate.run import SCORE_SCHEMA
    from wavecoder_assets.generate.loop import JUDGED_SCHEMA
    from wavecoder_assets.generate.ocean import OCEAN_COLUMNS, REJECTED_SCHEMA
    from wavecoder_assets.strategies.compare import REPORT_SCHEMA
    from wavecoder_assets.strategies.evol import EVOL_SCHEMA
    from wavecoder_assets.strategies.oss import OSS_SCHEMA
    from wavecoder_assets.train.run import MODEL_ROW_SCHEMA

    columns = set(RAW_CODE_SCHEMA) | set(SCORE_SCHEMA) | set(JUDGED_SCHEMA) | set(OCEAN_COLUMNS) | set(REJECTED_SCHEMA)
    columns |= set(REPORT_SCHEMA) | set(EVOL_SCHEMA) | set(OSS_SCHEMA) | set(MODEL_ROW_SCHEMA)
    columns |= {"rule", "embedding", "rank", "radius"}  # filtered_out, code_embeddings, coreset
    undocumented = sorted(c for c in columns if not COLUMN_DESCRIPTIONS.get(c))
    assert not undocumented, undocumented


def test_asset_configs_and_stage_settings_share_their_defaults():
    """Settings are built from Configs by field name; their defaults must not drift apart. (Hyperparameters is
    left out on purpose: its defaults are the paper's recipe, FinetuneConfig's the 2-core default run.)"""
    from wavecoder_assets.assets.generate import GenerateConfig
    from wavecoder_assets.assets.settings import settings_from
    from wavecoder_assets.assets.strategies import EvolInstructionsConfig, OssInstructionsConfig
    from wavecoder_assets.generate.loop import LoopSettings
    from wavecoder_assets.strategies.evol import EvolSettings
    from wavecoder_assets.strategies.oss import OssSettings

    for config, settings in [(GenerateConfig(), LoopSettings), (EvolInstructionsConfig(), EvolSettings),
                             (OssInstructionsConfig(), OssSettings)]:
        assert settings_from(config, settings) == settings(), f"{type(config).__name__} vs {settings.__name__}"
