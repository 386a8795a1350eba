# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Writing a file that holds a secret: compared by digest, written atomically with its final owner and mode.

Nothing here puts the content in a message or a result: errors name paths, owners and modes only.
"""

from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_MODE = "0600"
TEMP_SUFFIX = ".tmp"


class SecretFileError(Exception):
    """A one-line reason the file cannot be written, naming what to change."""


@dataclass(frozen=True)
class Attributes:
    uid: int
    gid: int
    mode: int

    def describe(self) -> str:
        return f"owner {user_name(self.uid)}, group {group_name(self.gid)}, mode {self.mode:04o}"


@dataclass(frozen=True)
class Plan:
    """What writing the file would change."""

    path: str
    wanted: Attributes
    before: Attributes | None  # None: the file does not exist
    content_differs: bool
    leftovers: tuple[str, ...]  # temporary files an interrupted earlier write left beside the file
    # An error, except in check mode, where an earlier task of the same dry run would create the directory.
    missing_directory: str | None = None

    @property
    def rewrite(self) -> bool:
        return self.before is None or self.content_differs or self.before != self.wanted

    @property
    def changed(self) -> bool:
        return self.rewrite or bool(self.leftovers)


def parse_mode(value: object) -> int:
    """An octal mode as Ansible users write it ('0600', '600', 0o600 or the int YAML makes of 0600)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip():
        text = value.strip().lower().removeprefix("0o")
        if not text.isdigit() or set(text) - set("01234567"):
            raise SecretFileError(f"mode {value!r} is not an octal mode; write it like '0600'")
        number = int(text, 8)
    else:
        raise SecretFileError(f"mode {value!r} is not an octal mode; write it like '0600'")
    if not 0 <= number <= 0o7777:
        raise SecretFileError(f"mode {value!r} is out of range; write it like '0600'")
    return number


def _resolve(value: str | None, default: int, lookup: Callable[[str], int], kind: str) -> int:
    """A user or group name or numeric ID as a number; `default` when unset."""
    if value is None or value == "":
        return default
    if value.isdigit():
        return int(value)
    try:
        return lookup(value)
    except KeyError:
        raise SecretFileError(f"{kind} {value!r} does not exist on this host; create it or change {kind}") from None


def resolve_user(owner: str | None, default: int) -> int:
    return _resolve(owner, default, lambda name: pwd.getpwnam(name).pw_uid, "owner")


def resolve_group(group: str | None, default: int) -> int:
    return _resolve(group, default, lambda name: grp.getgrnam(name).gr_gid, "group")


def _name(number: int, lookup: Callable[[int], str]) -> str:
    try:
        return lookup(number)
    except KeyError:
        return str(number)


def user_name(uid: int) -> str:
    return _name(uid, lambda n: pwd.getpwuid(n).pw_name)


def group_name(gid: int) -> str:
    return _name(gid, lambda n: grp.getgrgid(n).gr_name)


def _digest(path: str) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(65536), b""):
            digest.update(block)
    return digest.digest()


def _leftovers(path: str) -> tuple[str, ...]:
    directory, name = os.path.split(path)
    prefix = f".{name}."
    try:
        entries = os.listdir(directory or ".")
    except OSError:
        return ()
    return tuple(
        sorted(os.path.join(directory, e) for e in entries if e.startswith(prefix) and e.endswith(TEMP_SUFFIX))
    )


def plan(path: str, content: bytes, owner: str | None, group: str | None, mode: object) -> Plan:
    """Compare what is on disk with what is wanted; reads the existing file only to digest it.

    Unset owner and group keep the existing file's, or are the running user's for a new file."""
    if not os.path.isabs(path):
        raise SecretFileError(f"path {path!r} is not absolute; give the full path")
    directory = os.path.dirname(path)
    try:
        current = os.lstat(path)
    except FileNotFoundError:
        current = None
    except OSError as exc:
        raise SecretFileError(f"cannot read {path}: {exc.strerror}") from None
    if current is not None and not stat.S_ISREG(current.st_mode):
        raise SecretFileError(f"{path} exists and is not a regular file (a link or directory); remove it first")
    missing = None
    if current is None and not os.path.isdir(directory):
        missing = f"the directory {directory} does not exist; create it before writing {path}"
    wanted = Attributes(
        uid=resolve_user(owner, current.st_uid if current else os.geteuid()),
        gid=resolve_group(group, current.st_gid if current else os.getegid()),
        mode=parse_mode(DEFAULT_MODE if mode is None else mode),
    )
    before = None
    differs = True
    if current is not None:
        before = Attributes(current.st_uid, current.st_gid, stat.S_IMODE(current.st_mode))
        try:
            differs = _digest(path) != hashlib.sha256(content).digest()
        except OSError as exc:
            raise SecretFileError(f"cannot read {path}: {exc.strerror}") from None
    return Plan(path, wanted, before, differs, _leftovers(path), missing)


def apply(plan: Plan, content: bytes, move: Callable[[str, str], None]) -> None:
    """Carry out the plan: remove leftovers, then write a temporary file in the destination directory that has
    the final owner and mode before its first byte, and move it over the file with `move` (atomic rename)."""
    if plan.missing_directory:
        raise SecretFileError(plan.missing_directory)
    for leftover in plan.leftovers:
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SecretFileError(f"cannot remove the leftover {leftover}: {exc.strerror}") from None
    if not plan.rewrite:
        return
    directory, name = os.path.split(plan.path)
    # Owner-only until the final mode is set: the move gives a new file the umask's mode for a moment.
    umask = os.umask(0o077)
    temp = ""
    try:
        try:
            fd, temp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=TEMP_SUFFIX)
        except OSError as exc:
            raise SecretFileError(f"cannot create a file in {directory}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as handle:
            _set_attributes(
                plan, lambda: os.fchown(fd, plan.wanted.uid, plan.wanted.gid), lambda: os.fchmod(fd, plan.wanted.mode)
            )
            try:
                handle.write(content)
                handle.flush()
                os.fsync(fd)
            except OSError as exc:
                raise SecretFileError(f"cannot write {plan.path}: {exc.strerror}") from None
        move(temp, plan.path)
        _set_attributes(
            plan,
            lambda: os.chown(plan.path, plan.wanted.uid, plan.wanted.gid),
            lambda: os.chmod(plan.path, plan.wanted.mode),
        )
        _sync_directory(directory)
    finally:
        os.umask(umask)
        if temp and os.path.lexists(temp):
            os.unlink(temp)


def _set_attributes(plan: Plan, chown: Callable[[], None], chmod: Callable[[], None]) -> None:
    """chown before chmod: a chown clears the setuid and setgid bits."""
    try:
        chown()
        chmod()
    except OSError as exc:
        raise SecretFileError(
            f"cannot give {plan.path} {plan.wanted.describe()}: {exc.strerror} (the module must run as root, or"
            " as the wanted owner)"
        ) from None


def _sync_directory(directory: str) -> None:
    """Make the rename durable: a power cut right after the run keeps the new file."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename stands anyway
    finally:
        os.close(fd)
