# Copyright: (c) 2026, tradebot.kucoin contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Small immutable records for the lookup's hot path.

Ansible runs a lookup in a fresh fork per host, and that fork defines every class it imports. A NamedTuple
generates and compiles code per class (~0.9 ms of CPU each in a worker), a dataclass more (~2.6 ms for the
Vault settings); a subclass of Record generates nothing (~0.06 ms).
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

R = TypeVar("R", bound="Record")


class Record:
    """Fields are the subclass's __slots__; _defaults fills the ones not given; _hidden stay out of repr."""

    __slots__: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _hidden: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Fields are read from the class's own __slots__, so a record of a record would lose its parent's.
        if cls.__bases__ != (Record,) or "__slots__" not in cls.__dict__:
            raise TypeError(f"{cls.__name__}: subclass Record directly and name its fields in __slots__")
        stray = (set(cls._defaults) | set(cls._hidden)) - set(cls.__slots__)
        if stray:
            raise TypeError(f"{cls.__name__}: _defaults or _hidden name no field: {', '.join(sorted(stray))}")

    def __init__(self, *values: Any, **named: Any) -> None:
        fields = self.__slots__
        if len(values) > len(fields):
            raise TypeError(f"{type(self).__name__} takes at most {len(fields)} values")
        given = dict(zip(fields, values))  # noqa: B905  # fewer values than fields is fine
        for name, value in named.items():
            if name not in fields or name in given:
                raise TypeError(f"{type(self).__name__} got an unknown or repeated field {name!r}")
            given[name] = value
        for name in fields:
            if name in given:
                value = given[name]
            elif name in self._defaults:
                value = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use replace()")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def replace(self: R, **changes: Any) -> R:
        return type(self)(**{**dict(zip(self.__slots__, self.values(), strict=True)), **changes})

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.values() == other.values()  # type: ignore[attr-defined]

    def __reduce__(self) -> tuple[Any, ...]:
        # copy and pickle rebuild through __init__: the blocked __setattr__ would stop their default path.
        return (type(self), self.values())

    def __hash__(self) -> int:
        return hash((type(self), self.values()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={value!r}"
            for name, value in zip(self.__slots__, self.values(), strict=True)
            if name not in self._hidden
        )
        return f"{type(self).__name__}({shown})"
