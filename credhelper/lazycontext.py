"""`contextlib.contextmanager` and `contextlib.suppress` without importing contextlib.

`import contextlib` also imports `collections` and `functools` (~3 ms of a
~40 ms `store`); the two are small protocols, reproduced here as CPython 3.11
writes them (tests/test_fastpaths.py runs both side by side with contextlib's).
The store, fsutil and the key providers import this module under the name
`contextlib` at run time and the real contextlib for mypy, so the code and its
types read as usual:

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        import contextlib
    else:
        from credhelper import lazycontext as contextlib
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def contextmanager(func: Any) -> Any:
    """contextlib.contextmanager(func): `with func(...) as x` runs the generator around the body."""

    def call(*args: Any, **kwargs: Any) -> _GeneratorContext:
        return _GeneratorContext(func(*args, **kwargs))

    call.__name__ = func.__name__
    call.__qualname__ = func.__qualname__
    call.__doc__ = func.__doc__
    call.__wrapped__ = func  # type: ignore[attr-defined]
    return call


class _GeneratorContext:
    """contextlib._GeneratorContextManager's protocol (CPython 3.11), without contextlib."""

    __slots__ = ("gen",)

    def __init__(self, gen: Any) -> None:
        self.gen = gen

    def __enter__(self) -> Any:
        try:
            return next(self.gen)
        except StopIteration:
            raise RuntimeError("generator didn't yield") from None

    def __exit__(self, typ: Any, value: Any, traceback: Any) -> bool:
        if typ is None:
            try:
                next(self.gen)
            except StopIteration:
                return False
            raise RuntimeError("generator didn't stop")
        if value is None:
            value = typ()
        try:
            self.gen.throw(value)
        except StopIteration as exc:
            return exc is not value  # the generator swallowed the exception
        except RuntimeError as exc:
            if exc is value or (isinstance(value, StopIteration) and exc.__cause__ is value):
                value.__traceback__ = traceback
                return False
            raise
        except BaseException as exc:
            if exc is not value:
                raise
            exc.__traceback__ = traceback
            return False
        raise RuntimeError("generator didn't stop after throw()")


class suppress:  # contextlib's name
    """contextlib.suppress(*exceptions)."""

    __slots__ = ("_exceptions",)

    def __init__(self, *exceptions: type[BaseException]) -> None:
        self._exceptions = exceptions

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, value: Any, traceback: Any) -> bool:
        return typ is not None and issubclass(typ, self._exceptions)
