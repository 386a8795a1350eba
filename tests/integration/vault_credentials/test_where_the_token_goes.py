"""Where the token may go, against the real OpenBao behind local redirecting and proxying fixtures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.http_fixtures import ForwardProxy, Redirector, Sink
from harness.tls import TestCA

from .conftest import SeededVault, run_cases

pytestmark = pytest.mark.vault

# The machine's own proxy settings must not decide these tests; each case sets what it needs.
NO_PROXY_ENV = dict.fromkeys(("NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), "")


def assert_clean(message: str, vault: SeededVault) -> None:
    for secret in (vault.token, vault.secret_id, vault.bao.root_token):
        assert secret not in message


def test_a_redirect_from_https_to_http_is_refused_before_anything_is_sent(
    seeded_vault: SeededVault, tmp_path: Path
) -> None:
    vault = seeded_vault
    ca = TestCA(tmp_path / "fixture-ca", "fixture CA")
    with Sink() as sink, Redirector(sink.url, tls_ca=ca) as redirector:
        tls = {"url": redirector.url, "ca_cert": str(ca.cert), "retries": 0}
        cases = [
            {"name": "read", "term": "kucoin/alpha", "options": {**tls, "token": vault.token}},
            {"name": "login", "term": "kucoin/alpha", "options": vault.approle(**tls)},
        ]
        outcomes = run_cases(cases, tmp_path, env=NO_PROXY_ENV)
    # The https fixture (the configured url) saw each request once; the plain-http target saw nothing at all.
    assert [entry.target for entry in redirector.seen] == [
        "/v1/secret/data/kucoin/alpha",
        "/v1/auth/approle/login",
    ]
    assert sink.seen == []
    for name in ("read", "login"):
        outcome = outcomes[name]
        assert outcome.failed, name
        assert f"a redirect from https to http://127.0.0.1:{sink.port} was refused" in outcome.msg, outcome.msg
        assert "the Vault token in clear" in outcome.msg
        assert_clean(outcome.msg, vault)


def test_one_redirect_is_followed_and_a_second_is_refused(seeded_vault: SeededVault, tmp_path: Path) -> None:
    vault = seeded_vault
    bao = vault.bao
    with (
        Sink() as sink,
        Redirector(sink.url) as second,
        Redirector(second.url) as first,
        Redirector(bao.url) as standby,
    ):
        cases = [
            {"name": "standby", "term": "kucoin/alpha", "options": {"url": standby.url, "token": vault.token}},
            {"name": "standby login", "term": "kucoin/alpha", "options": vault.approle(url=standby.url)},
            {
                "name": "two hops",
                "term": "kucoin/alpha",
                "options": {"url": first.url, "token": vault.token, "retries": 0},
            },
        ]
        outcomes = run_cases(cases, tmp_path, env=NO_PROXY_ENV)
    # A standby sending the client to the active node: reads and logins work.
    for name in ("standby", "standby login"):
        assert not outcomes[name].failed, outcomes[name].msg
        assert outcomes[name].value["api_key"] == "key-alpha-4"
    assert [entry.target for entry in standby.seen] == [
        "/v1/secret/data/kucoin/alpha",
        "/v1/auth/approle/login",
        "/v1/secret/data/kucoin/alpha",
    ]
    # Two hops: the first is followed, the second refused, so the third server hears nothing.
    two_hops = outcomes["two hops"]
    assert two_hops.failed
    assert f"Vault at {first.url} redirected more than once" in two_hops.msg, two_hops.msg
    assert (len(first.seen), len(second.seen), len(sink.seen)) == (1, 1, 0)
    assert_clean(two_hops.msg, vault)


def run_through(tmp_path: Path, name: str, vault: SeededVault, env: dict[str, str], **options: Any) -> tuple[bool, str]:
    work = tmp_path / name
    work.mkdir()
    case = {"name": name, "term": "kucoin/alpha", "options": vault.approle(**options)}
    outcome = run_cases([case], work, env={**NO_PROXY_ENV, **env})[name]
    return (not outcome.failed and outcome.value["api_key"] == "key-alpha-4"), outcome.msg


def test_proxy_variables_and_the_proxies_option_carry_login_and_read_alike(
    seeded_vault: SeededVault, tmp_path: Path
) -> None:
    vault = seeded_vault
    expected = ["/v1/auth/approle/login", "/v1/secret/data/kucoin/alpha"]
    with ForwardProxy() as proxy:
        for name, env, options in (
            ("HTTP_PROXY", {"HTTP_PROXY": proxy.url}, {}),
            ("ALL_PROXY", {"ALL_PROXY": proxy.url}, {}),
            ("proxies option", {}, {"proxies": proxy.url}),
            ("proxies option by scheme", {}, {"proxies": {"http": proxy.url}}),
        ):
            proxy.seen.clear()
            ok, message = run_through(tmp_path, name.replace(" ", "-"), vault, env, **options)
            assert ok, f"{name}: {message}"
            assert proxy.paths() == expected, name
            # The proxy saw absolute URLs of the real Vault: it forwarded, it was not the target.
            assert all(entry.target.startswith(vault.bao.url) for entry in proxy.seen), name

        # NO_PROXY naming Vault's host sends every call direct, the login included.
        proxy.seen.clear()
        ok, message = run_through(tmp_path, "no-proxy", vault, {"HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.1"})
        assert ok, message
        assert proxy.seen == []
