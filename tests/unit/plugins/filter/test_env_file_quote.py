"""env_file_quote: every value reads back exactly through systemd's parser and python-dotenv's, or is refused.

systemd's parser is modelled here on src/basic/env-file.c of systemd 252 (Debian 12), the state machine the
service manager runs for EnvironmentFile=; the integration tests read the same kind of values back from
running services (/proc/<MainPID>/environ), which is where the real parser has the last word.
"""

from __future__ import annotations

import io
import random

import pytest
from ansible.errors import AnsibleFilterError
from dotenv import dotenv_values

from ansible_collections.tradebot.kucoin.plugins.filter.env_file_quote import FilterModule, env_file_quote
from ansible_collections.tradebot.kucoin.plugins.plugin_utils.env_file import (
    EnvFileError,
    quote_value,
    render_env_file,
)

WHITESPACE = " \t\n\r"
NEWLINE = "\n\r"
COMMENTS = "#;"
SHELL_NEED_ESCAPE = '"\\`$'


def systemd_load_env_file(text: str) -> dict[str, str]:
    """systemd 252's parse_env_file_internal + load_env_file_push, character by character."""
    result: dict[str, str] = {}
    state = "PRE_KEY"
    key: list[str] = []
    value: list[str] | None = None
    last_key_ws: int | None = None
    last_value_ws: int | None = None

    def push(trim_value: bool) -> None:
        nonlocal key, value
        name = "".join(key[:last_key_ws] if last_key_ws is not None else key)
        val = value or []
        if trim_value and last_value_ws is not None:
            val = val[:last_value_ws]
        result[name] = "".join(val)
        key, value = [], None

    def append(*chars: str) -> None:
        nonlocal value
        if value is None:
            value = []
        value.extend(chars)

    for c in text:
        if state == "PRE_KEY":
            if c in COMMENTS:
                state = "COMMENT"
            elif c not in WHITESPACE:
                state, last_key_ws = "KEY", None
                key.append(c)
        elif state == "KEY":
            if c in NEWLINE:
                state, key = "PRE_KEY", []
            elif c == "=":
                state, last_value_ws = "PRE_VALUE", None
            else:
                if c not in WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in NEWLINE:
                state = "PRE_KEY"
                push(trim_value=False)
            elif c == "'":
                state = "SINGLE_QUOTE_VALUE"
            elif c == '"':
                state = "DOUBLE_QUOTE_VALUE"
            elif c == "\\":
                state = "VALUE_ESCAPE"
            elif c not in WHITESPACE:
                state = "VALUE"
                append(c)
        elif state == "VALUE":
            if c in NEWLINE:
                state = "PRE_KEY"
                push(trim_value=True)
            elif c == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if c not in WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value or [])
                append(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in NEWLINE:
                append(c)
        elif state == "SINGLE_QUOTE_VALUE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                append(c)
        elif state == "DOUBLE_QUOTE_VALUE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                append(c)
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if c in SHELL_NEED_ESCAPE:
                append(c)
            elif c != "\n":
                append("\\", c)
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "COMMENT"
    if state in {"PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE_QUOTE_VALUE", "DOUBLE_QUOTE_VALUE"}:
        push(trim_value=state == "VALUE")
    return result


def dotenv_read(text: str, interpolate: bool = False) -> dict[str, str | None]:
    # A file on disk is opened in text mode; StringIO with newline=None does the same newline translation.
    return dict(dotenv_values(stream=io.StringIO(text, newline=None), interpolate=interpolate))


HARD_VALUES = {
    "EMPTY": "",
    "DOUBLE_QUOTES": 'say "hi"',
    "SINGLE_QUOTES": "it's 'quoted'",
    "MIXED_QUOTES": "\"'\"'",
    "DOLLAR": "$HOME and $1 and $",
    "DOLLAR_BRACES_ALONE": "cost: 5$ {not a var}",
    "BACKSLASHES": "C:\\path\\to\\n\\t\\\\ end\\",
    "BACKSLASH_QUOTE": "\\\"\\'\\`\\$",
    "TRAILING_BACKSLASH": "ends with \\",
    "HASH": "#not a comment # either",
    "SEMICOLON": ";leading semicolon",
    "SPACES": "  leading and trailing  ",
    "TAB": "\tindented\t",
    "EQUALS": "a=b==c",
    "BACKTICKS": "`uname -a` $(id)",
    "UNICODE": "Grüße, 日本, ₿, 🚀, \ufeffzero-width-nbsp, \u00a0nbsp",
    "CONTROL": "bell\x07esc\x1b[0mdel\x7f",
    "EXPORT_LIKE": "export X=1",
    "BASE64": "q1w2e3+/r4t5y6==",
    "ONLY_SPACE": " ",
    "ONLY_BACKSLASH": "\\",
    "ONLY_QUOTE": '"',
}


def test_every_hard_value_reads_back_exactly_through_systemd_and_dotenv():
    text = render_env_file(HARD_VALUES, header="Managed by Ansible\nsecond line")
    assert systemd_load_env_file(text) == HARD_VALUES
    assert dotenv_read(text) == HARD_VALUES


def test_values_without_dollar_brace_also_survive_dotenv_interpolation():
    text = render_env_file(HARD_VALUES)
    assert dotenv_read(text, interpolate=True) == HARD_VALUES


def test_dotenv_interpolation_is_the_one_documented_exception():
    # python-dotenv expands ${NAME} in any value and offers no escape; systemd keeps it literally.
    text = render_env_file({"TEMPLATE": "${HOME}"})
    assert systemd_load_env_file(text) == {"TEMPLATE": "${HOME}"}
    assert dotenv_read(text) == {"TEMPLATE": "${HOME}"}
    assert dotenv_read(text, interpolate=True)["TEMPLATE"] != "${HOME}"


def test_random_printable_values_round_trip():
    rng = random.Random(20261124)
    alphabet = [chr(c) for c in range(0x20, 0x7F)] + list("\t\x01\x1féßλ€日🚀\u00a0\u2028\u200b")
    values = {f"V{n}": "".join(rng.choices(alphabet, k=rng.randint(0, 40))) for n in range(500)}
    text = render_env_file(values)
    assert systemd_load_env_file(text) == values
    assert dotenv_read(text) == values


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("line\nbreak", "line break"),
        ("carriage\rreturn", "line break"),
        ("nul\0byte", "NUL"),
        ("lone \ud800 surrogate", "not valid UTF-8"),
        ("non\ufffecharacter", "noncharacter U+FFFE"),
        ("non\ufdd0character", "noncharacter U+FDD0"),
        ("plane\U0010ffff", "noncharacter U+10FFFF"),
    ],
)
def test_values_no_file_can_carry_fail_naming_the_variable_not_the_value(value, reason):
    secret_part = "Zq7-distinct"
    with pytest.raises(EnvFileError) as caught:
        render_env_file({"KUCOIN_OK": "fine", "KUCOIN_PASSPHRASE": secret_part + value})
    message = str(caught.value)
    assert message.startswith("environment variable KUCOIN_PASSPHRASE: ")
    assert reason in message
    assert secret_part not in message
    assert caught.value.name == "KUCOIN_PASSPHRASE"


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "É", "A=B", "A\nB"])
def test_invalid_names_are_refused(name):
    with pytest.raises(EnvFileError, match="not a valid variable name"):
        render_env_file({name: "x"})


def test_a_name_twice_is_refused():
    with pytest.raises(EnvFileError, match="ENV_A: set twice"):
        render_env_file([("ENV_A", "1"), ("ENV_A", "2")])


def test_non_string_scalars_are_written_as_text_and_others_refused():
    assert quote_value(2) == '"2"'
    assert quote_value(True) == '"true"'
    assert quote_value(1.5) == '"1.5"'
    with pytest.raises(EnvFileError, match="X: the value is null"):
        quote_value(None, "X")
    with pytest.raises(EnvFileError, match="X: the value is a list"):
        quote_value(["a"], "X")


def test_header_with_backslash_is_refused_because_old_systemd_continues_such_comments():
    with pytest.raises(ValueError, match="backslash"):
        render_env_file({"A": "1"}, header="trailing \\")


def test_filter_quotes_a_value_and_renders_a_mapping():
    assert FilterModule().filters()["env_file_quote"] is env_file_quote
    assert env_file_quote('a "b" \\c') == '"a \\"b\\" \\\\c"'
    assert env_file_quote({"A": "1", "B": "$x"}, header="hi") == '# hi\nA="1"\nB="$x"\n'


def test_filter_errors_are_ansible_errors_with_the_name_and_without_the_value():
    with pytest.raises(AnsibleFilterError) as caught:
        env_file_quote("top\nsecret-value", "KUCOIN_SECRET_KEY")
    assert "KUCOIN_SECRET_KEY" in str(caught.value)
    assert "secret-value" not in str(caught.value)
    assert caught.value.__cause__ is None
    with pytest.raises(AnsibleFilterError, match="NEW_VAR"):
        env_file_quote({"NEW_VAR": "\0"})


def test_the_oracle_itself_follows_systemd_rules():
    # Guards the model: a comment ending in a backslash swallows the next line (before systemd 254), unquoted
    # values are trimmed, single quotes are literal, unknown escapes stay in double quotes.
    text = "# c \\\nHIDDEN=1\n A = x y  \nB='a\\b'\nC=\"a\\qb\\$\"\n;D=1\nE=\\#x\n"
    assert systemd_load_env_file(text) == {"A": "x y", "B": "a\\b", "C": "a\\qb$", "E": "#x"}
