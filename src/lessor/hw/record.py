"""A frozen record decorator for the `lessor hw` run path, where start-up time is the product.

`dataclasses` pulls in `inspect`, `re` and `enum`: about 17 ms of imports on
the 2-CPU test machine, more than the interpreter's own start-up and five
times the `flock … taskset … true` that `lessor hw` is measured against. This
does the little we use of it: `__init__` with defaults, `__repr__`, `__eq__`,
`__hash__`, and refuses assignment. Type checkers see `dataclass(frozen=True)`
(the modules import it under TYPE_CHECKING), so constructor calls stay checked.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not typing's: importing typing costs ~10 ms of start-up
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_MISSING = object()


def record(*, frozen: bool = True) -> Callable[[type[Any]], type[Any]]:
    """`@record(frozen=True)`, spelled as `dataclass` is, so the two are interchangeable."""
    assert frozen, "records are always frozen"
    return _make


def _make(cls: type[Any]) -> type[Any]:
    """Fields are the class's annotations, in order; class attributes are their defaults."""
    names = tuple(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063 (inspect: start-up)
    defaults = {n: cls.__dict__[n] for n in names if n in cls.__dict__}
    for n in defaults:
        delattr(cls, n)  # the defaults live in __init__; the slots hold the values

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{cls.__name__}() takes {len(names)} arguments, got {len(args)}")
        values = dict(zip(names, args, strict=False))
        for n, v in kwargs.items():
            if n not in names or n in values:
                raise TypeError(f"{cls.__name__}(): bad or repeated argument {n!r}")
            values[n] = v
        for n in names:
            v = values.get(n, defaults.get(n, _MISSING))
            if v is _MISSING:
                raise TypeError(f"{cls.__name__}(): missing argument {n!r}")
            object.__setattr__(self, n, v)

    def _key(self: Any) -> tuple[Any, ...]:
        return tuple(getattr(self, n) for n in names)

    def _eq(self: Any, other: object) -> bool:
        return other.__class__ is self.__class__ and _key(self) == _key(other)

    def _hash(self: Any) -> int:
        return hash(_key(self))

    def _repr(self: Any) -> str:
        return f"{cls.__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in names)})"

    def _setattr(self: Any, name: str, value: object) -> None:
        raise AttributeError(f"{cls.__name__} is frozen: cannot set {name!r}")

    methods: dict[str, Callable[..., Any]] = {
        "__init__": _init,
        "__eq__": _eq,
        "__hash__": _hash,
        "__repr__": _repr,
        "__setattr__": _setattr,
        "__delattr__": lambda self, name: _setattr(self, name, None),
    }
    body = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    return type(cls.__name__, cls.__bases__, {**body, **methods, "__slots__": names})
