"""Settings fields that name a file or folder which must exist. No Dagster here (the stage settings use it).

The check runs when a launch is validated (launch_validation, inside `paths_must_exist()`), not whenever settings
are built: the paper preset is built when the definitions load, on machines that need not hold its data.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator

_CHECKING = ContextVar("wavecoder_paths_must_exist", default=False)


@contextlib.contextmanager
def paths_must_exist() -> Iterator[None]:
    """Settings built inside this block refuse an ExistingPath that names nothing on this machine."""
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def _exists(path: str) -> str:
    # Empty means "none" in the fields that allow it (e.g. semantic_path), so only a named path is looked up.
    if path and _CHECKING.get() and not Path(path).exists():
        raise ValueError(f"no such file or folder: {path} (relative to {Path.cwd()})")
    return path


ExistingPath = Annotated[str, AfterValidator(_exists)]
