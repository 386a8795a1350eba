"""`python -m harness <piece> ...`: start one piece of the test stack by hand, or run the demo."""

from __future__ import annotations

import importlib
import sys

# Each piece's module exposes `cli(argv: list[str]) -> int`.
PIECES = {
    "openbao": ("harness.openbao", "a dev OpenBao server with a file audit log"),
    "sandbox": ("harness.kucoin_sandbox", "the local KuCoin auth sandbox"),
    "ntp": ("harness.ntp", "a local chronyd NTP server"),
    "hosts": ("harness.hosts", "booted systemd-nspawn bot hosts with an inventory"),
    "demo": ("harness.demo", "the whole demo: `make demo`"),
}


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in PIECES:
        print("usage: python -m harness {" + ",".join(PIECES) + "} [--help]")
        for name, (_module, what) in PIECES.items():
            print(f"  {name:8} {what}")
        return 0 if argv and argv[0] in {"-h", "--help"} else 2
    module = importlib.import_module(PIECES[argv[0]][0])
    return int(module.cli(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
