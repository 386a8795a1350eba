"""Record: construction by position and name, defaults, immutability, equality, replace() and a repr that hides."""

from __future__ import annotations

import copy
import pickle
from typing import Any, ClassVar

import pytest

from ansible_collections.tradebot.kucoin.plugins.plugin_utils.record import Record


class Login(Record):
    __slots__ = ("user", "password", "port")  # noqa: RUF023  # positional order
    user: str
    password: str
    port: int
    _defaults: ClassVar[dict[str, Any]] = {"port": 8200}
    _hidden: ClassVar[frozenset[str]] = frozenset({"password"})


class Other(Record):
    __slots__ = ("user", "password", "port")  # noqa: RUF023
    _defaults: ClassVar[dict[str, Any]] = {"port": 8200}


def test_fields_by_position_and_name_with_defaults() -> None:
    by_position = Login("alice", "Zq-pw")
    assert (by_position.user, by_position.password, by_position.port) == ("alice", "Zq-pw", 8200)
    assert Login(user="alice", password="Zq-pw", port=1).port == 1
    assert Login("alice", password="Zq-pw") == by_position


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("a", "b", 1, 2), {}, "takes at most 3 values"),
        (("a",), {"user": "b", "password": "c"}, "unknown or repeated field 'user'"),
        ((), {"user": "a", "password": "b", "colour": "red"}, "unknown or repeated field 'colour'"),
        (("a",), {}, "needs 'password'"),
    ],
)
def test_wrong_fields_are_refused(args: tuple[Any, ...], kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Login(*args, **kwargs)


def test_records_are_immutable() -> None:
    login = Login("alice", "Zq-pw")
    with pytest.raises(AttributeError, match="immutable"):
        login.user = "bob"  # type: ignore[misc]
    with pytest.raises(AttributeError, match="immutable"):
        del login.user
    with pytest.raises(AttributeError):
        login.colour = "red"  # type: ignore[attr-defined]


def test_replace_makes_a_changed_copy() -> None:
    login = Login("alice", "Zq-pw")
    moved = login.replace(port=443)
    assert (moved.user, moved.port) == ("alice", 443)
    assert login.port == 8200
    assert isinstance(moved, Login)


def test_equality_and_hash_need_the_same_class_and_values() -> None:
    assert Login("a", "b") == Login("a", "b")
    assert hash(Login("a", "b")) == hash(Login("a", "b"))
    assert Login("a", "b") != Login("a", "c")
    assert Login("a", "b") != Other("a", "b")
    assert Login("a", "b") != ("a", "b", 8200)


def test_repr_leaves_hidden_fields_out() -> None:
    assert repr(Login("alice", "Zq-pw")) == "Login(user='alice', port=8200)"
    assert repr(Other("alice", "pw")) == "Other(user='alice', password='pw', port=8200)"


def test_copies_and_pickles_are_equal_records() -> None:
    login = Login("alice", "Zq-pw", 1)
    assert copy.copy(login) == login
    assert copy.deepcopy(login) == login
    assert pickle.loads(pickle.dumps(login)) == login  # noqa: S301  # our own bytes


def test_a_record_must_subclass_record_directly_and_name_real_fields() -> None:
    with pytest.raises(TypeError, match="subclass Record directly"):

        class Deeper(Login):
            __slots__ = ("extra",)

    with pytest.raises(TypeError, match="subclass Record directly"):

        class NoSlots(Record):
            pass

    with pytest.raises(TypeError, match="name no field: colour"):

        class Stray(Record):
            __slots__ = ("user",)
            _defaults: ClassVar[dict[str, Any]] = {"colour": "red"}
