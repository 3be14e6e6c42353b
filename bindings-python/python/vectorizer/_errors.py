"""Exception hierarchy of the SDK. Every exception carries the error's `code` and HTTP `status`.

`code` is the server's stable error code (e.g. ``"collection_not_found"``) or a client-side code
(``"connection_failed"``, ``"timeout"``, ``"no_master"``, ``"invalid_response"``, ...);
`status` is the HTTP status, or ``None`` when the failure did not come from a server answer.
"""

from __future__ import annotations


class VectorizerError(Exception):
    """Base class of every error raised by the SDK."""

    code: str
    status: int | None
    master: str | None

    def __init__(self, message: str, code: str, status: int | None = None, master: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.master = master


class NotFoundError(VectorizerError):
    """404: the collection, point or route does not exist."""


class ConflictError(VectorizerError):
    """409: the collection already exists, or the request conflicts with the replication state."""


class ReadOnlyReplicaError(ConflictError):
    """409 ``read_only_replica``: a write reached a replica; `master` names the master if known."""


class ValidationError(VectorizerError, ValueError):
    """4xx: an argument is invalid (dimension mismatch, out of range, too large, ...)."""


class VectorizerConnectionError(VectorizerError, ConnectionError):
    """The endpoint could not be reached, or no master was found."""


class VectorizerTimeoutError(VectorizerError, TimeoutError):
    """The request timed out, or the server's write concern timed out (504)."""


class ServerError(VectorizerError):
    """5xx, or a response the SDK could not understand."""


class NoQuorumError(ServerError):
    """503 ``no_quorum``: a cluster-mode master without a controller lease refused the write.

    The write was not acknowledged: refused before being applied, or (with ``w`` above 1) applied
    but refused when the lease was checked again after the wait. The client has already
    re-discovered the master and retried once if a new master was elected; otherwise retry after
    the failover completes.
    """
