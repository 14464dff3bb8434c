"""Typed exceptions carrying the wire status (wire-v1.md §7).

Every failed call raises a subclass of :class:`SwitchyardError` whose ``status`` is the wire status code the
service (or, for deadlines and lost connections, the client) gave::

    try:
        client.infer("digits", {"X": rows})
    except switchyard.ResourceExhausted:   # shed: retry later or elsewhere
        ...
    except switchyard.SwitchyardError as error:
        print(error.status, error.status_name, error.message)
"""

from __future__ import annotations

STATUS_NAMES = {
    0: "ok", 1: "cancelled", 2: "unknown", 3: "invalid argument", 4: "deadline exceeded", 5: "not found",
    6: "already exists", 7: "permission denied", 8: "resource exhausted", 9: "failed precondition", 10: "aborted",
    11: "out of range", 12: "unimplemented", 13: "internal", 14: "unavailable", 15: "data loss", 16: "unauthenticated",
}


class SwitchyardError(Exception):
    """A call that did not succeed: ``status`` is the wire status code, ``message`` says why."""

    status: int = 2

    def __init__(self, message: str, status: int | None = None) -> None:
        if status is not None:
            self.status = status
        super().__init__(f"{self.status_name}: {message}" if message else self.status_name)
        self.message = message

    @property
    def status_name(self) -> str:
        """The status as users read it, e.g. ``deadline exceeded``."""
        return STATUS_NAMES.get(self.status, f"status {self.status}")

    @property
    def retryable(self) -> bool:
        """Whether trying again (later, or on another instance) may succeed."""
        return self.status in (8, 14)


class Cancelled(SwitchyardError):
    """The call was cancelled."""

    status = 1


class Unknown(SwitchyardError):
    """A status this client does not know, or ``unknown``."""

    status = 2


class InvalidArgument(SwitchyardError):
    """The request is malformed or does not fit the model (shape, dtype, missing input)."""

    status = 3


class DeadlineExceeded(SwitchyardError):
    """The deadline passed before the answer came; the server was told to stop (CANCEL)."""

    status = 4


class NotFound(SwitchyardError):
    """No such model, version, method or request."""

    status = 5


class PermissionDenied(SwitchyardError):
    """Authenticated but not allowed (e.g. an admin method without an admin certificate)."""

    status = 7


class ResourceExhausted(SwitchyardError):
    """Shed: a queue or an in-flight limit is full. Retry later or elsewhere."""

    status = 8


class FailedPrecondition(SwitchyardError):
    """The system is not in a state where the call can run (model not ready, a rollout running)."""

    status = 9


class Unimplemented(SwitchyardError):
    """The service does not implement this."""

    status = 12


class Internal(SwitchyardError):
    """A bug or an unexpected failure inside the service."""

    status = 13


class Unavailable(SwitchyardError):
    """The service cannot be reached, the connection was lost, or it is draining. Retryable.

    ``processed`` is ``False`` when the server said it did not process the request (a graceful GOAWAY above its
    last request id): safe to retry even if not idempotent. ``None`` means it may have been processed.
    """

    status = 14

    def __init__(self, message: str, processed: bool | None = None) -> None:
        super().__init__(message)
        self.processed = processed


class Unauthenticated(SwitchyardError):
    """No or invalid credentials."""

    status = 16


class ProtocolError(Unavailable):
    """A peer broke the wire protocol; ``name`` is the error name of wire-v1.md §8 (e.g. ``unknownRequest``)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"protocol error: {name}: {message}")
        self.name = name


_BY_STATUS = {cls.status: cls for cls in (Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound,
                                          PermissionDenied, ResourceExhausted, FailedPrecondition, Unimplemented,
                                          Internal, Unavailable, Unauthenticated)}


def error_for(status: int, message: str) -> SwitchyardError:
    """The exception for a wire status (codes without a class of their own keep their number)."""
    cls = _BY_STATUS.get(status)
    return cls(message) if cls is not None else SwitchyardError(message, status)
