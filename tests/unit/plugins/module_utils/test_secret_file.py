"""Secret files: compared by digest, written through a temporary file that has the final owner and mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ansible_collections.tradebot.kucoin.plugins.module_utils._secret_file import (
    Attributes,
    SecretFileError,
    apply,
    parse_mode,
    plan,
)

CONTENT = b"KUCOIN_SECRET_KEY=Zq-UNIT-SECRET-5e1f\n"
AS_ROOT = os.geteuid() == 0


def rename(src: str, dest: str) -> None:
    os.rename(src, dest)


def me() -> Attributes:
    return Attributes(os.geteuid(), os.getegid(), 0o600)


def attributes(path: Path) -> Attributes:
    found = path.stat()
    return Attributes(found.st_uid, found.st_gid, stat.S_IMODE(found.st_mode))


@pytest.mark.parametrize(("value", "expected"), [("0600", 0o600), ("400", 0o400), ("0o640", 0o640), (0o600, 0o600)])
def test_modes_as_ansible_users_write_them(value: object, expected: int) -> None:
    assert parse_mode(value) == expected


@pytest.mark.parametrize("value", ["u=rw", "0800", "", "99999", True, None, 0o10000])
def test_other_modes_fail_saying_how_to_write_one(value: object) -> None:
    with pytest.raises(SecretFileError, match="write it like '0600'"):
        parse_mode(value)


def test_a_new_file_gets_content_owner_and_mode_and_leaves_no_other_file(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    seen: list[tuple[Attributes, bytes]] = []

    def move(src: str, dest: str) -> None:
        # What the temporary file is when it replaces the target: already owner-only, already complete.
        seen.append((attributes(Path(src)), Path(src).read_bytes()))
        assert Path(src).parent == tmp_path
        rename(src, dest)

    found = plan(str(target), CONTENT, None, None, "0400")
    assert found.changed
    assert found.before is None
    assert found.content_differs
    apply(found, CONTENT, move)

    assert target.read_bytes() == CONTENT
    assert attributes(target) == Attributes(os.geteuid(), os.getegid(), 0o400)
    assert seen == [(Attributes(os.geteuid(), os.getegid(), 0o400), CONTENT)]
    assert [p.name for p in tmp_path.iterdir()] == ["bot.env"]


def test_the_same_file_again_changes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    apply(plan(str(target), CONTENT, None, None, "0600"), CONTENT, rename)
    inode = target.stat().st_ino

    again = plan(str(target), CONTENT, None, None, "0600")

    assert not again.changed
    assert not again.content_differs
    apply(again, CONTENT, rename)
    assert target.stat().st_ino == inode


def test_new_content_replaces_the_file_atomically(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    apply(plan(str(target), CONTENT, None, None, "0600"), CONTENT, rename)
    inode = target.stat().st_ino

    found = plan(str(target), b"other\n", None, None, "0600")

    assert found.changed
    assert found.content_differs
    assert found.before == me()
    apply(found, b"other\n", rename)
    assert target.read_bytes() == b"other\n"
    assert target.stat().st_ino != inode  # a new file renamed over the old one, not the old one rewritten


def test_a_wider_mode_on_disk_is_narrowed_without_touching_the_content(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    target.write_bytes(CONTENT)
    target.chmod(0o644)

    found = plan(str(target), CONTENT, None, None, "0600")

    assert found.changed
    assert not found.content_differs
    apply(found, CONTENT, rename)
    assert attributes(target) == me()
    assert target.read_bytes() == CONTENT


@pytest.mark.skipif(not AS_ROOT, reason="giving a file to another user needs root")
def test_owner_and_group_by_name_or_id(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    apply(plan(str(target), CONTENT, "nobody", "65534", "0640"), CONTENT, rename)
    assert attributes(target) == Attributes(65534, 65534, 0o640)
    # Unset owner and group keep the existing file's.
    assert not plan(str(target), CONTENT, None, None, "0640").changed


def test_a_leftover_of_an_interrupted_write_is_removed(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    apply(plan(str(target), CONTENT, None, None, "0600"), CONTENT, rename)
    leftover = tmp_path / ".bot.env.k2j4h1.tmp"
    leftover.write_bytes(CONTENT)
    unrelated = tmp_path / ".other.env.k2j4h1.tmp"
    unrelated.write_bytes(b"x")

    found = plan(str(target), CONTENT, None, None, "0600")

    assert found.changed
    assert not found.rewrite
    apply(found, CONTENT, rename)
    assert not leftover.exists()
    assert unrelated.exists()


def test_a_failed_move_leaves_the_old_file_and_no_temporary_one(tmp_path: Path) -> None:
    target = tmp_path / "bot.env"
    apply(plan(str(target), CONTENT, None, None, "0600"), CONTENT, rename)

    def broken(src: str, dest: str) -> None:
        raise OSError("rename refused")

    with pytest.raises(OSError, match="rename refused"):
        apply(plan(str(target), b"new\n", None, None, "0600"), b"new\n", broken)
    assert target.read_bytes() == CONTENT
    assert [p.name for p in tmp_path.iterdir()] == ["bot.env"]


def test_a_missing_directory_is_reported_and_fails_only_when_writing(tmp_path: Path) -> None:
    target = tmp_path / "absent" / "bot.env"
    found = plan(str(target), CONTENT, None, None, "0600")
    assert found.changed
    with pytest.raises(SecretFileError, match=r"the directory .*/absent does not exist; create it before writing"):
        apply(found, CONTENT, rename)


def test_a_link_or_directory_at_the_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "real").write_bytes(b"x")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    for name in ("link", "."):
        with pytest.raises(SecretFileError, match="is not a regular file"):
            plan(str(tmp_path / name), CONTENT, None, None, "0600")


@pytest.mark.parametrize(
    ("path", "owner", "group", "message"),
    [
        ("relative/bot.env", None, None, "is not absolute"),
        (None, "no-such-user-x9", None, "owner 'no-such-user-x9' does not exist on this host"),
        (None, None, "no-such-group-x9", "group 'no-such-group-x9' does not exist on this host"),
    ],
)
def test_errors_are_one_line_and_never_hold_the_content(
    tmp_path: Path, path: str | None, owner: str | None, group: str | None, message: str
) -> None:
    with pytest.raises(SecretFileError) as raised:
        plan(path or str(tmp_path / "bot.env"), CONTENT, owner, group, "0600")
    text = str(raised.value)
    assert message in text
    assert "\n" not in text
    assert "Zq-UNIT" not in text
