"""pytest fixtures: one KuCoin sandbox per session, and a per-test view of it that cleans up after itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness.kucoin_sandbox import KucoinSandbox


@pytest.fixture(scope="session")
def kucoin_sandbox() -> Iterator[KucoinSandbox]:
    with KucoinSandbox() as server:
        yield server


@pytest.fixture
def sandbox(kucoin_sandbox: KucoinSandbox) -> Iterator[KucoinSandbox]:
    """The session's sandbox. After the test its faults and request records are cleared and the keys and
    sub-accounts are put back as they were before it (keys and sub-accounts the test added go away, keys it
    deleted come back; changes to a key object's fields, by the test or the modify endpoint, are not undone)."""
    keys_before = kucoin_sandbox.keys
    sub_accounts_before = kucoin_sandbox.sub_accounts
    kucoin_sandbox.reset()
    yield kucoin_sandbox
    kucoin_sandbox.reset(keys_before, sub_accounts_before)
