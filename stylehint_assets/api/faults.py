"""Which failures mean "the learning store is unreachable" (503 and Retry-After, not 500)."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

RETRY_AFTER_SECONDS = 5


DRIVERS = ("psycopg2", "psycopg", "sqlite3")


def store_unavailable(exc: BaseException) -> bool:
    """Refused or dropped connections, a full pool, a database that does not accept connections.

    Also the driver's own errors: the bulk path writes through the driver's cursor (COPY), so a
    connection lost there is not wrapped by SQLAlchemy."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    if isinstance(exc, DBAPIError):
        return bool(exc.connection_invalidated)
    kind = type(exc)
    return kind.__name__ in ("OperationalError", "InterfaceError") and kind.__module__.split(".")[0] in DRIVERS
