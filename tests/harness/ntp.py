"""A local NTP server for the bot hosts: a real `chronyd -x` serving its own clock at `local stratum 8`.

With `offset_seconds` it serves time shifted by that much: chronyd runs under libfaketime (Debian package
`faketime`), which shifts every clock read, so both the receive and the transmit timestamps of its replies
move and a client measures exactly that offset. The machine's clock is never touched (`-x`).

`python -m harness ntp [--port P] [--offset S]` starts one by hand.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import signal
import socket
import struct
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.procs import OUTPUT_DIR, ManagedProcess, wait_for

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
LEAP_UNSYNCHRONISED = 3
LIBFAKETIME_GLOB = "/usr/lib/*/faketime/libfaketime.so.1"


def find_chronyd() -> Path | None:
    found = shutil.which("chronyd") or next(
        (p for p in ("/usr/sbin/chronyd", "/sbin/chronyd") if Path(p).exists()), None
    )
    return Path(found) if found else None


def find_libfaketime() -> Path | None:
    matches = sorted(glob.glob(LIBFAKETIME_GLOB))
    return Path(matches[0]) if matches else None


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# --- a one-shot SNTP client (RFC 4330), enough to check readiness and the served time ---------------------


@dataclass(frozen=True)
class NtpSample:
    leap: int
    stratum: int
    receive: float  # server's receive timestamp, Unix seconds
    transmit: float  # server's transmit timestamp, Unix seconds
    offset: float  # server clock minus local clock, seconds ((T2 - T1) + (T3 - T4)) / 2
    delay: float  # round trip minus server processing time, seconds

    @property
    def synchronised(self) -> bool:
        return self.leap != LEAP_UNSYNCHRONISED and 0 < self.stratum < 16


def _to_ntp(unix_time: float) -> bytes:
    seconds = int(unix_time) + NTP_EPOCH_OFFSET
    fraction = int((unix_time % 1) * 2**32)
    return struct.pack("!II", seconds & 0xFFFFFFFF, fraction)


def _from_ntp(data: bytes) -> float:
    seconds, fraction = struct.unpack("!II", data)
    return seconds - NTP_EPOCH_OFFSET + fraction / 2**32


def query(host: str, port: int, timeout: float = 1.0) -> NtpSample:
    """Send one NTPv4 client request and decode the reply; raises OSError/TimeoutError/ValueError."""
    request = bytearray(48)
    request[0] = (4 << 3) | 3  # LI 0, version 4, mode 3 (client)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        originate = time.time()
        # The server echoes our transmit timestamp as its originate timestamp: that ties reply to request.
        request[40:48] = _to_ntp(originate)
        sock.send(bytes(request))
        reply = sock.recv(512)
        arrived = time.time()
    if len(reply) < 48 or reply[0] & 0x7 != 4:
        raise ValueError(f"not an NTP server reply ({len(reply)} bytes)")
    if reply[24:32] != bytes(request[40:48]):
        raise ValueError("NTP reply does not answer our request (originate timestamp differs)")
    receive, transmit = _from_ntp(reply[32:40]), _from_ntp(reply[40:48])
    return NtpSample(
        leap=reply[0] >> 6,
        stratum=reply[1],
        receive=receive,
        transmit=transmit,
        offset=((receive - originate) + (transmit - arrived)) / 2,
        delay=(arrived - originate) - (transmit - receive),
    )


# --- the server -----------------------------------------------------------------------------------------


class NtpServer:
    """`chronyd -x -d` with its own config, pidfile and no command sockets, on a free loopback UDP port."""

    def __init__(
        self, workdir: Path, port: int | None = None, offset_seconds: float = 0.0, host: str = "127.0.0.1"
    ) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        # Any 127.x.y.z works on Linux loopback. chronyd tells sources apart by address only, so a client that
        # should know two of these servers at once (or switch with `chronyc reload sources`) needs them on
        # different addresses; same address, other port makes `reload sources` fail ("Could not add source").
        self.host = host
        self.port = port or free_udp_port(self.host)
        self.offset_seconds = float(offset_seconds)
        self.config_path = workdir / "chronyd.conf"
        self.log_path = workdir / "chronyd.log"
        self.process: ManagedProcess | None = None
        chronyd = find_chronyd()
        if chronyd is None:
            raise FileNotFoundError("chronyd is not installed (Debian package chrony; see scripts/system-deps.sh)")
        self.chronyd = chronyd

    def _config(self) -> str:
        return (
            "# Test NTP server; never shares a file or socket with the machine's own chronyd.\n"
            "local stratum 8\n"
            f"port {self.port}\n"
            f"bindaddress {self.host}\n"
            "allow 127.0.0.0/8\n"
            "cmdport 0\n"
            "bindcmdaddress /\n"  # "/" disables the Unix command socket (default /run/chrony/chronyd.sock)
            f"pidfile {self.workdir / 'chronyd.pid'}\n"
        )

    def _environment(self) -> dict[str, str]:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
        if self.offset_seconds:
            library = find_libfaketime()
            if library is None:
                raise FileNotFoundError(
                    "offset_seconds needs libfaketime (Debian package faketime; see scripts/system-deps.sh)"
                )
            env.update(
                LD_PRELOAD=str(library),
                FAKETIME=faketime_spec(self.offset_seconds),
                # Only wall-clock time moves; chronyd's timers keep running on the real monotonic clock.
                FAKETIME_DONT_FAKE_MONOTONIC="1",
            )
        return env

    def start(self) -> NtpServer:
        self.config_path.write_text(self._config())
        self.process = ManagedProcess(
            [str(self.chronyd), "-x", "-d", "-f", str(self.config_path)],
            log_path=self.log_path,
            env=self._environment(),
        )
        try:
            wait_for(self._serving, timeout=30, what=f"chronyd NTP server on {self.host}:{self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def _serving(self) -> bool:
        if self.process and not self.process.alive():
            raise RuntimeError(f"chronyd exited:\n{self.process.log_tail()}")
        return query(self.host, self.port, timeout=0.5).synchronised

    def query(self, timeout: float = 1.0) -> NtpSample:
        return query(self.host, self.port, timeout=timeout)

    def stop(self) -> None:
        if self.process:
            self.process.stop()

    def __enter__(self) -> NtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def faketime_spec(offset_seconds: float) -> str:
    """libfaketime's relative-offset form, e.g. +5s or -2.5s."""
    text = f"{offset_seconds:+.6f}".rstrip("0").rstrip(".")
    return f"{text}s"


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness ntp", description=__doc__)
    parser.add_argument("--port", type=int, help="UDP port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--offset", type=float, default=0.0, help="serve time shifted by this many seconds")
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (any 127.x.y.z)")
    parser.add_argument("--workdir", type=Path, help="where config and log go")
    options = parser.parse_args(argv)
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="ntp-", dir=OUTPUT_DIR))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with NtpServer(workdir, port=options.port, offset_seconds=options.offset, host=options.host) as server:
        sample = server.query()
        print(f"NTP server: {server.host}:{server.port} (stratum {sample.stratum}, offset {sample.offset:+.3f}s)")
        print(f"chrony source line: server {server.host} port {server.port} iburst")
        print(f"log: {server.log_path}")
        print("Ctrl-C stops it.", flush=True)
        stop.wait()
    return 0
