"""Shared test set-up: a per-session SPICE cache folder so tests never touch runs/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _spice_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spice-cache")
    old = os.environ.get("GAINCELL_CACHE_DIR")
    os.environ["GAINCELL_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GAINCELL_CACHE_DIR", None)
    else:
        os.environ["GAINCELL_CACHE_DIR"] = old


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the shared corpora and the authors' I-V table (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared data folder missing: {SHARED_DATA}")
    return SHARED_DATA
