"""The shared token cache against the real OpenBao: reuse, renewal, and one re-login after a revocation."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault


def cached_entry(cache_dir: Path) -> tuple[Path, dict]:
    files = sorted(cache_dir.glob("*.json"))
    assert len(files) == 1, files
    return files[0], json.loads(files[0].read_text())


def test_cache_reuse_renewal_and_relogin(seeded_vault: SeededVault, tmp_path: Path) -> None:
    vault = seeded_vault
    bao = vault.bao
    cache_dir = tmp_path / "token-cache"  # where run_cases points the lookup
    cases = [{"name": "read", "term": "kucoin/alpha", "options": vault.approle()}]

    def read_alpha() -> None:
        outcome = run_cases(cases, tmp_path)["read"]
        assert not outcome.failed, outcome.msg
        assert outcome.value["api_key"] == "key-alpha-4"

    # 1. First run logs in and leaves a private cache behind.
    logins = bao.count_logins("approle")
    read_alpha()
    assert bao.count_logins("approle") == logins + 1
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    for path in cache_dir.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert vault.secret_id not in path.name
        assert vault.secret_id not in path.read_text()
    entry_path, entry = cached_entry(cache_dir)
    first_token = entry["token"]
    assert bao.client().auth.token.lookup(first_token)["data"]["policies"] == ["default", "kucoin-read"]

    # 2. A token past half its TTL is renewed in place: no login, one renew-self, a later expiry on disk.
    entry["expires_at"] = time.time() + 100  # as if most of the hour had passed
    entry_path.write_text(json.dumps(entry))
    renewals = bao.count_requests("auth/token/renew-self")
    read_alpha()
    assert bao.count_logins("approle") == logins + 1
    assert bao.count_requests("auth/token/renew-self") == renewals + 1
    renewed = cached_entry(cache_dir)[1]
    assert renewed["token"] == first_token
    assert renewed["expires_at"] > time.time() + 3000

    # 3. Revoked behind the cache's back: the lookup gets 403, logs in once more, and succeeds.
    bao.client().auth.token.revoke(first_token)
    read_alpha()
    assert bao.count_logins("approle") == logins + 2
    replaced = cached_entry(cache_dir)[1]
    assert replaced["token"] != first_token

    # 4. Caching off: every run logs in, and nothing is written.
    uncached_dir = tmp_path / "token-cache-off"
    outcome = run_cases(
        [{"name": "read", "term": "kucoin/alpha", "options": vault.approle(token_cache=False)}],
        tmp_path,
        env={"TRADEBOT_VAULT_TOKEN_CACHE_DIR": str(uncached_dir)},
    )["read"]
    assert not outcome.failed, outcome.msg
    assert bao.count_logins("approle") == logins + 3
    assert not uncached_dir.exists()
