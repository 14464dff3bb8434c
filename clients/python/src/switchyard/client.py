"""The blocking client: the asyncio client on a background thread, for code that is not async.

::

    with switchyard.Client("127.0.0.1", 7400, ca="ca.pem", cert="app.pem", key="app.key") as client:
        result = client.infer("digits", {"X": rows}, timeout=0.5)
        futures = [client.submit("infer", model="digits", tensors={"X": row}) for row in batches]  # pipelined
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any, Coroutine, Mapping, Optional, TypeVar

from . import wire
from .aio import AsyncClient, Result
from .errors import Unavailable

__all__ = ["Client"]

T = TypeVar("T")


def new_event_loop(use_uvloop: Optional[bool] = None) -> asyncio.AbstractEventLoop:
    """An event loop: uvloop's when installed (``pip install switchyard-client[uvloop]``) unless told otherwise."""
    if use_uvloop is not False:
        try:
            import uvloop
        except ImportError:
            if use_uvloop:
                raise
        else:
            return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class Client:
    """A blocking client; every method of :class:`~switchyard.aio.AsyncClient` without ``await``.

    The calls of all threads share one connection and run on one background event loop, so many can be in
    flight at once: start them with :meth:`submit` (a ``concurrent.futures.Future``) or from several threads.
    Takes the arguments of :class:`~switchyard.aio.AsyncClient`, and ``use_uvloop`` (default: when installed).
    """

    def __init__(self, host: str, port: int, *, use_uvloop: Optional[bool] = None, **options: Any) -> None:
        self._loop = new_event_loop(use_uvloop)
        self._thread = threading.Thread(target=self._loop.run_forever, name="switchyard-client", daemon=True)
        self._thread.start()
        self.aio = AsyncClient(host, port, **options)
        """The asyncio client underneath (use it only from its loop)."""

    def __enter__(self) -> "Client":
        self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        if self._loop.is_closed():
            coroutine.close()
            raise Unavailable("the client was closed")
        future = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # e.g. KeyboardInterrupt: the call is cancelled and the server told (CANCEL)
            raise

    def connect(self) -> wire.Hello:
        """Opens the connection now; returns the server's HELLO. Raises :class:`Unavailable` when it cannot."""
        return self._run(self.aio.connect())

    def close(self) -> None:
        """Closes the connection and stops the background loop; calls in flight fail with ``Unavailable``."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            self._run(self.aio.close())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def call(self, method: str, **arguments: Any) -> Result:
        """Calls any method; the arguments of :meth:`AsyncClient.call`."""
        return self._run(self.aio.call(method, **arguments))

    def submit(self, method: str, **arguments: Any) -> "concurrent.futures.Future[Result]":
        """Starts a call without waiting: its future completes with the :class:`Result` or the exception."""
        if self._loop.is_closed():
            raise Unavailable("the client was closed")
        return asyncio.run_coroutine_threadsafe(self.aio.call(method, **arguments), self._loop)

    def infer(self, model: str, inputs: Mapping[str, Any], **arguments: Any) -> Result:
        """Runs a model; the arguments of :meth:`AsyncClient.infer`."""
        return self._run(self.aio.infer(model, inputs, **arguments))

    def feedback(self, request_id: str, label: int, **arguments: Any) -> None:
        """Reports the true label of an earlier answer (:meth:`AsyncClient.feedback`)."""
        self._run(self.aio.feedback(request_id, label, **arguments))

    def health(self, **arguments: Any) -> Result:
        """Asks the server whether it serves (:meth:`AsyncClient.health`)."""
        return self._run(self.aio.health(**arguments))
