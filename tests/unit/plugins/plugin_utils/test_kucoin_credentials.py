"""credentials(): the KuCoin-shaped record, field handling and validation (a fake session)."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils._kucoin_credentials import (
    CredentialError,
    FieldNames,
    credentials,
)
from ansible_collections.tradebot.kucoin.plugins.plugin_utils._vault_client import SecretVersion

CANARY = "Zq-LEAKCANARY-unit"


class FakeSession:
    def __init__(self, data: dict[str, Any] | Exception, version: int | None = 7) -> None:
        self.data = data
        self.version = version

    def read(self, mount: str, path: str, kv_version: int, version: int | None) -> SecretVersion:
        if isinstance(self.data, Exception):
            raise self.data
        return SecretVersion(dict(self.data), self.version)


def creds(data: dict[str, Any] | Exception, fields: FieldNames | None = None, **kw: Any) -> dict[str, Any]:
    session = FakeSession(data, **kw)
    return credentials(session, "kucoin/a", mount="secret", kv_version=2, version=None, fields=fields or FieldNames())  # type: ignore[arg-type]


FULL = {"api_key": "k", "api_secret": f"{CANARY}-s", "api_passphrase": f"{CANARY}-p"}


def test_full_result() -> None:
    result = creds({**FULL, "key_version": 3, "api": "futures"})
    assert result == {
        "api_key": "k",
        "api_secret": f"{CANARY}-s",
        "api_passphrase": f"{CANARY}-p",
        "key_version": 3,
        "api": "futures",
        "vault": {"mount": "secret", "path": "kucoin/a", "version": 7},
    }


def test_defaults_when_optional_fields_are_absent() -> None:
    result = creds(FULL, version=None)
    assert result["key_version"] == 3
    assert result["api"] == "spot"
    assert result["vault"]["version"] is None


@pytest.mark.parametrize(("raw", "expected"), [(1, 1), ("2", 2), (" 3 ", 3), (3.0, None), ("v2", None), (4, None)])
def test_key_version_validation(raw: Any, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(
            CredentialError, match=r"^secret 'kucoin/a' on mount 'secret': field key_version must be 1, 2 or 3$"
        ):
            creds({**FULL, "key_version": raw})
    else:
        assert creds({**FULL, "key_version": raw})["key_version"] == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("spot", "spot"), ("FUTURES", "futures"), (" futures\n", "futures"), ("", "spot"), ("margin", None)],
)
def test_api_validation(raw: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(CredentialError, match=r"field api must be spot or futures$"):
            creds({**FULL, "api": raw})
    else:
        assert creds({**FULL, "api": raw})["api"] == expected


def test_missing_fields_are_named_with_the_present_names_only() -> None:
    with pytest.raises(CredentialError) as caught:
        creds({"api_key": "k", "note": f"{CANARY}-note", "api_secret_old": f"{CANARY}-old"})
    message = str(caught.value)
    assert message == (
        "secret 'kucoin/a' on mount 'secret' has no field(s) api_secret, api_passphrase "
        "(fields present: api_key, api_secret_old, note)"
    )
    assert CANARY not in message


def test_an_empty_secret() -> None:
    with pytest.raises(CredentialError, match=r"\(fields present: none\)$"):
        creds({})


def test_field_names_are_configurable() -> None:
    fields = FieldNames(api_key="k", api_secret="s", api_passphrase="p", key_version="v", api="a")
    result = creds({"k": "key", "s": "sec", "p": "pass", "v": "1", "a": "futures"}, fields=fields)
    assert (result["api_key"], result["api_secret"], result["api_passphrase"]) == ("key", "sec", "pass")
    assert (result["key_version"], result["api"]) == (1, "futures")
    with pytest.raises(CredentialError, match=r"has no field\(s\) s \(fields present: k, p\)"):
        creds({"k": "key", "p": "pass"}, fields=fields)


def test_values_are_text() -> None:
    result = creds({"api_key": 12345, "api_secret": "s", "api_passphrase": 678})
    assert result["api_key"] == "12345"
    assert result["api_passphrase"] == "678"
