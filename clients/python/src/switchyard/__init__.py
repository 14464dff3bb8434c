"""Switchyard's Python client: calls a Switchyard router (or any service of the mesh) over its wire protocol.

``Client`` blocks, ``AsyncClient`` is for asyncio; both keep many calls in flight on one TLS connection and
take and give numpy arrays. Failed calls raise a :class:`SwitchyardError` subclass per wire status.
"""

from .aio import AsyncClient, Result
from .client import Client
from .errors import (Cancelled, DeadlineExceeded, FailedPrecondition, Internal, InvalidArgument, NotFound,
                     PermissionDenied, ProtocolError, ResourceExhausted, SwitchyardError, Unauthenticated, Unavailable,
                     Unimplemented, Unknown)

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "Client", "Result", "SwitchyardError", "Cancelled", "Unknown", "InvalidArgument", "DeadlineExceeded",
    "NotFound", "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Unimplemented", "Internal",
    "Unavailable", "Unauthenticated", "ProtocolError",
]
