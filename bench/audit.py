"""The OpenBao audit log, read one window at a time: what a single timed run asked of Vault."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.openbao import count_logins, count_requests, parse_audit_lines


@dataclass(frozen=True)
class VaultTraffic:
    logins: int
    requests: int  # every request, logins included


def traffic(lines: Iterable[str], auth_mount: str = "approle") -> VaultTraffic:
    entries = parse_audit_lines(lines)
    return VaultTraffic(logins=count_logins(entries, auth_mount), requests=count_requests(entries))


class AuditWindow:
    """Byte offset into the audit log at mark(); read() returns the complete lines written since."""

    def __init__(self, audit_log: Path) -> None:
        self.audit_log = audit_log
        self.offset = 0

    def _size(self) -> int:
        return self.audit_log.stat().st_size if self.audit_log.exists() else 0

    def mark(self) -> None:
        self.offset = self._size()

    def lines(self) -> list[str]:
        if not self.audit_log.exists():
            return []
        with self.audit_log.open("rb") as handle:
            handle.seek(self.offset)
            chunk = handle.read()
        # A line still being written has no newline yet; it belongs to the next window.
        complete = chunk[: chunk.rfind(b"\n") + 1]
        return complete.decode("utf-8").splitlines() if complete else []

    def read(self, auth_mount: str = "approle") -> VaultTraffic:
        return traffic(self.lines(), auth_mount)
