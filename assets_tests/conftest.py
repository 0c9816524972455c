"""Shared fixtures: every test that materializes writes into its own tmp lake."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


# llama.cpp's OpenMP threads spin and starve other processes on a 2-core machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture
def lake_dir(tmp_path: Path) -> str:
    lake = tmp_path / "data_lake"
    lake.mkdir()
    return str(lake)
