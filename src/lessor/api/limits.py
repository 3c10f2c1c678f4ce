"""How much and how slowly a client may send: limits on the connection, below the app.

uvicorn with httptools (its parser whenever installed, as `uvicorn[standard]`
does) bounds neither the size of a request's headers (a 200 MB header line
is held in memory) nor the time a client takes to send its request: one that
sends headers and then trickles its body, or never finishes them, holds a
connection and a file descriptor for ever. `Http` is uvicorn's own protocol
with both bounds; `lessor server` runs it with the values below. How large a
body may be is the app's to say (`api/guards.py`): its answer is JSON, or an
XML-RPC fault.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

MAX_HEADER_BYTES = 64 * 1024
"""Bytes of a request's target and headers together (h11's default is 16 KiB)."""

READ_DEADLINE = 60.0
"""Seconds a client has to send a request, from its first byte (or from connecting) to
the end of its body: 1 MiB, the largest body, at 20 KB/s. Waiting for an answer (a
long-poll) is not sending: a request whose body is complete has no deadline."""

KEEP_ALIVE = 5
"""Seconds an idle kept-alive connection stays open between requests (uvicorn's default)."""


class Http(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a cap on header bytes and a deadline to read a request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_bytes = 0
        self.headers_done = False
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.header_bytes = 0
        self.headers_done = False
        self._arm()

    def on_headers_complete(self) -> None:
        self.headers_done = True
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if not self.headers_done:  # the parser holds what it has of them: count it
            self.header_bytes += len(data)
            if self.header_bytes > MAX_HEADER_BYTES and not self.transport.is_closing():
                self._refuse(431, f"request headers over {MAX_HEADER_BYTES} bytes")

    def _arm(self) -> None:
        self._disarm()
        self.deadline = self.loop.call_later(READ_DEADLINE, self._late)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _late(self) -> None:
        """The request is not in after READ_DEADLINE: 408 unless an answer went out, and close."""
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.headers_done and self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered before its body was in (413): nothing to add
            return
        self._refuse(408, f"request not received within {READ_DEADLINE:g} seconds")

    def _refuse(self, status: int, detail: str) -> None:
        """Answer at the connection's level, as uvicorn answers what it cannot parse, and close."""
        if self.headers_done and self.cycle is not None:
            self.cycle.disconnected = True  # the app's reads end, its answer is dropped
        body = json.dumps({"detail": detail}).encode()
        self.transport.write(
            b"".join(
                [
                    STATUS_LINE[status],
                    b"content-type: application/json\r\n",
                    b"content-length: %d\r\n" % len(body),
                    b"connection: close\r\n\r\n",
                    body,
                ]
            )
        )
        self.transport.close()
