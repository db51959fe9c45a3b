"""The store's one driver boundary: whatever the database stack raises becomes a StoreError.

SQLAlchemy wraps what the DBAPI raises while a statement runs, but not what happens while
a connection is being opened: with asyncpg a refused or reset connection
(``ConnectionRefusedError``, ``socket.gaierror``: ``OSError``), a connect timeout
(``TimeoutError``) and the server's own refusals ("the database system is starting up":
``asyncpg.PostgresError``) reach the caller raw. The recorder retries ``StoreError`` and
nothing else, so one such error let through ended the process (issue 11, defect 3).
Every store read and write therefore runs inside :func:`map_store_errors`, and nothing
else in ``gati.store`` catches driver errors.

Mapped::

    StoreError                  the database refused a statement (SQLAlchemyError)
    └── StoreUnavailable        the database cannot be reached: connecting failed, the
                                connection broke, or the server refuses connections now
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gati.errors import GatiError, StoreError, StoreUnavailable


def _driver_errors() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(every driver error, those that mean "unreachable"), asyncpg's when installed.

    ``OSError`` covers refused and reset connections, DNS failures and timeouts.
    """
    try:
        import asyncpg  # type: ignore[import-untyped]
    except ImportError:  # a SQLite-only installation
        return (OSError,), (OSError,)
    unreachable = (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                   asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)
    return (*unreachable, asyncpg.PostgresError), unreachable


_DRIVER_ERRORS, _UNREACHABLE = _driver_errors()


@contextmanager
def map_store_errors(what: str) -> Iterator[None]:
    """Run a store operation; re-raise any database failure as a :class:`StoreError`.

    Usable around ``await`` in async code. Gati's own errors (a ``SchemaNotFound``, a
    ``StoreError`` raised inside) pass through unchanged; so do cancellation and
    programming errors (``TypeError``, ``KeyError``...), which no retry would cure.

    Args:
        what: the operation, for the message ("writing 12 events").

    Raises:
        StoreUnavailable: the database could not be reached.
        StoreError: the database refused the operation.
    """
    try:
        yield
    except GatiError:
        raise
    except SQLAlchemyError as exc:
        raise _from_sqlalchemy(what, exc) from exc
    except _DRIVER_ERRORS as exc:
        raise _classify(what, exc, exc) from exc


def _from_sqlalchemy(what: str, exc: SQLAlchemyError) -> StoreError:
    orig = exc.orig if isinstance(exc, DBAPIError) else None
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return StoreUnavailable(f"{what}: the database is unreachable: {_first_line(orig or exc)}")
    # The asyncpg dialect's DBAPI error wraps asyncpg's own as its cause.
    cause = orig.__cause__ if orig is not None and orig.__cause__ is not None else orig
    return _classify(what, exc, cause if isinstance(cause, BaseException) else exc)


def _classify(what: str, exc: BaseException, cause: BaseException) -> StoreError:
    """Unavailable when ``cause`` says the server cannot be reached, else refused."""
    text = _first_line(cause)
    if isinstance(cause, _UNREACHABLE):
        return StoreUnavailable(f"{what}: the database is unreachable: {text}")
    lowered = str(exc).lower()
    missing = "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered)
    hint = "; Gati's tables are missing: run `gati migrate`" if missing else ""
    return StoreError(f"{what}: {text}{hint}")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
