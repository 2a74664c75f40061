"""Which failures mean "the learning store is unreachable" (503 and Retry-After, not 500)."""
from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, TimeoutError as PoolTimeout

RETRY_AFTER_SECONDS = 5


def store_unavailable(exc: BaseException) -> bool:
    """Refused or dropped connections, a full pool, a database that does not accept connections."""
    if isinstance(exc, (OperationalError, InterfaceError, PoolTimeout)):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)
