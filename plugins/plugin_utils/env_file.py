# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one environment-file quoting of the collection: lines that systemd and python-dotenv read back exactly.

Every value is written double-quoted, with only backslash and double quote escaped (``\\\\`` and ``\\"``):

- systemd's EnvironmentFile= parser (src/basic/env-file.c) keeps everything inside double quotes literally
  except a backslash followed by one of ``"`` ``\\`` `````` ``$``, which yields that character; quoted text
  keeps leading/trailing blanks and ``#``. ``$`` is never expanded in an EnvironmentFile.
- python-dotenv decodes ``\\\\`` and ``\\"`` (and ``\\n``-style sequences, which this encoding never
  produces because every backslash is doubled) inside double quotes.

What neither can carry is refused: NUL (C strings), CR and LF (python-dotenv reads in text mode, which turns a
CR into LF; systemd would keep it), text that is not valid UTF-8 (lone surrogates) and Unicode noncharacters,
which systemd's UTF-8 check rejects, dropping the whole assignment.

python-dotenv expands ``${NAME}`` in every value unless read with ``interpolate=False``; no quoting escapes
that, so files holding such values must be read with ``dotenv_values(path, interpolate=False)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class EnvFileError(ValueError):
    """A name or value no environment file can carry. The message names the variable, never its value."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"environment variable {name}: {reason}")
        self.name = name
        self.reason = reason


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def value_problem(value: str) -> str | None:
    """Why `value` cannot be written, described without quoting it; None when it can."""
    for char in value:
        code = ord(char)
        if char == "\0":
            return "the value contains a NUL character, which no environment file can carry"
        if char in "\r\n":
            return "the value contains a line break, which environment files cannot carry"
        if 0xD800 <= code <= 0xDFFF:
            return "the value is not valid UTF-8 (it holds a lone surrogate)"
        if _is_noncharacter(code):
            return f"the value contains the Unicode noncharacter U+{code:04X}, which systemd rejects"
    return None


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        shown = name if isinstance(name, str) and len(name) <= 64 else type(name).__name__
        raise EnvFileError(str(shown), "not a valid variable name (letters, digits and _, not starting with a digit)")
    return name


def _as_text(name: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    if value is None:
        raise EnvFileError(name, "the value is null")
    raise EnvFileError(name, f"the value is a {type(value).__name__}, not a string or number")


def quote_value(value: object, name: str = "value") -> str:
    """`value` as a double-quoted environment-file value; EnvFileError naming `name` when impossible."""
    text = _as_text(name, value)
    problem = value_problem(text)
    if problem:
        raise EnvFileError(name, problem)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_env_file(variables: Mapping[str, object] | Iterable[tuple[str, object]], header: str = "") -> str:
    """A whole file: optional `# header` comment lines, then NAME="value" lines in the given order."""
    items = variables.items() if isinstance(variables, Mapping) else variables
    if "\\" in header or "\0" in header:
        # systemd before v254 continues a comment ending in a backslash onto the next line.
        raise ValueError("the header must not contain backslashes or NUL")
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    seen: set[str] = set()
    for name, value in items:
        check_name(name)
        if name in seen:
            raise EnvFileError(name, "set twice")
        seen.add(name)
        lines.append(f"{name}={quote_value(value, name)}")
    return "".join(f"{line}\n" for line in lines)
