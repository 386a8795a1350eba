"""The local NTP server is a real chronyd that serves its own (optionally shifted) time on loopback only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from harness.ntp import NtpServer, faketime_spec, query

pytestmark = pytest.mark.hosts


def test_the_server_answers_with_its_clock_at_stratum_8(ntp_server: NtpServer) -> None:
    sample = ntp_server.query()
    assert sample.synchronised
    assert sample.stratum == 8
    assert abs(sample.offset) < 0.05
    assert 0 <= sample.delay < 0.05


def test_the_server_keeps_to_its_own_files_and_loopback(ntp_server: NtpServer) -> None:
    config = ntp_server.config_path.read_text().splitlines()
    assert {"cmdport 0", "bindcmdaddress /", "bindaddress 127.0.0.1", "allow 127.0.0.0/8"} <= set(config)
    assert f"pidfile {ntp_server.workdir / 'chronyd.pid'}" in config
    assert ntp_server.process is not None
    assert int((ntp_server.workdir / "chronyd.pid").read_text()) == ntp_server.process.pid
    assert "Disabled control of system clock" in ntp_server.log_path.read_text()


@pytest.mark.parametrize("offset", [4.0, -2.5])
def test_a_shifted_server_serves_time_moved_by_its_offset(
    shifted_ntp_server: Callable[[float], NtpServer], offset: float
) -> None:
    server = shifted_ntp_server(offset)
    sample = server.query()
    assert sample.synchronised
    # Both server timestamps move, so the delay stays sane and a real client accepts the samples.
    assert sample.offset == pytest.approx(offset, abs=0.05)
    assert 0 <= sample.delay < 0.05


def test_stop_ends_the_server(tmp_path: Path) -> None:
    from harness.hosts_fixtures import require_chronyd

    require_chronyd()
    with NtpServer(tmp_path / "ntp") as server:
        assert server.query().synchronised
        pid = server.process.pid if server.process else 0
    assert not Path(f"/proc/{pid}").exists()
    with pytest.raises((ConnectionRefusedError, TimeoutError)):
        query(server.host, server.port, timeout=0.3)


def test_faketime_spec() -> None:
    assert faketime_spec(5) == "+5s"
    assert faketime_spec(-2.5) == "-2.5s"
    assert faketime_spec(0.001) == "+0.001s"
