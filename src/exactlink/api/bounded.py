"""HTTP calls with a total deadline and a maximum answer size.

httpx's ``timeout`` applies to each read, so a server that drip-feeds one byte every few seconds keeps a call
alive forever, and a body is read into memory whatever its size. :func:`send_bounded` gives one HTTP request
(connect, send, headers and the whole body) a total deadline and reads the body streamed, stopping as soon
as it grows past ``max_bytes`` (counted after decompression, so a gzip bomb is stopped too).

The request runs in a worker thread that the caller waits for at most ``deadline`` seconds; a worker still
stuck in a read then is abandoned (it stops at its next chunk, or when httpx's per-read timeout fires).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx

DEFAULT_MAX_ANSWER_BYTES = 32_000_000
"""The largest answer read by default: ten times the biggest page of rows Exact Online sends."""

_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class DeadlineExceeded(httpx.ReadTimeout):
    """No complete answer arrived within the call's deadline (a time-out like httpx's, retried like one)."""

    def __init__(self, deadline: float, request: httpx.Request) -> None:
        super().__init__(f"no complete answer within {deadline:g} s", request=request)
        self.deadline = deadline


class AnswerTooLarge(Exception):
    """The answer grew past the maximum answer size."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"answer is larger than {describe_size(max_bytes)}")
        self.max_bytes = max_bytes


def describe_size(size: int) -> str:
    """``32 MB``, ``512 KB`` or ``900 bytes``."""
    if size >= 1_000_000:
        return f"{size / 1_000_000:g} MB"
    return f"{size / 1_000:g} KB" if size >= 1_000 else f"{size} bytes"


def _read(
    client: httpx.Client, request: httpx.Request, ends_at: float, deadline: float, max_bytes: int
) -> httpx.Response:
    response = client.send(request, stream=True)
    try:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise AnswerTooLarge(max_bytes)
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) > max_bytes:
                raise AnswerTooLarge(max_bytes)
            if time.monotonic() > ends_at:
                raise DeadlineExceeded(deadline, request)
    finally:
        response.close()
    headers = [(key, value) for key, value in response.headers.multi_items() if key.lower() not in _DROPPED_HEADERS]
    return httpx.Response(
        response.status_code, headers=headers, content=bytes(body), request=request, extensions=response.extensions
    )


def send_bounded(
    client: httpx.Client, request: httpx.Request, *, deadline: float, max_bytes: int = DEFAULT_MAX_ANSWER_BYTES
) -> httpx.Response:
    """Send ``request`` and read its whole answer within ``deadline`` seconds and ``max_bytes`` bytes.

    Returns:
        The answer, fully read (``content`` is the decoded body).

    Raises:
        DeadlineExceeded: the answer was not complete in time.
        AnswerTooLarge: the answer (declared or read so far) is larger than ``max_bytes``.
        httpx.TransportError: as ``httpx.Client.send`` (connect errors, dropped connections, read time-outs).
    """
    ends_at = time.monotonic() + deadline
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["response"] = _read(client, request, ends_at, deadline, max_bytes)
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="exactlink-http", daemon=True)
    worker.start()
    worker.join(deadline)
    if worker.is_alive():
        raise DeadlineExceeded(deadline, request)
    if "error" in outcome:
        raise outcome["error"]
    response: httpx.Response = outcome["response"]
    return response
