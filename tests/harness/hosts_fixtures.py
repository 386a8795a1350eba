"""pytest fixtures: the local NTP server and booted bot hosts (session-wide), and small fleets per test."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from harness.hosts import BotHostFleet, missing_requirements
from harness.ntp import NtpServer, find_chronyd

SESSION_HOSTS = ("bot1", "bot2", "bot3")


def require_hosts() -> None:
    """Skip (a failure under CI=true) when this machine cannot boot hosts, saying why."""
    reason = missing_requirements()
    if reason:
        pytest.skip(reason)


def require_chronyd() -> None:
    if os.geteuid() != 0:
        pytest.skip("the test NTP server (chronyd) needs root")
    if find_chronyd() is None:
        pytest.skip("chronyd is missing (Debian package chrony; run scripts/system-deps.sh)")


@pytest.fixture(scope="session")
def ntp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NtpServer]:
    require_chronyd()
    with NtpServer(tmp_path_factory.mktemp("ntp")) as server:
        yield server


@pytest.fixture(scope="session")
def bot_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotHostFleet]:
    """bot1..bot3, booted once per session. Tests that need pristine hosts use `boot_fleet` instead."""
    require_hosts()
    with BotHostFleet(tmp_path_factory.mktemp("bot-fleet"), SESSION_HOSTS) as fleet:
        yield fleet


@pytest.fixture
def boot_fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Sequence[str]], BotHostFleet]]:
    """Boot fleets of this test's own (pristine hosts); all of them stop when the test ends, pass or fail."""
    require_hosts()
    fleets: list[BotHostFleet] = []

    def boot(names: Sequence[str]) -> BotHostFleet:
        fleet = BotHostFleet(tmp_path_factory.mktemp("fleet"), names)
        fleets.append(fleet)
        return fleet.start()

    try:
        yield boot
    finally:
        for fleet in reversed(fleets):
            fleet.stop()


@pytest.fixture
def shifted_ntp_server(tmp_path: Path) -> Iterator[Callable[[float], NtpServer]]:
    """Start NTP servers whose time is shifted by the given seconds; all stop when the test ends.

    Each serves on its own loopback address (127.0.0.2, 127.0.0.3, ...), apart from `ntp_server`'s 127.0.0.1:
    chronyd identifies sources by address, so a host can know both, or switch with `chronyc reload sources`.
    """
    require_chronyd()
    servers: list[NtpServer] = []

    def start(offset_seconds: float) -> NtpServer:
        address = f"127.0.0.{len(servers) + 2}"
        server = NtpServer(tmp_path / f"ntp-{len(servers)}", offset_seconds=offset_seconds, host=address)
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in reversed(servers):
            server.stop()
