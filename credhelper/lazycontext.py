"""`contextlib.contextmanager` and `contextlib.suppress`, importing contextlib on first use.

`import contextlib` also imports `collections` and `functools` (~3 ms), and the
modules of the `get` hot path (store, fsutil, key providers) only need it when
they write. Those modules import this one under the name `contextlib` at run
time and the real contextlib for mypy, so the code and its types read as usual:

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
    """contextlib.contextmanager(func), built the first time it is called."""
    made: Any = None

    def call(*args: Any, **kwargs: Any) -> Any:
        nonlocal made
        if made is None:
            import contextlib

            made = contextlib.contextmanager(func)
        return made(*args, **kwargs)

    call.__name__ = func.__name__
    call.__qualname__ = func.__qualname__
    call.__doc__ = func.__doc__
    call.__wrapped__ = func  # type: ignore[attr-defined]
    return call


def suppress(*exceptions: type[BaseException]) -> Any:
    """contextlib.suppress(*exceptions)."""
    import contextlib

    return contextlib.suppress(*exceptions)
