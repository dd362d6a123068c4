"""Fixtures of the memory-workload tests: the committed lackey trace and a private cache."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

TRACE_GZ = Path(__file__).parent.parent / "data" / "gzip_deflate.lackey.gz"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``$CODESIGN_CACHE`` pointed at a fresh directory (not created: the loader must)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("CODESIGN_CACHE", str(directory))
    return directory


@pytest.fixture
def trace(tmp_path: Path) -> Path:
    """The committed gzip deflate-loop trace, uncompressed into tmp_path."""
    path = tmp_path / "gzip_deflate.lackey"
    path.write_bytes(gzip.decompress(TRACE_GZ.read_bytes()))
    return path
