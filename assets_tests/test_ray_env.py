"""What a step on a Ray worker gets from the launching run's environment (no Ray started): every WAVECODER_*
variable the code reads, found in the code itself, and the keys and Hub settings; nothing else."""

from __future__ import annotations

import ast
import re

from assets_tests.conftest import REPO_ROOT
from wavecoder_assets.resources import ray_step_env

ROLES = ("GENERATOR", "JUDGE")  # the LLM roles, as f"WAVECODER_{role.upper()}_..." spells them
# A variable's name in a template where "{}" stands for a formatted value: WAVECODER_X or WAVECODER_{}_X (a role).
NAME = re.compile(r"WAVECODER_(?:\{\}_)?[A-Z0-9_]*[A-Z0-9]")


def _template(node: ast.JoinedStr, variables: dict[str, str]) -> str:
    """An f-string's text with "{}" for each formatted value, or the template of the f-string a variable holds
    (env_name = f"WAVECODER_{role}" makes f"{env_name}_MODEL" read WAVECODER_{}_MODEL)."""
    return "".join(part.value if isinstance(part, ast.Constant)
                   else variables.get(getattr(part.value, "id", None), "{}") for part in node.values)


def names_in_code() -> set[str]:
    """Every WAVECODER_* name in the string literals and f-strings of wavecoder_assets/, roles expanded."""
    names = set()
    for path in (REPO_ROOT / "wavecoder_assets").rglob("*.py"):
        tree = ast.parse(path.read_text())
        variables = {node.targets[0].id: _template(node.value, {}) for node in ast.walk(tree)
                     if isinstance(node, ast.Assign) and isinstance(node.value, ast.JoinedStr)
                     and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)}
        f_strings = [node for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)]
        in_f_strings = {id(part) for node in f_strings for part in node.values}  # read whole, as templates
        texts = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                 and isinstance(node.value, str) and id(node) not in in_f_strings]
        texts += [_template(node, variables) for node in f_strings]
        names |= {name.replace("{}", role) for text in texts for name in NAME.findall(text) for role in ROLES}
    return names


def test_the_scan_finds_constants_and_role_f_strings():
    names = names_in_code()
    assert {"WAVECODER_SHARDS", "WAVECODER_LAKE_DIR", "WAVECODER_GENERATOR_USE_BATCH_API",
            "WAVECODER_JUDGE_API_KEY_ENV"} <= names


def test_every_wavecoder_variable_the_code_reads_reaches_a_ray_step(monkeypatch):
    names = names_in_code()
    for name in names:
        monkeypatch.setenv(name, "1")
    assert names <= set(ray_step_env()), sorted(names - set(ray_step_env()))


def test_keys_and_hub_settings_reach_a_ray_step_and_nothing_else(monkeypatch):
    monkeypatch.setenv("WAVECODER_JUDGE_API_KEY_ENV", "OTHER_PROVIDER_KEY")
    for name in ("OTHER_PROVIDER_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HF_HUB_OFFLINE", "UNRELATED_SECRET"):
        monkeypatch.setenv(name, "x")
    monkeypatch.delenv("WAVECODER_GENERATOR_USE_BATCH_API", raising=False)
    forwarded = ray_step_env()
    assert {"OTHER_PROVIDER_KEY", "OPENAI_API_KEY", "HF_TOKEN", "HF_HUB_OFFLINE",
            "WAVECODER_JUDGE_API_KEY_ENV"} <= set(forwarded)
    assert "UNRELATED_SECRET" not in forwarded and "PATH" not in forwarded
    assert "WAVECODER_GENERATOR_USE_BATCH_API" not in forwarded, "a variable that is not set is left out"
