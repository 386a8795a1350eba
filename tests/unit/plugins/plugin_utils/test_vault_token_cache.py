"""TokenCache (private files, locking across processes, tolerant loading), IssuedToken timing and identity()."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils import _vault_token_cache as vault_token_cache
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_options import VaultSettings
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_token_cache import (
    IssuedToken,
    TokenCache,
    TokenCacheError,
    identity,
    token_from_auth,
)

KEY = "a" * 64
TOKEN = IssuedToken("hvs.cached", expires_at=1_900_000_000.5, renewable=True, ttl=3600)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def wide_umask():
    old = os.umask(0)  # the cache must not depend on the caller's umask
    yield
    os.umask(old)


@pytest.mark.usefixtures("wide_umask")
def test_store_creates_a_private_directory_and_file(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "nested" / "vault")
    cache.store(KEY, TOKEN)
    assert mode(cache.directory) == 0o700
    assert mode(cache.directory / f"{KEY}.json") == 0o600
    assert sorted(p.name for p in cache.directory.iterdir()) == [f"{KEY}.json"]  # no temporary left


@pytest.mark.usefixtures("wide_umask")
def test_lock_file_is_private_too(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "vault")
    with cache.locked(KEY):
        pass
    assert mode(cache.directory / f"{KEY}.lock") == 0o600


def test_round_trip(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    cache.store(KEY, TOKEN)
    assert cache.load(KEY) == TOKEN
    assert cache.load("b" * 64) is None


def test_store_replaces_the_previous_token(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    cache.store(KEY, TOKEN)
    newer = IssuedToken("hvs.newer", expires_at=0, renewable=False)
    cache.store(KEY, newer)
    assert cache.load(KEY) == newer


@pytest.mark.parametrize(
    "content",
    ["", "{not json", "[]", '{"token": "t"}', '{"token": "t", "expires_at": "soon", "renewable": true}', "null"],
)
def test_a_corrupt_file_loads_as_no_token(tmp_path: Path, content: str) -> None:
    (tmp_path / f"{KEY}.json").write_text(content)
    assert TokenCache(tmp_path).load(KEY) is None


def test_an_unusable_directory_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    cache = TokenCache(tmp_path / "file" / "vault")  # below a regular file: mkdir fails even for root
    with pytest.raises(TokenCacheError, match=r"^cannot store the token in the token cache directory .*/file/vault: "):
        cache.store(KEY, TOKEN)
    with (
        pytest.raises(TokenCacheError, match=r"^cannot take the lock in the token cache directory "),
        cache.locked(KEY),
    ):
        pass


def test_a_failed_store_leaves_no_copy_of_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = TokenCache(tmp_path)

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(vault_token_cache.os, "replace", full_disk)
    with pytest.raises(TokenCacheError, match=r"No space left on device$"):
        cache.store(KEY, TOKEN)
    assert list(tmp_path.iterdir()) == []


def test_an_error_inside_the_lock_is_not_reported_as_a_cache_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError), TokenCache(tmp_path).locked(KEY):
        raise FileNotFoundError("raised by the caller")


def test_a_too_open_directory_is_tightened(tmp_path: Path) -> None:
    directory = tmp_path / "vault"
    directory.mkdir()
    directory.chmod(0o755)
    TokenCache(directory).store(KEY, TOKEN)
    assert mode(directory) == 0o700


def test_another_users_directory_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "vault"
    directory.mkdir(mode=0o700)
    # Pretend to be someone else: the directory's owner is then another user.
    monkeypatch.setattr(vault_token_cache.os, "getuid", lambda: directory.stat().st_uid + 1)
    cache = TokenCache(directory)
    with pytest.raises(TokenCacheError, match=r"belongs to another user"):
        cache.store(KEY, TOKEN)
    with pytest.raises(TokenCacheError, match=r"belongs to another user"), cache.locked(KEY):
        pass
    assert not (directory / f"{KEY}.json").exists()


def test_default_directory_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert TokenCache().directory == tmp_path / ".cache" / "tradebot.kucoin" / "vault"


def _try_lock(lock_path: str, result: multiprocessing.Queue) -> None:
    fd = os.open(lock_path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        result.put("acquired")
    except BlockingIOError:
        result.put("blocked")
    finally:
        os.close(fd)


def _in_child(target, *args) -> str:
    context = multiprocessing.get_context("fork")
    result = context.Queue()
    process = context.Process(target=target, args=(*args, result))
    process.start()
    outcome = result.get(timeout=30)
    process.join(timeout=30)
    return outcome


def test_the_lock_excludes_other_processes_until_released(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path)
    lock_path = str(tmp_path / f"{KEY}.lock")
    with cache.locked(KEY):
        assert _in_child(_try_lock, lock_path) == "blocked"
    assert _in_child(_try_lock, lock_path) == "acquired"


def _login_once(directory: str, logins: str, start: multiprocessing.synchronize.Event) -> None:
    """What a worker does: under the lock, reuse the cached token or log in (append to `logins`) and store."""
    start.wait(timeout=30)
    cache = TokenCache(directory)
    with cache.locked(KEY):
        if cache.load(KEY) is None:
            with open(logins, "a", encoding="utf-8") as handle:
                handle.write(f"{os.getpid()}\n")
            cache.store(KEY, IssuedToken(f"hvs.{os.getpid()}", expires_at=0, renewable=False))


def test_concurrent_workers_log_in_once(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    start = context.Event()
    logins = tmp_path / "logins"
    workers = [
        context.Process(target=_login_once, args=(str(tmp_path / "cache"), str(logins), start)) for _worker in range(12)
    ]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    winners = logins.read_text().split()
    assert len(winners) == 1
    stored = json.loads((tmp_path / "cache" / f"{KEY}.json").read_text())
    assert stored["token"] == f"hvs.{winners[0]}"


SECRET_ID = "Zq-LEAKCANARY-unit-secret-id"
APPROLE = VaultSettings(url="http://vault:8200", auth_method="approle", role_id="role-a", secret_id=SECRET_ID)


def test_identity_is_stable_and_a_hash() -> None:
    assert identity(APPROLE) == identity(dataclasses.replace(APPROLE))
    assert len(identity(APPROLE)) == 64
    int(identity(APPROLE), 16)


@pytest.mark.parametrize(
    "change",
    [
        {"role_id": "role-b"},
        {"secret_id": "another-secret-id"},
        {"url": "http://other:8200"},
        {"namespace": "team"},
        {"mount_point": "ci-approle"},
    ],
)
def test_identity_differs_per_role_secret_and_server(change: dict[str, str]) -> None:
    assert identity(dataclasses.replace(APPROLE, **change)) != identity(APPROLE)


def test_identity_separates_methods_and_users() -> None:
    alice = VaultSettings(url="u", auth_method="userpass", username="alice", password="pw")
    bob = dataclasses.replace(alice, username="bob")
    rotated = dataclasses.replace(alice, password="pw2")
    jwt_a = VaultSettings(url="u", auth_method="jwt", role="r", jwt="a.b.c")
    jwt_b = dataclasses.replace(jwt_a, jwt="a.b.d")
    k8s_a = VaultSettings(url="u", auth_method="kubernetes", role="r", kubernetes_token_path="/a")
    k8s_b = dataclasses.replace(k8s_a, role="s")
    cert_a = VaultSettings(url="u", auth_method="cert", client_cert="/a.pem")
    cert_b = dataclasses.replace(cert_a, client_cert="/b.pem")
    keys = [identity(s) for s in (alice, bob, rotated, jwt_a, jwt_b, k8s_a, k8s_b, cert_a, cert_b)]
    assert len(set(keys)) == len(keys)


def test_identity_differs_per_token() -> None:
    # Tokens are never cached on disk, but the identity also keys the per-worker read memo.
    one = VaultSettings(url="u", token="hvs.one")
    assert identity(one) != identity(dataclasses.replace(one, token="hvs.two"))
    assert "hvs.one" not in identity(one)


def test_identity_holds_no_secret_in_clear() -> None:
    key = identity(APPROLE)
    assert SECRET_ID not in key
    assert "role-a" not in key


def test_issued_token_usable_until_the_margin() -> None:
    now = 1_000_000.0
    assert IssuedToken("t", expires_at=0, renewable=False).usable(now)  # never expires
    assert IssuedToken("t", expires_at=now + 31, renewable=False).usable(now)
    assert not IssuedToken("t", expires_at=now + 29, renewable=False).usable(now)
    assert not IssuedToken("t", expires_at=now - 1, renewable=False).usable(now)


def test_due_for_renewal_after_half_its_life() -> None:
    now = 1_000_000.0
    assert not IssuedToken("t", expires_at=now + 3000, renewable=True, ttl=3600).due_for_renewal(now)
    assert IssuedToken("t", expires_at=now + 1000, renewable=True, ttl=3600).due_for_renewal(now)
    assert not IssuedToken("t", expires_at=0, renewable=True, ttl=3600).due_for_renewal(now)
    assert not IssuedToken("t", expires_at=now + 10, renewable=True, ttl=0).due_for_renewal(now)


def test_issued_token_repr_hides_the_token() -> None:
    assert "hvs.secret" not in repr(IssuedToken("hvs.secret", expires_at=0, renewable=False))


def test_token_from_auth() -> None:
    issued = token_from_auth({"client_token": "t", "lease_duration": 600, "renewable": True}, now=100.0)
    assert (issued.token, issued.expires_at, issued.renewable, issued.ttl) == ("t", 700.0, True, 600)
    forever = token_from_auth({"client_token": "t", "lease_duration": 0}, now=100.0)
    assert forever.expires_at == 0
    assert not forever.renewable
